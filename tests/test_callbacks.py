"""Signed callbacks: at least once, same delivery id, backoff, no retry on a receiver's 4xx; signed with
the agent's callback secret, sent only to the address that passed the SSRF check."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace

import httpcore
import httpx
import pytest
from sqlmodel import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.core import webhooks as rules
from bot.core.lifecycle import Verdict
from bot.embedded_redis import free_port
from bot.errors import InvalidSettings
from bot.settings import parse_callback_secrets
from bot.storage.tables import AuditEvent, CallbackDelivery
from bot.webhooks.transport import Outbound
from signoff_client import CallbackVerificationError, verify_callback
from tests.conftest import API_TOKEN, CALLBACK_SECRET, OTHER_TOKEN
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
    return verify_callback(headers, body, CALLBACK_SECRET) == json.loads(body)  # raises if forged


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
    # The API token no longer signs: a receiver holding it could call the API as the agent.
    for forged in ({"secret": API_TOKEN}, {"secret": OTHER_TOKEN}, {"now": time.time() + 301},
                   {"body": body + b" "}):
        try:
            verify_callback(headers, forged.get("body", body), forged.get("secret", CALLBACK_SECRET),
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
    from bot.errors import InvalidInput
    from bot.webhooks.sender import check_callback_url

    for url in ("ftp://example.com/x", "file:///etc/passwd", "not a url", "http://"):
        r = stack.api.post("/v1/requests", json={"action": "a", "summary": "s", "approvers": ["U0ALICE"],
                                                 "callback_url": url})
        assert r.status_code == 422 and "callback_url" in r.json()["fields"], url
    embedding = ("http://[::ffff:127.0.0.1]/", "http://[64:ff9b::a00:1]/", "http://[64:ff9b:1::a9fe:a9fe]/",
                 "http://[2002:a00:1::1]/", "http://[::10.0.0.1]/",
                 "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/")  # mapped, NAT64, 6to4, compatible, Teredo
    for url in ("http://127.0.0.1:9/x", "http://10.1.2.3/x", "http://[::1]/x", "http://169.254.169.254/",
                *embedding):
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


# --- DNS rebinding: the address checked is the address connected to ---------------------------------

PUBLIC = "93.184.216.34"  # a global address; the recording network below never really dials it


class Network(httpcore.NetworkBackend):
    """The network at the outside boundary: records where each TCP connection would go, opens none."""

    def __init__(self) -> None:
        self.dialled: list[str] = []

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None,
                    socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None) -> httpcore.NetworkStream:
        self.dialled.append(host)
        raise httpcore.ConnectError(f"no route to {host} in this test")


def resolver(*answers: list[str]):
    """A resolver answering `answers` one call after another (the last one from then on); counts calls."""
    calls: list[str] = []

    def resolve(host: str) -> list[str]:
        calls.append(host)
        return answers[min(len(calls), len(answers)) - 1]
    resolve.calls = calls  # type: ignore[attr-defined]
    return resolve


def deliver_with(stack, *, resolve, network=None, allow_private: bool) -> None:
    outbound = Outbound(timeout=2, resolve=resolve, **({"network": network} if network else {}))
    stack.context = replace(stack.context, outbound=outbound, allow_private_callbacks=allow_private)
    stack.run_jobs()


def test_a_name_rebinding_to_loopback_after_the_check_is_never_dialled(stack):
    receiver = Receiver(answers=[])
    req = stack.create(callback_url=f"http://agent.test:{receiver.port}/hook")
    resolve, network = resolver([PUBLIC], ["127.0.0.1"]), Network()
    with receiver.up():
        stack.w.service.decide(req["id"], actor="U0ALICE", verdict=Verdict.APPROVE)
        deliver_with(stack, resolve=resolve, network=network, allow_private=False)
    assert network.dialled == [PUBLIC]  # the checked answer, not a second lookup's
    assert resolve.calls == ["agent.test"] and receiver.hits == []
    assert delivery(stack, req["id"]).state == "pending"  # a connect error is retried


def test_a_name_with_a_private_address_among_public_ones_is_refused_before_any_connection(stack):
    receiver = Receiver(answers=[])
    req = stack.create(callback_url=f"http://agent.test:{receiver.port}/hook")
    network = Network()
    with receiver.up():
        stack.w.service.decide(req["id"], actor="U0ALICE", verdict=Verdict.APPROVE)
        deliver_with(stack, resolve=resolver([PUBLIC, "127.0.0.1"]), network=network, allow_private=False)
    assert network.dialled == [] and receiver.hits == []
    d = delivery(stack, req["id"])
    assert d.state == "gave_up" and "127.0.0.1, a non-public address" in (d.last_error or "")


def test_a_delivery_connects_to_the_pinned_address_and_keeps_the_name(stack):
    receiver = Receiver(answers=[])
    req = stack.create(callback_url=f"http://agent.test:{receiver.port}/hook")
    with receiver.up():
        stack.w.service.decide(req["id"], actor="U0ALICE", verdict=Verdict.APPROVE)
        # No resolver on this machine knows agent.test: only the pin can have reached the receiver.
        deliver_with(stack, resolve=resolver(["127.0.0.1"]), allow_private=True)
    [(headers, body)] = receiver.hits
    assert headers["host"] == f"agent.test:{receiver.port}"
    assert verify(headers, body) and delivery(stack, req["id"]).state == "delivered"


@contextmanager
def tls_receiver(tmp_path, name: str) -> Iterator[tuple[int, list[tuple[str | None, str | None]]]]:
    """An HTTPS endpoint on 127.0.0.1 with a certificate for `name`; records (SNI, Host) per request."""
    import shutil
    import ssl
    import subprocess
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-keyout", str(key), "-out", str(cert), "-subj", f"/CN={name}",
                    "-addext", f"subjectAltName=DNS:{name}"], check=True, capture_output=True)
    seen: list[tuple[str | None, str | None]] = []
    sni: list[str | None] = []
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    context.sni_callback = lambda sock, server_name, ctx: sni.append(server_name)  # type: ignore[assignment]

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the name http.server calls
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            seen.append((sni[-1] if sni else None, self.headers.get("Host")))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], seen
    finally:
        server.shutdown()
        server.server_close()


def test_tls_to_the_pinned_address_keeps_sni_and_the_certificate_check_on_the_name(tmp_path):
    import ssl

    from bot.webhooks.sender import pin_address

    with tls_receiver(tmp_path, "agent.test") as (port, seen):
        outbound = Outbound(timeout=5, resolve=resolver(["127.0.0.1"]),
                            tls=ssl.create_default_context(cafile=str(tmp_path / "cert.pem")))
        ip = pin_address("agent.test", allow_private=True, resolve=outbound.resolve)
        with outbound.client(ip) as http:
            assert http.post(f"https://agent.test:{port}/hook", content=b"{}").status_code == 200
        assert seen == [("agent.test", f"agent.test:{port}")]
        # Same address, a name the certificate does not cover: refused, so verification is by name.
        with outbound.client(ip) as http, pytest.raises(httpx.ConnectError, match="certificate"):
            http.post(f"https://other.test:{port}/hook", content=b"{}")
        assert len(seen) == 1


def test_an_agent_without_a_callback_secret_cannot_ask_for_callbacks(stack):
    with httpx.Client(base_url=stack.url, headers={"Authorization": f"Bearer {OTHER_TOKEN}"}) as other:
        r = other.post("/v1/requests", json={"action": "a", "summary": "s", "approvers": ["U0ALICE"],
                                             "callback_url": "http://127.0.0.1:9/hook"})
        assert r.status_code == 422, r.text
        assert "SIGNOFF_CALLBACK_SECRETS" in r.json()["fields"]["callback_url"]
        assert other.post("/v1/requests", json={"action": "a", "summary": "s",
                                                "approvers": ["U0ALICE"]}).status_code in (200, 201)


def test_a_callback_whose_secret_was_removed_is_not_sent(stack):
    receiver = Receiver(answers=[])
    req = stack.create(callback_url=receiver.url)
    stack.context = replace(stack.context, callback_secrets={})
    with receiver.up():
        stack.w.service.decide(req["id"], actor="U0ALICE", verdict=Verdict.APPROVE)
        stack.run_jobs()
    d = delivery(stack, req["id"])
    assert receiver.hits == [] and d.state == "gave_up" and "SIGNOFF_CALLBACK_SECRETS" in (d.last_error or "")


# --- the one wire format, pinned by a round trip ------------------------------------------------------

def test_what_the_server_signs_the_client_verifies_with_any_current_secret():
    old, new = "old-callback-secret-0123456789abcdef", "new-callback-secret-0123456789abcdef"
    body, ts = json.dumps({"delivery_id": "dlv_1", "status": "approved"}).encode(), 1_760_000_000
    for secrets in ((old,), (old, new)):
        headers = {rules.TIMESTAMP_HEADER: str(ts),
                   rules.SIGNATURE_HEADER: rules.signature_header(secrets, ts, body)}
        for secret in secrets:
            assert verify_callback(headers, body, secret, now=ts) == json.loads(body)
    with pytest.raises(CallbackVerificationError):
        verify_callback({rules.TIMESTAMP_HEADER: str(ts),
                         rules.SIGNATURE_HEADER: rules.signature_header((old,), ts, body)}, body, new, now=ts)


# --- SIGNOFF_CALLBACK_SECRETS ---------------------------------------------------------------------------

TOKENS = {API_TOKEN: "test-agent", OTHER_TOKEN: "other-agent"}
A, B = "a" * 16 + "-callback-secret-1", "b" * 16 + "-callback-secret-2"


def test_callback_secrets_parse_with_rotation():
    raw = f"test-agent:{A}, test-agent:{B},other-agent:{'c' * 40}"
    assert parse_callback_secrets(raw, api_tokens=TOKENS) == {"test-agent": (A, B),
                                                              "other-agent": ("c" * 40,)}
    assert parse_callback_secrets("", api_tokens=TOKENS) == {}


@pytest.mark.parametrize(("raw", "says"), [
    (f"ghost:{A}", "no token in SIGNOFF_API_TOKENS"),
    ("test-agent:short-secret", "shorter than 32"),
    ("test-agent:changeme-changeme-changeme-changeme", "placeholder"),
    (f"test-agent:{OTHER_TOKEN}", "also an API token"),
    (f"test-agent:{A},other-agent:{A}", "agents 'test-agent' and 'other-agent' the same secret"),
    (f"test-agent:{A},test-agent:{A}", "the same secret twice"),
    (A, "agent:secret"),
])
def test_bad_callback_secrets_are_refused_naming_the_variable(raw, says):
    with pytest.raises(InvalidSettings) as caught:
        parse_callback_secrets(raw, api_tokens=TOKENS)
    message = str(caught.value)
    assert message.startswith("SIGNOFF_CALLBACK_SECRETS") and says in message and "\n" not in message
    assert A not in message and OTHER_TOKEN not in message  # secrets never reach logs


def test_the_server_does_not_import_the_client():
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    importers = []
    for path in [*root.glob("bot/**/*.py"), *root.glob("workers/**/*.py"), *root.glob("blocks/**/*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            if any(n.split(".")[0] == "signoff_client" for n in names):
                importers.append(str(path.relative_to(root)))
    assert importers == [], "the server must install without the client"


def test_a_bad_callback_secret_stops_the_start():
    from bot.settings import load_settings

    env = {"SIGNOFF_API_TOKENS": f"test-agent:{API_TOKEN}",
           "SIGNOFF_CALLBACK_SECRETS": f"test-agent:{API_TOKEN}"}
    with pytest.raises(InvalidSettings, match="^SIGNOFF_CALLBACK_SECRETS: a secret for 'test-agent' is also"):
        load_settings(env, env_file=None, dev=True)
    env["SIGNOFF_CALLBACK_SECRETS"] = f"test-agent:{A}"
    assert load_settings(env, env_file=None, dev=True).callback_secrets == {"test-agent": (A,)}
