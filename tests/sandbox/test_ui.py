"""The HTML page a developer uses without a workspace, and the JSON control endpoints."""

from __future__ import annotations

import httpx
from slack_sdk import WebClient
from starlette.responses import JSONResponse

from slack_sandbox import SlackSandbox
from tests.sandbox.conftest import Json, Receiver, card, reason_modal


def page(sandbox: SlackSandbox, user: str = "U1") -> str:
    """The rendered page, acting as `user`."""
    answer = httpx.get(f"{sandbox.url}/", params={"as": user})
    assert answer.status_code == 200
    return answer.text


def test_page_renders_a_card_with_buttons(sandbox: SlackSandbox, client: WebClient) -> None:
    ts = client.chat_postMessage(channel="C1", text="Refund?", blocks=card())["ts"]
    html = page(sandbox)
    assert "<h4>Refund $340</h4>" in html
    assert "<b>Refund</b> for <span class=mention>@alice</span> &amp; team" in html
    assert "action=/_sandbox/click" in html
    assert f"name='ts' value='{ts}'" in html
    assert "<button class='primary'>Approve</button>" in html
    assert "location.reload()" in html


def test_page_escapes_everything(sandbox: SlackSandbox, client: WebClient) -> None:
    client.chat_postMessage(channel="C1", text="<script>alert(1)</script> & <b>")
    sandbox.add_channel("C2", name="<img src=x onerror=alert(1)>")
    html = page(sandbox)
    assert "<script>alert" not in html
    assert "<img src=x" not in html
    assert "&lt;script&gt;" in html


def test_page_shows_only_the_acting_users_dm_and_ephemerals(sandbox: SlackSandbox, client: WebClient) -> None:
    client.chat_postMessage(channel="U2", text="secret for bob")
    client.chat_postEphemeral(channel="C1", user="U2", text="whisper for bob")
    assert "secret for bob" not in page(sandbox, "U1")
    assert "whisper for bob" not in page(sandbox, "U1")
    bob = page(sandbox, "U2")
    assert "secret for bob" in bob
    assert "whisper for bob" in bob


