from datetime import UTC, datetime

from slack_sdk.models.blocks import Block

from blocks.card import Card
from blocks.home import MAX_SHOWN, home_view
from tests.blocks import samples
from tests.blocks.checks import check_view, mrkdwn_texts

AT = datetime(2026, 11, 21, 14, 2, tzinfo=UTC)


def card(n: int) -> Card:
    return Card(request_id=f"req_{n:04d}", action="issue_refund" * 20, summary="<!channel> " + "x" * 5000,
                args={"n": n}, requester="U0ALICE", urgency="high", created_at=AT)


def test_home_stays_inside_slacks_limits_however_much_waits():
    view = home_view([card(n) for n in range(500)])
    assert view["type"] == "home" and len(view["blocks"]) <= 100
    for block in Block.parse_all(view["blocks"]):
        block.validate_json()
    text = str(view["blocks"])
    assert f"+{500 - MAX_SHOWN} more" in text
    # Only mrkdwn is parsed for mentions; the confirm dialog's plain_text shows "<!channel>" as typed.
    assert not any("<!channel>" in t for t in mrkdwn_texts(view["blocks"]))


def test_an_empty_home_says_so():
    view = home_view([])
    assert "Nothing is waiting on you" in str(view["blocks"])


def test_a_home_row_asks_before_approving_when_its_card_would_and_shows_a_notice():
    view = home_view([samples.pending(urgency="high"), samples.pending(request_id="req_2")],
                     notice="Already approved by <@U1>.")
    check_view({**view, "type": "modal", "title": {"type": "plain_text", "text": "Home"},
                "callback_id": "home", "private_metadata": "home"})  # a modal's checks fit a Home view
    by_id = {b["block_id"]: b for b in view["blocks"]}
    assert by_id["home_notice"]["text"]["text"] == "ℹ️ Already approved by <@U1>."
    first, second = (by_id[f"home_{n}_actions"]["elements"][0] for n in (0, 1))
    assert first["confirm"]["text"]["text"] == "issue_refund: Refund $120 to order #4312 (arrived damaged)"
    assert "confirm" not in second
