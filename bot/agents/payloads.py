"""Interrupt payloads <-> Signoff items: what a graph paused on, and the answer in its own shape.

Pure: no IO, no Slack, no database, no langgraph import. The worker hands us
`Interrupt.value` and `Interrupt.response_schema` (always JSON schema or None once surfaced)
and later resumes with `Command(resume={interrupt_id: resume_value(...)})`.

Kinds and the value each one resumes with:

    hitl_batched        LangChain HITLRequest            {"decisions": [decision, ...]}, item order
    tool_approval       LangChain ToolApprovalRequest    one decision (langgraph validates it)
    agent_inbox         [HumanInterrupt] (classic list)  [HumanResponse]
    agent_inbox_single  HumanInterrupt (bare dict)       HumanResponse
    signoff             request_approval() payload       {"type", "args", "message", "by", "at"}
    generic             anything else                    True / False (`if decision:`),
                                                         or the form answer with a response_schema
    generic_decision    a mapping with "answer_as": "decision"   {"approved", "reason", "by"}
    breakpoint          interrupt_before/after           None (resume with `invoke(None, config)`)

LangChain decisions: {"type": "approve"}, {"type": "edit", "edited_action": {"name", "args"}},
{"type": "reject"[, "message"]}, {"type": "respond", "message"}.
"""

from __future__ import annotations

import dataclasses
import re
import reprlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TypeGuard

from bot.core.items import DecisionType, Item, ItemDecision
from bot.core.vocabulary import Urgency
from bot.errors import InvalidInput
from bot.policy.durations import LONGEST, format_duration
from bot.policy.model import ON_TIMEOUT

HITL_BATCHED = "hitl_batched"
TOOL_APPROVAL = "tool_approval"
AGENT_INBOX = "agent_inbox"
AGENT_INBOX_SINGLE = "agent_inbox_single"
SIGNOFF = "signoff"
GENERIC = "generic"
GENERIC_DECISION = "generic_decision"  # a plain interrupt that asked for {approved, reason, by}
ANSWER_AS = "answer_as"  # interrupt({"question": ..., "answer_as": "decision"}) opts in
BREAKPOINT = "breakpoint"
KINDS = frozenset({HITL_BATCHED, TOOL_APPROVAL, AGENT_INBOX, AGENT_INBOX_SINGLE, SIGNOFF, GENERIC,
                   GENERIC_DECISION, BREAKPOINT})

SIGNOFF_PAYLOAD_TYPE = "signoff_approval"
URGENCIES = tuple(Urgency)
ALL_DECISIONS = tuple(DecisionType)
_DECISION_NAMES = frozenset(d.value for d in DecisionType)
SUMMARY_LIMIT = 150  # Slack's header block limit
_DEFAULT_TOOL_PREFIX = "Tool execution requires approval"  # HumanInTheLoopMiddleware's default
_INBOX_ALLOWED = (("allow_accept", DecisionType.APPROVE), ("allow_edit", DecisionType.EDIT),
                  ("allow_ignore", DecisionType.REJECT), ("allow_respond", DecisionType.RESPOND))
_SUMMARY_KEYS = ("question", "q", "summary", "title", "description", "message", "prompt", "text")


@dataclass(frozen=True, kw_only=True)
class ApprovalSpec:
    """What one interrupt asks, as Signoff items: enough to post a card and answer it later."""

    kind: str
    summary: str
    items: tuple[Item, ...]
    context: dict[str, Any] | None = None
    urgency: str | None = None
    approvers: tuple[str, ...] = ()
    channel: str | None = None
    timeout_seconds: int | None = None  # request_approval(timeout=...): the request's own deadline
    on_timeout: str | None = None


# --- recognising ---------------------------------------------------------------------------


