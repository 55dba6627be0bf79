"""The web app built from the environment: what each of several uvicorn worker processes imports."""

from __future__ import annotations

from fastapi import FastAPI

from bot.errors import InvalidSettings
from bot.settings import load_settings


def app_from_env() -> FastAPI:
    """Load settings, connect everything and return the HTTP app (uvicorn's `factory=True`).

    Each worker process calls this once: no connection, pool or thread crosses a process. The
    parent (`signoff web --workers N`) has already resolved REDIS_URL and checked the settings, so
    a failure here is a change between the two reads, and stops the worker with its reason.
    """
    from bot import wiring

    settings = load_settings()
    if settings.redis_url is None:
        raise InvalidSettings("REDIS_URL is not set; `signoff web` sets it before starting workers")
    w = wiring.build(settings)
    _ = w.registry.names  # a bad SIGNOFF_GRAPHS entry stops the worker now, not on the first run
    return w.web_app()
