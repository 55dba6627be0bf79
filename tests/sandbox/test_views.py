"""Modals and Home tabs: trigger_id rules, hashes, submissions and the bot's response_action."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from starlette.responses import JSONResponse

from slack_sandbox import SlackSandbox
from tests.sandbox.conftest import FakeClock, Json, Receiver, card, reason_modal


def a_trigger(sandbox: SlackSandbox, receiver: Receiver, client: WebClient) -> str:
    """Click Deny on a fresh card and return the trigger_id Slack sent with the click."""
    ts = client.chat_postMessage(channel="C1", text="Refund?", blocks=card())["ts"]
    assert sandbox.click("U1", "C1", ts, "deny").status_code == 200
    return str(receiver.payloads[-1]["trigger_id"])


def api_error(call: Callable[[], object]) -> str:
    """Run a failing Web API call and return Slack's error code."""
    with pytest.raises(SlackApiError) as caught:
        call()
    return str(caught.value.response["error"])


def open_modal(sandbox: SlackSandbox, receiver: Receiver, client: WebClient) -> str:
    """Open the reason modal for U1 the way a bot does, and return its view id."""
    trigger = a_trigger(sandbox, receiver, client)
    return str(client.views_open(trigger_id=trigger, view=reason_modal())["view"]["id"])


def test_views_open_from_inside_the_click_handler(
    sandbox: SlackSandbox, receiver: Receiver, client: WebClient
) -> None:
    def open_from_listener(payload: Json) -> None:
        client.views_open(trigger_id=payload["trigger_id"], view=reason_modal())

    receiver.answer = open_from_listener
    a_trigger(sandbox, receiver, client)
    [view] = sandbox.views("U1")
    assert (view["type"], view["callback_id"], view["private_metadata"]) == (
        "modal",
        "deny_reason",
        "r1",
    )
    assert view["view"]["title"]["text"] == "Deny request"
    assert view["hash"]


def test_trigger_id_is_single_use(sandbox: SlackSandbox, receiver: Receiver, client: WebClient) -> None:
    trigger = a_trigger(sandbox, receiver, client)
    client.views_open(trigger_id=trigger, view=reason_modal())
    assert api_error(lambda: client.views_open(trigger_id=trigger, view=reason_modal())) == (
        "exchanged_trigger_id"
    )


def test_trigger_id_expires_after_three_seconds(
    sandbox: SlackSandbox, receiver: Receiver, client: WebClient, clock: FakeClock
) -> None:
    trigger = a_trigger(sandbox, receiver, client)
    clock.advance(3.5)
    assert api_error(lambda: client.views_open(trigger_id=trigger, view=reason_modal())) == (
        "expired_trigger_id"
    )
    assert sandbox.views("U1") == []


def test_unknown_trigger_id(client: WebClient) -> None:
    assert api_error(lambda: client.views_open(trigger_id="1.2.3", view=reason_modal())) == (
        "invalid_trigger_id"
    )


def test_modal_limits_are_checked(sandbox: SlackSandbox, receiver: Receiver, client: WebClient) -> None:
    trigger = a_trigger(sandbox, receiver, client)
    with pytest.raises(SlackApiError) as caught:
        client.views_open(trigger_id=trigger, view=reason_modal(title="A title far too long here"))
    assert caught.value.response["error"] == "invalid_arguments"
    assert caught.value.response["errors"] == ["view.title.text: must be at most 24 characters (got 25)"]


def test_views_update_checks_the_hash(sandbox: SlackSandbox, receiver: Receiver, client: WebClient) -> None:
    view_id = open_modal(sandbox, receiver, client)
    old_hash = sandbox.views("U1")[0]["hash"]
    updated = client.views_update(view_id=view_id, hash=old_hash, view=reason_modal(title="Sure?"))
    assert updated["view"]["title"]["text"] == "Sure?"
    stale = api_error(lambda: client.views_update(view_id=view_id, hash=old_hash, view=reason_modal()))
    assert stale == "hash_conflict"
    missing = api_error(lambda: client.views_update(view_id="V404", view=reason_modal()))
    assert missing == "not_found"


