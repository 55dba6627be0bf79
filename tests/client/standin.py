"""A stand-in for Signoff's agent API as an agent sees it: the client's outside boundary.

In memory, over real HTTP (served by tests.servers.serve). It answers the endpoints the client
calls with the documented shapes, and lets a test thread play the human: `decide()` wakes every
long-poll waiting on that request. It is not the service; the service's own tests cover that.
"""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import anyio.to_thread
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

FIELDS = {"action", "summary", "approvers", "args", "context", "urgency", "channel", "dm", "requester",
          "idempotency_key", "callback_url", "allowed_decisions", "args_schema", "response_schema"}
UNKNOWN_APPROVERS = {"@ghosts", "nobody@example.com"}


def _error(status: int, error: str, detail: str, fields: dict[str, str] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"error": error, "detail": detail}
    if fields:
        body["fields"] = fields
    return JSONResponse(body, status_code=status)


class AgentAPIStandIn:
    """The agent API in memory; `poll_cap` makes long-polls answer `pending` early, as a proxy might."""

    def __init__(self, *, token: str, poll_cap: float | None = None) -> None:
        self.token = token
        self.poll_cap = poll_cap
        self.requests: dict[str, dict[str, Any]] = {}
        self.bodies: list[dict[str, Any]] = []
        self.polls: list[int] = []
        self._keys: dict[str, tuple[dict[str, Any], str]] = {}
        self._cond = threading.Condition()
        self._closed = False

    def app(self) -> Starlette:
        """The ASGI app."""
        return Starlette(routes=[
            Route("/v1/requests", self._create, methods=["POST"]),
            Route("/v1/requests/{id}", self._get, methods=["GET"]),
            Route("/v1/requests/{id}/wait", self._wait, methods=["GET"]),
            Route("/v1/requests/{id}/cancel", self._cancel, methods=["POST"]),
        ])

    def decide(self, request_id: str, *, status: str, decided_by: str = "U0ALICE", reason: str | None = None,
               decision: str | None = None, edited_args: dict[str, Any] | None = None) -> None:
        """Play the human (or the expiry job): end a pending request and wake its waiters."""
        default = {"approved": "edit" if edited_args is not None else "approve", "rejected": "reject"}
        with self._cond:
            row = self.requests[request_id]
            assert row["status"] == "pending", row
            row.update(status=status, decided_by=decided_by if status in default else None, reason=reason,
                       decided_at=_now(), decision=decision or default.get(status), edited_args=edited_args)
            self._cond.notify_all()

    def next_request(self, seen: int, timeout: float = 10.0) -> dict[str, Any]:
        """Block until more than `seen` requests exist; the newest one."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.requests) > seen, timeout):
                raise AssertionError("no request was created")
            return list(self.requests.values())[-1]

    def close(self) -> None:
        """Release every held long-poll so the server can stop."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def _authorized(self, request: Request) -> bool:
        return request.headers.get("authorization") == f"Bearer {self.token}"

    async def _create(self, request: Request) -> JSONResponse:
        if not self._authorized(request):
            return _error(401, "unauthorized", "send `Authorization: Bearer <token>`")
        body = await request.json()
        self.bodies.append(body)
        bad = _invalid(body)
        if bad:
            return _error(422, "invalid_body", "the request does not fit the schema", bad)
        with self._cond:
            key = body.get("idempotency_key")
            if key in self._keys:
                first, request_id = self._keys[key]
                if first != body:
                    return _error(409, "idempotency_conflict", f"idempotency key {key!r} reused")
                return JSONResponse(self.requests[request_id], status_code=200)
            row = _new_row(body)
            self.requests[row["id"]] = row
            if key is not None:
                self._keys[key] = (body, row["id"])
            self._cond.notify_all()
        return JSONResponse(row, status_code=201)

    async def _get(self, request: Request) -> JSONResponse:
        if not self._authorized(request):
            return _error(401, "unauthorized", "send `Authorization: Bearer <token>`")
        row = self.requests.get(request.path_params["id"])
        if row is None:
            return _error(404, "not_found", f"no request {request.path_params['id']}")
        return JSONResponse(row)

    async def _wait(self, request: Request) -> JSONResponse:
        if not self._authorized(request):
            return _error(401, "unauthorized", "send `Authorization: Bearer <token>`")
        request_id = request.path_params["id"]
        if request_id not in self.requests:
            return _error(404, "not_found", f"no request {request_id}")
        raw = request.query_params.get("timeout", "30")
        if not raw.isdigit() or not 1 <= int(raw) <= 60:
            return _error(422, "invalid_query", "timeout must be 1..60", {"timeout": "must be 1..60"})
        self.polls.append(int(raw))
        hold = int(raw) if self.poll_cap is None else min(int(raw), self.poll_cap)
        row = await anyio.to_thread.run_sync(self._hold, request_id, hold)
        return JSONResponse(row)

    def _hold(self, request_id: str, seconds: float) -> dict[str, Any]:
        deadline = time.monotonic() + seconds
        with self._cond:
            self._cond.wait_for(lambda: self._closed or self.requests[request_id]["status"] != "pending",
                                max(0.0, deadline - time.monotonic()))
            return dict(self.requests[request_id])

    async def _cancel(self, request: Request) -> JSONResponse:
        if not self._authorized(request):
            return _error(401, "unauthorized", "send `Authorization: Bearer <token>`")
        request_id = request.path_params["id"]
        reason = (await request.json()).get("reason")
        with self._cond:
            row = self.requests.get(request_id)
            if row is None:
                return _error(404, "not_found", f"no request {request_id}")
            if row["status"] != "pending":
                return _error(409, "already_decided", f"{request_id} is already {row['status']}")
            row.update(status="cancelled", reason=reason, decided_at=_now(), decided_by="agent:test")
            self._cond.notify_all()
            return JSONResponse(row)


def _invalid(body: Any) -> dict[str, str]:
    if not isinstance(body, dict):
        return {"body": "must be an object"}
    bad = {k: "extra fields not permitted" for k in body if k not in FIELDS}
    for name in ("action", "summary"):
        if not isinstance(body.get(name), str) or not body[name]:
            bad[name] = "field required"
    approvers = body.get("approvers")
    if not isinstance(approvers, list) or not approvers:
        bad["approvers"] = "at least one approver"
    else:
        bad.update({f"approvers[{i}]": f"unknown approver {a!r}"
                    for i, a in enumerate(approvers) if a in UNKNOWN_APPROVERS})
    if body.get("urgency", "normal") not in ("low", "normal", "high"):
        bad["urgency"] = "one of low, normal, high"
    return bad


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _new_row(body: dict[str, Any]) -> dict[str, Any]:
    approvers = body["approvers"]
    return {
        "id": f"req_{uuid.uuid4().hex[:12]}", "status": "pending", "action": body["action"],
        "summary": body["summary"], "args": body.get("args", {}), "context": body.get("context"),
        "urgency": body.get("urgency", "normal"), "requester": body.get("requester"), "approvers": approvers,
        "eligible_approvers": ["U0ALICE", "U0BOB"] if "@finance" in approvers else approvers,
        "channel": body.get("channel"), "dm": bool(body.get("dm", body.get("channel") is None)),
        "created_at": _now(), "decided_by": None, "decided_at": None, "reason": None,
        "idempotency_key": body.get("idempotency_key"), "decision": None, "edited_args": None,
        "callback_url": body.get("callback_url"),
        "revision": 1,  # a field this client does not know: it must be ignored
    }
