"""`/_sandbox/*`: JSON control endpoints for drivers in other processes, the UI's form targets,
and the response_url Slack hands the bot with each click."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl, quote

import httpx
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from slack_sandbox.interactions import Interactions
from slack_sandbox.shapes import ApiError, input_fields
from slack_sandbox.state import SlackState

Json = dict[str, Any]
Endpoint = Callable[[Request], Awaitable[Response]]


def routes(*, state: SlackState, interactions: Interactions) -> list[Route]:
    """Every `/_sandbox/*` route bound to one state and one interaction sender."""
    actions = _Actions(state, interactions)
    return [
        Route(
            "/_sandbox/users",
            _adder(state.add_user, "name", "email", "real_name", "tz"),
            methods=["POST"],
        ),
        Route("/_sandbox/channels", _adder(state.add_channel, "name", "is_private"), methods=["POST"]),
        Route(
            "/_sandbox/usergroups",
            _adder(state.add_usergroup, "handle", "users", "name"),
            methods=["POST"],
        ),
        Route("/_sandbox/messages", _reader(_messages(state))),
        Route("/_sandbox/ephemerals", _reader(lambda q: state.ephemerals(q.get("user")))),
        Route("/_sandbox/views", _reader(lambda q: state.views(q.get("user")))),
        Route("/_sandbox/calls", _reader(lambda q: state.calls(q.get("method")))),
        Route("/_sandbox/dm", _reader(lambda q: state.dm_channel(q["user"]))),
        Route("/_sandbox/fail_next", actions.fail_next, methods=["POST"]),
        Route("/_sandbox/config", actions.config, methods=["POST"]),
        Route("/_sandbox/reset", actions.reset, methods=["POST"]),
        Route("/_sandbox/click", actions.click, methods=["POST"]),
        Route("/_sandbox/submit", actions.submit, methods=["POST"]),
        Route("/_sandbox/close", actions.close, methods=["POST"]),
        Route("/_sandbox/home", actions.home, methods=["POST"]),
        Route("/_sandbox/response/{key}", actions.respond, methods=["POST"]),
        Route("/archives/{channel}/{stamp}", _archive),
    ]


async def read_body(request: Request) -> tuple[Json, bool]:
    """The request's fields and whether it came from an HTML form (lists for repeated fields)."""
    raw = await request.body()
    if request.headers.get("content-type", "").startswith("application/json"):
        parsed = json.loads(raw or b"{}")
        return (parsed if isinstance(parsed, dict) else {}), False
    fields: Json = {}
    for key, value in parse_qsl(raw.decode("utf-8"), keep_blank_values=True):
        fields.setdefault(key, []).append(value)
    return {k: v[0] if len(v) == 1 else v for k, v in fields.items()}, True


def _adder(add: Callable[..., Json], *optional: str) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        body, _ = await read_body(request)
        if "id" not in body:
            return JSONResponse({"error": "id is required"}, status_code=400)
        kwargs = {k: body[k] for k in optional if k in body}
        try:
            return JSONResponse(add(body["id"], **kwargs))
        except TypeError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)

    return endpoint


def _reader(read: Callable[[dict[str, str]], Any]) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        try:
            return JSONResponse({"result": read(dict(request.query_params))})
        except (KeyError, ApiError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=404)

    return endpoint


def _messages(state: SlackState) -> Callable[[dict[str, str]], list[Json]]:
    def read(query: dict[str, str]) -> list[Json]:
        if query.get("thread_ts"):
            return state.replies(query["channel"], query["thread_ts"])
        return state.messages(query["channel"])

    return read


async def _archive(request: Request) -> Response:
    # Permalinks land on the UI; the fragment scrolls to the message.
    channel, stamp = request.path_params["channel"], request.path_params["stamp"]
    ts = f"{stamp[1:-6]}.{stamp[-6:]}"
    return RedirectResponse(f"/#m-{channel}-{ts}", status_code=303)


