"""`signoff graphs check`: will a graph's state survive its checkpointer? Name the key path if not.

A value the serializer cannot save fails only when a checkpoint is written (at an interrupt, the
seeds' P17), far from the node that put it there; this finds it before a run does.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Protocol


class Serializer(Protocol):
    """The part of LangGraph's `SerializerProtocol` this check uses."""

    def dumps_typed(self, obj: Any) -> tuple[str, bytes]: ...

    def loads_typed(self, data: tuple[str, bytes]) -> Any: ...


def problems(value: Any, serde: Serializer, *, path: str = "state") -> list[str]:
    """Each key path whose value cannot be saved (or does not come back as itself), with why."""
    if isinstance(value, Mapping):
        found = [p for k, v in value.items() for p in problems(v, serde, path=f"{path}.{k}")]
        return found or _whole(value, serde, path)
    if isinstance(value, list | tuple):
        found = [p for i, v in enumerate(value) for p in problems(v, serde, path=f"{path}[{i}]")]
        return found or _whole(value, serde, path)
    if isinstance(value, float) and not math.isfinite(value):
        return [f"{path}: {value!r} is not a number JSON can hold; store None or a string"]
    return _whole(value, serde, path)


def _whole(value: Any, serde: Serializer, path: str) -> list[str]:
    try:
        back = serde.loads_typed(serde.dumps_typed(value))
    except Exception as e:  # noqa: BLE001 - whatever the serializer raises is the answer
        return [f"{path}: {type(value).__name__} cannot be saved ({e.__class__.__name__}: {e})"]
    if type(back) is not type(value):
        return [f"{path}: {type(value).__name__} comes back as {type(back).__name__}"]
    return []
