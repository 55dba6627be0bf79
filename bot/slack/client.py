"""The one Slack Web API client, with Slack's rate-limit retry handling."""

from __future__ import annotations

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

# auth.test's errors for a token Slack knows to be bad; anything else is Slack, or the way to it.
_REFUSED_TOKEN = frozenset({"invalid_auth", "not_authed", "token_revoked", "token_expired",
                            "account_inactive"})


def make_client(*, token: str | None, base_url: str) -> WebClient:
    """A WebClient for `base_url` that waits out `429 Retry-After` answers before giving up."""
    client = WebClient(token=token, base_url=base_url, timeout=15)
    client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=5))
    return client


def make_lookup_client(*, token: str | None, base_url: str) -> WebClient:
    """A WebClient for the lookups made on an agent's request (who an approver is, whether a
    channel takes cards): it answers within 5 s or fails, and a 429 fails at once, for the agent
    to come back after its Retry-After rather than wait on the request path."""
    return WebClient(token=token, base_url=base_url, timeout=5)


def token_refused(error: SlackApiError) -> str | None:
    """Slack's reason when `error` says the token itself is bad (invalid, revoked, ...), else None:
    a 503 page, a proxy's answer or a wrong URL is not a refused token."""
    said = error.response.get("error") if error.response.status_code == 200 else None
    return said if said in _REFUSED_TOKEN else None


def what_slack_said(error: SlackApiError) -> str:
    """Slack's error code, or the HTTP status when there is none."""
    return str(error.response.get("error") or f"HTTP {error.response.status_code}")
