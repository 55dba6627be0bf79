"""Browser tests skip only off CI when chromium is absent; in CI (CI=true) they must run."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser import chromium


# Module scope, not session: playwright's sync API keeps an event loop running on this thread
# while it is open, and asyncio.run() in later test modules would refuse to start.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    reason = chromium.missing()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"browser tests must run in CI: {reason}")
        pytest.skip(reason)
    with chromium.browser() as b:
        yield b


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 900, "height": 1200}, timezone_id="Europe/Berlin",
                                  locale="en-GB")
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()
