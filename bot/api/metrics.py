"""`GET /metrics`: Prometheus text, behind a bearer token; 404 when no token is configured."""

from __future__ import annotations

import hmac
from collections.abc import Callable

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST


def build_metrics_router(*, token: str | None, render: Callable[[], bytes]) -> APIRouter:
    """The /metrics route; without a token it does not exist (404), so nothing leaks by default."""
    router = APIRouter()

    @router.get("/metrics", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        # Answered in the API's error shape: {"error": …, "detail": …}.
        if token is None:
            return JSONResponse({"error": "not_found", "detail": "Not Found"}, status_code=404)
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return JSONResponse({"error": "unauthorized",
                                 "detail": "metrics need Authorization: Bearer <SIGNOFF_METRICS_TOKEN>"},
                                status_code=401, headers={"WWW-Authenticate": "Bearer"})
        body = await run_in_threadpool(render)  # SQL and Redis reads: off the event loop
        return Response(content=body, media_type=CONTENT_TYPE_LATEST)

    return router
