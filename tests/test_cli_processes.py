"""`signoff dev` and `signoff web` as real processes: no child outlives them, however they end."""

from __future__ import annotations

import os
import secrets
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from bot.embedded_redis import free_port
from slack_sandbox.server import SlackSandbox
from tests.conftest import process_env
from tests.servers import wait_healthy

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

START_TIMEOUT = 90.0  # imports langgraph and builds everything on a busy 2-core machine


@dataclass
class Running:
    proc: subprocess.Popen[str]
    data_dir: Path
    port: int

    def children(self) -> set[int]:
        """Pids of the process's direct children, from /proc (no psutil)."""
        found: set[int] = set()
        for task in Path(f"/proc/{self.proc.pid}/task").iterdir():
            found |= {int(p) for p in (task / "children").read_text().split()}
        return found


def _alive(pid: int) -> bool:
    """True unless `pid` is gone or a zombie (a container's init may never reap orphans)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return False
    return fields[0] != "Z"


def _start(tmp_path: Path, *command: str, extra_env: dict[str, str] | None = None,
           own_group: bool = False, sandbox_port: int | None = None) -> Running:
    port = free_port()
    ours = ("SLACK_", "SIGNOFF_", "REDIS_", "DATABASE_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(ours)}
    env |= {"SIGNOFF_DATA_DIR": str(tmp_path / "data"), "SIGNOFF_PORT": str(port), "PYTHONUNBUFFERED": "1"}
    env |= extra_env or {}
    if command[0] == "dev":
        command = (*command, "--port", str(port), "--sandbox-port", str(sandbox_port or free_port()))
    # cwd: a .env in the checkout must not leak into the child. The `signoff` command, as a user
    # runs it (`python -m` would put the working directory first on the import path).
    signoff = str(Path(sys.executable).parent / "signoff")
    proc = subprocess.Popen([signoff, *command], cwd=tmp_path, env=env,
                            stderr=subprocess.PIPE, text=True, start_new_session=own_group)
    running = Running(proc=proc, data_dir=tmp_path / "data", port=port)
    # stderr is read only once the process has exited: before, reading it would block
    wait_healthy(f"http://127.0.0.1:{port}", proc=proc, timeout=START_TIMEOUT,
                 output=lambda: proc.stderr.read() if proc.stderr and proc.poll() is not None else "")
    return running


def _wait_all_gone(pids: set[int], timeout: float = 30.0) -> set[int]:
    deadline = time.monotonic() + timeout
    while (left := {p for p in pids if _alive(p)}) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


@pytest.fixture
def dev(tmp_path: Path) -> Iterator[Running]:
    running = _start(tmp_path, "dev")
    yield running
    if running.proc.poll() is None:
        running.proc.kill()
    running.proc.wait()


def _redis_and_worker(running: Running) -> set[int]:
    kids = running.children()
    names = sorted(Path(f"/proc/{p}/comm").read_text().strip() for p in kids)
    assert len(names) == 2 and names[1] == "redis-server", names  # the other is the worker
    return kids


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_dev_stops_its_worker_and_redis_on_a_signal(dev: Running, sig: signal.Signals):
    kids = _redis_and_worker(dev)
    dev.proc.send_signal(sig)
    # 128 + signal: it exited through its own cleanup, not by the signal's default action
    assert dev.proc.wait(timeout=60) == 128 + sig
    assert _wait_all_gone(kids) == set()
    assert not (dev.data_dir / "redis.url").exists()


def test_ctrl_c_in_a_terminal_stops_dev_in_order_and_quietly(tmp_path: Path):
    # A terminal's Ctrl-C signals the whole foreground process group, children included:
    # redis-server used to exit first, and the worker printed ~150 lines of tracebacks.
    dev = _start(tmp_path, "dev", own_group=True)
    try:
        kids = _redis_and_worker(dev)
        os.killpg(dev.proc.pid, signal.SIGINT)
        assert dev.proc.wait(timeout=60) == 128 + signal.SIGINT
        said = dev.proc.stderr.read() if dev.proc.stderr else ""
        assert "Traceback" not in said and "Error" not in said, said[-3000:]
        assert _wait_all_gone(kids) == set()
    finally:
        if dev.proc.poll() is None:
            os.killpg(dev.proc.pid, signal.SIGKILL)
            dev.proc.wait()


GRAPH_MODULE = """
from typing import TypedDict
from langgraph.graph import END, START, StateGraph

