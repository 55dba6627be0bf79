"""The agent API under /v1: bearer-token auth, JSON in and out, errors as {error, detail, fields}."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Header, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from bot.api import lanes
from bot.api.asks import new_request
from bot.api.gate import agent_for
from bot.api.schemas import DURATION, CancelBody, CreateRequest, ErrorOut, RequestList, RequestOut
from bot.api.waiters import Waiters
from bot.core.vocabulary import Status
from bot.errors import (
    AlreadyDecided,
    IdempotencyConflict,
    InvalidInput,
    NotFound,
    RateLimited,
    SignoffError,
    Unavailable,
)
from bot.service import ApprovalService
from bot.service.limits import AgentLimits
from bot.storage.db import RETRY_AFTER, is_outage
from bot.storage.tables import ApprovalRequest

_ERRORS: dict[int | str, dict[str, object]] = {
    401: {"model": ErrorOut, "description": "missing or wrong bearer token"},
    404: {"model": ErrorOut, "description": "no such request"},
    409: {"model": ErrorOut, "description": "idempotency key reused with another body, or already decided"},
    422: {"model": ErrorOut, "description": "invalid body; `fields` names each bad field"},
}
_LIMITED: dict[int | str, dict[str, object]] = {
    429: {"model": ErrorOut, "description": "over the agent's rate or pending limit; see Retry-After"},
}


class Unauthorized(Exception):
    """No valid bearer token."""


async def authenticate(request: Request, authorization: Annotated[str | None, Header()] = None) -> str:
    """The calling agent's name from its bearer token (tokens live on `app.state.api_tokens`)."""
    tokens: Mapping[str, str] = request.app.state.api_tokens
    if (agent := agent_for(tokens, authorization)) is None:
        raise Unauthorized()
    return agent


Agent = Annotated[str, Depends(authenticate)]


