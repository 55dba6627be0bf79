"""The webhook sender: delivers signed callbacks from the outbox, one attempt at a time."""

from __future__ import annotations

import ipaddress
import json
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import httpx

import signoff_client.callbacks as signing
from bot.core import webhooks as rules
from bot.core.lifecycle import Event
from bot.core.vocabulary import DeliveryState
from bot.errors import InvalidInput, NotFound
from bot.storage import repo
from bot.storage.db import Database
from bot.storage.tables import CallbackDelivery


def check_callback_url(url: str, *, allow_private: bool) -> None:
    """Refuse anything but http(s) URLs, and private-network targets unless allowed (SSRF)."""
    # urlsplit quietly drops CR, LF and tab; httpx then refused the URL at every attempt, leaving
    # the delivery pending forever. A URL has no whitespace or control characters at all.
    if bad := next((c for c in url if c.isspace() or not c.isprintable()), None):
        raise InvalidInput("callback_url contains whitespace or a control character",
                           fields={"callback_url": f"contains {bad!r}; a URL has no whitespace or "
                                                   "control characters"})
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError for a port out of range
        host = parts.hostname.encode("idna").decode() if parts.hostname else None
    except (ValueError, UnicodeError) as e:
        raise InvalidInput("callback_url is not a valid URL",
                           fields={"callback_url": f"not a valid URL: {e}"}) from e
    if parts.scheme not in ("http", "https") or not host:
        raise InvalidInput("callback_url must be an http(s) URL",
                           fields={"callback_url": "must be an absolute http:// or https:// URL"})
    if allow_private:
        return
    try:
        infos = socket.getaddrinfo(host, port or 443, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as e:
        raise InvalidInput("callback_url does not resolve",
                           fields={"callback_url": f"{parts.hostname} does not resolve ({e})"}) from e
    for info in infos:
        ip = ipaddress.ip_address(info[4][0])
        if not ip.is_global:
            raise InvalidInput(
                "callback_url points into a private network",
                fields={"callback_url": f"{parts.hostname} resolves to {ip}, a non-public address; "
                                        "set SIGNOFF_CALLBACK_ALLOW_PRIVATE=true to allow it"})


@dataclass(frozen=True, kw_only=True)
class Attempt:
    """How one attempt went: `retry_in` seconds when another attempt is due."""

    verdict: rules.Verdict | None  # None: nothing to do (already delivered or given up)
    retry_in: float | None = None


def attempt(
    db: Database, delivery_id: str, *, secrets: Mapping[str, str], http: httpx.Client,
    clock: Callable[[], datetime], allow_private: bool,
) -> Attempt:
    """POST the callback once and record the outcome with its audit event."""
    with db.read() as s:
        d = s.get(CallbackDelivery, delivery_id)
    if d is None:
        raise NotFound(f"no callback delivery {delivery_id!r}")
    if d.state != "pending":
        return Attempt(verdict=None)
    status, error = _post(d, secret=secrets.get(d.agent), http=http, clock=clock,
                          allow_private=allow_private)
    return _record(db, delivery_id, status=status, error=error, now=clock())


def _post(
    d: CallbackDelivery, *, secret: str | None, http: httpx.Client, clock: Callable[[], datetime],
    allow_private: bool,
) -> tuple[int | None, str | None]:
    if secret is None:
        return 401, f"agent {d.agent!r} has no API token any more; nothing can sign its callback"
    try:
        check_callback_url(d.url, allow_private=allow_private)  # again: DNS may have changed
    except InvalidInput as e:
        return 403, e.fields.get("callback_url", e.detail)
    body = json.dumps(d.payload, sort_keys=True, separators=(",", ":")).encode()
    ts = int(clock().timestamp())
    headers = {"Content-Type": "application/json", "User-Agent": "Signoff-Callback/1",
               signing.DELIVERY_HEADER: d.id, signing.TIMESTAMP_HEADER: str(ts),
               signing.SIGNATURE_HEADER: f"{signing.SCHEME}={signing.signature(secret, ts, body)}"}
    try:
        # Streamed and never read: only the status matters, and a huge or slow body must not
        # hold a worker.
        with http.stream("POST", d.url, content=body, headers=headers) as answer:
            status = answer.status_code
    except httpx.HTTPError as e:
        return None, f"{e.__class__.__name__}: {e}"
    return status, None if 200 <= status < 300 else f"HTTP {status}"


def _record(db: Database, delivery_id: str, *, status: int | None, error: str | None,
            now: datetime) -> Attempt:
    verdict = rules.classify(status)
    with db.write() as s:
        d = s.get(CallbackDelivery, delivery_id)
        assert d is not None
        if d.state != "pending":  # another attempt finished first
            return Attempt(verdict=None)
        d.attempts += 1
        data = {"delivery_id": d.id, "attempt": d.attempts, "status_code": status, "url": d.url}
        delay = rules.next_delay(d.attempts)
        if verdict is rules.Verdict.RETRY and rules.gives_up(created_at=d.created_at, now=now, delay=delay):
            verdict = rules.Verdict.GIVE_UP
        if verdict is rules.Verdict.DELIVERED:
            d.state, d.delivered_at, kind = DeliveryState.DELIVERED, now, "callback_delivered"
        elif verdict is rules.Verdict.GIVE_UP:
            d.state, d.last_error, kind = DeliveryState.GAVE_UP, error, "callback_failed"
            data |= {"error": error, "final": True}
        else:
            d.last_error, d.next_attempt_at, kind = error, now + timedelta(seconds=delay), "callback_failed"
            data |= {"error": error, "final": False, "retry_in_s": round(delay, 3)}
        s.add(d)
        repo.append_event(s, Event(kind=kind, actor="system", request_id=d.request_id, data=data), at=now)
    return Attempt(verdict=verdict, retry_in=delay if verdict is rules.Verdict.RETRY else None)

