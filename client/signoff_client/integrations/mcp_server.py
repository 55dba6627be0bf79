"""`signoff mcp`: Signoff as a Model Context Protocol server (extra `signoff-client[mcp]`).

Tools: `request_approval` (asks and, unless told not to, waits for the decision), `get_request`,
`list_pending`. An MCP-capable agent asks a person in Slack with no code of its own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from signoff_client.client import AsyncSignoffClient
from signoff_client.errors import SignoffError
from signoff_client.models import ApprovalRequest, Urgency

MAX_WAIT = 3600.0  # one tool call holds its MCP request open at most this long


def outcome(request: ApprovalRequest) -> dict[str, Any]:
    """What a model needs of a request: its id and status, who decided, why, and the args to use."""
    return {"id": request.id, "status": request.status, "action": request.action,
            "summary": request.summary, "approved": request.approved, "decided_by": request.decided_by,
            "reason": request.reason, "args": request.effective_args,
            "edited": request.edited_args is not None}


@asynccontextmanager
async def _signoff(client: Callable[[], AsyncSignoffClient]) -> AsyncIterator[AsyncSignoffClient]:
    """A client for one tool call; Signoff's refusals become tool errors the model reads."""
    try:
        async with client() as signoff:
            yield signoff
    except (SignoffError, ValueError) as e:
        raise ToolError(str(e)) from e


def build_server(client: Callable[[], AsyncSignoffClient], *, name: str = "signoff") -> MCPServer:
    """The MCP server; `client` makes the Signoff client each tool call uses (and closes)."""
    server: MCPServer = MCPServer(name, instructions=(
        "Ask a person in Slack before doing something that needs a human's approval: call "
        "request_approval and act only when it comes back approved, with the args it returns."))

    @server.tool()
    async def request_approval(action: str, summary: str, args: dict[str, Any] | None = None,
                               approvers: list[str] | None = None, urgency: Urgency = "normal",
                               channel: str | None = None, timeout: float = 600.0,
                               wait: bool = True, idempotency_key: str | None = None) -> dict[str, Any]:
        """Ask people in Slack to approve `action` with `args`; waits up to `timeout` seconds for the
        decision unless `wait` is false (then returns the request id at once: use get_request later).
        The policy on the server may name the approvers; otherwise give them (Slack ids, emails, @groups).
        Act only when `approved` is true, with the returned `args` (an approver may have edited them)."""
        if not 0 < timeout <= MAX_WAIT:
            raise ToolError(f"timeout must be between 0 and {MAX_WAIT:g} seconds")
        async with _signoff(client) as signoff:
            asked = await signoff.request(action=action, summary=summary, args=args or {},
                                          approvers=approvers or [], urgency=urgency, channel=channel,
                                          idempotency_key=idempotency_key)
            return outcome(await signoff.wait(asked.id, timeout=timeout) if wait else asked)

    @server.tool()
    async def get_request(request_id: str, wait_seconds: float = 0.0) -> dict[str, Any]:
        """A request's status and decision; with `wait_seconds`, waits that long for it to be decided."""
        if not 0 <= wait_seconds <= MAX_WAIT:
            raise ToolError(f"wait_seconds must be between 0 and {MAX_WAIT:g}")
        async with _signoff(client) as signoff:
            got = (await signoff.wait(request_id, timeout=wait_seconds) if wait_seconds
                   else await signoff.get(request_id))
            return outcome(got)

    @server.tool()
    async def list_pending(limit: int = 20) -> dict[str, Any]:
        """The approval requests you asked for that nobody has decided yet, newest first."""
        async with _signoff(client) as signoff:
            rows = await signoff.list_requests(status="pending", limit=limit)
            return {"requests": [outcome(r) for r in rows]}

    return server
