"""JSON schema ⇄ Block Kit inputs: a form prefilled from values, and its submission read back.

An object schema whose properties are all listed becomes one input per property (text, number,
a select for enums and booleans, a JSON textarea for anything nested); no schema, a schema that
is not an object, or too many properties for one modal become a single JSON textarea
(`ids.BLOCK_FORM_JSON`). The parser looks at which of the two was submitted, so a form and its
parser cannot disagree about its shape.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from blocks import ids, kit, limits
from blocks.kit import Block
from blocks.schema import ROOT, TYPES, clipped, is_type, listing, problems, same, shown
from blocks.text import as_text, clip, length, one_line, to_json

_INTEGER = re.compile(r"[+-]?[0-9]+")
_NUMBER = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")
_BOOLEAN = ((True, "true"), (False, "false"))
_MISSING: Any = object()  # a property with no value at all, unlike one whose value is None
_ERRORS = 3  # problems joined into one message for the JSON textarea
_ERROR_TEXT = 500
_MULTILINE = 150
_JSON_HINT = "Must be valid JSON."

Errors = dict[str, str]


@dataclass(frozen=True)
class _Field:
    """One property of an object schema, as one input block."""

    name: str
    block_id: str
    schema: Mapping[str, Any]
    kind: str  # string | integer | number | select | json
    required: bool
    choices: tuple[tuple[Any, str], ...] = ()  # select: (value, option value)


def form_blocks(
    schema: Mapping[str, Any] | None,
    values: Mapping[str, Any] | None,
    *,
    json_label: str = "Value (JSON)",
) -> list[Block]:
    """Input blocks for schema, prefilled from values; raises ValueError if a value cannot fit."""
    problem = prefill_problem(schema, values)
    if problem is not None:
        raise ValueError(problem)
    fields = _fields(schema)
    if fields is None:
        initial = None if values is None else _pretty(values)
        return [_json_block(initial, label=json_label)]
    present = values if isinstance(values, Mapping) else {}
    return [_input(field, present.get(field.name, _MISSING)) for field in fields]


def prefill_problem(schema: Mapping[str, Any] | None, values: Mapping[str, Any] | None) -> str | None:
    """Why values cannot be prefilled into the form for schema (too long, not JSON), or None."""
    fields = _fields(schema)
    if fields is None:
        if values is None:
            return None
        return _text_problem("the value", _pretty(values), as_json=True)
    present = values if isinstance(values, Mapping) else {}
    for field in fields:
        value = present.get(field.name, _MISSING)
        if value is _MISSING or field.kind == "select":
            continue
        problem = _text_problem(field.name, _initial_text(field, value), as_json=field.kind == "json")
        if problem is not None:
            return problem
    return None


def edit_schema(
    args_schema: Mapping[str, Any] | None, args: Mapping[str, Any]
) -> Mapping[str, Any] | None:
    """The flat schema an edit form shows one input per argument for; None: one JSON textarea."""
    schema = args_schema if args_schema is not None else _inferred(args)
    fields = _fields(schema)
    if fields is None or any(field.kind == "json" for field in fields):
        return None
    # An argument the form has no input for, or cannot show as it is, would be silently
    # dropped or changed by the edit: those go to the JSON textarea instead.
    by_name = {field.name: field for field in fields}
    for key, value in args.items():
        field = by_name.get(key) if isinstance(key, str) else None
        if field is None or not _fits(field, value):
            return None
    if prefill_problem(schema, args) is not None:
        return None
    return schema


def parse_form(
    schema: Mapping[str, Any] | None,
    state_values: Mapping[str, Any],
    *,
    fallback_args: Mapping[str, Any] | None = None,
) -> tuple[Any, dict[str, str]]:
    """(value, errors) from a submitted view's state.values; errors: block_id -> message."""
    # errors is what Slack's response_action="errors" takes. fallback_args: the arguments an
    # edit form was built from (see edit_schema); the result must then be an object.
    # On any error the value is None: nothing half-read is ever used.
    want_object = fallback_args is not None or _object_typed(schema)
    form_schema = edit_schema(schema, fallback_args) if fallback_args is not None else schema
    fields = _fields(form_schema)
    if fields is None or ids.BLOCK_FORM_JSON in state_values:
        return _parse_json(schema, state_values, want_object=want_object)
    return _parse_fields(fields, state_values)


