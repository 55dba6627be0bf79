"""Block Kit validation as Slack applies it: every function returns error strings, empty = valid.

The sandbox keeps its own copy of Slack's limits on purpose: it is the independent check of
the project's Block Kit builders, so it must not share their constants.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

MESSAGE_BLOCKS = 50
VIEW_BLOCKS = 100
MESSAGE_TEXT = 40_000
SECTION_TEXT = 3000
SECTION_FIELDS = 10
SECTION_FIELD = 2000
HEADER_TEXT = 150
BUTTON_TEXT = 75
BUTTON_VALUE = 2000
URL = 3000
ID = 255
ACTIONS_ELEMENTS = 25
CONTEXT_ELEMENTS = 10
LABEL = 2000
INPUT_LENGTH = 3000
PLACEHOLDER = 150
OPTION_TEXT = 75
OPTION_VALUE = 150
OPTIONS = 100
VIEW_TITLE = 24
VIEW_BUTTON = 24
PRIVATE_METADATA = 3000

BLOCK_TYPES = {"section", "header", "divider", "context", "actions", "input", "image", "rich_text"}
BUTTON_STYLES = {"primary", "danger"}
SELECTS = {"static_select", "multi_static_select", "radio_buttons", "checkboxes", "overflow"}
PICKERS = {
    "users_select",
    "multi_users_select",
    "conversations_select",
    "multi_conversations_select",
    "channels_select",
    "multi_channels_select",
    "external_select",
    "multi_external_select",
    "datepicker",
    "timepicker",
    "datetimepicker",
}
TEXT_INPUTS = {
    "plain_text_input",
    "email_text_input",
    "url_text_input",
    "number_input",
    "rich_text_input",
}
INTERACTIVE = {"button"} | SELECTS | PICKERS
INPUT_ELEMENTS = (SELECTS - {"overflow"}) | PICKERS | TEXT_INPUTS | {"file_input"}

Errors = list[str]
Json = dict[str, Any]


def validate_message(text: str | None, blocks: Any) -> Errors:
    """Errors in a message: its `text` (40,000) and its blocks (at most 50)."""
    errors: Errors = []
    if text_too_long(text):
        errors.append(f"text: must be at most {MESSAGE_TEXT} characters (got {len(text or '')})")
    if blocks is not None:
        errors += validate_blocks(blocks, max_blocks=MESSAGE_BLOCKS, path="blocks")
    return errors


def text_too_long(text: str | None) -> bool:
    """Whether a message's top-level `text` is over Slack's 40,000 characters."""
    return text is not None and len(text) > MESSAGE_TEXT


def validate_view(view: Any) -> Errors:
    """Errors in a modal or Home tab view (at most 100 blocks, title 24, metadata 3000)."""
    if not isinstance(view, dict):
        return ["view: must be an object"]
    errors: Errors = []
    kind = view.get("type")
    if kind not in ("modal", "home"):
        errors.append(f"view.type: must be 'modal' or 'home' (got {kind!r})")
    if kind == "modal":
        errors += _plain_text(view.get("title"), "view.title", VIEW_TITLE, required=True)
    for key in ("submit", "close"):
        if key in view:
            errors += _plain_text(view[key], f"view.{key}", VIEW_BUTTON, required=True)
    errors += _max_len(view.get("private_metadata"), "view.private_metadata", PRIVATE_METADATA)
    errors += _max_len(view.get("callback_id"), "view.callback_id", ID)
    errors += _max_len(view.get("external_id"), "view.external_id", ID)
    blocks = view.get("blocks")
    if blocks is None:
        return errors + ["view.blocks: is required"]
    errors += validate_blocks(blocks, max_blocks=VIEW_BLOCKS, path="view.blocks")
    has_input = isinstance(blocks, list) and any(
        isinstance(b, dict) and b.get("type") == "input" for b in blocks
    )
    if kind == "modal" and has_input and "submit" not in view:
        errors.append("view.submit: is required when the view has input blocks")
    return errors


def validate_blocks(blocks: Any, *, max_blocks: int, path: str) -> Errors:
    """Errors in a list of blocks: count, unique block_ids, and each block's own limits."""
    if not isinstance(blocks, list):
        return [f"{path}: must be a list"]
    errors = _count(blocks, path, max_blocks)
    seen: set[str] = set()
    for i, block in enumerate(blocks):
        where = f"{path}[{i}]"
        if not isinstance(block, dict):
            errors.append(f"{where}: must be an object")
            continue
        block_id = block.get("block_id")
        if block_id is not None:
            errors += _max_len(block_id, f"{where}.block_id", ID)
            if block_id in seen:
                errors.append(f"{where}.block_id: duplicate block_id {block_id!r}")
            seen.add(block_id)
        errors += _block(block, where)
    return errors


