"""Signoff's Python client: ask humans in Slack for a decision before an agent acts.

Needs only httpx. A sketch::

    from signoff_client import SignoffClient, requires_approval

    with SignoffClient.from_env() as client:                 # SIGNOFF_URL, SIGNOFF_TOKEN
        asked = client.request(action="issue_refund", summary="Refund $340 to order #1234",
                               approvers=["@finance"], args={"order": 1234, "amount": 340})
        decided = client.wait(asked.id, timeout=600)

    @requires_approval(action="issue_refund", approvers=["@finance"],
                       summary="Refund ${amount} to order #{order}")
    def issue_refund(order: int, amount: int) -> None: ...

Idempotent calls (get, wait, get_run, cancel, and request with an idempotency_key) are retried
with backoff across a web restart or a 502/503/504 (honouring Retry-After) for `retry_for`
seconds; any call is retried when the connection was refused, as nothing was sent. Errors, all
raised on purpose, form one tree (httpx's errors never escape)::

    SignoffError
     ├── APIError                   the server said no: .status, .error, .detail, .fields
     ├── Unreachable                no answer (also a ConnectionError); the httpx error is __cause__
     ├── Rejected                   an approver rejected it       ┐
     ├── Expired                    it expired undecided          │ each carries .request
     ├── Cancelled                  it was cancelled              │ (and .reason, .decided_by)
     ├── WaitTimedOut               still pending at the timeout  ┘ (also a TimeoutError)
     └── CallbackVerificationError  a callback's signature or timestamp does not check out
"""

from signoff_client.callbacks import verify_callback
from signoff_client.client import AsyncSignoffClient, SignoffClient
from signoff_client.decorator import requires_approval
from signoff_client.errors import (
    APIError,
    CallbackVerificationError,
    Cancelled,
    Expired,
    Rejected,
    SignoffError,
    Unreachable,
    WaitTimedOut,
)
from signoff_client.models import ApprovalRequest

__all__ = [
    "APIError", "ApprovalRequest", "AsyncSignoffClient", "CallbackVerificationError", "Cancelled", "Expired",
    "Rejected", "SignoffClient", "SignoffError", "Unreachable", "WaitTimedOut", "requires_approval",
    "verify_callback",
]
