"""The approval loop end to end: API → worker → card in the sandbox → signed click → decision."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

from sqlmodel import select

from blocks import ids
from bot.core.lifecycle import Verdict
from bot.storage.audit_export import verify
from bot.storage.tables import AuditEvent
from tests.conftest import CHANNEL


def buttons(message) -> list[str]:
    return [e["action_id"] for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]]


def kinds(stack, request_id) -> list[str]:
    with stack.w.db.read() as s:
        rows = s.exec(select(AuditEvent).where(AuditEvent.request_id == request_id)
                      .order_by(AuditEvent.seq))
        return [e.kind for e in rows]


def test_a_request_becomes_a_card_and_an_approve_click_decides_it(stack):
    req = stack.create(dm=True)
    assert req["status"] == "pending" and req["eligible_approvers"] == ["U0ALICE", "U0BOB"]
    stack.run_jobs()
    copies = [stack.card(req["id"]), stack.card(req["id"], stack.sandbox.dm_channel("U0ALICE")),
              stack.card(req["id"], stack.sandbox.dm_channel("U0BOB"))]
    assert all(buttons(c)[:2] == [ids.ACTION_APPROVE, ids.ACTION_REJECT] for c in copies)

    r = stack.sandbox.click("U0ALICE", CHANNEL, copies[0]["ts"], ids.ACTION_APPROVE)
    assert r.status_code == 200
    got = stack.api.get(f"/v1/requests/{req['id']}").json()
    assert (got["status"], got["decided_by"]) == ("approved", "U0ALICE")

    stack.run_jobs()
    for c in copies:
        now = stack.sandbox.message(c["channel"], c["ts"])
        assert buttons(now) == [] and "U0ALICE" in json.dumps(now["blocks"]) and now["edited"]
    assert kinds(stack, req["id"]) == ["requested", "posted", "posted", "posted", "decided"]


def test_reject_asks_for_a_reason_in_a_modal(stack):
    req = stack.create()
    stack.run_jobs()
    card = stack.card(req["id"])
    stack.sandbox.click("U0BOB", CHANNEL, card["ts"], ids.ACTION_REJECT)
    [view] = stack.views("U0BOB")
    assert view["callback_id"] == ids.VIEW_REJECT

    empty = stack.sandbox.submit_view("U0BOB", view["id"], {ids.BLOCK_REASON: {ids.ACTION_REASON: "  "}})
    assert empty.json()["response_action"] == "errors"
    assert stack.api.get(f"/v1/requests/{req['id']}").json()["status"] == "pending"

    ok = stack.sandbox.submit_view("U0BOB", view["id"],
                                   {ids.BLOCK_REASON: {ids.ACTION_REASON: "Order already refunded"}})
    assert ok.status_code == 200 and not ok.content
    got = stack.api.get(f"/v1/requests/{req['id']}").json()
    assert (got["status"], got["decided_by"], got["reason"]) == ("rejected", "U0BOB",
                                                                  "Order already refunded")
    stack.run_jobs()
    assert "Order already refunded" in json.dumps(stack.card(req["id"])["blocks"])


def test_a_non_approver_is_refused_told_why_and_audited(stack):
    req = stack.create()
    stack.run_jobs()
    card = stack.card(req["id"])
    for action in (ids.ACTION_APPROVE, ids.ACTION_REJECT):
        stack.sandbox.click("U0DAVE", CHANNEL, card["ts"], action)
    told = stack.ephemerals("U0DAVE", n=2)
    assert len(told) == 2 and all("U0ALICE" in e["text"] for e in told)
    assert stack.sandbox.views("U0DAVE") == []
    assert stack.api.get(f"/v1/requests/{req['id']}").json()["status"] == "pending"
    assert kinds(stack, req["id"]).count("refused_click") == 2


def test_a_late_click_is_told_who_decided_and_when(stack):
    req = stack.create()
    stack.run_jobs()
    ts = stack.card(req["id"])["ts"]
    stack.sandbox.click("U0ALICE", CHANNEL, ts, ids.ACTION_APPROVE)
    stack.sandbox.click("U0BOB", CHANNEL, ts, ids.ACTION_REJECT)  # a stale copy still has buttons
    [told] = stack.ephemerals("U0BOB")
    assert "approved" in told["text"].lower() and "<@U0ALICE>" in told["text"]
    assert "<!date^" in told["text"]
    assert stack.sandbox.views("U0BOB") == []


def test_fifty_concurrent_clicks_make_one_decision_and_everyone_else_is_told(stack):
    approvers = [f"U0AP{n:02d}" for n in range(50)]
    for uid in approvers:
        stack.sandbox.add_user(uid, name=uid.lower(), email=f"{uid.lower()}@example.com")
    req = stack.create(approvers=approvers)
    stack.run_jobs()
    ts = stack.card(req["id"])["ts"]
    # Half approve with a click; half reject through the reason modal they opened beforehand.
    rejecters = approvers[25:]
    for uid in rejecters:
        stack.sandbox.click(uid, CHANNEL, ts, ids.ACTION_REJECT)
    views = {uid: stack.views(uid)[0]["id"] for uid in rejecters}

    def act(uid: str):
        if uid in views:
            return stack.sandbox.submit_view(uid, views[uid],
                                             {ids.BLOCK_REASON: {ids.ACTION_REASON: f"no ({uid})"}})
        return stack.sandbox.click(uid, CHANNEL, ts, ids.ACTION_APPROVE)

    with ThreadPoolExecutor(max_workers=50) as pool:
        answers = dict(zip(approvers, pool.map(act, approvers), strict=True))
    assert all(a.status_code == 200 for a in answers.values())

    got = stack.api.get(f"/v1/requests/{req['id']}").json()
    winner = got["decided_by"]
    assert got["status"] in ("approved", "rejected") and winner in approvers
    assert kinds(stack, req["id"]).count("decided") == 1
    for uid in approvers:
        if uid == winner:
            continue
        if uid in views:  # the modal stays open and says who won
            errors = answers[uid].json()["errors"][ids.BLOCK_REASON]
            assert f"<@{winner}>" in errors, uid
        else:
            [told] = stack.ephemerals(uid)
            assert f"<@{winner}>" in told["text"], uid
    assert verify(stack.w.db).ok


def test_a_decision_before_the_cards_are_posted_still_converges(stack):
    req = stack.create(dm=True)
    stack.w.service.decide(req["id"], actor="U0BOB", verdict=Verdict.APPROVE)
    stack.run_jobs()
    for channel in (CHANNEL, stack.sandbox.dm_channel("U0ALICE"), stack.sandbox.dm_channel("U0BOB")):
        assert buttons(stack.card(req["id"], channel)) == []


def test_slack_rate_limits_are_waited_out(stack):
    stack.sandbox.fail_next("chat.postMessage", error="ratelimited", retry_after=1)
    req = stack.create()
    stack.run_jobs()
    assert stack.card(req["id"])
    posts = stack.sandbox.calls("chat.postMessage")
    assert [c["ok"] for c in posts] == [False, True]


def test_the_same_idempotency_key_never_posts_a_second_card(stack):
    first = stack.api.post("/v1/requests", json={"action": "a", "summary": "s", "approvers": ["U0ALICE"],
                                                 "channel": CHANNEL, "idempotency_key": "run-7"})
    again = stack.api.post("/v1/requests", json={"action": "a", "summary": "s", "approvers": ["U0ALICE"],
                                                 "channel": CHANNEL, "idempotency_key": "run-7"})
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    stack.run_jobs()
    assert len(stack.sandbox.messages(CHANNEL)) == 1
    other = stack.api.post("/v1/requests", json={"action": "b", "summary": "s", "approvers": ["U0ALICE"],
                                                 "idempotency_key": "run-7"})
    assert other.status_code == 409 and other.json()["error"] == "idempotency_conflict"


def test_emails_and_group_handles_resolve_to_slack_users(stack):
    req = stack.create(approvers=["carol@example.com", "@finance", "U0ALICE"])
    assert req["eligible_approvers"] == ["U0CAROL", "U0ALICE", "U0BOB"]