class State(TypedDict, total=False):
    n: int

builder = StateGraph(State)
builder.add_node("step", lambda state: {})
builder.add_edge(START, "step")
builder.add_edge("step", END)
graph = builder.compile()
"""


def test_a_bot_folder_in_the_working_directory_shadows_nothing_of_signoff(tmp_path: Path):
    # Graph modules are found in the working directory; a `bot/` there (any project's) must not
    # be imported in Signoff's place, in dev or in the worker it starts.
    (tmp_path / "bot").mkdir()
    trap = "raise ImportError('the bot/ folder of the working directory')\n"
    (tmp_path / "bot" / "__init__.py").write_text(trap)
    (tmp_path / "mygraphs.py").write_text(GRAPH_MODULE)
    sandbox_port = free_port()
    token = secrets.token_hex(16)
    dev = _start(tmp_path, "dev", sandbox_port=sandbox_port,
                 extra_env={"SIGNOFF_GRAPHS": "mine=mygraphs:graph", "SIGNOFF_API_TOKENS": f"agent:{token}"})
    try:
        r = httpx.post(f"http://127.0.0.1:{dev.port}/v1/requests",
                       json={"action": "a", "summary": "s", "approvers": ["U0ALICE"]},
                       headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 201, r.text
        sandbox = f"http://127.0.0.1:{sandbox_port}/_sandbox/messages"
        deadline = time.monotonic() + START_TIMEOUT
        while not httpx.get(sandbox, params={"channel": "C0APPROVALS"}).json()["result"]:  # the worker's
            assert time.monotonic() < deadline and dev.proc.poll() is None, "no card: no worker started"
            time.sleep(0.2)
    finally:
        dev.proc.terminate()
        dev.proc.wait(timeout=60)
    assert "the bot/ folder" not in (dev.proc.stderr.read() if dev.proc.stderr else "")


def test_dev_children_die_with_it_when_it_is_killed(dev: Running):
    kids = _redis_and_worker(dev)
    dev.proc.kill()
    dev.proc.wait()
    assert _wait_all_gone(kids) == set()


def test_web_stops_the_redis_it_started_on_sigterm(tmp_path: Path, sandbox_server: SlackSandbox):
    web = _start(tmp_path, "web", extra_env={
        **process_env(sandbox_server.api_url),
    })
    try:
        kids = web.children()
        assert len(kids) == 1
        web.proc.terminate()
        assert web.proc.wait(timeout=60) == 128 + signal.SIGTERM
        assert _wait_all_gone(kids) == set()
        assert not (web.data_dir / "redis.url").exists()
    finally:
        if web.proc.poll() is None:
            web.proc.kill()


def test_dev_keeps_its_files_private_and_its_banner_free_of_passwords(dev: Running):
    url = (dev.data_dir / "redis.url").read_text()
    password = url.split("://:", 1)[1].split("@", 1)[0]
    assert len(password) >= 32
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in [dev.data_dir, *dev.data_dir.iterdir()]}
    assert modes.pop("data") == 0o700
    assert {"signoff.db", "redis.url", "appendonly.aof"} <= modes.keys()
    assert all(mode & 0o077 == 0 for mode in modes.values()), modes
    dev.proc.terminate()
    _, err = dev.proc.communicate(timeout=60)
    assert password not in err
    assert "unix://:***@" in err and "  redis         unix://:***@" in err
