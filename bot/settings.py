"""One frozen, typed Settings object, loaded from the environment and `.env` at entrypoints."""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from dotenv import dotenv_values

from bot.errors import InvalidSettings

T = TypeVar("T")

SLACK_API_URL = "https://slack.com/api/"

# Values people leave in a copied .env.example; an approval system must not start with them.
_PLACEHOLDER = re.compile(r"(^$|change[-_ ]?me|your[-_]|placeholder|replace|example|xxxx|^<.*>$)", re.I)
_TOKEN_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/?#@]*:)[^@/?#]*(?P<at>@)", re.I)
# Slack's signing secrets are 32 hex characters; anything this short is a typo or a test value.
MIN_SIGNING_SECRET = 16
MIN_CALLBACK_SECRET = 32
MIN_AUDIT_KEY = 32
# Where `signoff dev` keeps the audit key it generated, inside the owner-only data directory.
AUDIT_KEY_FILE = "audit.key"
_GRAPH_ENTRY = re.compile(r"^(?P<name>[A-Za-z0-9_.-]{1,64})=(?P<module>[\w.]+):(?P<attr>[\w.]+)"
                          r"(?:\?(?P<view>(?:show|hide)=[\w.-]+(?:\+[\w.-]+)*))?$")


def parse_graphs(raw: str) -> dict[str, str]:
    """`billing=myapp.graphs:refund_graph,…` → {name: "module:attr"}; InvalidSettings names a bad one."""
    graphs: dict[str, str] = {}
    for entry in (e.strip() for e in raw.split(",") if e.strip()):
        m = _GRAPH_ENTRY.match(entry)
        if m is None:
            raise InvalidSettings(f"SIGNOFF_GRAPHS entry {entry!r} is not name=module:attribute "
                                  "(optionally ?show=key+key or ?hide=key+key)")
        if m["name"] in graphs:
            raise InvalidSettings(f"SIGNOFF_GRAPHS names graph {m['name']!r} twice")
        view = f"?{m['view']}" if m["view"] else ""  # which state keys its breakpoint cards show
        graphs[m["name"]] = f"{m['module']}:{m['attr']}{view}"
    return graphs


def redact_url(url: str) -> str:
    """`scheme://user:secret@host` → `scheme://user:***@host`, for banners and logs."""
    return _URL_PASSWORD.sub(r"\g<head>***\g<at>", url)


_RATE = re.compile(r"^(?P<count>\d+)\s*/\s*(?P<unit>s|sec|second|min|minute|h|hour)$", re.I)
_RATE_UNITS = {"s": 1.0, "sec": 1.0, "second": 1.0, "min": 60.0, "minute": 60.0, "h": 3600.0, "hour": 3600.0}


@dataclass(frozen=True)
class RateLimit:
    """`count` requests per `period` seconds."""

    count: int
    period: float

    def __str__(self) -> str:
        unit = {1.0: "s", 60.0: "min", 3600.0: "h"}.get(self.period, f"{self.period:g}s")
        return f"{self.count}/{unit}"


