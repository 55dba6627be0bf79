"""Every action_id, block_id and callback_id Signoff puts in Slack, in one place."""

from __future__ import annotations

import re

# Interactive ids: listeners match on these, so they never change once shipped.
ACTION_APPROVE = "signoff_approve"
ACTION_REJECT = "signoff_reject"
ACTION_DETAILS = "signoff_details"  # "View details" button when something was truncated
ACTION_EDIT = "signoff_edit"  # per-item "Edit" button: opens VIEW_EDIT
ACTION_RESPOND = "signoff_respond"  # per-item "Respond" button: opens VIEW_RESPOND
VIEW_REJECT = "signoff_reject_modal"  # callback_id of the reject-reason modal
VIEW_DETAILS = "signoff_details_modal"
VIEW_EDIT = "signoff_edit_modal"
VIEW_RESPOND = "signoff_respond_modal"
VIEW_APPROVE = "signoff_approve_modal"  # Approve with a comment, when the item asks for one
BLOCK_REASON = "reason"  # input block in the reject modal
ACTION_REASON = "reason_input"
BLOCK_ACTIONS = "signoff_actions"
BLOCK_COMMENT = "comment"  # input block in the approve modal
ACTION_COMMENT = "comment_input"
BLOCK_RESPONSE = "response"  # free-text input in the respond modal (no answer schema)
ACTION_RESPONSE = "response_input"
BLOCK_FORM_JSON = "field__json"  # the one JSON textarea of a form that is not per-field
ACTION_FORM_VALUE = "value"  # the element of every form input

# Layout ids: unique within one message or view, never matched by a listener.
BLOCK_HEADER = "header"
BLOCK_SUMMARY = "summary"
BLOCK_FIELDS = "fields"
BLOCK_DIVIDER = "divider"
BLOCK_ARGS_MORE = "args_more"
BLOCK_CONTEXT = "context"
BLOCK_OUTCOME = "outcome"
BLOCK_REJECT_SUMMARY = "reject_summary"
BLOCK_APPROVE_SUMMARY = "approve_summary"
BLOCK_ITEMS_MORE = "items_more"
BLOCK_EDIT_SUMMARY = "edit_summary"
BLOCK_EDIT_PROBLEM = "edit_problem"  # why the arguments cannot be edited in Slack
BLOCK_RESPOND_PROMPT = "respond_prompt"


def button_value(request_id: str, index: int | None = None) -> str:
    """A button value / private_metadata: the request id, plus `#index` for one item of it."""
    # "#" separates the item index, so an id holding one could be read back as another request.
    if "#" in request_id:
        raise ValueError("a request id must not contain '#'")
    if index is None:
        return request_id
    if index < 0:
        raise ValueError(f"item index must be >= 0, not {index}")
    return f"{request_id}#{index}"


def parse_button_value(value: str) -> tuple[str, int | None]:
    """(request id, item index or None) from a button value or private_metadata."""
    request_id, hash_, index = value.partition("#")
    if not request_id:
        raise ValueError("no request id in the value")
    if not hash_:
        return request_id, None
    # Canonical digits only, so one item has exactly one spelling.
    if not re.fullmatch(r"0|[1-9][0-9]*", index):
        raise ValueError(f"malformed item index {index[:20]!r}")
    return request_id, int(index)


def arg_block_id(index: int) -> str:
    """The block_id of the card section showing the index-th argument."""
    return f"arg_{index}"


def details_block_id(index: int) -> str:
    """The block_id of the index-th block in the details modal."""
    return f"detail_{index}"


def item_block_id(index: int) -> str:
    """The block_id of the section describing the index-th item on a card."""
    return f"item_{index}"


def item_actions_block_id(index: int) -> str:
    """The block_id of the index-th item's buttons."""
    return f"item_{index}_actions"


def item_answer_block_id(index: int) -> str:
    """The block_id of the line saying how the index-th item was answered."""
    return f"item_{index}_answer"


def item_divider_block_id(index: int) -> str:
    """The block_id of the divider above the index-th item."""
    return f"item_{index}_divider"


def form_block_id(name: str, position: int) -> str:
    """The block_id of a form input for property `name`, the position-th in its schema."""
    # Readable when the name is tame; otherwise by position ("#" never occurs in a tame name,
    # and "_json" is kept out so no property can collide with BLOCK_FORM_JSON).
    if re.fullmatch(r"[A-Za-z0-9_.\-]{1,200}", name) and name != "_json":
        return f"field_{name}"
    return f"field#{position}"

BLOCK_PROGRESS = "signoff_progress"  # quorum progress and escalation line
BLOCK_FAILURE = "signoff_failure"  # what failed after the decision (resume, run, callback)
