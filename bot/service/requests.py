"""What an agent asks for, before the service stores it."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from typing import Any

from bot.core.items import Item
from bot.core.vocabulary import DEFAULT_URGENCY


@dataclass(frozen=True, kw_only=True)
class NewRequest:
    """What an agent asks for; validated by the API schema before it gets here."""

    action: str
    summary: str
    args: Mapping[str, Any] = field(default_factory=dict)
    approvers: Sequence[str] = ()
    context: Mapping[str, Any] | str | None = None  # an object, or text shown as it is
    urgency: str = DEFAULT_URGENCY
    channel: str | None = None
    dm: bool | None = None
    requester: str | None = None
    idempotency_key: str | None = None
    callback_url: str | None = None
    # Set for requests raised by a graph's interrupt: several items, and where to resume.
    items: Sequence[Item] | None = None
    kind: str = "api"
    run_id: str | None = None
    interrupt_id: str | None = None
    # The operator's SIGNOFF_DEFAULT_APPROVERS for graph runs: asked only when the matching rule
    # names nobody and lets requests name approvers; unlike `approvers`, never a claim of the agent.
    fallback_approvers: Sequence[str] = ()
    # The request's own deadline, within what its rules allow (bot.core.routing.with_request_deadline).
    timeout: timedelta | None = None
    on_timeout: str | None = None

    def body_hash(self) -> str:
        """A digest of everything but the idempotency key, to spot a reused key."""
        body = {k: v for k, v in asdict(self).items() if k != "idempotency_key"}
        body["items"] = [i.to_json() for i in self.items or ()]
        return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()
