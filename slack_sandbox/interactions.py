"""What Slack sends the bot when a person clicks or submits: signed payloads over real HTTP."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any
from urllib.parse import urlencode

import httpx

from slack_sandbox.shapes import (
    APP_ID,
    VERIFICATION_TOKEN,
    ApiError,
    find_element,
    payload_user,
    slack_message,
    slack_view,
    state_entry,
    team,
)
from slack_sandbox.state import SlackState

Json = dict[str, Any]

ACK_TIMEOUT = 3.0  # Slack gives the bot 3 s to answer before it shows the user an error


def sign(secret: str, timestamp: int | str, body: str) -> str:
    """Slack's request signature: `v0=` + hex HMAC-SHA256 of `v0:{timestamp}:{body}`."""
    base = f"v0:{timestamp}:{body}".encode()
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def form_body(payload: Json) -> str:
    """The form-encoded body Slack posts: a single `payload` field holding the JSON."""
    return urlencode({"payload": json.dumps(payload)})


class Interactions:
    """Builds block_actions / view_submission payloads, signs and posts them to `events_url`."""

    def __init__(
        self,
        state: SlackState,
        *,
        signing_secret: str,
        base_url: str,
        events_url: str | None = None,
        ack_timeout: float = ACK_TIMEOUT,
    ) -> None:
        self._state = state
        self._secret = signing_secret
        self._base_url = base_url
        self.events_url = events_url
        # trust_env=False: a developer's HTTP(S)_PROXY must never swallow 127.0.0.1 traffic.
        self._http = httpx.Client(timeout=ack_timeout, trust_env=False)

    def close(self) -> None:
        """Release the HTTP connection pool."""
        self._http.close()

    def deliver(
        self,
        payload: Json,
        *,
        timestamp: int | None = None,
        secret: str | None = None,
        body: str | None = None,
    ) -> httpx.Response:
        """POST one signed payload; `secret`/`timestamp` forge or age it, `body` tampers with it."""
        if not self.events_url:
            raise RuntimeError("events_url is not set: the sandbox does not know where the bot is")
        signed = form_body(payload)
        # Signed with wall time, not the sandbox clock: the bot checks it against its own clock.
        stamp = int(time.time()) if timestamp is None else timestamp
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": str(stamp),
            "X-Slack-Signature": sign(secret or self._secret, stamp, signed),
        }
        content = (signed if body is None else body).encode()
        return self._http.post(self.events_url, content=content, headers=headers)

    def open_home(self, user: str) -> httpx.Response:
        """`user` opens the app's Home tab: Slack sends an `app_home_opened` event (JSON, signed)."""
        if not self.events_url:
            raise RuntimeError("events_url is not set: the sandbox does not know where the bot is")
        _known_user(self._state, user)
        now = time.time()
        payload = {
            "token": VERIFICATION_TOKEN, "team_id": team()["id"], "api_app_id": APP_ID,
            "type": "event_callback", "event_id": f"Ev{int(now * 1e6)}", "event_time": int(now),
            "event": {"type": "app_home_opened", "user": user, "channel": self._state.dm_channel(user),
                      "tab": "home", "event_ts": f"{now:.6f}"},
        }
        body = json.dumps(payload)
        stamp = int(now)
        headers = {"Content-Type": "application/json", "X-Slack-Request-Timestamp": str(stamp),
                   "X-Slack-Signature": sign(self._secret, stamp, body)}
        return self._http.post(self.events_url, content=body.encode(), headers=headers)

    # --- block_actions ---------------------------------------------------------------------

    def click(
        self, user: str, channel: str, ts: str, action_id: str, *, value: str | None = None,
        block_id: str | None = None,
    ) -> httpx.Response:
        """`user` clicks `action_id` (in block `block_id`, if given) in a message at `ts`."""
        return self.deliver(self.block_actions(user, channel, ts, action_id, value=value, block_id=block_id))

    def block_actions(
        self, user: str, channel: str, ts: str, action_id: str, *, value: str | None = None,
        block_id: str | None = None,
    ) -> Json:
        """The block_actions payload for a click in a message; KeyError if no such button."""
        person = _known_user(self._state, user)
        message, ephemeral = self._clicked_message(user, channel, ts)
        block_id, element = find_element(message["blocks"], action_id, block_id)
        channel_info = next(c for c in self._state.channels() if c["id"] == message["channel"])
        payload = self._common("block_actions", person)
        payload.update(
            container={
                "type": "message",
                "message_ts": ts,
                "channel_id": channel_info["id"],
                "is_ephemeral": ephemeral,
            },
            channel={"id": channel_info["id"], "name": channel_info["name"]},
            state={"values": {}},
            response_url=self._response_url(channel_info["id"], ts, user, ephemeral),
            actions=[self._action(element, block_id, value)],
        )
        if not ephemeral:  # Slack does not echo an ephemeral message back
            payload["message"] = slack_message(message)
        return payload

    def _clicked_message(self, user: str, channel: str, ts: str) -> tuple[Json, bool]:
        try:
            return self._state.message(channel, ts), False
        except KeyError:
            record = self._state.ephemeral(user, ts)
            if record["channel"] != channel:
                raise KeyError(f"no message {ts} in {channel}") from None
            return {**record, "ts": ts}, True

    def click_view(
        self, user: str, view_id: str, action_id: str, *, value: str | None = None,
        block_id: str | None = None,
    ) -> httpx.Response:
        """`user` clicks `action_id` (in block `block_id`, if given) in a modal or their Home tab."""
        person = _known_user(self._state, user)
        record = self._state.view(view_id)
        if record["user"] != user:
            raise KeyError(f"view {view_id} is not open for {user}")
        block_id, element = find_element(record["view"]["blocks"], action_id, block_id)
        payload = self._common("block_actions", person)
        payload.update(
            container={"type": "view", "view_id": view_id},
            view=slack_view(record),
            state=slack_view(record)["state"],
            actions=[self._action(element, block_id, value)],
        )
        return self.deliver(payload)

    def _common(self, kind: str, person: Json) -> Json:
        return {
            "type": kind,
            "user": payload_user(person),
            "api_app_id": APP_ID,
            "token": VERIFICATION_TOKEN,
            "trigger_id": self._state.issue_trigger(person["id"]),
            "team": team(),
            "enterprise": None,
            "is_enterprise_install": False,
        }

    def _response_url(self, channel: str, ts: str, user: str, ephemeral: bool) -> str:
        key = self._state.issue_response_url(channel=channel, ts=ts, user=user, ephemeral=ephemeral)
        return f"{self._base_url}/_sandbox/response/{key}"

    def _action(self, element: Json, block_id: str, value: str | None) -> Json:
        action: Json = {
            "action_id": element["action_id"],
            "block_id": block_id,
            "action_ts": f"{self._state.now():.6f}",
        }
        if element.get("type") != "button":
            return {**action, **state_entry(element, value)}
        action.update(type="button", text=element["text"])
        if value is not None or "value" in element:
            action["value"] = value if value is not None else element["value"]
        if "style" in element:
            action["style"] = element["style"]
        return action

    # --- view_submission / view_closed -----------------------------------------------------

    def submit_view(self, user: str, view_id: str, values: Json) -> httpx.Response:
        """`user` submits an open modal; the bot's answer is applied like Slack applies it."""
        person = _known_user(self._state, user)
        view = self._state.submit(view_id, user=user, values=values)
        payload = self._common("view_submission", person)
        payload.update(view=view, response_urls=[])
        response = self.deliver(payload)
        if response.status_code == 200:
            self._apply_answer(view_id, response)
        return response

    def _apply_answer(self, view_id: str, response: httpx.Response) -> None:
        try:
            body = response.json() if response.content.strip() else None
        except ValueError:
            body, problems = None, ["the answer is not JSON"]
        else:
            problems = self._state.apply_response_action(view_id, body)
        if problems:
            # Slack would show the user a generic error; keep the evidence for the test.
            self._state.log_call(
                "response_action",
                {"view_id": view_id, "answer": body},
                ok=False,
                error="; ".join(problems),
            )

    def close_view(self, user: str, view_id: str) -> httpx.Response | None:
        """`user` closes a modal; the bot hears of it only if the view asked (notify_on_close)."""
        person = _known_user(self._state, user)
        record = self._state.view(view_id)
        if record["user"] != user:
            raise KeyError(f"view {view_id} is not open for {user}")
        self._state.close_view(view_id)
        if not record["view"].get("notify_on_close"):
            return None
        payload = self._common("view_closed", person)
        payload.pop("trigger_id")
        payload.update(view=slack_view(record), is_cleared=False)
        return self.deliver(payload)


def _known_user(state: SlackState, user: str) -> Json:
    try:
        return state.user(user)
    except ApiError:
        raise KeyError(f"no user {user}") from None
