"""`signoff mcp-gateway`: an MCP server in front of another, holding each tool call for Signoff.

The agent sees the upstream's tools unchanged. Each call becomes a Signoff request (action = the
tool's name, args = its arguments): the server's policy auto-approves it or routes it to people
in Slack. Approved calls are forwarded with the approved (possibly edited) arguments; any other
outcome is a tool error whose text — the reason — the model reads. Extra `signoff-client[mcp]`.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import mcp_types as types
from mcp import Client, StdioServerParameters
from mcp.server import Server, ServerRequestContext
from mcp.server.stdio import stdio_server

from signoff_client.client import AsyncSignoffClient
from signoff_client.integrations.gate import Gate, ToolCall, Verdict, ask_async

Upstream = str | StdioServerParameters | Any  # a URL, a command, or (in tests) a server object


def upstream_of(target: str, environ: dict[str, str] | None = None) -> str | StdioServerParameters:
    """An http(s) URL is a streamable-HTTP server; anything else is a command line to run.

    The command gets the gateway's environment (as a shell would give it) but the Signoff token:
    the server being gated has no business asking or cancelling in the agent's name.
    """
    target = target.strip()
    if not target:
        raise ValueError("--upstream is required: a command line or an http(s) URL")
    if target.startswith(("http://", "https://")):
        return target
    command, *args = shlex.split(target)
    env = {k: v for k, v in (os.environ if environ is None else environ).items() if k != "SIGNOFF_TOKEN"}
    return StdioServerParameters(command=command, args=args, env=env)


def refusal(verdict: Verdict) -> types.CallToolResult:
    """The tool error a denied call returns: the model reads why it was not run."""
    text = f"Not run: {verdict.reason}."
    if verdict.request_id:
        text += f" (Signoff request {verdict.request_id})"
    return types.CallToolResult(content=[types.TextContent(type="text", text=text)], is_error=True)


def build_gateway(upstream: Upstream, signoff: Callable[[], AsyncSignoffClient], gate: Gate,
                  *, name: str = "signoff-gateway") -> Server[dict[str, Any]]:
    """The gateway server; it connects to `upstream` for as long as it serves."""

    @asynccontextmanager
    async def connected(_: Server[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
        async with Client(upstream) as client:
            yield {"upstream": client}

    async def list_tools(ctx: ServerRequestContext[dict[str, Any]],
                         params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
        listed = await ctx.lifespan_context["upstream"].list_tools(cursor=params.cursor if params else None)
        return types.ListToolsResult(tools=listed.tools, next_cursor=listed.next_cursor)

    async def call_tool(ctx: ServerRequestContext[dict[str, Any]],
                        params: types.CallToolRequestParams) -> types.CallToolResult:
        call = ToolCall(name=params.name, args=dict(params.arguments or {}),
                        context={"source": "mcp-gateway"})
        try:
            async with signoff() as client:
                verdict = await ask_async(client, call, gate)
        except Exception as e:  # noqa: BLE001 - a call Signoff could not decide is not forwarded
            verdict = Verdict(allow=False, args={},
                              reason=f"Signoff could not be asked ({type(e).__name__}: {e})")
        if not verdict.allow:
            return refusal(verdict)
        forwarded: types.CallToolResult = await ctx.lifespan_context["upstream"].call_tool(
            params.name, verdict.args)
        return forwarded

    return Server(name, lifespan=connected, on_list_tools=list_tools, on_call_tool=call_tool,
                  instructions="Another MCP server's tools; some calls wait for an approval in Slack.")


def serve_stdio(server: Server[dict[str, Any]]) -> None:
    """Serve the gateway on stdin/stdout until the agent closes it."""

    async def run() -> None:
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())

    anyio.run(run)


def serve_http(server: Server[dict[str, Any]], *, host: str, port: int) -> None:
    """Serve the gateway over streamable HTTP at http://host:port/mcp."""
    import uvicorn

    uvicorn.run(server.streamable_http_app(host=host), host=host, port=port, log_level="warning")
