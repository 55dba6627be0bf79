"""The client's one error tree (drawn in the package docstring)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from signoff_client.models import ApprovalRequest


class SignoffError(Exception):
    """Base of every error the Signoff client raises on purpose."""


class APIError(SignoffError):
    """The server answered with an error: HTTP `status`, its `error` code, `detail` and bad `fields`."""

    def __init__(self, status: int, error: str, detail: str, fields: Mapping[str, str] | None = None) -> None:
        super().__init__(status, error, detail, fields)
        self.status = status
        self.error = error
        self.detail = detail
        self.fields: dict[str, str] = dict(fields or {})

    def __str__(self) -> str:
        named = "; ".join(f"{k}: {v}" for k, v in self.fields.items())
        return f"{self.status} {self.error}: {self.detail}" + (f" ({named})" if named else "")


class Unreachable(SignoffError, ConnectionError):
    """The server could not be reached, or the connection broke, and retrying was not safe or did
    not help within the client's `retry_for` seconds; the httpx error is the `__cause__`."""


class _Outcome(SignoffError):
    """A request that ended (or stayed) other than approved; `.request` is its last known state."""

    def __init__(self, request: ApprovalRequest) -> None:
        super().__init__(request)
        self.request = request

    @property
    def reason(self) -> str | None:
        """Why the decider decided so, when they said."""
        return self.request.reason

    @property
    def decided_by(self) -> str | None:
        """Who decided, when someone did."""
        return self.request.decided_by

    def __str__(self) -> str:
        r = self.request
        who = f" by {r.decided_by}" if r.decided_by else ""
        why = f": {r.reason}" if r.reason else ""
        return f"{r.action} ({r.id}) {r.status}{who}{why}"


class Rejected(_Outcome):
    """An approver rejected the request."""


class Expired(_Outcome):
    """The request expired on the server before anyone decided."""


class Cancelled(_Outcome):
    """The request was cancelled before anyone decided."""


class WaitTimedOut(_Outcome, TimeoutError):
    """The request was still pending when the wait's timeout passed."""

    def __str__(self) -> str:
        return f"{self.request.action} ({self.request.id}) still pending when the wait timed out"


class CallbackVerificationError(SignoffError):
    """A callback's headers or signature do not check out; the message names what is wrong."""
