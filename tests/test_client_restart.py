"""The client across a web process SIGKILLed and started again: idempotent calls are retried
with backoff and succeed; what cannot be retried raises a SignoffError, never an httpx error."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import httpx
import pytest

from bot.core.lifecycle import Verdict
from bot.embedded_redis import free_port
from signoff_client import SignoffClient, SignoffError, Unreachable
from tests.conftest import API_TOKEN, CHANNEL, process_env
from tests.servers import wait_healthy


class Web:
    """`signoff web` on a fixed port, on the test stack's database, Redis and Slack sandbox."""

    def __init__(self, stack, tmp_path) -> None:
        s = stack.w.settings
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "DATABASE_URL": s.database_url, "REDIS_URL": s.redis_url or "",
                    **process_env(s.slack_api_url),
                    "SIGNOFF_DATA_DIR": str(tmp_path), "SIGNOFF_PORT": str(self.port)}
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "web"], env=self.env, cwd=os.getcwd(),
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def healthy(self, timeout: float = 90) -> None:
        wait_healthy(self.url, proc=self.proc, timeout=timeout)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)


@pytest.fixture
def web(stack, tmp_path):
    w = Web(stack, tmp_path)
    w.start()
    w.healthy()
    yield w
    if w.proc is not None and w.proc.poll() is None:
        w.proc.kill()
        w.proc.wait(10)


def ask(client: SignoffClient, key: str | None = None):
    return client.request(action="issue_refund", summary="Refund $5", approvers=["U0ALICE"], channel=CHANNEL,
                          idempotency_key=key)


def test_idempotent_calls_survive_a_web_restart(stack, web):
    with SignoffClient(base_url=web.url, token=API_TOKEN, retry_for=120) as client:
        first = ask(client, "restart-1")
        web.kill()
        web.start()  # not up yet: the create below is refused, retried, and lands once it is
        second = ask(client, "restart-2")
        assert ask(client, "restart-2").id == second.id  # the key still makes it one request
        assert client.get(first.id).status == "pending"

        def restart_then_decide() -> None:
            time.sleep(1)  # the client is in its long-poll now
            web.kill()
            web.start()
            web.healthy()
            stack.w.service.decide(first.id, actor="U0ALICE", verdict=Verdict.APPROVE)

        approver = threading.Thread(target=restart_then_decide, daemon=True)
        approver.start()
        decided = client.wait(first.id, timeout=150)
        approver.join(120)
        assert decided.status == "approved"
        assert client.cancel(second.id, reason="not needed").status == "cancelled"
        # The same cancel again (as a retry whose answer was lost would send) is not an error.
        assert client.cancel(second.id, reason="not needed").status == "cancelled"


def test_a_web_that_stays_down_raises_a_signoff_error(stack, web):
    with SignoffClient(base_url=web.url, token=API_TOKEN, retry_for=1) as client:
        req = ask(client)
        web.kill()
        with pytest.raises(Unreachable) as caught:
            client.get(req.id)
        assert isinstance(caught.value, SignoffError) and isinstance(caught.value.__cause__, httpx.HTTPError)
        with pytest.raises(Unreachable):
            client.wait(req.id, timeout=5)
