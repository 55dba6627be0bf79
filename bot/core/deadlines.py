"""Reminders, escalation and timeouts as pure functions of a request's route and the time."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any


@dataclass(frozen=True, kw_only=True)
class Step:
    """One escalation level: after this long, these people are added and told."""

    after: timedelta
    to: tuple[str, ...]  # Slack user ids, resolved when the request was created
    notify: str = "dm"  # dm | channel | both
    rule: str | None = None  # the items whose rule this is get the people; None: every item


@dataclass(frozen=True, kw_only=True)
class Route:
    """What the matching policy rule says about a request once it is pending."""

    rule: str
    quorum: int = 1
    separation_of_duties: bool = True
    remind_every: timedelta | None = None
    escalations: tuple[Step, ...] = ()
    timeout: timedelta | None = None
    on_timeout: str = "reject"  # reject | approve | wait

    def to_json(self) -> dict[str, Any]:
        """The stored form (seconds for durations)."""
        secs = lambda td: td.total_seconds() if td is not None else None  # noqa: E731
        return {"rule": self.rule, "quorum": self.quorum, "separation_of_duties": self.separation_of_duties,
                "remind_every": secs(self.remind_every), "timeout": secs(self.timeout),
                "on_timeout": self.on_timeout,
                "escalations": [{"after": s.after.total_seconds(), "to": list(s.to), "notify": s.notify,
                                 "rule": s.rule} for s in self.escalations]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> Route:
        """Read the stored form; None (requests from before policies) is the permissive route."""
        if not data:
            return cls(rule="default")
        td = lambda v: timedelta(seconds=v) if v is not None else None  # noqa: E731
        return cls(rule=data["rule"], quorum=int(data.get("quorum", 1)),
                   separation_of_duties=bool(data.get("separation_of_duties", True)),
                   remind_every=td(data.get("remind_every")), timeout=td(data.get("timeout")),
                   on_timeout=data.get("on_timeout", "reject"),
                   escalations=tuple(Step(after=timedelta(seconds=s["after"]), to=tuple(s["to"]),
                                          notify=s.get("notify", "dm"), rule=s.get("rule"))
                                     for s in data.get("escalations", ())))


@dataclass(frozen=True, kw_only=True)
class Due:
    """What is due now: a new escalation level, a reminder, the timeout; and when to look next."""

    level: int  # the escalation level to be at (unchanged if none is due)
    reminders: int  # reminders to have sent (one message however many intervals were missed)
    timeout: bool
    next_at: datetime | None

    def changes(self, *, level: int, reminders: int) -> bool:
        """Whether anything fires compared with the stored state."""
        return self.timeout or self.level != level or self.reminders != reminders


def due(route: Route, *, created_at: datetime, level: int, reminders: int, now: datetime,
        stranded: bool = False) -> Due:
    """What fires at `now`. `stranded`: nobody eligible may decide (separation of duties), so the
    next escalation level is due at once."""
    timed_out = (route.timeout is not None and route.on_timeout != "wait"
                 and now >= created_at + route.timeout)
    new_level = level
    while new_level < len(route.escalations) and now >= created_at + route.escalations[new_level].after:
        new_level += 1
    if stranded and new_level == level and level < len(route.escalations):
        new_level = level + 1
    new_reminders = reminders
    if route.remind_every is not None:
        new_reminders = max(reminders, int((now - created_at) / route.remind_every))
    return Due(level=new_level, reminders=new_reminders, timeout=timed_out,
               next_at=None if timed_out else next_deadline(route, created_at=created_at, level=new_level,
                                                            reminders=new_reminders))


def next_deadline(route: Route, *, created_at: datetime, level: int, reminders: int) -> datetime | None:
    """When something is next due for a pending request, or None."""
    times = []
    if route.remind_every is not None:
        times.append(created_at + route.remind_every * (reminders + 1))
    if level < len(route.escalations):
        times.append(created_at + route.escalations[level].after)
    if route.timeout is not None and route.on_timeout != "wait":
        times.append(created_at + route.timeout)
    return min(times) if times else None
