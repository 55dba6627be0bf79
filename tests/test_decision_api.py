"""The decision API: UIs other than Slack decide for a person, with exactly the checks of a click."""

from __future__ import annotations

import threading
import uuid

import httpx
import pytest
from sqlmodel import select

from bot.storage.tables import AuditEvent
from tests.conftest import OTHER_TOKEN
from tests.test_policies import POLICY, refund


@pytest.fixture
def stack_overrides():
    # "other-agent" is the UI: its token holds the decide scope; "test-agent" creates requests.
    return {"policy_file": POLICY, "api_scopes": {OTHER_TOKEN: frozenset({"decide"})}}


@pytest.fixture
def ui(stack):
    with httpx.Client(base_url=stack.url, headers={"Authorization": f"Bearer {OTHER_TOKEN}"},
                      timeout=30) as client:
        yield client


def decide(ui, req, *, version=0, key=None, **body):
    body = {"decision": "approve", "by": "alice@example.com", "expected_version": version,
            "idempotency_key": key or uuid.uuid4().hex, **body}
    return ui.post(f"/v1/requests/{req['id']}/decision", json=body)


def events(stack, request_id):
    with stack.w.db.read() as s:
        rows = s.exec(select(AuditEvent).where(AuditEvent.request_id == request_id).order_by(AuditEvent.seq))
        return [(e.kind, e.actor, e.data) for e in rows]


def test_a_token_without_the_decide_scope_is_refused_naming_the_scope(stack):
    req = refund(stack, 340)
    r = decide(stack.api, req)
    assert r.status_code == 403 and "decide" in r.json()["detail"]
    r = stack.api.get("/v1/approvals/pending", params={"approver": "U0ALICE"})
    assert r.status_code == 403 and "name:token:decide" in r.json()["detail"]
    assert stack.api.get(f"/v1/requests/{req['id']}").json()["status"] == "pending"
    assert httpx.get(f"{stack.url}/v1/approvals/pending?approver=U0ALICE").status_code == 401


def test_pending_lists_what_waits_on_the_person_and_a_decision_is_theirs_via_the_ui(stack, ui):
    req = refund(stack, 340)  # mid-refunds: @finance (alice, bob)
    r = ui.get("/v1/approvals/pending", params={"approver": "alice@example.com"})
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    assert r.json()["approver"] == "U0ALICE"
    [shown] = r.json()["requests"]
    assert (shown["id"], shown["version"], shown["checkpoint_id"]) == (req["id"], 0, None)
    assert ui.get("/v1/approvals/pending", params={"approver": "U0CAROL"}).json()["requests"] == []
    # Where the cards stand, as every view of a request says it (it was null here).
    delivery = stack.api.get(f"/v1/requests/{req['id']}").json()["delivery"]
    assert delivery["state"] in ("pending", "posted") and shown["delivery"] == delivery

    r = decide(ui, req, version=shown["version"], reason="checked the order")
    assert r.status_code == 200, r.text
    assert r.json()["delivery"] == delivery
    assert r.headers["cache-control"] == "no-store"
    assert (r.json()["status"], r.json()["decided_by"]) == ("approved", "U0ALICE")
    [(kind, actor, data)] = [e for e in events(stack, req["id"]) if e[0] == "decided"]
    assert (actor, data["via"]) == ("U0ALICE", "other-agent")
    stack.run_jobs()
    assert "approved" in str(stack.card(req["id"])["blocks"]).lower()
    assert ui.get("/v1/approvals/pending", params={"approver": "U0ALICE"}).json()["requests"] == []


def test_the_same_idempotency_key_gets_the_same_answer_and_never_a_second_decision(stack, ui):
    req = refund(stack, 900)  # big-refunds: quorum 2 of alice and bob
    first = decide(ui, req, key="k-1")
    again = decide(ui, req, key="k-1")
    assert first.status_code == again.status_code == 200
    assert again.headers["idempotent-replayed"] == "true"
    assert first.json()["approvals"] == again.json()["approvals"] == ["U0ALICE"]
    assert [e[0] for e in events(stack, req["id"])].count("vote") == 1
    other = decide(ui, req, key="k-1", by="bob@example.com", version=1)
    assert other.status_code == 409 and other.json()["error"] == "idempotency_conflict"
    assert stack.api.get(f"/v1/requests/{req['id']}").json()["approvals"] == ["U0ALICE"]


