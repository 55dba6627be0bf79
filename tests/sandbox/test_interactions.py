"""Signed deliveries to the bot: block_actions, response_url, forged requests, concurrency."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from slack_sdk import WebClient

from slack_sandbox import SlackSandbox
from slack_sandbox.interactions import sign
from tests.sandbox.conftest import Receiver, card

# Slack's published example from "Verifying requests from Slack".
SLACK_EXAMPLE_BODY = (
    "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&"
    "channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&"
    "command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands"
    "%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121"
    ".803a0bc887a14d10d2c447fce8b6703c"
)


def post_card(client: WebClient, channel: str = "C1") -> str:
    """Post the approval card and return its ts."""
    return str(client.chat_postMessage(channel=channel, text="Refund $340?", blocks=card())["ts"])


def test_signature_matches_slacks_published_example() -> None:
    assert sign("8f742231b10e8888abcd99yyyzzz85a5", 1531420618, SLACK_EXAMPLE_BODY) == (
        "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
    )


def test_click_sends_a_signed_block_actions(
    sandbox: SlackSandbox, receiver: Receiver, client: WebClient
) -> None:
    ts = post_card(client)
    answer = sandbox.click("U1", "C1", ts, "approve")
    assert answer.status_code == 200
    assert receiver.rejected == 0
    [payload] = receiver.payloads
    assert payload["type"] == "block_actions"
    assert payload["user"] == {"id": "U1", "username": "alice", "name": "alice", "team_id": "T0SANDBOX"}
    assert payload["container"] == {
        "type": "message",
        "message_ts": ts,
        "channel_id": "C1",
        "is_ephemeral": False,
    }
    assert payload["channel"] == {"id": "C1", "name": "approvals"}
    assert payload["team"]["id"] == "T0SANDBOX"
    assert payload["message"]["ts"] == ts
    assert payload["message"]["blocks"] == sandbox.message("C1", ts)["blocks"]
    assert payload["response_url"].startswith(sandbox.url + "/_sandbox/response/")
    assert payload["trigger_id"]
    [action] = payload["actions"]
    assert {k: action[k] for k in ("action_id", "block_id", "value", "style", "type")} == {
        "action_id": "approve",
        "block_id": "decide",
        "value": "r1",
        "style": "primary",
        "type": "button",
    }
    assert action["text"]["text"] == "Approve"


def test_click_can_override_the_value_and_refuses_missing_buttons(
    sandbox: SlackSandbox, receiver: Receiver, client: WebClient
) -> None:
    ts = post_card(client)
    sandbox.click("U2", "C1", ts, "deny", value="forged-id")
    assert receiver.payloads[-1]["actions"][0]["value"] == "forged-id"
    with pytest.raises(KeyError):
        sandbox.click("U2", "C1", ts, "no_such_button")
    with pytest.raises(KeyError):
        sandbox.click("U2", "C1", "1.000001", "approve")
    assert len(receiver.payloads) == 1


def test_clicks_in_a_dm_and_in_an_ephemeral(
    sandbox: SlackSandbox, receiver: Receiver, client: WebClient
) -> None:
    dm_ts = post_card(client, channel="U2")
    sandbox.click("U2", sandbox.dm_channel("U2"), dm_ts, "approve")
    assert receiver.payloads[-1]["channel"]["name"] == "directmessage"

    eph_ts = client.chat_postEphemeral(channel="C1", user="U2", text="t", blocks=card())
    sandbox.click("U2", "C1", eph_ts["message_ts"], "deny")
    payload = receiver.payloads[-1]
    assert payload["container"]["is_ephemeral"] is True
    assert "message" not in payload


@pytest.mark.parametrize(
    "forgery",
    [
        {"secret": "not-the-signing-secret"},
        {"timestamp": int(time.time()) - 600},
        {"body": "payload=%7B%22type%22%3A%22block_actions%22%2C%22forged%22%3Atrue%7D"},
    ],
    ids=["wrong-secret", "stale", "tampered"],
)
def test_forged_deliveries_fail_verification(
    sandbox: SlackSandbox, receiver: Receiver, forgery: dict[str, Any]
) -> None:
    answer = sandbox.deliver({"type": "block_actions", "actions": []}, **forgery)
    assert answer.status_code == 401
    assert receiver.rejected == 1
    assert receiver.payloads == []


def test_a_hand_made_delivery_is_signed_properly(sandbox: SlackSandbox, receiver: Receiver) -> None:
    assert sandbox.deliver({"type": "block_actions", "actions": []}).status_code == 200
    assert receiver.payloads == [{"type": "block_actions", "actions": []}]


def test_fifty_concurrent_clicks(sandbox: SlackSandbox, receiver: Receiver, client: WebClient) -> None:
    stamps = [post_card(client) for _ in range(10)]

    def update_from_listener(payload: dict[str, object]) -> None:
        # Each click calls Slack back while the sandbox is busy delivering the others.
        message = payload["message"]
        assert isinstance(message, dict)
        client.chat_update(channel="C1", ts=message["ts"], text="seen", blocks=card())

    receiver.answer = update_from_listener
    clicks = [(f"U{1 + i % 2}", stamps[i % 10], ("approve", "deny")[i % 2]) for i in range(50)]
    with ThreadPoolExecutor(max_workers=50) as pool:
        answers = list(pool.map(lambda c: sandbox.click(c[0], "C1", c[1], c[2]), clicks))
    assert [a.status_code for a in answers] == [200] * 50
    assert len(receiver.payloads) == 50
    assert len({p["trigger_id"] for p in receiver.payloads}) == 50
    assert len(sandbox.calls("chat.update")) == 50
    assert all(m["edited"] for m in sandbox.messages("C1"))


def test_response_url_replaces_posts_and_runs_out(
    sandbox: SlackSandbox, receiver: Receiver, client: WebClient
) -> None:
    ts = post_card(client)
    sandbox.click("U1", "C1", ts, "approve")
    url = receiver.payloads[-1]["response_url"]

    assert httpx.post(url, json={"text": "Approved by alice", "replace_original": True}).is_success
    message = sandbox.message("C1", ts)
    assert (message["text"], message["blocks"], message["edited"]) == ("Approved by alice", [], True)

    httpx.post(url, json={"text": "Only for you"})
    assert [e["text"] for e in sandbox.ephemerals("U1")] == ["Only for you"]
    httpx.post(url, json={"text": "For everyone", "response_type": "in_channel"})
    assert [m["text"] for m in sandbox.messages("C1")] == ["Approved by alice", "For everyone"]
    httpx.post(url, json={"delete_original": True})
    assert [m["text"] for m in sandbox.messages("C1")] == ["For everyone"]
    assert httpx.post(url, json={"text": "fifth"}).is_success
    sixth = httpx.post(url, json={"text": "sixth"})
    assert (sixth.status_code, sixth.json()["error"]) == (404, "used_url")


def test_home_tab_button(sandbox: SlackSandbox, receiver: Receiver, client: WebClient) -> None:
    view = client.views_publish(user_id="U1", view={"type": "home", "blocks": card()})["view"]
    sandbox.click_view("U1", view["id"], "approve")
    payload = receiver.payloads[-1]
    assert payload["container"] == {"type": "view", "view_id": view["id"]}
    assert payload["view"]["type"] == "home"
    assert payload["actions"][0]["value"] == "r1"


def test_no_events_url_is_a_clear_error(sandbox: SlackSandbox, client: WebClient) -> None:
    ts = post_card(client)
    with pytest.raises(RuntimeError, match="events_url"):
        sandbox.click("U1", "C1", ts, "approve")
