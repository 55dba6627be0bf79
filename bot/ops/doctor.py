"""`signoff doctor`: is everything Signoff needs there and in shape? One check per concern.

Each check takes the part it looks at and returns a Check; none raises. `fail` means Signoff
cannot work as configured; `warn` means it works but something an operator relies on is off.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime

from redis import Redis
from redis.exceptions import RedisError
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from sqlalchemy.exc import SQLAlchemyError

from bot.errors import SignoffError
from bot.observe import heartbeat
from bot.ops.clock import measure_skew
from bot.ops.preflight import database_problem, first_line
from bot.policy.model import Policy
from bot.policy.parser import policy_warnings
from bot.slack.client import token_refused, what_slack_said
from bot.slack.policy_check import channel_problem, unknown_names
from bot.slack.scopes import BOT_SCOPES
from bot.storage import schema
from bot.storage.db import Database

OK, WARN, FAIL = "ok", "warn", "fail"


@dataclass(frozen=True)
class Check:
    """One check's outcome: `status` is ok, warn or fail; `detail` says what to do when not ok."""

    name: str
    status: str
    detail: str

    def to_json(self) -> dict[str, str]:
        """For `--json`."""
        return asdict(self)


def slack_token(client: WebClient, *, needed: frozenset[str] = BOT_SCOPES) -> Check:
    """auth.test accepts the token, and it was granted every scope the manifest asks for."""
    try:
        answer = client.auth_test()
    except SlackApiError as e:
        if refused := token_refused(e):
            return Check("slack token", FAIL, f"auth.test refused SLACK_BOT_TOKEN ({refused}): copy the Bot "
                         "User OAuth Token from your Slack app again")
        return Check("slack token", FAIL, f"Slack at {client.base_url} answered {what_slack_said(e)}: check "
                     "SLACK_API_URL and the network")
    except (SlackClientError, OSError) as e:
        return Check("slack token", FAIL, f"cannot reach Slack at {client.base_url} ({first_line(e)})")
    granted = {s.strip() for s in (answer.headers.get("x-oauth-scopes") or "").split(",") if s.strip()}
    if missing := sorted(needed - granted):
        return Check("slack token", FAIL, f"the token lacks scope(s) {', '.join(missing)}: add them under "
                     "OAuth & Permissions (as slack-manifest.yml does) and reinstall the app")
    who = f"bot {answer.get('user')} in team {answer.get('team')}"
    return Check("slack token", OK, f"{who}, every scope the manifest asks for granted")


def signing_secret(secret: str | None) -> Check:
    """A signing secret is configured (its value is checked on every request Slack sends)."""
    if not secret:
        return Check("signing secret", FAIL, "SLACK_SIGNING_SECRET is not set: copy it from the app's "
                     "Basic Information page")
    return Check("signing secret", OK, "set")


def channels(client: WebClient, names: Sequence[str]) -> Check:
    """Every channel settings name exists, is not archived and has the bot in it."""
    problems = []
    for channel in dict.fromkeys(names):
        try:
            if why := channel_problem(client, channel):
                problems.append(f"{channel} {why}")
        except SlackApiError as e:
            problems.append(f"{channel}: conversations.info failed ({what_slack_said(e)})")
        except (SlackClientError, OSError) as e:
            problems.append(f"{channel}: cannot ask Slack ({first_line(e)})")
    if problems:
        return Check("channels", FAIL, "; ".join(problems))
    return Check("channels", OK, f"{len(set(names))} channel(s), the bot in each" if names else "none named")


