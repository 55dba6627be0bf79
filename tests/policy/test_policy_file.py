import re
from datetime import timedelta
from pathlib import Path

import pytest

from bot.errors import InvalidSettings, SignoffError
from bot.policy.loader import check_policy, load_policy
from bot.policy.model import InvalidPolicy
from bot.policy.parser import parse_policy, policy_warnings

REFUNDS = Path(__file__).parent / "refunds.yaml"
DEFAULT = "default:\n  approvers: [U0OPS]\n"


def error(text: str) -> str:
    """The message parse_policy raises for `text`."""
    with pytest.raises(InvalidPolicy) as e:
        parse_policy(text, source="policy.yml")
    return str(e.value)


def test_the_documented_example_loads():
    p = load_policy(REFUNDS)
    assert [r.name for r in p.rules] == ["small-refunds", "mid-refunds", "big-refunds"]
    assert [r.line for r in p.rules] == [2, 7, 16]
    assert p.default.name == "default" and p.default.line == 36
    assert p.rules[1].conditions[1].text == "args.amount <= 500"


def test_invalid_policy_is_an_invalid_setting_so_the_process_stops():
    assert issubclass(InvalidPolicy, InvalidSettings) and issubclass(InvalidPolicy, SignoffError)


def test_a_typo_in_a_field_name_suggests_the_right_one():
    text = "rules:\n  - name: mid\n    match: {action: x}\n    aprovers: [U1]\n" + DEFAULT
    assert error(text) == "policy.yml:4: unknown field 'aprovers' in rule 'mid'; did you mean 'approvers'?"


@pytest.mark.parametrize(("text", "line", "typo", "meant"), [
    ("rule:\n  - name: a\n" + DEFAULT, 1, "rule", "rules"),
    ("rules:\n  - name: a\n    auto: approve\n    mach: {action: x}\n" + DEFAULT, 4, "mach", "match"),
    ("rules:\n  - name: a\n    auto: approve\n    match:\n      actoin: x\n" + DEFAULT, 5, "actoin",
     "action"),
    (DEFAULT + "  timout: 1h\n", 3, "timout", "timeout"),
    (DEFAULT + "  escalate:\n    - afterr: 1m\n      to: [U1]\n", 4, "afterr", "after"),
])
def test_unknown_fields_everywhere(text, line, typo, meant):
    expected = rf"policy\.yml:{line}: unknown field '{typo}' .*; did you mean '{meant}'\?"
    assert re.fullmatch(expected, error(text))


def test_an_unknown_field_with_no_close_match_lists_the_known_ones():
    message = error(DEFAULT + "  colour: red\n")
    assert "unknown field 'colour' in the default; known fields: auto, approvers" in message


def test_a_bad_duration():
    text = DEFAULT + "  remind_every: 10m\n  timeout: 15 minutes\n"
    assert error(text) == "policy.yml:4: timeout: '15 minutes' is not a duration; use 30s, 10m, 2h or 1d"
    assert error(DEFAULT + "  timeout: 30\n").startswith("policy.yml:3: timeout: '30' is not a duration")
    assert "longer than zero" in error(DEFAULT + "  remind_every: 0m\n")
    assert error(DEFAULT + "  timeout: [1h]\n").startswith("policy.yml:3: 'timeout' must be a duration")


def test_an_unknown_operator():
    text = ("rules:\n  - name: a\n    match:\n      when:\n        - args.amount > 1\n"
            "        - args.amount => 50\n    auto: approve\n" + DEFAULT)
    assert error(text) == ("policy.yml:6: unknown operator '=>' in 'args.amount => 50'; "
                           "use <, <=, >, >=, ==, !=, in, not in or contains")


def test_an_unparsable_condition():
    text = "rules:\n  - name: a\n    match:\n      when: amount < 50\n    auto: approve\n" + DEFAULT
    assert error(text).startswith("policy.yml:4: cannot read condition 'amount < 50'")
    text = "rules:\n  - name: a\n    match:\n      when: 50\n    auto: approve\n" + DEFAULT
    assert error(text) == "policy.yml:4: 'when' must be text, not '50'"


