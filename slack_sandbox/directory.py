"""The directory half of the sandbox state: users, user groups, channels and DMs."""

from __future__ import annotations

import copy
import threading
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from slack_sandbox.shapes import TEAM_ID, ApiError

Json = dict[str, Any]


class DirectoryStore:
    """Mixin for SlackState: who and where, sharing its lock."""

    _lock: threading.Lock

    def __init__(self) -> None:
        self._users: dict[str, Json] = {}
        self._usergroups: dict[str, Json] = {}
        self._channels: dict[str, Json] = {}
        self._dms: dict[str, str] = {}

    def add_user(
        self,
        user_id: str,
        *,
        name: str,
        email: str | None = None,
        real_name: str | None = None,
        tz: str = "UTC",
    ) -> Json:
        """Add (or replace) a workspace member."""
        with self._lock:
            return copy.deepcopy(self._add_user(user_id, name=name, email=email, real_name=real_name, tz=tz))

    def _add_user(
        self,
        user_id: str,
        *,
        name: str,
        email: str | None = None,
        real_name: str | None = None,
        tz: str = "UTC",
        is_bot: bool = False,
    ) -> Json:
        real = real_name or name
        profile: Json = {"real_name": real, "display_name": name}
        if email:
            profile["email"] = email
        user = {
            "id": user_id,
            "team_id": TEAM_ID,
            "name": name,
            "real_name": real,
            "deleted": False,
            "is_bot": is_bot,
            "tz": tz,
            "tz_offset": _tz_offset(tz),
            "profile": profile,
        }
        self._users[user_id] = user
        return user

    def add_usergroup(self, group_id: str, *, handle: str, users: list[str], name: str | None = None) -> Json:
        """Add (or replace) a user group such as @finance."""
        group = {
            "id": group_id,
            "team_id": TEAM_ID,
            "is_usergroup": True,
            "handle": handle,
            "name": name or handle,
            "users": list(users),
            "user_count": len(users),
        }
        with self._lock:
            self._usergroups[group_id] = group
            return copy.deepcopy(group)

    def add_channel(self, channel_id: str, *, name: str, is_private: bool = False,
                    is_member: bool = True, is_archived: bool = False) -> Json:
        """Add (or replace) a channel; the bot is a member unless `is_member=False`."""
        channel = {
            "id": channel_id,
            "name": name,
            "is_channel": not is_private,
            "is_private": is_private,
            "is_im": False,
            "is_member": is_member,
            "is_archived": is_archived,
        }
        with self._lock:
            self._channels[channel_id] = channel
            return copy.deepcopy(channel)

    def change_channel(self, channel_id: str, **flags: bool) -> None:
        """Archive a channel or remove the bot from it (`is_archived`, `is_member`)."""
        with self._lock:
            if channel_id not in self._channels:
                raise KeyError(f"no channel {channel_id}")
            self._channels[channel_id].update(flags)

    def check_postable(self, channel_id: str) -> None:
        """ApiError as Slack answers chat.postMessage to an archived channel or one without the bot."""
        channel = self._channels[channel_id]
        if channel.get("is_archived"):
            raise ApiError("is_archived")
        if channel.get("is_member") is False:
            raise ApiError("not_in_channel")

    def user(self, user_id: str) -> Json:
        """One user, or ApiError `user_not_found`."""
        with self._lock:
            return copy.deepcopy(self._user(user_id))

    def _user(self, user_id: str) -> Json:
        if user_id not in self._users:
            raise ApiError("user_not_found")
        return self._users[user_id]

    def user_by_email(self, email: str) -> Json:
        """The user with this email (case-insensitive), or ApiError `users_not_found`."""
        with self._lock:
            for user in self._users.values():
                if user["profile"].get("email", "").lower() == email.strip().lower():
                    return copy.deepcopy(user)
        raise ApiError("users_not_found")

    def users(self) -> list[Json]:
        """Every human user, in the order they were added."""
        with self._lock:
            return [copy.deepcopy(u) for u in self._users.values() if not u["is_bot"]]

    def usergroups(self, *, include_users: bool = False) -> list[Json]:
        """All user groups, with member lists only when asked (like Slack)."""
        with self._lock:
            groups = copy.deepcopy(list(self._usergroups.values()))
        if not include_users:
            for group in groups:
                group.pop("users")
        return groups

    def usergroup_users(self, group_id: str) -> list[str]:
        """Member ids of a user group, or ApiError `no_such_subteam`."""
        with self._lock:
            if group_id not in self._usergroups:
                raise ApiError("no_such_subteam")
            return list(self._usergroups[group_id]["users"])

    def channels(self) -> list[Json]:
        """Every channel including DMs, in creation order."""
        with self._lock:
            return copy.deepcopy(list(self._channels.values()))

    def dm_channel(self, user_id: str) -> str:
        """The bot's DM channel id with a user, created on first use; ApiError if no such user."""
        with self._lock:
            return self._dm(user_id)

    def _dm(self, user_id: str) -> str:
        self._user(user_id)
        if user_id not in self._dms:
            channel_id = f"D{len(self._dms) + 1:08d}"
            self._dms[user_id] = channel_id
            self._channels[channel_id] = {
                "id": channel_id,
                "name": "directmessage",
                "is_im": True,
                "user": user_id,
                "is_channel": False,
                "is_private": True,
            }
        return self._dms[user_id]

    def _resolve_channel(self, ref: str) -> str:
        """A channel id from an id, a DM-able user id, or a (#)name, like chat.postMessage."""
        if ref in self._channels:
            return ref
        if ref in self._users and not self._users[ref]["is_bot"]:
            return self._dm(ref)
        for channel in self._channels.values():
            if not channel["is_im"] and channel["name"] == ref.removeprefix("#"):
                return str(channel["id"])
        raise ApiError("channel_not_found")

    def resolve_channel(self, ref: str) -> str:
        """Public form of `_resolve_channel`."""
        with self._lock:
            return self._resolve_channel(ref)


def _tz_offset(tz: str) -> int:
    try:
        offset = datetime.now(ZoneInfo(tz)).utcoffset()
    except (ZoneInfoNotFoundError, ValueError):
        return 0
    return int(offset.total_seconds()) if offset else 0
