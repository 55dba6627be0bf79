"""What the service needs from outside, as Protocols wiring fills in: jobs, the directory, a clock."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """The wall clock, aware UTC."""
    return datetime.now(UTC)


@dataclass(frozen=True, kw_only=True)
class Ending:
    """A request that ended, and what must follow it (see Jobs.request_ended)."""

    request_id: str
    delivery_id: str | None
    resume: bool
    version: int


class Jobs(Protocol):
    """Background work the service asks for once its transaction has committed."""

    def post_cards(self, request_id: str) -> None: ...

    def escalated(self, request_id: str, *, from_level: int, to_level: int) -> None:
        """Tell the people added by these escalation levels, and everyone on the card."""
        ...

    def reminded(self, request_id: str, *, reminder: int) -> None:
        """Send reminder number `reminder` (a thread reply or a DM, never a new card)."""
        ...

    def request_changed(self, request_id: str, version: int) -> None:
        """Update every card to show `version` (an item answered, a vote, an escalation)."""
        ...

    def request_ended(self, request_id: str, *, delivery_id: str | None, resume: bool, version: int) -> None:
        """Update every card, deliver the callback, resume the graph, wake long-polling agents."""
        ...

    def requests_ended(self, endings: Sequence[Ending]) -> None:
        """request_ended for many requests at once (a batch of timeouts)."""
        ...

    def tell(self, channel: str, user: str, text: str) -> bool:
        """Have a worker tell `user` ephemerally in `channel` why their click changed nothing;
        False when it could not be handed over (the caller then tells them itself)."""
        ...


class Directory(Protocol):
    """Turns approver names (user ids, emails, group handles) into Slack user ids."""

    def resolve(self, entries: Sequence[str], *, field: str = "approvers") -> list[str]: ...

    def check_channel(self, channel: str) -> None:
        """Raise InvalidInput naming `channel` if the bot cannot post there; Unavailable if unknown."""
        ...
