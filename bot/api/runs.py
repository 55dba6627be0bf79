"""The graph-run API: start a registered graph, follow its status and its requests."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field, field_validator

from bot.api.routes import _ERRORS, Agent
from bot.api.schemas import ApiBody, RequestOut, bounded_json
from bot.core.vocabulary import RunStatus, Status
from bot.errors import NotFound

if TYPE_CHECKING:
    from bot.agents.runs import RunService


class CreateRun(ApiBody):
    """`POST /v1/runs` body."""

    graph: str = Field(min_length=1, max_length=100, examples=["billing"])
    input: dict[str, Any] | None = Field(default=None, examples=[{"order": 1234, "amount": 340}])
    thread_id: str | None = Field(default=None, min_length=1, max_length=200,
                                  description="default: the run id")
    requester: str | None = Field(default=None, max_length=200,
                                  description="who started it (a Slack user id is shown as a mention)")
    approvers: list[str] = Field(default_factory=list, max_length=100,
                                 description="who decides its interrupts unless the graph names them")
    channel: str | None = Field(default=None, max_length=40)

    _bounded = field_validator("input")(bounded_json)


class RunOut(BaseModel):
    """A run as agents see it."""

    id: str
    graph: str
    thread_id: str
    status: RunStatus
    requester: str | None
    created_at: datetime
    updated_at: datetime
    pending_requests: list[RequestOut]
    requests: list[RequestOut]
    result: dict[str, Any] | None
    error: str | None


def build_runs_router(runs: Callable[[], RunService]) -> APIRouter:
    """The /v1/runs routes; `runs` is built on first use (it loads the registered graphs)."""
    router = APIRouter(prefix="/v1", responses=_ERRORS)

    @router.post("/runs", status_code=202, response_model=RunOut)
    async def start_run(body: CreateRun, agent: Agent) -> RunOut:
        """Queue a run of a registered graph; a worker executes it."""
        from bot.agents.runs import NewRun

        service = runs()
        run = await run_in_threadpool(service.start, NewRun(**body.model_dump()), agent=agent)
        return await _describe(service, run.id, agent)

    @router.get("/runs/{run_id}", response_model=RunOut)
    async def get_run(run_id: str, agent: Agent) -> RunOut:
        """The run's status, the requests it is waiting on, and its final state once done."""
        return await _describe(runs(), run_id, agent)

    return router


async def _describe(service: RunService, run_id: str, agent: str) -> RunOut:
    run, rows, deliveries = await run_in_threadpool(service.get, run_id)
    if run.created_by != agent:  # another agent's run is as good as absent
        raise NotFound(f"no run with id {run_id!r}")
    out = [RequestOut.of(r, delivery=deliveries[r.id]) for r in rows]
    return RunOut(id=run.id, graph=run.graph, thread_id=run.thread_id, status=RunStatus(run.status),
                  requester=run.requester, created_at=run.created_at, updated_at=run.updated_at,
                  pending_requests=[r for r in out if r.status == Status.PENDING], requests=out,
                  result=run.result, error=run.error)