def _block(block: Json, where: str) -> Errors:
    kind = block.get("type")
    check = _BLOCK_CHECKS.get(kind) if isinstance(kind, str) else None
    if check is None:
        return [f"{where}.type: unknown block type {kind!r}"]
    return check(block, where)


def _section(block: Json, where: str) -> Errors:
    if "text" not in block and "fields" not in block:
        return [f"{where}: must have text or fields"]
    errors: Errors = []
    if "text" in block:
        errors += _text(block["text"], f"{where}.text", SECTION_TEXT)
    if "fields" in block:
        fields = block["fields"]
        if not isinstance(fields, list):
            return errors + [f"{where}.fields: must be a list"]
        errors += _count(fields, f"{where}.fields", SECTION_FIELDS)
        for i, field in enumerate(fields):
            errors += _text(field, f"{where}.fields[{i}]", SECTION_FIELD)
    if "accessory" in block:
        errors += _element(block["accessory"], f"{where}.accessory", INTERACTIVE | {"image"})
    return errors


def _header(block: Json, where: str) -> Errors:
    return _plain_text(block.get("text"), f"{where}.text", HEADER_TEXT, required=True)


def _divider(block: Json, where: str) -> Errors:
    return []


def _context(block: Json, where: str) -> Errors:
    elements = block.get("elements")
    if not isinstance(elements, list) or not elements:
        return [f"{where}.elements: must be a non-empty list"]
    errors = _count(elements, f"{where}.elements", CONTEXT_ELEMENTS)
    for i, element in enumerate(elements):
        at = f"{where}.elements[{i}]"
        if isinstance(element, dict) and element.get("type") == "image":
            errors += _image_element(element, at)
        else:
            errors += _text(element, at, SECTION_TEXT)
    return errors


def _actions(block: Json, where: str) -> Errors:
    elements = block.get("elements")
    if not isinstance(elements, list) or not elements:
        return [f"{where}.elements: must be a non-empty list"]
    errors = _count(elements, f"{where}.elements", ACTIONS_ELEMENTS)
    action_ids: set[str] = set()
    for i, element in enumerate(elements):
        at = f"{where}.elements[{i}]"
        errors += _element(element, at, INTERACTIVE)
        action_id = element.get("action_id") if isinstance(element, dict) else None
        if action_id is not None and action_id in action_ids:
            errors.append(f"{at}.action_id: duplicate action_id {action_id!r} in this block")
        if action_id is not None:
            action_ids.add(action_id)
    return errors


def _input(block: Json, where: str) -> Errors:
    errors = _plain_text(block.get("label"), f"{where}.label", LABEL, required=True)
    if "hint" in block:
        errors += _plain_text(block["hint"], f"{where}.hint", LABEL, required=True)
    if "element" not in block:
        return errors + [f"{where}.element: is required"]
    return errors + _element(block["element"], f"{where}.element", INPUT_ELEMENTS)


def _image(block: Json, where: str) -> Errors:
    errors = _image_element(block, where)
    if "title" in block:
        errors += _plain_text(block["title"], f"{where}.title", LABEL, required=True)
    return errors


def _rich_text(block: Json, where: str) -> Errors:
    if not isinstance(block.get("elements"), list):
        return [f"{where}.elements: must be a list"]
    return []


_BLOCK_CHECKS: dict[str, Callable[[Json, str], Errors]] = {
    "section": _section,
    "header": _header,
    "divider": _divider,
    "context": _context,
    "actions": _actions,
    "input": _input,
    "image": _image,
    "rich_text": _rich_text,
}


