"""What an API request asks approvers for: its one item, with the decisions and forms it allows."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from blocks.schema import problems
from bot.api.schemas import CreateRequest
from bot.core.items import Item
from bot.core.vocabulary import DecisionType
from bot.errors import InvalidInput
from bot.policy.durations import parse_duration
from bot.service import NewRequest

_PLAIN = (DecisionType.APPROVE, DecisionType.REJECT)
_RICH = ("allowed_decisions", "args_schema", "response_schema", "approve_comment")


def new_request(body: CreateRequest) -> NewRequest:
    """The service's request for a `POST /v1/requests` body; InvalidInput names a field that misfits."""
    fields: dict[str, Any] = body.model_dump(exclude=set(_RICH))
    fields["timeout"] = _duration(body.timeout)
    if (body.allowed_decisions is None and body.args_schema is None and body.response_schema is None
            and body.approve_comment == "none"):
        return NewRequest(**fields)  # a plain approve/reject request, stored as it always was
    allowed = tuple(dict.fromkeys(body.allowed_decisions or _PLAIN))
    _check(body, allowed)
    item = Item(action=body.action, args=dict(body.args), allowed=allowed,
                args_schema=body.args_schema, answer_schema=body.response_schema,
                approve_comment=body.approve_comment)
    return NewRequest(**fields, items=[item])


def _check(body: CreateRequest, allowed: tuple[DecisionType, ...]) -> None:
    if body.response_schema is not None and DecisionType.RESPOND not in allowed:
        raise InvalidInput("a response_schema needs `respond` among allowed_decisions",
                           fields={"response_schema": "add respond to allowed_decisions, or drop it"})
    for name, schema in (("args_schema", body.args_schema), ("response_schema", body.response_schema)):
        if schema is not None and schema.get("type", "object") != "object":
            raise InvalidInput(f"{name} must describe an object",
                               fields={name: 'use {"type": "object", ...}'})
    if body.args_schema is not None and (wrong := problems(body.args_schema, dict(body.args), "args")):
        raise InvalidInput("args do not fit args_schema: " + "; ".join(wrong),
                           fields={"args": "; ".join(wrong)})


def _duration(value: int | str | None) -> timedelta | None:
    """A request's `timeout`: seconds, or a duration such as `30m` (the policy file's syntax)."""
    if value is None:
        return None
    if isinstance(value, int):
        return timedelta(seconds=value)
    try:
        return parse_duration(value)
    except ValueError as e:
        raise InvalidInput(f"timeout {value!r}: {e}", fields={"timeout": str(e)}) from None