def parse_rate(name: str, raw: str | None) -> RateLimit | None:
    """`60/min` → RateLimit(60, 60.0); empty → None; InvalidSettings names a bad value."""
    if raw is None:
        return None
    m = _RATE.match(raw.strip())
    if m is None or int(m["count"]) < 1:
        raise InvalidSettings(f"{name} must look like 60/min (a count ≥ 1 per s, min or h), got {raw!r}")
    return RateLimit(int(m["count"]), _RATE_UNITS[m["unit"].lower()])


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Everything Signoff reads from its environment, validated once."""

    data_dir: Path
    database_url: str
    redis_url: str | None  # None: start the embedded redis-server
    slack_bot_token: str | None
    slack_signing_secret: str | None
    slack_api_url: str = SLACK_API_URL
    slack_app_token: str | None = None
    api_tokens: Mapping[str, str] = field(default_factory=dict)  # token -> agent name
    # token -> the scopes beyond creating requests it holds (`decide`: the decision API)
    api_scopes: Mapping[str, frozenset[str]] = field(default_factory=dict)
    default_channel: str | None = None
    # agent name -> the secrets that sign its callbacks (all of them, while a rotation overlaps)
    callback_secrets: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    allow_private_callbacks: bool = False
    callback_timeout: float = 10.0
    graphs: Mapping[str, str] = field(default_factory=dict)  # name -> "module:attribute"
    checkpoint_url: str | None = None  # None: SQLite file beside the store
    default_approvers: tuple[str, ...] = ()
    resume_lease: float = 15.0
    policy_file: Path | None = None  # None: every request goes to the approvers it names
    sweep_interval: float = 5.0
    deadline_interval: float = 0.5  # seconds between each worker's looks for overdue deadlines
    agent_rate_limit: RateLimit | None = None  # requests each agent may create per window
    agent_max_pending: int | None = None  # pending requests each agent may have at once
    web_workers: int = 1  # WEB_CONCURRENCY: processes `signoff web` serves with
    worker_processes: int = 1  # processes `signoff worker` supervises
    metrics_token: str | None = None  # None: /metrics answers 404
    log_format: str = "text"  # text | json
    max_clock_skew: float = 2.0  # seconds a worker's clock may differ from the database's
    audit_key: str | None = None  # MACs the audit chain; kept outside the database
    max_body_bytes: int = 262144  # the agent API's body cap
    host: str = "127.0.0.1"
    port: int = 8000
    sandbox_port: int = 8001  # where `signoff dev` serves the Slack sandbox
    dev: bool = False

    @property
    def checkpoints(self) -> str:
        """Where graph checkpoints live: SIGNOFF_CHECKPOINT_URL, the PostgreSQL store, or SQLite."""
        if self.checkpoint_url:
            return self.checkpoint_url
        if self.database_url.startswith("postgresql"):
            return self.database_url
        return f"sqlite:///{self.data_dir.resolve() / 'checkpoints.db'}"

    @property
    def uses_sandbox(self) -> bool:
        """True when no Slack workspace is configured and dev mode brings the local sandbox."""
        return self.dev and not self.slack_bot_token

    def with_overrides(self, **changes: object) -> Settings:
        """A copy with some fields replaced (dev mode fills in sandbox values this way)."""
        return replace(self, **changes)  # type: ignore[arg-type]


def _environment(environ: Mapping[str, str] | None, env_file: Path | None) -> dict[str, str]:
    """`.env` overlaid by the environment (or `environ`)."""
    env: dict[str, str] = {}
    if env_file is not None and env_file.is_file():
        env.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    env.update(os.environ if environ is None else environ)
    return env


def _reader(environ: Mapping[str, str] | None, env_file: Path | None) -> Callable[[str], str | None]:
    """A setting's value, stripped, or None when unset or blank."""
    env = _environment(environ, env_file)
    return lambda name: (env.get(name) or "").strip() or None


def _data_dir(get: Callable[[str], str | None]) -> Path:
    return Path(get("SIGNOFF_DATA_DIR") or ".signoff").expanduser()


def audit_key_alone(env_file: Path | None = Path(".env")) -> str | None:
    """SIGNOFF_AUDIT_KEY (or the one `signoff dev` keeps in the data directory), read without the
    other settings: checking an exported file needs nothing else, wherever it is done."""
    get = _reader(None, env_file)
    return _audit_key(get("SIGNOFF_AUDIT_KEY"), data_dir=_data_dir(get), dev=True)


def requested_log_format(env_file: Path | None = Path(".env")) -> str:
    """SIGNOFF_LOG_FORMAT as set, for saying why settings did not load: "json" or "text"."""
    return "json" if _reader(None, env_file)("SIGNOFF_LOG_FORMAT") == "json" else "text"


