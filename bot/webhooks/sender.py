"""The webhook sender: delivers signed callbacks from the outbox, one attempt at a time."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import httpx

from bot.core import webhooks as rules
from bot.core.lifecycle import Event
from bot.core.vocabulary import DeliveryState
from bot.errors import InvalidInput, NotFound
from bot.observe import lifecycle as observed
from bot.storage import repo
from bot.storage.db import Database
from bot.storage.tables import CallbackDelivery
from bot.webhooks.transport import Outbound, Resolve, system_resolve

SECRETS_SETTING = "SIGNOFF_CALLBACK_SECRETS"


class Unresolved(InvalidInput):
    """The callback host does not resolve (now): worth another attempt later, unlike a private one."""


def check_callback_url(url: str, *, allow_private: bool, resolve: Resolve = system_resolve) -> None:
    """Refuse anything but http(s) URLs, and private-network targets unless allowed (SSRF)."""
    host, _ = _target(url)
    if allow_private:
        return
    pin_address(host, allow_private=False, resolve=resolve)


def check_callback(
    url: str, agent: str, *, secrets: Mapping[str, Sequence[str]], allow_private: bool,
    resolve: Resolve = system_resolve,
) -> None:
    """check_callback_url, and refuse an agent that has no callback secret to sign with (fail closed)."""
    check_callback_url(url, allow_private=allow_private, resolve=resolve)
    if not secrets.get(agent):
        raise InvalidInput(
            "callback_url needs a callback secret for this agent",
            fields={"callback_url": f"agent {agent!r} has no callback secret; add "
                                    f"{agent}:<secret> to {SECRETS_SETTING} (see .env.example)"})


def pin_address(host: str, *, allow_private: bool, resolve: Resolve) -> str:
    """The address to connect to for `host`: its first, once every address it has passed the check."""
    try:
        found = [ipaddress.ip_address(host)]  # a literal address is not looked up
    except ValueError:
        try:
            found = [ipaddress.ip_address(a) for a in resolve(host)]
        except (OSError, UnicodeError, ValueError) as e:
            raise Unresolved("callback_url does not resolve",
                             fields={"callback_url": f"{host} does not resolve ({e})"}) from e
    if not found:
        raise Unresolved("callback_url does not resolve",
                         fields={"callback_url": f"{host} resolves to no address"})
    for ip in found if not allow_private else ():
        # Every address, not only the first: a client falling back to the next one must not
        # find the private network there.
        bad = rules.non_public(ip)
        if bad is not None:
            carried = "" if bad == ip else f" (it carries {bad})"
            raise InvalidInput(
                "callback_url points into a private network",
                fields={"callback_url": f"{host} resolves to {ip}, a non-public address{carried}; "
                                        "set SIGNOFF_CALLBACK_ALLOW_PRIVATE=true to allow it"})
    return str(found[0])


def _target(url: str) -> tuple[str, int | None]:
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
    return host, port


@dataclass(frozen=True, kw_only=True)
class Attempt:
    """How one attempt went: `retry_in` seconds when another attempt is due."""

    verdict: rules.Verdict | None  # None: nothing to do (already delivered or given up)
    retry_in: float | None = None


def attempt(
    db: Database, delivery_id: str, *, secrets: Mapping[str, Sequence[str]], outbound: Outbound,
    clock: Callable[[], datetime], allow_private: bool,
) -> Attempt:
    """POST the callback once and record the outcome with its audit event."""
    with db.read() as s:
        d = s.get(CallbackDelivery, delivery_id)
    if d is None:
        raise NotFound(f"no callback delivery {delivery_id!r}")
    if d.state != "pending":
        return Attempt(verdict=None)
    status, error = _post(d, secrets=tuple(secrets.get(d.agent, ())), outbound=outbound, clock=clock,
                          allow_private=allow_private)
    return _record(db, delivery_id, status=status, error=error, now=clock())


def _post(
    d: CallbackDelivery, *, secrets: Sequence[str], outbound: Outbound, clock: Callable[[], datetime],
    allow_private: bool,
) -> tuple[int | None, str | None]:
    if not secrets:
        # Never the API token instead: whoever verifies callbacks could then call the API as the agent.
        return 401, f"agent {d.agent!r} has no callback secret any more; add one to {SECRETS_SETTING}"
    try:
        host, _ = _target(d.url)
        # Resolved once, checked, and that address is the one connected to (DNS rebinding).
        ip = pin_address(host, allow_private=allow_private, resolve=outbound.resolve)
    except Unresolved as e:
        return None, e.fields.get("callback_url", e.detail)
    except InvalidInput as e:
        return 403, e.fields.get("callback_url", e.detail)
    body = json.dumps(d.payload, sort_keys=True, separators=(",", ":")).encode()
    ts = int(clock().timestamp())
    headers = {"Content-Type": "application/json", "User-Agent": "Signoff-Callback/1",
               rules.DELIVERY_HEADER: d.id, rules.TIMESTAMP_HEADER: str(ts),
               rules.SIGNATURE_HEADER: rules.signature_header(secrets, ts, body)}
    try:
        # Streamed and never read: only the status matters, and a huge or slow body must not
        # hold a worker.
        with outbound.client(ip) as http, http.stream("POST", d.url, content=body, headers=headers) as answer:
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
    observed.callback(request_id=d.request_id, agent=d.agent, delivered=verdict is rules.Verdict.DELIVERED,
                      final=verdict is not rules.Verdict.RETRY, attempt=d.attempts, created_at=d.created_at,
                      now=now, error=error)
    return Attempt(verdict=verdict, retry_in=delay if verdict is rules.Verdict.RETRY else None)

