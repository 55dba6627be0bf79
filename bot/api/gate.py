"""The gate in front of every route: token and size are checked before a byte of the body is read.

FastAPI reads and parses a body before the dependency that checks the bearer token runs, so an
unauthenticated 100 MiB POST used to cost the web process ~300 MiB before its 401. This pure ASGI
middleware answers 401 from the headers alone and 413 as soon as the body (declared by
Content-Length, or counted while a chunked one streams) passes the cap; the route then gets the
body it already read, so nothing downstream reads the network again.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

SLACK_PATH = "/slack/events"
API_PREFIX = "/v1/"
SLACK_MAX_BODY = 1024 * 1024  # Slack's own payloads stay far below this


def agent_for(tokens: Mapping[str, str], authorization: str | None) -> str | None:
    """The agent named by a `Bearer` token, or None; every token is compared in constant time."""
    scheme, _, given = (authorization or "").partition(" ")
    given = given.strip()
    if scheme.lower() != "bearer" or not given:
        return None
    found = None
    for token, name in tokens.items():
        if hmac.compare_digest(token.encode(), given.encode(errors="replace")):
            found = name
    return found


@dataclass(frozen=True)
class Refusal:
    """An answer sent instead of the route's."""

    status: int
    error: str
    detail: str
    headers: tuple[tuple[bytes, bytes], ...] = ()


class BodyTooLarge(Exception):
    """The body streamed past its cap."""


class Gate:
    """Refuse unauthenticated agent calls and oversized bodies before the body is read."""

    def __init__(self, app: ASGIApp, *, tokens: Mapping[str, str], api_max_body: int,
                 slack_max_body: int = SLACK_MAX_BODY) -> None:
        self.app = app
        self.tokens = tokens
        self.api_max_body = api_max_body
        self.slack_max_body = slack_max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        cap = self.slack_max_body if scope["path"] == SLACK_PATH else self.api_max_body
        refusal = self.refusal(scope["path"], headers, cap)
        if refusal is None:
            try:
                body = await _read(receive, cap)
            except BodyTooLarge:
                refusal = _too_large(cap)
        if refusal is not None:
            await _send(send, refusal)
            return
        await self.app(scope, _replay(body, receive), send)

    def refusal(self, path: str, headers: Mapping[str, str], cap: int) -> Refusal | None:
        """What to answer from the headers alone, or None to go on."""
        if path.startswith(API_PREFIX) and agent_for(self.tokens, headers.get("authorization")) is None:
            return Refusal(401, "unauthorized", "send `Authorization: Bearer <token>` with a token "
                                                "listed in SIGNOFF_API_TOKENS",
                           ((b"www-authenticate", b"Bearer"),))
        declared = headers.get("content-length")
        if declared is not None:
            if not (declared.isascii() and declared.isdigit() and len(declared) <= 18):
                return Refusal(400, "bad_request", "Content-Length must be a number of bytes")
            if int(declared) > cap:
                return _too_large(cap)
        return None


def _too_large(cap: int) -> Refusal:
    return Refusal(413, "body_too_large", f"the body is larger than {cap} bytes; nothing was stored "
                                          "(the agent API's cap is SIGNOFF_MAX_BODY_BYTES)")


async def _read(receive: Receive, cap: int) -> bytes:
    """The whole body, counted as it streams; raises BodyTooLarge the moment it passes `cap`."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break  # the client went away; the route sees an empty body and its own disconnect
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > cap:
            raise BodyTooLarge()
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands out the body already read once, then the real stream (disconnects)."""
    sent = False

    async def again() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return again


async def _send(send: Send, refusal: Refusal) -> None:
    content = json.dumps({"error": refusal.error, "detail": refusal.detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(content)).encode()),
               *refusal.headers]
    if refusal.status == 413:
        headers.append((b"connection", b"close"))  # the unread rest of the body is not worth reading
    await send({"type": "http.response.start", "status": refusal.status, "headers": headers})
    await send({"type": "http.response.body", "body": content})
