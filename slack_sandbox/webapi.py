"""`/api/{method}`: the Slack Web API methods Signoff uses, answering the way Slack answers."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from slack_sandbox.shapes import (
    APP_ID,
    BOT_ID,
    BOT_USER_ID,
    BOT_USER_NAME,
    TEAM_ID,
    TEAM_NAME,
    ApiError,
    slack_message,
)
from slack_sandbox.state import SlackState

Json = dict[str, Any]

# Fields slack_sdk sends as JSON strings inside form bodies, and the error for each when the
# string is not JSON.
_JSON_FIELDS = {
    "blocks": "invalid_blocks_format",
    "view": "invalid_arguments",
    "metadata": "invalid_metadata_format",
    "attachments": "invalid_attachments",
}


@dataclass(frozen=True)
class Call:
    """One Web API call as a handler sees it."""

    state: SlackState
    args: Json
    base_url: str  # "http://127.0.0.1:PORT", for permalinks and auth.test


Handler = Callable[[Call], Json]


def routes(*, state: SlackState, bot_token: str) -> list[Route]:
    """The `/api/{method}` route bound to one state and the one bot token it accepts."""

    async def endpoint(request: Request) -> Response:
        return await _answer(request, state=state, bot_token=bot_token)

    return [Route("/api/{method}", endpoint, methods=["GET", "POST"])]


async def _answer(request: Request, *, state: SlackState, bot_token: str) -> Response:
    method = request.path_params["method"]
    try:
        args, form_token = await read_args(request)
    except ApiError as exc:
        state.log_call(method, {}, ok=False, error=exc.error)
        return JSONResponse({"ok": False, "error": exc.error})
    try:
        handler = _HANDLERS.get(method)
        if handler is None:
            raise ApiError("unknown_method")
        _authenticate(request, form_token, bot_token)
        fault = state.take_fault(method)
        if fault is not None and fault.error == "ratelimited":
            state.log_call(method, args, ok=False, error=fault.error)
            return JSONResponse(
                {"ok": False, "error": "ratelimited"},
                status_code=429,
                headers={"Retry-After": str(fault.retry_after)},
            )
        if fault is not None:
            raise ApiError(fault.error)
        body = {"ok": True, **handler(Call(state, args, str(request.base_url).rstrip("/")))}
    except ApiError as exc:
        state.log_call(method, args, ok=False, error=exc.error)
        return JSONResponse(_error_body(exc))
    state.log_call(method, args, ok=True, error=None)
    return JSONResponse(body, headers={"x-oauth-scopes": ",".join(state.scopes)})


def _error_body(exc: ApiError) -> Json:
    body: Json = {"ok": False, "error": exc.error, **exc.extra}
    if "errors" in exc.extra:
        # Slack repeats validation problems here; slack_sdk prints them in its exception.
        body["response_metadata"] = {"messages": [f"[ERROR] {e}" for e in exc.extra["errors"]]}
    return body


async def read_args(request: Request) -> tuple[Json, str | None]:
    """The call's arguments from query string plus form or JSON body, and a form `token`."""
    args: Json = dict(request.query_params)
    raw = await request.body()
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            parsed = json.loads(raw or b"{}")
        except ValueError:
            raise ApiError("invalid_json") from None
        if not isinstance(parsed, dict):
            raise ApiError("invalid_json")
        args.update(parsed)
        token = None  # Slack takes the token of a JSON call only from the Authorization header
    else:
        args.update(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
        token = args.get("token")
    args.pop("token", None)
    for field, error in _JSON_FIELDS.items():
        if isinstance(args.get(field), str):
            try:
                args[field] = json.loads(args[field]) if args[field] else None
            except ValueError:
                raise ApiError(error) from None
    return args, token


def _authenticate(request: Request, form_token: str | None, bot_token: str) -> None:
    header = request.headers.get("authorization", "")
    token = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else form_token
    if not token:
        raise ApiError("not_authed")
    if token != bot_token:
        raise ApiError("invalid_auth")


def _str(args: Json, key: str) -> str:
    value = args.get(key)
    return "" if value is None else str(value)


def _opt(args: Json, key: str) -> str | None:
    value = args.get(key)
    return None if value in (None, "") else str(value)


def _blocks(args: Json) -> list[Json] | None:
    blocks = args.get("blocks")
    if blocks is not None and not isinstance(blocks, list):
        raise ApiError("invalid_blocks_format")
    return blocks


def _view(args: Json) -> Json:
    view = args.get("view")
    if not isinstance(view, dict):
        raise ApiError("invalid_arguments", errors=["view: is required and must be an object"])
    return view


def _truthy(args: Json, key: str) -> bool:
    return str(args.get(key, "")).lower() in ("true", "1")


# --- handlers ------------------------------------------------------------------------------


def auth_test(call: Call) -> Json:
    """auth.test: who the bot is."""
    return {
        "url": call.base_url + "/",
        "team": TEAM_NAME,
        "user": BOT_USER_NAME,
        "team_id": TEAM_ID,
        "user_id": BOT_USER_ID,
        "bot_id": BOT_ID,
        "is_enterprise_install": False,
    }


def bots_info(call: Call) -> Json:
    """bots.info: the bot user's app (Signoff learns its app id here to check interactions)."""
    if _str(call.args, "bot") != BOT_ID:
        raise ApiError("bot_not_found")
    return {"bot": {"id": BOT_ID, "deleted": False, "name": BOT_USER_NAME, "updated": 0,
                    "app_id": APP_ID, "user_id": BOT_USER_ID, "icons": {}}}


def chat_post_message(call: Call) -> Json:
    """chat.postMessage: to a channel, a DM id, or a user id (their DM)."""
    record = call.state.post_message(
        channel=_str(call.args, "channel"),
        text=_opt(call.args, "text"),
        blocks=_blocks(call.args),
        thread_ts=_opt(call.args, "thread_ts"),
        metadata=call.args.get("metadata"),
    )
    return {"channel": record["channel"], "ts": record["ts"], "message": slack_message(record)}


def chat_update(call: Call) -> Json:
    """chat.update: edit one of the bot's messages."""
    record = call.state.update_message(
        channel=_str(call.args, "channel"),
        ts=_str(call.args, "ts"),
        text=_opt(call.args, "text"),
        blocks=_blocks(call.args),
    )
    return {
        "channel": record["channel"],
        "ts": record["ts"],
        "text": record["text"],
        "message": slack_message(record),
    }


def chat_delete(call: Call) -> Json:
    """chat.delete: remove one of the bot's messages."""
    channel, ts = _str(call.args, "channel"), _str(call.args, "ts")
    call.state.delete_message(channel=channel, ts=ts)
    return {"channel": channel, "ts": ts}


def chat_post_ephemeral(call: Call) -> Json:
    """chat.postEphemeral: a message only `user` sees."""
    record = call.state.post_ephemeral(
        channel=_str(call.args, "channel"),
        user=_str(call.args, "user"),
        text=_opt(call.args, "text"),
        blocks=_blocks(call.args),
        thread_ts=_opt(call.args, "thread_ts"),
    )
    return {"message_ts": record["message_ts"]}


def chat_get_permalink(call: Call) -> Json:
    """chat.getPermalink: a link into the sandbox UI."""
    channel = _str(call.args, "channel")
    path = call.state.permalink_path(channel, _str(call.args, "message_ts"))
    return {"channel": channel, "permalink": call.base_url + path}


def conversations_open(call: Call) -> Json:
    """conversations.open: the bot's DM with one user."""
    raw = call.args.get("users") or ""
    users = raw if isinstance(raw, list) else [u.strip() for u in str(raw).split(",") if u.strip()]
    if not users:
        raise ApiError("users_list_not_supplied")
    if len(users) > 1:
        raise ApiError("not_supported_in_sandbox")  # group DMs: Signoff never opens them
    existed = any(c.get("user") == users[0] for c in call.state.channels())
    channel_id = call.state.dm_channel(users[0])
    answer: Json = {"channel": {"id": channel_id}}
    if existed:
        answer.update(no_op=True, already_open=True)
    return answer


def conversations_info(call: Call) -> Json:
    """conversations.info: one channel or DM."""
    channel = call.state.resolve_channel(_str(call.args, "channel"))
    return {"channel": next(c for c in call.state.channels() if c["id"] == channel)}


def views_open(call: Call) -> Json:
    """views.open: a modal, with a fresh single-use trigger_id."""
    return {"view": call.state.open_view(trigger_id=_str(call.args, "trigger_id"), view=_view(call.args))}


def views_push(call: Call) -> Json:
    """views.push: a modal on top of the open one."""
    return {
        "view": call.state.open_view(
            trigger_id=_str(call.args, "trigger_id"), view=_view(call.args), push=True
        )
    }


def views_update(call: Call) -> Json:
    """views.update: by view_id or external_id, with optional hash check."""
    return {
        "view": call.state.update_view(
            view=_view(call.args),
            view_id=_opt(call.args, "view_id"),
            external_id=_opt(call.args, "external_id"),
            hash=_opt(call.args, "hash"),
        )
    }


def views_publish(call: Call) -> Json:
    """views.publish: a user's Home tab."""
    return {
        "view": call.state.publish_view(
            user=_str(call.args, "user_id"), view=_view(call.args), hash=_opt(call.args, "hash")
        )
    }


def users_info(call: Call) -> Json:
    """users.info: one user."""
    return {"user": call.state.user(_str(call.args, "user"))}


def users_lookup_by_email(call: Call) -> Json:
    """users.lookupByEmail: one user by email."""
    return {"user": call.state.user_by_email(_str(call.args, "email"))}


def usergroups_list(call: Call) -> Json:
    """usergroups.list: every group, members only with include_users."""
    return {"usergroups": call.state.usergroups(include_users=_truthy(call.args, "include_users"))}


def usergroups_users_list(call: Call) -> Json:
    """usergroups.users.list: member ids of one group."""
    return {"users": call.state.usergroup_users(_str(call.args, "usergroup"))}


_HANDLERS: dict[str, Handler] = {
    "auth.test": auth_test,
    "bots.info": bots_info,
    "chat.postMessage": chat_post_message,
    "chat.update": chat_update,
    "chat.delete": chat_delete,
    "chat.postEphemeral": chat_post_ephemeral,
    "chat.getPermalink": chat_get_permalink,
    "conversations.open": conversations_open,
    "conversations.info": conversations_info,
    "views.open": views_open,
    "views.push": views_push,
    "views.update": views_update,
    "views.publish": views_publish,
    "users.info": users_info,
    "users.lookupByEmail": users_lookup_by_email,
    "usergroups.list": usergroups_list,
    "usergroups.users.list": usergroups_users_list,
}
