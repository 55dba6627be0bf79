"""JSON schema forms: what Slack shows, what comes back, and every way a submission is refused."""

from __future__ import annotations

import json
from typing import Any

import pytest

from blocks import ids
from blocks.forms import edit_schema, form_blocks, parse_form, prefill_problem
from tests.blocks.checks import check_view, submitted, units

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "priority": {"type": "string", "enum": ["low", "normal", "high"], "title": "Priority"},
        "amount": {"type": "integer", "minimum": 1, "maximum": 500, "description": "In dollars"},
        "ratio": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
        "note": {"type": "string", "minLength": 3, "maxLength": 200, "format": "ignored"},
        "notify": {"type": "boolean"},
        "level": {"enum": [1, 2.5, None, True, {"x": 1}]},
        "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 3},
        "meta": {"type": "object", "required": ["id"], "properties": {"id": {"type": "integer"}}},
        "step": {"type": "integer", "multipleOf": 5},
        "anything": {},
        "weird name!": {"type": "string"},
    },
    "required": ["priority", "amount", "notify"],
}
VALUES: dict[str, Any] = {
    "priority": "high",
    "amount": 340,
    "ratio": 0.25,
    "note": "line one\nline two & <three>",
    "notify": False,
    "level": None,
    "tags": ["a", "b"],
    "meta": {"id": 7, "extra": [1, {"deep": True}]},
    "step": 15,
    "anything": "just text",
    "weird name!": "🎉",
}


def _view(blocks: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": "test",
        "private_metadata": "req_1",
        "title": {"type": "plain_text", "text": "Test"},
        "blocks": blocks,
    }


