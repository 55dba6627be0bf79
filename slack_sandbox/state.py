"""Everything the Slack sandbox holds, behind one lock: directory, messages, views, faults.

Public methods take the lock and return deep copies, so callers on other threads (the HTTP
server, a test's thread pool) never see a record change under them. Private `_` helpers
assume the lock is held.
"""

from __future__ import annotations

import copy
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_sandbox import limits
from slack_sandbox.directory import DirectoryStore
from slack_sandbox.shapes import BOT_USER_ID, BOT_USER_NAME, ApiError, assign_ids, ts_string
from slack_sandbox.views import ViewStore

Json = dict[str, Any]
Clock = Callable[[], float]

RESPONSE_URL_USES = 5  # Slack: a response_url takes 5 posts within 30 minutes
RESPONSE_URL_TTL = 30 * 60.0


@dataclass
class Fault:
    """An injected failure for the next `remaining` calls of one Web API method."""

    error: str
    retry_after: int
    remaining: int


@dataclass
class ResponseUrl:
    """Where a response_url posts: the message (or ephemeral) that was clicked, and for whom."""

    channel: str
    ts: str
    user: str
    ephemeral: bool
    issued: float
    uses: int = 0


# What slack-manifest.yml asks for; Slack reports a token's grant in every answer's x-oauth-scopes.
BOT_SCOPES = ("chat:write", "chat:write.public", "im:write", "users:read", "users:read.email",
              "usergroups:read")


