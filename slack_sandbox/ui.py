"""`GET /`: a plain HTML stand-in for the Slack client, for trying Signoff without a workspace."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from slack_sandbox.shapes import entered_text, input_fields
from slack_sandbox.state import SlackState

Json = dict[str, Any]

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:0;background:#f4f4f6;color:#1d1c1d}
header{background:#3f0e40;color:#fff;padding:8px 16px;display:flex;gap:16px;align-items:center}
main{max-width:900px;margin:0 auto;padding:8px 16px}
section.channel{background:#fff;border:1px solid #ddd;border-radius:6px;margin:12px 0;padding:8px}
.msg{border-top:1px solid #eee;padding:6px 0}.reply{margin-left:32px;border-left:3px solid #ddd;
padding-left:8px}.meta{color:#616061;font-size:12px}.context{color:#616061;font-size:12px}
.fields{display:grid;grid-template-columns:1fr 1fr;gap:4px 16px}.eph{background:#f8f3d4}
form.inline{display:inline}button{margin:2px;padding:4px 10px;border:1px solid #bbb;
border-radius:4px;background:#fff;cursor:pointer}button.primary{background:#007a5a;color:#fff}
button.danger{background:#e01e5a;color:#fff}.note{background:#fde2e1;padding:6px;margin:8px 0}
.overlay{position:fixed;inset:0;background:rgba(0,0,0,.45);display:flex;align-items:flex-start;
justify-content:center;overflow:auto}.modal{background:#fff;margin:40px;padding:16px;
border-radius:8px;width:520px}.modal label{display:block;font-weight:600;margin-top:10px}
.modal input,.modal textarea,.modal select{width:100%;box-sizing:border-box}.err{color:#e01e5a}
code{background:#eee;padding:0 3px;border-radius:3px;color:#c01343}
pre{background:#f8f8f8;border:1px solid #ddd;border-radius:4px;padding:6px;white-space:pre-wrap;
margin:4px 0}pre code{background:none;color:inherit;padding:0}
blockquote{border-left:4px solid #ddd;margin:2px 0;padding-left:8px}
.section{margin:4px 0}.fields{margin:6px 0}.msg>.context{margin:4px 0}
.mention{background:#e8f5fa;color:#1264a3;border-radius:3px;padding:0 2px;font-weight:600}
.msg,.modal,.fields div,h4{overflow-wrap:anywhere;word-break:break-word}
h4{font-size:17px;margin:4px 0}.hint{color:#616061;font-size:12px;margin-top:2px}
dialog.confirm{border:0;border-radius:8px;padding:16px;max-width:420px;box-shadow:0 4px 20px #0005}
dialog.confirm h3{margin-top:0}.actions{margin:6px 0}
"""
_EMOJI = {
    "alarm_clock": "⏰", "warning": "⚠️", "arrow_heading_up": "⤴️", "white_check_mark": "✅",
    "heavy_check_mark": "✔️", "x": "❌", "no_entry_sign": "🚫", "hourglass": "⌛", "tada": "🎉",
    "red_circle": "🔴", "large_yellow_circle": "🟡", "white_circle": "⚪", "bell": "🔔",
    "pencil2": "✏️", "speech_balloon": "💬", "ballot_box_with_ballot": "🗳️", "busts_in_silhouette": "👥",
    "eyes": "👀", "rotating_light": "🚨", "lock": "🔒", "memo": "📝", "thumbsup": "👍", "+1": "👍",
    "thumbsdown": "👎", "-1": "👎", "information_source": "ℹ️", "hourglass_flowing_sand": "⏳",
    "ok_hand": "👌", "fire": "🔥", "moneybag": "💰", "ballot_box_with_check": "☑️",
}
_SHORTCODE = re.compile(r":([a-z0-9_+\-]+):")
_DATE = re.compile(r"^!date\^(\d+)\^([^|]*)(?:\^[^|]*)?\|(.*)$", re.S)
_RELOAD = """<script>
setInterval(() => { if (!document.querySelector('dialog[open]')) location.reload(); }, 3000);
</script>"""
_SCRIPT = """<script>
for (const t of document.querySelectorAll('time[data-ts]')) {
  const at = new Date(Number(t.dataset.ts) * 1000), now = new Date();
  const day = d => new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime();
  const diff = Math.round((day(at) - day(now)) / 86400000);
  const pretty = diff === 0 ? 'today' : diff === -1 ? 'yesterday' : diff === 1 ? 'tomorrow'
    : at.toLocaleDateString(undefined, {month: 'short', day: 'numeric', year: 'numeric'});
  const time = at.toLocaleTimeString(undefined, {hour: 'numeric', minute: '2-digit'});
  const long = at.toLocaleDateString(undefined,
    {weekday: 'long', month: 'long', day: 'numeric', year: 'numeric'});
  const short = at.toLocaleDateString(undefined, {month: 'short', day: 'numeric', year: 'numeric'});
  t.textContent = t.dataset.fmt.replace('{date_short_pretty}', pretty).replace('{date_pretty}', pretty)
    .replace('{date_short}', short)
    .replace('{date_long}', long).replace('{date}', long).replace('{time}', time);
  t.title = at.toString();
}
</script>"""
_SPECIAL = re.compile(r"<([^<>\n]+)>")
_CODE_BLOCK = re.compile(r"```\n?(.*?)\n?```", re.S)
_CODE = re.compile(r"`([^`\n]+)`")
_INLINE = [
    (re.compile(r"\*([^*\n]+)\*"), r"<b>\1</b>"),
    (re.compile(r"(?<![\w])_([^_\n]+)_(?![\w])"), r"<i>\1</i>"),
    (re.compile(r"~([^~\n]+)~"), r"<s>\1</s>"),
]
_e = html.escape


