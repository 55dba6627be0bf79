"""Signed callbacks: at least once, same delivery id, backoff, no retry on a receiver's 4xx."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlmodel import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.core import callbacks as rules
from bot.core.lifecycle import Verdict
from bot.embedded_redis import free_port
from bot.storage.tables import AuditEvent, CallbackDelivery
from signoff_client import CallbackVerificationError, verify_callback
from tests.conftest import API_TOKEN, OTHER_TOKEN
from tests.servers import serve


class Receiver:
    """An agent's callback endpoint (the outside boundary): answers from a script, records hits."""

    def __init__(self, answers: list[int]) -> None:
        self.answers = answers
        self.hits: list[tuple[dict[str, str], bytes]] = []
        self.lock = threading.Lock()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hook"

    async def hook(self, request: Request) -> Response:
        body = await request.body()
        with self.lock:
            self.hits.append((dict(request.headers), body))
            status = self.answers.pop(0) if self.answers else 200
        return Response(status_code=status)

    @contextmanager
    def up(self) -> Iterator[None]:
        with serve(Starlette(routes=[Route("/hook", self.hook, methods=["POST"])]), port=self.port):
            yield


def delivery(stack, request_id) -> CallbackDelivery:
    with stack.w.db.read() as s:
        return s.exec(select(CallbackDelivery).where(CallbackDelivery.request_id == request_id)).one()


def audit(stack, request_id, kind):
    with stack.w.db.read() as s:
        rows = s.exec(select(AuditEvent).where(AuditEvent.request_id == request_id,
                                               AuditEvent.kind == kind).order_by(AuditEvent.seq))
        return [e.data for e in rows]


def verify(headers: dict[str, str], body: bytes) -> bool:
    return verify_callback(headers, body, API_TOKEN) == json.loads(body)  # raises if forged


def failure_line(stack, request_id) -> str | None:
    """The card's line about what failed after the decision, if it has one."""
    blocks = stack.card(request_id)["blocks"]
    return next((b["text"]["text"] for b in blocks if b["block_id"] == "signoff_failure"), None)


def test_a_receiver_down_then_failing_then_ok_gets_the_decision_once_signed(stack):
    receiver = Receiver(answers=[500])
    req = stack.create(callback_url=receiver.url)
    stack.w.service.decide(req["id"], actor="U0ALICE", verdict=Verdict.APPROVE)
    stack.run_jobs()  # attempt 1: nothing listens on the port
    assert delivery(stack, req["id"]).attempts == 1
    line = failure_line(stack, req["id"])  # the card says the agent was not told yet
    assert line is not None and "callback could not be delivered" in line and "retries" in line
    with receiver.up():
        waits = [stack.run_scheduled(), stack.run_scheduled()]  # attempt 2 → 500, attempt 3 → 200
    d = delivery(stack, req["id"])
    assert (d.state, d.attempts) == ("delivered", 3)
    assert waits == [1, 1]  # each retry was a scheduled job, not an immediate one

    assert len(receiver.hits) == 2
    ids = {h["x-signoff-delivery"] for h, _ in receiver.hits}
    bodies = [json.loads(b) for _, b in receiver.hits]
    assert ids == {d.id} and all(b["delivery_id"] == d.id for b in bodies)
    assert all(verify(h, b) for h, b in receiver.hits)
    headers, body = receiver.hits[-1]
    for forged in ({"secret": OTHER_TOKEN}, {"now": time.time() + 301}, {"body": body + b" "}):
        try:
            verify_callback(headers, forged.get("body", body), forged.get("secret", API_TOKEN),
                            now=forged.get("now"))
        except CallbackVerificationError:
            continue
        raise AssertionError(f"a forged or replayed callback verified: {forged}")
    assert bodies[-1] | {"decided_at": None} == {
        "delivery_id": d.id, "request_id": req["id"], "status": "approved", "decision": "approve",
        "decided_by": "U0ALICE", "reason": None, "args": req["args"], "edited_args": None,
        "decided_at": None}
    failed = audit(stack, req["id"], "callback_failed")
    assert [f["attempt"] for f in failed] == [1, 2] and not any(f["final"] for f in failed)
    backoff = [f["retry_in_s"] for f in failed]  # exponential with jitter: 1–2 s, then 2–4 s
    assert 1 <= backoff[0] <= 2 and 2 <= backoff[1] <= 4
    assert [e["attempt"] for e in audit(stack, req["id"], "callback_delivered")] == [3]
    assert stack.run_scheduled() == 0  # nothing more is scheduled
    stack.run_jobs()
    assert failure_line(stack, req["id"]) is None  # delivered in the end: the card says nothing