def test_concurrent_retries_of_one_key_decide_once(stack, ui):
    req = refund(stack, 340)
    answers = []
    threads = [threading.Thread(target=lambda: answers.append(decide(ui, req, key="same")))
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {a.status_code for a in answers} == {200}
    assert {a.json()["decided_by"] for a in answers} == {"U0ALICE"}
    assert [e[0] for e in events(stack, req["id"])].count("decided") == 1


def test_a_stale_version_is_409_with_the_current_state_and_changes_nothing(stack, ui):
    req = refund(stack, 900)
    assert decide(ui, req, version=0).status_code == 200  # alice's vote: version 1
    r = decide(ui, req, version=0, by="U0BOB")
    assert r.status_code == 409 and r.json()["error"] == "stale"
    assert (r.json()["request"]["version"], r.json()["request"]["approvals"]) == (1, ["U0ALICE"])
    assert r.headers["cache-control"] == "no-store"
    r = decide(ui, req, version=1, by="U0BOB")
    assert r.status_code == 200 and r.json()["status"] == "approved"
    late = decide(ui, req, version=2, by="U0CAROL")
    assert late.status_code == 403  # carol is not an approver: refused before anything else


def test_an_already_decided_request_is_409_with_who_decided(stack, ui):
    req = refund(stack, 340)
    assert decide(ui, req, decision="reject", reason="duplicate order").status_code == 200
    r = decide(ui, req, by="U0BOB", version=0)
    assert r.status_code == 409 and r.json()["error"] == "already_decided"
    assert r.json()["request"]["status"] == "rejected" and "U0ALICE" in r.json()["detail"]


def test_the_same_checks_as_a_click(stack, ui):
    req = refund(stack, 340)
    outsider = decide(ui, req, by="carol@example.com")
    assert outsider.status_code == 403 and outsider.json()["error"] == "not_authorized"
    assert ("refused_click", "U0CAROL") in [(k, a) for k, a, _ in events(stack, req["id"])]
    no_reason = decide(ui, req, decision="reject")
    assert no_reason.status_code == 422 and "reason" in no_reason.json()["fields"]
    not_allowed = decide(ui, req, decision="edit", args={"amount": 1})
    assert not_allowed.status_code == 422
    own = refund(stack, 340, requester="alice@example.com")
    refused = decide(ui, own)
    assert refused.status_code == 403 and "separation of duties" in refused.json()["detail"]
    assert stack.api.get(f"/v1/requests/{req['id']}").json()["status"] == "pending"


def test_who_decides_must_resolve_to_one_person(stack, ui):
    req = refund(stack, 340)
    for by in ("nobody@example.com", "U0NOSUCH", "@finance"):
        r = decide(ui, req, by=by)
        assert r.status_code == 422 and set(r.json()["fields"]) == {"by"}, (by, r.text)
    r = ui.get("/v1/approvals/pending", params={"approver": "ghost@example.com"})
    assert r.status_code == 422 and set(r.json()["fields"]) == {"approver"}
    stack.sandbox.fail_next("users.lookupByEmail", error="internal_error", times=5)
    r = decide(ui, req, by="bob@example.com")
    assert r.status_code == 503 and r.headers["retry-after"]
    assert stack.api.get(f"/v1/requests/{req['id']}").json()["status"] == "pending"


def test_an_approve_carrying_arguments_is_refused_and_changes_nothing(stack, ui):
    req = refund(stack, 340)
    r = decide(ui, req, args={"amount": 5000})
    assert r.status_code == 422 and "args" in r.json()["fields"], r.text
    got = stack.api.get(f"/v1/requests/{req['id']}").json()
    assert (got["status"], got["edited_args"]) == ("pending", None)


def test_the_token_that_asked_cannot_decide_its_own_request(stack, ui):
    r = ui.post("/v1/requests", json={"action": "issue_refund", "summary": "Refund $340",
                                      "args": {"amount": 340}, "requester": "billing-bot"})
    assert r.status_code == 201, r.text
    req = r.json()
    answer = decide(ui, req)
    assert answer.status_code == 403, answer.text
    assert ui.get(f"/v1/requests/{req['id']}").json()["status"] == "pending"
    assert any(kind == "refused_click" for kind, _, _ in events(stack, req["id"]))


@pytest.mark.parametrize("by", ["U0ALICE", "<@U0ALICE>", "ALICE@Example.com", " alice@example.com\u00a0"])
def test_the_requester_cannot_decide_through_the_api_in_any_spelling(stack, ui, by):
    req = refund(stack, 340, requester="<@U0ALICE|alice>")
    r = decide(ui, req, by=by)
    assert r.status_code == 403, r.text
    assert stack.api.get(f"/v1/requests/{req['id']}").json()["status"] == "pending"
