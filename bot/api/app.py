"""The one HTTP server: the agent API, Slack's endpoint, and /healthz."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Mapping
from typing import TYPE_CHECKING

from fastapi import FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from bot.api import lanes
from bot.api.decisions import install_decision_api
from bot.api.docs import install_docs
from bot.api.gate import Gate
from bot.api.routes import build_router, install_error_handlers
from bot.api.runs import build_runs_router
from bot.api.waiters import Waiters
from bot.observe.metrics import SLACK_ACK_SECONDS
from bot.service import ApprovalService
from bot.service.decisions import DecisionDesk
from bot.service.limits import AgentLimits

if TYPE_CHECKING:
    from bot.agents.runs import RunService
from bot.slack.app import SlackEndpoint

API_DESCRIPTION = """Agents ask for a human decision; Signoff routes it to Slack and records the
answer. Authenticate with `Authorization: Bearer <token>` (one of SIGNOFF_API_TOKENS)."""


def build_web_app(
    *, service: ApprovalService, api_tokens: Mapping[str, str], slack: SlackEndpoint | None,
    health: Callable[[], dict[str, str]], waiters: Waiters, runs: Callable[[], RunService],
    limits: AgentLimits | None = None,
    max_body: int,
    decisions: DecisionDesk | None = None, api_scopes: Mapping[str, frozenset[str]] | None = None,
) -> FastAPI:
    """The ASGI app; `slack` is None in Socket Mode, where Slack does not call us over HTTP."""

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        lanes.narrow_the_api_lane()
        listener = asyncio.create_task(waiters.run())
        await waiters.ready()
        try:
            yield
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener

    # FastAPI's own /docs and /redoc load their assets from a CDN: blank offline. Ours are local.
    app = FastAPI(title="Signoff", version="0.1.0", description=API_DESCRIPTION, lifespan=lifespan,
                  docs_url=None, redoc_url=None)
    install_docs(app)
    app.state.api_tokens = api_tokens
    app.add_middleware(Gate, tokens=api_tokens, api_max_body=max_body)
    app.state.api_scopes = api_scopes or {}
    install_error_handlers(app)
    app.include_router(build_router(service, waiters, limits))
    app.include_router(build_runs_router(runs))
    if decisions is not None:
        install_decision_api(app, decisions)

    if slack is not None:
        @app.post("/slack/events", include_in_schema=False)
        async def slack_events(request: Request) -> Response:
            body = await request.body()
            # Bolt's App is synchronous: dispatching on the event loop would serialise every click;
            # on a lane of its own a click never waits behind agents' calls.
            with SLACK_ACK_SECONDS.time():  # what Slack waits for: the ack's latency
                answer = await lanes.slack(
                    slack.handle, body=body, query=request.url.query, headers=dict(request.headers)
                )
            return Response(content=answer.body, status_code=answer.status,
                            headers=answer.first_headers_without_set_cookie())

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> JSONResponse:
        checks = await run_in_threadpool(health)
        ok = all(v == "ok" for v in checks.values())
        return JSONResponse({"status": "ok" if ok else "degraded", **checks}, status_code=200 if ok else 503)

    return app
