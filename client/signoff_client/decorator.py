"""@requires_approval: ask Signoff before a function runs, and run it only once approved."""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar, cast

from signoff_client import binding
from signoff_client.client import AsyncSignoffClient, SignoffClient
from signoff_client.errors import APIError, Cancelled, Expired, Rejected, SignoffError, WaitTimedOut
from signoff_client.models import ApprovalRequest

P = ParamSpec("P")
R = TypeVar("R")
KeyTemplate = str | Callable[[dict[str, Any]], str] | None
_OUTCOMES: dict[str, type[SignoffError]] = {"rejected": Rejected, "expired": Expired, "cancelled": Cancelled,
                                            "pending": WaitTimedOut}


@dataclass(frozen=True, kw_only=True)
class Gate:
    """What to ask for, built from the decorator's arguments."""

    action: str
    approvers: tuple[str, ...]
    summary: binding.SummaryTemplate
    timeout: float | None
    urgency: str
    channel: str | None
    context: dict[str, Any] | str | None
    requester: str | None
    idempotency_key: KeyTemplate
    allowed_decisions: tuple[str, ...]
    args_schema: dict[str, Any] | None
    on_timeout: str | None = None

    def fields(self, args: dict[str, Any]) -> dict[str, Any]:
        """Keyword arguments for client.request() for one call with `args`."""
        key = self.idempotency_key(args) if callable(self.idempotency_key) else self.idempotency_key
        return {"action": self.action, "approvers": list(self.approvers), "args": args,
                "summary": binding.render_summary(self.summary, action=self.action, args=args),
                "urgency": self.urgency, "channel": self.channel, "context": self.context,
                "requester": self.requester, "idempotency_key": key,
                "allowed_decisions": list(self.allowed_decisions), "args_schema": self.args_schema,
                # With on_timeout, the wait's timeout is the request's own deadline on the server too.
                **({"timeout": self.timeout, "on_timeout": self.on_timeout} if self.on_timeout else {})}


def settle(request: ApprovalRequest) -> ApprovalRequest:
    """Return the request if approved; otherwise raise Rejected, Expired, Cancelled or WaitTimedOut."""
    if request.approved:
        return request
    outcome = _OUTCOMES.get(request.status)
    if outcome is None:  # a status this client does not know is not an approval
        raise SignoffError(f"request {request.id} ended with unknown status {request.status!r}; not running")
    raise outcome(request)


def requires_approval(
    *, action: str, approvers: Sequence[str] = (), summary: binding.SummaryTemplate = None,
    client: SignoffClient | AsyncSignoffClient | None = None, timeout: float | None = None,
    urgency: str = "normal", channel: str | None = None, context: dict[str, Any] | str | None = None,
    requester: str | None = None, idempotency_key: KeyTemplate = None,
    allowed_decisions: Sequence[str] = ("approve", "edit", "reject"),
    args_schema: dict[str, Any] | None = None, on_timeout: str | None = None,
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate a sync or async function so each call waits for a Signoff approval before it runs.

    An approver may Edit the arguments (drop "edit" from `allowed_decisions` to forbid it): the
    function then runs with the edited ones. When `timeout` passes with nobody deciding, the
    request is cancelled (a later click changes nothing) and WaitTimedOut is raised. Give
    `on_timeout` (reject, approve or wait; never laxer than the policy rule) to make `timeout` the
    request's own deadline on the server as well, so its card shows it and the policy bounds it.
    Leave `approvers` out when the policy rule that matches names them.
    """
    if isinstance(approvers, str):
        raise TypeError("approvers must be a list of approvers, not one string")
    gate = Gate(action=action, approvers=tuple(approvers), summary=summary, timeout=timeout, urgency=urgency,
                channel=channel, context=context, requester=requester, idempotency_key=idempotency_key,
                allowed_decisions=tuple(allowed_decisions), args_schema=args_schema, on_timeout=on_timeout)

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        if inspect.iscoroutinefunction(func):
            if client is not None and not isinstance(client, AsyncSignoffClient):
                raise TypeError(f"{func.__qualname__} is async: pass an AsyncSignoffClient")
            return cast(Callable[P, R], _guard_async(func, gate, client))
        if client is not None and not isinstance(client, SignoffClient):
            raise TypeError(f"{func.__qualname__} is not async: pass a SignoffClient")
        return _guard_sync(func, gate, client)

    return decorate


def _guard_sync(func: Callable[P, R], gate: Gate, client: SignoffClient | None) -> Callable[P, R]:
    signature = inspect.signature(func)
    lazy = _LazyClient(client)

    @functools.wraps(func)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
        bound = binding.bind(signature, args, kwargs)
        sent = binding.approval_args(bound)
        signoff = lazy.get()
        asked = signoff.request(**gate.fields(sent))
        waited = signoff.wait(asked.id, timeout=gate.timeout)
        if waited.is_pending:
            waited = _withdraw(lambda: signoff.cancel(asked.id, reason=_gave_up(gate)),
                               lambda: signoff.get(asked.id))
        decided = settle(waited)
        if decided.edited_args is None:
            return func(*args, **kwargs)
        new_args, new_kwargs = binding.apply_edits(bound, sent, decided.edited_args)
        return func(*new_args, **new_kwargs)

    return guarded


def _guard_async(func: Callable[P, Awaitable[R]], gate: Gate,
                 client: AsyncSignoffClient | None) -> Callable[P, Awaitable[R]]:
    signature = inspect.signature(func)

    @functools.wraps(func)
    async def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
        bound = binding.bind(signature, args, kwargs)
        sent = binding.approval_args(bound)
        if client is not None:
            decided = await _ask_async(client, gate, sent)
        else:  # an AsyncClient's pool belongs to one event loop, so the default client lives per call
            async with AsyncSignoffClient.from_env() as own:
                decided = await _ask_async(own, gate, sent)
        if decided.edited_args is None:
            return await func(*args, **kwargs)
        new_args, new_kwargs = binding.apply_edits(bound, sent, decided.edited_args)
        return await func(*new_args, **new_kwargs)

    return guarded


async def _ask_async(client: AsyncSignoffClient, gate: Gate, sent: dict[str, Any]) -> ApprovalRequest:
    asked = await client.request(**gate.fields(sent))
    waited = await client.wait(asked.id, timeout=gate.timeout)
    if waited.is_pending:
        try:
            cancelled = await client.cancel(asked.id, reason=_gave_up(gate))
        except APIError as e:
            if e.error != "already_decided":
                raise
            return settle(await client.get(asked.id))  # decided just before the cancel: it holds
        raise WaitTimedOut(cancelled)
    return settle(waited)


def _gave_up(gate: Gate) -> str:
    waited = f" after {gate.timeout:g} s" if gate.timeout else ""
    return f"the agent stopped waiting{waited}"


def _withdraw(cancel: Callable[[], ApprovalRequest], get: Callable[[], ApprovalRequest]) -> ApprovalRequest:
    """Cancel a request nobody decided in time, so no later click acts on it; a decision that won
    the race with the cancel stands."""
    try:
        cancelled = cancel()
    except APIError as e:
        if e.error != "already_decided":
            raise
        return get()
    raise WaitTimedOut(cancelled)


class _LazyClient:
    """The given client, or one from the environment built on first use (once, across threads)."""

    def __init__(self, client: SignoffClient | None) -> None:
        self._client = client
        self._lock = threading.Lock()

    def get(self) -> SignoffClient:
        """The client to use."""
        with self._lock:
            if self._client is None:
                self._client = SignoffClient.from_env()
            return self._client
