"""The Bolt app and its HTTP bridge: signature first, then Bolt, off the event loop."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qsl

from slack_bolt import App, BoltRequest, BoltResponse
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped
from slack_sdk import WebClient
from slack_sdk.signature import SignatureVerifier

from bot.core.lifecycle import Event
from bot.service import ApprovalService
from bot.slack import listeners
from bot.slack.identity import SlackIdentity, origin


class _NoUnusedTokenNotice(logging.Filter):
    """Bolt reads SLACK_BOT_TOKEN from the environment even when given a client, then warns on
    every start that the token is unused: ours is in the client, so the warning is noise."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != warning_client_prioritized_and_token_skipped()


logging.getLogger("slack_bolt.App").addFilter(_NoUnusedTokenNotice())


def build_bolt_app(*, client: WebClient, signing_secret: str, service: ApprovalService,
                   socket_mode: Guard | None = None) -> App:
    """Bolt with Signoff's listeners; `client` decides which Slack (real or sandbox) it talks to.

    `socket_mode`: in Socket Mode, Bolt itself refuses what is not for this app (HTTP deliveries
    are refused by SlackEndpoint before Bolt sees them).
    """
    app = App(
        client=client,
        signing_secret=signing_secret,
        # Listeners run to completion before Bolt answers, so the answer leaves the moment they
        # ack (Bolt's other mode polls for the ack every 10 ms). They do only short work first;
        # Slack calls made after the ack (explanations, modals) go to `after_ack`.
        process_before_response=True,
        # SlackEndpoint verifies every HTTP delivery before dispatching (and Socket Mode
        # deliveries are not signed): verifying again here only costs CPU on every click.
        request_verification_enabled=False,
    )
    if socket_mode is not None:
        app.use(socket_mode.middleware)
    after_ack = ThreadPoolExecutor(max_workers=16, thread_name_prefix="after-ack")
    listeners.register(app, service, after_ack=after_ack)
    return app


class Guard:
    """Refuses, and audits, a payload meant for another workspace, organisation or app."""

    def __init__(self, identity: SlackIdentity, audit: Callable[[Event], None]) -> None:
        self.identity = identity
        self.audit = audit  # records a refused interaction in its own transaction

    def refusal(self, payload: dict) -> BoltResponse | None:
        """The answer for a payload that is not for us (audited), or None to go on."""
        why = self.identity.foreign(payload)
        if why is None:
            return None
        user = payload.get("user")
        who = user.get("id") if isinstance(user, dict) else None
        data = {**origin(payload), "type": str(payload.get("type"))[:60], "why": why}
        self.audit(Event(kind="refused_interaction", actor=f"slack:{str(who)[:40]}", request_id=None,
                         data=data))
        # Events get the 200 Slack expects, with nothing done (anything else only makes Slack
        # retry); interactions a 403.
        if payload.get("type") in _INTERACTIONS:
            return _error(403, "forbidden", why)
        return BoltResponse(status=200, body="")

    def middleware(self, body: dict, next_: Callable[[], BoltResponse]) -> BoltResponse | None:
        """Bolt middleware (Socket Mode): stop here unless the payload is for us."""
        if (refused := self.refusal(body)) is not None:
            return refused
        return next_()


class SlackEndpoint:
    """Turns a raw HTTP request into a Bolt dispatch, refusing forged or malformed ones first."""

    def __init__(self, app: App, *, signing_secret: str, guard: Guard) -> None:
        self.app = app
        self.verifier = SignatureVerifier(signing_secret)
        self.guard = guard

    def handle(self, *, body: bytes, query: str, headers: dict[str, str | Sequence[str]]) -> BoltResponse:
        """Verify, parse and dispatch; answers 401 / 400 without touching any state."""
        text = body.decode("utf-8", errors="replace")
        ts = str(headers.get("x-slack-request-timestamp", ""))
        sig = str(headers.get("x-slack-signature", ""))
        # slack_sdk raises on a non-numeric timestamp, and an enormous one made Bolt answer 500.
        signed = ts.isascii() and ts.isdigit() and len(ts) <= 12 and sig.startswith("v0=")
        if not (signed and self.verifier.is_valid(body=text, timestamp=ts, signature=sig)):
            return _error(401, "invalid request",
                          "bad or missing X-Slack-Signature, or a timestamp more than 5 minutes off")
        parsed = _parse(text, str(headers.get("content-type", "")))
        if isinstance(parsed, str):
            return _error(400, "malformed payload", parsed)
        if (refused := self.guard.refusal(parsed)) is not None:
            return refused
        # Verified and parsed above: hand Bolt the parsed body rather than have it parse the text
        # again (a card's payload echoes the whole message). Bolt takes a parsed body only in
        # its socket_mode requests, which differ from HTTP ones in nothing but skipping the
        # signature check this endpoint already made (Bolt's own is off, see build_bolt_app).
        return self.app.dispatch(BoltRequest(body=parsed, query=query, headers=dict(headers),
                                             mode="socket_mode"))


