"""The agent API's wire format as pure data: the calls to make and how to read their answers."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from signoff_client.errors import APIError
from signoff_client.models import ApprovalRequest

MAX_POLL_SECONDS = 60
# Answers that mean "not now" (the web process restarting behind a proxy, the database down).
RETRY_STATUSES = frozenset({502, 503, 504})
MAX_BACKOFF = 10.0  # seconds between tries at most (a Retry-After is honoured up to 30)
MAX_ATTEMPTS = 20


@dataclass(frozen=True, kw_only=True)
class Call:
    """One HTTP call to the agent API; `hold` is how long the server may hold it open (long-poll)."""

    method: str
    path: str
    json: dict[str, Any] | None = None
    params: dict[str, str] | None = None
    hold: float = 0.0


def create(
    *, action: str, summary: str, approvers: Sequence[str] = (), args: Mapping[str, Any] | None,
    context: Mapping[str, Any] | str | None, urgency: str, channel: str | None, dm: bool | None,
    requester: str | None, idempotency_key: str | None, callback_url: str | None,
    allowed_decisions: Sequence[str] | None = None, args_schema: Mapping[str, Any] | None = None,
    response_schema: Mapping[str, Any] | None = None, timeout: float | None = None,
    on_timeout: str | None = None,
) -> Call:
    """`POST /v1/requests`; fields left None are omitted so the server's defaults apply.

    `timeout` (seconds) and `on_timeout` give the request its own deadline on the server, within
    what its policy rule allows."""
    if isinstance(approvers, str):
        raise TypeError("approvers must be a list of approvers, not one string")
    body: dict[str, Any] = {
        "action": action, "summary": summary, "approvers": list(approvers), "urgency": urgency,
        "args": None if args is None else dict(args),
        "context": dict(context) if isinstance(context, Mapping) else context,
        "channel": channel, "dm": dm, "requester": requester, "idempotency_key": idempotency_key,
        "timeout": None if timeout is None else max(1, math.ceil(timeout)), "on_timeout": on_timeout,
        "callback_url": callback_url,
        "allowed_decisions": None if allowed_decisions is None else list(allowed_decisions),
        "args_schema": None if args_schema is None else dict(args_schema),
        "response_schema": None if response_schema is None else dict(response_schema),
    }
    return Call(method="POST", path="/v1/requests", json={k: v for k, v in body.items() if v is not None})


def get(request_id: str) -> Call:
    """`GET /v1/requests/{id}`."""
    return Call(method="GET", path=_path(request_id))


def wait(request_id: str, seconds: int) -> Call:
    """`GET /v1/requests/{id}/wait?timeout=seconds`: the server holds it until decided or `seconds` pass."""
    return Call(method="GET", path=_path(request_id, "/wait"), params={"timeout": str(seconds)}, hold=seconds)


def list_requests(status: str | None, limit: int) -> Call:
    """`GET /v1/requests?status=&limit=`: newest first."""
    if not 1 <= limit <= 500:
        raise ValueError("limit must be between 1 and 500")
    params = {"limit": str(limit)} | ({"status": status} if status else {})
    return Call(method="GET", path="/v1/requests", params=params)


def read_list(response: httpx.Response) -> list[ApprovalRequest]:
    """The requests of a list answer; APIError otherwise."""
    data = read_json(response)
    rows = data.get("requests")
    if not isinstance(rows, list):
        raise APIError(response.status_code, "invalid_response", "expected a list of requests")
    try:
        return [ApprovalRequest.from_json(row) for row in rows]
    except ValueError as e:
        raise APIError(response.status_code, "invalid_response", f"GET /v1/requests: {e}") from e


def cancel(request_id: str, reason: str) -> Call:
    """`POST /v1/requests/{id}/cancel`."""
    return Call(method="POST", path=_path(request_id, "/cancel"), json={"reason": reason})


def start_run(*, graph: str, input: Mapping[str, Any] | None, thread_id: str | None,
              requester: str | None, approvers: Sequence[str], channel: str | None) -> Call:
    """`POST /v1/runs`."""
    body: dict[str, Any] = {"graph": graph, "input": dict(input) if input is not None else None,
                            "approvers": list(approvers)}
    body |= {k: v for k, v in (("thread_id", thread_id), ("requester", requester), ("channel", channel))
             if v is not None}
    return Call(method="POST", path="/v1/runs", json=body)


def get_run(run_id: str) -> Call:
    """`GET /v1/runs/{id}`."""
    if not run_id:
        raise ValueError("run_id must not be empty")
    return Call(method="GET", path=f"/v1/runs/{quote(run_id, safe='')}")


def idempotent(call: Call) -> bool:
    """Whether sending `call` twice does what sending it once does: reads, a cancel (with the same
    reason), a create that carries an idempotency_key."""
    return (call.method == "GET" or (call.method == "POST" and call.path.endswith("/cancel"))
            or bool(call.json and call.json.get("idempotency_key")))


def retry_delay(call: Call, *, attempt: int, error: httpx.HTTPError | None = None,
                response: httpx.Response | None = None) -> float | None:
    """Seconds to wait before sending `call` again after try number `attempt` (0-based) failed
    with `error` or answered `response`; None when it must not be retried."""
    if attempt + 1 >= MAX_ATTEMPTS:
        return None
    backoff = min(MAX_BACKOFF, 0.25 * 2 ** attempt)
    if error is not None:
        # A refused connection sent nothing: safe for any call. Anything later may have been applied.
        sent_nothing = isinstance(error, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
        return backoff if isinstance(error, httpx.TransportError) and (sent_nothing or idempotent(call)) \
            else None
    if response is None or response.status_code not in RETRY_STATUSES or not idempotent(call):
        return None
    try:
        return min(30.0, max(backoff, float(response.headers.get("Retry-After", ""))))
    except ValueError:
        return backoff


def read_json(response: httpx.Response) -> dict[str, Any]:
    """The JSON object of a 2xx answer (runs are returned as plain dicts); APIError otherwise."""
    if not response.is_success:
        raise error(response)
    data = response.json()
    if not isinstance(data, dict):
        raise APIError(response.status_code, "invalid_response", "expected a JSON object")
    return data


def poll_seconds(remaining: float | None) -> int:
    """The next long-poll's length: 60 s, or the whole seconds left (at least 1, the server's minimum)."""
    if remaining is None:
        return MAX_POLL_SECONDS
    return max(1, min(MAX_POLL_SECONDS, int(remaining)))


def read(response: httpx.Response) -> ApprovalRequest:
    """The request in a 2xx answer; any other answer raises APIError with the server's error and detail."""
    if not response.is_success:
        raise error(response)
    try:
        return ApprovalRequest.from_json(response.json())
    except ValueError as e:  # JSONDecodeError is a ValueError too
        raise APIError(response.status_code, "invalid_response",
                       f"{response.request.method} {response.request.url.path}: {e}") from e


def error(response: httpx.Response) -> APIError:
    """APIError from an error answer, also when a proxy sent something that is not Signoff's JSON."""
    try:
        data = response.json()
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        fields = data.get("fields") if isinstance(data.get("fields"), dict) else None
        return APIError(response.status_code, data["error"], str(data.get("detail") or ""),
                        {str(k): str(v) for k, v in (fields or {}).items()})
    text = response.text.strip()[:500] or response.reason_phrase
    return APIError(response.status_code, f"http_{response.status_code}", text)


def _path(request_id: str, suffix: str = "") -> str:
    if not request_id:
        raise ValueError("request_id must not be empty")
    return f"/v1/requests/{quote(request_id, safe='')}{suffix}"