def build_router(service: ApprovalService, waiters: Waiters, limits: AgentLimits | None = None) -> APIRouter:
    """The /v1 routes bound to `service`; `waiters` serves the long-poll; `limits` guards creates."""
    router = APIRouter(prefix="/v1", responses=_ERRORS)

    @router.post("/requests", status_code=201, response_model=RequestOut,
                 responses={200: {"model": RequestOut, "description": "idempotent replay"}, **_LIMITED})
    async def create_request(body: CreateRequest, agent: Agent) -> JSONResponse:
        new = new_request(body)  # its item, when it allows more than approve/reject

        def create() -> tuple[RequestOut, bool]:
            # One trip to the thread pool for the whole create: each trip is a hand-off between
            # threads, and an agent's request used to make three.
            if limits is not None and limits.active:
                # A retry with the same idempotency key gets its request back even at the cap.
                limits.check(agent, adds_pending=service.replay(new, agent=agent) is None)
            row, created = service.create(new, agent=agent)
            return RequestOut.of(row, delivery=service.card_deliveries([row])[row.id]), created

        out, created = await run_in_threadpool(create)
        return JSONResponse(out.model_dump(mode="json"), status_code=201 if created else 200)

    async def shown(rows: list[ApprovalRequest]) -> list[RequestOut]:
        """The API view of `rows`, with where their cards stand in Slack."""
        deliveries = await run_in_threadpool(service.card_deliveries, rows)
        return [RequestOut.of(r, delivery=deliveries[r.id]) for r in rows]

    def own(request_id: str, agent: str) -> tuple[ApprovalRequest, RequestOut]:
        """The request (and its API view) if this agent created it; another agent's is as good as
        absent. Row and cards are read in one session."""
        row, delivery = service.get_shown(request_id)
        if row.created_by != agent:
            raise NotFound(f"no request with id {request_id!r}")
        return row, RequestOut.of(row, delivery=delivery)

    @router.get("/requests/{request_id}", response_model=RequestOut)
    async def get_request(request_id: str, agent: Agent) -> RequestOut:
        return (await run_in_threadpool(own, request_id, agent))[1]

    @router.get("/requests/{request_id}/wait", response_model=RequestOut)
    async def wait_for_request(
        request_id: str, agent: Agent,
        timeout: Annotated[int, Query(ge=1, le=60, description="seconds to wait at most")] = 30,
    ) -> RequestOut:
        """The request as soon as it is no longer pending, or still `pending` after `timeout` s."""
        # Subscribed before the first read, so an end between that read and the wait is not
        # missed, and one read serves the ownership check, the status and a decided answer.
        async with waiters.watch(request_id) as ended:
            row, out = await run_in_threadpool(own, request_id, agent)
            if row.status != Status.PENDING:
                return out
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ended, timeout)
        # The agent's answer: on the urgent lane, not behind other agents' creates.
        return (await lanes.urgent(own, request_id, agent))[1]

    @router.post("/requests/{request_id}/cancel", response_model=RequestOut,
                 responses={409: {"model": ErrorOut, "description": "already decided"}})
    async def cancel_request(request_id: str, body: CancelBody, agent: Agent) -> RequestOut:
        """Withdraw a pending request you created; every card shows it was cancelled. Cancelling
        again with the same reason answers with the cancelled request (a retry is safe)."""
        def cancel() -> RequestOut:
            row = service.cancel(request_id, agent=agent, reason=body.reason)
            return RequestOut.of(row, delivery=service.card_deliveries([row])[row.id])

        return await run_in_threadpool(cancel)

    @router.get("/requests", response_model=RequestList)
    async def list_requests(
        agent: Agent,
        status: Status | None = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> RequestList:
        rows = await run_in_threadpool(service.list, status=status, limit=limit, agent=agent)
        return RequestList(requests=await shown(rows))

    return router


def install_error_handlers(app: FastAPI) -> None:
    """Translate Signoff's errors (and FastAPI's validation errors) into {error, detail, fields}."""

    def reply(status: int, error: str, detail: str, fields: dict[str, str] | None = None) -> JSONResponse:
        return JSONResponse(ErrorOut(error=error, detail=detail, fields=fields).model_dump(exclude_none=True),
                            status_code=status)

    @app.exception_handler(Unauthorized)
    async def _unauthorized(_: Request, __: Exception) -> JSONResponse:
        response = reply(401, "unauthorized", "send `Authorization: Bearer <token>` with a token "
                                              "listed in SIGNOFF_API_TOKENS")
        response.headers["WWW-Authenticate"] = "Bearer"
        return response

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return reply(exc.status_code, code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        fields: dict[str, str] = {}
        for e in exc.errors():  # the branches of a union (seconds or a duration) as one field
            # An unknown field's name is the agent's own: never read it as a union branch's tag.
            name, said = _field_name(e["loc"], as_sent=e["type"] == "extra_forbidden"), _plain(e)
            if e["type"] == "json_invalid":  # its loc is a character offset, not a field
                name, said = "body", f"not valid JSON at character {e['loc'][-1]} ({said})"
            fields[name] = f"{fields[name]}, or {said[0].lower()}{said[1:]}" if name in fields else said
        if fields.get("body", "").startswith("Input should be a valid dictionary") and \
                "json" not in request.headers.get("content-type", ""):
            fields["body"] = "send a JSON object with `Content-Type: application/json`"
        return reply(422, "invalid_body", "the request does not fit the schema: "
                     + "; ".join(f"{k}: {v}" for k, v in fields.items()), fields)

    @app.exception_handler(InvalidInput)
    async def _input(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, InvalidInput)
        return reply(422, "invalid_body", exc.detail, exc.fields or None)

    @app.exception_handler(Unavailable)
    async def _unavailable(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, Unavailable)
        response = reply(503, "unavailable", f"{exc}; nothing was stored, try again")
        response.headers["Retry-After"] = str(exc.retry_after)
        return response

    @app.exception_handler(RateLimited)
    async def _limited(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RateLimited)
        response = reply(429, "rate_limited", str(exc))
        response.headers["Retry-After"] = str(exc.retry_after)
        return response

    async def _database_down(_: Request, exc: Exception) -> JSONResponse:
        # A backstop: the store turns outages into Unavailable, but a driver error raised
        # elsewhere must not become a bare 500 text/plain (or a reset long-poll) either.
        if isinstance(exc, DBAPIError) and not is_outage(exc):
            return reply(500, "internal_error",
                         f"the database refused a statement ({exc.__class__.__name__})")
        response = reply(503, "unavailable", f"the database cannot answer now ({exc.__class__.__name__}); "
                                             "try again")
        response.headers["Retry-After"] = str(RETRY_AFTER)
        return response

    for error in _database_errors():
        app.add_exception_handler(error, _database_down)

    @app.exception_handler(NotFound)
    async def _not_found(_: Request, exc: Exception) -> JSONResponse:
        return reply(404, "not_found", str(exc))

    @app.exception_handler(AlreadyDecided)
    async def _decided(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, AlreadyDecided)
        return reply(409, "already_decided", f"request {exc.request_id} is already {exc.status} "
                     f"(by {exc.decided_by} at {exc.decided_at.isoformat()})")

    @app.exception_handler(SignoffError)
    async def _other(_: Request, exc: Exception) -> JSONResponse:
        # Anything else Signoff refuses on purpose (e.g. a request changing under heavy contention).
        return reply(409, "conflict", str(exc))

    @app.exception_handler(IdempotencyConflict)
    async def _conflict(_: Request, exc: Exception) -> JSONResponse:
        return reply(409, "idempotency_conflict", str(exc))


def _database_errors() -> tuple[type[Exception], ...]:
    """The driver errors that mean the database is down; psycopg only when it is installed."""
    errors: list[type[Exception]] = [DBAPIError, PoolTimeout, sqlite3.OperationalError]
    try:
        import psycopg
        import psycopg_pool
    except ImportError:
        return tuple(errors)
    return (*errors, psycopg.OperationalError, psycopg.InterfaceError, psycopg_pool.PoolTimeout)


# What a pattern in the API's schemas means, said to whoever sent a value that does not fit it.
_PATTERNS = {DURATION: "a duration like 30m or 1h30m", r"\S": "not blank"}


def _plain(error: Mapping[str, Any]) -> str:
    """Pydantic's message, with a pattern said in words rather than as a regular expression."""
    pattern = (error.get("ctx") or {}).get("pattern")
    if error["type"] == "string_pattern_mismatch" and pattern in _PATTERNS:
        return f"String should be {_PATTERNS[pattern]}"
    return str(error["msg"])


def _field_name(loc: tuple[int | str, ...] | list[int | str], *, as_sent: bool = False) -> str:
    """`("body", "approvers", 0)` → `approvers[0]`: the field as the agent wrote it (a union's
    branch tags, like `constrained-int`, are not part of it; `as_sent`: the last part is a name
    the agent sent, kept whatever it looks like)."""
    parts = list(loc[1:] if loc and loc[0] in ("body", "query", "path", "header") else loc)  # where from
    name = ""
    for n, part in enumerate(parts):
        if isinstance(part, str) and ("-" in part or "[" in part) and not (as_sent and n == len(parts) - 1):
            continue  # a union branch's tag
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name or "body"