def spec_from_interrupt(value: Any, *, response_schema: Mapping[str, Any] | None = None,
                        graph: str) -> ApprovalSpec:
    """Recognise the payload and describe it as items with their allowed decisions; InvalidInput
    for a payload tagged as Signoff's own (`request_approval`'s) that has a field wrong."""
    schema = response_schema if isinstance(response_schema, Mapping) else None
    readers: tuple[Callable[[Any, Mapping[str, Any] | None], ApprovalSpec | None], ...] = (
        _signoff_spec, _hitl_spec, _tool_approval_spec, _agent_inbox_spec)
    for read in readers:
        try:
            spec = read(value, schema)
        except InvalidInput:
            raise
        except Exception:  # a payload we half-understand is shown generically, never lost
            spec = None
        if spec is not None:
            return spec
    try:
        return _generic_spec(value, schema, graph)
    except Exception:  # an object whose repr or mapping access fails still gets a card
        return ApprovalSpec(kind=GENERIC, summary=_one_line(f"{graph} asks for approval"),
                            items=(Item(action="question", args={"value": object.__repr__(value)}),))


REDACTED = "[redacted]"
_SECRET_WORDS = ("token", "password", "passwd", "secret", "authorization", "cookie")
_KEY_NAME = re.compile(r"(^|[^a-z])keys?$")


def is_secret_name(name: str) -> bool:
    """Whether a state key is named like a secret (token, password, secret, key, authorization, cookie)."""
    lower = name.lower()
    return any(w in lower for w in _SECRET_WORDS) or bool(_KEY_NAME.search(lower)) or name.endswith("Key")


def redact_state(values: Mapping[str, Any], *, show: Sequence[str] | None = None,
                 hide: Sequence[str] = ()) -> dict[str, Any]:
    """Graph state as a card may show it: only `show`'s top-level keys when given, never `hide`'s,
    and never a value under a key named like a secret, at any depth."""
    kept = {k: v for k, v in values.items()
            if (show is None or str(k) in show) and str(k) not in hide}
    return _redact(kept)


def _redact(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: REDACTED if is_secret_name(str(k)) else _redact(v) for k, v in value.items()}
    if _is_list(value):
        return [_redact(v) for v in value]
    return value


def breakpoint_spec(*, graph: str, next_nodes: Sequence[str],
                    values: Mapping[str, Any] | None, show: Sequence[str] | None = None,
                    hide: Sequence[str] = ()) -> ApprovalSpec:
    """A static breakpoint (interrupt_before/after): approve continues to the next nodes, reject stops.

    The card shows the state through `redact_state` (the graph registration's `show`/`hide`)."""
    nodes = ", ".join(str(n) for n in next_nodes) or "the end"
    item = Item(action=f"continue to {nodes}", args={"next": [str(n) for n in next_nodes]},
                description=f"{graph} stopped at a breakpoint before {nodes}.",
                allowed=(DecisionType.APPROVE, DecisionType.REJECT))
    shown = redact_state(values, show=show, hide=hide) if values else None
    context = {"state": _jsonable(shown)} if shown else None
    return ApprovalSpec(kind=BREAKPOINT, summary=_one_line(f"Continue {graph} to {nodes}?"),
                        items=(item,), context=context)


def _hitl_spec(value: Any, _schema: Mapping[str, Any] | None) -> ApprovalSpec | None:
    if not isinstance(value, Mapping):
        return None
    requests, configs = value.get("action_requests"), value.get("review_configs")
    if not _is_list(requests) or not requests or not _is_list(configs):
        return None
    items = []
    for index, request in enumerate(requests):
        config = _review_config(configs, index, request)
        if config is None or not _is_action_request(request):
            return None
        allowed = _decision_types(config.get("allowed_decisions"))
        if allowed is None:
            return None
        schema = config.get("args_schema")
        items.append(Item(action=request["name"], args=_jsonable(request["args"]),
                          description=_optional_str(request.get("description")), allowed=allowed,
                          args_schema=dict(schema) if isinstance(schema, Mapping) else None))
    names = ", ".join(item.action for item in items)
    noun = "tool call" if len(items) == 1 else "tool calls"
    return ApprovalSpec(kind=HITL_BATCHED, summary=_one_line(f"Review {len(items)} {noun}: {names}"),
                        items=tuple(items))