def load_settings(
    environ: Mapping[str, str] | None = None,
    *,
    env_file: Path | None = Path(".env"),
    dev: bool = False,
) -> Settings:
    """Read settings from `.env` overlaid by the environment; raise InvalidSettings naming the variable."""
    get = _reader(environ, env_file)
    problems: list[str] = []

    def read(parse: Callable[..., T], *args: Any, fallback: T) -> T:
        """parse(*args); on a bad value its problem is noted and `fallback` stands in, so that
        every bad setting is named at once instead of one per restart."""
        try:
            return parse(*args)
        except InvalidSettings as e:
            problems.append(str(e))
            return fallback

    data_dir = _data_dir(get)
    # A platform that sets PORT routes outside traffic to it: listen there, on every interface.
    platform_port = get("PORT")
    host = get("SIGNOFF_HOST") or ("0.0.0.0" if platform_port else "127.0.0.1")
    port_var = "PORT" if platform_port else "SIGNOFF_PORT"
    sqlite_default = f"sqlite:///{data_dir.resolve() / 'signoff.db'}"
    no_tokens: tuple[dict[str, str], dict[str, frozenset[str]]] = ({}, {})
    api_tokens, api_scopes = read(_parse_api_tokens, get("SIGNOFF_API_TOKENS") or "", fallback=no_tokens)
    # Else the callback secrets' agents cannot be checked against them, nor the list called unset.
    tokens_read = not problems
    settings = Settings(
        data_dir=data_dir,
        database_url=read(_database_url, get("DATABASE_URL") or sqlite_default, fallback=""),
        redis_url=read(_redis_url, get("REDIS_URL"), fallback=None),
        slack_bot_token=get("SLACK_BOT_TOKEN"),
        slack_signing_secret=get("SLACK_SIGNING_SECRET"),
        slack_api_url=read(_api_url, get("SLACK_API_URL") or SLACK_API_URL, fallback=SLACK_API_URL),
        slack_app_token=get("SLACK_APP_TOKEN"),
        api_tokens=api_tokens,
        api_scopes=api_scopes,
        callback_secrets=read(partial(parse_callback_secrets, api_tokens=api_tokens),
                              (get("SIGNOFF_CALLBACK_SECRETS") or "") if tokens_read else "", fallback={}),
        default_channel=get("SIGNOFF_DEFAULT_CHANNEL"),
        allow_private_callbacks=read(_flag, "SIGNOFF_CALLBACK_ALLOW_PRIVATE", get, fallback=False),
        callback_timeout=read(_seconds, "SIGNOFF_CALLBACK_TIMEOUT", get("SIGNOFF_CALLBACK_TIMEOUT") or "10",
                              fallback=10.0),
        graphs=read(parse_graphs, get("SIGNOFF_GRAPHS") or "", fallback={}),
        checkpoint_url=get("SIGNOFF_CHECKPOINT_URL"),
        default_approvers=tuple(a.strip() for a in (get("SIGNOFF_DEFAULT_APPROVERS") or "").split(",")
                                if a.strip()),
        resume_lease=read(_seconds, "SIGNOFF_RESUME_LEASE", get("SIGNOFF_RESUME_LEASE") or "15", 60,
                          fallback=15.0),
        policy_file=Path(p) if (p := get("SIGNOFF_POLICY_FILE")) else None,
        sweep_interval=read(_seconds, "SIGNOFF_SWEEP_INTERVAL", get("SIGNOFF_SWEEP_INTERVAL") or "5", 300,
                            fallback=5.0),
        deadline_interval=read(_seconds, "SIGNOFF_DEADLINE_INTERVAL",
                               get("SIGNOFF_DEADLINE_INTERVAL") or "0.5", 60, fallback=0.5),
        agent_rate_limit=read(parse_rate, "SIGNOFF_AGENT_RATE_LIMIT", get("SIGNOFF_AGENT_RATE_LIMIT"),
                              fallback=None),
        agent_max_pending=read(_count, "SIGNOFF_AGENT_MAX_PENDING", get("SIGNOFF_AGENT_MAX_PENDING"),
                               fallback=None),
        web_workers=read(_count, "WEB_CONCURRENCY", get("WEB_CONCURRENCY"), 64, fallback=None) or 1,
        worker_processes=read(_count, "SIGNOFF_WORKER_PROCESSES", get("SIGNOFF_WORKER_PROCESSES"), 64,
                              fallback=None) or 1,
        metrics_token=read(_metrics_token, get("SIGNOFF_METRICS_TOKEN"), fallback=None),
        log_format=read(_choice, "SIGNOFF_LOG_FORMAT", get("SIGNOFF_LOG_FORMAT") or "text", ("text", "json"),
                        fallback="text"),
        max_clock_skew=read(_seconds, "SIGNOFF_MAX_CLOCK_SKEW", get("SIGNOFF_MAX_CLOCK_SKEW") or "2", 3600,
                            fallback=2.0),
        audit_key=read(partial(_audit_key, data_dir=data_dir, dev=dev), get("SIGNOFF_AUDIT_KEY"),
                       fallback=None),
        max_body_bytes=read(_bytes, "SIGNOFF_MAX_BODY_BYTES", get("SIGNOFF_MAX_BODY_BYTES") or "262144",
                            fallback=262144),
        host=host,
        port=read(_port, port_var, get(port_var) or "8000", fallback=8000),
        sandbox_port=read(_port, "SIGNOFF_SANDBOX_PORT", get("SIGNOFF_SANDBOX_PORT") or "8001",
                          fallback=8001),
        dev=dev,
    )
    if not settings.uses_sandbox:
        problems += secret_problems(settings)
        if not api_tokens and tokens_read:
            problems.append(
                "SIGNOFF_API_TOKENS is not set: agents could not authenticate. "
                "Set it to name:token pairs, e.g. SIGNOFF_API_TOKENS=billing-agent:$(openssl rand -hex 24)")
    if problems:
        raise InvalidSettings.of(problems)
    return settings


