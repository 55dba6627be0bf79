"""Hardened edges: bodies are bounded before they are read, and bad input is a 4xx, never a 500."""

from __future__ import annotations

import json
import socket
import time
from urllib.parse import urlsplit

import httpx
import pytest
from sqlmodel import select

from bot.storage.tables import ApprovalRequest
from tests.conftest import API_TOKEN, _fresh_pg_database
from tests.test_slack_verification import click_body, sign

BIG = 100 * 1024 * 1024
ON_BOTH = pytest.mark.parametrize(
    "stack_url", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)


@pytest.fixture
def stack_url(request):
    """SQLite unless a test asks for both stores (`ON_BOTH`): NUL and depth differ on PostgreSQL."""
    if getattr(request, "param", "sqlite") == "sqlite":
        return ""
    return _fresh_pg_database(request.getfixturevalue("postgres"))


def raw_exchange(url: str, head: str, chunks: list[bytes] = (), timeout: float = 5.0) -> tuple[int, bytes]:
    """Send a request head (and optional raw chunks) over a socket; the status and body of the answer."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=timeout) as sock:
        sock.sendall(head.encode())
        try:
            for chunk in chunks:
                sock.sendall(chunk)
        except OSError:
            pass  # the server may answer and close before everything is sent
        answer = b""
        while b"\r\n\r\n" not in answer or len(answer.split(b"\r\n\r\n", 1)[1]) < _length(answer):
            got = sock.recv(65536)
            if not got:
                break
            answer += got
    status = int(answer.split(b" ", 2)[1])
    return status, answer.split(b"\r\n\r\n", 1)[1]


def _length(answer: bytes) -> int:
    for line in answer.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return int(line.split(b":", 1)[1])
    return 1 << 30


def head(path: str, *, length: int | None = None, token: str | None = None, chunked: bool = False) -> str:
    lines = [f"POST {path} HTTP/1.1", "Host: test", "Content-Type: application/json"]
    if token:
        lines.append(f"Authorization: Bearer {token}")
    if length is not None:
        lines.append(f"Content-Length: {length}")
    if chunked:
        lines.append("Transfer-Encoding: chunked")
    return "\r\n".join(lines) + "\r\n\r\n"


def stored(stack) -> int:
    with stack.w.db.read() as s:
        return len(s.exec(select(ApprovalRequest)).all())


def test_an_unauthenticated_huge_post_is_refused_before_its_body_is_read(stack):
    # Only the head is sent: the old app waited for 100 MiB that never came, then timed out.
    status, body = raw_exchange(stack.url, head("/v1/requests", length=BIG))
    assert status == 401 and b"unauthorized" in body


def test_a_declared_oversized_body_is_413_before_it_is_read(stack):
    status, body = raw_exchange(stack.url, head("/v1/requests", length=BIG, token=API_TOKEN))
    assert status == 413 and b"body_too_large" in body
    status, _ = raw_exchange(stack.url, head("/slack/events", length=2 * 1024 * 1024))
    assert status == 413


def test_a_chunked_body_is_counted_while_it_streams(stack):
    chunk = b"x" * 65536
    frames = [f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"] * 8  # 512 KiB > the 256 KiB default
    status, body = raw_exchange(stack.url, head("/v1/requests", token=API_TOKEN, chunked=True), frames)
    assert status == 413 and b"body_too_large" in body
    assert stored(stack) == 0


def test_a_body_under_the_cap_still_works(stack):
    req = stack.create(args={"note": "x" * 10_000})
    assert req["args"]["note"] == "x" * 10_000


@pytest.mark.parametrize("ts", ["9" * 5000, "9" * 13, "1" + "0" * 40])
def test_an_enormous_slack_timestamp_is_401_not_500(stack, ts):
    body = click_body("req_x")
    headers = {**sign(body, int(time.time())), "X-Slack-Request-Timestamp": ts}
    assert httpx.post(f"{stack.url}/slack/events", content=body.encode(), headers=headers).status_code == 401


def nested(n: int) -> dict:
    value: dict = {}
    for _ in range(n - 1):
        value = {"a": value}
    return value


def create(stack, **body):
    return stack.api.post("/v1/requests", json={"action": "a", "summary": "s", "approvers": ["U0ALICE"],
                                                **body})


@ON_BOTH
@pytest.mark.parametrize("field", ["args", "context"])
def test_args_nested_too_deep_are_422_and_nothing_is_stored(stack, field):
    r = create(stack, **{field: nested(300)})
    assert r.status_code == 422 and field in r.json()["fields"], r.text
    assert "limit is 32" in r.json()["fields"][field]
    assert create(stack, **{field: nested(32)}).status_code == 201
    assert stored(stack) == 1


def test_an_oversized_field_is_422_naming_its_limit(stack):
    r = create(stack, args={"blob": "x" * 70_000})
    assert r.status_code == 422 and "limit is 65536" in r.json()["fields"]["args"]


def test_a_run_input_nested_too_deep_is_422(stack):
    r = stack.api.post("/v1/runs", json={"graph": "refund", "input": nested(300)})
    assert r.status_code == 422 and "input" in r.json()["fields"]


@ON_BOTH
@pytest.mark.parametrize("body", [
    {"summary": "refund\x00"}, {"action": "a\x00b"}, {"args": {"note": "x\x00"}},
    {"args": {"k\x00": 1}}, {"context": {"deep": [{"x": "\x00"}]}}, {"approvers": ["U0ALICE\x00"]},
    {"requester": "\x00"}, {"idempotency_key": "k\x00"},
])
def test_a_nul_anywhere_in_a_body_is_422_and_nothing_is_stored(stack, body):
    r = create(stack, **body)
    assert r.status_code == 422, r.text
    assert "NUL" in r.text and list(body)[0] in r.json()["fields"]
    assert stored(stack) == 0


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/cb\r\nX-Evil: 1", "http://127.0.0.1:9/c b",
                                 "http://127.0.0.1:9/\tcb", "http://127.0.0.1:9/cb\x7f",
                                 "http://127.0.0.1:9/cb\u2028"])
def test_a_callback_url_with_control_characters_is_422_and_nothing_is_stored(stack, url):
    r = create(stack, callback_url=url)
    assert r.status_code == 422 and "callback_url" in r.json()["fields"], r.text
    assert stored(stack) == 0


def test_a_chunked_body_under_the_cap_is_read_whole(stack):
    body = json.dumps({"action": "a", "summary": "s", "approvers": ["U0ALICE"], "args": {"n": "x" * 70_000}})
    frames = [f"{len(part):x}\r\n".encode() + part + b"\r\n" for part in
              (body[:1000].encode(), body[1000:].encode())] + [b"0\r\n\r\n"]
    status, answer = raw_exchange(stack.url, head("/v1/requests", token=API_TOKEN, chunked=True), frames)
    assert status == 422 and b"limit is 65536" in answer  # read whole and validated: not a 413


@pytest.fixture
def stack_overrides(request):
    """Settings changed by a test that parametrises this fixture indirectly."""
    return getattr(request, "param", {})


@pytest.mark.parametrize("stack_overrides", [{"max_body_bytes": 4096}], indirect=True)
def test_the_agent_api_cap_follows_the_setting(stack):
    r = create(stack, args={"note": "x" * 5000})
    assert r.status_code == 413 and r.json()["error"] == "body_too_large"
