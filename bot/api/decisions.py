"""The decision API for UIs other than Slack: what waits on a person, and deciding on their behalf.

Only tokens with the `decide` scope (`SIGNOFF_API_TOKENS=name:token:decide`) may call it. Every
decision goes through `DecisionDesk` → `ApprovalService.decide`, the path a click takes.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Header, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.api import lanes
from bot.api.routes import _ERRORS, authenticate
from bot.api.schemas import ErrorOut, RequestOut
from bot.core.lifecycle import Verdict
from bot.errors import AlreadyDecided, AlreadyVoted, NotAuthorized, StaleDecision
from bot.service.decisions import DecisionDesk, UIDecision
from bot.storage.tables import ApprovalRequest

DECIDE = "decide"


class Forbidden(Exception):
    """A valid token without the scope this route needs."""


async def authenticate_decider(
    request: Request, authorization: Annotated[str | None, Header()] = None
) -> str:
    """The UI's name, if its token holds the `decide` scope (401 without a token, 403 without the scope)."""
    name = await authenticate(request, authorization)
    scopes: Mapping[str, frozenset[str]] = request.app.state.api_scopes
    given = (authorization or "").partition(" ")[2].strip().encode()
    for token, held in scopes.items():
        if DECIDE in held and hmac.compare_digest(token.encode(), given):
            return name
    raise Forbidden()


Decider = Annotated[str, Depends(authenticate_decider)]


class DecisionBody(BaseModel):
    """`POST /v1/requests/{id}/decision` body."""

    model_config = ConfigDict(extra="forbid")

    decision: Literal["approve", "reject", "edit", "respond"]
    by: str = Field(min_length=1, max_length=254, pattern=r"\S",
                    description="who decides: a Slack user id or the email of a Slack user",
                    examples=["U024BE7LH", "lead@example.com"])
    reason: str | None = Field(default=None, max_length=2000, description="required to reject")
    args: dict[str, Any] | None = Field(default=None, description="edit: the changed arguments, whole")
    answer: Any = Field(default=None, description="respond: the answer (text, or a form's value)")
    item: int | None = Field(default=None, ge=0, le=1000, description="which item of a batch")
    expected_version: int = Field(ge=0, description="the `version` you showed the person")
    expected_checkpoint_id: str | None = Field(
        default=None, max_length=200, description="a graph's request: the `checkpoint_id` you showed")
    idempotency_key: str = Field(min_length=1, max_length=200,
                                 description="the same key answers the same, never decides twice")


class DecisionView(RequestOut):
    """A request as a deciding UI sees it: with the version and checkpoint to decide against."""

    version: int
    checkpoint_id: str | None


class PendingList(BaseModel):
    """`GET /v1/approvals/pending` answer: what waits on one person, oldest first."""

    approver: str
    requests: list[DecisionView]


class ConflictOut(BaseModel):
    """A 409 from the decision API: why, and the request as it stands now."""

    error: str
    detail: str
    request: DecisionView | None = None


_DECISION_ERRORS: dict[int | str, dict[str, Any]] = {
    **_ERRORS,
    403: {"model": ErrorOut, "description": "the token lacks the `decide` scope, or the person may not "
                                            "decide this request"},
    409: {"model": ConflictOut, "description": "stale `expected_version`/`expected_checkpoint_id`, already "
                                               "decided, or the idempotency key reused for another decision"},
    503: {"model": ErrorOut, "description": "Slack could not say who the person is; try again"},
}


_CONFLICTS: dict[type[Exception], str] = {StaleDecision: "stale", AlreadyDecided: "already_decided"}


def build_decisions_router(desk: DecisionDesk) -> APIRouter:
    """`/v1/approvals/pending` and `/v1/requests/{id}/decision`, bound to `desk`."""
    router = APIRouter(prefix="/v1", responses=_DECISION_ERRORS, tags=["decisions"])

    def views(rows: Sequence[ApprovalRequest]) -> list[DecisionView]:
        deliveries = desk.service.card_deliveries(rows)
        return [DecisionView(**RequestOut.of(row, delivery=deliveries[row.id]).model_dump(),
                             version=row.version, checkpoint_id=desk.checkpoint_of(row)) for row in rows]

    def view(row: ApprovalRequest) -> DecisionView:
        return views([row])[0]

    @router.get("/approvals/pending", response_model=PendingList)
    async def pending(
        _: Decider,
        approver: Annotated[str, Query(min_length=1, max_length=254, pattern=r"\S",
                                       description="a Slack user id or the email of a Slack user")],
    ) -> PendingList:
        """The requests waiting on `approver` that they may decide now (as their App Home lists them)."""
        def read() -> PendingList:
            user, rows = desk.pending(approver)
            return PendingList(approver=user, requests=views(rows))
        return await run_in_threadpool(read)

    @router.post("/requests/{request_id}/decision", response_model=DecisionView)
    async def decide(request_id: str, body: DecisionBody, ui: Decider) -> JSONResponse:
        """Decide for `by`: the same checks, quorum and audit as their click; `via` names this UI."""
        d = UIDecision(request_id=request_id, verdict=Verdict(body.decision), by=body.by, via=ui,
                       reason=body.reason, args=body.args, answer=body.answer, item=body.item,
                       expected_version=body.expected_version,
                       expected_checkpoint_id=body.expected_checkpoint_id,
                       idempotency_key=body.idempotency_key)

        def run() -> JSONResponse:
            try:
                row, replayed = desk.decide(d)
            except (StaleDecision, AlreadyDecided, AlreadyVoted) as e:
                code = _CONFLICTS.get(type(e), "already_voted")
                now = view(desk.service.get(request_id))
                conflict = ConflictOut(error=code, detail=str(e), request=now)
                return JSONResponse(conflict.model_dump(mode="json"), status_code=409)
            except NotAuthorized as e:
                refused = ErrorOut(error="not_authorized", detail=str(e))
                return JSONResponse(refused.model_dump(exclude_none=True), status_code=403)
            answer = JSONResponse(view(row).model_dump(mode="json"))
            if replayed:
                answer.headers["Idempotent-Replayed"] = "true"
            return answer

        return await lanes.urgent(run)  # a person decided: not behind agents' calls

    return router


def install_decision_api(app: FastAPI, desk: DecisionDesk) -> None:
    """Mount the decision API: its routes, its 403, and `no-store` on everything it answers."""
    app.include_router(build_decisions_router(desk))

    @app.exception_handler(Forbidden)
    async def _forbidden(_: Request, __: Exception) -> JSONResponse:
        return JSONResponse(ErrorOut(error="forbidden", detail=(
            f"this token lacks the `{DECIDE}` scope; list it in SIGNOFF_API_TOKENS as "
            f"name:token:{DECIDE} to let this UI decide for people")).model_dump(exclude_none=True),
            status_code=403)

    app.add_middleware(NoStore)


class NoStore:
    """`Cache-Control: no-store` on what the decision API answers: a UI must never show a cached
    queue or outcome, someone else may have decided since. Pure ASGI: other paths pass untouched
    (Starlette's BaseHTTPMiddleware cost every request, clicks included, a task group and a
    stream)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not (path.startswith("/v1/approvals/") or (path.startswith("/v1/requests/")
                                                      and path.endswith("/decision"))):
            await self.app(scope, receive, send)
            return

        async def no_store(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"cache-control"]
                message = {**message, "headers": [*headers, (b"cache-control", b"no-store")]}
            await send(message)

        await self.app(scope, receive, no_store)
