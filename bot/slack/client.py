"""The one Slack Web API client, with Slack's rate-limit retry handling."""

from __future__ import annotations

from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler


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
