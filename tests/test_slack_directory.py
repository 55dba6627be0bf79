"""Resolving names through Slack: unknown names are 422s, a Slack that cannot answer is a 503."""

from __future__ import annotations

import pytest

from bot.errors import InvalidInput, Unavailable
from bot.slack.client import make_client
from bot.slack.directory import SlackDirectory
from tests.conftest import BOT_TOKEN


@pytest.fixture
def directory(sandbox):
    return SlackDirectory(make_client(token=BOT_TOKEN, base_url=sandbox.api_url))


def test_names_resolve_and_unknown_ones_are_named(directory):
    assert directory.resolve(["U0ALICE", "bob@example.com", "@finance"]) == ["U0ALICE", "U0BOB"]
    with pytest.raises(InvalidInput) as e:
        directory.resolve(["U0NOBODY", "nobody@example.com", "@nogroup"])
    assert set(e.value.fields) == {"approvers[0]", "approvers[1]", "approvers[2]"}


@pytest.mark.parametrize(("method", "name"), [("users.info", "U0CAROL"),
                                               ("users.lookupByEmail", "carol@example.com"),
                                               ("usergroups.list", "@finance"),
                                               ("usergroups.users.list", "S0FINANCE")])
def test_a_slack_error_is_unavailable_never_unknown(directory, sandbox, method, name):
    sandbox.fail_next(method, error="internal_error")
    with pytest.raises(Unavailable):
        directory.resolve([name])
    assert directory.resolve([name])  # not cached: it resolves once Slack answers again


def test_a_slack_outage_while_routing_is_a_503_and_stores_nothing(stack):
    stack.sandbox.fail_next("usergroups.list", error="internal_error")
    r = stack.api.post("/v1/requests", json={"action": "a", "summary": "s", "approvers": ["@finance"]})
    assert r.status_code == 503, r.text
    assert int(r.headers["Retry-After"]) > 0 and r.json()["error"] == "unavailable"
    assert stack.api.get("/v1/requests").json()["requests"] == []