def test_a_receiver_answering_410_is_not_retried(stack):
    receiver = Receiver(answers=[410])
    req = stack.create(callback_url=receiver.url)
    with receiver.up():
        stack.w.service.decide(req["id"], actor="U0BOB", verdict=Verdict.REJECT, reason="no")
        stack.run_jobs()
        assert stack.run_scheduled() == 0
    d = delivery(stack, req["id"])
    assert (d.state, d.attempts, len(receiver.hits)) == ("gave_up", 1, 1)
    [failed] = audit(stack, req["id"], "callback_failed")
    assert failed["final"] and failed["status_code"] == 410
    line = failure_line(stack, req["id"])
    assert line is not None and line.startswith("⚠️ *Rejected, but the agent's callback") and "gave up" in line


def test_429_and_408_are_retried(stack):
    receiver = Receiver(answers=[429, 408])
    req = stack.create(callback_url=receiver.url)
    with receiver.up():
        stack.w.service.decide(req["id"], actor="U0BOB", verdict=Verdict.APPROVE)
        stack.run_jobs()
        stack.run_scheduled()
        stack.run_scheduled()
    assert delivery(stack, req["id"]).state == "delivered" and len(receiver.hits) == 3


def test_backoff_grows_with_jitter_and_stops_after_a_day():
    import random
    from datetime import UTC, datetime, timedelta

    rng = random.Random(7)
    delays = [rules.next_delay(n, rng=rng) for n in range(1, 14)]
    assert all(rules.FIRST_DELAY * 2 ** (n - 1) / 2 <= d <= rules.FIRST_DELAY * 2 ** (n - 1)
               for n, d in enumerate(delays[:10], start=1))
    assert max(delays) <= rules.MAX_DELAY
    start = datetime(2026, 1, 1, tzinfo=UTC)
    assert not rules.gives_up(created_at=start, now=start + timedelta(hours=23), delay=60)
    assert rules.gives_up(created_at=start, now=start + timedelta(hours=23, minutes=59), delay=120)


def test_callback_urls_must_be_http_and_public_unless_allowed(stack):
    from bot.callbacks import check_callback_url
    from bot.errors import InvalidInput

    for url in ("ftp://example.com/x", "file:///etc/passwd", "not a url", "http://"):
        r = stack.api.post("/v1/requests", json={"action": "a", "summary": "s", "approvers": ["U0ALICE"],
                                                 "callback_url": url})
        assert r.status_code == 422 and "callback_url" in r.json()["fields"], url
    for url in ("http://127.0.0.1:9/x", "http://10.1.2.3/x", "http://[::1]/x", "http://169.254.169.254/"):
        try:
            check_callback_url(url, allow_private=False)
        except InvalidInput as e:
            assert "non-public" in e.fields["callback_url"]
        else:
            raise AssertionError(f"{url} was allowed")


def test_cancel_sends_the_callback_too(stack):
    receiver = Receiver(answers=[])
    req = stack.create(callback_url=receiver.url)
    with receiver.up():
        r = stack.api.post(f"/v1/requests/{req['id']}/cancel", json={"reason": "customer withdrew"})
        assert r.status_code == 200
        stack.run_jobs()
        deadline = time.monotonic() + 5
        while not receiver.hits and time.monotonic() < deadline:
            time.sleep(0.01)
    body = json.loads(receiver.hits[0][1])
    assert (body["status"], body["decision"], body["reason"]) == ("cancelled", None, "customer withdrew")
    assert body["decided_by"] == "agent:test-agent"