def secret_problems(settings: Settings) -> list[str]:
    """What is missing or a placeholder among the secrets real Slack needs (fail closed)."""
    problems = [p for p in (
        _require("SLACK_BOT_TOKEN", settings.slack_bot_token, prefix="xoxb-",
                 where="the Bot User OAuth Token (xoxb-…) from your Slack app's OAuth & Permissions page "
                       "(`signoff dev` runs without one, on the local Slack sandbox)"),
        _require("SLACK_SIGNING_SECRET", settings.slack_signing_secret,
                 where="the Signing Secret from your Slack app's Basic Information page")) if p]
    if settings.slack_signing_secret and len(settings.slack_signing_secret) < MIN_SIGNING_SECRET:
        problems.append(f"SLACK_SIGNING_SECRET is shorter than {MIN_SIGNING_SECRET} characters; copy the "
                        "whole Signing Secret from your Slack app's Basic Information page")
    if settings.slack_app_token is not None and (p := _require("SLACK_APP_TOKEN", settings.slack_app_token,
                                                               prefix="xapp-")):
        problems.append(p)
    return problems


def _audit_key(raw: str | None, *, data_dir: Path, dev: bool) -> str | None:
    """SIGNOFF_AUDIT_KEY; in dev mode the one `signoff dev` kept in the data directory, if any."""
    name = "SIGNOFF_AUDIT_KEY"
    if raw is None and dev and (kept := data_dir / AUDIT_KEY_FILE).is_file():
        raw, name = kept.read_text().strip() or None, str(kept)
    if raw is None:
        if dev:
            return None  # `signoff dev` makes one; `audit verify` says it is missing
        raise InvalidSettings("SIGNOFF_AUDIT_KEY is not set: the audit chain cannot be signed. Set it "
                              "to a secret kept outside the database, e.g. `openssl rand -hex 32`")
    if len(raw) < MIN_AUDIT_KEY or _PLACEHOLDER.search(raw):
        raise InvalidSettings(f"{name} is a placeholder or shorter than {MIN_AUDIT_KEY} characters; "
                              "generate one with `openssl rand -hex 32`")
    return raw


def kept_secret(path: Path, make: Callable[[], str]) -> str:
    """The text of `path`, written first from `make()` (0600, in a 0700 directory) if it is not
    there: a secret made once and kept across restarts. Written whole under another name and
    linked into place, so a process starting at the same moment reads the same secret, never a
    half-written file."""
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, draft = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # 0600
        try:
            with os.fdopen(fd, "w") as f:
                f.write(make())
            with contextlib.suppress(FileExistsError):  # another process linked its own first
                os.link(draft, path)
        finally:
            os.unlink(draft)
    kept = path.read_text().strip()
    if not kept:
        raise InvalidSettings(f"{path} is empty: delete it, and Signoff makes a new one")
    return kept


def ensure_dev_audit_key(settings: Settings) -> Settings:
    """Settings with an audit key: SIGNOFF_AUDIT_KEY, or one generated once and kept (0600) in the
    data directory so that the chain stays verifiable across restarts."""
    if settings.audit_key is not None:
        return settings
    return settings.with_overrides(audit_key=kept_secret(settings.data_dir / AUDIT_KEY_FILE,
                                                         lambda: secrets.token_hex(32)))


DEV_TOKENS_FILE = "dev-tokens.json"