@pytest.mark.parametrize(("text", "line"), [
    ("rules:\n  - name: a\n    match: {action: x\n" + DEFAULT, 3),  # unclosed flow mapping
    ("default:\n  approvers: [U1]\n timeout: 1h\n", 3),  # bad indentation
    ("default:\n  approvers: U1: U2\n", 2),
    ("default:\n\tapprovers: [U1]\n", 2),
    ("default:\n  approvers: [U1]\n  channel: \"C1\n", 3),  # unclosed quote
    (DEFAULT + "---\nrules: []\n", 3),
])
def test_yaml_syntax_errors_carry_their_line(text, line):
    assert re.fullmatch(rf"policy\.yml:{line}: invalid YAML: .*", error(text))


def test_the_default_is_required():
    assert error("rules:\n  - name: a\n    auto: approve\n") == (
        "policy.yml:1: the policy has no 'default'; add one: it routes requests no rule matches")
    assert error("") == "policy.yml:1: the policy file is empty; it needs at least a 'default'"
    assert error("# nothing\n") == "policy.yml:1: the policy file is empty; it needs at least a 'default'"
    assert error("- a\n") == "policy.yml:1: the policy file must be a mapping with 'rules' and 'default'"


def test_quorum_must_be_at_least_one():
    assert error(DEFAULT + "  quorum: 0\n") == "policy.yml:3: 'quorum' must be at least 1, not 0"
    assert error(DEFAULT + "  quorum: two\n") == "policy.yml:3: 'quorum' must be a whole number, not 'two'"
    assert error(DEFAULT + "  quorum: true\n") == "policy.yml:3: 'quorum' must be a whole number, not 'true'"


def test_escalations_must_increase():
    text = DEFAULT + "  escalate:\n    - after: 30m\n      to: [U1]\n    - after: 15m\n      to: [U2]\n"
    assert error(text) == ("policy.yml:6: escalation after 15m is not later than the one before it (30m); "
                           "order them by 'after'")
    same = DEFAULT + "  escalate:\n    - after: 30m\n      to: [U1]\n    - after: 30m\n      to: [U2]\n"
    assert error(same).startswith("policy.yml:6: escalation after 30m is not later")


def test_an_escalation_needs_after_and_to():
    assert error(DEFAULT + "  escalate:\n    - to: [U1]\n") == "policy.yml:4: an escalation needs 'after'"
    assert error(DEFAULT + "  escalate:\n    - after: 1m\n") == "policy.yml:4: an escalation needs 'to'"
    assert error(DEFAULT + "  escalate: []\n").startswith("policy.yml:3: 'escalate' must be a list")


def test_the_timeout_must_come_after_every_escalation():
    text = (DEFAULT + "  escalate:\n    - after: 15m\n      to: [U1]\n    - after: 45m\n      to: [U2]\n"
            "  timeout: 30m\n")
    assert error(text) == "policy.yml:8: timeout 30m is not later than the escalation after 45m (line 6)"


def test_duplicate_rule_names():
    text = ("rules:\n  - name: a\n    auto: approve\n  - name: b\n    auto: reject\n"
            "  - name: a\n    auto: reject\n" + DEFAULT)
    assert error(text) == "policy.yml:6: duplicate rule name 'a' (first at line 2)"


def test_a_duplicate_field():
    assert error(DEFAULT + "  approvers: [U2]\n") == (
        "policy.yml:3: field 'approvers' appears twice in the default (first at line 2)")


def test_a_rule_needs_auto_or_approvers():
    text = "rules:\n  - name: a\n    match: {action: x}\n    timeout: 1h\n" + DEFAULT
    assert error(text) == ("policy.yml:2: rule 'a' has neither 'auto' nor 'approvers'; name who approves, "
                           "or set auto: approve or auto: reject")
    assert error("default:\n  timeout: 1h\n").startswith("policy.yml:1: the default has neither 'auto'")


