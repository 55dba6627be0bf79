"""What a job needs (database, Slack client, clock, ...), installed by the worker entrypoint."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from slack_sdk import WebClient

from bot.service import ApprovalService
from bot.storage.db import Database
from bot.webhooks.transport import Outbound

if TYPE_CHECKING:  # the job table imports the job modules, which import this one
    from bot.agents.runs import GraphExecutor
    from workers.queues import RQJobs


@dataclass(frozen=True, kw_only=True)
class JobContext:
    """The real parts a job works with; built by bot.wiring."""

    db: Database
    slack: WebClient
    clock: Callable[[], datetime]
    jobs: RQJobs
    outbound: Outbound  # how callbacks to agents reach the network
    callback_secrets: Mapping[str, tuple[str, ...]]  # agent name -> the secrets that sign its callbacks
    allow_private_callbacks: bool
    graphs: Callable[[], GraphExecutor]  # built on first use: it imports langgraph and the graphs
    service: ApprovalService
    sweep_interval: float = 5.0
    lease: float = 15.0  # a dead worker's heartbeat and thread locks lapse after this many seconds


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