def _parse(body: str, content_type: str) -> dict | str:
    """The payload as a dict, or what is wrong with it."""
    try:
        if content_type.startswith("application/json") or body.startswith("{"):
            parsed = json.loads(body)
        else:
            form = form_fields(body)
            parsed = json.loads(form["payload"]) if "payload" in form else form
    except (ValueError, KeyError, RecursionError) as e:
        return f"the body is not a Slack payload: {e}"
    if not isinstance(parsed, dict):
        return "the payload must be a JSON object"
    if problem := _envelope_problem(parsed):
        return problem
    if parsed.get("type") in _INTERACTIONS:
        return _interaction_problem(parsed) or parsed
    return parsed


def form_fields(body: str) -> dict[str, str]:
    """A form body's fields, as `dict(parse_qsl(body, keep_blank_values=True))` gives them.

    An interaction is one field, `payload=` and some KB of URL-encoded JSON with an escape every
    few bytes, and parse_qsl's unquoting (pure Python, a step per escape) cost about a tenth of a
    click's CPU. That one ASCII field is decoded by the C codecs instead; anything else (several
    fields, raw non-ASCII, a broken escape, bytes that are not UTF-8) goes to parse_qsl."""
    name, eq, value = body.partition("=")
    if eq and name == "payload" and "&" not in value:
        try:
            escaped = value.replace("+", " ").encode("ascii").replace(b"\\", b"\\\\").replace(b"%", b"\\x")
            return {name: escaped.decode("unicode_escape").encode("latin-1").decode("utf-8")}
        except UnicodeError:
            pass
    return dict(parse_qsl(body, keep_blank_values=True))


_INTERACTIONS = ("block_actions", "view_submission", "view_closed")


# The envelope fields Bolt reads before any listener runs (slack_bolt.request.internals): a
# wrong type there raised inside Bolt (e.g. `"id" in True`) and Slack got a 500.
_OBJECTS = ("team", "enterprise", "user", "channel", "container", "view", "message", "event", "item",
            "previous_message", "assistant_thread")
_STRINGS = ("type", "api_app_id", "team_id", "enterprise_id", "user_id", "channel_id", "trigger_id",
            "thread_ts", "callback_id", "response_url")


def _envelope_problem(payload: dict) -> str | None:
    # Bolt reads `body.get("event", {}).get(...)`: an explicit null there broke it.
    if "event" in payload and not isinstance(payload["event"], dict):
        return "payload.event must be an object"
    if (payload.get("event") or {}).get("function") is not None and not isinstance(
            payload["event"]["function"], dict):
        return "payload.event.function must be an object"
    for key in _OBJECTS:
        if payload.get(key) is not None and not isinstance(payload[key], dict):
            return f"payload.{key} must be an object"
    for key in _STRINGS:
        if payload.get(key) is not None and not isinstance(payload[key], str):
            return f"payload.{key} must be a string"
    if "authorizations" in payload and not (isinstance(payload["authorizations"], list) and all(
            isinstance(a, dict) for a in payload["authorizations"])):
        return "payload.authorizations must be a list of objects"
    for key in ("event", "message"):
        inner = payload.get(key) or {}
        for field in ("type", "user", "channel", "team", "user_team", "thread_ts", "tab"):
            if inner.get(field) is not None and not isinstance(inner[field], str):
                return f"payload.{key}.{field} must be a string"
    return None


def _interaction_problem(payload: dict) -> str | None:
    user = payload.get("user")
    if not isinstance(user, dict) or not isinstance(user.get("id"), str):
        return "payload.user.id is missing or not a string"
    if payload["type"] == "block_actions":
        actions = payload.get("actions")
        if not isinstance(actions, list) or not actions or not all(isinstance(a, dict) for a in actions):
            return "payload.actions must be a non-empty list of objects"
        for a in actions:
            if not isinstance(a.get("action_id"), str) or any(
                    a.get(k) is not None and not isinstance(a[k], str) for k in ("block_id", "value")):
                return "each action needs a string action_id (and string block_id and value if any)"
        return None
    view = payload.get("view")
    if not isinstance(view, dict):
        return "payload.view is missing or not an object"
    if any(view.get(k) is not None and not isinstance(view[k], str)
           for k in ("id", "callback_id", "private_metadata", "type", "hash", "external_id")):
        return "payload.view's id, callback_id, private_metadata and type must be strings"
    state = view.get("state") or {}
    values = state.get("values") if isinstance(state, dict) else None
    if not isinstance(state, dict) or not isinstance(values or {}, dict) or not all(
            isinstance(block, dict) and all(isinstance(el, dict) for el in block.values())
            for block in (values or {}).values()):
        return "payload.view.state.values must map block ids to objects of element objects"
    if not isinstance(view.get("blocks") or [], list) or not all(
            isinstance(b, dict) for b in view.get("blocks") or []):
        return "payload.view.blocks must be a list of objects"
    return None


def _error(status: int, error: str, detail: str) -> BoltResponse:
    return BoltResponse(
        status=status,
        body=json.dumps({"error": error, "detail": detail}),
        headers={"content-type": "application/json"},
    )
