from datetime import UTC, datetime

from slack_sdk.models.blocks import Block

from blocks.card import Card
from blocks.home import MAX_SHOWN, home_view

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
    assert f"+{500 - MAX_SHOWN} more" in text and "<!channel>" not in text


def test_an_empty_home_says_so():
    view = home_view([])
    assert "Nothing is waiting on you" in str(view["blocks"])
