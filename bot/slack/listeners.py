"""Bolt listeners: parse, ack, one service call; errors become ephemeral explanations."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient

from blocks import ids
from blocks.card import already_decided_text, details_modal, not_an_approver_text, reject_modal, slack_date
from blocks.forms import changed_block, parse_form
from blocks.home import home_view
from blocks.modals import approve_modal, edit_modal, respond_modal
from bot.core import lifecycle
from bot.core.items import Item
from bot.core.lifecycle import Verdict
from bot.errors import (
    AlreadyDecided,
    AlreadyVoted,
    CommentWanted,
    InvalidInput,
    NotAuthorized,
    NotFound,
    SignoffError,
    Unavailable,
)
from bot.service import ApprovalService
from bot.slack.delivery import card_for
from bot.storage import repo
from bot.storage.tables import ApprovalRequest

log = logging.getLogger(__name__)

REASON_MISSING = ("The reason is empty: say why you reject it. The requester and the agent will see it, "
                  "and the audit log keeps it.")


def register(app: App, service: ApprovalService, *, after_ack: Executor) -> None:
    """Attach Signoff's listeners to a Bolt app; `after_ack` runs the Slack calls made after acking."""

    def later(fn: Callable[..., object], *args: Any) -> None:
        after_ack.submit(_logged, fn, *args)

    @app.action(ids.ACTION_APPROVE)
    def approve(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        # The decision is one short transaction; acking after it means that once Slack's request
        # returns, the click is durable.
        try:
            request_id, index = _target(_action_value(body))
            service.decide(request_id, actor=_clicker(body), verdict=Verdict.APPROVE, index=index,
                           comment_first=True)
        except CommentWanted:
            ack()  # the request asks for a comment with Approve: a modal, like Reject
            later(_open_modal, service, client, body, _approve_view)
            return
        except SignoffError as e:
            ack()
            later(_tell, service, client, body, explain(e))
            return
        ack()
        if _on_home(body):  # clicked on the Home tab: refresh it
            later(publish_home, service, client, _clicker(body))

    @app.event("app_home_opened")
    def home_opened(ack: Ack, event: dict[str, Any], client: WebClient) -> None:
        ack()
        if event.get("tab", "home") == "home" and isinstance(event.get("user"), str):
            later(publish_home, service, client, event["user"])

    def opens(action_id: str, make_view: Callable[[ApprovalRequest, int | None], dict[str, Any]]) -> None:
        @app.action(action_id)
        def open_modal(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
            ack()
            later(_open_modal, service, client, body, make_view)

    opens(ids.ACTION_REJECT, lambda row, i: reject_modal(request_id=row.id, summary=row.summary, index=i))
    opens(ids.ACTION_EDIT, lambda row, i: edit_modal(
        request_id=row.id, index=i, action=_item(row, i).action, args=_item(row, i).args,
        args_schema=_item(row, i).args_schema, summary=row.summary))
    opens(ids.ACTION_RESPOND, lambda row, i: respond_modal(
        request_id=row.id, index=i, prompt=_item(row, i).description or row.summary,
        answer_schema=_item(row, i).answer_schema))

    @app.action(ids.ACTION_DETAILS)
    def details(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        later(_open_details_modal, service, client, body)

    @app.view(ids.VIEW_REJECT)
    def reject_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        reason = _text(view, ids.BLOCK_REASON, ids.ACTION_REASON)
        if not reason:
            ack(response_action="errors", errors={ids.BLOCK_REASON: REASON_MISSING})
            return
        _submit(ack, body, view, lambda row, i: {"verdict": Verdict.REJECT, "reason": reason})

    @app.view(ids.VIEW_APPROVE)
    def approve_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        comment = _text(view, ids.BLOCK_COMMENT, ids.ACTION_COMMENT)
        _submit(ack, body, view, lambda row, i: {"verdict": Verdict.APPROVE, "reason": comment or None})

    @app.view(ids.VIEW_EDIT)
    def edit_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        def edited(row: ApprovalRequest, i: int | None) -> dict[str, Any] | dict[str, str]:
            item = _item(row, i)
            args, errors = parse_form(item.args_schema, _state(view), fallback_args=item.args)
            return errors or {"verdict": Verdict.EDIT, "args": args}

        def changed(row: ApprovalRequest, i: int | None, decision: dict[str, Any]) -> str | None:
            # An edit refused (it moves the item under another rule, or breaks its schema) is
            # about what was changed: the error shows under that field, not the first one.
            item = _item(row, i)
            return changed_block(item.args_schema, item.args, decision["args"])

        _submit(ack, body, view, edited, where=changed)

    @app.view(ids.VIEW_RESPOND)
    def respond_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        def answered(row: ApprovalRequest, i: int | None) -> dict[str, Any] | dict[str, str]:
            schema = _item(row, i).answer_schema
            if schema is None:
                text = _text(view, ids.BLOCK_RESPONSE, ids.ACTION_RESPONSE)
                return {"verdict": Verdict.RESPOND, "reason": text} if text else {
                    ids.BLOCK_RESPONSE: "Write the answer the agent should get."}
            answer, errors = parse_form(schema, _state(view))
            return errors or {"verdict": Verdict.RESPOND, "answer": answer}

        _submit(ack, body, view, answered)

    def _submit(ack: Ack, body: dict[str, Any], view: dict[str, Any],
                read: Callable[[ApprovalRequest, int | None], dict[str, Any]],
                where: Callable[[ApprovalRequest, int | None, dict[str, Any]], str | None] | None = None,
                ) -> None:
        """Decide from a submitted modal; problems stay in the modal, next to the field (`where`
        says which field a refused decision is about, else the first)."""
        block: str | None = None
        try:
            request_id, index = _target(str(view.get("private_metadata", "")))
            row = service.get(request_id)
            decision = read(row, index)
            if "verdict" not in decision:
                ack(response_action="errors", errors=decision)
                return
            block = where(row, index, decision) if where is not None else None
            service.decide(request_id, actor=_clicker(body), index=index, **decision)
        except SignoffError as e:
            # Under the changed field only when the edit itself is refused (its rule, its schema);
            # "already decided" and the like are about the whole submission.
            # (And only a block the view has: Slack refuses any other.)
            shown = block if isinstance(e, InvalidInput) and block in _input_blocks(view) else None
            ack(response_action="errors", errors={shown or _first_input(view): explain(e)})
            return
        ack()


def publish_home(service: ApprovalService, client: WebClient, user: str, notice: str | None = None) -> None:
    """Show `user` the requests waiting on them on the App Home tab (with a one-line notice)."""
    waiting = [card_for(row) for row in service.waiting_on(user)]
    client.views_publish(user_id=user, view=home_view(waiting, notice=notice))


def _open_modal(service: ApprovalService, client: WebClient, body: dict[str, Any],
                make_view: Callable[[ApprovalRequest, int | None], dict[str, Any]]) -> None:
    try:
        request_id, index = _target(_action_value(body))
        row = service.check_can_decide(request_id, actor=_clicker(body), index=index)
        view = make_view(row, index)
    except SignoffError as e:
        _tell(service, client, body, explain(e))
        return
    client.views_open(trigger_id=body["trigger_id"], view=view)


def _approve_view(row: ApprovalRequest, index: int | None) -> dict[str, Any]:
    return approve_modal(request_id=row.id, summary=row.summary, index=index,
                         required=_item(row, index).approve_comment == "required")


def _open_details_modal(service: ApprovalService, client: WebClient, body: dict[str, Any]) -> None:
    try:
        row = service.get(_target(_action_value(body))[0])
    except SignoffError as e:
        _tell(service, client, body, explain(e))
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
        return _already_answered(error)
    if isinstance(error, NotAuthorized) and error.own_request:
        return ("You started this request, so someone else has to decide it (separation of duties). "
                "Nothing was changed.")
    if isinstance(error, NotAuthorized):
        return not_an_approver_text(approvers=error.approvers)
    if isinstance(error, AlreadyVoted):
        left = error.quorum - len(error.approvals)
        return (f"You already approved this ({len(error.approvals)} of {error.quorum} approvals). It needs "
                f"{left} more from {'someone else' if left == 1 else 'other people'}; nothing was changed.")
    if isinstance(error, NotFound):
        return "This approval request no longer exists in Signoff; nothing was changed."
    if isinstance(error, Unavailable):
        return "Signoff can't record decisions right now, try again in a minute. Nothing was changed."
    return f"Signoff could not record that: {error}"


def _already_answered(error: AlreadyDecided) -> str:
    """"Already approved by X, T." for a request; the same for one item of a batch."""
    try:
        return already_decided_text(status=error.status, decided_by=error.decided_by,
                                    decided_at=error.decided_at)
    except ValueError:
        # One item of a batch was answered: its status ("approved item") is not a request's, and
        # the card text refused it, which crashed the listener and told the clicker nothing.
        return (f"Already answered ({error.status}) by <@{error.decided_by}>, "
                f"{slack_date(error.decided_at)}. Nothing was changed.")


def _clicker(body: dict[str, Any]) -> str:
    return str(body["user"]["id"])


def _action_value(body: dict[str, Any]) -> str:
    actions = body.get("actions") or [{}]
    return str(actions[0].get("value") or "")


def _target(value: str) -> tuple[str, int | None]:
    """(request id, item index) from a button value or a modal's private_metadata."""
    try:
        return ids.parse_button_value(value)
    except ValueError as e:
        raise InvalidInput(f"not a Signoff button or modal ({value[:60]!r})") from e


def _item(row: ApprovalRequest, index: int | None) -> Item:
    state = repo.state_of(row)
    return state.items[lifecycle.item_index(state, index)]


def _state(view: dict[str, Any]) -> dict[str, Any]:
    # SlackEndpoint checked the shape of `values`; `state` itself may be absent or null.
    return dict((view.get("state") or {}).get("values") or {})


def _text(view: dict[str, Any], block_id: str, action_id: str) -> str:
    raw = (_state(view).get(block_id) or {}).get(action_id, {}).get("value")
    return raw.strip() if isinstance(raw, str) else ""


def _input_blocks(view: dict[str, Any]) -> list[str]:
    """The view's input blocks, in order: where Slack can show an error."""
    return [str(b["block_id"]) for b in view.get("blocks") or ()
            if b.get("type") == "input" and b.get("block_id")]


def _first_input(view: dict[str, Any]) -> str:
    """The block an error shows under when it is about the whole submission."""
    return next(iter(_input_blocks(view)), ids.BLOCK_REASON)


def _on_home(body: dict[str, Any]) -> bool:
    return (body.get("view") or {}).get("type") == "home"


def _tell(service: ApprovalService, client: WebClient, body: dict[str, Any], text: str) -> None:
    """Tell the clicker why nothing happened: on the Home tab (republished), or ephemerally."""
    if _on_home(body):  # no channel to whisper in: the tab itself says it, and shows what is left
        publish_home(service, client, _clicker(body), notice=text)
        return
    channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")
    if channel is None:
        log.warning("cannot tell %s: %s (no channel in payload)", _clicker(body), text)
        return
    # A worker sends it: no Slack call from web, unless Redis cannot take it (this runs after
    # the ack either way). A Redis that took it but answered too late gets it said twice.
    if not service.jobs.tell(channel, _clicker(body), text):
        client.chat_postEphemeral(channel=channel, user=_clicker(body), text=text)