def routes(*, state: SlackState) -> list[Route]:
    """The `/` route that renders the sandbox for a human."""

    async def page(request: Request) -> Response:
        acting = request.query_params.get("as") or None
        note = request.query_params.get("note")
        return HTMLResponse(render_page(state, acting=acting, note=note))

    return [Route("/", page)]


@dataclass(frozen=True)
class _Names:
    users: dict[str, str]
    groups: dict[str, str]
    channels: dict[str, str]


def render_page(state: SlackState, *, acting: str | None, note: str | None) -> str:
    """The whole page: user picker, channels, the acting user's DM, ephemerals, Home, modal."""
    users = state.users()
    acting = acting or (users[0]["id"] if users else None)
    names = _Names(
        users={u["id"]: u["name"] for u in users},
        groups={g["id"]: g["handle"] for g in state.usergroups()},
        channels={c["id"]: c["name"] for c in state.channels()},
    )
    views = state.views(acting) if acting else []
    modals = [v for v in views if v["type"] == "modal"]
    homes = [v for v in views if v["type"] == "home"]
    body = [_header(users, acting)]
    if note:
        body.append(f"<div class=note>{_e(note)}</div>")
    if not users:
        body.append("<p>No users yet: POST /_sandbox/users (see the README).</p>")
    for channel in state.channels():
        if not channel["is_im"] or channel.get("user") == acting:
            body.append(_channel(state, channel, acting, names))
    for home in homes:
        body.append(_home(home, acting, names))
    # Reload every 3 s to show what the bot did, but never under an open modal or confirm dialog.
    refresh = "" if modals else _RELOAD
    overlay = _modal(modals[-1], acting, names) if modals and acting else ""
    return (
        f"<!doctype html><html><head><meta charset=utf-8>{refresh}"
        f"<title>Signoff sandbox</title><style>{_CSS}</style></head><body>"
        f"{body[0]}<main>{''.join(body[1:])}</main>{overlay}{_SCRIPT}</body></html>"
    )


def _header(users: list[Json], acting: str | None) -> str:
    options = "".join(
        f"<option value='{_e(u['id'])}'{' selected' if u['id'] == acting else ''}>"
        f"{_e(u['name'])} ({_e(u['id'])})</option>"
        for u in users
    )
    return (
        "<header><b>Signoff Slack sandbox</b><form method=get action='/'>acting as "
        f"<select name=as>{options}</select> <button>Switch</button></form>"
        + (f"<form method=post action='/_sandbox/home'><input type=hidden name=user value='{_e(acting)}'>"
           "<button>Open Signoff's Home tab</button></form>" if acting else "")
        + "</header>"
    )


def _channel(state: SlackState, channel: Json, acting: str | None, names: _Names) -> str:
    title = "Direct messages with Signoff" if channel["is_im"] else f"#{channel['name']}"
    cid = channel["id"]
    parts = [f"<section class=channel id='channel-{_e(cid)}'><h3>{_e(title)}</h3>"]
    for message in state.messages(cid):
        parts.append(_message(message, acting, names, css="msg"))
        for reply in state.replies(cid, message["ts"]):
            parts.append(_message(reply, acting, names, css="msg reply"))
    for eph in state.ephemerals(acting) if acting else []:
        if eph["channel"] == cid:
            hidden = {"user": acting, "channel": cid, "ts": eph["message_ts"]}
            parts.append(
                f"<div class='msg eph'><div class=meta>Only visible to you · "
                f"{_time(eph['message_ts'])}</div>{_text(eph['text'], eph['blocks'], names)}"
                f"{_blocks(eph['blocks'], names, _clicker(hidden))}</div>"
            )
    return "".join(parts) + "</section>"


