"""`signoff-agent`: the integrations as commands, for a machine that has only signoff-client.

    signoff-agent hook claude-code [--approver @ops] [--channel C…] [--timeout 600]
    signoff-agent hook claude-code --serve [--port 8767]     # the HTTP hook, at /claude-code/pre-tool-use
    signoff-agent mcp [--transport stdio|streamable-http] [--host 127.0.0.1] [--port 8765]
    signoff-agent mcp-gateway --upstream 'npx some-mcp-server' [--approver …] [--transport …]

SIGNOFF_URL and SIGNOFF_TOKEN say where Signoff is and which agent asks.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from signoff_client.client import AsyncSignoffClient, SignoffClient
from signoff_client.errors import SignoffError
from signoff_client.integrations.gate import Gate


def _gate_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--approver", action="append", default=[],
                        help="who may approve (repeat); default: whom the policy names")
    parser.add_argument("--channel", help="Slack channel id for the card; default: the policy's")
    parser.add_argument("--urgency", choices=["low", "normal", "high"], default="normal")
    parser.add_argument("--requester", help="shown on the card (the agent's name comes from its token)")
    parser.add_argument("--timeout", type=float, default=600.0,
                        help="seconds to wait for a decision before denying (default 600)")


def gate_of(options: argparse.Namespace) -> Gate:
    """The Gate the flags describe."""
    return Gate(approvers=tuple(options.approver), channel=options.channel, urgency=options.urgency,
                requester=options.requester, timeout=options.timeout)


def parser() -> argparse.ArgumentParser:
    """The command line."""
    top = argparse.ArgumentParser(prog="signoff-agent", description=__doc__.split("\n")[0])
    commands = top.add_subparsers(dest="command", required=True)
    hook = commands.add_parser("hook", help="answer an agent runtime's permission hook")
    hook.add_argument("runtime", choices=["claude-code"])
    hook.add_argument("--serve", action="store_true", help="serve Claude Code's HTTP hook instead of stdin")
    hook.add_argument("--host", default="127.0.0.1")
    hook.add_argument("--port", type=int, default=8767)
    _gate_options(hook)
    mcp = commands.add_parser("mcp", help="serve Signoff's tools over the Model Context Protocol")
    mcp.add_argument("--transport", choices=["stdio", "streamable-http"], default="stdio")
    mcp.add_argument("--host", default="127.0.0.1")
    mcp.add_argument("--port", type=int, default=8765)
    gateway = commands.add_parser("mcp-gateway", help="hold another MCP server's tool calls for approval")
    gateway.add_argument("--upstream", required=True, help="the MCP server: a command line or an http(s) URL")
    gateway.add_argument("--transport", choices=["stdio", "streamable-http"], default="stdio")
    gateway.add_argument("--host", default="127.0.0.1")
    gateway.add_argument("--port", type=int, default=8766)
    _gate_options(gateway)
    return top


def hook_claude_code(gate: Gate, stdin_text: str) -> str:
    """Answer one Claude Code PreToolUse hook; never raises, denies when it cannot ask."""
    from signoff_client.integrations.claude import deny_output, run_hook

    try:
        client = SignoffClient.from_env(timeout=30.0)
    except (SignoffError, ValueError) as e:
        import json

        return json.dumps(deny_output(f"Signoff is not configured: {e}"))
    with client:
        return run_hook(client, stdin_text, gate)


def serve_hooks(gate: Gate, *, host: str, port: int) -> None:
    """Serve Claude Code's HTTP hook until the process is stopped."""
    from signoff_client.integrations.hook_server import PATH, hook_server

    with SignoffClient.from_env(timeout=30.0) as client:
        server = hook_server(client, gate, host=host, port=port)
        print(f"Claude Code HTTP hook at http://{host}:{server.server_port}{PATH}", file=sys.stderr)
        try:
            server.serve_forever()
        finally:
            server.server_close()


def serve_mcp(*, transport: str, host: str, port: int) -> None:
    """Run the MCP server until stdin closes (stdio) or the process is stopped (HTTP)."""
    from signoff_client.integrations.mcp_server import build_server

    SignoffClient.from_env().close()  # refuse to start without SIGNOFF_URL and SIGNOFF_TOKEN
    server = build_server(AsyncSignoffClient.from_env)
    if transport == "stdio":
        server.run("stdio")
    else:
        server.run("streamable-http", host=host, port=port)


def serve_gateway(options: argparse.Namespace) -> None:
    """Run the MCP gateway in front of --upstream."""
    from signoff_client.integrations.mcp_gateway import build_gateway, serve_http, serve_stdio, upstream_of

    gate, upstream = gate_of(options), upstream_of(options.upstream)
    SignoffClient.from_env().close()  # refuse to start without SIGNOFF_URL and SIGNOFF_TOKEN
    server = build_gateway(upstream, AsyncSignoffClient.from_env, gate)
    if options.transport == "stdio":
        serve_stdio(server)
    else:
        serve_http(server, host=options.host, port=options.port)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `signoff-agent`."""
    options = parser().parse_args(argv)
    try:
        if options.command == "hook" and options.serve:
            serve_hooks(gate_of(options), host=options.host, port=options.port)
        elif options.command == "hook":
            gate = gate_of(options)
            print(hook_claude_code(gate, sys.stdin.read()))
        elif options.command == "mcp":
            serve_mcp(transport=options.transport, host=options.host, port=options.port)
        else:
            serve_gateway(options)
    except (SignoffError, ValueError) as e:
        print(f"signoff-agent: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