def test_clicking_through_the_form_reaches_the_bot(
    sandbox: SlackSandbox, receiver: Receiver, client: WebClient
) -> None:
    ts = client.chat_postMessage(channel="C1", text="Refund?", blocks=card())["ts"]
    answer = httpx.post(
        f"{sandbox.url}/_sandbox/click",
        data={"user": "U2", "channel": "C1", "ts": ts, "action_id": "approve"},
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/?as=U2"
    [payload] = receiver.payloads
    assert (payload["user"]["id"], payload["actions"][0]["action_id"]) == ("U2", "approve")


def test_a_failed_delivery_is_shown_to_the_developer(sandbox: SlackSandbox, client: WebClient) -> None:
    ts = client.chat_postMessage(channel="C1", text="Refund?", blocks=card())["ts"]
    answer = httpx.post(
        f"{sandbox.url}/_sandbox/click",
        data={"user": "U1", "channel": "C1", "ts": ts, "action_id": "approve"},
        follow_redirects=True,
    )
    assert "could not reach the bot" in answer.text


def test_modal_form_submit_and_field_errors(
    sandbox: SlackSandbox, receiver: Receiver, client: WebClient
) -> None:
    def open_on_deny(payload: Json) -> JSONResponse | None:
        if payload["type"] == "block_actions":
            client.views_open(trigger_id=payload["trigger_id"], view=reason_modal())
            return None
        return JSONResponse({"response_action": "errors", "errors": {"reason": "Too short"}})

    receiver.answer = open_on_deny
    ts = client.chat_postMessage(channel="C1", text="Refund?", blocks=card())["ts"]
    httpx.post(
        f"{sandbox.url}/_sandbox/click", data={"user": "U1", "channel": "C1", "ts": ts, "action_id": "deny"}
    )
    html = page(sandbox)
    assert "action=/_sandbox/submit" in html
    assert "<textarea form=modal-form name=in0 required" in html
    assert "location.reload" not in html  # typing must not be wiped by a reload

    [view] = sandbox.views("U1")
    answer = httpx.post(
        f"{sandbox.url}/_sandbox/submit", data={"user": "U1", "view_id": view["id"], "in0": "nope"}
    )
    assert answer.status_code == 303
    assert receiver.payloads[-1]["view"]["state"]["values"]["reason"]["text"]["value"] == "nope"
    html = page(sandbox)
    assert "<div class=err>Too short</div>" in html
    assert ">nope</textarea>" in html


def test_control_endpoints_drive_a_sandbox_from_another_process(
    sandbox: SlackSandbox, receiver: Receiver, client: WebClient
) -> None:
    base = f"{sandbox.url}/_sandbox"
    assert httpx.post(f"{base}/users", json={"id": "U3", "name": "carol"}).json()["id"] == "U3"
    httpx.post(f"{base}/channels", json={"id": "C3", "name": "ops"})
    httpx.post(f"{base}/usergroups", json={"id": "S3", "handle": "ops", "users": ["U3"]})
    assert client.usergroups_users_list(usergroup="S3")["users"] == ["U3"]

    ts = client.chat_postMessage(channel="C3", text="Refund?", blocks=card())["ts"]
    [message] = httpx.get(f"{base}/messages", params={"channel": "C3"}).json()["result"]
    assert message["ts"] == ts
    clicked = httpx.post(
        f"{base}/click", json={"user": "U3", "channel": "C3", "ts": ts, "action_id": "approve"}
    ).json()
    assert clicked == {"status": 200, "body": ""}
    missing = httpx.post(f"{base}/click", json={"user": "U3", "channel": "C3", "ts": ts, "action_id": "nope"})
    assert missing.status_code == 400

    httpx.post(f"{base}/reset")
    assert sandbox.messages("C3") == []
    assert sandbox.calls() == []


def test_page_renders_mrkdwn_as_slack_shows_it(sandbox: SlackSandbox, client: WebClient) -> None:
    text = (":alarm_clock: Reminder for <@U1> and <!here>\n> quoted &lt;line&gt;\n"
            "```SELECT '*promo*'\nFROM t```\n"
            "at <!date^1795269000^{date_short_pretty} at {time}|2026-11-21 13:50 UTC> :no_such_code:")
    client.chat_postMessage(channel="C1", text=text)
    html = page(sandbox)
    assert "⏰ Reminder for <span class=mention>@alice</span> and <span class=mention>@here</span>" in html
    assert "<blockquote>quoted &lt;line&gt;</blockquote>" in html
    assert "<pre><code>SELECT '*promo*'<br>FROM t</code></pre>" in html  # nothing formats in code
    assert "```" not in html
    date = "<time data-ts='1795269000' data-fmt='{date_short_pretty} at {time}'>2026-11-21 13:50 UTC</time>"
    assert date in html
    assert ":no_such_code:" in html


def test_plain_text_without_emoji_stays_as_typed(sandbox: SlackSandbox, client: WebClient) -> None:
    blocks = [{"type": "section", "fields": [
        {"type": "plain_text", "text": ":x: *not bold*", "emoji": False},
        {"type": "plain_text", "text": ":x: yes", "emoji": True}]}]
    client.chat_postMessage(channel="C1", text="t", blocks=blocks)
    html = page(sandbox)
    assert ":x: *not bold*" in html and "❌ yes" in html


def test_a_button_with_confirm_asks_first(sandbox: SlackSandbox, client: WebClient) -> None:
    confirm = {"title": {"type": "plain_text", "text": "Approve this?"},
               "text": {"type": "plain_text", "text": "issue_refund: $120"},
               "confirm": {"type": "plain_text", "text": "Approve"},
               "deny": {"type": "plain_text", "text": "Cancel"}}
    button = {"type": "button", "action_id": "approve", "value": "r1", "style": "primary",
              "text": {"type": "plain_text", "text": "Approve"}, "confirm": confirm}
    client.chat_postMessage(channel="C1", text="t",
                            blocks=[{"type": "actions", "block_id": "a", "elements": [button]}])
    html = page(sandbox)
    assert "<dialog class=confirm><h3>Approve this?</h3><p>issue_refund: $120</p>" in html
    assert "type=button class='primary' onclick='this.nextElementSibling.showModal()'" in html


def test_a_modal_shows_hints_placeholders_and_no_submit_it_did_not_ask_for(
    sandbox: SlackSandbox, receiver: Receiver, client: WebClient
) -> None:
    details = {"type": "modal", "callback_id": "details", "title": {"type": "plain_text", "text": "Details"},
               "close": {"type": "plain_text", "text": "Close"},
               "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "all of it"}}]}
    hinted = reason_modal()
    hinted["blocks"][0]["hint"] = {"type": "plain_text", "text": "The agent will see it."}
    hinted["blocks"][0]["element"]["placeholder"] = {"type": "plain_text", "text": "Why not?"}
    views = [hinted, details]

    def open_next(payload: Json) -> None:
        client.views_open(trigger_id=payload["trigger_id"], view=views.pop())

    receiver.answer = open_next
    ts = client.chat_postMessage(channel="C1", text="Refund?", blocks=card())["ts"]
    click = {"user": "U1", "channel": "C1", "ts": ts, "action_id": "deny"}
    httpx.post(f"{sandbox.url}/_sandbox/click", data=click)
    html = page(sandbox)
    assert "all of it" in html and ">Close</button>" in html
    assert "form=modal-form class=primary" not in html  # no stray Submit
    [view] = sandbox.views("U1")
    httpx.post(f"{sandbox.url}/_sandbox/close", data={"user": "U1", "view_id": view["id"]})
    httpx.post(f"{sandbox.url}/_sandbox/click", data=click)
    html = page(sandbox)
    assert "placeholder='Why not?'" in html and "<div class=hint>The agent will see it.</div>" in html
    assert "<button form=modal-form class=primary>Deny</button>" in html