def _message(message: Json, acting: str | None, names: _Names, *, css: str) -> str:
    hidden = {"user": acting or "", "channel": message["channel"], "ts": message["ts"]}
    edited = " (edited)" if message["edited"] else ""
    return (
        f"<div class='{css}' id='m-{_e(message['channel'])}-{_e(message['ts'])}'>"
        f"<div class=meta><b>Signoff</b> · {_time(message['ts'])}{edited}</div>"
        f"{_text(message['text'], message['blocks'], names)}"
        f"{_blocks(message['blocks'], names, _clicker(hidden) if acting else None)}</div>"
    )


def _home(home: Json, acting: str | None, names: _Names) -> str:
    clicker = _clicker({"user": acting or "", "view_id": home["id"]}) if acting else None
    return (
        "<section class=channel id=home><h3>Signoff Home tab</h3>"
        f"{_blocks(home['view'].get('blocks', []), names, clicker)}</section>"
    )


def _text(text: str, blocks: list[Json], names: _Names) -> str:
    # Slack shows `text` only when there are no blocks (it is the notification fallback).
    return "" if blocks else f"<div>{mrkdwn(text, names)}</div>"


Clicker = Callable[[Json, str, str], str]


def _clicker(hidden: dict[str, str]) -> Clicker:
    """Renders an interactive element as a small form posting to /_sandbox/click."""

    def render(element: Json, label: str, block_id: str) -> str:
        # The block id says which row was clicked: the same action_id repeats on every row.
        fields = {**hidden, "block_id": block_id, "action_id": element.get("action_id", "")}
        inputs = "".join(
            f"<input type=hidden name='{_e(k)}' value='{_e(str(v))}'>" for k, v in fields.items()
        )
        options = element.get("options")
        if element.get("type") != "button" and isinstance(options, list):
            choices = "".join(
                f"<option value='{_e(str(o.get('value')))}'>{_e(_plain(o.get('text')))}</option>"
                for o in options
            )
            inputs += f"<select name=value>{choices}</select>"
        style = _e(str(element.get("style", "")))
        confirm = element.get("confirm")
        if isinstance(confirm, dict):  # Slack asks first, in its own dialog
            return (
                f"<form class=inline method=post action=/_sandbox/click>{inputs}"
                f"<button type=button class='{style}' onclick='this.nextElementSibling.showModal()'>"
                f"{_e(label)}</button>{_confirm_dialog(confirm)}</form>"
            )
        return (
            f"<form class=inline method=post action=/_sandbox/click>{inputs}"
            f"<button class='{style}'>{_e(label)}</button></form>"
        )

    return render


def _confirm_dialog(confirm: Json) -> str:
    """Slack's "are you sure?" dialog: title, text, deny and confirm buttons."""
    style = "danger" if confirm.get("style") == "danger" else "primary"
    return (
        f"<dialog class=confirm><h3>{_e(_plain(confirm.get('title')) or 'Are you sure?')}</h3>"
        f"<p>{_e(_plain(confirm.get('text')))}</p><p>"
        f"<button type=button onclick=\"this.closest('dialog').close()\">"
        f"{_e(_plain(confirm.get('deny')) or 'Cancel')}</button>"
        f"<button class='{style}'>{_e(_plain(confirm.get('confirm')) or 'Yes')}</button></p></dialog>"
    )


def _blocks(blocks: list[Json], names: _Names, clicker: Clicker | None) -> str:
    return "".join(_block(b, names, clicker) for b in blocks)


