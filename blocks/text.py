"""Text helpers for mrkdwn: escaping, limit-safe clipping and chunking, Slack tokens."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

ELLIPSIS = "…"
_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")  # how free text is told apart from an id
_ID_SHAPED = re.compile(r"^[UW][A-Z0-9]+$")  # what may go inside <@…> without breaking out
# After escape() every "&" starts one of our entities, so "&" + a few letters at the
# end of a cut is an entity we split in half.
_PARTIAL_ENTITY = re.compile(r"&[a-z]{0,3}$")
_MIN_CUT = 8


def escape(text: str) -> str:
    """Escape user text for mrkdwn: only `&`, `<` and `>`, as Slack asks."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def length(text: str) -> int:
    """Length in UTF-16 code units: never less than Slack's count, whichever way it counts."""
    return len(text.encode("utf-16-le")) // 2


def one_line(text: str) -> str:
    """Collapse runs of whitespace (newlines included) into single spaces."""
    return " ".join(text.split())


def _fit(text: str, limit: int) -> str:
    """The longest prefix of text whose length() is at most limit."""
    units = 0
    for index, char in enumerate(text):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > limit:
            return text[:index]
    return text


def _cut_mrkdwn(text: str, limit: int) -> str:
    """A prefix of escaped text within limit that does not end inside an entity."""
    return _PARTIAL_ENTITY.sub("", _fit(text, limit))


def clip(text: str, limit: int) -> tuple[str, bool]:
    """Plain text cut to limit with an ellipsis; also says whether it was cut."""
    if length(text) <= limit:
        return text, False
    return _fit(text, limit - 1) + ELLIPSIS, True


def clip_mrkdwn(text: str, limit: int) -> tuple[str, bool]:
    """Already-escaped mrkdwn cut to limit without splitting an entity; says whether cut."""
    if length(text) <= limit:
        return text, False
    return _cut_mrkdwn(text, limit - 1) + ELLIPSIS, True


def clip_escaped(raw: str, limit: int) -> tuple[str, bool]:
    """Escape user text and cut it to limit; says whether it was cut."""
    # Escaping only lengthens text, so limit + 1 raw characters settle whether it fits,
    # and a megabyte of input is never escaped in full.
    head = raw[: limit + 1]
    escaped = escape(head)
    if len(head) == len(raw) and length(escaped) <= limit:
        return escaped, False
    return _cut_mrkdwn(escaped, limit - 1) + ELLIPSIS, True


def chunk_escaped(raw: str, *, size: int, max_chunks: int) -> tuple[list[str], bool]:
    """Escape user text into at most max_chunks pieces of at most size; says if all fit."""
    if size < _MIN_CUT:
        raise ValueError(f"chunk size {size} is too small")
    budget = size * max_chunks
    rest = escape(raw[:budget])
    pieces: list[str] = []
    while rest and len(pieces) < max_chunks:
        piece = _fit(rest, size)
        if len(piece) < len(rest):
            piece = _cut_mrkdwn(piece, size)
        pieces.append(piece)
        rest = rest[len(piece) :]
    return pieces, not rest and len(raw) <= budget


def is_user_id(text: str) -> bool:
    """Whether free text (a requester) looks like a Slack user id (U… or W…)."""
    return bool(_USER_ID.match(text))


def person(text: str, *, limit: int, declared_id: bool = False) -> str:
    """A mention for a Slack user id, otherwise the escaped text cut to limit."""
    # A field declared to hold user ids (decided_by, approvers) takes any id-shaped value;
    # anything else is shown as text rather than trusted inside <@…>.
    if _USER_ID.match(text) or (declared_id and _ID_SHAPED.match(text)):
        return f"<@{text}>"
    return clip_escaped(one_line(text), limit)[0]


def by_whom(decided_by: str | None, *, limit: int) -> str:
    """' by <who>', or nothing when the system decided (expiry) or nobody is known."""
    if not decided_by or not decided_by.strip() or decided_by == "system":
        return ""
    if decided_by.startswith("agent:"):
        name, _ = clip_escaped(one_line(decided_by.removeprefix("agent:")), limit)
        return f" by agent `{name}`" if name else " by an agent"
    return f" by {person(decided_by, limit=limit, declared_id=True)}"


def slack_date(at: datetime) -> str:
    """Slack date token `<!date^EPOCH^…|YYYY-MM-DD HH:MM UTC>`: each viewer sees their own zone."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("slack_date needs an aware datetime")
    utc = at.astimezone(UTC)
    fallback = f"{utc:%Y-%m-%d %H:%M} UTC"
    return f"<!date^{int(utc.timestamp())}^{{date_short_pretty}} at {{time}}|{fallback}>"


def to_json(value: Any, *, pretty: bool = False) -> str:
    """JSON for display: compact or indented; never raises, whatever the value."""
    try:
        if pretty:
            return json.dumps(value, ensure_ascii=False, indent=2, default=str)
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    except (TypeError, ValueError, RecursionError):
        # Circular or absurdly deep values are not JSON-able; show that, not a crash.
        return f"<{type(value).__name__} that cannot be shown as JSON>"


def json_head(value: Any, *, limit: int, pretty: bool = False) -> str:
    """The JSON of value, or at least its first limit characters: a huge value is never dumped whole."""
    encoder = json.JSONEncoder(
        ensure_ascii=False,
        default=str,
        indent=2 if pretty else None,
        separators=None if pretty else (",", ":"),
    )
    pieces: list[str] = []
    size = 0
    try:
        for piece in encoder.iterencode(value):
            pieces.append(piece)
            size += len(piece)
            if size > limit:
                break
    except (TypeError, ValueError, RecursionError):
        return to_json(value, pretty=pretty)
    return "".join(pieces)


def as_text(value: Any, *, pretty: bool = False) -> str:
    """A value for display: strings as they are, anything else as JSON."""
    return value if isinstance(value, str) else to_json(value, pretty=pretty)
