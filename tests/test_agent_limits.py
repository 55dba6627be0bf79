"""Per-agent limits on the real stack: a runaway agent gets 429s, approvers get no flood of cards."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from redis import Redis
from sqlmodel import col, select

from bot.embedded_redis import free_port
from bot.errors import InvalidSettings, RateLimited, Unavailable
from bot.service.limits import AgentLimits
from bot.settings import RateLimit, load_settings, parse_rate
from bot.storage.tables import ApprovalRequest, AuditEvent
from tests.conftest import CHANNEL, OTHER_TOKEN, MovableClock, Stack

BODY = {"action": "issue_refund", "summary": "Refund $340 to order #1234", "args": {"order": 1234},
        "approvers": ["U0ALICE"], "channel": CHANNEL}


def _limited_events(stack: Stack) -> list[AuditEvent]:
    with stack.w.db.read() as s:
        return list(s.exec(select(AuditEvent).where(col(AuditEvent.kind) == "rate_limited")))


def _stored(stack: Stack, agent: str = "test-agent") -> int:
    with stack.w.db.read() as s:
        return len(s.exec(select(ApprovalRequest.id).where(col(ApprovalRequest.created_by) == agent)).all())


class TestRate:
    @pytest.fixture
    def stack_overrides(self) -> dict[str, Any]:
        return {"agent_rate_limit": RateLimit(5, 60.0)}

    def test_over_the_rate_is_refused_with_retry_after_and_no_card(self, stack: Stack,
                                                                   clock: MovableClock) -> None:
        # Start just after a window opens: a burst straddling two windows would count in both.
        clock.advance(seconds=61 - clock().timestamp() % 60)
        answers = [stack.api.post("/v1/requests", json=BODY) for _ in range(12)]
        assert [a.status_code for a in answers] == [201] * 5 + [429] * 7
        refused = answers[-1]
        assert refused.json()["error"] == "rate_limited"
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        stack.run_jobs()
        assert _stored(stack) == 5
        assert len(stack.sandbox.calls("chat.postMessage")) == 5  # approvers saw five cards, not 12
        # One audit event for the burst, naming the agent and the limit, tied to no request.
        [event] = _limited_events(stack)
        assert event.request_id is None and event.actor == "agent:test-agent"
        assert event.data == {"agent": "test-agent", "limit": "5/min", "which": "rate"}

        # Another agent has its own window.
        other = httpx.post(f"{stack.url}/v1/requests", json=BODY,
                           headers={"Authorization": f"Bearer {OTHER_TOKEN}"})
        assert other.status_code == 201

        clock.advance(seconds=60)  # the next window
        assert stack.api.post("/v1/requests", json=BODY).status_code == 201

    def test_redis_down_refuses_with_503_fail_closed(self, stack: Stack) -> None:
        gone = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=0.5)
        limits = AgentLimits(db=stack.w.db, redis=gone, clock=stack.w.clock, rate=RateLimit(5, 60.0))
        with pytest.raises(Unavailable):
            limits.check("test-agent")


class TestPending:
    @pytest.fixture
    def stack_overrides(self) -> dict[str, Any]:
        return {"agent_max_pending": 3}

    def test_cap_on_pending_requests_frees_as_requests_end(self, stack: Stack, clock: MovableClock) -> None:
        clock.advance(seconds=61 - clock().timestamp() % 60)  # one audit event per minute: stay in one
        made = [stack.api.post("/v1/requests", json=BODY) for _ in range(3)]
        assert all(r.status_code == 201 for r in made)
        for _ in range(3):
            refused = stack.api.post("/v1/requests", json=BODY)
            assert refused.status_code == 429, refused.text
        # A person frees a slot, not within a second: the agent is not told to ask every second.
        assert "3 pending" in refused.json()["detail"] and int(refused.headers["Retry-After"]) == 10
        assert _stored(stack) == 3
        [event] = _limited_events(stack)
        assert event.data == {"agent": "test-agent", "limit": "3 pending", "which": "pending"}

        cancelled = stack.api.post(f"/v1/requests/{made[0].json()['id']}/cancel", json={"reason": "done"})
        assert cancelled.status_code == 200
        assert stack.api.post("/v1/requests", json=BODY).status_code == 201
        assert stack.api.post("/v1/requests", json=BODY).status_code == 429

    def test_a_retry_of_a_request_that_exists_gets_it_back_at_the_cap(self, stack: Stack) -> None:
        # An agent that lost the answer to its create retries with the same key: it was told 429,
        # "nothing was stored", while its request existed and was pending.
        keyed = BODY | {"idempotency_key": "refund-1234"}
        first = stack.api.post("/v1/requests", json=keyed)
        assert first.status_code == 201
        for _ in range(2):
            assert stack.api.post("/v1/requests", json=BODY).status_code == 201
        again = stack.api.post("/v1/requests", json=keyed)
        assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
        # A new key is a new request: refused at the cap; the same key with another body is a 409.
        assert stack.api.post("/v1/requests", json=BODY | {"idempotency_key": "refund-9"}).status_code == 429
        changed = stack.api.post("/v1/requests", json=keyed | {"summary": "Refund $3400"})
        assert changed.status_code == 409
        assert _stored(stack) == 3

    def test_the_cap_holds_without_redis(self, stack: Stack) -> None:
        for _ in range(3):
            stack.create(approvers=["U0ALICE"])
        gone = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=0.5)
        limits = AgentLimits(db=stack.w.db, redis=gone, clock=stack.w.clock, max_pending=3)
        with pytest.raises(RateLimited):
            limits.check("test-agent")
        limits.check("other-agent")  # under its cap: passes, with Redis down
        assert len(_limited_events(stack)) == 1  # recorded even when Redis cannot dedupe it


@pytest.mark.parametrize(("raw", "want"), [("60/min", RateLimit(60, 60.0)), ("5 / s", RateLimit(5, 1.0)),
                                           ("1000/hour", RateLimit(1000, 3600.0)), (None, None)])
def test_rate_setting_parses(raw: str | None, want: RateLimit | None) -> None:
    assert parse_rate("SIGNOFF_AGENT_RATE_LIMIT", raw) == want


@pytest.mark.parametrize("raw", ["60", "0/min", "60/day", "-1/s", "sixty/min"])
def test_a_bad_rate_setting_names_the_variable(raw: str) -> None:
    with pytest.raises(InvalidSettings, match="SIGNOFF_AGENT_RATE_LIMIT"):
        parse_rate("SIGNOFF_AGENT_RATE_LIMIT", raw)


@pytest.mark.parametrize("raw", ["0", "-3", "ten"])
def test_a_bad_pending_cap_names_the_variable(raw: str) -> None:
    env = {"SLACK_BOT_TOKEN": "xoxb-1-real", "SLACK_SIGNING_SECRET": "0123456789abcdef0123",
           "SIGNOFF_API_TOKENS": "a:0123456789abcdef0123", "SIGNOFF_AGENT_MAX_PENDING": raw}
    with pytest.raises(InvalidSettings, match="SIGNOFF_AGENT_MAX_PENDING"):
        load_settings(env, env_file=None)
