"""Webhook rules as pure functions: the payload, its signature, which addresses may receive it,
and when to try again.

The wire format (v1) is written twice on purpose, here and in signoff_client.callbacks (the side
that verifies it), so the server installs without the client; tests/test_callbacks.py pins the
two together with a round trip.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import random
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

SCHEME = "v1"
TIMESTAMP_HEADER = "X-Signoff-Timestamp"
SIGNATURE_HEADER = "X-Signoff-Signature"
DELIVERY_HEADER = "X-Signoff-Delivery"

GIVE_UP_AFTER = timedelta(hours=24)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# IPv6 prefixes whose low 32 bits are an IPv4 address the packet ends up at (NAT64, the
# well-known and the local-use prefix; IPv4-compatible, deprecated but still routed by some stacks).
_IPV4_IN_LOW_BITS = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/48"),
                     ipaddress.IPv6Network("::/96"))
FIRST_DELAY = 2.0  # seconds
MAX_DELAY = 3600.0


class Verdict(StrEnum):
    """What one delivery attempt's answer means."""

    DELIVERED = "delivered"
    RETRY = "retry"
    GIVE_UP = "give_up"


def payload(
    *, delivery_id: str, request_id: str, status: str, decision: str | None, decided_by: str | None,
    reason: str | None, args: Mapping[str, Any], edited_args: Mapping[str, Any] | None,
    decided_at: datetime | None,
) -> dict[str, Any]:
    """The JSON body a receiver gets: the same for every attempt."""
    return {
        "delivery_id": delivery_id, "request_id": request_id, "status": status,
        "decision": decision, "decided_by": decided_by, "reason": reason, "args": dict(args),
        "edited_args": dict(edited_args) if edited_args is not None else None,
        "decided_at": decided_at.isoformat() if decided_at else None,
    }


def classify(status_code: int | None) -> Verdict:
    """2xx delivered; 4xx other than 408/429 will not get better; anything else (or no answer) retries."""
    if status_code is None:
        return Verdict.RETRY
    if 200 <= status_code < 300:
        return Verdict.DELIVERED
    if 400 <= status_code < 500 and status_code not in (408, 429):
        return Verdict.GIVE_UP
    return Verdict.RETRY


def next_delay(attempts: int, *, first: float = FIRST_DELAY, rng: random.Random | None = None) -> float:
    """Seconds before attempt `attempts + 1`: exponential, capped, with jitter so receivers
    coming back from an outage are not hit by every sender at once."""
    ceiling = min(MAX_DELAY, first * 2 ** max(0, attempts - 1))
    return ceiling * (0.5 + 0.5 * (rng or random).random())


def gives_up(*, created_at: datetime, now: datetime, delay: float) -> bool:
    """Whether the next attempt would fall past the 24 h delivery window."""
    return now + timedelta(seconds=delay) - created_at > GIVE_UP_AFTER


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """Hex HMAC-SHA256 of f"{timestamp}.{body}" under `secret` (the v1 scheme)."""
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(secrets: Sequence[str], timestamp: int, body: bytes) -> str:
    """`v1=<hex>,v1=<hex>`: one signature per secret, so a receiver rotating its secret accepts either."""
    if not secrets:
        raise ValueError("no secret to sign with")
    return ",".join(f"{SCHEME}={signature(secret, timestamp, body)}" for secret in secrets)


def embedded_ipv4(ip: IPAddress) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries (mapped, 6to4, Teredo, NAT64, compatible)."""
    if isinstance(ip, ipaddress.IPv4Address):
        return []
    found = [a for a in (ip.ipv4_mapped, ip.sixtofour) if a is not None]
    if ip.teredo is not None:
        found.extend(ip.teredo)  # (server, client): either may be the one that is private
    if any(ip in net for net in _IPV4_IN_LOW_BITS) and int(ip) > 1:  # not :: or ::1 themselves
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return found


def non_public(ip: IPAddress) -> IPAddress | None:
    """The non-public address `ip` is or carries (loopback, private, link-local, ...), or None."""
    for candidate in (ip, *embedded_ipv4(ip)):
        if not candidate.is_global or candidate.is_multicast:
            return candidate
    return None
