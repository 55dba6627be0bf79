"""The view half of the sandbox state: trigger_ids, modal stacks, Home tabs and submissions."""

from __future__ import annotations

import copy
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_sandbox import limits
from slack_sandbox.shapes import ApiError, assign_ids, input_fields, slack_view, state_entry

Json = dict[str, Any]

TRIGGER_TTL = 3.0  # Slack: a trigger_id is good for 3 seconds, once
TRIGGER_KEEP = 3600.0  # forget triggers after an hour so a long demo does not grow forever
MODAL_STACK = 3  # Slack: at most 3 views in a modal stack
_EMPTY: tuple[Any, ...] = (None, "", [])


@dataclass
class Trigger:
    """A trigger_id handed out with an interaction."""

    user: str
    issued: float
    used: bool = False


class ViewStore:
    """Mixin for SlackState: the views part, sharing its lock, clock and users."""

    _lock: threading.Lock
    _clock: Callable[[], float]

    def _user(self, user_id: str) -> Json:
        raise NotImplementedError

    def __init__(self) -> None:
        self._view_seq = 0
        self._trigger_seq = 0

    def _clear_views(self) -> None:
        self._views: dict[str, Json] = {}
        self._stacks: dict[str, list[str]] = {}
        self._homes: dict[str, str] = {}
        self._triggers: dict[str, Trigger] = {}

    # --- trigger ids -----------------------------------------------------------------------

    def issue_trigger(self, user: str) -> str:
        """A fresh trigger_id for `user`, valid for 3 seconds of the sandbox clock and once."""
        with self._lock:
            now = self._clock()
            self._triggers = {k: t for k, t in self._triggers.items() if now - t.issued < TRIGGER_KEEP}
            self._trigger_seq += 1
            trigger_id = f"{int(now)}.{self._trigger_seq}.{secrets.token_hex(12)}"
            self._triggers[trigger_id] = Trigger(user=user, issued=now)
            return trigger_id

    def _take_trigger(self, trigger_id: str) -> str:
        trigger = self._triggers.get(trigger_id)
        if trigger is None:
            raise ApiError("invalid_trigger_id")
        if trigger.used:
            raise ApiError("exchanged_trigger_id")
        if self._clock() - trigger.issued > TRIGGER_TTL:
            raise ApiError("expired_trigger_id")
        trigger.used = True
        return trigger.user

    # --- views.open / push / update / publish ----------------------------------------------

    def open_view(self, *, trigger_id: str, view: Json, push: bool = False) -> Json:
        """views.open (replaces the user's modals) or views.push (stacks on top)."""
        _check_view(view, kind="modal")
        with self._lock:
            self._check_external_id(view)
            user = self._take_trigger(trigger_id)
            stack = self._stacks.setdefault(user, [])
            if push and len(stack) >= MODAL_STACK:
                raise ApiError("push_limit_reached")
            if not push:
                for view_id in list(stack):
                    self._close(view_id)
            return slack_view(self._push(user, view))

    def _push(self, user: str, view: Json) -> Json:
        stack = self._stacks.setdefault(user, [])
        previous = stack[-1] if stack else None
        root = self._views[stack[0]]["id"] if stack else None
        record = self._new_record(user, view, root=root, previous=previous)
        stack.append(record["id"])
        return record

    def update_view(
        self,
        *,
        view: Json,
        view_id: str | None = None,
        external_id: str | None = None,
        hash: str | None = None,
    ) -> Json:
        """views.update by id or external_id, refusing a stale `hash` like Slack."""
        with self._lock:
            record = self._lookup(view_id, external_id)
            _check_view(view, kind=record["type"])
            if hash and hash != record["hash"]:
                raise ApiError("hash_conflict")
            self._replace(record, view)
            return slack_view(record)

    def publish_view(self, *, user: str, view: Json, hash: str | None = None) -> Json:
        """views.publish: create or replace a user's Home tab."""
        _check_view(view, kind="home")
        with self._lock:
            self._user(user)
            home_id = self._homes.get(user)
            if home_id is None:
                record = self._new_record(user, view, root=None, previous=None)
                self._homes[user] = record["id"]
                return slack_view(record)
            record = self._views[home_id]
            if hash and hash != record["hash"]:
                raise ApiError("hash_conflict")
            self._replace(record, view)
            return slack_view(record)

    def _lookup(self, view_id: str | None, external_id: str | None) -> Json:
        for record in self._views.values():
            if view_id and record["id"] == view_id:
                return record
            if not view_id and external_id and record["external_id"] == external_id:
                return record
        raise ApiError("not_found")

    def _check_external_id(self, view: Json) -> None:
        external_id = view.get("external_id")
        if external_id and any(r["external_id"] == external_id for r in self._views.values()):
            raise ApiError("duplicate_external_id")

    def _new_record(self, user: str, view: Json, *, root: str | None, previous: str | None) -> Json:
        self._view_seq += 1
        view_id = f"V{self._view_seq:08d}"
        record: Json = {
            "id": view_id,
            "user": user,
            "root_view_id": root or view_id,
            "previous_view_id": previous,
        }
        self._replace(record, view)
        self._views[view_id] = record
        return record

    def _replace(self, record: Json, view: Json) -> None:
        stored = copy.deepcopy(view)
        stored["blocks"] = assign_ids(stored.get("blocks", []))
        record.update(
            type=stored["type"],
            view=stored,
            callback_id=stored.get("callback_id", ""),
            private_metadata=stored.get("private_metadata", ""),
            external_id=stored.get("external_id", ""),
            hash=f"{int(self._clock())}.{secrets.token_hex(4)}",
            state={"values": {}},
            errors={},
        )

    # --- reading and closing ---------------------------------------------------------------

    def views(self, user: str | None = None) -> list[Json]:
        """Open modals (bottom of each stack first) and Home tabs, optionally for one user."""
        with self._lock:
            return [copy.deepcopy(r) for r in self._views.values() if user in (None, r["user"])]

    def view(self, view_id: str) -> Json:
        """One open view's record; KeyError if it is not open."""
        with self._lock:
            return copy.deepcopy(self._views[view_id])

    def close_view(self, view_id: str) -> Json:
        """Close one view (the user pressed Close, or the bot acked a submission with nothing)."""
        with self._lock:
            return self._close(view_id)

    def _close(self, view_id: str) -> Json:
        record = self._views.pop(view_id)
        if record["type"] == "home":
            self._homes.pop(record["user"], None)
        elif view_id in self._stacks.get(record["user"], []):
            self._stacks[record["user"]].remove(view_id)
        return record

    # --- submissions -----------------------------------------------------------------------

    def submit(self, view_id: str, *, user: str, values: Json) -> Json:
        """Record what `user` typed into a modal and return the view as view_submission sends it."""
        with self._lock:
            record = self._views.get(view_id)
            if record is None or record["type"] != "modal" or record["user"] != user:
                raise KeyError(f"no open modal {view_id} for {user}")
            record["state"] = {"values": _state_values(record["view"]["blocks"], values)}
            record["errors"] = {}
            return slack_view(record)

    def apply_response_action(self, view_id: str, body: Json | None) -> list[str]:
        """Do what the bot's submission answer asks; returns problems Slack would refuse."""
        action = (body or {}).get("response_action")
        with self._lock:
            record = self._views.get(view_id)
            if record is None:
                return [f"view {view_id} is no longer open"]
            if action is None:
                self._close(view_id)
            elif action == "clear":
                for open_id in list(self._stacks.get(record["user"], [])):
                    self._close(open_id)
            elif action == "errors":
                return _set_errors(record, (body or {}).get("errors"))
            elif action in ("update", "push"):
                return self._respond_with_view(record, action, (body or {}).get("view"))
            else:
                return [f"response_action: unknown value {action!r}"]
        return []

    def _respond_with_view(self, record: Json, action: str, view: Any) -> list[str]:
        problems = limits.validate_view(view)
        if problems:
            return problems
        if action == "update":
            self._replace(record, view)
        elif len(self._stacks.get(record["user"], [])) >= MODAL_STACK:
            return ["response_action push: push_limit_reached"]
        else:
            self._push(record["user"], view)
        return []


