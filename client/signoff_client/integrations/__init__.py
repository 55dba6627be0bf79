"""Signoff beside an agent runtime: each module is an optional extra of signoff-client.

`gate` (httpx only) turns one proposed tool call into a Signoff request and its outcome into
allow or deny; `claude` speaks Claude Code's PreToolUse hook and the Claude Agent SDK's
`can_use_tool`; `mcp_server` serves Signoff over the Model Context Protocol (extra `[mcp]`).
"""
