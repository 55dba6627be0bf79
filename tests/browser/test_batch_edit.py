"""A batch of tool calls on the sandbox page: one approver edits one call, another approves the other."""

from __future__ import annotations

from tests import graph_apps
from tests.browser.test_sandbox_page import open_as, until
from tests.conftest import CHANNEL
from tests.graph_fixtures import effects_file, stack_overrides  # noqa: F401 - fixtures
from tests.test_graph_runs import run_of, start

TIDY = {"messages": [{"role": "user", "content": "tidy up"}]}


def test_edit_one_call_in_a_modal_and_approve_the_other_as_someone_else(stack, page):
    run = start(stack, "batched", TIDY)
    open_as(page, stack, "U0ALICE")
    card = page.locator(f"#channel-{CHANNEL} .msg").first
    assert "1. send_email" in card.inner_text() and "2. delete_file" in card.inner_text()
    card.locator(".actions").nth(0).get_by_role("button", name="Edit").click()
    until(page, lambda: page.locator(".modal").count() > 0)
    modal = page.locator(".modal")
    body = modal.locator("label", has_text="body").locator("xpath=following-sibling::*[1]")
    body.fill("hello Ann")
    modal.get_by_role("button", name="Approve edits").click()
    stack.run_jobs()
    until(page, lambda: "Edited by @alice" in page.locator(f"#channel-{CHANNEL} .msg").first.inner_text())
    assert '"hello Ann"' in page.locator(f"#channel-{CHANNEL} .msg").first.inner_text()

    open_as(page, stack, "U0BOB")
    card = page.locator(f"#channel-{CHANNEL} .msg").first
    card.locator(".actions").nth(0).get_by_role("button", name="Approve").click()
    stack.run_jobs()
    until(page, lambda: run_of(stack, run)["status"] == "done")
    until(page, lambda: "Approved by @bob" in page.locator(f"#channel-{CHANNEL} .msg").first.inner_text())
    assert "send_email to=ann@example.com body=hello Ann" in graph_apps.effects()
