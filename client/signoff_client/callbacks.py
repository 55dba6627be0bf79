"""Verify the signed callbacks Signoff POSTs to an agent's `callback_url`.

The secret is the agent's callback secret (its entry in the server's SIGNOFF_CALLBACK_SECRETS),
not its API token. While the server rotates it, each callback carries one `v1=` signature per
secret, so a receiver holding either the old or the new one accepts it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

from signoff_client.errors import CallbackVerificationError

TIMESTAMP_HEADER = "X-Signoff-Timestamp"
SIGNATURE_HEADER = "X-Signoff-Signature"
DELIVERY_HEADER = "X-Signoff-Delivery"
SCHEME = "v1"


def verify_callback(
    headers: Mapping[str, str], body: bytes | str, secret: str, *, tolerance: int = 300,
    now: float | None = None,
) -> dict[str, Any]:
    """Check a callback's signature (under the agent's callback secret) and freshness; return its JSON
    body or raise CallbackVerificationError."""
    if not secret:
        raise CallbackVerificationError("no secret given to verify with (the agent's callback secret, "
                                        "from the server's SIGNOFF_CALLBACK_SECRETS)")
    raw = body.encode() if isinstance(body, str) else bytes(body)
    lowered = {k.lower(): v for k, v in headers.items()}
    timestamp = _timestamp(_header(lowered, TIMESTAMP_HEADER))
    signatures = _signatures(_header(lowered, SIGNATURE_HEADER))
    expected = signature(secret, timestamp, raw)
    # Compare against every v1 entry, always all of them, so timing says nothing about which matched.
    if not any([hmac.compare_digest(expected, given) for given in signatures]):
        raise CallbackVerificationError("signature mismatch: a wrong secret, or the body or timestamp "
                                        "was changed")
    _check_fresh(timestamp, now=time.time() if now is None else now, tolerance=tolerance)
    return _json_object(raw)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """Hex HMAC-SHA256 of f"{timestamp}.{body}" under `secret` (the v1 scheme)."""
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def _header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name.lower())
    if value is None or not value.strip():
        raise CallbackVerificationError(f"missing header {name}")
    return value.strip()


def _timestamp(value: str) -> int:
    # Bounded: Python refuses int() of more than 4300 digits with a ValueError, and a huge int
    # overflows the float comparison; real unix seconds have 10.
    if not value.isascii() or not value.isdigit() or len(value) > 12:
        raise CallbackVerificationError(f"bad {TIMESTAMP_HEADER}: expected unix seconds, got {value[:40]!r}")
    return int(value)


def _signatures(value: str) -> list[str]:
    """The hex digests of every `v1=` entry (a comma-separated list allows rotating secrets)."""
    found = []
    for entry in value.split(","):
        scheme, sep, digest = entry.strip().partition("=")
        if not sep or not digest:
            raise CallbackVerificationError(f"bad {SIGNATURE_HEADER}: expected 'v1=<hex>', "
                                            f"got {value[:80]!r}")
        if scheme == SCHEME:
            found.append(digest.lower())
    if not found:
        raise CallbackVerificationError(f"bad {SIGNATURE_HEADER}: no '{SCHEME}=' signature in {value[:80]!r}")
    if not all(len(d) == 64 and all(c in "0123456789abcdef" for c in d) for d in found):
        raise CallbackVerificationError(f"bad {SIGNATURE_HEADER}: a v1 signature is not 64 hex digits")
    return found


def _check_fresh(timestamp: int, *, now: float, tolerance: int) -> None:
    skew = now - timestamp
    if skew > tolerance:
        raise CallbackVerificationError(f"timestamp too old: {int(skew)} s ago (tolerance {tolerance} s); "
                                        "a replay, or a clock out of sync")
    if -skew > tolerance:
        raise CallbackVerificationError(f"timestamp too new: {int(-skew)} s ahead (tolerance {tolerance} s); "
                                        "a clock out of sync")


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(raw)
    except (ValueError, RecursionError) as e:
        raise CallbackVerificationError(f"body is not JSON: {e}") from e
    if not isinstance(parsed, dict):
        raise CallbackVerificationError(f"body is not a JSON object but {type(parsed).__name__}")
    return parsed