def test_request_approvers_alone_are_enough_to_route():
    p = parse_policy("default:\n  allow_request_approvers: true\n")
    assert p.default.allow_request_approvers and p.default.approvers == ()


def test_auto_rules_take_no_routing_fields():
    text = "rules:\n  - name: a\n    auto: approve\n    timeout: 1h\n" + DEFAULT
    assert error(text) == (
        "policy.yml:4: 'timeout' does nothing in rule 'a', which is auto: approve; remove one")
    assert parse_policy("default:\n  auto: reject\n").default.auto == "reject"


@pytest.mark.parametrize(("field", "value", "choices"), [
    ("auto", "maybe", "approve, reject"),
    ("notify", "email", "channel, dm, both"),
    ("on_timeout", "escalate", "reject, approve, wait"),
    ("urgency", "urgent", "low, normal, high"),
])
def test_unknown_choice_values(field, value, choices):
    expected = f"policy.yml:3: '{field}' must be one of {choices}, not '{value}'"
    assert error(DEFAULT + f"  {field}: {value}\n") == expected


def test_unknown_match_urgency_points_at_the_item():
    text = ("rules:\n  - name: a\n    match:\n      urgency:\n        - low\n        - urgent\n"
            "    auto: approve\n")
    assert error(text + DEFAULT) == "policy.yml:6: 'urgency' must be one of low, normal, high, not 'urgent'"


def test_wrong_types():
    assert error(DEFAULT + "  channel: [C1]\n") == "policy.yml:3: 'channel' must be text, not a list"
    assert error(DEFAULT + "  separation_of_duties: maybe\n") == (
        "policy.yml:3: 'separation_of_duties' must be true or false, not 'maybe'")
    assert error("rules: {a: 1}\n" + DEFAULT) == (
        "policy.yml:1: 'rules' must be a list of rules, not a mapping")
    assert error("rules:\n  - name: a\n    match: issue_refund\n    auto: approve\n" + DEFAULT) == (
        "policy.yml:3: expected a mapping of fields in match, not 'issue_refund'")
    assert error("rules:\n  - name: [a]\n    auto: approve\n" + DEFAULT) == (
        "policy.yml:2: 'name' must be text, not a list")
    assert error("default:\n  approvers: []\n") == (
        "policy.yml:2: 'approvers' is an empty list; leave it out instead")


def test_a_rule_needs_a_name_and_not_the_reserved_one():
    assert error("rules:\n  - auto: approve\n" + DEFAULT) == "policy.yml:2: a rule needs a 'name'"
    assert "'default' is taken" in error("rules:\n  - name: default\n    auto: approve\n" + DEFAULT)
    assert error("default:\n  name: x\n  auto: reject\n") == (
        "policy.yml:2: the default has no 'name': it is always called 'default'")
    assert error("default:\n  match: {action: x}\n  auto: reject\n") == (
        "policy.yml:2: the default has no 'match': it applies when no rule matches")


def test_notify_channel_needs_a_channel():
    assert error(DEFAULT + "  notify: both\n") == (
        "policy.yml:3: notify: both needs a 'channel' in the default")
    text = DEFAULT + "  escalate:\n    - after: 5m\n      to: [U1]\n      notify: channel\n"
    assert error(text) == "policy.yml:6: escalation notify: channel needs a 'channel' in the default"


def test_on_timeout_needs_a_timeout():
    assert error(DEFAULT + "  on_timeout: wait\n") == (
        "policy.yml:3: 'on_timeout' does nothing without a 'timeout'")


def test_the_first_problem_in_the_file_is_reported(tmp_path):
    text = ("rules:\n  - name: a\n    auto: approve\n    quorum: 0\n"  # 4: auto with quorum
            "  - name: b\n    aprovers: [U1]\n"  # 6: typo (and so no approvers)
            "default:\n  timeout: 5 min\n  approvers: [U1]\n")  # 8: bad duration
    assert error(text).startswith("policy.yml:4: ")
    path = tmp_path / "policy.yml"
    path.write_text(text)
    problems = check_policy(path)
    assert [p.split(": ")[0] for p in problems] == [f"{path}:4", f"{path}:6", f"{path}:8"]
    with pytest.raises(InvalidPolicy, match=re.escape(f"{path}:4: ")):
        load_policy(path)