def _review_config(configs: Sequence[Any], index: int, request: Any) -> Mapping[str, Any] | None:
    """The config at the same position if it names this action, else the first that does."""
    name = request.get("name") if isinstance(request, Mapping) else None
    candidates = ([configs[index]] if index < len(configs) else []) + list(configs)
    for config in candidates:
        if isinstance(config, Mapping) and config.get("action_name") == name:
            return config
    return None


def _is_action_request(request: Any) -> bool:
    return (isinstance(request, Mapping) and isinstance(request.get("name"), str) and bool(request["name"])
            and isinstance(request.get("args"), Mapping)
            and isinstance(request.get("description", ""), str))


def _tool_approval_spec(value: Any, schema: Mapping[str, Any] | None) -> ApprovalSpec | None:
    if not (isinstance(value, Mapping) and value.get("type") == "tool_approval"
            and isinstance(value.get("tool_call_id"), str) and _is_action_request(value)):
        return None
    allowed, args_schema = _read_decision_schema(schema) if schema else (None, None)
    description = _optional_str(value.get("description"))
    item = Item(action=value["name"], args=_jsonable(value["args"]), description=description,
                allowed=allowed or ALL_DECISIONS, args_schema=args_schema)
    summary = f"Run tool {item.action}?"
    if note := _custom_note(description, item.action):
        summary += f" {note}"
    return ApprovalSpec(kind=TOOL_APPROVAL, summary=_one_line(summary), items=(item,))


def _custom_note(description: str | None, name: str) -> str | None:
    """The author's own words from a middleware description, without the default boilerplate."""
    if not description:
        return None
    head = description.split(f"\n\nTool: {name}\nArgs:", 1)[0].strip()
    return None if not head or head == _DEFAULT_TOOL_PREFIX else head.splitlines()[0]


def _read_decision_schema(schema: Mapping[str, Any]) -> tuple[tuple[DecisionType, ...] | None,
                                                              Mapping[str, Any] | None]:
    """Allowed decisions and the edit args schema, from the per-call `response_schema`.

    LangChain's `_decision_schema` publishes a discriminated `oneOf` of decision objects (or the
    one decision's object), each with `type: {const: ...}`; the edit branch nests
    `edited_action.args`, usually a `$ref` to the tool's argument schema.
    """
    raw_defs = schema.get("$defs")
    defs: Mapping[str, Any] = raw_defs if isinstance(raw_defs, Mapping) else {}
    branches = schema.get("oneOf") or schema.get("anyOf") or [schema]
    found: list[DecisionType] = []
    args_schema: Mapping[str, Any] | None = None
    for branch in branches if _is_list(branches) else []:
        node = _deref(branch, defs)
        decision = _const(_deref(_properties(node).get("type"), defs))
        if not isinstance(decision, str) or decision not in _DECISION_NAMES or decision in found:
            continue
        found.append(DecisionType(decision))
        if decision == DecisionType.EDIT:
            action = _deref(_properties(node).get("edited_action"), defs)
            args_schema = _standalone(_deref(_properties(action).get("args"), defs), defs)
    return (tuple(found) or None), args_schema


def _deref(node: Any, defs: Mapping[str, Any]) -> Mapping[str, Any]:
    for _ in range(8):  # refs to refs are rare; a cycle must not hang us
        ref = node.get("$ref") if isinstance(node, Mapping) else None
        if not (isinstance(ref, str) and ref.startswith("#/$defs/")):
            break
        node = defs.get(ref.removeprefix("#/$defs/"))
    return node if isinstance(node, Mapping) else {}


def _properties(node: Mapping[str, Any]) -> Mapping[str, Any]:
    props = node.get("properties")
    return props if isinstance(props, Mapping) else {}


def _const(node: Mapping[str, Any]) -> Any:
    if "const" in node:
        return node["const"]
    enum = node.get("enum")
    return enum[0] if _is_list(enum) and len(enum) == 1 else None


