"""A small MCP server to put behind `signoff mcp-gateway` (pip install 'signoff-client[mcp]').

    signoff mcp-gateway --upstream "python examples/mcp_gateway_upstream.py" --channel C0APPROVALS
"""

from __future__ import annotations

from mcp.server import MCPServer

server = MCPServer("shop")


@server.tool()
def issue_refund(order: int, amount: int) -> str:
    """Refund `amount` dollars on `order`."""
    return f"refunded {amount} on {order}"


if __name__ == "__main__":
    server.run("stdio")