def changed_block(schema: Mapping[str, Any] | None, args: Mapping[str, Any],
                  edited: Mapping[str, Any]) -> str | None:
    """The block of an edit form showing the first argument `edited` changed (the JSON textarea
    when the form is one), or None when nothing changed: where an error about the edit belongs."""
    fields = _fields(edit_schema(schema, args))
    if fields is None:
        return ids.BLOCK_FORM_JSON if dict(edited) != dict(args) else None
    return next((f.block_id for f in fields if edited.get(f.name) != args.get(f.name)), None)


def _fields(schema: Mapping[str, Any] | None) -> list[_Field] | None:
    """The inputs of a per-field form, or None when schema calls for one JSON textarea."""
    if not isinstance(schema, Mapping) or schema.get("type", "object") != "object":
        return None
    properties = schema.get("properties")
    if not isinstance(properties, Mapping) or not 1 <= len(properties) <= limits.FORM_FIELDS:
        return None
    required = schema.get("required")
    needed = {name for name in required if isinstance(name, str)} if isinstance(required, list) else set()
    fields = []
    for position, (name, raw) in enumerate(properties.items()):
        prop: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
        kind, choices = _kind(prop)
        block_id = ids.form_block_id(str(name), position)
        fields.append(_Field(str(name), block_id, prop, kind, str(name) in needed, choices))
    return fields


def _kind(prop: Mapping[str, Any]) -> tuple[str, tuple[tuple[Any, str], ...]]:
    """Which input a property gets, and a select's choices."""
    enum = prop.get("enum")
    if isinstance(enum, list) and 1 <= len(enum) <= limits.SELECT_OPTIONS:
        return "select", tuple((value, str(index)) for index, value in enumerate(enum))
    if enum is not None:
        return "json", ()  # too many to list: typed as JSON, checked against the enum on submit
    kind = prop.get("type")
    if kind == "boolean":
        return "select", _BOOLEAN
    if kind in ("string", "integer", "number"):
        return str(kind), ()
    return "json", ()