def test_check_policy_is_empty_for_a_valid_file_and_reports_an_unreadable_one(tmp_path):
    assert check_policy(REFUNDS) == []
    missing = tmp_path / "nope.yml"
    assert check_policy(missing)[0].startswith(f"{missing}: cannot read the policy file")
    with pytest.raises(InvalidPolicy):
        load_policy(missing)


def test_values_are_read_as_written():
    p = parse_policy(
        "rules:\n  - name: r\n    match:\n      action: [refund_*, issue_refund]\n      requester: bot-1\n"
        "      urgency: high\n      when: args.amount < 50\n"
        "    approvers: U1\n    separation_of_duties: no\n    allow_request_approvers: yes\n"
        "    escalate:\n      - {after: 1h30m, to: U2, notify: both}\n    channel: C1\n    timeout: 1d\n"
        "    on_timeout: approve\n" + DEFAULT)
    r = p.rules[0]
    assert (r.actions, r.requesters, r.urgencies) == (("refund_*", "issue_refund"), ("bot-1",), ("high",))
    assert [c.text for c in r.conditions] == ["args.amount < 50"]
    assert (r.approvers, r.separation_of_duties, r.allow_request_approvers) == (("U1",), False, True)
    assert r.escalations[0].after == timedelta(hours=1, minutes=30) and r.escalations[0].notify == "both"
    assert (r.timeout, r.on_timeout, r.notify_mode) == (timedelta(days=1), "approve", "channel")


def test_a_rule_says_whom_its_card_mentions_and_whether_approve_asks_first():
    text = ("rules:\n  - name: quiet\n    match: {action: x}\n    approvers: [U1]\n    mention: none\n"
            "    confirm: true\n" + DEFAULT)
    p = parse_policy(text)
    assert (p.rules[0].mention, p.rules[0].confirm) == ("none", True)
    assert (p.default.mention, p.default.confirm) == ("approvers", None)
    bad = text.replace("mention: none", "mention: everyone")
    assert error(bad).startswith("policy.yml:5: ")
    assert "everyone" in error(bad)


def warnings_of(text: str) -> list[str]:
    return [reason for _, reason in policy_warnings(parse_policy(text, source="policy.yml"))]


def test_warnings_name_what_is_probably_not_meant():
    base = "default:\n  approvers: [U0A, U0B]\n  quorum: 3\n"
    assert warnings_of(base) == [
        "rule 'default' needs 3 approvals but names 2 approver(s); its requests cannot be decided by "
        "anyone: it has no escalation, so each request only times out. Lower 'quorum' or add approvers"]
    # The same person twice counts once; an email is a person.
    assert len(warnings_of("default:\n  approvers: [U0A, '<@U0A>', ann@example.com]\n  quorum: 3\n")) == 1
    escalating = base + "  escalate:\n    - after: 10m\n      to: [U0LEAD]\n"
    assert warnings_of(escalating) == [
        "rule 'default' needs 3 approvals but names 2 approver(s); its requests cannot be decided until "
        "an escalation adds people (each request escalates at once). Lower 'quorum' or add approvers"]
    # Enough people, a group of unknown size, or the request's own approvers: no warning.
    assert warnings_of("default:\n  approvers: [U0A, U0B, U0C]\n  quorum: 3\n") == []
    assert warnings_of("default:\n  approvers: [U0A, '@finance']\n  quorum: 3\n") == []
    assert warnings_of(base + "  allow_request_approvers: true\n") == []
    # A rule that lets the agent's requester auto-decide it.
    auto = ("rules:\n  - name: mine\n    match: {requester: U0ME}\n    auto: approve\n" + base)
    assert warnings_of(auto)[0].startswith("rule 'mine' auto-approves on 'requester', which the agent claims")
