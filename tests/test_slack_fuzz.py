"""Slack's side of the contract: signed payloads of every shape, over real HTTP, never get a 5xx.

Hypothesis builds `block_actions`, `view_submission` and event payloads that are mostly the shape
Slack sends (so they reach the listeners) with odd values where it hurts: unknown ids, wrong types,
item indexes out of range, foreign teams. Each is signed with the test signing secret.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from blocks import ids
from tests.conftest import CHANNEL
from tests.test_slack_verification import sign

EXAMPLES = settings(max_examples=int(os.environ.get("SIGNOFF_FUZZ_EXAMPLES", "100")), deadline=None,
                    database=None, print_blob=True, suppress_health_check=list(HealthCheck))

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10, 10**12), st.text(max_size=20))
anything = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)), max_leaves=8)


def odd(good: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly `good`, sometimes any JSON value at all."""
    return st.one_of(good, good, good, anything)


def payloads(request_id: str) -> dict[str, st.SearchStrategy[dict[str, Any]]]:
    """Strategies for each kind of payload, aimed at `request_id` (a real pending request)."""
    people = st.sampled_from(["U0ALICE", "U0BOB", "U0CAROL", "U0NOBODY", ""])
    users = odd(st.fixed_dictionaries({"id": people}))
    values = odd(st.sampled_from([request_id, f"{request_id}#0", f"{request_id}#7", f"{request_id}#-1",
                                  "req_nosuch", "#", "", "x" * 300]))
    common = {
        "user": users,
        "team": odd(st.just({"id": "T0SANDBOX"})),
        "api_app_id": odd(st.just("A0SIGNOFF")),
        "trigger_id": odd(st.just("t.1")),
    }
    action = st.fixed_dictionaries({
        "action_id": odd(st.sampled_from([ids.ACTION_APPROVE, ids.ACTION_REJECT, ids.ACTION_EDIT,
                                          ids.ACTION_RESPOND, ids.ACTION_DETAILS, "other"])),
        "block_id": odd(st.just(ids.BLOCK_ACTIONS)), "value": values, "type": st.just("button")})
    block_actions = st.fixed_dictionaries({
        "type": st.just("block_actions"), **common,
        "channel": odd(st.just({"id": CHANNEL})),
        "container": odd(st.just({"type": "message", "channel_id": CHANNEL, "message_ts": "1.0"})),
        "actions": odd(st.lists(odd(action), min_size=1, max_size=2)),
        "view": st.one_of(st.none(), odd(st.just({"type": "home", "id": "V1"}))),
    })
    state = odd(st.fixed_dictionaries({"values": odd(st.dictionaries(
        st.sampled_from([ids.BLOCK_REASON, ids.BLOCK_RESPONSE, "field_to", ids.BLOCK_FORM_JSON]),
        odd(st.dictionaries(st.sampled_from([ids.ACTION_REASON, ids.ACTION_RESPONSE, ids.ACTION_FORM_VALUE]),
                            odd(st.fixed_dictionaries({"type": st.just("plain_text_input"),
                                                       "value": odd(st.text(max_size=30))})),
                            max_size=2)), max_size=3))}))
    view = st.fixed_dictionaries({
        "id": st.just("V1"), "type": st.just("modal"),
        "callback_id": odd(st.sampled_from([ids.VIEW_REJECT, ids.VIEW_EDIT, ids.VIEW_RESPOND,
                                            ids.VIEW_DETAILS, "other"])),
        "private_metadata": values, "state": state,
        "blocks": odd(st.lists(odd(st.fixed_dictionaries({"type": st.just("input"),
                                                          "block_id": st.just(ids.BLOCK_REASON)})),
                               max_size=2)),
    })
    view_submission = st.fixed_dictionaries({"type": st.just("view_submission"), **common, "view": odd(view)})
    event = st.fixed_dictionaries({
        "type": st.just("event_callback"), "team_id": odd(st.just("T0SANDBOX")),
        "api_app_id": odd(st.just("A0SIGNOFF")), "event_id": st.text(max_size=10),
        "event_time": odd(st.integers(0, 2**40)),
        "event": odd(st.fixed_dictionaries({
            "type": odd(st.sampled_from(["app_home_opened", "message", "app_mention", "other"])),
            "user": odd(people), "tab": odd(st.sampled_from(["home", "messages"])),
            "channel": odd(st.just(CHANNEL))})),
    })
    return {"block_actions": block_actions, "view_submission": view_submission, "event": event}


def post_signed(url: str, payload: dict[str, Any], *, as_form: bool) -> httpx.Response:
    body = httpx.QueryParams({"payload": json.dumps(payload)}).__str__() if as_form else json.dumps(payload)
    headers = sign(body, int(time.time()))
    if not as_form:
        headers["Content-Type"] = "application/json"
    return httpx.post(f"{url}/slack/events", content=body.encode(), headers=headers, timeout=10)


def never_5xx(url: str, kind: str, strategy: st.SearchStrategy[dict[str, Any]]) -> None:
    """Send each generated payload of one kind; fail on the first 5xx (shrunk by hypothesis)."""

    @given(payload=strategy)
    @EXAMPLES
    def check(payload: dict[str, Any]) -> None:
        r = post_signed(url, payload, as_form=kind != "event")
        assert r.status_code < 500, (kind, r.status_code, r.text, payload)

    check()


def test_null_fields_bolt_reads_as_objects_are_400(stack):
    # Found by the fuzzer: Bolt does `body.get("event", {}).get("type")`, so `"event": null` raised.
    event = {"type": "event_callback", "team_id": "T0SANDBOX", "api_app_id": "A0SIGNOFF", "event": None}
    assert post_signed(stack.url, event, as_form=False).status_code == 400


def test_signed_slack_payloads_never_get_a_5xx(stack):
    req = stack.create()
    stack.run_jobs()
    for kind, strategy in payloads(req["id"]).items():
        never_5xx(stack.url, kind, strategy)
    assert stack.api.get("/healthz").status_code == 200