def _standalone(node: Mapping[str, Any], defs: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """A schema usable on its own: None when it says nothing, `$defs` carried when it refers to them."""
    if not _properties(node):
        return None
    out = dict(node)
    if defs and _has_ref(node):
        out["$defs"] = dict(defs)
    return out


def _has_ref(node: Any) -> bool:
    if isinstance(node, Mapping):
        return "$ref" in node or any(_has_ref(v) for v in node.values())
    return _is_list(node) and any(_has_ref(v) for v in node)


def _agent_inbox_spec(value: Any, _schema: Mapping[str, Any] | None) -> ApprovalSpec | None:
    wrapped = _is_list(value)
    if wrapped and len(value) != 1:
        return None
    request = value[0] if wrapped else value
    if not isinstance(request, Mapping):
        return None
    action, config = request.get("action_request"), request.get("config")
    if not (isinstance(action, Mapping) and isinstance(action.get("action"), str) and action["action"]
            and isinstance(action.get("args"), Mapping) and isinstance(config, Mapping)
            and all(isinstance(config.get(key), bool) for key, _ in _INBOX_ALLOWED)
            and isinstance(request.get("description"), str | None)):
        return None
    allowed = tuple(decision for key, decision in _INBOX_ALLOWED if config[key])
    if not allowed:
        return None
    description = _optional_str(request.get("description"))
    item = Item(action=action["action"], args=_jsonable(action["args"]), description=description,
                allowed=allowed)
    summary = description.strip().splitlines()[0] if description and description.strip() else None
    return ApprovalSpec(kind=AGENT_INBOX if wrapped else AGENT_INBOX_SINGLE,
                        summary=_one_line(summary or f"Run {item.action}?"), items=(item,))


def _signoff_spec(value: Any, _schema: Mapping[str, Any] | None) -> ApprovalSpec | None:
    if not (isinstance(value, Mapping) and value.get("type") == SIGNOFF_PAYLOAD_TYPE):
        return None
    # Tagged as Signoff's own: a field it gets wrong fails the run, rather than being dropped (a
    # misspelt on_timeout or urgency, a deadline that would never come) or read as a generic
    # question asked of somebody else.
    try:
        return _read_signoff(value)
    except InvalidInput:
        raise
    except Exception as e:
        raise InvalidInput(f"{SIGNOFF_PAYLOAD_TYPE} payload cannot be read: "
                           f"{e.__class__.__name__}: {e}") from e


def _read_signoff(value: Mapping[str, Any]) -> ApprovalSpec:
    if wrong := signoff_payload_problem(value):
        field, problem = wrong
        raise InvalidInput(f"{SIGNOFF_PAYLOAD_TYPE} payload: {field} {problem}, "
                           f"not {reprlib.repr(value.get(field))}", fields={field: problem})
    action, args, summary = value["action"], value.get("args") or {}, value.get("summary") or None
    allowed = tuple(dict.fromkeys(DecisionType(n) for n in value["allowed"]))
    # The summary heads the card; keep the full text only when the header had to cut it.
    description = summary if summary and _one_line(summary) != summary else None
    item = Item(action=action, args=_jsonable(args), description=description, allowed=allowed)
    context, timeout = value.get("context"), value.get("timeout")
    return ApprovalSpec(kind=SIGNOFF, summary=_one_line(summary or f"Approve {action}?"), items=(item,),
                        context=_jsonable(context) if context is not None else None,
                        urgency=value.get("urgency"), approvers=tuple(value.get("approvers") or ()),
                        channel=value.get("channel") or None,
                        timeout_seconds=int(timeout) if timeout is not None else None,
                        on_timeout=value.get("on_timeout"))


def signoff_payload_problem(value: Mapping[str, Any]) -> tuple[str, str] | None:
    """The first field of a `signoff_approval` payload that is wrong, and what is wrong with it;
    None when every field is one `request_approval` could have sent."""
    def text(v: Any) -> bool:
        return isinstance(v, str) and bool(v)

    def number(v: Any) -> bool:
        return isinstance(v, int | float) and not isinstance(v, bool)

    timeout, names = value.get("timeout"), value.get("allowed")
    checks: list[tuple[str, bool, str]] = [
        ("action", text(value.get("action")), "must be a non-empty string"),
        ("args", isinstance(value.get("args"), Mapping | None), "must be an object"),
        ("summary", isinstance(value.get("summary"), str | None), "must be a string"),
        ("context", isinstance(value.get("context"), Mapping | None), "must be an object"),
        ("urgency", value.get("urgency") in (None, *URGENCIES), f"must be one of {', '.join(URGENCIES)}"),
        ("approvers", value.get("approvers") is None or (_is_list(value["approvers"]) and all(
            text(a) for a in value["approvers"])), "must be a list of Slack user ids"),
        ("channel", isinstance(value.get("channel"), str | None), "must be a Slack channel id"),
        ("allowed", _is_list(names) and bool(names) and all(isinstance(n, str) and n in _DECISION_NAMES
                                                             for n in names),
         f"must name some of {', '.join(sorted(_DECISION_NAMES))}"),
        ("timeout", timeout is None or (number(timeout) and 1 <= timeout <= LONGEST.total_seconds()),
         f"must be seconds, from 1 to {int(LONGEST.total_seconds())} ({format_duration(LONGEST)})"),
        ("on_timeout", value.get("on_timeout") in (None, *ON_TIMEOUT),
         f"must be one of {', '.join(ON_TIMEOUT)}"),
    ]
    return next(((field, problem) for field, ok, problem in checks if not ok), None)


def _generic_spec(value: Any, schema: Mapping[str, Any] | None, graph: str) -> ApprovalSpec:
    short = _short_text(value)
    summary = short or _summary_field(value) or (
        f"{graph} asks for an answer" if schema else f"{graph} asks for approval")
    args = _jsonable(value) if isinstance(value, Mapping) else {"value": _jsonable(value)}
    description = value if isinstance(value, str) and not short else None
    if schema is not None:
        item = Item(action=short or "question", args=args, description=description,
                    allowed=(DecisionType.RESPOND,), answer_schema=dict(schema))
    else:
        item = Item(action=short or "question", args=args, description=description,
                    allowed=(DecisionType.APPROVE, DecisionType.REJECT))
    opted = schema is None and isinstance(value, Mapping) and value.get(ANSWER_AS) == "decision"
    return ApprovalSpec(kind=GENERIC_DECISION if opted else GENERIC, summary=_one_line(summary),
                        items=(item,))


def _short_text(value: Any) -> str | None:
    if isinstance(value, str) and value.strip() and len(value.strip()) <= SUMMARY_LIMIT:
        text = value.strip()
        return None if "\n" in text else text
    return None


def _summary_field(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip().splitlines()[0]
    if isinstance(value, Mapping):
        for key in _SUMMARY_KEYS:
            if isinstance(value.get(key), str) and value[key].strip():
                return str(value[key]).strip().splitlines()[0]
    return None


# --- answering -----------------------------------------------------------------------------


def resume_value(kind: str, items: Sequence[Item], decisions: Sequence[ItemDecision]) -> Any:
    """The value to resume the interrupt with, in the shape its payload expects.

    Raises InvalidInput when the decisions do not fit the items (count, allowed type, missing
    edit args or respond text), and for a rejected breakpoint, which is not resumed at all.
    """
    if kind not in KINDS:
        raise InvalidInput(f"unknown interrupt kind {kind!r}")
    if len(items) != len(decisions):
        raise InvalidInput(f"{len(decisions)} decisions for {len(items)} items")
    for item, decision in zip(items, decisions, strict=True):
        _check_decision(item, decision)
    if kind == HITL_BATCHED:
        return {"decisions": [_langchain_decision(i, d) for i, d in zip(items, decisions, strict=True)]}
    item, decision = _single(kind, items, decisions)
    if kind == TOOL_APPROVAL:
        return _langchain_decision(item, decision)
    if kind in (AGENT_INBOX, AGENT_INBOX_SINGLE):
        response = _human_response(item, decision)
        return [response] if kind == AGENT_INBOX else response
    if kind == SIGNOFF:
        return _signoff_answer(item, decision)
    if kind == GENERIC_DECISION:
        return {"approved": decision.type is not DecisionType.REJECT, "reason": decision.message,
                "by": decision.by}
    if kind == BREAKPOINT:
        if decision.type is DecisionType.REJECT:
            raise InvalidInput("a rejected breakpoint is not resumed: leave the thread where it stopped")
        return None
    return _generic_answer(item, decision)


def _check_decision(item: Item, decision: ItemDecision) -> None:
    if decision.type not in item.allowed:
        allowed = ", ".join(a.value for a in item.allowed)
        raise InvalidInput(f"{decision.type.value} is not allowed for {item.action} (allowed: {allowed})")
    if decision.type is DecisionType.EDIT and decision.args is None:
        raise InvalidInput(f"an edit of {item.action} needs the edited args")
    if (decision.type is DecisionType.RESPOND and decision.message is None
            and (item.answer_schema is None or decision.answer is None)):
        raise InvalidInput(f"a response to {item.action} needs a message")


def _single(kind: str, items: Sequence[Item], decisions: Sequence[ItemDecision]) -> tuple[Item, ItemDecision]:
    if len(items) != 1:
        raise InvalidInput(f"a {kind} interrupt has one item, got {len(items)}")
    return items[0], decisions[0]


def _langchain_decision(item: Item, decision: ItemDecision) -> dict[str, Any]:
    if decision.type is DecisionType.EDIT:
        return {"type": "edit", "edited_action": {"name": item.action, "args": dict(decision.args or {})}}
    if decision.type is DecisionType.REJECT:
        # RejectDecision.message is NotRequired[str]: None would fail the per-call schema.
        return {"type": "reject", "message": decision.message} if decision.message else {"type": "reject"}
    if decision.type is DecisionType.RESPOND:
        return {"type": "respond", "message": decision.message}
    return {"type": "approve"}


def _human_response(item: Item, decision: ItemDecision) -> dict[str, Any]:
    if decision.type is DecisionType.EDIT:
        return {"type": "edit", "args": {"action": item.action, "args": dict(decision.args or {})}}
    if decision.type is DecisionType.RESPOND:
        return {"type": "response", "args": decision.message}
    if decision.type is DecisionType.REJECT:
        return {"type": "ignore", "args": decision.message}  # the reason, for the graph to log or show
    return {"type": "accept", "args": None}


def _signoff_answer(item: Item, decision: ItemDecision) -> dict[str, Any]:
    args = decision.args if decision.type is DecisionType.EDIT else item.args
    return {"type": decision.type.value, "args": dict(args or {}), "message": decision.message,
            "by": decision.by, "at": decision.at.isoformat()}


def _generic_answer(item: Item, decision: ItemDecision) -> Any:
    if item.answer_schema is not None:
        return decision.answer if decision.answer is not None else decision.message
    # A plain `interrupt("Approve? (True/False)")` is answered the way such graphs read it:
    # `if decision:`. The reason of a rejection stays in the audit log and on the card.
    return decision.type is not DecisionType.REJECT


# --- small helpers -------------------------------------------------------------------------


def _is_list(value: Any) -> TypeGuard[list[Any] | tuple[Any, ...]]:
    return isinstance(value, list | tuple)


def _optional_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _decision_types(names: Any) -> tuple[DecisionType, ...] | None:
    """Known decision names in their given order; unknown ones dropped; None when none is left."""
    if not _is_list(names):
        return None
    found = tuple(dict.fromkeys(DecisionType(n) for n in names
                                if isinstance(n, str) and n in _DECISION_NAMES))
    return found or None


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= SUMMARY_LIMIT else line[: SUMMARY_LIMIT - 1] + "…"


def _jsonable(value: Any, depth: int = 0) -> Any:
    """A JSON-safe copy for storage and display; odd objects become their `repr`."""
    if depth > 32:
        return repr(value)
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v, depth + 1) for v in value]
    try:
        if callable(getattr(value, "model_dump", None)):
            return _jsonable(value.model_dump(), depth + 1)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return _jsonable(dataclasses.asdict(value), depth + 1)
    except Exception:
        pass
    return repr(value)
