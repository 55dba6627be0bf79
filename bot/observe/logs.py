"""Log set-up: `SIGNOFF_LOG_FORMAT=text|json`; json is one JSON object per line."""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

FORMATS = ("text", "json")
# Attributes every LogRecord has; anything else on a record came from `extra=` and is a field.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


def fields_of(record: logging.LogRecord) -> dict[str, Any]:
    """The structured fields a caller passed with `extra=`."""
    return {k: v for k, v in vars(record).items() if k not in _STANDARD}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and the record's fields."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(), "logger": record.name, "message": record.getMessage(),
            **fields_of(record),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, separators=(",", ":"))


class TextFormatter(logging.Formatter):
    """`time level logger: message key=value …` — the fields after the message."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of text, its fields as key=value."""
        text = super().format(record)
        extra = " ".join(f"{k}={v}" for k, v in fields_of(record).items() if v is not None)
        return f"{text} {extra}" if extra else text


_format = "text"  # what configure() was last given: how say() and fail() write


def configure(*, fmt: str = "text", level: int = logging.INFO) -> None:
    """Send every log line to stderr in `fmt` (in place of basicConfig's handler)."""
    global _format
    if fmt not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    _format = fmt
    handler = _Stderr()
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    # Plain stream handlers are basicConfig's or an earlier configure's; others (a test runner's
    # capture, a user's file handler) stay.
    for old in [h for h in root.handlers if type(h) in (logging.StreamHandler, _Stderr)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr is at each line (a test runner swaps it; so may a daemon)."""

    def __init__(self) -> None:
        super().__init__()

    @property  # type: ignore[override]
    def stream(self) -> Any:
        """The current sys.stderr."""
        return sys.stderr

    @stream.setter
    def stream(self, _: Any) -> None:
        pass


@contextlib.contextmanager
def silenced(name: str) -> Iterator[None]:
    """Logger `name` says nothing below CRITICAL meanwhile: for a check that reports the failure
    itself (slack_sdk logs every failed attempt and its retry at ERROR and INFO)."""
    logger = logging.getLogger(name)
    before = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(before)


def quiet_noisy() -> None:
    """Only warnings from libraries that log every call: httpx (a line per Slack call) and alembic
    (its plugin set-up on every start)."""
    for name in ("httpx", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)


def is_json() -> bool:
    """Whether this process logs JSON lines (SIGNOFF_LOG_FORMAT=json was configured)."""
    return _format == "json"


def say(message: str) -> None:
    """A line a server says about itself (where it listens, what it started): plain on stderr, or
    a log record in JSON mode, so a log collector reading JSON lines gets nothing else."""
    if is_json():
        logging.getLogger("signoff").info(message)
    else:
        print(message, file=sys.stderr, flush=True)


def fail(message: str) -> None:
    """Why a server stopped, as an error record in JSON mode (instead of click's `Error:` line)."""
    logging.getLogger("signoff").error(message)
