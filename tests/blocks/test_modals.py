"""Edit, respond and per-item reject modals: ids, prefilled forms read back, and limits."""

from __future__ import annotations

from typing import Any

import pytest

from blocks import ids
from blocks.card import edit_modal, reject_modal, respond_modal
from blocks.forms import parse_form
from tests.blocks import samples
from tests.blocks.checks import check_view, submitted
from tests.blocks.test_limits import MEGABYTE, NASTY

REQUEST = "req_01JD3W4K8Z"
SUMMARY = "Refund order #4312 and tell ops"


def _inputs(view: dict[str, Any]) -> list[str]:
    return [block["block_id"] for block in view["blocks"] if block["type"] == "input"]


def test_reject_modal_names_the_item_it_rejects() -> None:
    view = reject_modal(request_id=REQUEST, summary="x", index=3)
    check_view(view)
    assert view["private_metadata"] == "req_01JD3W4K8Z#3"
    assert ids.parse_button_value(view["private_metadata"]) == (REQUEST, 3)
    assert reject_modal(request_id=REQUEST, summary="x")["private_metadata"] == REQUEST


@pytest.mark.parametrize("schema", [samples.PAYMENT_SCHEMA, None])
def test_edit_form_submitted_unchanged_gives_the_same_args(schema: dict[str, Any] | None) -> None:
    _, payment = samples.items()
    view = edit_modal(
        request_id=REQUEST, index=1, action=payment.action, args=payment.args, args_schema=schema,
        summary=SUMMARY
    )
    check_view(view)
    assert view["callback_id"] == ids.VIEW_EDIT
    assert view["blocks"][0]["text"]["text"].startswith(f"*Request:* {SUMMARY}\n")  # which request this is
    assert view["private_metadata"] == "req_01JD3W4K8Z#1"
    assert _inputs(view) == ["field_amount", "field_currency", "field_memo", "field_expedite"]
    state = submitted(view["blocks"])
    assert parse_form(schema, state, fallback_args=payment.args) == (payment.args, {})
    state = submitted(view["blocks"], {"field_amount": "300", "field_expedite": "true"})
    assert parse_form(schema, state, fallback_args=payment.args) == (
        {**payment.args, "amount": 300, "expedite": True},
        {},
    )


def test_edit_of_nested_args_is_one_json_textarea_read_back_as_an_object() -> None:
    email, _ = samples.items()
    view = edit_modal(request_id=REQUEST, index=0, action=email.action, args=email.args, args_schema=None,
        summary=SUMMARY)
    check_view(view)
    assert _inputs(view) == [ids.BLOCK_FORM_JSON]
    assert parse_form(None, submitted(view["blocks"]), fallback_args=email.args) == (email.args, {})
    typed = {ids.BLOCK_FORM_JSON: '{"to": "a@example.com", "cc": []}'}
    value, errors = parse_form(None, submitted(view["blocks"], typed), fallback_args=email.args)
    assert errors == {} and value == {"to": "a@example.com", "cc": []}


def test_edit_against_a_nested_schema_is_json_checked_against_that_schema() -> None:
    schema = {
        "type": "object",
        "properties": {"to": {"type": "string"}, "cc": {"type": "array", "items": {"type": "string"}}},
        "required": ["to"],
    }
    email, _ = samples.items()
    view = edit_modal(request_id=REQUEST, index=0, action=email.action, args=email.args, args_schema=schema,
        summary=SUMMARY)
    assert _inputs(view) == [ids.BLOCK_FORM_JSON]
    typed = {ids.BLOCK_FORM_JSON: '{"cc": [1]}'}
    _, errors = parse_form(schema, submitted(view["blocks"], typed), fallback_args=email.args)
    assert errors == {ids.BLOCK_FORM_JSON: "to: is required; cc[0]: must be text (got 1)"}


