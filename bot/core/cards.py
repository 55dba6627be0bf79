"""Where a request's cards stand in Slack, derived from what was posted and what failed (pure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

# What Slack answers when a channel can no longer take the card: retrying will not help.
CHANNEL_GONE = frozenset({"is_archived", "not_in_channel", "channel_not_found"})


class CardState(StrEnum):
    """How a request reached its approvers."""

    PENDING = "pending"  # not posted yet (the card job has not run)
    POSTED = "posted"  # every copy asked for is in Slack
    FALLBACK_DM = "fallback_dm"  # the channel refused the card; approvers were DMed instead
    FAILED = "failed"  # the channel refused the card and no DM reached anyone


@dataclass(frozen=True, kw_only=True)
class CardDelivery:
    """The delivery state and, when something went wrong, what Slack said."""

    state: CardState
    detail: str | None = None

    def to_json(self) -> dict[str, Any]:
        """As the API shows it."""
        return {"state": self.state.value, "detail": self.detail}


def card_delivery(*, channel: str | None, posted_channels: Sequence[str | None],
                  failures: Sequence[Mapping[str, Any]]) -> CardDelivery:
    """The state from the copies posted (their recipient, None for the channel copy) and the
    `delivery_failed` audit events' data."""
    if failures:
        last = failures[-1]
        detail = f"posting to {last.get('channel')} failed: {last.get('error')}"
        if any(r is not None for r in posted_channels):
            return CardDelivery(state=CardState.FALLBACK_DM, detail=detail + "; the approvers were sent DMs")
        return CardDelivery(state=CardState.FAILED, detail=detail)
    if not posted_channels or (channel is not None and None not in posted_channels):
        return CardDelivery(state=CardState.PENDING)
    return CardDelivery(state=CardState.POSTED)
