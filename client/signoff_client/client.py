"""SignoffClient and AsyncSignoffClient: the agent API over httpx, with the transport as the IO seam."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, Self

import httpx

from signoff_client import protocol
from signoff_client.errors import SignoffError, Unreachable
from signoff_client.models import ApprovalRequest

URL_VARIABLE = "SIGNOFF_URL"
TOKEN_VARIABLE = "SIGNOFF_TOKEN"
USER_AGENT = "signoff-client/0.1"


def _settings(base_url: str, token: str, timeout: float) -> tuple[str, dict[str, str]]:
    """Validate the connection settings; returns the normalised base URL and the headers to send."""
    if not base_url or not base_url.strip():
        raise ValueError("base_url is required, e.g. http://127.0.0.1:8000")
    if not token or not token.strip():
        raise ValueError("token is required: one of the server's SIGNOFF_API_TOKENS")
    if timeout <= 0:
        raise ValueError("timeout must be positive")
    url = base_url.strip().rstrip("/")
    url = url.removesuffix("/v1")  # the server prints its API as .../v1; the calls add /v1 themselves
    return url, {"Authorization": f"Bearer {token.strip()}", "User-Agent": USER_AGENT}


def _from_env(environ: Mapping[str, str] | None) -> tuple[str, str]:
    env = os.environ if environ is None else environ
    missing = [v for v in (URL_VARIABLE, TOKEN_VARIABLE) if not env.get(v, "").strip()]
    if missing:
        raise SignoffError(f"set {' and '.join(missing)} to reach Signoff (e.g. SIGNOFF_URL=http://127.0.0.1:8000)")
    return env[URL_VARIABLE], env[TOKEN_VARIABLE]


class SignoffClient:
    """Blocking client for the agent API; use as a context manager or call close()."""

    def __init__(
        self, *, base_url: str, token: str, timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None, clock: Callable[[], float] = time.monotonic,
        retry_for: float = 60.0, sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        url, headers = _settings(base_url, token, timeout)
        self.base_url, self.timeout, self._clock = url, timeout, clock
        self.retry_for, self._sleep = retry_for, sleep
        self._http = httpx.Client(base_url=url, headers=headers, timeout=timeout, transport=transport)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **options: Any) -> SignoffClient:
        """A client for SIGNOFF_URL with SIGNOFF_TOKEN (from `environ`, default os.environ)."""
        url, token = _from_env(environ)
        return cls(base_url=url, token=token, **options)

    def request(
        self, *, action: str, summary: str, approvers: Sequence[str] = (),
        args: Mapping[str, Any] | None = None,
        context: Mapping[str, Any] | str | None = None, urgency: str = "normal", channel: str | None = None,
        dm: bool | None = None, requester: str | None = None, idempotency_key: str | None = None,
        callback_url: str | None = None, allowed_decisions: Sequence[str] | None = None,
        args_schema: Mapping[str, Any] | None = None, response_schema: Mapping[str, Any] | None = None,
        timeout: float | None = None, on_timeout: str | None = None,
    ) -> ApprovalRequest:
        """Ask for an approval; a repeated idempotency_key returns the existing request. Leave
        `approvers` out when the policy rule that matches names them (naming any is then refused).

        `allowed_decisions` (default approve, reject) may add `edit` (checked against `args_schema`)
        and `respond` (a form built from `response_schema`, or free text). `timeout` (seconds) and
        `on_timeout` (reject, approve, wait) are the request's own deadline, within its rule's.
        """
        return self._send(protocol.create(
            action=action, summary=summary, approvers=approvers, args=args, context=context, urgency=urgency,
            channel=channel, dm=dm, requester=requester, idempotency_key=idempotency_key,
            callback_url=callback_url, allowed_decisions=allowed_decisions, args_schema=args_schema,
            response_schema=response_schema, timeout=timeout, on_timeout=on_timeout))

    def get(self, request_id: str) -> ApprovalRequest:
        """The request as it is now."""
        return self._send(protocol.get(request_id))

    def wait(self, request_id: str, *, timeout: float | None = None) -> ApprovalRequest:
        """Long-poll until the request is not pending or `timeout` s pass (None: forever); returns it."""
        deadline = None if timeout is None else self._clock() + timeout
        if timeout is not None and timeout <= 0:
            return self.get(request_id)
        while True:
            remaining = None if deadline is None else deadline - self._clock()
            current = self._send(protocol.wait(request_id, protocol.poll_seconds(remaining)))
            if not current.is_pending or (deadline is not None and self._clock() >= deadline):
                return current

    def list_requests(self, *, status: str | None = None, limit: int = 100) -> list[ApprovalRequest]:
        """Your requests, newest first, optionally only those with `status`."""
        call = protocol.list_requests(status, limit)
        return protocol.read_list(self._http.request(call.method, call.path, params=call.params))

    def cancel(self, request_id: str, *, reason: str) -> ApprovalRequest:
        """Withdraw a pending request; APIError `already_decided` (409) when someone decided first.
        Cancelling again with the same reason returns the cancelled request (a retry whose first
        answer was lost): the server answers it so."""
        return self._send(protocol.cancel(request_id, reason))

    def start_run(self, graph: str, input: Mapping[str, Any] | None = None, *, thread_id: str | None = None,
                  requester: str | None = None, approvers: Sequence[str] = (),
                  channel: str | None = None) -> dict[str, Any]:
        """Start a run of a graph registered on the server; returns the run (id, thread_id, status)."""
        call = protocol.start_run(graph=graph, input=input, thread_id=thread_id, requester=requester,
                                  approvers=approvers, channel=channel)
        return protocol.read_json(self._exchange(call))

    def get_run(self, run_id: str) -> dict[str, Any]:
        """A run: status (queued, running, waiting, done, failed, stopped), its requests, its result."""
        return protocol.read_json(self._exchange(protocol.get_run(run_id)))

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def _send(self, call: protocol.Call) -> ApprovalRequest:
        return protocol.read(self._exchange(call))

    def _exchange(self, call: protocol.Call) -> httpx.Response:
        """Send `call`, retrying with backoff while protocol.retry_delay allows and `retry_for` lasts."""
        started, attempt = self._clock(), 0
        while True:
            try:
                response = self._http.request(call.method, call.path, json=call.json, params=call.params,
                                              timeout=self.timeout + call.hold)
            except httpx.HTTPError as e:
                delay = protocol.retry_delay(call, attempt=attempt, error=e)
                if delay is None or self._clock() + delay - started > self.retry_for:
                    raise _unreachable(call, e) from e
            else:
                delay = protocol.retry_delay(call, attempt=attempt, response=response)
                if delay is None or self._clock() + delay - started > self.retry_for:
                    return response
            self._sleep(delay)
            attempt += 1


class AsyncSignoffClient:
    """The same client for asyncio; use `async with` or await close()."""

    def __init__(
        self, *, base_url: str, token: str, timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None, clock: Callable[[], float] = time.monotonic,
        retry_for: float = 60.0, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        url, headers = _settings(base_url, token, timeout)
        self.base_url, self.timeout, self._clock = url, timeout, clock
        self.retry_for, self._sleep = retry_for, sleep
        self._http = httpx.AsyncClient(base_url=url, headers=headers, timeout=timeout, transport=transport)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **options: Any) -> AsyncSignoffClient:
        """A client for SIGNOFF_URL with SIGNOFF_TOKEN (from `environ`, default os.environ)."""
        url, token = _from_env(environ)
        return cls(base_url=url, token=token, **options)

    async def request(
        self, *, action: str, summary: str, approvers: Sequence[str] = (),
        args: Mapping[str, Any] | None = None,
        context: Mapping[str, Any] | str | None = None, urgency: str = "normal", channel: str | None = None,
        dm: bool | None = None, requester: str | None = None, idempotency_key: str | None = None,
        callback_url: str | None = None, allowed_decisions: Sequence[str] | None = None,
        args_schema: Mapping[str, Any] | None = None, response_schema: Mapping[str, Any] | None = None,
        timeout: float | None = None, on_timeout: str | None = None,
    ) -> ApprovalRequest:
        """Ask for an approval; a repeated idempotency_key returns the existing request. Leave
        `approvers` out when the policy rule that matches names them (naming any is then refused).

        `allowed_decisions` (default approve, reject) may add `edit` (checked against `args_schema`)
        and `respond` (a form built from `response_schema`, or free text). `timeout` (seconds) and
        `on_timeout` (reject, approve, wait) are the request's own deadline, within its rule's.
        """
        return await self._send(protocol.create(
            action=action, summary=summary, approvers=approvers, args=args, context=context, urgency=urgency,
            channel=channel, dm=dm, requester=requester, idempotency_key=idempotency_key,
            callback_url=callback_url, allowed_decisions=allowed_decisions, args_schema=args_schema,
            response_schema=response_schema, timeout=timeout, on_timeout=on_timeout))

    async def get(self, request_id: str) -> ApprovalRequest:
        """The request as it is now."""
        return await self._send(protocol.get(request_id))

    async def wait(self, request_id: str, *, timeout: float | None = None) -> ApprovalRequest:
        """Long-poll until the request is not pending or `timeout` s pass (None: forever); returns it."""
        deadline = None if timeout is None else self._clock() + timeout
        if timeout is not None and timeout <= 0:
            return await self.get(request_id)
        while True:
            remaining = None if deadline is None else deadline - self._clock()
            current = await self._send(protocol.wait(request_id, protocol.poll_seconds(remaining)))
            if not current.is_pending or (deadline is not None and self._clock() >= deadline):
                return current

    async def list_requests(self, *, status: str | None = None, limit: int = 100) -> list[ApprovalRequest]:
        """Your requests, newest first, optionally only those with `status`."""
        call = protocol.list_requests(status, limit)
        return protocol.read_list(await self._http.request(call.method, call.path, params=call.params))

    async def cancel(self, request_id: str, *, reason: str) -> ApprovalRequest:
        """Withdraw a pending request; APIError `already_decided` (409) when someone decided first.
        Cancelling again with the same reason returns the cancelled request (a retry whose first
        answer was lost): the server answers it so."""
        return await self._send(protocol.cancel(request_id, reason))

    async def start_run(self, graph: str, input: Mapping[str, Any] | None = None, *,
                        thread_id: str | None = None, requester: str | None = None,
                        approvers: Sequence[str] = (), channel: str | None = None) -> dict[str, Any]:
        """Start a run of a graph registered on the server; returns the run (id, thread_id, status)."""
        call = protocol.start_run(graph=graph, input=input, thread_id=thread_id, requester=requester,
                                  approvers=approvers, channel=channel)
        return protocol.read_json(await self._exchange(call))

    async def get_run(self, run_id: str) -> dict[str, Any]:
        """A run: status (queued, running, waiting, done, failed, stopped), its requests, its result."""
        return protocol.read_json(await self._exchange(protocol.get_run(run_id)))

    async def close(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    async def _send(self, call: protocol.Call) -> ApprovalRequest:
        return protocol.read(await self._exchange(call))

    async def _exchange(self, call: protocol.Call) -> httpx.Response:
        """Send `call`, retrying with backoff while protocol.retry_delay allows and `retry_for` lasts."""
        started, attempt = self._clock(), 0
        while True:
            try:
                response = await self._http.request(call.method, call.path, json=call.json,
                                                    params=call.params, timeout=self.timeout + call.hold)
            except httpx.HTTPError as e:
                delay = protocol.retry_delay(call, attempt=attempt, error=e)
                if delay is None or self._clock() + delay - started > self.retry_for:
                    raise _unreachable(call, e) from e
            else:
                delay = protocol.retry_delay(call, attempt=attempt, response=response)
                if delay is None or self._clock() + delay - started > self.retry_for:
                    return response
            await self._sleep(delay)
            attempt += 1


def _unreachable(call: protocol.Call, error: httpx.HTTPError) -> Unreachable:
    maybe = "" if protocol.idempotent(call) else " (it may have been applied: repeating it is not safe)"
    return Unreachable(f"{call.method} {call.path}: {error.__class__.__name__}: {error}{maybe}")
