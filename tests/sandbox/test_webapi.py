"""The Web API as slack_sdk sees it: real HTTP, Slack's answers and errors."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from slack_sandbox import SlackSandbox
from tests.sandbox.conftest import TOKEN, card


def error_of(call: Callable[[], object]) -> SlackApiError:
    """Run a Web API call expected to fail and return slack_sdk's error."""
    with pytest.raises(SlackApiError) as caught:
        call()
    return caught.value


def test_auth_test_names_the_bot(client: WebClient, sandbox: SlackSandbox) -> None:
    answer = client.auth_test()
    assert answer["user_id"] == "U0SIGNOFF"
    assert answer["bot_id"] == "B0SIGNOFF"
    assert answer["team_id"] == "T0SANDBOX"
    assert answer["url"] == sandbox.url + "/"


def test_missing_and_wrong_tokens_are_refused(sandbox: SlackSandbox) -> None:
    anonymous = WebClient(base_url=sandbox.api_url)
    assert error_of(anonymous.auth_test).response["error"] == "not_authed"
    wrong = WebClient(token="xoxb-wrong", base_url=sandbox.api_url)
    assert error_of(wrong.auth_test).response["error"] == "invalid_auth"


def test_post_then_update_round_trip(client: WebClient, sandbox: SlackSandbox) -> None:
    posted = client.chat_postMessage(channel="C1", text="Refund $340?", blocks=card())
    assert posted["channel"] == "C1"
    assert posted["message"]["blocks"][1]["block_id"] == "summary"
    client.chat_update(channel="C1", ts=posted["ts"], text="Approved by alice", blocks=[])

    [stored] = sandbox.messages("C1")
    assert stored["ts"] == posted["ts"]
    assert stored["text"] == "Approved by alice"
    assert stored["blocks"] == []
    assert stored["edited"] is True
    assert stored["user"] == "U0SIGNOFF"
    assert stored["thread_ts"] is None


def test_update_keeps_blocks_it_was_not_given(client: WebClient, sandbox: SlackSandbox) -> None:
    ts = client.chat_postMessage(channel="C1", text="t", blocks=card())["ts"]
    client.chat_update(channel="C1", ts=ts, text="new fallback text")
    assert len(sandbox.message("C1", ts)["blocks"]) == 3


def test_ts_values_are_unique_and_increasing(client: WebClient) -> None:
    stamps = [client.chat_postMessage(channel="C1", text=str(i))["ts"] for i in range(20)]
    assert stamps == sorted(stamps, key=float)
    assert len(set(stamps)) == 20
    assert all(len(ts.split(".")[1]) == 6 for ts in stamps)


def test_thread_replies(client: WebClient, sandbox: SlackSandbox) -> None:
    parent = client.chat_postMessage(channel="C1", text="parent")["ts"]
    client.chat_postMessage(channel="C1", text="one", thread_ts=parent)
    reply = client.chat_postMessage(channel="C1", text="two", thread_ts=parent)
    assert reply["message"]["thread_ts"] == parent
    assert [m["text"] for m in sandbox.messages("C1")] == ["parent"]
    assert [m["text"] for m in sandbox.replies("C1", parent)] == ["one", "two"]


def test_posting_to_a_user_id_lands_in_their_dm(client: WebClient, sandbox: SlackSandbox) -> None:
    opened = client.conversations_open(users="U1")["channel"]["id"]
    assert opened.startswith("D")
    assert opened == sandbox.dm_channel("U1")
    posted = client.chat_postMessage(channel="U1", text="You have a request")
    assert posted["channel"] == opened
    assert [m["text"] for m in sandbox.messages(opened)] == ["You have a request"]


def test_ephemeral_round_trip(client: WebClient, sandbox: SlackSandbox) -> None:
    answer = client.chat_postEphemeral(channel="C1", user="U2", text="Only you can see this")
    [eph] = sandbox.ephemerals("U2")
    assert eph["message_ts"] == answer["message_ts"]
    assert (eph["channel"], eph["text"]) == ("C1", "Only you can see this")
    assert sandbox.ephemerals("U1") == []
    assert sandbox.messages("C1") == []
    unknown = error_of(lambda: client.chat_postEphemeral(channel="C1", user="U9", text="x"))
    assert unknown.response["error"] == "user_not_found"


@pytest.mark.filterwarnings("ignore:The top-level `text` argument is missing")
@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"channel": "C404", "text": "x"}, "channel_not_found"),
        ({"channel": "C1"}, "no_text"),
        ({"channel": "C1", "text": "x" * 40_001}, "msg_too_long"),
    ],
)
def test_post_errors(client: WebClient, kwargs: dict[str, Any], error: str) -> None:
    assert error_of(lambda: client.chat_postMessage(**kwargs)).response["error"] == error


def test_update_of_unknown_message(client: WebClient) -> None:
    failed = error_of(lambda: client.chat_update(channel="C1", ts="1.000001", text="x"))
    assert failed.response["error"] == "message_not_found"


def test_update_needs_the_dm_id_not_the_user_id(client: WebClient) -> None:
    # chat.postMessage takes a user id; chat.update does not (Slack's docs say so).
    posted = client.chat_postMessage(channel="U1", text="hi")
    failed = error_of(lambda: client.chat_update(channel="U1", ts=posted["ts"], text="x"))
    assert failed.response["error"] == "channel_not_found"
    assert client.chat_update(channel=posted["channel"], ts=posted["ts"], text="x")["ok"]


