"""A card's items: each one's section, its own buttons or how it was answered, and edit diffs."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from itertools import islice
from typing import Any

from blocks import ids, kit, limits
from blocks.ids import button_value
from blocks.kit import Block
from blocks.model import Card, CardItem
from blocks.text import by_whom, clip_escaped, clip_mrkdwn, json_head, length, one_line

UNNAMED = "(unnamed action)"
# Approve first and Reject last, as on the classic card; the emoji always comes with a word.
_BUTTONS = (
    ("approve", "Approve", ids.ACTION_APPROVE, "primary"),
    ("edit", "Edit", ids.ACTION_EDIT, None),
    ("respond", "Respond", ids.ACTION_RESPOND, None),
    ("reject", "Reject", ids.ACTION_REJECT, "danger"),
)
_ANSWERED = {
    "approve": ("✅", "Approved"),
    "edit": ("✏️", "Edited"),
    "reject": ("❌", "Rejected"),
    "respond": ("💬", "Answered"),
}
_MORE_RESERVE = 60  # room kept in an item's section for "+N more arguments — see View details"


def item_blocks(card: Card, *, confirm: Mapping[str, Any] | None = None) -> tuple[list[Block], bool]:
    """Blocks for the card's items, at most ITEMS_SHOWN of them; says whether anything was cut.
    `confirm`: the dialog each Approve button asks first (as the card's own Approve does)."""
    pending = card.status == "pending"
    shown = _shown(card.items, pending=pending)
    blocks: list[Block] = []
    cut = False
    for position, index in enumerate(shown):
        item = card.items[index]
        if position:
            blocks.append(kit.divider(ids.item_divider_block_id(index)))
        text, text_cut = item_text(index, item, pending=pending)
        blocks.append(kit.section(ids.item_block_id(index), text))
        state, state_cut = _state(card.request_id, index, item, pending=pending, confirm=confirm)
        blocks.append(state)
        cut = cut or text_cut or state_cut
    visible = set(shown)
    hidden = [index for index in range(len(card.items)) if index not in visible]
    if hidden:
        blocks.append(_more_items(card.items, hidden, pending=pending))
    return blocks, cut or bool(hidden)


def item_text(index: int, item: CardItem, *, pending: bool) -> tuple[str, bool]:
    """'*1. send_email*', the description, then `key: value` per argument, in one section."""
    action, cut = clip_escaped(one_line(item.action) or UNNAMED, limits.ITEM_ACTION)
    lines = [f"*{index + 1}. {action}*"]
    if item.quorum > 1 and item.decision is None:
        who = ", ".join(f"<@{u}>" for u in item.approvals[:10])
        lines.append(f"{len(item.approvals)} of {item.quorum} approvals" + (f": {who}" if who else ""))
    if item.description and item.description.strip():
        description, description_cut = clip_escaped(item.description, limits.ITEM_DESCRIPTION)
        lines.append(description)
        cut = cut or description_cut
    room = limits.SECTION_TEXT - _MORE_RESERVE - length("\n".join(lines))
    shown = 0
    edited = _edited_args(item)
    args = item.args if edited is None else edited  # what it goes ahead with; its answer shows the diff
    for key, value in islice(args.items(), limits.ITEM_ARGS_SHOWN):
        line, line_cut = _argument(str(key), value)
        if length(line) + 1 > room:
            break
        lines.append(line)
        room -= length(line) + 1
        shown += 1
        cut = cut or line_cut
    hidden = len(args) - shown
    if hidden:
        where = " — see *View details*" if pending else " not shown"
        lines.append(f"+{hidden} more argument{'' if hidden == 1 else 's'}{where}")
    return "\n".join(lines), cut or hidden > 0


def _edited_args(item: CardItem) -> Mapping[str, Any] | None:
    """The arguments an edit answered the item with, or None when it was not edited."""
    decision = item.decision or {}
    edited = decision.get("args")
    return edited if decision.get("type") == "edit" and isinstance(edited, Mapping) else None


def answer_text(item: CardItem, *, message_limit: int = limits.ITEM_MESSAGE) -> tuple[str, bool]:
    """How an answered item was answered: '✅ Approved by <@U1>', an edit's diff, a reason."""
    decision = item.decision or {}
    emoji, word = _ANSWERED[str(decision.get("type"))]
    line = f"{emoji} {word}{by_whom(decision.get('by'), limit=limits.WHO)}"
    cut = False
    kind = decision.get("type")
    if (edited := _edited_args(item)) is not None:
        changes, cut = diff_lines(item.args, edited)
        line = "\n".join([line, *changes]) if changes else f"{line} _(no changes)_"
    elif kind in ("reject", "respond"):
        said, cut = _said(decision, limit=message_limit)
        line = f"{line}: {said}" if said else line
    text, clipped = clip_mrkdwn(line, limits.SECTION_TEXT)
    return text, cut or clipped


def diff_lines(before: Mapping[str, Any], after: Mapping[str, Any]) -> tuple[list[str], bool]:
    """`*key:* old → new` per changed, added or removed key, the first DIFF_SHOWN; says if cut."""
    lines = list(islice(_changes(before, after), limits.DIFF_SHOWN + 1))
    if len(lines) <= limits.DIFF_SHOWN:
        return [line for line, _ in lines], any(cut for _, cut in lines)
    total = sum(1 for _ in _changes(before, after, render=False))
    kept = lines[: limits.DIFF_SHOWN]
    return [*(line for line, _ in kept), f"+{total - len(kept)} more changes"], True


def _changes(
    before: Mapping[str, Any], after: Mapping[str, Any], *, render: bool = True
) -> Iterator[tuple[str, bool]]:
    """The diff lines, lazily: keys in their original order, then added keys."""
    for key, old in before.items():
        if key not in after:
            yield _change(key, old, None, removed=True) if render else ("", False)
        elif _changed(old, after[key]):
            yield _change(key, old, after[key]) if render else ("", False)
    for key, new in after.items():
        if key not in before:
            yield _change(key, None, new, added=True) if render else ("", False)


def _change(key: Any, old: Any, new: Any, *, added: bool = False, removed: bool = False) -> tuple[str, bool]:
    """One diff line; added and removed keys show a placeholder on their empty side."""
    name, key_cut = clip_escaped(one_line(str(key)), limits.DIFF_KEY)
    left, left_cut = ("_(not set)_", False) if added else _diff_value(old)
    right, right_cut = ("_(removed)_", False) if removed else _diff_value(new)
    return f"*{name or '(empty key)'}:* {left} → {right}", key_cut or left_cut or right_cut


def _diff_value(value: Any) -> tuple[str, bool]:
    """A value in a diff: compact JSON, so 300 and "300" are told apart."""
    # Only the head of a huge value is ever encoded; what is cut gets the ellipsis anyway.
    head = value[: limits.DIFF_VALUE + 1] if isinstance(value, str) else value
    return clip_escaped(one_line(json_head(head, limit=limits.DIFF_VALUE)), limits.DIFF_VALUE)


def _changed(old: Any, new: Any) -> bool:
    """Whether an edit changed a value: JSON-wise, so 1 → true counts and key order does not."""
    if isinstance(old, str) and isinstance(new, str):
        return old != new
    try:
        return _spelling(old) != _spelling(new)
    except (TypeError, ValueError, RecursionError):
        # Not JSON (a cycle, too deep): only the very same object is surely unchanged.
        return old is not new


def _spelling(value: Any) -> str:
    """One JSON spelling per value, whatever its key order."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def _said(decision: Mapping[str, Any], *, limit: int) -> tuple[str, bool]:
    """A rejection's reason or a response: the message, else the answer (as JSON)."""
    message = decision.get("message")
    if isinstance(message, str) and message.strip():
        return clip_escaped(message, limit)
    answer = decision.get("answer")
    if answer is None:
        return "", False
    if isinstance(answer, str):
        return clip_escaped(answer, limit) if answer.strip() else ("", False)
    text, cut = clip_escaped(json_head(answer, limit=limit), limit - 2)
    return f"`{text}`", cut


def _argument(key: str, value: Any) -> tuple[str, bool]:
    """`*key:* `value``: a code span, so agent text never formats; says whether cut."""
    name, key_cut = clip_escaped(one_line(key), limits.ITEM_ARG_KEY)
    label = f"*{name}:*" if name else "_(empty key):_"
    if isinstance(value, str):
        body, value_cut = ("_(empty)_", False)
        if value.strip():
            # One line, and no backtick that would end the span early: the details modal has it as sent.
            body, value_cut = clip_escaped(one_line(value).replace("`", "ˋ"), limits.ITEM_ARG_VALUE - 2)
            body = f"`{body}`"
    else:
        compact = json_head(value, limit=limits.ITEM_ARG_VALUE)
        body, value_cut = clip_escaped(compact, limits.ITEM_ARG_VALUE - 2)
        body = f"`{body}`"
    return f"{label} {body}", key_cut or value_cut


def _state(request_id: str, index: int, item: CardItem, *, pending: bool,
           confirm: Mapping[str, Any] | None = None) -> tuple[Block, bool]:
    """Under an item: how it was answered, its buttons while the request is open, or neither."""
    if item.decision is not None:
        text, cut = answer_text(item)
        return kit.section(ids.item_answer_block_id(index), text), cut
    if pending:
        return _buttons(request_id, index, item, confirm=confirm), False
    return kit.context(ids.item_answer_block_id(index), ["_Not answered._"]), False


def _buttons(request_id: str, index: int, item: CardItem, *,
             confirm: Mapping[str, Any] | None = None) -> Block:
    """The item's allowed decisions as buttons; each value names the request and the item.
    Approve asks `confirm` first when given (Edit and Respond open a form, which asks anyway)."""
    value = button_value(request_id, index)
    elements = []
    for kind, text, action_id, style in _BUTTONS:
        if kind in item.allowed:
            button = kit.button(text=text, action_id=action_id, value=value, style=style)
            if kind == "approve" and confirm is not None:
                button["confirm"] = dict(confirm)
            elements.append(button)
    return {"type": "actions", "block_id": ids.item_actions_block_id(index), "elements": elements}


def _shown(items: Sequence[CardItem], *, pending: bool) -> list[int]:
    """Which items get a full place on the card, in their order."""
    # While the request is open, unanswered items come first: every one of them must get its
    # buttons on the card at some point, however long the batch.
    order = sorted(range(len(items)), key=lambda i: (pending and items[i].decision is not None, i))
    return sorted(order[: limits.ITEMS_SHOWN])


def _more_items(items: Sequence[CardItem], hidden: list[int], *, pending: bool) -> Block:
    """The note standing in for items the card has no room for."""
    count = len(hidden)
    answered = sum(1 for index in hidden if items[index].decision is not None)
    text = f"+{count} more item{'' if count == 1 else 's'}"
    if pending:
        text += f" ({answered} answered)" if answered else ""
        text += " — see *View details*"
    else:
        text += " not shown"
    return kit.context(ids.BLOCK_ITEMS_MORE, [text])