def test_args_too_big_to_edit_in_slack_get_an_explanation_and_no_submit() -> None:
    view = edit_modal(
        request_id="r" * 255, index=59, action=NASTY * 100, args={"body": MEGABYTE}, args_schema=None,
        summary=NASTY * 100
    )
    check_view(view)
    assert "submit" not in view and _inputs(view) == []
    [note] = [b for b in view["blocks"] if b["block_id"] == ids.BLOCK_EDIT_PROBLEM]
    assert "too long to edit in Slack" in note["text"]["text"]
    assert view["private_metadata"] == "r" * 255 + "#59"


def test_edit_with_a_huge_schema_falls_back_to_json_within_the_modal_limit() -> None:
    schema = {"type": "object", "properties": {f"p{n}": {"type": "integer"} for n in range(150)}}
    args = {f"p{n}": n for n in range(150)}
    view = edit_modal(request_id=REQUEST, index=0, action="bulk", args=args, args_schema=schema,
        summary=SUMMARY)
    check_view(view)
    assert _inputs(view) == [ids.BLOCK_FORM_JSON]
    assert parse_form(schema, submitted(view["blocks"]), fallback_args=args) == (args, {})


def test_respond_without_schema_is_one_free_text_answer() -> None:
    view = respond_modal(request_id=REQUEST, index=None, prompt=MEGABYTE + NASTY, answer_schema=None)
    check_view(view)
    assert view["callback_id"] == ids.VIEW_RESPOND
    assert view["private_metadata"] == REQUEST
    [answer] = [b for b in view["blocks"] if b["type"] == "input"]
    assert answer["block_id"] == ids.BLOCK_RESPONSE
    assert answer["element"]["action_id"] == ids.ACTION_RESPONSE
    assert answer["optional"] is False and answer["element"]["multiline"] is True
    blank = respond_modal(request_id=REQUEST, index=0, prompt=" \n", answer_schema=None)
    check_view(blank)
    assert blank["blocks"][0]["text"]["text"] == "_No question given._"


def test_respond_with_schema_is_a_form_read_back_against_it() -> None:
    view = respond_modal(request_id=REQUEST, index=2, prompt="What now?", answer_schema=samples.ANSWER_SCHEMA)
    check_view(view)
    assert _inputs(view) == ["field_decision", "field_note", "field_days", "field_extra"]
    typed = {"field_decision": "2", "field_days": "3", "field_extra": '{"ticket": "ZD-1"}'}
    state = submitted(view["blocks"], typed)
    assert parse_form(samples.ANSWER_SCHEMA, state) == (
        {"decision": "escalate", "days": 3, "extra": {"ticket": "ZD-1"}},
        {},
    )
    _, errors = parse_form(samples.ANSWER_SCHEMA, submitted(view["blocks"], {"field_days": "-1"}))
    assert errors == {"field_decision": "decision: is required", "field_days": "days: must be at least 0"}


def test_respond_with_a_scalar_schema_is_a_json_textarea() -> None:
    schema = {"type": "integer", "maximum": 10}
    view = respond_modal(request_id=REQUEST, index=0, prompt="How many?", answer_schema=schema)
    check_view(view)
    assert _inputs(view) == [ids.BLOCK_FORM_JSON]
    assert parse_form(schema, submitted(view["blocks"], {ids.BLOCK_FORM_JSON: "7"})) == (7, {})
    assert parse_form(schema, submitted(view["blocks"], {ids.BLOCK_FORM_JSON: "11"}))[1] == {
        ids.BLOCK_FORM_JSON: "value: must be at most 10"
    }


@pytest.mark.parametrize("index", [None, 0, 10_000])
def test_modals_refuse_request_ids_they_cannot_carry(index: int | None) -> None:
    for bad in ("", "r" * 256, "req#1"):
        with pytest.raises(ValueError):
            edit_modal(request_id=bad, index=index, action="a", args={}, args_schema=None, summary=SUMMARY)
        with pytest.raises(ValueError):
            respond_modal(request_id=bad, index=index, prompt="?", answer_schema=None)
        with pytest.raises(ValueError):
            reject_modal(request_id=bad, summary="x", index=index)