def test_fifty_one_blocks_are_invalid(client: WebClient, sandbox: SlackSandbox) -> None:
    blocks = [{"type": "divider"}] * 51
    failed = error_of(lambda: client.chat_postMessage(channel="C1", text="x", blocks=blocks))
    assert failed.response["error"] == "invalid_blocks"
    assert failed.response["errors"] == ["blocks: must have at most 50 items (got 51)"]
    assert sandbox.messages("C1") == []


def test_long_section_is_invalid_on_post_and_update(client: WebClient) -> None:
    long = [{"type": "section", "text": {"type": "mrkdwn", "text": "a" * 3001}}]
    failed = error_of(lambda: client.chat_postMessage(channel="C1", text="x", blocks=long))
    assert failed.response["errors"] == ["blocks[0].text.text: must be at most 3000 characters (got 3001)"]
    ts = client.chat_postMessage(channel="C1", text="ok")["ts"]
    failed = error_of(lambda: client.chat_update(channel="C1", ts=ts, text="x", blocks=long))
    assert failed.response["error"] == "invalid_blocks"


def test_form_encoded_calls_with_json_string_fields(sandbox: SlackSandbox) -> None:
    answer = httpx.post(
        sandbox.api_url + "chat.postMessage",
        data={"token": TOKEN, "channel": "C1", "text": "hi", "blocks": json.dumps(card())},
    ).json()
    assert answer["ok"] is True
    assert sandbox.message("C1", answer["ts"])["blocks"][2]["elements"][0]["action_id"] == "approve"


def test_directory_lookups(client: WebClient) -> None:
    alice = client.users_info(user="U1")["user"]
    assert alice["profile"]["email"] == "alice@example.com"
    assert (alice["name"], alice["real_name"], alice["tz"]) == ("alice", "Alice A", "Europe/Paris")
    assert client.users_lookupByEmail(email="BOB@example.com")["user"]["id"] == "U2"
    [group] = client.usergroups_list()["usergroups"]
    assert (group["id"], group["handle"]) == ("S1", "finance")
    assert client.usergroups_users_list(usergroup="S1")["users"] == ["U1", "U2"]

    assert error_of(lambda: client.users_info(user="U9")).response["error"] == "user_not_found"
    missing = error_of(lambda: client.users_lookupByEmail(email="nobody@example.com"))
    assert missing.response["error"] == "users_not_found"
    no_group = error_of(lambda: client.usergroups_users_list(usergroup="S9"))
    assert no_group.response["error"] == "no_such_subteam"


def test_permalink_points_into_the_sandbox(client: WebClient, sandbox: SlackSandbox) -> None:
    ts = client.chat_postMessage(channel="C1", text="x")["ts"]
    link = client.chat_getPermalink(channel="C1", message_ts=ts)["permalink"]
    assert link == f"{sandbox.url}/archives/C1/p{ts.replace('.', '')}"


def test_unknown_method(client: WebClient) -> None:
    assert error_of(lambda: client.api_call("emoji.list")).response["error"] == "unknown_method"


def test_every_call_is_logged(client: WebClient, sandbox: SlackSandbox) -> None:
    client.chat_postMessage(channel="C1", text="x")
    error_of(lambda: client.chat_postMessage(channel="C404", text="x"))
    calls = sandbox.calls("chat.postMessage")
    assert [(c["ok"], c["error"]) for c in calls] == [(True, None), (False, "channel_not_found")]
    assert calls[0]["args"]["channel"] == "C1"
    assert "token" not in calls[0]["args"]


def test_ratelimited_answers_429_with_retry_after(sandbox: SlackSandbox) -> None:
    sandbox.fail_next("chat.postMessage", retry_after=7)
    answer = httpx.post(
        sandbox.api_url + "chat.postMessage",
        headers={"Authorization": f"Bearer {TOKEN}"},
        json={"channel": "C1", "text": "x"},
    )
    assert answer.status_code == 429
    assert answer.headers["Retry-After"] == "7"
    assert answer.json() == {"ok": False, "error": "ratelimited"}


def test_slack_sdk_retries_a_rate_limited_call(sandbox: SlackSandbox) -> None:
    client = WebClient(token=TOKEN, base_url=sandbox.api_url)
    client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=2))
    sandbox.fail_next("chat.postMessage", retry_after=0, times=2)
    assert client.chat_postMessage(channel="C1", text="finally")["ok"] is True
    outcomes = [c["error"] for c in sandbox.calls("chat.postMessage")]
    assert outcomes == ["ratelimited", "ratelimited", None]
    assert [m["text"] for m in sandbox.messages("C1")] == ["finally"]


def test_other_injected_errors_answer_200(client: WebClient, sandbox: SlackSandbox) -> None:
    # Through the control endpoint, as a driver in another process would do it.
    httpx.post(f"{sandbox.url}/_sandbox/fail_next", json={"method": "users.info", "error": "fatal_error"})
    failed = error_of(lambda: client.users_info(user="U1"))
    assert failed.response.status_code == 200
    assert failed.response["error"] == "fatal_error"
    assert client.users_info(user="U1")["ok"] is True


def test_reset_keeps_the_directory(client: WebClient, sandbox: SlackSandbox) -> None:
    client.chat_postMessage(channel="C1", text="x")
    sandbox.fail_next("auth.test", error="fatal_error")
    sandbox.reset()
    assert sandbox.messages("C1") == []
    assert sandbox.calls() == []
    assert client.auth_test()["ok"] is True
    assert client.users_info(user="U1")["user"]["name"] == "alice"
