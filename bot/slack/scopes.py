"""The bot token scopes Signoff needs: slack-manifest.yml asks for exactly these."""

from __future__ import annotations

BOT_SCOPES = frozenset({"chat:write", "chat:write.public", "im:write", "users:read", "users:read.email",
                        "usergroups:read"})
