"""Escaping, mentions, dates, the short texts, and the Card's own checks."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from blocks.card import (
    Card,
    already_decided_text,
    approval_card,
    card_text,
    details_modal,
    not_an_approver_text,
    reject_modal,
    slack_date,
)
from blocks.text import chunk_escaped, clip_escaped, escape
from tests.blocks import samples
from tests.blocks.checks import check_escaped, mrkdwn_texts

PING = "<!channel> & <@U1>"
PING_ESCAPED = "&lt;!channel&gt; &amp; &lt;@U1&gt;"
UTC_PLUS_ONE = timezone(timedelta(hours=1))


def test_summary_with_pings_is_escaped_everywhere() -> None:
    card = samples.pending(summary=PING)
    blocks = approval_card(card)
    header = next(b for b in blocks if b["block_id"] == "header")
    assert header["text"]["type"] == "plain_text"  # never parsed: no ping, no formatting
    assert header["text"]["text"] == "🟡 " + PING
    assert PING_ESCAPED in card_text(card)
    modal = details_modal(card)
    reject = reject_modal(request_id=card.request_id, summary=PING)
    for payload in (blocks[1:], card_text(card), modal, reject):
        dumped = json.dumps(payload)
        assert "<!channel" not in dumped
        assert "<@U1>" not in dumped


def test_user_text_is_escaped_in_every_place_it_shows_up() -> None:
    card = samples.pending(
        action=PING,
        args={PING: PING, "n": [PING]},
        context={PING: PING},
        requester=PING,
        status="rejected",
        decided_by="agent:" + PING,
        decided_at=samples.DECIDED,
        reason=PING,
    )
    texts = mrkdwn_texts(approval_card(card)) + mrkdwn_texts(details_modal(card)["blocks"])
    for text in [*texts, card_text(card)]:
        check_escaped(text)
        assert "<!channel" not in text
    # The header is plain_text, which Slack never parses for mentions: shown as typed.


def test_header_is_plain_text_so_it_is_shown_as_typed() -> None:
    header = approval_card(samples.pending(summary="a<b>&c *x*"))[0]
    assert header["text"] == {
        "type": "plain_text",
        "text": "🟡 a<b>&c *x*",
        "emoji": True,
    }


@pytest.mark.parametrize(
    ("requester", "shown"),
    [
        ("U0REQUESTER", "<@U0REQUESTER>"),
        ("W012AB3CD", "<@W012AB3CD>"),
        ("U1", "U1"),  # too short to be an id: free text
        ("deploy-bot", "deploy-bot"),
        ("u0lowercase", "u0lowercase"),
        ("U0ABC> <!here", "U0ABC&gt; &lt;!here"),
        (None, "_an unnamed agent_"),
    ],
)
def test_requester_is_a_mention_only_when_it_looks_like_a_user_id(
    requester: str | None, shown: str
) -> None:
    status = approval_card(samples.pending(requester=requester))[1]["text"]["text"]
    assert f"*Requested by* {shown} · <!date^" in status


def test_an_agent_without_a_named_person_is_the_requester() -> None:
    status = approval_card(samples.pending(requester=None, agent="billing-bot"))[1]["text"]["text"]
    assert "*Requested by* billing-bot (agent) · " in status


def test_agent_argument_text_is_plain_text_so_it_never_formats() -> None:
    query = "LIKE '%*promo*%' :x: <!here>"
    blocks = approval_card(samples.pending(args={"query": query}))
    [grid] = [b for b in blocks if b["block_id"] == "arg_0"]
    assert grid["fields"][0] == {"type": "mrkdwn", "text": "*query*", "verbatim": True}
    assert grid["fields"][1] == {"type": "plain_text", "text": query, "emoji": False}


def test_a_channel_card_mentions_its_approvers_and_groups_unless_told_not_to() -> None:
    card = samples.pending(groups=("S0LEADS",))
    text = card_text(card)
    assert text.startswith("<!subteam^S0LEADS> <@U0APPROVER1> <@U0APPROVER2> Approval needed: ")
    assert "Refund $120 to order #4312" in text and "`issue_refund`" in text and "approve or reject" in text
    waiting = approval_card(card)[1]["text"]["text"]
    assert "*Waiting on* <!subteam^S0LEADS>, <@U0APPROVER1>, <@U0APPROVER2>" in waiting
    quiet = samples.pending(mention="none")
    assert "<@" not in card_text(quiet)
    assert "<@U0APPROVER" not in approval_card(quiet)[1]["text"]["text"]
    assert card_text(samples.pending(mention="here")).startswith("<!here> Approval needed")
    with pytest.raises(ValueError):
        samples.pending(mention="everyone")


def test_slack_date_is_a_token_with_a_utc_fallback() -> None:
    at = datetime(2026, 11, 21, 14, 2, 59, tzinfo=UTC_PLUS_ONE)
    assert slack_date(at) == (
        "<!date^1795266179^{date_short_pretty} at {time}|2026-11-21 13:02 UTC>"
    )
    with pytest.raises(ValueError):
        slack_date(datetime(2026, 11, 21, 14, 2))


def test_already_decided_text_names_who_and_when() -> None:
    date = slack_date(samples.DECIDED)
    assert (
        already_decided_text(status="rejected", decided_by="U1", decided_at=samples.DECIDED)
        == f"Already rejected by <@U1>, {date}."
    )
    assert (
        already_decided_text(status="cancelled", decided_by="agent:a&b", decided_at=samples.DECIDED)
        == f"Already cancelled by agent `a&amp;b`, {date}."
    )
    with pytest.raises(ValueError):
        already_decided_text(status="pending", decided_by="U1", decided_at=samples.DECIDED)


def test_decided_by_that_is_not_id_shaped_is_not_trusted_inside_a_mention() -> None:
    text = already_decided_text(
        status="approved", decided_by="U1> <!channel", decided_at=samples.DECIDED
    )
    assert text.startswith("Already approved by U1&gt; &lt;!channel, <!date^")


def test_not_an_approver_text_lists_who_can() -> None:
    assert not_an_approver_text(approvers=["U1", "U2"]) == (
        "Only this request's approvers can decide it: <@U1>, <@U2>."
    )
    many = not_an_approver_text(approvers=[f"U{n:03d}" for n in range(25)])
    assert many.endswith("<@U019> and 5 more.")
    assert "no approvers" in not_an_approver_text(approvers=[])


def test_rejection_reason_is_quoted_line_by_line() -> None:
    card = samples.pending(
        status="rejected", decided_by="U1", decided_at=samples.DECIDED, reason="no\n<way> & never"
    )
    outcome = approval_card(card)[1]["text"]["text"]
    assert outcome == (
        f"❌ *Rejected* by <@U1>, {slack_date(samples.DECIDED)}\n> no\n> &lt;way&gt; &amp; never"
    )


def test_clipping_never_splits_an_entity() -> None:
    for limit in range(8, 30):
        text, cut = clip_escaped("&" * 100, limit)
        assert cut and text.endswith("…") and len(text) <= limit
        assert text[:-1] == "&amp;" * ((limit - 1) // 5)
    pieces, complete = chunk_escaped("<" * 100, size=12, max_chunks=100)
    assert complete and all(piece == "&lt;" * 3 for piece in pieces[:-1])
    assert "".join(pieces) == escape("<" * 100)
    pieces, complete = chunk_escaped("x" * 100, size=10, max_chunks=3)
    assert pieces == ["x" * 10] * 3 and not complete


@pytest.mark.parametrize(
    "changes",
    [
        {"urgency": "urgent"},
        {"status": "approve"},
        {"request_id": ""},
        {"request_id": "r" * 256},
        {"created_at": datetime(2026, 11, 21)},
        {"decided_at": datetime(2026, 11, 21)},
    ],
)
def test_card_refuses_what_it_cannot_show_faithfully(changes: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        samples.pending(**changes)


def test_reject_modal_refuses_a_request_id_it_cannot_carry() -> None:
    with pytest.raises(ValueError):
        reject_modal(request_id="r" * 256, summary="x")


def test_card_is_keyword_only_and_frozen() -> None:
    with pytest.raises(TypeError):
        Card("r", "a", "s", {}, created_at=samples.CREATED)  # type: ignore[call-arg]
    card = samples.pending()
    with pytest.raises(AttributeError):
        card.status = "approved"  # type: ignore[misc]


def test_a_quorum_decision_names_every_approver_with_their_time_and_the_edit() -> None:
    blocks = approval_card(samples.stakes()["quorum_approved"])
    outcome = blocks[1]["text"]["text"]
    first, second = (slack_date(t) for t in samples.stakes()["quorum_approved"].voted_at.values())
    assert outcome.startswith(f"✅ *Approved* by <@U0APPROVER1>, {first} and <@U0APPROVER2>, {second}")
    assert "✏️ *Edited:* *amount:* 120 → 100" in outcome


def test_a_failure_after_the_decision_is_one_clear_line_under_the_outcome() -> None:
    card = samples.stakes()["approved_resume_failed"]
    blocks = approval_card(card)
    assert blocks[2]["block_id"] == "signoff_failure"
    assert blocks[2]["text"]["text"] == (
        "⚠️ *Approved, but the agent could not be resumed* "
        "(ConnectionError: checkpointer &lt;down&gt;). Signoff retries it with backoff."
    )
    assert card_text(card).endswith("— but the agent could not be resumed")
    gave_up = approval_card(samples.stakes()["approved_callback_gave_up"])[2]["text"]["text"]
    assert "callback could not be delivered" in gave_up and "gave up" in gave_up


def test_an_items_string_arguments_sit_in_code_spans_so_they_never_format() -> None:
    from blocks.card import CardItem

    item = CardItem(action="run_sql", args={"q": "LIKE '%*promo*%'\n`x`"},
                    allowed=("approve", "edit", "reject"))
    blocks = approval_card(samples.pending(items=(item, item)))
    text = next(b for b in blocks if b["block_id"] == "item_0")["text"]["text"]
    assert text.endswith("*q:* `LIKE '%*promo*%' ˋxˋ`")