class _Actions:
    """Endpoints that change state or call the bot (run off the event loop: the bot may call
    back into this very server while it handles the click)."""

    def __init__(self, state: SlackState, interactions: Interactions) -> None:
        self._state = state
        self._interactions = interactions

    async def fail_next(self, request: Request) -> Response:
        body, _ = await read_body(request)
        self._state.fail_next(
            body["method"],
            error=body.get("error", "ratelimited"),
            retry_after=int(body.get("retry_after", 1)),
            times=int(body.get("times", 1)),
        )
        return JSONResponse({"ok": True})

    async def config(self, request: Request) -> Response:
        body, _ = await read_body(request)
        if "events_url" in body:
            self._interactions.events_url = body["events_url"]
        return JSONResponse({"events_url": self._interactions.events_url})

    async def reset(self, request: Request) -> Response:
        self._state.reset()
        return JSONResponse({"ok": True})

    async def respond(self, request: Request) -> Response:
        body, _ = await read_body(request)
        if isinstance(body.get("blocks"), str):
            body["blocks"] = json.loads(body["blocks"])
        try:
            self._state.respond(request.path_params["key"], body)
        except KeyError as exc:
            return JSONResponse({"ok": False, "error": str(exc)}, status_code=404)
        except ApiError as exc:
            status = 404 if exc.error in ("no_active_hooks", "expired_url", "used_url") else 400
            return JSONResponse({"ok": False, "error": exc.error, **exc.extra}, status_code=status)
        return JSONResponse({"ok": True})

    async def click(self, request: Request) -> Response:
        body, is_form = await read_body(request)

        def send() -> httpx.Response:
            if body.get("view_id"):
                return self._interactions.click_view(
                    body["user"], body["view_id"], body["action_id"], value=body.get("value"),
                    block_id=body.get("block_id") or None,
                )
            return self._interactions.click(
                body["user"],
                body["channel"],
                body["ts"],
                body["action_id"],
                value=body.get("value"),
                block_id=body.get("block_id") or None,
            )

        return await _relay(send, body, is_form)

    async def submit(self, request: Request) -> Response:
        body, is_form = await read_body(request)
        if is_form:
            body["values"] = self._form_values(body)
        return await _relay(
            lambda: self._interactions.submit_view(body["user"], body["view_id"], body["values"]),
            body,
            is_form,
        )

    async def home(self, request: Request) -> Response:
        body, is_form = await read_body(request)
        return await _relay(lambda: self._interactions.open_home(body["user"]), body, is_form)

    async def close(self, request: Request) -> Response:
        body, is_form = await read_body(request)
        return await _relay(
            lambda: self._interactions.close_view(body["user"], body["view_id"]), body, is_form
        )

    def _form_values(self, body: Json) -> Json:
        # The UI names the i-th input of the modal `in{i}`: block and action ids may hold any
        # character, so they stay on the server.
        blocks = self._state.view(body["view_id"])["view"]["blocks"]
        values: Json = {}
        for i, (block, element) in enumerate(input_fields(blocks)):
            if f"in{i}" in body:
                values.setdefault(block["block_id"], {})[element["action_id"]] = body[f"in{i}"]
        return values


async def _relay(send: Callable[[], httpx.Response | None], body: Json, is_form: bool) -> Response:
    """Run one delivery off the event loop; answer JSON, or redirect an HTML form back."""
    try:
        answer = await run_in_threadpool(send)
    except (KeyError, ValueError, ApiError) as exc:
        return _done(body, is_form, error=f"{type(exc).__name__}: {exc}", status=400)
    except (httpx.HTTPError, RuntimeError) as exc:
        return _done(body, is_form, error=f"could not reach the bot: {exc!r}", status=502)
    if answer is None:
        return _done(body, is_form, result={"status": None, "body": None})
    result = {"status": answer.status_code, "body": _decoded(answer)}
    error = None if answer.status_code == 200 else f"the bot answered HTTP {answer.status_code}"
    return _done(body, is_form, result=result, error=error)


def _done(
    body: Json,
    is_form: bool,
    *,
    result: Json | None = None,
    error: str | None = None,
    status: int = 200,
) -> Response:
    if is_form:
        target = f"/?as={quote(str(body.get('user', '')))}"
        if error:
            target += f"&note={quote(error)}"
        return RedirectResponse(target, status_code=303)
    if result is None:
        return JSONResponse({"error": error}, status_code=status)
    return JSONResponse(result)


def _decoded(answer: httpx.Response) -> Any:
    try:
        return answer.json()
    except ValueError:
        return answer.text
