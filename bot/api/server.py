"""Serving the ASGI app with uvicorn, announcing it only once the port is bound."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import uvicorn


class _AnnouncingServer(uvicorn.Server):
    """A uvicorn Server that calls `on_started` once it listens (not before, not on failure)."""

    def __init__(self, config: uvicorn.Config, on_started: Callable[[], None]) -> None:
        super().__init__(config)
        self.on_started = on_started

    async def startup(self, sockets: Any = None) -> None:
        """Bind and start; then announce, if that worked."""
        await super().startup(sockets)
        if self.started and not self.should_exit:
            self.on_started()


def serve(app: Any, *, host: str, port: int, on_started: Callable[[], None]) -> None:
    """Run `app` until a signal stops it; `on_started` runs once the port is bound."""
    # log_config=None: uvicorn's lines go through Signoff's handler (JSON in JSON mode).
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", log_config=None)
    _AnnouncingServer(config, on_started).run()
