"""Write a PNG of each card kind as the sandbox page shows it (`scripts/screenshots [DIR]`)."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

from slack_sdk import WebClient

from blocks.card import approval_card, card_text
from blocks.home import home_view
from slack_sandbox import SlackSandbox
from tests.blocks import samples
from tests.browser import chromium

PEOPLE = {"U0APPROVER1": "ann", "U0APPROVER2": "lee", "U0TEAMLEAD1": "lead", "U0REQUESTER": "sam"}
KINDS = {  # file name: sample card
    "pending": "pending_agent_deadline",
    "quorum-progress": "quorum_progress",
    "escalated": "escalated",
    "decided": "quorum_approved",
    "rejected": "rejected",
    "decided-then-failed": "approved_resume_failed",
    "callback-failed": "approved_callback_gave_up",
    "expired": "expired",
    "cancelled": "cancelled",
    "batch": "hitl_one_edited",
}
WIDTH = 560  # about a phone's width in CSS pixels, a little wider


def channel_id(kind: str) -> str:
    """The sandbox channel a card kind is posted to."""
    return "C" + kind.upper().replace("-", "")[:10]


def main(out: Path) -> list[Path]:
    """Post every card kind to its own channel in a fresh sandbox and screenshot each one."""
    out.mkdir(parents=True, exist_ok=True)
    cards = {**samples.cards(), **samples.hitl_cards()}
    written = []
    posted_at = samples.CREATED.timestamp() + 60  # a fixed clock: the same PNGs on every run
    with SlackSandbox.start(signing_secret="screenshots", bot_token="xoxb-screenshots",
                            clock=lambda: posted_at) as sandbox:
        for uid, name in PEOPLE.items():
            sandbox.add_user(uid, name=name, email=f"{name}@example.com", real_name=name.title())
        sandbox.add_usergroup("S0BILLING", handle="billing-leads", users=["U0APPROVER1", "U0APPROVER2"])
        client = WebClient(token="xoxb-screenshots", base_url=f"{sandbox.url}/api/")
        for kind, sample in KINDS.items():
            sandbox.add_channel(channel_id(kind), name=kind)
            card = cards[sample]
            client.chat_postMessage(channel=channel_id(kind), text=card_text(card),
                                    blocks=approval_card(card))
        waiting = [cards["pending_agent_deadline"], replace(cards["pending_high"], quorum=1),
                   replace(cards["pending_low"], request_id="req_01JD3W4K9A")]
        client.views_publish(user_id="U0APPROVER1", view=home_view(
            waiting, notice="Already approved by <@U0APPROVER2>, today at 2:02 PM."))
        with chromium.browser() as browser:
            page = browser.new_page(viewport={"width": WIDTH, "height": 900}, device_scale_factor=2,
                                    timezone_id="Europe/Berlin", locale="en-GB")
            page.goto(f"{sandbox.url}/?as=U0APPROVER1")
            page.add_style_tag(content="header{display:none} main{padding:0 8px}")
            for kind in KINDS:
                path = out / f"card-{kind}.png"
                page.locator(f"#channel-{channel_id(kind)} .msg").first.screenshot(path=path)
                written.append(path)
            page.locator("#home").screenshot(path=out / "home-tab.png")
            written.append(out / "home-tab.png")
            high = page.locator(f"#channel-{channel_id('quorum-progress')} .msg").first
            high.get_by_role("button", name="Approve").click()
            page.set_viewport_size({"width": WIDTH, "height": 700})
            page.screenshot(path=out / "confirm-dialog.png")
            written.append(out / "confirm-dialog.png")
    return written


if __name__ == "__main__":
    for path in main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/img")):
        print(path)