def _block(block: Json, names: _Names, clicker: Clicker | None) -> str:
    kind = block.get("type")
    if kind == "header":
        return f"<h4>{_textobj(block.get('text'), names)}</h4>"
    if kind == "divider":
        return "<hr>"
    if kind == "section":
        out = f"<div class=section>{_textobj(block.get('text'), names)}</div>" if block.get("text") else ""
        if block.get("fields"):
            cells = "".join(f"<div>{_textobj(f, names)}</div>" for f in block["fields"])
            out += f"<div class=fields>{cells}</div>"
        if isinstance(block.get("accessory"), dict):
            out += _element(block["accessory"], clicker, str(block.get("block_id", "")))
        return out
    if kind == "context":
        items = [
            _textobj(e, names) if e.get("type") != "image" else _e(e.get("alt_text", ""))
            for e in block.get("elements", [])
        ]
        return f"<div class=context>{' · '.join(items)}</div>"
    if kind == "actions":
        block_id = str(block.get("block_id", ""))
        buttons = "".join(_element(e, clicker, block_id) for e in block.get("elements", []))
        return f"<div class=actions>{buttons}</div>"
    if kind == "image":
        return f"<div class=context>[image: {_e(str(block.get('alt_text', '')))}]</div>"
    if kind == "rich_text":
        return f"<div>{_e(_flatten(block))}</div>"
    if kind == "input":
        return f"<div class=context>[input: {_e(_plain(block.get('label')))}]</div>"
    return f"<pre>{_e(json.dumps(block))}</pre>"


def _element(element: Json, clicker: Clicker | None, block_id: str) -> str:
    label = _plain(element.get("text")) or element.get("type", "")
    if element.get("type") == "image":
        return f"<span class=context>[image: {_e(str(element.get('alt_text', '')))}]</span>"
    if clicker is None:
        return f"<button disabled>{_e(label)}</button>"
    if element.get("type") != "button":
        label = "Choose"
    return clicker(element, label, block_id)


def _modal(view: Json, acting: str, names: _Names) -> str:
    spec = view["view"]
    values = view["state"].get("values", {})
    fields = {id(block): i for i, (block, _) in enumerate(input_fields(spec.get("blocks", [])))}
    parts = []
    for block in spec.get("blocks", []):
        if id(block) in fields:
            parts.append(_field(block, fields[id(block)], values, view["errors"]))
        else:
            clicker = _clicker({"user": acting, "view_id": view["id"]})
            parts.append(_block(block, names, clicker))
    hidden = (
        f"<input type=hidden name=user value='{_e(acting)}'>"
        f"<input type=hidden name=view_id value='{_e(view['id'])}'>"
    )
    # Slack shows Submit only when the view names one (a details modal has just Close).
    submit = _plain(spec.get("submit"))
    submit_button = f"<button form=modal-form class=primary>{_e(submit)}</button>" if submit else ""
    close = _plain(spec.get("close")) or "Cancel"
    return (
        f"<div class=overlay><div class=modal><h3>{_e(_plain(spec.get('title')))}</h3>"
        f"<form id=modal-form method=post action=/_sandbox/submit>{hidden}</form>"
        f"{''.join(parts)}<p>{submit_button}"
        f"<form class=inline method=post action=/_sandbox/close>{hidden}"
        f"<button>{_e(close)}</button></form></p></div></div>"
    )


def _field(block: Json, index: int, values: Json, errors: Json) -> str:
    element = block["element"]
    entry = values.get(block["block_id"], {}).get(element.get("action_id"))
    current = entered_text(entry) if entry else _initial(element)
    attrs = f"form=modal-form name=in{index}{'' if block.get('optional') else ' required'}"
    if element.get("max_length"):
        attrs += f" maxlength={int(element['max_length'])}"
    control = _control(element, attrs, current)
    error = errors.get(block["block_id"])
    hint = _plain(block.get("hint"))
    optional = " <span class=hint>(optional)</span>" if block.get("optional") else ""
    return (
        f"<label>{_e(_plain(block.get('label')))}{optional}</label>{control}"
        + (f"<div class=hint>{_e(hint)}</div>" if hint else "")
        + (f"<div class=err>{_e(error)}</div>" if error else "")
    )


def _control(element: Json, attrs: str, current: Any) -> str:
    kind = element.get("type")
    placeholder = _plain(element.get("placeholder"))
    if placeholder:
        attrs += f" placeholder='{_e(placeholder)}'"
    if isinstance(element.get("options"), list):
        multiple = " multiple" if kind in ("multi_static_select", "checkboxes") else ""
        chosen = current if isinstance(current, list) else [current]
        options = "".join(
            f"<option value='{_e(str(o.get('value')))}'"
            f"{' selected' if o.get('value') in chosen else ''}>"
            f"{_e(_plain(o.get('text')))}</option>"
            for o in element["options"]
        )
        return f"<select {attrs}{multiple}><option value=''></option>{options}</select>"
    text = "" if current is None else str(current)
    if element.get("multiline"):
        return f"<textarea {attrs} rows=4>{_e(text)}</textarea>"
    return f"<input {attrs} value='{_e(text)}'>"


