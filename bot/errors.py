"""Signoff's one error tree, translated at each edge.

    SignoffError
     ├── InvalidSettings      a setting is missing, malformed or a placeholder (process stops)
     ├── InvalidInput         an API body or Slack payload does not fit (API: 422)
     ├── NotFound             no such request (API: 404; Slack: ephemeral)
     ├── NotAuthorized        the clicker may not decide this request (Slack: ephemeral + audit)
     ├── AlreadyDecided       the request left `pending` before this decision (Slack: ephemeral)
     ├── AlreadyVoted         a second approval from the same person towards a quorum
     ├── IdempotencyConflict  an idempotency key reused with a different body (API: 409)
     ├── StaleDecision        a decision made against a version the request has left (API: 409)
     ├── DeliveryFailed       Slack refused a card; the job retries or fails loudly
     └── Unavailable          Slack or the database cannot answer now (API: 503 + Retry-After;
                              Slack: ephemeral "try again"); nothing was changed
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime


class SignoffError(Exception):
    """Base of every error Signoff raises on purpose."""


class InvalidSettings(SignoffError):
    """A setting is missing, malformed or still a placeholder; `problems` lists each one found."""

    def __init__(self, detail: str, *, problems: Sequence[str] = ()) -> None:
        super().__init__(detail)
        self.problems = list(problems) or [detail]

    @classmethod
    def of(cls, problems: Sequence[str]) -> InvalidSettings:
        """One error for every problem found, all named on one line."""
        if len(problems) == 1:
            return cls(problems[0])
        return cls(f"{len(problems)} settings need fixing: " + "; ".join(
            f"({n}) {p.rstrip('.')}" for n, p in enumerate(problems, start=1)), problems=problems)


class InvalidInput(SignoffError):
    """Input from outside does not fit; `fields` maps each bad field to what is wrong."""

    def __init__(self, detail: str, *, fields: Mapping[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.fields = dict(fields or {})


class NotFound(SignoffError):
    """The named request does not exist."""


class NotAuthorized(SignoffError):
    """The actor may not decide this request."""

    def __init__(self, detail: str, *, actor: str, approvers: tuple[str, ...] = (),
                 own_request: bool = False) -> None:
        super().__init__(detail)
        self.actor = actor
        self.approvers = approvers
        self.own_request = own_request  # refused by separation of duties, not by the approver list


class AlreadyDecided(SignoffError):
    """The request was decided (or ended) before this attempt."""

    def __init__(self, *, request_id: str, status: str, decided_by: str, decided_at: datetime):
        super().__init__(f"request {request_id} is already {status} by {decided_by} at {decided_at}")
        self.request_id = request_id
        self.status = status
        self.decided_by = decided_by
        self.decided_at = decided_at


class AlreadyVoted(SignoffError):
    """The same person approved twice towards a quorum; the second changes nothing."""

    def __init__(self, detail: str, *, approvals: tuple[str, ...], quorum: int) -> None:
        super().__init__(detail)
        self.approvals = approvals
        self.quorum = quorum


class IdempotencyConflict(SignoffError):
    """An idempotency key was reused with a different request body."""


class StaleDecision(SignoffError):
    """A decision named the version (or checkpoint) it saw, and the request has moved on since."""

    def __init__(self, detail: str, *, request_id: str) -> None:
        super().__init__(detail)
        self.request_id = request_id


class CommentWanted(SignoffError):
    """An Approve button on an item that asks for a comment with Approve: nothing was decided;
    the clicker gets a form for the comment."""


class DeliveryFailed(SignoffError):
    """Slack refused to show a card; raised inside worker jobs so RQ retries them."""


class Unavailable(SignoffError):
    """Something Signoff depends on (Slack, the database) cannot answer now; nothing was changed.

    A check that needs it refuses instead of passing: fail closed, ask to retry after `retry_after` s.
    """

    def __init__(self, detail: str, *, retry_after: int = 30) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class RateLimited(SignoffError):
    """An agent asked for more than its limit allows; nothing was stored. Retry after `retry_after` s."""

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class RunFailed(SignoffError):
    """What a graph run asks cannot be asked (a payload, an approver, a channel), and the run has
    failed with it: another attempt would fail the same way."""
