"""Payload recognition and answers without running a graph: odd shapes, summaries, refusals."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from bot.agents.payloads import ApprovalSpec, resume_value, spec_from_interrupt
from bot.core.items import DecisionType, Item
from bot.errors import InvalidInput
from tests.agents.support import decide

HITL = {"action_requests": [{"name": "send_email", "args": {"to": "a@b"}, "description": "d"}],
        "review_configs": [{"action_name": "send_email", "allowed_decisions": ["approve", "reject"]}]}
TOOL = {"type": "tool_approval", "tool_call_id": "c1", "name": "send_email", "args": {"to": "a@b"},
        "description": "Tool execution requires approval\n\nTool: send_email\nArgs: {'to': 'a@b'}"}
INBOX = {"action_request": {"action": "rm", "args": {}}, "description": None,
         "config": {"allow_accept": True, "allow_edit": False, "allow_respond": False, "allow_ignore": True}}


def spec(value: Any, schema: Any = None) -> ApprovalSpec:
    return spec_from_interrupt(value, response_schema=schema, graph="g")


def with_(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return base | changes


@pytest.mark.parametrize("value", [
    None, 42, "", [], [INBOX, INBOX], {"action_requests": []},
    with_(HITL, action_requests=[{"name": "send_email"}]),
    with_(HITL, action_requests=[{"name": 3, "args": {}}]),
    with_(HITL, review_configs=[{"action_name": "other", "allowed_decisions": ["approve"]}]),
    with_(HITL, review_configs=[{"action_name": "send_email", "allowed_decisions": ["shrug"]}]),
    with_(HITL, review_configs="nope"),
    with_(TOOL, tool_call_id=None), with_(TOOL, args="to=a@b"), with_(TOOL, name=""),
    with_(INBOX, config={"allow_accept": True}),
    with_(INBOX, config={"allow_accept": False, "allow_edit": False, "allow_respond": False,
                         "allow_ignore": False}),
    with_(INBOX, action_request={"action": "rm"}),
    object(), {1: object()}, ["a", "b"],
])
def test_malformed_payloads_fall_back_to_generic(value: Any) -> None:
    result = spec(value)
    assert result.kind == "generic"
    (item,) = result.items
    assert item.allowed == (DecisionType.APPROVE, DecisionType.REJECT)
    assert result.summary


def test_generic_args_are_json_safe() -> None:
    when = datetime(2025, 1, 2, tzinfo=UTC)
    assert spec({"at": when, "tags": {"x"}, 1: (2, 3)}).items[0].args == {
        "at": "2025-01-02T00:00:00+00:00", "tags": ["x"], "1": [2, 3]}
    assert spec(7).items[0].args == {"value": 7}


def test_generic_text_summaries() -> None:
    short = spec("  Deploy to prod?  ")
    assert (short.summary, short.items[0].action, short.items[0].args) == (
        "Deploy to prod?", "Deploy to prod?", {"value": "  Deploy to prod?  "})
    long = spec("Deploy?\n" + "details " * 50)
    assert long.summary == "Deploy?" and long.items[0].action == "question"
    assert long.items[0].description and long.items[0].description.startswith("Deploy?\n")
    assert spec({"x": 1}).summary == "g asks for approval"
    assert spec({"question": "Ship it?"}).summary == "Ship it?"
    assert len(spec("word " * 100).summary) <= 150


def test_generic_with_schema_allows_only_a_response() -> None:
    form = {"type": "object", "properties": {"n": {"type": "integer"}}}
    result = spec({"x": 1}, form)
    (item,) = result.items
    assert result.summary == "g asks for an answer"
    assert item.allowed == (DecisionType.RESPOND,) and item.answer_schema == form
    assert resume_value("generic", result.items, [decide("respond", answer={"n": 2})]) == {"n": 2}
    assert resume_value("generic", result.items, [decide("respond", message="two")]) == "two"
    with pytest.raises(InvalidInput):
        resume_value("generic", result.items, [decide("approve")])


def test_a_schema_that_is_not_a_mapping_is_ignored() -> None:
    assert spec("Go?", "not a schema").items[0].allowed == (DecisionType.APPROVE, DecisionType.REJECT)


def test_hitl_configs_match_by_name_when_out_of_order() -> None:
    value = {"action_requests": [{"name": "a", "args": {}}, {"name": "b", "args": {"k": 1}}],
             "review_configs": [{"action_name": "b", "allowed_decisions": ["respond"],
                                 "args_schema": {"type": "object", "properties": {"k": {}}}},
                                {"action_name": "a", "allowed_decisions": ["approve", "approve", "edit"]}]}
    a, b = spec(value).items
    assert a.allowed == (DecisionType.APPROVE, DecisionType.EDIT)
    assert b.allowed == (DecisionType.RESPOND,)
    assert b.args_schema == {"type": "object", "properties": {"k": {}}}
    assert spec(value).summary == "Review 2 tool calls: a, b"
    assert spec(HITL).summary == "Review 1 tool call: send_email"


def test_tool_approval_without_schema_allows_everything() -> None:
    result = spec(TOOL)
    assert result.kind == "tool_approval" and result.summary == "Run tool send_email?"
    assert result.items[0].allowed == tuple(DecisionType)
    assert result.items[0].args_schema is None


def test_tool_approval_single_decision_schema() -> None:
    only_edit = {
        "$defs": {"EditedAction": {"type": "object", "properties": {
            "name": {"const": "send_email"}, "args": {"$ref": "#/$defs/Args"}}},
            "Args": {"type": "object", "properties": {"to": {"$ref": "#/$defs/Email"}}},
            "Email": {"type": "string"}},
        "type": "object", "properties": {"type": {"const": "edit"},
                                         "edited_action": {"$ref": "#/$defs/EditedAction"}}}
    (item,) = spec(TOOL, only_edit).items
    assert item.allowed == (DecisionType.EDIT,)
    assert item.args_schema is not None
    assert item.args_schema["properties"] == {"to": {"$ref": "#/$defs/Email"}}
    assert item.args_schema["$defs"]["Email"] == {"type": "string"}


def test_tool_approval_with_an_unreadable_schema_keeps_all_decisions() -> None:
    cyclic = {"$defs": {"A": {"$ref": "#/$defs/A"}}, "oneOf": [{"$ref": "#/$defs/A"}, {"const": {}}]}
    assert spec(TOOL, cyclic).items[0].allowed == tuple(DecisionType)


def test_custom_tool_description_joins_the_summary() -> None:
    value = with_(TOOL, description="Mails a customer\n\nTool: send_email\nArgs: {}")
    assert spec(value).summary == "Run tool send_email? Mails a customer"


def test_signoff_payload_defaults() -> None:
    result = spec({"type": "signoff_approval", "action": "pay", "args": None,
                   "allowed": ["approve", "approve"], "channel": ""})
    assert result.kind == "signoff" and result.summary == "Approve pay?"
    assert result.urgency is None and result.channel is None and result.context is None
    assert result.items[0].allowed == (DecisionType.APPROVE,) and result.items[0].args == {}
    assert result.timeout_seconds is None and result.on_timeout is None


@pytest.mark.parametrize(("change", "field"), [
    ({"action": ""}, "action"), ({"action": None}, "action"), ({"allowed": []}, "allowed"),
    ({"allowed": ["approve", "nope"]}, "allowed"), ({"allowed": "approve"}, "allowed"),
    ({"allowed": [["approve"]]}, "allowed"), ({"urgency": ["high"]}, "urgency"),
    ({"approvers": "U0BOB"}, "approvers"), ({"approvers": [7]}, "approvers"), ({"args": []}, "args"),
    ({"context": "x"}, "context"), ({"summary": 3}, "summary"), ({"urgency": "urgent"}, "urgency"),
    ({"channel": ["C1"]}, "channel"), ({"timeout": True}, "timeout"), ({"timeout": "60"}, "timeout"),
    ({"timeout": 0.5}, "timeout"), ({"timeout": float("nan")}, "timeout"),
    ({"timeout": float("inf")}, "timeout"),
    ({"timeout": 366 * 86400 + 1}, "timeout"), ({"on_timeout": "rejct"}, "on_timeout"),
])
def test_a_signoff_payload_with_a_wrong_field_is_refused_by_name(change: dict[str, Any], field: str) -> None:
    # Tagged as Signoff's own, it is never read as something else: a wrong field is an error that
    # names it, not a field dropped (no deadline, the default urgency) or a generic question.
    good = {"type": "signoff_approval", "action": "pay", "allowed": ["approve"], "timeout": 60}
    assert spec(good).timeout_seconds == 60
    with pytest.raises(InvalidInput, match=f"signoff_approval payload: {field} ") as refused:
        spec(good | change)
    assert list(refused.value.fields) == [field]


ITEM = Item(action="send_email", args={"to": "a@b"}, allowed=(DecisionType.APPROVE, DecisionType.EDIT))


@pytest.mark.parametrize(("kind", "items", "decisions", "error"), [
    ("nonsense", [ITEM], [decide("approve")], "unknown interrupt kind"),
    ("tool_approval", [ITEM], [], "0 decisions for 1 items"),
    ("tool_approval", [ITEM], [decide("reject")], "reject is not allowed"),
    ("tool_approval", [ITEM], [decide("edit")], "needs the edited args"),
    ("tool_approval", [ITEM, ITEM], [decide("approve"), decide("approve")], "has one item"),
    ("hitl_batched", [Item(action="q", allowed=(DecisionType.RESPOND,))], [decide("respond")],
     "needs a message"),
])
def test_resume_value_refuses_decisions_that_do_not_fit(kind: str, items: list[Item], decisions: list[Any],
                                                        error: str) -> None:
    with pytest.raises(InvalidInput, match=error):
        resume_value(kind, items, decisions)


def test_signoff_answer_shape() -> None:
    item = Item(action="pay", args={"eur": 5}, allowed=tuple(DecisionType))
    assert resume_value("signoff", [item], [decide("respond", message="later", by="system")]) == {
        "type": "respond", "args": {"eur": 5}, "message": "later", "by": "system",
        "at": "2025-03-01T12:00:00+00:00"}


def test_state_on_breakpoint_cards_hides_secret_named_keys_at_any_depth() -> None:
    from bot.agents.payloads import REDACTED, redact_state

    state = {"draft": {"to": "a@example.com", "Authorization": "Bearer x"}, "api_key": "k", "keys": [1],
             "monkey": "ok", "apiKey": "k2", "session_cookie": "c", "db_password": "p", "refresh_token": "t",
             "items": [{"client_secret": "s", "name": "n"}]}
    shown = redact_state(state)
    assert shown["draft"] == {"to": "a@example.com", "Authorization": REDACTED}
    assert shown["monkey"] == "ok" and shown["items"] == [{"client_secret": REDACTED, "name": "n"}]
    assert all(shown[k] == REDACTED for k in ("api_key", "keys", "apiKey", "session_cookie", "db_password",
                                              "refresh_token"))
    assert redact_state(state, show=["draft", "monkey"]) == {"draft": shown["draft"], "monkey": "ok"}
    assert "draft" not in redact_state(state, hide=["draft"])
