"""`SlackSandbox`: the local Slack stand-in served over real HTTP from a background thread."""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.types import ASGIApp

from slack_sandbox import control, ui, webapi
from slack_sandbox.interactions import ACK_TIMEOUT, Interactions
from slack_sandbox.state import Clock, SlackState

Json = dict[str, Any]

START_TIMEOUT = 10.0


def build_app(*, state: SlackState, interactions: Interactions, bot_token: str) -> Starlette:
    """The sandbox's ASGI app: Web API, control endpoints, response_urls and the HTML UI."""
    return Starlette(
        routes=[
            *webapi.routes(state=state, bot_token=bot_token),
            *control.routes(state=state, interactions=interactions),
            *ui.routes(state=state),
        ]
    )


def bind(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """A TCP socket bound to host:port; binding before uvicorn runs makes port=0's URL known."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


class ServedApp:
    """An ASGI app served by uvicorn on a background thread, at `url`."""

    def __init__(self, app: ASGIApp, *, sock: socket.socket) -> None:
        self._sock = sock
        host, port = sock.getsockname()[:2]
        self.url = f"http://{host}:{port}"
        config = uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )

    @classmethod
    def serve(cls, app: ASGIApp, *, host: str = "127.0.0.1", port: int = 0) -> ServedApp:
        """Start serving `app` on host:port (0 = any free port); returns once it answers."""
        served = cls(app, sock=bind(host, port))
        served.start()
        return served

    def start(self) -> None:
        """Serve, returning once uvicorn is accepting connections."""
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the app at {self.url} did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        """Stop serving and wait for the thread."""
        self._server.should_exit = True
        self._thread.join(timeout=START_TIMEOUT)
        self._sock.close()


class SlackSandbox:
    """A running sandbox: its URLs, a Python API for tests, and `stop()`."""

    def __init__(self, *, state: SlackState, interactions: Interactions, served: ServedApp) -> None:
        self.state = state
        self._interactions = interactions
        self._served = served
        self.url = served.url
        self.api_url = f"{served.url}/api/"

    @classmethod
    def start(
        cls,
        *,
        signing_secret: str,
        bot_token: str,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Clock = time.time,
        events_url: str | None = None,
        ack_timeout: float = ACK_TIMEOUT,
    ) -> SlackSandbox:
        """Serve a fresh sandbox on host:port (0 = any free port); returns once it answers."""
        sock = bind(host, port)
        state = SlackState(clock=clock)
        interactions = Interactions(
            state,
            signing_secret=signing_secret,
            base_url=f"http://{host}:{sock.getsockname()[1]}",
            events_url=events_url,
            ack_timeout=ack_timeout,
        )
        app = build_app(state=state, interactions=interactions, bot_token=bot_token)
        served = ServedApp(app, sock=sock)
        served.start()
        return cls(state=state, interactions=interactions, served=served)

    def stop(self) -> None:
        """Stop serving and release the interaction client."""
        self._served.stop()
        self._interactions.close()

    def __enter__(self) -> SlackSandbox:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- where the bot listens -------------------------------------------------------------

    @property
    def events_url(self) -> str | None:
        """The bot's request URL ("http://.../slack/events") that interactions are posted to."""
        return self._interactions.events_url

    @events_url.setter
    def events_url(self, value: str | None) -> None:
        self._interactions.events_url = value

    # --- the workspace ---------------------------------------------------------------------

    def add_user(
        self,
        user_id: str,
        *,
        name: str,
        email: str | None = None,
        real_name: str | None = None,
        tz: str = "UTC",
    ) -> Json:
        """Add a workspace member."""
        return self.state.add_user(user_id, name=name, email=email, real_name=real_name, tz=tz)

    def add_usergroup(self, group_id: str, *, handle: str, users: list[str], name: str | None = None) -> Json:
        """Add a user group."""
        return self.state.add_usergroup(group_id, handle=handle, users=users, name=name)

    def add_channel(self, channel_id: str, *, name: str, is_private: bool = False,
                    is_member: bool = True, is_archived: bool = False) -> Json:
        """Add a channel (the bot in it unless `is_member=False`)."""
        return self.state.add_channel(channel_id, name=name, is_private=is_private,
                                      is_member=is_member, is_archived=is_archived)

    def change_channel(self, channel_id: str, **flags: bool) -> None:
        """Archive a channel or remove the bot: `change_channel("C1", is_archived=True)`."""
        self.state.change_channel(channel_id, **flags)

    def set_scopes(self, scopes: tuple[str, ...]) -> None:
        """Grant the bot token these scopes (until the next reset)."""
        self.state.set_scopes(scopes)

    def dm_channel(self, user_id: str) -> str:
        """The D… id conversations.open returns for this user (created on first use)."""
        return self.state.dm_channel(user_id)

    # --- what the bot did ------------------------------------------------------------------

    def messages(self, channel: str) -> list[Json]:
        """Top-level messages of a channel, in post order."""
        return self.state.messages(channel)

    def replies(self, channel: str, thread_ts: str) -> list[Json]:
        """Replies in one thread (parent excluded), in post order."""
        return self.state.replies(channel, thread_ts)

    def message(self, channel: str, ts: str) -> Json:
        """One message; KeyError if missing."""
        return self.state.message(channel, ts)

    def ephemerals(self, user: str | None = None) -> list[Json]:
        """Ephemeral messages, optionally for one user."""
        return self.state.ephemerals(user)

    def views(self, user: str | None = None) -> list[Json]:
        """Open modals and Home tabs, optionally for one user."""
        return self.state.views(user)

    def calls(self, method: str | None = None) -> list[Json]:
        """The Web API call log, optionally for one method."""
        return self.state.calls(method)

    def fail_next(
        self, method: str, error: str = "ratelimited", retry_after: int = 1, times: int = 1
    ) -> None:
        """Make the next `times` calls of `method` fail (429 + Retry-After for "ratelimited")."""
        self.state.fail_next(method, error=error, retry_after=retry_after, times=times)

    def reset(self) -> None:
        """Clear messages, ephemerals, views, calls and faults; keep users, groups, channels."""
        self.state.reset()

    # --- what a person does ----------------------------------------------------------------

    def click(
        self, user: str, channel: str, ts: str, action_id: str, *, value: str | None = None,
        block_id: str | None = None,
    ) -> httpx.Response:
        """`user` clicks a button (or picks `value` in a select) in a stored message."""
        return self._interactions.click(user, channel, ts, action_id, value=value, block_id=block_id)

    def open_home(self, user: str) -> httpx.Response:
        """`user` opens the app's Home tab (an `app_home_opened` event to the bot)."""
        return self._interactions.open_home(user)

    def click_view(
        self, user: str, view_id: str, action_id: str, *, value: str | None = None,
        block_id: str | None = None,
    ) -> httpx.Response:
        """`user` clicks a button in an open modal or their Home tab (in block `block_id`)."""
        return self._interactions.click_view(user, view_id, action_id, value=value, block_id=block_id)

    def submit_view(self, user: str, view_id: str, values: Json) -> httpx.Response:
        """`user` submits a modal with {block_id: {action_id: value}}; the answer is applied."""
        return self._interactions.submit_view(user, view_id, values)

    def close_view(self, user: str, view_id: str) -> httpx.Response | None:
        """`user` closes a modal (view_closed is sent only if the view asked for it)."""
        return self._interactions.close_view(user, view_id)

    def deliver(
        self,
        payload: Json,
        *,
        timestamp: int | None = None,
        secret: str | None = None,
        body: str | None = None,
    ) -> httpx.Response:
        """POST a hand-made payload, optionally forged (`secret`), stale or tampered (`body`)."""
        return self._interactions.deliver(payload, timestamp=timestamp, secret=secret, body=body)
