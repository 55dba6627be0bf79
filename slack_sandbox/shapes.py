"""Pure helpers that turn the sandbox's records into the JSON shapes Slack sends and returns."""

from __future__ import annotations

import copy
import secrets
from collections.abc import Iterator
from typing import Any

Json = dict[str, Any]

TEAM_ID = "T0SANDBOX"
TEAM_NAME = "Signoff Sandbox"
TEAM_DOMAIN = "signoff-sandbox"
BOT_USER_ID = "U0SIGNOFF"
BOT_USER_NAME = "signoff"
BOT_ID = "B0SIGNOFF"
APP_ID = "A0SIGNOFF"
# The legacy verification token Slack still puts in every payload; Bolt ignores it.
VERIFICATION_TOKEN = "sandbox-verification-token"

_CONTAINERS = ("actions",)
_PICKED = {
    "users_select": "selected_user",
    "conversations_select": "selected_conversation",
    "channels_select": "selected_channel",
}
_ACCESSORY_BLOCKS = ("section",)


class ApiError(Exception):
    """A Slack Web API error: `error` is Slack's code, `extra` joins the JSON answer."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra


def ts_string(micros: int) -> str:
    """Slack's `ts` format, seconds and six digits of microseconds: "1700000000.000100"."""
    return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"


def assign_ids(blocks: list[Json]) -> list[Json]:
    """A copy of `blocks` with the block_id / action_id Slack adds where a builder left none."""
    out = copy.deepcopy(blocks)
    for block in out:
        block.setdefault("block_id", _short_id())
        for element in _interactive_elements(block):
            element.setdefault("action_id", _short_id())
    return out


def _short_id() -> str:
    # Slack's generated ids are short random strings; tests must never depend on them.
    return secrets.token_hex(3)


def _interactive_elements(block: Json) -> Iterator[Json]:
    if block.get("type") in _CONTAINERS:
        yield from (e for e in block.get("elements", []) if isinstance(e, dict))
    if block.get("type") in _ACCESSORY_BLOCKS and isinstance(block.get("accessory"), dict):
        if block["accessory"].get("type") != "image":
            yield block["accessory"]
    if block.get("type") == "input" and isinstance(block.get("element"), dict):
        yield block["element"]


def find_element(blocks: list[Json], action_id: str, block_id: str | None = None) -> tuple[str, Json]:
    """The (block_id, element) of the interactive element with `action_id` (in block `block_id`
    when given: the same action_id may repeat, one per row); KeyError if absent."""
    for block in blocks:
        if block_id is not None and block.get("block_id") != block_id:
            continue
        for element in _interactive_elements(block):
            if element.get("action_id") == action_id and block.get("type") != "input":
                return str(block.get("block_id")), element
    raise KeyError(f"no interactive element with action_id {action_id!r}")


def input_fields(blocks: list[Json]) -> list[tuple[Json, Json]]:
    """Every (input block, its element) pair of a view, in order."""
    return [
        (block, block["element"])
        for block in blocks
        if block.get("type") == "input" and isinstance(block.get("element"), dict)
    ]


def state_entry(element: Json, value: Any) -> Json:
    """The `state.values` entry Slack reports for `element` when the user entered `value`."""
    kind = element.get("type", "plain_text_input")
    entry: Json = {"type": kind}
    if kind in ("static_select", "radio_buttons", "overflow"):
        entry["selected_option"] = None if value is None else option_for(element, value)
    elif kind in ("multi_static_select", "checkboxes"):
        picked = [] if value is None else [value] if isinstance(value, str) else list(value)
        entry["selected_options"] = [option_for(element, v) for v in picked]
    elif kind in _PICKED:
        entry[_PICKED[kind]] = value
    elif kind == "datepicker":
        entry["selected_date"] = value
    elif kind == "timepicker":
        entry["selected_time"] = value
    else:
        entry["value"] = value
    return entry


def option_for(element: Json, value: str) -> Json:
    """The option of a select-like element whose value is `value`; ValueError if none."""
    for option in element.get("options", []):
        if option.get("value") == value:
            return copy.deepcopy(option)
    raise ValueError(f"{element.get('action_id')!r} has no option with value {value!r}")


def entered_text(entry: Json) -> Any:
    """What the user entered, read back from a `state.values` entry (for re-rendering forms)."""
    for key in (
        "value",
        "selected_date",
        "selected_time",
        "selected_user",
        "selected_conversation",
        "selected_channel",
    ):
        if key in entry:
            return entry[key]
    if entry.get("selected_option"):
        return entry["selected_option"].get("value")
    if "selected_options" in entry:
        return [o.get("value") for o in entry["selected_options"]]
    return None


def slack_message(record: Json) -> Json:
    """A stored message as Slack returns it in API answers and interaction payloads."""
    out: Json = {
        "type": "message",
        "text": record["text"] or "",
        "user": record["user"],
        "bot_id": BOT_ID,
        "app_id": APP_ID,
        "team": TEAM_ID,
        "ts": record["ts"],
        "blocks": copy.deepcopy(record["blocks"]),
    }
    if record.get("thread_ts"):
        out["thread_ts"] = record["thread_ts"]
    elif record.get("reply_count"):
        out.update(thread_ts=record["ts"], reply_count=record["reply_count"])
    if record.get("edited"):
        out["edited"] = {"user": record["user"], "ts": record["edited_ts"]}
    if record.get("metadata"):
        out["metadata"] = copy.deepcopy(record["metadata"])
    return out


def slack_view(record: Json) -> Json:
    """A stored view as Slack returns it from views.* and puts it in payloads."""
    view = copy.deepcopy(record["view"])
    view.update(
        id=record["id"],
        team_id=TEAM_ID,
        type=record["type"],
        private_metadata=record["private_metadata"],
        callback_id=record["callback_id"],
        external_id=record["external_id"],
        state=copy.deepcopy(record["state"]),
        hash=record["hash"],
        root_view_id=record["root_view_id"],
        previous_view_id=record["previous_view_id"],
        app_id=APP_ID,
        app_installed_team_id=TEAM_ID,
        bot_id=BOT_ID,
    )
    view.setdefault("clear_on_close", False)
    view.setdefault("notify_on_close", False)
    return view


def payload_user(user: Json) -> Json:
    """The `user` object of an interaction payload."""
    return {"id": user["id"], "username": user["name"], "name": user["name"], "team_id": TEAM_ID}


def team() -> Json:
    """The `team` object of an interaction payload."""
    return {"id": TEAM_ID, "domain": TEAM_DOMAIN}