class SlackState(DirectoryStore, ViewStore):
    """The sandbox's workspace: users, user groups, channels, messages, views and the call log."""

    def __init__(self, *, clock: Clock = time.time) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._last_micros = 0
        DirectoryStore.__init__(self)
        ViewStore.__init__(self)
        self._clear_activity()
        self._add_user(BOT_USER_ID, name=BOT_USER_NAME, real_name="Signoff", is_bot=True)

    def _clear_activity(self) -> None:
        self.scopes: tuple[str, ...] = BOT_SCOPES
        self._messages: dict[str, list[Json]] = {}
        self._ephemerals: list[Json] = []
        self._response_urls: dict[str, ResponseUrl] = {}
        self._calls: list[Json] = []
        self._faults: dict[str, deque[Fault]] = {}
        self._clear_views()

    def set_scopes(self, scopes: tuple[str, ...]) -> None:
        """The OAuth scopes the bot token was granted (sent in `x-oauth-scopes`); reset restores them."""
        with self._lock:
            self.scopes = tuple(scopes)

    def now(self) -> float:
        """The sandbox's clock (injectable so tests can expire trigger_ids without sleeping)."""
        return self._clock()

    def reset(self) -> None:
        """Forget messages, ephemerals, views, triggers, calls and faults; keep the directory."""
        with self._lock:
            self._clear_activity()

    # --- messages --------------------------------------------------------------------------

    def _next_ts(self) -> str:
        # Strictly increasing even when the injected clock stands still.
        self._last_micros = max(self._last_micros + 1, int(self._clock() * 1_000_000))
        return ts_string(self._last_micros)

    def post_message(
        self,
        *,
        channel: str,
        text: str | None,
        blocks: list[Json] | None,
        thread_ts: str | None = None,
        metadata: Json | None = None,
    ) -> Json:
        """Post as the bot (a reply when thread_ts is set); returns the stored record."""
        _check_content(text, blocks)
        with self._lock:
            channel_id = self._resolve_channel(channel)
            self.check_postable(channel_id)
            if thread_ts:
                thread_ts = self._thread_root(channel_id, thread_ts)
            record = {
                "ts": self._next_ts(),
                "channel": channel_id,
                "text": text or "",
                "blocks": assign_ids(blocks or []),
                "thread_ts": thread_ts or None,
                "user": BOT_USER_ID,
                "edited": False,
                "edited_ts": None,
                "reply_count": 0,
                "metadata": copy.deepcopy(metadata),
            }
            self._messages.setdefault(channel_id, []).append(record)
            return copy.deepcopy(record)

    def update_message(self, *, channel: str, ts: str, text: str | None, blocks: list[Json] | None) -> Json:
        """Edit a message: given fields replace, missing ones stay (Slack's chat.update rule)."""
        _check_content(text, blocks)
        with self._lock:
            record = self._find(self._channel_id(channel), ts)
            if text is not None:
                record["text"] = text
            if blocks is not None:
                record["blocks"] = assign_ids(blocks)
            record.update(edited=True, edited_ts=self._next_ts())
            return copy.deepcopy(record)

    def delete_message(self, *, channel: str, ts: str) -> None:
        """Remove a message (thread replies stay, as in Slack)."""
        with self._lock:
            channel_id = self._channel_id(channel)
            record = self._find(channel_id, ts)
            self._messages[channel_id].remove(record)

    def _channel_id(self, channel: str) -> str:
        # chat.update / chat.delete / getPermalink take ids only: Slack refuses a user id there
        # even though chat.postMessage accepts one.
        if channel not in self._channels:
            raise ApiError("channel_not_found")
        return channel

    def _thread_root(self, channel_id: str, thread_ts: str) -> str:
        # A reply to a reply lands in the parent's thread, as in Slack.
        try:
            parent = self._find(channel_id, thread_ts)
        except ApiError:
            raise ApiError("thread_not_found") from None
        root = self._find(channel_id, parent["thread_ts"] or parent["ts"])
        root["reply_count"] += 1
        return str(root["ts"])

    def _find(self, channel_id: str, ts: str) -> Json:
        for record in self._messages.get(channel_id, []):
            if record["ts"] == ts:
                return record
        raise ApiError("message_not_found")

    def message(self, channel: str, ts: str) -> Json:
        """One message by channel and ts; KeyError if there is none."""
        with self._lock:
            try:
                return copy.deepcopy(self._find(channel, ts))
            except ApiError:
                raise KeyError(f"no message {ts} in {channel}") from None

    def messages(self, channel: str) -> list[Json]:
        """Top-level messages of a channel in post order; KeyError for an unknown channel."""
        with self._lock:
            return [copy.deepcopy(r) for r in self._history(channel) if r["thread_ts"] is None]

    def replies(self, channel: str, thread_ts: str) -> list[Json]:
        """Replies in one thread (without the parent), in post order."""
        with self._lock:
            return [copy.deepcopy(r) for r in self._history(channel) if r["thread_ts"] == thread_ts]

    def _history(self, channel: str) -> list[Json]:
        if channel not in self._channels:
            raise KeyError(f"no channel {channel}")
        return self._messages.get(channel, [])

    def permalink_path(self, channel: str, ts: str) -> str:
        """The `/archives/...` path Slack uses for a message's permalink."""
        with self._lock:
            channel_id = self._channel_id(channel)
            record = self._find(channel_id, ts)
        path = f"/archives/{channel_id}/p{ts.replace('.', '')}"
        if record["thread_ts"]:
            path += f"?thread_ts={record['thread_ts']}&cid={channel_id}"
        return path

    # --- ephemerals ------------------------------------------------------------------------

    def post_ephemeral(
        self,
        *,
        channel: str,
        user: str,
        text: str | None,
        blocks: list[Json] | None,
        thread_ts: str | None = None,
    ) -> Json:
        """Show a message to one user in a channel; it is never part of the channel history."""
        _check_content(text, blocks)
        with self._lock:
            channel_id = self._resolve_channel(channel)
            self._user(user)
            record = {
                "channel": channel_id,
                "user": user,
                "text": text or "",
                "blocks": assign_ids(blocks or []),
                "message_ts": self._next_ts(),
                "thread_ts": thread_ts,
            }
            self._ephemerals.append(record)
            return copy.deepcopy(record)

    def ephemerals(self, user: str | None = None) -> list[Json]:
        """Ephemeral messages shown so far, optionally only those for one user."""
        with self._lock:
            return [copy.deepcopy(e) for e in self._ephemerals if user in (None, e["user"])]

    def ephemeral(self, user: str, message_ts: str) -> Json:
        """One ephemeral message of a user; KeyError if there is none."""
        with self._lock:
            return copy.deepcopy(self._ephemeral(user, message_ts))

    def _ephemeral(self, user: str, message_ts: str) -> Json:
        for record in self._ephemerals:
            if record["user"] == user and record["message_ts"] == message_ts:
                return record
        raise KeyError(f"no ephemeral {message_ts} for {user}")

    # --- response_url ----------------------------------------------------------------------

    def issue_response_url(self, *, channel: str, ts: str, user: str, ephemeral: bool) -> str:
        """A fresh response_url id bound to the clicked message."""
        key = secrets.token_urlsafe(16)
        with self._lock:
            self._response_urls[key] = ResponseUrl(channel, ts, user, ephemeral, self._clock())
        return key

    def respond(self, key: str, body: Json) -> None:
        """Apply one response_url post: replace/delete the original, or post a new message."""
        with self._lock:
            target = self._take_response_url(key)
        text, blocks = body.get("text"), body.get("blocks")
        if _truthy(body.get("delete_original")):
            self._delete_original(target)
        elif _truthy(body.get("replace_original")):
            self._replace_original(target, text, blocks)
        elif body.get("response_type") == "in_channel":
            self.post_message(
                channel=target.channel, text=text, blocks=blocks, thread_ts=body.get("thread_ts")
            )
        else:
            self.post_ephemeral(channel=target.channel, user=target.user, text=text, blocks=blocks)

    def _take_response_url(self, key: str) -> ResponseUrl:
        target = self._response_urls.get(key)
        if target is None:
            raise ApiError("no_active_hooks")
        if self._clock() - target.issued > RESPONSE_URL_TTL:
            raise ApiError("expired_url")
        if target.uses >= RESPONSE_URL_USES:
            raise ApiError("used_url")
        target.uses += 1
        return target

    def _delete_original(self, target: ResponseUrl) -> None:
        if not target.ephemeral:
            self.delete_message(channel=target.channel, ts=target.ts)
            return
        with self._lock:
            self._ephemerals.remove(self._ephemeral(target.user, target.ts))

    def _replace_original(self, target: ResponseUrl, text: str | None, blocks: list[Json] | None) -> None:
        # A response_url replacement is a whole new message: no blocks given means no blocks.
        blocks = blocks or []
        if not target.ephemeral:
            self.update_message(channel=target.channel, ts=target.ts, text=text, blocks=blocks)
            return
        _check_content(text, blocks)
        with self._lock:
            record = self._ephemeral(target.user, target.ts)
            record.update(text=text or "", blocks=assign_ids(blocks or []))

    # --- call log and injected faults ------------------------------------------------------

    def log_call(self, method: str, args: Json, *, ok: bool, error: str | None) -> None:
        """Record one Web API call for `calls()`."""
        entry = {"method": method, "args": copy.deepcopy(args), "ok": ok, "error": error}
        with self._lock:
            self._calls.append(entry)

    def calls(self, method: str | None = None) -> list[Json]:
        """The Web API calls received so far, optionally for one method."""
        with self._lock:
            return [copy.deepcopy(c) for c in self._calls if method in (None, c["method"])]

    def fail_next(self, method: str, *, error: str, retry_after: int, times: int) -> None:
        """Make the next `times` calls of `method` fail with `error`."""
        with self._lock:
            self._faults.setdefault(method, deque()).append(Fault(error, retry_after, times))

    def take_fault(self, method: str) -> Fault | None:
        """The injected fault for this call of `method`, if any (consumes one use)."""
        with self._lock:
            queue = self._faults.get(method)
            if not queue:
                return None
            fault = queue[0]
            fault.remaining -= 1
            if fault.remaining <= 0:
                queue.popleft()
            return Fault(fault.error, fault.retry_after, fault.remaining)


def _check_content(text: str | None, blocks: list[Json] | None) -> None:
    if not text and not blocks:
        raise ApiError("no_text")
    if limits.text_too_long(text):
        raise ApiError("msg_too_long")
    errors = limits.validate_message(text, blocks)
    if errors:
        raise ApiError("invalid_blocks", errors=errors)


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() in ("true", "1")
