"""The part of JSON schema a Slack form can check: types, enums, bounds, lengths, required keys.

Not a full validator (no $ref, oneOf, patterns, formats): the agent side validates again with
the real schema; this catches the mistakes a person makes typing into a form, and says how to
fix them in words a person reads ("amount: must be an integer (got '3.5')").
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from blocks.text import as_text, clip, one_line, to_json

TYPES = {
    "string": "text",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "object": "a JSON object",
    "array": "a JSON list",
    "null": "null",
}
ROOT = "value"  # what messages call a value that is not a property of anything
_SHOWN = 40  # how much of a wrong value a message repeats
_LISTED = 10  # how many allowed values a message lists
_ENOUGH = 3  # stop collecting a list's problems past this many


def problems(schema: Mapping[str, Any] | None, value: Any, path: str) -> list[str]:
    """How value breaks schema (type, enum, bounds, lengths, required), each naming its field."""
    name = clipped(path) if path else ROOT
    if not isinstance(schema, Mapping):
        return []
    enum = schema.get("enum")
    if isinstance(enum, list) and not any(same(choice, value) for choice in enum):
        return [f"{name}: must be one of: {listing(enum)}"]
    declared = schema.get("type")
    kinds = [declared] if isinstance(declared, str) else declared if isinstance(declared, list) else []
    known = [kind for kind in kinds if kind in TYPES]
    if known and not any(is_type(value, kind) for kind in known):
        wanted = " or ".join(TYPES[kind] for kind in known)
        return [f"{name}: must be {wanted} (got {shown(value)})"]
    if isinstance(value, str):
        return _length_problems(schema, value, name)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _bound_problems(schema, value, name)
    if isinstance(value, dict):
        return _object_problems(schema, value, path)
    if isinstance(value, list):
        return _list_problems(schema, value, path)
    return []


def _length_problems(schema: Mapping[str, Any], value: str, name: str) -> list[str]:
    """minLength / maxLength, counted in characters as JSON schema does."""
    least, most = schema.get("minLength"), schema.get("maxLength")
    if isinstance(least, int) and len(value) < least:
        return [f"{name}: must be at least {least} characters long (it has {len(value)})"]
    if isinstance(most, int) and len(value) > most:
        return [f"{name}: must be at most {most} characters long (it has {len(value)})"]
    return []


def _bound_problems(schema: Mapping[str, Any], value: float, name: str) -> list[str]:
    """minimum, maximum, their exclusive forms, and multipleOf."""
    checks = (
        ("minimum", lambda bound: value >= bound, "at least"),
        ("maximum", lambda bound: value <= bound, "at most"),
        ("exclusiveMinimum", lambda bound: value > bound, "greater than"),
        ("exclusiveMaximum", lambda bound: value < bound, "less than"),
    )
    for keyword, holds, words in checks:
        bound = schema.get(keyword)
        if is_type(bound, "number") and not holds(bound):
            return [f"{name}: must be {words} {to_json(bound)}"]
    step = schema.get("multipleOf")
    if isinstance(step, int | float) and is_type(step, "number") and step > 0:
        ratio = value / step
        if not math.isclose(ratio, round(ratio), rel_tol=0, abs_tol=1e-9):
            return [f"{name}: must be a multiple of {to_json(step)}"]
    return []


def _object_problems(schema: Mapping[str, Any], value: dict[str, Any], path: str) -> list[str]:
    """Required keys present, and each listed property right."""
    found: list[str] = []
    required = schema.get("required")
    for key in required if isinstance(required, list) else []:
        if isinstance(key, str) and key not in value:
            found.append(f"{clipped(_join(path, key))}: is required")
    properties = schema.get("properties")
    for key, sub in properties.items() if isinstance(properties, Mapping) else []:
        if key in value:
            found.extend(problems(sub, value[key], _join(path, str(key))))
    return found


def _list_problems(schema: Mapping[str, Any], value: list[Any], path: str) -> list[str]:
    """minItems / maxItems, and each item against `items`."""
    name = clipped(path) if path else ROOT
    least, most = schema.get("minItems"), schema.get("maxItems")
    if isinstance(least, int) and len(value) < least:
        return [f"{name}: must have at least {least} items (it has {len(value)})"]
    if isinstance(most, int) and len(value) > most:
        return [f"{name}: must have at most {most} items (it has {len(value)})"]
    items = schema.get("items")
    found: list[str] = []
    for index, item in enumerate(value):
        found.extend(problems(items, item, f"{path or ROOT}[{index}]"))
        if len(found) > _ENOUGH:
            break
    return found


def is_type(value: Any, kind: str) -> bool:
    """JSON schema's reading of a type name (an integer-valued float is an integer)."""
    if kind == "string":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "null":
        return value is None
    if kind == "object":
        return isinstance(value, dict)
    if kind == "array":
        return isinstance(value, list)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return kind == "number" or isinstance(value, int) or value.is_integer()


def same(a: Any, b: Any) -> bool:
    """JSON equality: true is not 1, though 1 is 1.0."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return bool(a == b)


def listing(choices: list[Any]) -> str:
    """Allowed values for an error message: low, normal, high."""
    shown = [clipped(one_line(as_text(choice))) for choice in choices[:_LISTED]]
    return ", ".join(shown) + (", …" if len(choices) > _LISTED else "")


def shown(value: Any) -> str:
    """A wrong value as an error message repeats it: 'text' quoted, anything else as JSON."""
    if isinstance(value, str):
        return f"'{clipped(one_line(value))}'"
    return clipped(to_json(value))


def clipped(text: str) -> str:
    """Text cut short for an error message."""
    return clip(text, _SHOWN)[0]


def _join(path: str, key: str) -> str:
    """A nested property's name in messages: parent.child."""
    return f"{path}.{key}" if path else key
