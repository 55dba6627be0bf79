import re

import pytest

from bot.policy.conditions import check_condition, parse_condition


def holds(text, args=None, **facts):
    """Whether the condition holds for these args (and action/requester/urgency facts)."""
    facts = {"action": "act", "requester": "U1", "urgency": "normal", **facts, "args": args or {}}
    return check_condition(parse_condition(text), facts)[0]


def why(text, args=None, **facts):
    facts = {"action": "act", "requester": "U1", "urgency": "normal", **facts, "args": args or {}}
    return check_condition(parse_condition(text), facts)[1]


@pytest.mark.parametrize(("text", "amount", "expected"), [
    ("args.amount < 50", 49, True), ("args.amount < 50", 50, False),
    ("args.amount <= 50", 50, True), ("args.amount <= 50", 51, False),
    ("args.amount > 50", 51, True), ("args.amount > 50", 50, False),
    ("args.amount >= 50", 50, True), ("args.amount >= 50", 49.9, False),
    ("args.amount == 50", 50, True), ("args.amount == 50", 50.0, True), ("args.amount == 50", 51, False),
    ("args.amount != 50", 51, True), ("args.amount != 50", 50, False),
    ("args.amount < 1.5", 1.25, True), ("args.amount > -3", -2, True),
    ("args.amount<50", 10, True),
])
def test_numeric_operators(text, amount, expected):
    assert holds(text, {"amount": amount}) is expected


@pytest.mark.parametrize(("text", "expected"), [
    ("args.currency in [usd, eur]", True),
    ("args.currency in [gbp, 'chf']", False),
    ("args.currency not in [gbp, chf]", True),
    ("args.currency not in [usd]", False),
    ("args.currency == usd", True),
    ('args.currency == "usd"', True),
    ("args.currency != eur", True),
    ("args.currency < zzz", True),  # strings order as text
    ("args.note contains 'refund'", True),
    ("args.note contains lunch", False),
    ("args.tags contains vip", True),
    ("args.tags contains new", False),
    ("args.customer contains tier", True),
])
def test_string_list_and_membership_operators(text, expected):
    args = {"currency": "usd", "note": "a refund for order 7", "tags": ["vip", "eu"],
            "customer": {"tier": "gold"}}
    assert holds(text, args) is expected


def test_nested_args_paths_and_list_indexes():
    args = {"customer": {"address": {"country": "DE"}}, "items": [{"sku": "A1"}]}
    assert holds("args.customer.address.country == DE", args)
    assert holds("args.customer.address.country in [FR, DE]", args)
    assert holds("args.items.0.sku == A1", args)
    assert not holds("args.items.1.sku == A1", args)
    assert holds("args.items.1.sku == A1", args) is None
    assert why("args.items.1.sku == A1", args) == "args.items.1.sku is missing"


def test_a_missing_path_is_undecidable_for_every_operator_and_says_so():
    # Undecidable, not false: "false" would let a request fall through to a later, laxer rule.
    for op in ("< 1", "<= 1", "> 1", ">= 1", "== 1", "!= 1", "in [1]", "not in [1]", "contains 1"):
        assert holds(f"args.amount {op}", {}) is None, op
    assert why("args.amount < 50", {}) == "args.amount is missing"
    assert holds("args.customer.tier == gold", {"customer": "acme"}) is None
    assert holds("args.customer.tier == gold", {"customer": None}) is None


@pytest.mark.parametrize(("text", "value"), [
    ("args.amount < 50", "40"),
    ("args.amount >= 50", "abc"),
    ("args.amount > 5", [1, 2]),
    ("args.amount < 5", True),  # a boolean is not a number
    ("args.amount == 50", "50"),
    ("args.amount != 50", "abc"),  # different kinds never compare, in either direction
    ("args.amount == 1", True),
    ("args.amount in [1, 2]", "1"),
    ("args.amount not in [1, 2]", "x"),
    ("args.amount contains 5", 12345),
    ("args.amount contains 5", "12345"),  # a string contains only strings
])
def test_incomparable_types_are_undecidable_never_false(text, value):
    assert holds(text, {"amount": value}) is None


def test_why_names_the_value_seen():
    assert why("args.amount < 50", {"amount": 340}) == "args.amount is 340"
    assert why("args.amount < 50", {"amount": "abc"}) == (
        'args.amount is "abc", a string, which cannot be compared with 50')


def test_null_compares_with_anything_for_equality():
    assert holds("args.manager == null", {"manager": None})
    assert holds("args.manager != null", {"manager": "U2"})
    assert not holds("args.manager == null", {"manager": "U2"})


def test_booleans_and_lists():
    assert holds("args.dry_run == true", {"dry_run": True})
    assert not holds("args.dry_run == true", {"dry_run": 1})
    assert holds("args.ids == [1, 2]", {"ids": [1, 2]})
    assert holds("args.ids contains 2", {"ids": [1, 2]})


def test_action_requester_and_urgency_paths():
    assert holds("action == issue_refund", action="issue_refund")
    assert holds("requester in [U1, U2]", requester="U1")
    assert holds("requester == U1", requester=None) is None
    assert holds("agent == billing-bot", agent="billing-bot")
    assert why("requester == U1", requester=None) == "requester is missing"
    assert holds("urgency != low", urgency="high")


@pytest.mark.parametrize(("text", "value"), [
    ("args.a == 5", 5), ("args.a == -5", -5), ("args.a == 1.5", 1.5), ("args.a == 1e3", 1000.0),
    ("args.a == hello", "hello"), ('args.a == "two words"', "two words"), ("args.a == 'it''s'", "it's"),
    ('args.a == "tab\\tthere"', "tab\tthere"), ("args.a == true", True), ("args.a == False", False),
    ("args.a == null", None), ("args.a == [a, 1, 'b c', [2]]", ("a", 1, "b c", (2,))),
    ("args.a == []", ()), ("args.a == '5'", "5"),
])
def test_values_are_yaml_like_literals(text, value):
    assert parse_condition(text).value == value


@pytest.mark.parametrize(("text", "message"), [
    ("args.amount => 50", "unknown operator '=>'"),
    ("args.amount = 50", "unknown operator '='"),
    ("args.amount <> 50", "unknown operator '<>'"),
    ("args.amount is 50", "unknown operator 'is'"),
    ("args.amount", "has no operator"),
    ("amount < 50", "must start with args.<key>, action, requester, agent or urgency"),
    ("args.amount <", "value in 'args.amount <': it is missing"),
    ("args.amount < 50 and args.x > 1", "quote strings that contain spaces"),
    ("args.kind in refund", "'in' needs a list"),
    ("args.kind in [a, b", "a list needs ','"),
    ("args.kind == 'open", "no closing quote"),
    ("args.amount < [1]", "compares with a number or a string"),
    ("args.amount >= null", "compares with a number or a string"),
])
def test_unreadable_conditions_say_why(text, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_condition(text)


def test_the_condition_keeps_its_text():
    c = parse_condition("  args.amount   not   in [1, 2] ")
    assert (c.text, c.path, c.op) == ("args.amount   not   in [1, 2]", "args.amount", "not in")
    assert c.value == (1, 2)
