"""Resolving approver names (user ids, emails, user-group handles) through Slack."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Sequence

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.core.identity import is_email, normalise, slack_user_id
from bot.errors import InvalidInput, Unavailable

_GROUP_ID = re.compile(r"^<?!?subteam\^(S[A-Z0-9]{2,})(?:\|[^>]*)?>?$|^(S[A-Z0-9]{2,})$")
# Slack's answers that mean "no such user/group"; any other error means Slack could not answer,
# and a check that needed the answer must refuse (503), never treat the name as unknown or skip.
_NOT_FOUND = {"user_not_found", "users_not_found", "no_such_subteam", "subteam_not_found",
              "invalid_users", "user_not_visible", "account_inactive"}


_NO_CHANNEL = {"channel_not_found", "not_in_channel", "is_archived"}


def _bad_channel(channel: str, why: str) -> InvalidInput:
    return InvalidInput(f"channel {channel!r} cannot be used: {why}", fields={"channel": f"{channel}: {why}"})


def _unavailable(what: str, e: Exception) -> Unavailable:
    """Slack did not answer: come back in 30 s, or when a 429 says."""
    error = e.response.get("error") if isinstance(e, SlackApiError) else e.__class__.__name__
    after = str(e.response.headers.get("Retry-After", "")) if isinstance(e, SlackApiError) else ""
    return Unavailable(f"Slack could not answer {what} ({error})",
                       retry_after=max(1, int(after)) if after.isdigit() else 30)


class SlackDirectory:
    """Answers who an approver entry means, asking Slack; unknown entries are errors, not drops.

    Answers are cached for `ttl` seconds: agents name the same approvers again and again, and
    every lookup is a rate-limited Slack call on the agent's request path. Misses are not
    cached, so someone just added to the workspace resolves at once.
    """

    def __init__(self, client: WebClient, *, ttl: float = 300.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.client = client
        self.ttl = ttl
        self.clock = clock
        self._cache: dict[str, tuple[float, list[str]]] = {}
        self._lock = threading.Lock()

    def resolve(self, entries: Sequence[str], *, field: str = "approvers") -> list[str]:
        """Slack user ids for `entries`, in order, without duplicates; InvalidInput names each bad
        one as `field[n]`."""
        users: list[str] = []
        errors: dict[str, str] = {}
        for n, entry in enumerate(entries):
            try:
                found = self._cached(entry.strip())
            except LookupError as e:
                errors[f"{field}[{n}]"] = str(e)
                continue
            users.extend(u for u in found if u not in users)
        if errors:
            raise InvalidInput("some approvers could not be found in Slack", fields=errors)
        return users

    def check_channel(self, channel: str) -> None:
        """Refuse a channel the bot cannot post in (unknown, archived, bot not a member) with InvalidInput.

        Slack not answering is Unavailable: the request is refused (503), not stored blind.
        Channels found good are cached like names; a bad one is asked again next time.
        """
        now = self.clock()
        with self._lock:
            hit = self._cache.get("#channel:" + channel)
        if hit is not None and hit[0] > now:
            return
        try:
            info = self.client.conversations_info(channel=channel)["channel"]
        except SlackApiError as e:
            if e.response.get("error") not in _NO_CHANNEL:
                raise _unavailable(f"whether channel {channel} exists", e) from e
            raise _bad_channel(channel, "no such channel, or one the bot cannot see (private channels: "
                                        "invite the bot first)") from e
        except OSError as e:
            raise _unavailable(f"whether channel {channel} exists", e) from e
        if info.get("is_archived"):
            raise _bad_channel(channel, "the channel is archived")
        if not info.get("is_im") and info.get("is_member") is False:
            raise _bad_channel(channel, "the bot is not in this channel: invite it with /invite @Signoff")
        with self._lock:
            self._cache["#channel:" + channel] = (now + self.ttl, [])

    def _cached(self, entry: str) -> list[str]:
        now = self.clock()
        with self._lock:
            hit = self._cache.get(entry)
        if hit is not None and hit[0] > now:
            return hit[1]
        found = self._resolve_one(entry)
        with self._lock:
            self._cache[entry] = (now + self.ttl, found)
        return found

    def _resolve_one(self, entry: str) -> list[str]:
        name = normalise(entry)  # one spelling of a person, as the requester check uses
        if user := slack_user_id(name):
            return [self._user(user)]
        if is_email(name):
            return [self._email(name)]
        if m := _GROUP_ID.match(entry):
            return self._group_members(m.group(1) or m.group(2), entry)
        return self._group_members(self._group_id(entry.lstrip("@")), entry)

    def _user(self, user_id: str) -> str:
        try:
            self.client.users_info(user=user_id)
        except SlackApiError as e:
            if e.response.get("error") not in _NOT_FOUND:
                raise _unavailable(f"who {user_id} is", e) from e
            raise LookupError(f"{user_id!r}: no such Slack user ({e.response.get('error')})") from e
        except OSError as e:
            raise _unavailable(f"who {user_id} is", e) from e
        return user_id

    def _email(self, email: str) -> str:
        try:
            found = self.client.users_lookupByEmail(email=email)
        except SlackApiError as e:
            if e.response.get("error") not in _NOT_FOUND:
                raise _unavailable(f"whose email {email} is", e) from e
            raise LookupError(f"{email!r}: no Slack user has this email") from e
        except OSError as e:
            raise _unavailable(f"whose email {email} is", e) from e
        return str(found["user"]["id"])

    def _group_id(self, handle: str) -> str:
        try:
            groups = self.client.usergroups_list()["usergroups"]
        except (SlackApiError, OSError) as e:
            raise _unavailable("which user groups exist", e) from e
        for g in groups:
            if g.get("handle") == handle:
                return str(g["id"])
        raise LookupError(
            f"{handle!r}: not a Slack user id (U…), an email, or a user-group handle of this workspace"
        )

    def _group_members(self, group_id: str, entry: str) -> list[str]:
        try:
            members = self.client.usergroups_users_list(usergroup=group_id)["users"]
        except OSError as e:
            raise _unavailable(f"who is in {entry}", e) from e
        except SlackApiError as e:
            if e.response.get("error") not in _NOT_FOUND:
                raise _unavailable(f"who is in {entry}", e) from e
            raise LookupError(f"{entry!r}: no such user group ({e.response.get('error')})") from e
        if not members:
            raise LookupError(f"{entry!r}: the user group has no members, nobody could approve")
        return [str(u) for u in members]
