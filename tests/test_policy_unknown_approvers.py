"""An approver Slack does not know is named where it was written: in the rule, or in the request."""

from __future__ import annotations

import pytest


@pytest.fixture
def stack_overrides(tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text("rules: []\ndefault:\n  approvers: [U0GONE]\n  allow_request_approvers: true\n")
    return {"policy_file": policy}


def test_unknown_approvers_of_the_rule_and_of_the_request_are_all_named(stack):
    r = stack.api.post("/v1/requests", json={"action": "a", "summary": "s",
                                             "approvers": ["U0BOB", "nobody@example.com"]})
    assert r.status_code == 422, r.text
    assert set(r.json()["fields"]) == {"policy rule 'default' approvers[0]", "approvers[1]"}