def _element(element: Any, where: str, allowed: set[str]) -> Errors:
    if not isinstance(element, dict):
        return [f"{where}: must be an object"]
    kind = element.get("type")
    if kind not in allowed:
        return [f"{where}.type: {kind!r} is not allowed here"]
    errors = _max_len(element.get("action_id"), f"{where}.action_id", ID)
    if kind == "button":
        errors += _button(element, where)
    elif kind == "image":
        errors += _image_element(element, where)
    elif kind in SELECTS:
        errors += _options(element, where)
    if kind in TEXT_INPUTS:
        for key in ("max_length", "min_length"):
            errors += _max_int(element.get(key), f"{where}.{key}", INPUT_LENGTH)
        errors += _max_len(element.get("initial_value"), f"{where}.initial_value", INPUT_LENGTH)
    if "placeholder" in element:
        errors += _plain_text(element["placeholder"], f"{where}.placeholder", PLACEHOLDER)
    return errors


def _button(element: Json, where: str) -> Errors:
    errors = _plain_text(element.get("text"), f"{where}.text", BUTTON_TEXT, required=True)
    errors += _max_len(element.get("value"), f"{where}.value", BUTTON_VALUE)
    errors += _max_len(element.get("url"), f"{where}.url", URL)
    style = element.get("style")
    if style is not None and style not in BUTTON_STYLES:
        errors.append(f"{where}.style: must be 'primary' or 'danger' (got {style!r})")
    return errors


def _options(element: Json, where: str) -> Errors:
    options = element.get("options")
    if options is None:
        return []  # option_groups and external data sources are not checked
    if not isinstance(options, list):
        return [f"{where}.options: must be a list"]
    errors = _count(options, f"{where}.options", OPTIONS)
    for i, option in enumerate(options):
        at = f"{where}.options[{i}]"
        if not isinstance(option, dict):
            errors.append(f"{at}: must be an object")
            continue
        errors += _text(option.get("text"), f"{at}.text", OPTION_TEXT)
        errors += _max_len(option.get("value"), f"{at}.value", OPTION_VALUE)
    return errors


def _image_element(element: Json, where: str) -> Errors:
    errors: Errors = []
    if "image_url" not in element and "slack_file" not in element:
        errors.append(f"{where}.image_url: is required")
    errors += _max_len(element.get("image_url"), f"{where}.image_url", URL)
    if not isinstance(element.get("alt_text"), str):
        errors.append(f"{where}.alt_text: is required")
    return errors + _max_len(element.get("alt_text"), f"{where}.alt_text", LABEL)


def _text(obj: Any, where: str, limit: int) -> Errors:
    if not isinstance(obj, dict) or obj.get("type") not in ("plain_text", "mrkdwn"):
        return [f"{where}: must be a plain_text or mrkdwn text object"]
    return _string(obj.get("text"), f"{where}.text", limit)


def _plain_text(obj: Any, where: str, limit: int, *, required: bool = False) -> Errors:
    if obj is None and not required:
        return []
    if not isinstance(obj, dict) or obj.get("type") != "plain_text":
        return [f"{where}: must be a plain_text text object"]
    return _string(obj.get("text"), f"{where}.text", limit)


def _string(value: Any, where: str, limit: int) -> Errors:
    if not isinstance(value, str):
        return [f"{where}: must be a string"]
    if not value:
        return [f"{where}: must be at least 1 character"]
    return _max_len(value, where, limit)


def _max_len(value: Any, where: str, limit: int) -> Errors:
    if value is None:
        return []
    if not isinstance(value, str):
        return [f"{where}: must be a string"]
    if len(value) > limit:
        return [f"{where}: must be at most {limit} characters (got {len(value)})"]
    return []


def _max_int(value: Any, where: str, limit: int) -> Errors:
    if value is None:
        return []
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        return [f"{where}: must be a non-negative integer"]
    if value > limit:
        return [f"{where}: must be at most {limit} (got {value})"]
    return []


def _count(items: list[Any], where: str, limit: int) -> Errors:
    if len(items) > limit:
        return [f"{where}: must have at most {limit} items (got {len(items)})"]
    return []