def _initial(element: Json) -> Any:
    if isinstance(element.get("initial_option"), dict):
        return element["initial_option"].get("value")
    return element.get("initial_value")


def mrkdwn(text: str, names: _Names) -> str:
    """Slack mrkdwn as safe HTML: bold, italic, strike, code, code blocks, quotes, emoji,
    mentions, dates and links."""
    specials: list[str] = []

    def stash(html_text: str) -> str:
        specials.append(html_text)
        return f"\x00{len(specials) - 1}\x00"

    stashed = _SPECIAL.sub(lambda m: stash(_special(m.group(1), names)), text)
    # Slack escapes only &, < and >; undo that before escaping for HTML.
    plain = stashed.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    out = _e(plain, quote=False)
    # Code is taken out first: nothing inside it formats.
    out = _CODE_BLOCK.sub(lambda m: stash(f"<pre><code>{m.group(1)}</code></pre>"), out)
    out = _CODE.sub(lambda m: stash(f"<code>{m.group(1)}</code>"), out)
    for pattern, replacement in _INLINE:
        out = pattern.sub(replacement, out)
    out = _emoji(out)
    out = _quotes(out)
    while "\x00" in out:  # a stashed code block may hold a stashed mention
        out = re.sub(r"\x00(\d+)\x00", lambda m: specials[int(m.group(1))], out)
    out = out.replace("\n", "<br>")
    return out.replace("</pre><br>", "</pre>").replace("</blockquote><br>", "</blockquote>")


def _quotes(html_text: str) -> str:
    """Lines starting with '> ' become one quote block per run of such lines."""
    lines, out, quoted = html_text.split("\n"), [], []
    for line in lines:
        if line.startswith("&gt; ") or line == "&gt;":
            quoted.append(line.removeprefix("&gt;").removeprefix(" "))
            continue
        if quoted:
            out.append("<blockquote>" + "<br>".join(quoted) + "</blockquote>")
            quoted = []
        out.append(line)
    if quoted:
        out.append("<blockquote>" + "<br>".join(quoted) + "</blockquote>")
    return "\n".join(out)


def _emoji(text: str) -> str:
    """:shortcode: as the emoji, as Slack shows it; unknown codes stay as typed."""
    return _SHORTCODE.sub(lambda m: _EMOJI.get(m.group(1), m.group(0)), text)


def _special(inner: str, names: _Names) -> str:
    target, _, label = inner.partition("|")
    date = _DATE.match(inner)
    if date:  # the page's script shows it in the viewer's own time zone
        stamp, fmt, fallback = date.groups()
        return f"<time data-ts='{_e(stamp)}' data-fmt='{_e(fmt)}'>{_e(fallback)}</time>"
    if target.startswith("@"):
        return f"<span class=mention>@{_e(names.users.get(target[1:], label or target[1:]))}</span>"
    if target.startswith("#"):
        return f"<span class=mention>#{_e(names.channels.get(target[1:], label or target[1:]))}</span>"
    if target.startswith("!subteam^"):
        group = target.removeprefix("!subteam^")
        return f"<span class=mention>@{_e(names.groups.get(group, label.lstrip('@') or group))}</span>"
    if target.startswith("!"):
        return f"<span class=mention>{_e(label or '@' + target[1:].split('^')[0])}</span>"
    if target.startswith(("http://", "https://", "mailto:")):
        return f"<a href='{_e(target)}'>{_e(label or target)}</a>"
    return _e(f"<{inner}>")


def _textobj(obj: Any, names: _Names) -> str:
    if not isinstance(obj, dict):
        return ""
    if obj.get("type") == "mrkdwn":
        return mrkdwn(str(obj.get("text", "")), names)
    text = _e(str(obj.get("text", "")), quote=False)
    return (_emoji(text) if obj.get("emoji", True) else text).replace("\n", "<br>")


def _plain(obj: Any) -> str:
    return str(obj.get("text", "")) if isinstance(obj, dict) else ""


def _flatten(node: Any) -> str:
    if isinstance(node, dict):
        return str(node.get("text", "")) + "".join(_flatten(e) for e in node.get("elements", []))
    if isinstance(node, list):
        return "".join(_flatten(e) for e in node)
    return ""


def _time(ts: str) -> str:
    return datetime.fromtimestamp(float(ts), tz=UTC).strftime("%H:%M:%S UTC")