def _check_view(view: Any, *, kind: str) -> None:
    errors = limits.validate_view(view)
    if not errors and view.get("type") != kind:
        errors = [f"view.type: must be {kind!r} here (got {view.get('type')!r})"]
    if errors:
        raise ApiError("invalid_arguments", errors=errors)


def _set_errors(record: Json, errors: Any) -> list[str]:
    if not isinstance(errors, dict) or not errors:
        return ["response_action errors: `errors` must be a non-empty object"]
    inputs = {block["block_id"] for block, _ in input_fields(record["view"]["blocks"])}
    unknown = sorted(set(errors) - inputs)
    if unknown:
        return [f"response_action errors: {b!r} is not an input block_id" for b in unknown]
    record["errors"] = {str(k): str(v) for k, v in errors.items()}
    return []


def _state_values(blocks: list[Json], values: Json) -> Json:
    """view.state.values for a submission, checked the way Slack's client checks a form."""
    fields = input_fields(blocks)
    known = {(b["block_id"], e.get("action_id")) for b, e in fields}
    for block_id, entries in values.items():
        for action_id in entries:
            if (block_id, action_id) not in known:
                raise ValueError(f"the view has no input {block_id}/{action_id}")
    out: Json = {}
    for block, element in fields:
        block_id, action_id = block["block_id"], element["action_id"]
        given = values.get(block_id, {})
        value = given[action_id] if action_id in given else _initial(element)
        if value in _EMPTY and not block.get("optional", False):
            # Slack's client will not send a form with an empty required field.
            raise ValueError(f"input {block_id} is required")
        max_length = element.get("max_length")
        if isinstance(value, str) and max_length and len(value) > max_length:
            raise ValueError(f"input {block_id} is longer than {max_length} characters")
        out.setdefault(block_id, {})[action_id] = state_entry(element, value or None)
    return out


def _initial(element: Json) -> Any:
    for key in (
        "initial_value",
        "initial_date",
        "initial_time",
        "initial_user",
        "initial_conversation",
        "initial_channel",
    ):
        if key in element:
            return element[key]
    if isinstance(element.get("initial_option"), dict):
        return element["initial_option"].get("value")
    if isinstance(element.get("initial_options"), list):
        return [o.get("value") for o in element["initial_options"]]
    return None
