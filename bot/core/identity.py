"""Who a person-like name means: one spelling of a requester or approver, whatever was typed.

Separation of duties compares the requester with the clicker. A check that compares spellings
can be walked around (`<@U1|ann>`, a leading space, a no-break space, an upper-case email), so
every name is normalised here, once, before anything is resolved or compared.
"""

from __future__ import annotations

import re
import unicodedata

# Characters that print as nothing; an agent (or a copy-paste) can slip them into a name.
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"))
_MENTION = re.compile(r"^<@([UW][A-Z0-9]{2,})(?:\|[^>]*)?>$")
_USER_ID = re.compile(r"^@?([UW][A-Z0-9]{2,})$")
_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")


def normalise(name: str) -> str:
    """One spelling of `name`: invisible characters and outer whitespace (NBSP too) removed, Slack
    mention syntax reduced to the user id, emails lower-cased; anything else stays as it was."""
    text = unicodedata.normalize("NFKC", name).translate(_INVISIBLE).strip()
    if m := _MENTION.match(text) or _USER_ID.match(text):
        return m.group(1)
    if _EMAIL.match(text):
        return text.lower()
    return text


def slack_user_id(name: str) -> str | None:
    """The Slack user id a normalised name is (`U…`, `W…`, `@U…`), or None."""
    m = _USER_ID.match(name)
    return m.group(1) if m else None


def is_email(name: str) -> bool:
    """Whether a normalised name is an email address."""
    return bool(_EMAIL.match(name))


def is_person(name: str) -> bool:
    """Whether a normalised name can only mean a person: a Slack user id or an email.

    Anything else (`billing-bot`, `nightly-etl`) names a program, which never clicks a button.
    """
    return slack_user_id(name) is not None or is_email(name)
