"""Every transaction takes a request's row before the audit chain's head, so none deadlock."""

from __future__ import annotations

import threading

from sqlalchemy import text

from bot.core.lifecycle import Event
from bot.slack import delivery
from bot.storage import repo
from tests.conftest import on_every_database

stack_url = on_every_database()  # SQLite and PostgreSQL


def test_posting_a_card_while_a_decision_holds_the_request_does_not_deadlock(stack):
    req = stack.create()  # its cards are not posted yet: post_cards runs below, by hand
    db, failures = stack.w.db, []
    holding, appended = threading.Event(), threading.Event()

    def decision() -> None:
        """What a click's transaction does: the request's row first, then the audit head."""
        try:
            with db.write() as s:
                s.execute(text("UPDATE requests SET version = version WHERE id = :id"), {"id": req["id"]})
                holding.set()
                appended.wait(1.5)  # give the card post time to take whatever it takes first
                repo.append_event(s, Event(kind="vote", actor="U0ALICE", request_id=req["id"]),
                                  at=stack.w.service.clock())
        except Exception as e:  # noqa: BLE001 - collected for the assertion below
            failures.append(e)
        finally:
            holding.set()

    clicker = threading.Thread(target=decision)
    clicker.start()
    holding.wait()
    try:
        # On SQLite this waits for the whole click; on PostgreSQL it must wait for the row before
        # it takes the audit head, or the two transactions deadlock and one of them fails.
        poster = threading.Thread(target=lambda: _post(stack, req["id"], failures, appended))
        poster.start()
        poster.join(30)
    finally:
        appended.set()
        clicker.join(30)
    assert failures == []
    assert stack.card(req["id"])


def _post(stack, request_id: str, failures: list, appended: threading.Event) -> None:
    try:
        ctx = stack.context
        delivery.post_cards(ctx.db, ctx.slack, request_id, clock=ctx.clock, policy=ctx.service.policy)
    except Exception as e:  # noqa: BLE001 - collected for the assertion
        failures.append(e)
