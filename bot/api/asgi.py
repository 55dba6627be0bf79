"""The web app built from the environment: what each of several uvicorn worker processes imports."""

from __future__ import annotations

import asyncio
import logging
import socket

from fastapi import FastAPI
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from bot.errors import InvalidSettings
from bot.settings import load_settings


def app_from_env() -> FastAPI:
    """Load settings, connect everything and return the HTTP app (uvicorn's `factory=True`).

    Each worker process calls this once: no connection, pool or thread crosses a process. The
    parent (`signoff web --workers N`) has already resolved REDIS_URL and checked the settings, so
    a failure here is a change between the two reads, and stops the worker with its reason.
    """
    from bot import wiring
    from bot.observe import logs

    settings = load_settings()
    # A spawned process starts with Python's logging unconfigured: without this its lifecycle
    # lines were dropped, its warnings bare, and SIGNOFF_LOG_FORMAT=json ignored.
    logs.configure(fmt=settings.log_format, level=logging.INFO)
    logs.quiet_noisy()
    if settings.redis_url is None:
        raise InvalidSettings("REDIS_URL is not set; `signoff web` sets it before starting workers")
    w = wiring.build(settings)
    _ = w.registry.names  # a bad SIGNOFF_GRAPHS entry stops the worker now, not on the first run
    return w.web_app()


class NoDelayHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's HTTP/1.1 protocol (httptools' C parser) with Nagle's algorithm off on every
    connection.

    With several workers uvicorn binds the listening socket itself with protocol 0, and asyncio
    turns TCP_NODELAY on only for sockets that say IPPROTO_TCP; without it a response written in
    two segments waits for the client's delayed ACK: ~40 ms on every keep-alive request.
    """

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Set TCP_NODELAY, then carry on as uvicorn does."""
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)
