"""Every action_id, block_id and callback_id Signoff puts in Slack, in one place."""

from __future__ import annotations

# Interactive ids: listeners match on these, so they never change once shipped.
ACTION_APPROVE = "signoff_approve"
ACTION_REJECT = "signoff_reject"
ACTION_DETAILS = "signoff_details"  # "View details" button when something was truncated
VIEW_REJECT = "signoff_reject_modal"  # callback_id of the reject-reason modal
VIEW_DETAILS = "signoff_details_modal"
BLOCK_REASON = "reason"  # input block in the reject modal
ACTION_REASON = "reason_input"
BLOCK_ACTIONS = "signoff_actions"

# Layout ids: unique within one message or view, never matched by a listener.
BLOCK_HEADER = "header"
BLOCK_SUMMARY = "summary"
BLOCK_FIELDS = "fields"
BLOCK_DIVIDER = "divider"
BLOCK_ARGS_MORE = "args_more"
BLOCK_CONTEXT = "context"
BLOCK_OUTCOME = "outcome"
BLOCK_REJECT_SUMMARY = "reject_summary"


def arg_block_id(index: int) -> str:
    """The block_id of the card section showing the index-th argument."""
    return f"arg_{index}"


def details_block_id(index: int) -> str:
    """The block_id of the index-th block in the details modal."""
    return f"detail_{index}"
