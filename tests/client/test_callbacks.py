"""verify_callback accepts exactly what the server signs, and names what is wrong with anything else."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from signoff_client import CallbackVerificationError, verify_callback

SECRET = "agent-token-0123456789abcdef"
NOW = 1_760_000_000
BODY = json.dumps({"delivery_id": "dlv_1", "request_id": "req_1", "status": "approved", "decision": "approve",
                   "decided_by": "U0ALICE", "reason": None, "args": {"order": 1234}, "edited_args": None,
                   "decided_at": "2025-10-09T08:53:20+00:00"}).encode()


def signed(body: bytes = BODY, *, secret: str = SECRET, timestamp: int = NOW) -> dict[str, str]:
    """Headers as the server sends them, computed here from the documented scheme."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return {"X-Signoff-Delivery": "dlv_1", "X-Signoff-Timestamp": str(timestamp),
            "X-Signoff-Signature": f"v1={digest}"}


def check(headers: dict[str, str], body: bytes | str = BODY, *, now: float = NOW) -> dict:
    return verify_callback(headers, body, SECRET, now=now)


def refused(headers: dict[str, str], body: bytes | str = BODY, *, now: float = NOW) -> str:
    with pytest.raises(CallbackVerificationError) as caught:
        check(headers, body, now=now)
    return str(caught.value)


def test_a_valid_callback_returns_its_body():
    assert check(signed()) == json.loads(BODY)


def test_headers_are_case_insensitive_and_str_bodies_work():
    lowered = {k.lower(): v for k, v in signed().items()}
    assert check(lowered, BODY.decode())["request_id"] == "req_1"


def test_the_edges_of_the_tolerance_are_accepted():
    assert check(signed(timestamp=NOW - 300))
    assert check(signed(timestamp=NOW + 300))


def test_a_wrong_secret_is_a_signature_mismatch():
    assert "signature mismatch" in refused(signed(secret="another-agent-token-0123456789"))


def test_a_tampered_body_is_a_signature_mismatch():
    assert "signature mismatch" in refused(signed(), BODY.replace(b'"approved"', b'"rejected"'))


def test_a_changed_timestamp_is_a_signature_mismatch():
    headers = {**signed(), "X-Signoff-Timestamp": str(NOW + 1)}
    assert "signature mismatch" in refused(headers)


def test_a_timestamp_301_s_old_is_a_replay():
    assert "too old" in refused(signed(timestamp=NOW - 301))


def test_a_timestamp_301_s_ahead_is_refused():
    assert "too new" in refused(signed(timestamp=NOW + 301))


def test_the_tolerance_can_be_tightened():
    with pytest.raises(CallbackVerificationError, match="too old"):
        verify_callback(signed(timestamp=NOW - 11), BODY, SECRET, tolerance=10, now=NOW)


@pytest.mark.parametrize("header", ["X-Signoff-Timestamp", "X-Signoff-Signature"])
def test_missing_headers_are_named(header):
    headers = {k: v for k, v in signed().items() if k != header}
    assert f"missing header {header}" in refused(headers)


@pytest.mark.parametrize("value", ["abc123", "v1", "v1=", "sha256=" + "0" * 64, "v1=xyz", "v1=" + "0" * 63])
def test_malformed_signature_headers_are_named(value):
    message = refused({**signed(), "X-Signoff-Signature": value})
    assert "bad X-Signoff-Signature" in message


@pytest.mark.parametrize("value", ["", "soon", "1.5", "-5", "١٢٣"])
def test_malformed_timestamps_are_named(value):
    message = refused({**signed(), "X-Signoff-Timestamp": value})
    assert "X-Signoff-Timestamp" in message


def test_one_matching_signature_among_several_is_enough():
    good = signed()["X-Signoff-Signature"]
    rotated = {**signed(), "X-Signoff-Signature": f"v1={'0' * 64}, {good}"}
    assert check(rotated)["delivery_id"] == "dlv_1"


def test_a_signed_body_that_is_not_a_json_object_is_refused():
    body = b"[1, 2]"
    assert "not a JSON object" in refused(signed(body), body)


def test_an_empty_secret_is_refused_rather_than_trusted():
    with pytest.raises(CallbackVerificationError, match="no secret"):
        verify_callback(signed(secret=""), BODY, "", now=NOW)


@pytest.mark.parametrize("value", ["9" * 5000, "9" * 400, "1" + "0" * 20])
def test_an_enormous_timestamp_is_a_verification_error_not_a_value_error(value):
    assert "X-Signoff-Timestamp" in refused({**signed(), "X-Signoff-Timestamp": value})


def test_a_signed_body_nested_past_the_parser_is_refused():
    body = b"[" * 100_000 + b"]" * 100_000
    assert "not JSON" in refused(signed(body), body)
