"""An approver's path through the sandbox page in headless chromium: what they see and click."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from tests.conftest import CHANNEL


def until(page: Any, check: Callable[[], bool], *, seconds: float = 10) -> None:
    """Reload the page until `check` holds: the bot's answer trails the click."""
    end = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < end, page.content()[:3000]
        time.sleep(0.1)
        page.reload()


def open_as(page: Any, stack: Any, user: str) -> None:
    page.goto(f"{stack.sandbox.url}/?as={user}")


def card(page: Any, summary: str) -> Any:
    """The message holding the card whose header is `summary`."""
    return page.locator(f"#channel-{CHANNEL} .msg", has=page.locator("h4", has_text=summary))


def test_an_approver_sees_the_stakes_and_approves(stack, page):
    stack.create(summary="Refund $120 to order #4312", args={"query": "LIKE '%*promo*%'", "amount": 120},
                 requester=None)
    stack.run_jobs()
    open_as(page, stack, "U0ALICE")
    refund = card(page, "Refund $120 to order #4312")
    text = refund.inner_text()
    assert "issue_refund" in text
    assert "Waiting on @alice, @bob" in text  # mentions shown as names
    assert "LIKE '%*promo*%'" in text  # agent text shown as typed, never bold
    assert refund.locator("b", has_text="promo").count() == 0
    assert "(agent)" in text  # requested by the agent's token name
    refund.get_by_role("button", name="Approve").click()
    stack.run_jobs()
    until(page, lambda: "Approved" in card(page, "Refund $120").inner_text())
    text = card(page, "Refund $120").inner_text()
    assert "Approved by @alice" in text
    assert card(page, "Refund $120").get_by_role("button", name="Approve").count() == 0


def test_reject_asks_for_a_reason_in_a_modal_and_the_card_quotes_it(stack, page):
    stack.create(summary="Delete table customers_old", action="drop_table", args={"table": "customers_old"})
    stack.run_jobs()
    open_as(page, stack, "U0BOB")
    card(page, "Delete table customers_old").get_by_role("button", name="Reject").click()
    until(page, lambda: page.locator(".modal").count() > 0)
    modal = page.locator(".modal")
    assert "Reject request" in modal.inner_text()
    reason = modal.locator("textarea")
    assert reason.get_attribute("placeholder") == "Why should this not go ahead?"
    assert "Required. The requester and the agent will see it." in modal.inner_text()
    reason.fill("Still referenced by the billing job & <nightly>")
    modal.get_by_role("button", name="Reject").click()
    stack.run_jobs()
    until(page, lambda: "Rejected" in card(page, "Delete table").inner_text())
    done = card(page, "Delete table")
    assert "Rejected by @bob" in done.inner_text()
    assert done.locator("blockquote").inner_text() == "Still referenced by the billing job & <nightly>"


def test_a_high_urgency_approval_asks_to_confirm_and_cancel_changes_nothing(stack, page):
    req = stack.create(summary="Wire $25,000 to ACME", action="send_wire", urgency="high",
                       args={"amount": 25000, "to": "ACME"})
    stack.run_jobs()
    open_as(page, stack, "U0ALICE")
    wire = card(page, "Wire $25,000 to ACME")
    wire.get_by_role("button", name="Approve").click()
    dialog = wire.locator("dialog[open]")
    assert "Approve this?" in dialog.inner_text() and "send_wire: Wire $25,000 to ACME" in dialog.inner_text()
    dialog.get_by_role("button", name="Cancel").click()
    assert stack.api.get(f"/v1/requests/{req['id']}").json()["status"] == "pending"
    wire.get_by_role("button", name="Approve").click()
    wire.locator("dialog[open]").get_by_role("button", name="Approve").click()
    stack.run_jobs()
    until(page, lambda: stack.api.get(f"/v1/requests/{req['id']}").json()["status"] == "approved")


def test_someone_who_is_not_an_approver_is_told_who_is(stack, page):
    stack.create(summary="Refund $9 to order #1")
    stack.run_jobs()
    open_as(page, stack, "U0CAROL")
    card(page, "Refund $9 to order #1").get_by_role("button", name="Approve").click()
    until(page, lambda: page.locator(".eph").count() > 0)
    assert "Only this request's approvers can decide it: @alice, @bob" in page.locator(".eph").inner_text()


def test_each_home_tab_row_acts_on_its_own_request(stack, page):
    rows = [stack.create(summary=f"Refund order {n}") for n in range(3)]
    stack.run_jobs()
    open_as(page, stack, "U0ALICE")
    page.get_by_role("button", name="Open Signoff's Home tab").click()
    until(page, lambda: page.locator("#home").count() > 0)
    home = page.locator("#home")
    assert "Waiting on you (3)" in home.inner_text()
    home.locator(".actions").nth(1).get_by_role("button", name="Approve").click()
    until(page, lambda: "Waiting on you (2)" in page.locator("#home").inner_text())
    status = [stack.api.get(f"/v1/requests/{r['id']}").json()["status"] for r in rows]
    assert status == ["pending", "approved", "pending"]
    assert "Refund order 1" not in page.locator("#home").inner_text()
