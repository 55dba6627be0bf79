"""Pure helpers for @requires_approval: a call's arguments as JSON, a summary, and applying edits."""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import enum
import functools
import inspect
import json
import uuid
from collections.abc import Callable, Mapping
from pathlib import PurePath
from typing import Any

from signoff_client.errors import SignoffError

SummaryTemplate = str | Callable[[dict[str, Any]], str] | None
_RECEIVERS = ("self", "cls")
_COMPACT_LIMIT = 300


def bind(
    signature: inspect.Signature, args: tuple[Any, ...], kwargs: Mapping[str, Any]
) -> inspect.BoundArguments:
    """The call's arguments bound to the signature, with defaults applied (a bad call raises TypeError)."""
    bound = signature.bind(*args, **kwargs)
    bound.apply_defaults()
    return bound


def approval_args(bound: inspect.BoundArguments) -> dict[str, Any]:
    """The arguments as a JSON-able dict: **kwargs flattened in, *args as a list, self/cls left out."""
    out: dict[str, Any] = {}
    for name, value in bound.arguments.items():
        kind = bound.signature.parameters[name].kind
        if _is_receiver(bound.signature, name):
            continue
        if kind is inspect.Parameter.VAR_KEYWORD:
            out.update({k: jsonable(v, where=k) for k, v in value.items()})
        else:
            out[name] = jsonable(value, where=name)
    return out


def jsonable(value: Any, *, where: str) -> Any:
    """`value` as JSON data; common types are converted, anything else is a TypeError naming `where`."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, enum.Enum):
        return jsonable(value.value, where=where)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v, where=f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v, where=f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, set | frozenset):
        return [jsonable(v, where=f"{where}[]") for v in sorted(value, key=repr)]
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID | PurePath):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return jsonable(dataclasses.asdict(value), where=where)
    raise TypeError(f"argument {where!r} is a {type(value).__name__}, which cannot be shown to approvers "
                    "as JSON; pass JSON-able values (or dataclasses, enums, dates, decimals)")


def render_summary(template: SummaryTemplate, *, action: str, args: dict[str, Any]) -> str:
    """The card's summary: a str.format template over the args, a callable of them, or action(args)."""
    if template is None:
        return f"{action}({compact(args)})"
    if callable(template):
        return str(template(args))
    try:
        return template.format(**args)
    except (KeyError, IndexError) as e:
        raise SignoffError(f"summary template {template!r} names {e} which is not an argument") from e


def compact(args: Mapping[str, Any], limit: int = _COMPACT_LIMIT) -> str:
    """`a=1, b="x"` shortened to `limit` characters."""
    dumps = functools.partial(json.dumps, ensure_ascii=False, separators=(",", ":"))
    text = ", ".join(f"{k}={dumps(v)}" for k, v in args.items())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def apply_edits(bound: inspect.BoundArguments, sent: Mapping[str, Any],
                edited: Mapping[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Positional and keyword arguments with the approver's changed values laid over the originals.

    Only keys whose edited value differs from what was sent are replaced, so unchanged arguments keep
    their original Python objects. A key the function cannot take is refused: an approval fails closed.
    """
    params = bound.signature.parameters
    varkw = next((n for n, p in params.items() if p.kind is inspect.Parameter.VAR_KEYWORD), None)
    arguments = dict(bound.arguments)
    for key, value in edited.items():
        if key in sent and sent[key] == value:
            continue
        if key in params and not _is_receiver(bound.signature, key) and key != varkw:
            var_positional = params[key].kind is inspect.Parameter.VAR_POSITIONAL
            arguments[key] = tuple(value) if var_positional and isinstance(value, list) else value
        elif varkw is not None and key not in params:
            arguments[varkw] = {**arguments.get(varkw, {}), key: value}
        else:
            raise SignoffError(f"the approved edit names argument {key!r}, which the function does not take")
    replaced = inspect.BoundArguments(bound.signature, arguments)
    return replaced.args, replaced.kwargs


def _is_receiver(signature: inspect.Signature, name: str) -> bool:
    """True for the `self`/`cls` first parameter of a method decorated in its class body."""
    first = next(iter(signature.parameters), None)
    return name == first and name in _RECEIVERS
