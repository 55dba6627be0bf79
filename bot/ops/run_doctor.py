"""Building the parts `signoff doctor` looks at from settings, without starting anything."""

from __future__ import annotations

from redis import Redis

from bot.errors import InvalidSettings
from bot.observe.logs import silenced
from bot.ops import doctor
from bot.ops.doctor import FAIL, Check
from bot.policy.loader import load_policy
from bot.policy.model import Policy
from bot.service.ports import utcnow
from bot.settings import Settings
from bot.slack.client import make_client
from bot.storage.db import Database, make_engine

# A sweeper stamps every SIGNOFF_SWEEP_INTERVAL; this many seconds of silence means no worker.
HEARTBEAT_AGE = 60.0


def run_checks(settings: Settings) -> list[Check]:
    """Every check, in the order an operator would fix things."""
    with silenced("slack_sdk"):  # each failed attempt and its retry: the report says it once
        return _checks(settings)


def _checks(settings: Settings) -> list[Check]:
    slack = make_client(token=settings.slack_bot_token, base_url=settings.slack_api_url)
    found = [doctor.slack_token(slack), doctor.signing_secret(settings.slack_signing_secret)]
    policy: Policy | None = None
    try:
        policy = load_policy(settings.policy_file) if settings.policy_file else None
        found.append(doctor.policy_names(slack, policy))
    except InvalidSettings as e:
        found.append(Check("policy", FAIL, str(e)))
    named = [settings.default_channel] if settings.default_channel else []
    found.append(doctor.channels(slack, named))
    db = Database(make_engine(settings.database_url))
    try:
        found += [doctor.database(db), doctor.clock_skew(db, utcnow, most=settings.max_clock_skew)]
    finally:
        db.engine.dispose()
    url = settings.redis_url or _embedded_url(settings)
    if url is None:
        found.append(Check("redis", FAIL, "REDIS_URL is not set and no embedded redis-server runs for "
                           f"{settings.data_dir}: set REDIS_URL, or start `signoff web`"))
        return found
    with Redis.from_url(url, socket_connect_timeout=5, socket_timeout=5) as client:
        found += [doctor.redis(client), doctor.worker_heartbeat(client, now=utcnow(), most=HEARTBEAT_AGE)]
    return found


def _embedded_url(settings: Settings) -> str | None:
    url_file = settings.data_dir / "redis.url"
    return url_file.read_text().strip() if url_file.is_file() else None
