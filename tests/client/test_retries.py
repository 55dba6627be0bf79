"""Which calls the client sends again, and after how long: the pure policy in protocol."""

from __future__ import annotations

import httpx

from signoff_client import protocol


def create(key: str | None = None) -> protocol.Call:
    return protocol.create(action="a", summary="s", approvers=["U1"], args=None, context=None,
                           urgency="normal", channel=None, dm=None, requester=None, idempotency_key=key,
                           callback_url=None)


def answer(status: int, **headers: str) -> httpx.Response:
    return httpx.Response(status, headers=headers, request=httpx.Request("GET", "http://x/"))


def test_only_calls_that_are_safe_to_repeat_are_repeated_after_a_broken_connection():
    broken = httpx.RemoteProtocolError("server disconnected")
    assert protocol.retry_delay(protocol.get("r"), attempt=0, error=broken) is not None
    assert protocol.retry_delay(protocol.wait("r", 30), attempt=0, error=broken) is not None
    assert protocol.retry_delay(protocol.cancel("r", "why"), attempt=0, error=broken) is not None
    assert protocol.retry_delay(create("k"), attempt=0, error=broken) is not None
    assert protocol.retry_delay(create(), attempt=0, error=broken) is None  # it may have been created


def test_a_refused_connection_is_retried_for_any_call_as_nothing_was_sent():
    assert protocol.retry_delay(create(), attempt=0, error=httpx.ConnectError("refused")) is not None


def test_not_now_answers_are_retried_honouring_retry_after_and_others_are_not():
    later = answer(503, **{"Retry-After": "7"})
    assert protocol.retry_delay(protocol.get("r"), attempt=0, response=later) == 7
    assert protocol.retry_delay(protocol.get("r"), attempt=0, response=answer(502)) == 0.25
    assert protocol.retry_delay(protocol.get("r"), attempt=0, response=answer(500)) is None
    assert protocol.retry_delay(protocol.get("r"), attempt=0, response=answer(404)) is None
    assert protocol.retry_delay(create(), attempt=0, response=answer(503)) is None


def test_backoff_grows_to_a_ceiling_and_stops_after_the_last_attempt():
    delays = [protocol.retry_delay(protocol.get("r"), attempt=n, error=httpx.ConnectError("x"))
              for n in range(protocol.MAX_ATTEMPTS)]
    assert delays[:3] == [0.25, 0.5, 1.0] and max(d for d in delays if d) == protocol.MAX_BACKOFF
    assert delays[-1] is None
