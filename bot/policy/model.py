"""Routing policy as pure data: rules, escalation steps and the policy that holds them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from bot.core.vocabulary import Urgency
from bot.errors import InvalidSettings
from bot.policy.conditions import Condition

AUTO = ("approve", "reject")
NOTIFY = ("channel", "dm", "both")
ON_TIMEOUT = ("reject", "approve", "wait")
MENTIONS = ("approvers", "none", "here")  # whom a channel card pings
URGENCIES = tuple(Urgency)


class InvalidPolicy(InvalidSettings):
    """The policy file cannot be used; the message names the file, the line and the reason."""




@dataclass(frozen=True, kw_only=True)
class Escalation:
    """After `after` (from the request's creation), `to` become eligible and are told."""

    after: timedelta
    to: tuple[str, ...]
    notify: str = "dm"  # dm | channel | both


@dataclass(frozen=True, kw_only=True)
class Rule:
    """One route: what it matches, and who decides how (or `auto`, decided by the system)."""

    name: str
    line: int  # where it starts in the file, for messages; 0 when not from a file
    actions: tuple[str, ...] = ()  # fnmatch globs; empty: any
    requesters: tuple[str, ...] = ()  # exact, after normalising (bot.core.identity); empty: any
    agents: tuple[str, ...] = ()  # the authenticated agent (its API token's name); empty: any
    urgencies: tuple[str, ...] = ()  # empty: any
    conditions: tuple[Condition, ...] = ()  # all must hold
    auto: str | None = None  # approve | reject
    approvers: tuple[str, ...] = ()
    channel: str | None = None
    notify: str | None = None  # channel | dm | both; None: channel if a channel is set, else dm
    urgency: str | None = None
    quorum: int = 1
    separation_of_duties: bool = True
    remind_every: timedelta | None = None
    escalations: tuple[Escalation, ...] = ()
    timeout: timedelta | None = None
    on_timeout: str = "reject"  # reject | approve | wait
    max_timeout: timedelta | None = None  # the longest deadline a request may ask for
    allow_request_approvers: bool = False
    mention: str = "approvers"  # one of MENTIONS
    confirm: bool | None = None  # Approve asks first; None: only at high urgency

    @property
    def notify_mode(self) -> str:
        """`notify`, or what it defaults to: `channel` when the rule names a channel, else `dm` (a
        request routed by a rule without either is DMed, and posted in its own channel if any)."""
        return self.notify or ("channel" if self.channel else "dm")


@dataclass(frozen=True, kw_only=True)
class Policy:
    """Rules tried in order, first match wins; `default` (named "default") when none matches."""

    rules: tuple[Rule, ...]
    default: Rule

    @property
    def every_rule(self) -> tuple[Rule, ...]:
        """The rules in order, then the default."""
        return (*self.rules, self.default)

    @classmethod
    def permissive(cls) -> Policy:
        """No policy file: every request goes to the approvers it names, as before policies existed."""
        return cls(rules=(), default=Rule(name="default", line=0, allow_request_approvers=True))


@dataclass(frozen=True, kw_only=True)
class Explanation:
    """The rule that applies, and why each earlier rule did not, in order."""

    rule: Rule
    skipped: tuple[tuple[str, str], ...]

    @property
    def is_default(self) -> bool:
        """Whether no rule matched and the default applies."""
        return self.rule.name == "default"
