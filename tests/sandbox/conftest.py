"""Fixtures: a real sandbox on a free port, a WebClient pointed at it, and a signed-request
receiver standing in for the bot."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import pytest
from slack_sdk import WebClient
from slack_sdk.signature import SignatureVerifier
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from slack_sandbox import SlackSandbox
from slack_sandbox.server import ServedApp

SECRET = "sandbox-tests-signing-secret"
TOKEN = "xoxb-sandbox-tests"

Json = dict[str, Any]
Answer = Callable[[Json], Response | None]


@dataclass
class FakeClock:
    """A hand-moved clock for the sandbox, so trigger expiry needs no sleeping."""

    now: float = field(default_factory=time.time)

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        self.now += seconds


class Receiver:
    """The bot's side of interactivity: verifies Slack's signature with slack_sdk and keeps
    every verified payload; `answer` decides the HTTP reply (default: an empty 200 ack)."""

    def __init__(self, secret: str) -> None:
        self.verifier = SignatureVerifier(secret)
        self.payloads: list[Json] = []
        self.rejected = 0
        self.answer: Answer = lambda payload: None
        self._lock = threading.Lock()
        self._served = ServedApp.serve(
            Starlette(routes=[Route("/slack/events", self._events, methods=["POST"])])
        )
        self.url = f"{self._served.url}/slack/events"

    async def _events(self, request: Request) -> Response:
        raw = await request.body()
        if not self.verifier.is_valid_request(raw, dict(request.headers)):
            with self._lock:
                self.rejected += 1
            return JSONResponse({"error": "invalid request"}, status_code=401)
        payload = json.loads(parse_qs(raw.decode())["payload"][0])
        with self._lock:
            self.payloads.append(payload)
        # Like a sync Bolt app: the listener runs off the event loop and may call Slack back.
        answer = await run_in_threadpool(self.answer, payload)
        return answer if answer is not None else Response(status_code=200)

    def stop(self) -> None:
        """Stop serving."""
        self._served.stop()


@pytest.fixture
def clock() -> FakeClock:
    """The sandbox's clock, starting at the real time."""
    return FakeClock()


@pytest.fixture
def sandbox(clock: FakeClock) -> Iterator[SlackSandbox]:
    """A running sandbox with two users, a group and a channel."""
    sb = SlackSandbox.start(signing_secret=SECRET, bot_token=TOKEN, clock=clock)
    sb.add_user("U1", name="alice", email="alice@example.com", real_name="Alice A", tz="Europe/Paris")
    sb.add_user("U2", name="bob", email="bob@example.com", real_name="Bob B")
    sb.add_usergroup("S1", handle="finance", users=["U1", "U2"])
    sb.add_channel("C1", name="approvals")
    yield sb
    sb.stop()


@pytest.fixture
def client(sandbox: SlackSandbox) -> WebClient:
    """A slack_sdk WebClient talking to the sandbox."""
    return WebClient(token=TOKEN, base_url=sandbox.api_url)


@pytest.fixture
def receiver(sandbox: SlackSandbox) -> Iterator[Receiver]:
    """A signature-checking bot endpoint, registered as the sandbox's events_url."""
    bot = Receiver(SECRET)
    sandbox.events_url = bot.url
    yield bot
    bot.stop()


def card(*, request_id: str = "r1") -> list[Json]:
    """A small approval card with Approve / Deny buttons."""
    return [
        {"type": "header", "text": {"type": "plain_text", "text": "Refund $340"}},
        {
            "type": "section",
            "block_id": "summary",
            "text": {"type": "mrkdwn", "text": "*Refund* for <@U1> & team"},
        },
        {
            "type": "actions",
            "block_id": "decide",
            "elements": [
                {
                    "type": "button",
                    "action_id": "approve",
                    "style": "primary",
                    "value": request_id,
                    "text": {"type": "plain_text", "text": "Approve"},
                },
                {
                    "type": "button",
                    "action_id": "deny",
                    "style": "danger",
                    "value": request_id,
                    "text": {"type": "plain_text", "text": "Deny"},
                },
            ],
        },
    ]


def reason_modal(*, title: str = "Deny request") -> Json:
    """A modal with one required multiline reason field."""
    return {
        "type": "modal",
        "callback_id": "deny_reason",
        "private_metadata": "r1",
        "title": {"type": "plain_text", "text": title},
        "submit": {"type": "plain_text", "text": "Deny"},
        "blocks": [
            {
                "type": "input",
                "block_id": "reason",
                "label": {"type": "plain_text", "text": "Why?"},
                "element": {"type": "plain_text_input", "action_id": "text", "multiline": True},
            },
        ],
    }
