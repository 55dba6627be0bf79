"""Who this Slack app is (workspace, organisation, app id), and whether a payload is meant for it.

The signature proves a payload was signed with our signing secret; it does not prove the click
happened in our workspace, or was meant for our app (a secret shared between two apps, an app
installed in several workspaces with one secret). So every event and interaction must also name
our team (or, for an org-wide install, our enterprise) and our app id.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient


@dataclass(frozen=True, kw_only=True)
class SlackIdentity:
    """The workspace (or organisation) and app our bot token belongs to."""

    team_id: str
    enterprise_id: str | None = None
    app_id: str | None = None  # None: Slack would not say; the app id is then not checked
    org_install: bool = False

    @classmethod
    def learn(cls, client: WebClient) -> SlackIdentity:
        """Ask Slack once at start: auth.test, then bots.info for the app id if auth.test lacks it."""
        me = client.auth_test()
        app_id = me.get("app_id")
        if app_id is None and me.get("bot_id"):
            app_id = client.bots_info(bot=me["bot_id"])["bot"].get("app_id")
        return cls(team_id=str(me["team_id"]), enterprise_id=me.get("enterprise_id"),
                   app_id=app_id, org_install=bool(me.get("is_enterprise_install")))

    def foreign(self, payload: dict[str, Any]) -> str | None:
        """Why `payload` is not for us (another team, organisation or app), or None when it is."""
        if payload.get("type") == "url_verification":
            return None  # Slack's handshake when the URL is set: it names no team
        seen = origin(payload)
        if self.app_id is not None and seen["app"] != self.app_id:
            return f"api_app_id {seen['app']!r} is not this app ({self.app_id})"
        if self.org_install:
            if seen["enterprise"] != self.enterprise_id:
                return (f"enterprise {seen['enterprise']!r} is not this app's organisation "
                        f"({self.enterprise_id})")
        elif seen["team"] != self.team_id:
            return f"team {seen['team']!r} is not this app's workspace ({self.team_id})"
        return None


def origin(payload: dict[str, Any]) -> dict[str, str | None]:
    """Team, enterprise and app id as an interaction (`team: {id}`) or an event (`team_id`) gives them."""
    team = payload.get("team")
    enterprise = payload.get("enterprise")
    team_id = team.get("id") if isinstance(team, dict) else payload.get("team_id")
    enterprise_id = enterprise.get("id") if isinstance(enterprise, dict) else payload.get("enterprise_id")
    if enterprise_id is None and isinstance(team, dict):
        enterprise_id = team.get("enterprise_id")
    found = {"team": team_id, "enterprise": enterprise_id, "app": payload.get("api_app_id")}
    return {k: (v[:40] if isinstance(v, str) else None) for k, v in found.items()}
