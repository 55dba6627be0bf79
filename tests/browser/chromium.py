"""Debian's chromium driven by playwright: never a downloaded browser."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

EXECUTABLE = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def missing() -> str | None:
    """Why the browser cannot run here, or None when it can."""
    if not (os.path.exists(EXECUTABLE) or shutil.which("chromium")):
        return f"{EXECUTABLE} is not installed (apt-get install -y chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -e '.[dev]')"
    return None


@contextmanager
def browser() -> Iterator[Any]:
    """A headless chromium for the duration of the block."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=EXECUTABLE, args=ARGS)
        try:
            yield launched
        finally:
            launched.close()
