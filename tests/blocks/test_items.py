"""Cards with items: per-item buttons and answers, the classic card kept, limits at any size."""

from __future__ import annotations

import functools
import json
import re
from dataclasses import replace
from typing import Any

import pytest

from blocks import ids
from blocks.card import Card, CardItem, approval_card, card_text, details_modal
from blocks.items import diff_lines
from tests.blocks import samples
from tests.blocks.checks import check_message, check_view, units
from tests.blocks.test_limits import MEGABYTE, NASTY, _nasty_args

AT = samples.DECIDED.isoformat()


def _item(n: int, **changes: Any) -> CardItem:
    fields: dict[str, Any] = {
        "action": f"tool_{n}",
        "args": {"n": n},
        "allowed": ("approve", "edit", "respond", "reject"),
    }
    return CardItem(**{**fields, **changes})


def _decision(kind: str = "approve", **more: Any) -> dict[str, Any]:
    return {"type": kind, "by": samples.APPROVER, "at": AT, **more}


def _hitl(items: list[CardItem] | tuple[CardItem, ...], **changes: Any) -> Card:
    return samples.pending(items=tuple(items), **changes)


def _by_id(blocks: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {block["block_id"]: block for block in blocks}


def _actions(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [block for block in blocks if block["type"] == "actions"]


def test_no_items_or_one_plain_item_is_exactly_the_classic_card() -> None:
    card = samples.pending()
    plain = CardItem(action=card.action, args=card.args)
    for same in (replace(card, items=()), replace(card, items=[plain])):
        assert approval_card(same) == approval_card(card)
        assert details_modal(same) == details_modal(card)
        assert card_text(same) == card_text(card)
    reordered = CardItem(action="x", args={}, allowed=("reject", "approve"), decision=_decision())
    assert approval_card(replace(card, items=[reordered])) == approval_card(card)


def test_one_item_that_allows_edit_gets_the_item_layout() -> None:
    card = _hitl([_item(0, allowed=("approve", "edit", "reject"))])
    blocks = approval_card(card)
    check_message(blocks)
    [actions] = _actions(blocks)
    assert actions["block_id"] == "item_0_actions"
    assert [e["action_id"] for e in actions["elements"]] == [
        ids.ACTION_APPROVE, ids.ACTION_EDIT, ids.ACTION_REJECT,
    ]  # fmt: skip


def test_an_item_s_approve_asks_first_whenever_the_card_s_would() -> None:
    # A high-urgency card with Edit took its layout from the items, whose Approve never asked:
    # one click approved what the classic card's Approve confirms first.
    items = [_item(0, allowed=("approve", "edit", "reject")), _item(1, allowed=("approve", "reject"))]
    cases = [(_hitl(items, urgency="high"), True), (_hitl(items, urgency="high", confirm=False), False),
             (_hitl(items), False), (_hitl(items, confirm=True), True)]
    for card, asks in cases:
        blocks = approval_card(card)
        check_message(blocks)
        for actions in _actions(blocks):
            for button in actions["elements"]:
                if button["action_id"] == ids.ACTION_APPROVE:
                    assert ("confirm" in button) is asks, (card.urgency, card.confirm)
                else:
                    assert "confirm" not in button


def test_each_item_has_its_allowed_buttons_in_order_with_its_index() -> None:
    items = [
        _item(0),
        _item(1, allowed=("respond",)),
        _item(2, allowed=("reject", "approve")),
    ]
    blocks = approval_card(_hitl(items))
    check_message(blocks)
    by_id = _by_id(blocks)
    elements = by_id["item_0_actions"]["elements"]
    assert [(e["text"]["text"], e.get("style")) for e in elements] == [
        ("Approve", "primary"), ("Edit", None), ("Respond", None), ("Reject", "danger"),
    ]  # fmt: skip
    assert {e["value"] for e in elements} == {"req_01JD3W4K8Z#0"}
    assert [e["action_id"] for e in by_id["item_1_actions"]["elements"]] == [ids.ACTION_RESPOND]
    assert [e["text"]["text"] for e in by_id["item_2_actions"]["elements"]] == ["Approve", "Reject"]
    assert ids.parse_button_value(by_id["item_2_actions"]["elements"][0]["value"]) == ("req_01JD3W4K8Z", 2)
    assert by_id["item_1"]["text"]["text"] == "*2. tool_1*\n*n:* `1`"
    assert ids.BLOCK_ACTIONS not in by_id  # nothing cut: no View details


@pytest.mark.parametrize(
    ("decision", "line"),
    [
        (_decision(), "✅ Approved by <@U0APPROVER1>"),
        (_decision("reject", message="<No> & no"), "❌ Rejected by <@U0APPROVER1>: &lt;No&gt; &amp; no"),
        (_decision("reject"), "❌ Rejected by <@U0APPROVER1>"),
        (_decision("respond", message="Use EU"), "💬 Answered by <@U0APPROVER1>: Use EU"),
        (_decision("respond", answer={"region": "eu"}), '💬 Answered by <@U0APPROVER1>: `{"region":"eu"}`'),
        (_decision("edit", args={"n": 0}), "✏️ Edited by <@U0APPROVER1>\n*n:* 5 → 0"),
        (_decision("edit", args={"n": 5}), "✏️ Edited by <@U0APPROVER1> _(no changes)_"),
        (_decision("approve", by="agent:bot"), "✅ Approved by agent `bot`"),
        (_decision("approve", by="system"), "✅ Approved"),
    ],
)  # fmt: skip
def test_an_answered_item_shows_how_instead_of_buttons(decision: dict[str, Any], line: str) -> None:
    card = _hitl([_item(5, decision=decision), _item(6)])
    blocks = approval_card(card)
    check_message(blocks)
    by_id = _by_id(blocks)
    assert by_id["item_0_answer"]["text"]["text"] == line
    assert "item_0_actions" not in by_id and "item_1_actions" in by_id


def test_edit_diff_shows_changed_added_and_removed_keys_compactly() -> None:
    before = {"amount": 340, "to": "a", "cc": ["x"], "same": {"a": 1, "b": 2}}
    after = {"same": {"b": 2, "a": 1}, "amount": 300, "to": "300", "note": "hi"}
    lines, cut = diff_lines(before, after)
    assert lines == [
        "*amount:* 340 → 300",
        '*to:* "a" → "300"',
        '*cc:* ["x"] → _(removed)_',
        '*note:* _(not set)_ → "hi"',
    ]
    assert not cut


def test_edit_diff_cuts_long_values_and_many_changes() -> None:
    before = {f"k{n}": n for n in range(30)}
    after = {f"k{n}": n + 1 for n in range(30)} | {"k0": "<" * 500}
    lines, cut = diff_lines(before, after)
    assert cut and len(lines) == 11 and lines[-1] == "+20 more changes"
    assert lines[0].startswith("*k0:* 0 → \"&lt;") and lines[0].endswith("…")
    assert units(lines[0]) < 100


def test_a_decided_request_has_no_buttons_and_its_outcome_line() -> None:
    items = [_item(0, decision=_decision()), _item(1)]
    for status in ("approved", "rejected", "answered", "cancelled", "expired"):
        card = _hitl(items, status=status, decided_by="U0APPROVER1", decided_at=samples.DECIDED)
        blocks = approval_card(card)
        check_message(blocks)
        assert _actions(blocks) == []
        assert blocks[1]["block_id"] == ids.BLOCK_OUTCOME
        assert _by_id(blocks)["item_1_answer"]["elements"][0]["text"] == "_Not answered._"
        assert units(card_text(card)) < 300


def test_sixty_items_stay_within_fifty_blocks_with_a_note() -> None:
    card = _hitl([_item(n) for n in range(60)])
    blocks = approval_card(card)
    check_message(blocks)
    shown = [b["block_id"] for b in blocks if b["type"] == "actions" and b["block_id"].startswith("item")]
    assert shown == [f"item_{n}_actions" for n in range(10)]
    note = _by_id(blocks)[ids.BLOCK_ITEMS_MORE]["elements"][0]["text"]
    assert note == "+50 more items — see *View details*"
    assert _actions(blocks)[-1]["elements"][0]["action_id"] == ids.ACTION_DETAILS


def test_unanswered_items_move_onto_the_card_as_others_are_answered() -> None:
    items = [_item(n, decision=_decision() if n < 15 else None) for n in range(60)]
    blocks = approval_card(_hitl(items))
    check_message(blocks)
    shown = [b["block_id"] for b in blocks if re.fullmatch(r"item_\d+_actions", b["block_id"])]
    assert shown == [f"item_{n}_actions" for n in range(15, 25)]
    note = _by_id(blocks)[ids.BLOCK_ITEMS_MORE]["elements"][0]["text"]
    assert note == "+50 more items (15 answered) — see *View details*"
    decided = approval_card(_hitl(items, status="cancelled", decided_by="system", decided_at=samples.DECIDED))
    check_message(decided)
    shown = [b["block_id"] for b in decided if re.fullmatch(r"item_\d+", b["block_id"])]
    assert shown == [f"item_{n}" for n in range(10)]
    assert _by_id(decided)[ids.BLOCK_ITEMS_MORE]["elements"][0]["text"] == "+50 more items not shown"


@functools.cache
def _shared_nasty_args() -> dict[str, Any]:
    return _nasty_args()  # ~9 MB: built once, shared by every item


def _nasty_item(n: int, **changes: Any) -> CardItem:
    return _item(
        n,
        action=("send<>&🎉 " * 100)[:1000],
        description=(NASTY + "\n") * 1000,
        args=_shared_nasty_args(),
        **changes,
    )


NASTY_DECISIONS = [
    None,
    _decision("edit", by=NASTY * 100, args={f"{NASTY}{n}": MEGABYTE for n in range(50)}),
    _decision("reject", by="agent:" + NASTY, message=(NASTY + "\n") * 10_000),
    _decision("respond", answer={"a": [NASTY] * 10_000}),
    _decision("respond", message=MEGABYTE),
]


@pytest.mark.parametrize("status", ["pending", "answered", "expired"])
def test_sixty_nasty_items_with_a_megabyte_arg_keep_every_limit(status: str) -> None:
    items = [_nasty_item(n, decision=NASTY_DECISIONS[n % len(NASTY_DECISIONS)]) for n in range(60)]
    changes: dict[str, Any] = {}
    if status != "pending":
        changes = {"status": status, "decided_by": "U0APPROVER1", "decided_at": samples.DECIDED}
    card = samples.pending(
        items=tuple(items), summary=MEGABYTE, action=NASTY * 50, context={NASTY: MEGABYTE}, **changes
    )
    blocks = approval_card(card)
    check_message(blocks)
    assert len(blocks) <= 50
    assert units(card_text(card)) < 300
    if status == "pending":
        assert _actions(blocks)[-1]["elements"] == [
            {"type": "button", "action_id": ids.ACTION_DETAILS, "value": card.request_id,
             "text": {"type": "plain_text", "text": "View details", "emoji": True}},
        ]  # fmt: skip
    for shown in (card, replace(card, summary="short", context=None)):
        view = details_modal(shown)
        check_view(view)
        assert len(view["blocks"]) <= 100


def test_details_modal_lists_all_sixty_items_with_their_answers() -> None:
    items = [_item(n, decision=_decision("reject", message=f"no {n}") if n % 2 else None) for n in range(60)]
    view = details_modal(_hitl(items, args={}))
    check_view(view)
    texts = [b["text"]["text"] for b in view["blocks"] if b["type"] == "section"]
    for n in range(60):
        [text] = [t for t in texts if t.startswith(f"*{n + 1}. tool_{n}*")]
        assert ('"n": ' + str(n)) in text
        assert (f"❌ Rejected by <@U0APPROVER1>: no {n}" in text) == bool(n % 2)
    assert not any("Cut short" in json.dumps(b) for b in view["blocks"])


def test_details_modal_gives_a_huge_item_a_fair_share_not_the_whole_modal() -> None:
    items = [_item(0, args={"huge": MEGABYTE}), *(_item(n) for n in range(1, 5))]
    view = details_modal(_hitl(items))
    check_view(view)
    texts = [b["text"]["text"] for b in view["blocks"] if b["type"] == "section"]
    assert sum(1 for t in texts if "xxxxxxxx" in t) == 18  # (100 - 10) // 5 sections
    assert any("does not fit in a Slack modal" in t for t in texts)
    assert all(any(t.startswith(f"*{n + 1}. tool_{n}*") for t in texts) for n in range(1, 5))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"allowed": ()}, "allowed"),
        ({"allowed": ("approve", "approve")}, "allowed"),
        ({"allowed": ("approve", "ignore")}, "allowed"),
        ({"decision": {"type": "maybe", "by": "U1"}}, "decision type"),
        ({"decision": {"type": "approve"}}, "by"),
        ({"decision": {"type": "approve", "by": "U1", "at": "2026-11-21T14:02"}}, "aware"),
        ({"decision": {"type": "approve", "by": "U1", "at": "yesterday"}}, "isoformat"),
        ({"decision": {"type": "edit", "by": "U1", "args": [1]}}, "args"),
    ],
)
def test_card_item_refuses_what_it_cannot_show_faithfully(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _item(0, **changes)


def test_card_refuses_items_that_are_not_card_items_and_ids_with_a_hash() -> None:
    with pytest.raises(ValueError):
        samples.pending(items=({"action": "x"},))
    with pytest.raises(ValueError):
        samples.pending(request_id="req#1")


def test_button_values_round_trip_and_malformed_ones_are_refused() -> None:
    assert ids.button_value("req_1") == "req_1"
    assert ids.button_value("req_1", 0) == "req_1#0"
    assert ids.parse_button_value("req_1") == ("req_1", None)
    assert ids.parse_button_value(ids.button_value("req_1", 42)) == ("req_1", 42)
    for bad in ("req_1#", "req_1#x", "req_1#-1", "req_1#01", "req_1#1#2", "#1", "", "req_1#١"):
        with pytest.raises(ValueError):
            ids.parse_button_value(bad)
    with pytest.raises(ValueError):
        ids.button_value("req#1")
    with pytest.raises(ValueError):
        ids.button_value("req_1", -1)
