"""How @requires_approval turns a call into `args`, a summary, and back into a call after edits."""

from __future__ import annotations

import enum
import inspect
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import pytest

from signoff_client import SignoffError
from signoff_client.binding import apply_edits, approval_args, bind, compact, render_summary


def refund(order: int, amount: float, currency: str = "USD", *, notify: bool = True) -> None: ...


def args_of(func, *args, **kwargs):
    bound = bind(inspect.signature(func), args, kwargs)
    return bound, approval_args(bound)


def test_positional_keyword_and_default_arguments_are_all_named():
    _, sent = args_of(refund, 1234, amount=340)
    assert sent == {"order": 1234, "amount": 340, "currency": "USD", "notify": True}


def test_var_positional_is_a_list_and_var_keyword_is_flattened():
    def send(to: str, *cc: str, **headers: str) -> None: ...
    _, sent = args_of(send, "a@x", "b@x", "c@x", priority="high")
    assert sent == {"to": "a@x", "cc": ["b@x", "c@x"], "priority": "high"}


def test_self_is_left_out_of_a_method():
    class Billing:
        def refund(self, order: int) -> None: ...
    _, sent = args_of(Billing.refund, Billing(), 7)
    assert sent == {"order": 7}


def test_common_types_become_json():
    class Tier(enum.Enum):
        GOLD = "gold"

    @dataclass
    class Line:
        sku: str
        price: Decimal

    def f(tier: Tier, when: date, lines: tuple[Line, ...], tags: frozenset[str]) -> None: ...
    _, sent = args_of(f, Tier.GOLD, date(2025, 1, 2), (Line("A", Decimal("1.50")),), frozenset({"b", "a"}))
    assert sent == {"tier": "gold", "when": "2025-01-02", "lines": [{"sku": "A", "price": "1.50"}],
                    "tags": ["a", "b"]}


def test_a_value_that_is_not_json_is_refused_by_name():
    def f(conn: object) -> None: ...
    with pytest.raises(TypeError, match="'conn' is a object"):
        args_of(f, object())


def test_a_call_that_does_not_fit_the_signature_is_a_type_error():
    with pytest.raises(TypeError):
        args_of(refund, 1, 2, 3, 4)


def test_summaries_from_a_template_a_callable_or_the_action():
    sent = {"order": 1234, "amount": 340}
    assert render_summary("Refund ${amount} to #{order}", action="r", args=sent) == "Refund $340 to #1234"
    assert render_summary(lambda a: f"{a['order']}!", action="r", args=sent) == "1234!"
    assert render_summary(None, action="issue_refund", args=sent) == "issue_refund(order=1234, amount=340)"
    with pytest.raises(SignoffError, match="'ticket'"):
        render_summary("about {ticket}", action="r", args=sent)


def test_compact_args_are_cut_to_the_limit():
    text = compact({"note": "x" * 1000}, limit=50)
    assert len(text) == 50 and text.endswith("…")


def test_edits_replace_only_changed_values_and_keep_original_objects():
    amount = Decimal("340.00")
    bound, sent = args_of(refund, 1234, amount, notify=False)
    args, kwargs = apply_edits(bound, sent, {**sent, "order": 99})
    assert args == (99, amount, "USD") and args[1] is amount and kwargs == {"notify": False}


def test_partial_edits_lay_over_the_originals():
    bound, sent = args_of(refund, 1234, 340)
    assert apply_edits(bound, sent, {"amount": 300}) == ((1234, 300, "USD"), {"notify": True})


def test_edits_reach_var_positional_and_var_keyword():
    def send(to: str, *cc: str, **headers: str) -> None: ...
    bound, sent = args_of(send, "a@x", "b@x", priority="high")
    args, kwargs = apply_edits(bound, sent, {"cc": ["z@x"], "priority": "low", "tag": "t"})
    assert args == ("a@x", "z@x") and kwargs == {"priority": "low", "tag": "t"}


def test_an_edit_naming_an_argument_the_function_lacks_fails_closed():
    bound, sent = args_of(refund, 1234, 340)
    with pytest.raises(SignoffError, match="'surprise'.*does not take"):
        apply_edits(bound, sent, {"surprise": 1})


def test_an_edit_cannot_swap_the_receiver():
    class Billing:
        def refund(self, order: int, **extra: int) -> None: ...
    bound, sent = args_of(Billing.refund, Billing(), 7)
    with pytest.raises(SignoffError, match="'self'"):
        apply_edits(bound, sent, {"self": "other"})
