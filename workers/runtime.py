"""What a job needs (database, Slack client, clock, ...), installed by the worker entrypoint."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import httpx
from slack_sdk import WebClient

if TYPE_CHECKING:
    from bot.agents.runs import GraphExecutor

from sqlmodel import col, select

from bot.service import ApprovalService
from bot.storage.db import Database
from bot.storage.tables import ApprovalRequest, CallbackDelivery, SlackMessage
from workers.queues import RQJobs


@dataclass(frozen=True, kw_only=True)
class JobContext:
    """The real parts a job works with; built by bot.wiring."""

    db: Database
    slack: WebClient
    clock: Callable[[], datetime]
    jobs: RQJobs
    http: httpx.Client  # for callbacks to agents
    callback_secrets: Mapping[str, str]  # agent name -> the API token that signs its callbacks
    allow_private_callbacks: bool
    graphs: Callable[[], GraphExecutor]  # built on first use: it imports langgraph and the graphs
    service: ApprovalService
    sweep_interval: float = 5.0

    def db_resumes_queued(self, *, before: datetime | None = None) -> list[str]:
        """Decided requests whose graph has not been resumed yet (decided before `before`)."""
        with self.db.read() as s:
            query = select(ApprovalRequest.id).where(ApprovalRequest.resume_state == "queued")
            if before is not None:
                query = query.where(col(ApprovalRequest.decided_at) <= before)
            return list(s.exec(query.limit(500)))

    def lost_cards(self, *, before: datetime) -> list[str]:
        """Pending requests created before `before` of which no card copy was ever recorded."""
        with self.db.read() as s:
            posted = select(SlackMessage.request_id).where(SlackMessage.request_id == ApprovalRequest.id)
            query = (select(ApprovalRequest.id)
                     .where(ApprovalRequest.status == "pending", col(ApprovalRequest.created_at) <= before,
                            col(ApprovalRequest.created_at) > before - timedelta(days=1), ~posted.exists())
                     .limit(500))
            return list(s.exec(query))

    def stale_cards(self, *, before: datetime) -> list[tuple[str, int]]:
        """(request id, version) of requests whose posted cards do not show their latest state."""
        with self.db.read() as s:
            posted = select(SlackMessage.request_id).where(SlackMessage.request_id == ApprovalRequest.id)
            query = (select(ApprovalRequest.id, ApprovalRequest.version)
                     .where(col(ApprovalRequest.cards_version) < col(ApprovalRequest.version),
                            col(ApprovalRequest.created_at) <= before, posted.exists())
                     .limit(500))
            return [(i, v) for i, v in s.exec(query)]

    def unnotified(self) -> list[tuple[str, int, int]]:
        """(request id, told up to, escalated to) where the people escalated to were not told yet."""
        with self.db.read() as s:
            r = ApprovalRequest
            query = (select(r.id, r.notified_level, r.escalation_level)
                     .where(col(ApprovalRequest.escalation_level) > col(ApprovalRequest.notified_level),
                            ApprovalRequest.status == "pending").limit(500))
            return [(i, n, e) for i, n, e in s.exec(query)]

    def lost_callbacks(self, *, before: datetime) -> list[tuple[str, int]]:
        """Callbacks still owed whose next attempt was due before `before`: (id, attempts so far)."""
        with self.db.read() as s:
            query = (select(CallbackDelivery.id, CallbackDelivery.attempts)
                     .where(CallbackDelivery.state == "pending",
                            col(CallbackDelivery.next_attempt_at) <= before).limit(500))
            return [(d, a) for d, a in s.exec(query)]


_context: JobContext | None = None


def install(context: JobContext) -> None:
    """Make `context` the one jobs in this process use (done once by the worker entrypoint)."""
    global _context
    _context = context


def current() -> JobContext:
    """The installed context; a job run outside a Signoff worker fails here, loudly."""
    if _context is None:
        raise RuntimeError("no Signoff job context installed; run jobs with `signoff worker`")
    return _context
