"""Bolt listeners: parse, ack, one service call; errors become ephemeral explanations."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from blocks import ids
from blocks.card import already_decided_text, details_modal, not_an_approver_text, reject_modal
from bot.core.lifecycle import Verdict
from bot.errors import AlreadyDecided, NotAuthorized, NotFound, SignoffError
from bot.service import ApprovalService
from bot.slack.delivery import card_for

log = logging.getLogger(__name__)

REASON_MISSING = "Say why you reject it: the agent and the audit log will show your reason."


def register(app: App, service: ApprovalService, *, after_ack: Executor) -> None:
    """Attach Signoff's listeners to a Bolt app; `after_ack` runs the Slack calls made after acking."""

    def later(fn: Callable[..., object], *args: Any) -> None:
        after_ack.submit(_logged, fn, *args)

    @app.action(ids.ACTION_APPROVE)
    def approve(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        user, request_id = _clicker(body), _action_value(body)
        # The decision is one short transaction; acking after it means that once Slack's request
        # returns, the click is durable.
        try:
            service.decide(request_id, actor=user, verdict=Verdict.APPROVE)
        except SignoffError as e:
            ack()
            later(_tell, client, body, explain(e))
        else:
            ack()

    @app.action(ids.ACTION_REJECT)
    def reject(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        later(_open_reject_modal, service, client, body)

    @app.action(ids.ACTION_DETAILS)
    def details(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        later(_open_details_modal, service, client, body)

    @app.view(ids.VIEW_REJECT)
    def reject_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        reason = _reason(view)
        if not reason:
            ack(response_action="errors", errors={ids.BLOCK_REASON: REASON_MISSING})
            return
        try:
            service.decide(str(view.get("private_metadata", "")), actor=_clicker(body),
                           verdict=Verdict.REJECT, reason=reason)
        except SignoffError as e:
            ack(response_action="errors", errors={ids.BLOCK_REASON: explain(e)})
            return
        ack()


def _open_reject_modal(service: ApprovalService, client: WebClient, body: dict[str, Any]) -> None:
    try:
        row = service.check_can_decide(_action_value(body), actor=_clicker(body))
    except SignoffError as e:
        _tell(client, body, explain(e))
        return
    client.views_open(trigger_id=body["trigger_id"],
                      view=reject_modal(request_id=row.id, summary=row.summary))


def _open_details_modal(service: ApprovalService, client: WebClient, body: dict[str, Any]) -> None:
    try:
        row = service.get(_action_value(body))
    except SignoffError as e:
        _tell(client, body, explain(e))
        return
    client.views_open(trigger_id=body["trigger_id"], view=details_modal(card_for(row)))


def _logged(fn: Callable[..., object], *args: Any) -> None:
    try:
        fn(*args)
    except Exception:  # noqa: BLE001 - nothing above us would report it
        log.exception("after-ack work %s failed", getattr(fn, "__name__", fn))


def explain(error: SignoffError) -> str:
    """What to tell the person whose click did not decide."""
    if isinstance(error, AlreadyDecided):
        return already_decided_text(status=error.status, decided_by=error.decided_by,
                                    decided_at=error.decided_at)
    if isinstance(error, NotAuthorized):
        return not_an_approver_text(approvers=error.approvers)
    if isinstance(error, NotFound):
        return "This approval request no longer exists in Signoff; nothing was changed."
    return f"Signoff could not record that: {error}"


def _clicker(body: dict[str, Any]) -> str:
    return str(body["user"]["id"])


def _action_value(body: dict[str, Any]) -> str:
    actions = body.get("actions") or [{}]
    return str(actions[0].get("value") or "")


def _reason(view: dict[str, Any]) -> str:
    values = view.get("state", {}).get("values", {})
    raw = values.get(ids.BLOCK_REASON, {}).get(ids.ACTION_REASON, {}).get("value")
    return (raw or "").strip()


def _tell(client: WebClient, body: dict[str, Any], text: str) -> None:
    channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")
    if channel is None:
        log.warning("cannot tell %s: %s (no channel in payload)", _clicker(body), text)
        return
    try:
        client.chat_postEphemeral(channel=channel, user=_clicker(body), text=text)
    except SlackApiError as e:
        log.warning("ephemeral to %s failed: %s", _clicker(body), e.response.get("error"))
