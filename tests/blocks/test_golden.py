"""Golden snapshots of every card state and modal; SIGNOFF_UPDATE_GOLDEN=1 rewrites them."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from blocks.card import (
    already_decided_text,
    approval_card,
    card_text,
    details_modal,
    not_an_approver_text,
    reject_modal,
)
from tests.blocks import samples
from tests.blocks.checks import check_message, check_view

GOLDEN = Path(__file__).parent / "golden"


def _message(name: str) -> Callable[[], dict[str, Any]]:
    card = samples.cards()[name]
    return lambda: {"text": card_text(card), "blocks": approval_card(card)}


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
    **{name: _message(name) for name in samples.cards()},
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


@pytest.mark.parametrize("name", sorted(samples.cards()))
def test_golden_cards_are_within_limits(name: str) -> None:
    card = samples.cards()[name]
    check_message(approval_card(card))
    check_view(details_modal(card))
    assert len(card_text(card)) < 300


def test_golden_modals_are_within_limits() -> None:
    check_view(CASES["reject_modal"]())
    check_view(CASES["details_modal"]())
