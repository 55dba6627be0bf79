"""A real slack_bolt App against the sandbox: Bolt must accept what the sandbox sends."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from slack_bolt import Ack, App, BoltRequest, Respond
from slack_sdk import WebClient
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from slack_sandbox import SlackSandbox
from slack_sandbox.server import ServedApp
from tests.sandbox.conftest import SECRET, card, reason_modal


def bolt_app(client: WebClient) -> App:
    """Approve answers through response_url; Deny asks for a reason in a modal."""
    # process_before_response: the listener finishes before the HTTP answer, so the test can
    # assert right after the click returns.
    app = App(client=client, signing_secret=SECRET, process_before_response=True)

    @app.action("approve")
    def approve(ack: Ack, respond: Respond, body: dict[str, Any]) -> None:
        ack()
        respond(replace_original=True, text=f"Approved by <@{body['user']['id']}>")

    @app.action("deny")
    def deny(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        client.views_open(trigger_id=body["trigger_id"], view=reason_modal())

    @app.view("deny_reason")
    def reason(ack: Ack, view: dict[str, Any]) -> None:
        text = view["state"]["values"]["reason"]["text"]["value"]
        if len(text) < 5:
            ack(response_action="errors", errors={"reason": "Please say a little more"})
        else:
            ack()

    return app


@pytest.fixture
def bolt(sandbox: SlackSandbox, client: WebClient) -> Iterator[App]:
    """The Bolt app served over HTTP, dispatching off the event loop as PITFALLS asks."""
    app = bolt_app(client)

    async def events(request: Request) -> Response:
        bolt_request = BoltRequest(body=(await request.body()).decode(), headers=dict(request.headers))
        answer = await run_in_threadpool(app.dispatch, bolt_request)
        return Response(answer.body, answer.status, headers=answer.first_headers())

    served = ServedApp.serve(Starlette(routes=[Route("/slack/events", events, methods=["POST"])]))
    sandbox.events_url = f"{served.url}/slack/events"
    yield app
    served.stop()


def test_bolt_approves_through_response_url(sandbox: SlackSandbox, client: WebClient, bolt: App) -> None:
    ts = client.chat_postMessage(channel="C1", text="Refund?", blocks=card())["ts"]
    assert sandbox.click("U1", "C1", ts, "approve").status_code == 200
    message = sandbox.message("C1", ts)
    assert (message["text"], message["blocks"]) == ("Approved by <@U1>", [])


def test_bolt_modal_round_trip(sandbox: SlackSandbox, client: WebClient, bolt: App) -> None:
    ts = client.chat_postMessage(channel="C1", text="Refund?", blocks=card())["ts"]
    sandbox.click("U2", "C1", ts, "deny")
    [view] = sandbox.views("U2")

    short = sandbox.submit_view("U2", view["id"], {"reason": {"text": "no"}})
    assert short.json() == {"response_action": "errors", "errors": {"reason": "Please say a little more"}}
    assert sandbox.views("U2")[0]["errors"] == {"reason": "Please say a little more"}

    assert sandbox.submit_view("U2", view["id"], {"reason": {"text": "fraud risk"}}).is_success
    assert sandbox.views("U2") == []


def test_bolt_refuses_a_forged_delivery(sandbox: SlackSandbox, bolt: App) -> None:
    answer = sandbox.deliver({"type": "block_actions", "actions": []}, secret="wrong")
    assert answer.status_code == 401