def test_views_push_stacks(sandbox: SlackSandbox, receiver: Receiver, client: WebClient) -> None:
    view_id = open_modal(sandbox, receiver, client)
    trigger = a_trigger(sandbox, receiver, client)
    pushed = client.views_push(trigger_id=trigger, view=reason_modal(title="More"))["view"]
    assert pushed["previous_view_id"] == view_id
    assert [v["view"]["title"]["text"] for v in sandbox.views("U1")] == ["Deny request", "More"]


def test_views_publish_home(client: WebClient, sandbox: SlackSandbox) -> None:
    home = {"type": "home", "blocks": card()}
    first = client.views_publish(user_id="U2", view=home)["view"]
    again = client.views_publish(user_id="U2", view=home, hash=first["hash"])["view"]
    assert again["id"] == first["id"]
    [view] = sandbox.views("U2")
    assert view["type"] == "home"
    stale = api_error(lambda: client.views_publish(user_id="U2", view=home, hash=first["hash"]))
    assert stale == "hash_conflict"


def test_submission_errors_then_close(sandbox: SlackSandbox, receiver: Receiver, client: WebClient) -> None:
    view_id = open_modal(sandbox, receiver, client)
    receiver.answer = lambda payload: JSONResponse(
        {"response_action": "errors", "errors": {"reason": "Say a little more"}}
    )
    answer = sandbox.submit_view("U1", view_id, {"reason": {"text": "no"}})
    assert answer.json()["response_action"] == "errors"
    submitted = receiver.payloads[-1]
    assert submitted["type"] == "view_submission"
    assert submitted["view"]["state"]["values"] == {
        "reason": {"text": {"type": "plain_text_input", "value": "no"}}
    }
    assert submitted["view"]["private_metadata"] == "r1"
    assert sandbox.views("U1")[0]["errors"] == {"reason": "Say a little more"}

    receiver.answer = lambda payload: None
    assert sandbox.submit_view("U1", view_id, {"reason": {"text": "fraud risk"}}).content == b""
    assert sandbox.views("U1") == []


def test_required_input_must_be_filled(sandbox: SlackSandbox, receiver: Receiver, client: WebClient) -> None:
    view_id = open_modal(sandbox, receiver, client)
    sent = len(receiver.payloads)
    with pytest.raises(ValueError, match="required"):
        sandbox.submit_view("U1", view_id, {"reason": {"text": ""}})
    assert len(receiver.payloads) == sent


def test_response_action_update_and_clear(
    sandbox: SlackSandbox, receiver: Receiver, client: WebClient
) -> None:
    view_id = open_modal(sandbox, receiver, client)
    receiver.answer = lambda payload: JSONResponse(
        {"response_action": "update", "view": reason_modal(title="Thanks")}
    )
    sandbox.submit_view("U1", view_id, {"reason": {"text": "x"}})
    [view] = sandbox.views("U1")
    assert (view["id"], view["view"]["title"]["text"]) == (view_id, "Thanks")

    receiver.answer = lambda payload: JSONResponse({"response_action": "clear"})
    sandbox.submit_view("U1", view_id, {"reason": {"text": "x"}})
    assert sandbox.views("U1") == []


def test_bad_response_action_is_recorded(
    sandbox: SlackSandbox, receiver: Receiver, client: WebClient
) -> None:
    view_id = open_modal(sandbox, receiver, client)
    receiver.answer = lambda payload: JSONResponse(
        {"response_action": "errors", "errors": {"no_such_block": "x"}}
    )
    sandbox.submit_view("U1", view_id, {"reason": {"text": "x"}})
    [problem] = sandbox.calls("response_action")
    assert "no_such_block" in problem["error"]
    assert sandbox.views("U1")[0]["id"] == view_id
