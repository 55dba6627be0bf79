"""Golden snapshots of every card state and modal; SIGNOFF_UPDATE_GOLDEN=1 rewrites them."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from blocks.card import (
    Card,
    already_decided_text,
    approval_card,
    card_text,
    details_modal,
    edit_modal,
    not_an_approver_text,
    reject_modal,
    respond_modal,
)
from tests.blocks import samples
from tests.blocks.checks import check_message, check_view

GOLDEN = Path(__file__).parent / "golden"


def _message(card: Card) -> Callable[[], dict[str, Any]]:
    return lambda: {"text": card_text(card), "blocks": approval_card(card)}


def _modals() -> dict[str, Callable[[], dict[str, Any]]]:
    email, payment = samples.items()
    return {
        "reject_modal_item": lambda: reject_modal(
            request_id="req_01JD3W4K8Z", summary="send_email: Tell ops the refund went out.", index=0
        ),
        "edit_modal_form": lambda: edit_modal(
            request_id="req_01JD3W4K8Z",
            index=1,
            action=payment.action,
            args=payment.args,
            args_schema=samples.PAYMENT_SCHEMA, summary="Refund order #4312 and tell ops",
        ),
        "edit_modal_json": lambda: edit_modal(
            request_id="req_01JD3W4K8Z", index=0, action=email.action, args=email.args, args_schema=None,
            summary="Refund order #4312 and tell ops"
        ),
        "respond_modal_text": lambda: respond_modal(
            request_id="req_01JD3W4K8Z", index=1, prompt="Why not pay <now>?", answer_schema=None
        ),
        "respond_modal_form": lambda: respond_modal(
            request_id="req_01JD3W4K8Z",
            index=1,
            prompt="The refund is blocked. What should the agent do?",
            answer_schema=samples.ANSWER_SCHEMA,
        ),
        "hitl_details_modal": lambda: details_modal(samples.hitl_cards()["hitl_decided"]),
    }


def _texts() -> dict[str, Any]:
    return {
        "already_approved": already_decided_text(
            status="approved", decided_by=samples.APPROVER, decided_at=samples.DECIDED
        ),
        "already_expired": already_decided_text(
            status="expired", decided_by="system", decided_at=samples.DECIDED
        ),
        "not_an_approver": not_an_approver_text(approvers=samples.pending().approvers),
    }


CASES: dict[str, Callable[[], dict[str, Any]]] = {
    **{name: _message(card) for name, card in samples.cards().items()},
    **{name: _message(card) for name, card in samples.hitl_cards().items()},
    **_modals(),
    "reject_modal": lambda: reject_modal(
        request_id="req_01JD3W4K8Z", summary=samples.pending().summary
    ),
    "details_modal": lambda: details_modal(samples.truncated()),
    "texts": _texts,
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_golden(name: str) -> None:
    produced = CASES[name]()
    path = GOLDEN / f"{name}.json"
    if os.environ.get("SIGNOFF_UPDATE_GOLDEN") == "1":
        path.write_text(json.dumps(produced, indent=2, ensure_ascii=False) + "\n")
    assert path.exists(), f"no golden for {name}; run with SIGNOFF_UPDATE_GOLDEN=1"
    assert produced == json.loads(path.read_text())


ALL_CARDS = {**samples.cards(), **samples.hitl_cards()}


@pytest.mark.parametrize("name", sorted(ALL_CARDS))
def test_golden_cards_are_within_limits(name: str) -> None:
    card = ALL_CARDS[name]
    check_message(approval_card(card))
    check_view(details_modal(card))
    assert len(card_text(card)) < 300


@pytest.mark.parametrize("name", ["reject_modal", "details_modal", *sorted(_modals())])
def test_golden_modals_are_within_limits(name: str) -> None:
    check_view(CASES[name]())
