"""The agent API stand-in over real HTTP, and a test thread that plays the approver."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.client.standin import AgentAPIStandIn
from tests.servers import serve

TOKEN = "agent-token-0123456789abcdef"


@pytest.fixture
def standin() -> AgentAPIStandIn:
    return AgentAPIStandIn(token=TOKEN)


@pytest.fixture
def url(standin: AgentAPIStandIn) -> Iterator[str]:
    with serve(standin.app()) as base:  # type: ignore[arg-type]  # any ASGI app serves
        try:
            yield base
        finally:
            standin.close()


class Approver(threading.Thread):
    """Decides `request_id` (default: the next request created) as a human would, after `delay` s."""

    def __init__(self, standin: AgentAPIStandIn, *, delay: float = 0.2, request_id: str | None = None,
                 **decision: Any) -> None:
        super().__init__(daemon=True)
        self.standin, self.delay, self.decision = standin, delay, decision
        self.seen = len(standin.requests)
        self.request_id = request_id
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            if self.request_id is None:
                self.request_id = self.standin.next_request(self.seen)["id"]
            time.sleep(self.delay)
            self.standin.decide(self.request_id, **self.decision)
        except BaseException as e:  # surfaced by the fixture's teardown
            self.error = e


@pytest.fixture
def approver(standin: AgentAPIStandIn) -> Iterator[Any]:
    """Start an Approver: `approver(status="approved", ...)`; each is joined at teardown."""
    started: list[Approver] = []

    def start(**decision: Any) -> Approver:
        thread = Approver(standin, **decision)
        thread.start()
        started.append(thread)
        return thread

    yield start
    for thread in started:
        thread.join(timeout=10)
        assert thread.error is None, thread.error