def dev_tokens(data_dir: Path) -> dict[str, str]:
    """`signoff dev`'s agent token, UI token and callback secret: made once and kept (0600) in the
    data directory, so that the `export` line it printed still works after a restart."""
    kept = kept_secret(data_dir / DEV_TOKENS_FILE, lambda: json.dumps({
        "agent": "dev-" + secrets.token_hex(12), "ui": "dev-ui-" + secrets.token_hex(12),
        "callback_secret": secrets.token_hex(32)}))
    return {k: str(v) for k, v in json.loads(kept).items()}


def _require(name: str, value: str | None, *, prefix: str = "", where: str = "") -> str | None:
    """What is wrong with a required secret, or None; `where` says where the real one is found."""
    if value is None:
        return f"{name} is not set: copy {where}" if where else \
            f"{name} is not set. See .env.example for what it should hold."
    if _PLACEHOLDER.search(value.removeprefix(prefix)):
        return f"{name} still holds a placeholder value; put the real secret there."
    if prefix and not value.startswith(prefix):
        return f"{name} must start with {prefix!r}; check you copied the right token."
    return None


API_SCOPES = frozenset({"decide"})  # what a `name:token:scope` entry may add


def _split_token(n: int, item: str) -> tuple[str, str, frozenset[str]]:
    """`name:token[:scope[+scope]]` → (name, token, scopes)."""
    if ":" not in item:
        # Named by position, never echoed. The name is who the agent is to policy rules, rate
        # limits, callbacks and the audit log: a made-up one would match none of them.
        raise InvalidSettings(f"SIGNOFF_API_TOKENS: entry {n + 1} has no name; write name:token, e.g. "
                              "billing-agent:$(openssl rand -hex 24)")
    name, _, rest = item.partition(":")
    token, sep, scoped = rest.partition(":")
    scopes = frozenset(s.strip() for s in scoped.split("+") if s.strip())
    if sep and (not scopes or scopes - API_SCOPES):
        raise InvalidSettings(f"SIGNOFF_API_TOKENS: {name!r} asks for scope {scoped!r}; the only scope "
                              f"is {', '.join(sorted(API_SCOPES))} (name:token:decide)")
    return name, token, scopes


def _parse_api_tokens(raw: str) -> tuple[dict[str, str], dict[str, frozenset[str]]]:
    """({token: agent name}, {token: its scopes, for the tokens that have any})."""
    tokens: dict[str, str] = {}
    scoped: dict[str, frozenset[str]] = {}
    for n, item in enumerate(p.strip() for p in raw.split(",") if p.strip()):
        name, token, scopes = _split_token(n, item)
        if not _TOKEN_NAME.match(name):
            raise InvalidSettings(
                f"SIGNOFF_API_TOKENS: agent name {name!r} may hold only letters, digits, '.', '_', '-'"
            )
        if len(token) < 16 or _PLACEHOLDER.search(token):
            raise InvalidSettings(
                f"SIGNOFF_API_TOKENS: the token for {name!r} is a placeholder or shorter than "
                "16 characters; generate one with `openssl rand -hex 24`"
            )
        if token in tokens:
            # Never echo the token: the message ends up in logs and terminals.
            other = tokens[token]
            who = f"agent {name!r} twice" if other == name else f"agents {other!r} and {name!r}"
            raise InvalidSettings(f"SIGNOFF_API_TOKENS gives {who} the same token; each agent needs its own")
        tokens[token] = name
        if scopes:
            scoped[token] = scopes
    return tokens, scoped


def parse_callback_secrets(raw: str, *, api_tokens: Mapping[str, str]) -> dict[str, tuple[str, ...]]:
    """`agent:secret,agent:newer-secret,…` → {agent: (secret, newer-secret)}; InvalidSettings names a bad one.

    Naming an agent twice is a rotation: its callbacks carry one signature per secret until the
    old one is removed. Never an API token: whoever verifies callbacks must not be able to call
    the API as the agent.
    """
    name = "SIGNOFF_CALLBACK_SECRETS"
    secrets: dict[str, tuple[str, ...]] = {}
    owner: dict[str, str] = {}
    for n, item in enumerate((p.strip() for p in raw.split(",") if p.strip()), start=1):
        agent, sep, secret = item.partition(":")
        agent, secret = agent.strip(), secret.strip()
        if not sep or not agent or not secret:
            # Named by position: a malformed entry may be a bare secret, never to be echoed.
            raise InvalidSettings(f"{name}: entry {n} is not agent:secret")
        if agent not in api_tokens.values():
            raise InvalidSettings(f"{name} names agent {agent!r}, which has no token in SIGNOFF_API_TOKENS")
        if len(secret) < MIN_CALLBACK_SECRET or _PLACEHOLDER.search(secret):
            raise InvalidSettings(f"{name}: the secret for {agent!r} is a placeholder or shorter than "
                                  f"{MIN_CALLBACK_SECRET} characters; generate one with "
                                  "`openssl rand -hex 32`")
        if secret in api_tokens:
            raise InvalidSettings(f"{name}: a secret for {agent!r} is also an API token in "
                                  "SIGNOFF_API_TOKENS; callbacks need a secret of their own")
        if secret in owner:
            # Never echo the secret: the message ends up in logs and terminals.
            other = owner[secret]
            who = f"agent {agent!r} the same secret twice" if other == agent else \
                f"agents {other!r} and {agent!r} the same secret"
            raise InvalidSettings(f"{name} gives {who}; each agent needs its own")
        owner[secret] = agent
        secrets[agent] = (*secrets.get(agent, ()), secret)
    return secrets