def policy_names(client: WebClient, policy: Policy | None) -> Check:
    """Every user, group and channel the policy names resolves in Slack."""
    if policy is None:
        return Check("policy", OK, "no SIGNOFF_POLICY_FILE: requests name their own approvers")
    try:
        problems = unknown_names(policy, client)
    except (SignoffError, SlackClientError, OSError) as e:
        return Check("policy", FAIL, f"cannot ask Slack about the policy's names ({e})")
    if problems:
        return Check("policy", FAIL, "; ".join(f"line {line}: {reason}" for line, reason in problems))
    if warnings := policy_warnings(policy):
        return Check("policy", WARN, "every name resolves, but " + "; ".join(
            f"line {line}: {reason}" for line, reason in warnings))
    return Check("policy", OK, f"{len(policy.rules)} rule(s) and a default; every name resolves")


def database(db: Database) -> Check:
    """The database answers and is at the schema revision this Signoff needs."""
    try:
        at, wanted = schema.current(db.engine), schema.head()
    except (SQLAlchemyError, OSError) as e:
        return Check("database", FAIL, str(database_problem(str(db.engine.url), e)))
    if at != wanted:
        return Check("database", FAIL, f"schema at {at or 'none'}, this Signoff needs {wanted}: run "
                     "`signoff db upgrade`")
    return Check("database", OK, f"reachable, schema at {at}")


def redis(client: Redis) -> Check:
    """Redis answers; warns unless it persists (appendonly yes) and never evicts (noeviction)."""
    try:
        client.ping()
    except RedisError as e:
        return Check("redis", FAIL, f"unreachable ({first_line(e)}): check REDIS_URL")
    try:
        config = {**client.config_get("appendonly"), **client.config_get("maxmemory-policy")}
    except RedisError:
        return Check("redis", WARN, "reachable, but CONFIG GET is refused: make sure it runs with "
                     "appendonly yes and maxmemory-policy noeviction")
    off = [f"{k} is {config.get(k)!r}, want {v!r}" for k, v in
           (("appendonly", "yes"), ("maxmemory-policy", "noeviction")) if config.get(k) != v]
    if off:
        return Check("redis", WARN, "; ".join(off) + " (scheduled jobs are lost on a restart or evicted "
                     "under memory pressure; the sweeper rebuilds them from SQL, late)")
    return Check("redis", OK, "reachable, appendonly yes, maxmemory-policy noeviction")


def worker_heartbeat(client: Redis, *, now: datetime, most: float) -> Check:
    """Some worker's sweeper ran within the last `most` seconds."""
    try:
        last = heartbeat.last_beat(client)
    except RedisError as e:
        return Check("worker", FAIL, f"cannot read the heartbeat ({first_line(e)})")
    if last is None:
        return Check("worker", FAIL, "no worker was ever seen: start `signoff worker`")
    age = now.timestamp() - last
    if age > most:
        return Check("worker", FAIL, f"the last worker heartbeat was {age:.0f} s ago: is `signoff worker` "
                     "running?")
    return Check("worker", OK, f"heartbeat {max(age, 0):.1f} s ago")


def clock_skew(db: Database, clock: Callable[[], datetime], *, most: float) -> Check:
    """This machine's clock agrees with the database's (logs and Slack signatures use it)."""
    try:
        skew = measure_skew(db, clock)
    except (SQLAlchemyError, OSError) as e:
        return Check("clock", FAIL, f"cannot read the database's clock ({first_line(e)})")
    if abs(skew) > most:
        return Check("clock", FAIL, f"{skew:+.1f} s from the database's clock (more than "
                     f"SIGNOFF_MAX_CLOCK_SKEW={most:g} s): deadlines follow the database's, but logs "
                     "and Slack's signature window follow this one; sync it with NTP")
    return Check("clock", OK, f"{skew:+.3f} s from the database's clock")


def exit_code(checks: Sequence[Check]) -> int:
    """1 when any check failed; warnings alone do not fail."""
    return 1 if any(c.status == FAIL for c in checks) else 0


def report(checks: Sequence[Check]) -> str:
    """One line per check, for people."""
    mark = {OK: "ok  ", WARN: "WARN", FAIL: "FAIL"}
    return "\n".join(f"{mark[c.status]}  {c.name:<15} {c.detail}" for c in checks)