def _inferred(args: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """A flat schema read off the arguments' own types; None when they are not flat."""
    properties: dict[str, Any] = {}
    for key, value in args.items():
        if isinstance(value, bool):
            kind = "boolean"
        elif isinstance(value, int):
            kind = "integer"
        elif isinstance(value, float) and math.isfinite(value):
            kind = "number"
        elif isinstance(value, str) and value:  # "" cannot be prefilled into a required input
            kind = "string"
        else:
            return None
        properties[str(key)] = {"type": kind}
    return {"type": "object", "properties": properties, "required": list(properties)}


def _fits(field: _Field, value: Any) -> bool:
    """Whether a field's input shows value so that submitting it untouched gives it back."""
    if field.kind == "select":
        return any(same(choice, value) for choice, _ in field.choices)
    if field.kind == "string":
        return isinstance(value, str) and value != ""  # an empty input reads back as no value
    if field.kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    return is_type(value, "number") and math.isfinite(value)


def _object_typed(schema: Mapping[str, Any] | None) -> bool:
    """Whether schema says the value is an object."""
    if not isinstance(schema, Mapping):
        return False
    return schema.get("type") == "object" or ("type" not in schema and "properties" in schema)


def _input(field: _Field, value: Any) -> Block:
    """The input block for one property, prefilled with value unless it is _MISSING."""
    title = field.schema.get("title")
    label = one_line(title if isinstance(title, str) and title.strip() else field.name) or "(unnamed)"
    if field.kind == "json":
        label += " (JSON)"
    block: Block = {
        "type": "input",
        "block_id": field.block_id,
        "optional": not field.required,
        "label": kit.plain(clip(label, limits.FIELD_LABEL)[0]),
        "element": _select(field, value) if field.kind == "select" else _text_input(field, value),
    }
    description = field.schema.get("description")
    if isinstance(description, str) and description.strip():
        block["hint"] = kit.plain(clip(description, limits.HINT_TEXT)[0])
    elif field.kind == "json":
        block["hint"] = kit.plain(_JSON_HINT)
    return block


def _select(field: _Field, value: Any) -> dict[str, Any]:
    """A static_select over the field's choices, the current one selected."""
    options = [_option(choice, option_value) for choice, option_value in field.choices]
    element: dict[str, Any] = {
        "type": "static_select",
        "action_id": ids.ACTION_FORM_VALUE,
        "placeholder": kit.plain("Choose…"),
        "options": options,
    }
    if value is not _MISSING:
        for option, (choice, _) in zip(options, field.choices, strict=True):
            if same(choice, value):
                element["initial_option"] = option
                break
    return element


def _option(choice: Any, value: str) -> dict[str, Any]:
    """One option: the choice shown as text, its position as the value."""
    text = one_line(choice if isinstance(choice, str) else to_json(choice)) or "(empty)"
    return {"text": kit.plain(clip(text, limits.OPTION_TEXT)[0]), "value": value}


def _text_input(field: _Field, value: Any) -> dict[str, Any]:
    """A plain_text_input for text, numbers or JSON, prefilled with the value's text."""
    initial = None if value is _MISSING else _initial_text(field, value)
    element: dict[str, Any] = {"type": "plain_text_input", "action_id": ids.ACTION_FORM_VALUE}
    max_length = field.schema.get("maxLength")
    long = isinstance(max_length, int) and max_length > _MULTILINE
    if field.kind == "json" or long or (initial and ("\n" in initial or length(initial) > _MULTILINE)):
        element["multiline"] = True
    if initial:
        element["initial_value"] = initial
    # maxLength is enforced as the user types when the current value allows it; always on submit.
    element["max_length"] = limits.INPUT_MAX_LENGTH
    if isinstance(max_length, int) and 0 < max_length and len(initial or "") <= max_length:
        element["max_length"] = min(max_length, limits.INPUT_MAX_LENGTH)
    placeholder = {"integer": "A whole number", "number": "A number", "json": "JSON"}.get(field.kind)
    if placeholder:
        element["placeholder"] = kit.plain(placeholder)
    return element


def _json_block(initial: str | None, *, label: str) -> Block:
    """The one required JSON textarea of a form that is not per-field."""
    element: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": ids.ACTION_FORM_VALUE,
        "multiline": True,
        "max_length": limits.INPUT_MAX_LENGTH,
    }
    if initial:
        element["initial_value"] = initial
    return {
        "type": "input",
        "block_id": ids.BLOCK_FORM_JSON,
        "optional": False,
        "label": kit.plain(clip(one_line(label) or "JSON", limits.FIELD_LABEL)[0]),
        "hint": kit.plain(_JSON_HINT),
        "element": element,
    }


def _initial_text(field: _Field, value: Any) -> str | None:
    """What a text input is prefilled with; None when the value is not JSON at all."""
    if field.kind == "json":
        return _pretty(value)
    if field.kind in ("integer", "number") and not isinstance(value, str):
        return _pretty(value)  # 340, 2.5, 1e+20: the spelling the parser reads back
    return as_text(value)