def _database_url(url: str) -> str:
    scheme = url.split("://", 1)[0].lower()
    if scheme in ("postgres", "postgresql", "postgresql+psycopg2"):
        # Platforms hand out postgres:// URLs; SQLAlchemy knows no such dialect, and psycopg2 is
        # not installed: psycopg 3 is.
        fixed = "postgresql+psycopg://" + url.split("://", 1)[1]
        raise InvalidSettings(f"DATABASE_URL starts with {scheme}://; Signoff needs postgresql+psycopg://. "
                              f"Set DATABASE_URL={redact_url(fixed)}")
    if scheme not in ("sqlite", "postgresql+psycopg") or "://" not in url:
        raise InvalidSettings("DATABASE_URL must be sqlite:///<path> or "
                              f"postgresql+psycopg://user:password@host/db, got {redact_url(url)!r}")
    return url


def _redis_url(url: str | None) -> str | None:
    if url is not None and url.split("://", 1)[0].lower() not in ("redis", "rediss", "unix"):
        raise InvalidSettings(f"REDIS_URL must be redis://, rediss:// or unix://, got {redact_url(url)!r} "
                              "(leave it empty for the embedded redis-server)")
    return url


def _metrics_token(raw: str | None) -> str | None:
    if raw is not None and (len(raw) < 16 or _PLACEHOLDER.search(raw)):
        raise InvalidSettings("SIGNOFF_METRICS_TOKEN is a placeholder or shorter than 16 characters; "
                              "generate one with `openssl rand -hex 24`")
    return raw


def _choice(name: str, raw: str, allowed: tuple[str, ...]) -> str:
    if raw.lower() not in allowed:
        raise InvalidSettings(f"{name} must be one of {', '.join(allowed)}, got {raw!r}")
    return raw.lower()


def _api_url(url: str) -> str:
    if not re.match(r"^https?://", url):
        raise InvalidSettings(f"SLACK_API_URL must be an http(s) URL, got {url!r}")
    return url if url.endswith("/") else url + "/"


def _port(name: str, raw: str) -> int:
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise InvalidSettings(f"{name} must be a TCP port number, got {raw!r}")
    return int(raw)


def _count(name: str, raw: str | None, most: int | None = None) -> int | None:
    if raw is None:
        return None
    if not raw.isdigit() or int(raw) < 1 or (most is not None and int(raw) > most):
        bound = f"between 1 and {most}" if most is not None else "≥ 1"
        raise InvalidSettings(f"{name} must be a whole number {bound} (or empty), got {raw!r}")
    return int(raw)


def _flag(name: str, get: Callable[[str], str | None]) -> bool:
    raw = get(name)
    if raw is None or raw.lower() in ("0", "false", "no", "off"):
        return False
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    raise InvalidSettings(f"{name} must be true or false, got {raw!r}")


def _seconds(name: str, raw: str, most: float = 300) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = -1
    if not 0 < value <= most:
        raise InvalidSettings(f"{name} must be a number of seconds between 0 and {most:g}, got {raw!r}")
    return value


def _bytes(name: str, raw: str) -> int:
    if not (raw.isascii() and raw.isdigit() and 1024 <= int(raw) <= 64 * 1024 * 1024):
        raise InvalidSettings(f"{name} must be a number of bytes between 1024 and 67108864, got {raw!r}")
    return int(raw)
