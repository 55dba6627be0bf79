"""An MCP server the gateway fronts in tests: each tool that runs appends a line to $EFFECTS_FILE."""

from __future__ import annotations

import os
from pathlib import Path

from mcp.server import MCPServer

server = MCPServer("shop")


def _did(line: str) -> str:
    with Path(os.environ["EFFECTS_FILE"]).open("a") as f:
        f.write(line + "\n")
    return line


@server.tool()
def issue_refund(order: int, amount: int) -> str:
    """Refund `amount` dollars on `order`."""
    return _did(f"refunded {amount} on {order}")


@server.tool()
def lookup_order(order: int) -> str:
    """Read an order."""
    return _did(f"looked up {order}")


if __name__ == "__main__":
    server.run("stdio")
