"""LangGraph semantics: a rejected breakpoint ends the thread; the decision lands in the state."""

from __future__ import annotations

import json

import pytest

from bot.agents.decisions import append_new
from bot.core.lifecycle import Verdict
from tests import graph_apps
from tests.graph_fixtures import effects_file, stack_overrides  # noqa: F401 - fixtures
from tests.test_graph_runs import run_of, start


def thread_state(stack, run):
    graph = stack.w.registry.get(run["graph"])
    return graph.get_state({"configurable": {"thread_id": run["thread_id"]}})


def test_a_rejected_breakpoint_ends_the_thread_and_the_checkpoint_records_it(stack):
    run = start(stack, "recorded_breakpoint", {"action": "rotate keys", "approved": False,
                                               "api_token": "xoxb-very-secret"})
    [req] = run["pending_requests"]
    card = json.dumps(stack.card(req["id"])["blocks"])
    assert "rotate keys" in card and "xoxb-very-secret" not in card and "[redacted]" in card
    stack.w.service.decide(req["id"], actor="U0ALICE", verdict=Verdict.REJECT, reason="not today")
    stack.run_jobs()
    assert run_of(stack, run)["status"] == "stopped" and graph_apps.effects() == []
    state = thread_state(stack, run)
    assert state.next == ()  # ended: a later resume cannot run the gated node
    [entry] = state.values["signoff_decisions"]
    assert (entry["request_id"], entry["status"], entry["by"], entry["reason"]) == (
        req["id"], "rejected", "U0ALICE", "not today")


def test_an_approved_breakpoint_continues_with_the_decision_in_the_state(stack):
    run = start(stack, "recorded_breakpoint", {"action": "rotate keys", "approved": False})
    [req] = run["pending_requests"]
    stack.w.service.decide(req["id"], actor="U0BOB", verdict=Verdict.APPROVE)
    stack.run_jobs()
    assert run_of(stack, run)["status"] == "done" and graph_apps.effects() == ["executed rotate keys"]
    [entry] = thread_state(stack, run).values["signoff_decisions"]
    assert (entry["decision"], entry["by"]) == ("approve", "U0BOB")


def test_a_plain_interrupt_may_ask_for_approved_reason_and_by(stack):
    run = start(stack, "decision", {"action": "wipe the cache"})
    [req] = run["pending_requests"]
    stack.w.service.decide(req["id"], actor="U0ALICE", verdict=Verdict.REJECT, reason="peak hours")
    stack.run_jobs()
    assert graph_apps.effects() == ["answer approved=False reason=peak hours by=U0ALICE"]
    done = run_of(stack, run)
    assert done["status"] == "done" and done["result"]["approved"] is False
    [entry] = done["result"]["signoff_decisions"]  # Command(update=..., resume=...)
    assert entry["request_id"] == req["id"] and entry["reason"] == "peak hours"
    assert "wipe the cache" in json.dumps(req)


def test_a_registration_may_show_only_some_state_keys_on_breakpoint_cards(stack):
    run = start(stack, "shown_breakpoint", {"action": "rotate keys", "approved": False, "api_token": "t"})
    [req] = run["pending_requests"]
    assert req["context"]["state"] == {"action": "rotate keys"}


def test_the_tutorial_graph_records_its_one_decision_once(stack):
    # Its execute node returned the whole state, so the decisions list (appended to) came back
    # doubled: one approval read as two in the run's result.
    run = start(stack, "tutorial", {"action": "send refund of $340 to customer 8821", "approved": False})
    [req] = run["pending_requests"]
    stack.w.service.decide(req["id"], actor="U0ALICE", verdict=Verdict.APPROVE)
    stack.run_jobs()
    done = run_of(stack, run)
    assert done["status"] == "done" and done["result"]["approved"] is True
    [entry] = done["result"]["signoff_decisions"]
    assert (entry["request_id"], entry["decision"], entry["by"]) == (req["id"], "approve", "U0ALICE")


def test_the_decisions_reducer_appends_each_request_once():
    first, second = {"request_id": "req_1", "by": "U0ALICE"}, {"request_id": "req_2", "by": "U0BOB"}
    assert append_new([], [first]) == [first]
    assert append_new([first], [first]) == [first]  # a node wrote the whole state back
    assert append_new([first], [first, second, second]) == [first, second]
    anonymous = {"note": "a decision recorded by hand"}  # no request id: written back, not doubled
    assert append_new([anonymous], [anonymous]) == [anonymous]
    with pytest.raises(TypeError, match="takes a list"):
        append_new([first], second)  # type: ignore[arg-type]