def _pretty(value: Any) -> str | None:
    """Indented JSON, or None for a value that is not plain JSON (NaN, dates, cycles)."""
    try:
        return json.dumps(value, ensure_ascii=False, indent=2, allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        return None


def _text_problem(name: str, text: str | None, *, as_json: bool) -> str | None:
    """Why text cannot go into a Slack text input, or None."""
    if text is None:
        return f"{clipped(name)} is not plain JSON, so it cannot be edited in Slack."
    if length(text) > limits.INPUT_MAX_LENGTH:
        size = f"{length(text):,} characters" + (" as JSON" if as_json else "")
        return (
            f"{clipped(name)} is too long to edit in Slack: it takes {size} "
            f"and a Slack input holds {limits.INPUT_MAX_LENGTH:,}."
        )
    return None


def _parse_fields(fields: list[_Field], state_values: Mapping[str, Any]) -> tuple[Any, Errors]:
    """The object from a per-field form, or None and one message per block that is wrong."""
    value: dict[str, Any] = {}
    errors: Errors = {}
    for field in fields:
        raw = _submitted(state_values, field.block_id, select=field.kind == "select")
        if raw is None:
            if field.required:
                errors[field.block_id] = f"{clipped(field.name)}: is required"
            continue
        parsed, problem = _read(field, raw)
        if problem is not None:
            errors[field.block_id] = clip(f"{clipped(field.name)}: {problem}", _ERROR_TEXT)[0]
            continue
        found = problems(field.schema, parsed, field.name)
        if found:
            errors[field.block_id] = clip(found[0], _ERROR_TEXT)[0]
            continue
        value[field.name] = parsed
    return (None, errors) if errors else (value, {})


def _parse_json(
    schema: Mapping[str, Any] | None, state_values: Mapping[str, Any], *, want_object: bool
) -> tuple[Any, Errors]:
    """The value typed into the form's one JSON textarea, checked against schema."""
    block_id = ids.BLOCK_FORM_JSON
    raw = _submitted(state_values, block_id, select=False)
    if raw is None or not raw.strip():
        return None, {block_id: f"{ROOT}: is required"}
    value, problem = _loads(raw)
    if problem is None and want_object and not isinstance(value, dict):
        problem = f'must be a JSON object, like {{"key": "value"}} (got {shown(value)})'
    if problem is not None:
        return None, {block_id: clip(f"{ROOT}: {problem}", _ERROR_TEXT)[0]}
    found = problems(schema, value, "")
    if found:
        more = f" (and {len(found) - _ERRORS} more)" if len(found) > _ERRORS else ""
        return None, {block_id: clip("; ".join(found[:_ERRORS]) + more, _ERROR_TEXT)[0]}
    return value, {}


def _submitted(state_values: Mapping[str, Any], block_id: str, *, select: bool) -> str | None:
    """The text typed or the option value chosen in one block; None when left empty."""
    block = state_values.get(block_id)
    element = block.get(ids.ACTION_FORM_VALUE) if isinstance(block, Mapping) else None
    if not isinstance(element, Mapping):
        return None
    if select:
        option = element.get("selected_option")
        chosen = option.get("value") if isinstance(option, Mapping) else None
        return chosen if isinstance(chosen, str) else None
    text = element.get("value")
    return text if isinstance(text, str) and text != "" else None


def _read(field: _Field, raw: str) -> tuple[Any, str | None]:
    """A field's submitted text as its typed value, or a problem saying how to fix it."""
    if field.kind == "string":
        return raw, None
    if field.kind == "select":
        for choice, option_value in field.choices:
            if option_value == raw:
                return choice, None
        return None, f"must be one of: {listing([choice for choice, _ in field.choices])}"
    if field.kind == "json":
        return _loads(raw)
    text = raw.strip()
    if _INTEGER.fullmatch(text):
        try:
            return int(text), None
        except ValueError:  # more digits than Python will convert
            return None, "is too long a number"
    if field.kind == "number" and _NUMBER.fullmatch(text):
        number = float(text)
        return (number, None) if math.isfinite(number) else (None, "must be a finite number")
    return None, f"must be {TYPES[field.kind]} (got '{clipped(one_line(raw))}')"


def _loads(raw: str) -> tuple[Any, str | None]:
    """Parsed JSON, or a problem naming where it went wrong."""
    try:
        return json.loads(raw, parse_constant=_refuse_constant), None
    except json.JSONDecodeError as e:
        return None, f"must be valid JSON ({e.msg} at line {e.lineno}, column {e.colno})"
    except ValueError as e:
        return None, f"must be valid JSON ({e})"
    except RecursionError:
        return None, "is nested too deeply"


def _refuse_constant(name: str) -> Any:
    """NaN and Infinity are Python's extension, not JSON."""
    raise ValueError(f"{name} is not JSON")
