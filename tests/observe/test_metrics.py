"""/metrics: protected by its token, and counting each lifecycle step where it happens."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from blocks import ids
from bot.observe import heartbeat
from bot.observe.metrics import exported_names
from tests.conftest import CHANNEL

POLICY = Path(__file__).parents[1] / "policy_refunds.yaml"
METRICS_TOKEN = "metrics-token-0123456789abcdef"


@pytest.fixture
def stack_overrides():
    return {"policy_file": POLICY, "metrics_token": METRICS_TOKEN}


def scrape(stack) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    r = httpx.get(f"{stack.url}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert r.status_code == 200, r.text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(r.text) for s in family.samples}


def value(samples, name, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_need_the_token(stack):
    assert httpx.get(f"{stack.url}/metrics").status_code == 401
    wrong = httpx.get(f"{stack.url}/metrics", headers={"Authorization": "Bearer nope-nope-nope-nope"})
    assert wrong.status_code == 401 and "signoff_" not in wrong.text
    assert wrong.json()["error"] == "unauthorized" and "SIGNOFF_METRICS_TOKEN" in wrong.json()["detail"]


@pytest.mark.parametrize("stack_overrides", [{"metrics_token": None}])
def test_without_a_token_setting_there_are_no_metrics(stack):
    r = httpx.get(f"{stack.url}/metrics", headers={"Authorization": "Bearer anything-at-all-here"})
    assert r.status_code == 404 and r.json() == httpx.get(f"{stack.url}/no-such-page").json()  # as any


def test_the_counters_alerts_watch_are_exported_at_zero_from_the_start(stack):
    # A series first seen at 1 has an increase() of 0: the first give-up would never alert.
    samples = scrape(stack)
    for final in ("true", "false"):
        assert ("signoff_resume_failures_total", (("final", final),)) in samples
        assert ("signoff_callback_failures_total", (("agent", "test-agent"), ("final", final))) in samples
    assert ("signoff_callback_attempts_total", (("agent", "test-agent"),)) in samples
    assert ("signoff_escalations_total", (("rule", "big-refunds"),)) in samples


def test_a_request_is_counted_from_creation_to_its_decision_and_its_ack_is_timed(stack):
    before = scrape(stack)
    req = stack.create(action="issue_refund", args={"amount": 340}, approvers=[])
    stack.run_jobs()
    during = scrape(stack)
    labels = {"rule": "mid-refunds", "agent": "test-agent"}
    assert value(during, "signoff_requests_created_total", **labels) == \
        value(before, "signoff_requests_created_total", **labels) + 1
    assert value(during, "signoff_requests_pending", age="0-60") >= 1
    card = stack.card(req["id"])
    assert stack.sandbox.click("U0ALICE", CHANNEL, card["ts"], ids.ACTION_APPROVE).status_code == 200
    after = scrape(stack)
    ended = {"outcome": "approved", **labels}
    assert value(after, "signoff_requests_ended_total", **ended) == \
        value(before, "signoff_requests_ended_total", **ended) + 1
    assert value(after, "signoff_decision_seconds_count", rule="mid-refunds") == \
        value(before, "signoff_decision_seconds_count", rule="mid-refunds") + 1
    assert value(after, "signoff_slack_ack_seconds_count") > value(before, "signoff_slack_ack_seconds_count")
    assert value(after, "signoff_requests_pending", age="0-60") == \
        value(during, "signoff_requests_pending", age="0-60") - 1
    assert {name for name, _ in after} <= exported_names()  # what deploy/ may name


def test_escalations_lateness_queues_and_the_heartbeat_are_exported(stack, clock):
    before = scrape(stack)
    stack.create(action="issue_refund", args={"amount": 900}, approvers=[])
    stack.run_jobs()
    clock.advance(minutes=20)  # its first deadline (the 10 m reminder) is 600 s late: the sweeper is behind
    late = scrape(stack)
    assert value(late, "signoff_requests_overdue") >= 1
    assert value(late, "signoff_rq_queue_depth", queue="cards") == 0
    stack.sweep()
    after = scrape(stack)
    assert value(after, "signoff_escalations_total", rule="big-refunds") == \
        value(before, "signoff_escalations_total", rule="big-refunds") + 1
    assert value(after, "signoff_deadline_lateness_seconds_count", kind="escalated") == \
        value(before, "signoff_deadline_lateness_seconds_count", kind="escalated") + 1
    # 600 s late: in the 900 s bucket, not the 300 s one.
    gained = {le: value(after, "signoff_deadline_lateness_seconds_bucket", kind="escalated", le=le)
              - value(before, "signoff_deadline_lateness_seconds_bucket", kind="escalated", le=le)
              for le in ("300.0", "900.0")}
    assert gained == {"300.0": 0, "900.0": 1}
    assert value(after, "signoff_worker_heartbeat_timestamp_seconds") == 0
    heartbeat.beat(stack.w.redis, clock())
    assert value(scrape(stack), "signoff_worker_heartbeat_timestamp_seconds") == \
        pytest.approx(clock().timestamp(), abs=5)


WORKER_SCRIPT = """
from bot.observe import lifecycle
lifecycle.resume_failed(request_id="req_x", error="boom", final=True)
"""


def test_another_process_counters_show_in_the_multiprocess_exposition(tmp_path):
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    subprocess.run([sys.executable, "-c", WORKER_SCRIPT], env=env, check=True, cwd=Path(__file__).parents[2])
    reader = "from bot.observe.metrics import render; import sys; sys.stdout.write(render(None).decode())"
    out = subprocess.run([sys.executable, "-c", reader], env=env, check=True, capture_output=True, text=True,
                         cwd=Path(__file__).parents[2]).stdout
    assert 'signoff_resume_failures_total{final="true"} 1.0' in out