def _by_id(blocks: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {block["block_id"]: block for block in blocks}


def _errors(typed: dict[str, str | None], schema: dict[str, Any] = SCHEMA) -> dict[str, str]:
    blocks = form_blocks(schema, VALUES)
    value, errors = parse_form(schema, submitted(blocks, typed))
    assert (value is None) == bool(errors)
    return errors


def test_every_kind_of_property_gets_its_input() -> None:
    blocks = form_blocks(SCHEMA, VALUES)
    check_view(_view(blocks))
    by_id = _by_id(blocks)
    assert list(by_id) == [
        "field_priority", "field_amount", "field_ratio", "field_note", "field_notify",
        "field_level", "field_tags", "field_meta", "field_step", "field_anything", "field#10",
    ]  # fmt: skip
    kinds = {block_id: block["element"]["type"] for block_id, block in by_id.items()}
    assert {k for k, v in kinds.items() if v == "static_select"} == {
        "field_priority", "field_notify", "field_level",
    }  # fmt: skip
    assert by_id["field_priority"]["label"]["text"] == "Priority"
    assert by_id["field_amount"]["hint"]["text"] == "In dollars"
    assert by_id["field_amount"]["element"]["initial_value"] == "340"
    assert by_id["field_tags"]["label"]["text"] == "tags (JSON)"
    assert json.loads(by_id["field_meta"]["element"]["initial_value"]) == VALUES["meta"]
    assert by_id["field_note"]["element"]["multiline"] is True
    assert by_id["field_note"]["element"]["max_length"] == 200
    assert [b["block_id"] for b in blocks if not b["optional"]] == [
        "field_priority", "field_amount", "field_notify",
    ]  # fmt: skip
    notify = by_id["field_notify"]["element"]
    assert [o["value"] for o in notify["options"]] == ["true", "false"]
    assert notify["initial_option"]["value"] == "false"
    assert all(b["element"]["action_id"] == ids.ACTION_FORM_VALUE for b in blocks)


def test_prefilled_form_submitted_unchanged_gives_the_values_back() -> None:
    blocks = form_blocks(SCHEMA, VALUES)
    assert parse_form(SCHEMA, submitted(blocks)) == (VALUES, {})


def test_optional_fields_left_empty_are_left_out() -> None:
    required = {key: VALUES[key] for key in ("priority", "amount", "notify")}
    blocks = form_blocks(SCHEMA, required)
    assert parse_form(SCHEMA, submitted(blocks)) == (required, {})


def test_typed_text_is_read_as_the_property_type() -> None:
    blocks = form_blocks(SCHEMA, VALUES)
    typed = {"field_amount": " 12 ", "field_ratio": "5e-1", "field_notify": "true", "field_level": "3"}
    value, errors = parse_form(SCHEMA, submitted(blocks, typed))
    assert errors == {}
    assert (value["amount"], value["ratio"], value["notify"], value["level"]) == (12, 0.5, True, True)


def test_a_whole_number_typed_into_a_number_field_stays_an_int() -> None:
    schema = {"type": "object", "properties": {"n": {"type": "number"}}}
    value, _ = parse_form(schema, submitted(form_blocks(schema, None), {"field_n": "300"}))
    assert value == {"n": 300} and isinstance(value["n"], int)


@pytest.mark.parametrize(
    ("typed", "block_id", "message"),
    [
        ({"field_amount": "3.5"}, "field_amount", "amount: must be an integer (got '3.5')"),
        ({"field_amount": "ten"}, "field_amount", "amount: must be an integer (got 'ten')"),
        ({"field_amount": None}, "field_amount", "amount: is required"),
        ({"field_amount": "0"}, "field_amount", "amount: must be at least 1"),
        ({"field_amount": "501"}, "field_amount", "amount: must be at most 500"),
        ({"field_ratio": "0"}, "field_ratio", "ratio: must be greater than 0"),
        ({"field_ratio": "1.0"}, "field_ratio", "ratio: must be less than 1"),
        ({"field_ratio": "half"}, "field_ratio", "ratio: must be a number (got 'half')"),
        ({"field_ratio": "1e999"}, "field_ratio", "ratio: must be a finite number"),
        ({"field_step": "7"}, "field_step", "step: must be a multiple of 5"),
        ({"field_note": "ab"}, "field_note", "note: must be at least 3 characters long (it has 2)"),
        ({"field_note": "x" * 201}, "field_note", "note: must be at most 200 characters long (it has 201)"),
        ({"field_priority": None}, "field_priority", "priority: is required"),
        ({"field_priority": "9"}, "field_priority", "priority: must be one of: low, normal, high"),
        ({"field_notify": None}, "field_notify", "notify: is required"),
        ({"field_notify": "maybe"}, "field_notify", "notify: must be one of: true, false"),
        ({"field_tags": "[1, 2"}, "field_tags", "tags: must be valid JSON (Expecting ',' delimiter"),
        ({"field_tags": "NaN"}, "field_tags", "tags: must be valid JSON (NaN is not JSON)"),
        ({"field_tags": '{"a": 1}'}, "field_tags", 'tags: must be a JSON list (got {"a":1})'),
        ({"field_tags": "[1]"}, "field_tags", "tags[0]: must be text (got 1)"),
        ({"field_tags": '["a","b","c","d"]'}, "field_tags", "tags: must have at most 3 items (it has 4)"),
        ({"field_meta": "{}"}, "field_meta", "meta.id: is required"),
        ({"field_meta": '{"id": "7"}'}, "field_meta", "meta.id: must be an integer (got '7')"),
    ],
)
def test_each_mistake_names_the_field_and_how_to_fix_it(
    typed: dict[str, str | None], block_id: str, message: str
) -> None:
    errors = _errors(typed)
    assert list(errors) == [block_id]
    assert errors[block_id].startswith(message), errors[block_id]


def test_every_wrong_field_is_reported_at_once() -> None:
    errors = _errors({"field_amount": "x", "field_priority": None, "field_tags": "["})
    assert set(errors) == {"field_amount", "field_priority", "field_tags"}


def test_a_schema_that_is_not_an_object_is_one_json_textarea() -> None:
    schema = {"type": "array", "items": {"type": "integer"}, "minItems": 1}
    [block] = form_blocks(schema, None)
    check_view(_view([block]))
    assert block["block_id"] == ids.BLOCK_FORM_JSON and block["optional"] is False
    assert block["element"]["multiline"] is True
    assert parse_form(schema, submitted([block], {ids.BLOCK_FORM_JSON: "[1, 2]"})) == ([1, 2], {})
    assert parse_form(schema, submitted([block], {ids.BLOCK_FORM_JSON: "[]"}))[1] == {
        ids.BLOCK_FORM_JSON: "value: must have at least 1 items (it has 0)"
    }
    assert parse_form(schema, submitted([block], {ids.BLOCK_FORM_JSON: '["x"]'}))[1] == {
        ids.BLOCK_FORM_JSON: "value[0]: must be an integer (got 'x')"
    }
    assert parse_form(schema, submitted([block], {ids.BLOCK_FORM_JSON: None}))[1] == {
        ids.BLOCK_FORM_JSON: "value: is required"
    }


def test_no_schema_means_any_json_and_it_round_trips() -> None:
    for value in ({"a": [1, {"b": None}]}, [1, "two"], "text", 3.5, None, True):
        blocks = form_blocks(None, {"v": value})
        assert parse_form(None, submitted(blocks)) == ({"v": value}, {})
    [block] = form_blocks(None, None)
    assert "initial_value" not in block["element"]


def test_json_textarea_of_an_object_schema_checks_the_object() -> None:
    schema = {**SCHEMA, "properties": {f"p{n}": {"type": "integer"} for n in range(200)}}
    [block] = form_blocks(schema, None)  # too many properties for one modal: one textarea
    assert block["block_id"] == ids.BLOCK_FORM_JSON
    state = submitted([block], {ids.BLOCK_FORM_JSON: "[1]"})
    assert parse_form(schema, state)[1][ids.BLOCK_FORM_JSON].startswith("value: must be a JSON object")
    state = submitted([block], {ids.BLOCK_FORM_JSON: '{"p1": "x", "amount": 1}'})
    message = parse_form(schema, state)[1][ids.BLOCK_FORM_JSON]
    assert message == "priority: is required; notify: is required; p1: must be an integer (got 'x')"


def test_edit_without_schema_infers_a_flat_form_and_keeps_types() -> None:
    args = {"amount": 340, "ratio": 2.5, "to": "ops@example.com", "expedite": False}
    schema = edit_schema(None, args)
    assert schema is not None
    blocks = form_blocks(schema, args)
    assert [b["block_id"] for b in blocks] == ["field_amount", "field_ratio", "field_to", "field_expedite"]
    assert parse_form(None, submitted(blocks), fallback_args=args) == (args, {})
    value, errors = parse_form(None, submitted(blocks, {"field_amount": "300"}), fallback_args=args)
    assert errors == {} and value == {**args, "amount": 300}
    _, errors = parse_form(None, submitted(blocks, {"field_amount": "3.5"}), fallback_args=args)
    assert errors == {"field_amount": "amount: must be an integer (got '3.5')"}


@pytest.mark.parametrize(
    ("args", "schema"),
    [
        ({"to": ["a@example.com"]}, None),  # nested
        ({"to": ""}, None),  # an empty input reads back as nothing
        ({"n": None}, None),
        ({}, None),
        ({"amount": 1, "extra": "x"}, {"type": "object", "properties": {"amount": {"type": "integer"}}}),
        ({"amount": "1"}, {"type": "object", "properties": {"amount": {"type": "integer"}}}),
        ({"p": "zzz"}, {"type": "object", "properties": {"p": {"enum": ["a", "b"]}}}),
        ({"m": {"a": 1}}, {"type": "object", "properties": {"m": {"type": "object"}}}),
        ({"s": "x" * 3001}, None),
    ],
)
def test_edit_falls_back_to_one_json_textarea_when_a_form_would_lose_something(
    args: dict[str, Any], schema: dict[str, Any] | None
) -> None:
    assert edit_schema(schema, args) is None


def test_edit_in_json_must_stay_an_object_and_fit_the_schema() -> None:
    args = {"to": ["a@example.com"], "subject": "Hi"}
    blocks = form_blocks(edit_schema(None, args), args)
    assert [b["block_id"] for b in blocks] == [ids.BLOCK_FORM_JSON]
    assert parse_form(None, submitted(blocks), fallback_args=args) == (args, {})
    _, errors = parse_form(None, submitted(blocks, {ids.BLOCK_FORM_JSON: '"just text"'}), fallback_args=args)
    assert errors[ids.BLOCK_FORM_JSON].startswith('value: must be a JSON object, like {"key": "value"}')
    schema = {"type": "object", "properties": {"to": {"type": "array"}}, "required": ["to"]}
    typed = {ids.BLOCK_FORM_JSON: '{"subject": "Hi"}'}
    _, errors = parse_form(schema, submitted(blocks, typed), fallback_args=args)
    assert errors == {ids.BLOCK_FORM_JSON: "to: is required"}


def test_values_too_long_for_a_slack_input_are_refused_not_cut() -> None:
    huge = {"body": "x" * 1_000_000}
    problem = prefill_problem(None, huge)
    assert problem is not None and "too long to edit in Slack" in problem
    with pytest.raises(ValueError):
        form_blocks(None, huge)
    schema = {"type": "object", "properties": {"body": {"type": "string"}}}
    assert prefill_problem(schema, huge) is not None
    assert prefill_problem(schema, {"body": "x" * 3000}) is None
    assert prefill_problem(None, {"when": object()}) is not None


def test_property_names_become_unique_bounded_block_ids() -> None:
    names = ["a", "_json", "x" * 300, "with space", "field#1", "", "é"]
    schema = {"type": "object", "properties": {name: {"type": "string"} for name in names}}
    blocks = form_blocks(schema, None)
    block_ids = [b["block_id"] for b in blocks]
    assert len(set(block_ids)) == len(names) and ids.BLOCK_FORM_JSON not in block_ids
    assert all(1 <= units(block_id) <= 255 for block_id in block_ids)
    typed = {block_id: f"v{n}" for n, block_id in enumerate(block_ids)}
    value, errors = parse_form(schema, submitted(blocks, typed))
    assert errors == {} and value == {name: f"v{n}" for n, name in enumerate(names)}


def test_nasty_labels_hints_and_options_stay_within_limits() -> None:
    long = "<!channel> & 🎉 " * 500
    schema = {
        "type": "object",
        "properties": {
            long: {"type": "string", "title": long, "description": long},
            "pick": {"enum": [long, long + "2", *range(98)]},
            "many": {"enum": list(range(101))},  # too many options for a select
        },
    }
    blocks = form_blocks(schema, {"pick": long + "2"})
    check_view(_view(blocks))
    pick = _by_id(blocks)["field_pick"]["element"]
    assert pick["initial_option"]["value"] == "1"
    assert _by_id(blocks)["field_many"]["element"]["type"] == "plain_text_input"
    value, errors = parse_form(schema, submitted(blocks, {"field_many": "100"}))
    assert errors == {} and value == {"pick": long + "2", "many": 100}
    _, errors = parse_form(schema, submitted(blocks, {"field_many": "101"}))
    assert errors["field_many"] == "many: must be one of: 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, …"
