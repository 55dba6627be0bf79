"""A whole Signoff on loopback, laid out like production: redis-server, `signoff web` and
`signoff worker` as separate processes, and the Slack sandbox served from this process."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import httpx
from redis import Redis
from rq import Worker

from bench.harness.cli import PROXY_VARS, log
from bot.embedded_redis import EmbeddedRedis, free_port
from slack_sandbox.interactions import Interactions
from slack_sandbox.server import SlackSandbox

CHANNEL = "C0BENCH"
START_TIMEOUT = 30.0
# The checkout this benchmark runs from: its services import Signoff from here too. Without it
# they import whatever the virtualenv's editable install points at, and a benchmark run from a
# second checkout (an older commit, for a baseline) would measure the other checkout's services.
CHECKOUT = Path(__file__).resolve().parents[2]
STOP_TIMEOUT = 15.0


@dataclass(frozen=True, kw_only=True)
class Stack:
    """The running parts a benchmark talks to."""

    sandbox: SlackSandbox
    clicks: Interactions  # signs and posts payloads exactly as sandbox.click() does
    api: httpx.Client  # the agent API, authenticated
    api_token: str  # agent "bench"'s bearer token
    callback_secret: str  # signs agent "bench"'s callbacks (never the API token)
    web_url: str
    redis_url: str
    redis_pid: int
    redis_server: EmbeddedRedis  # stop() and start() it again to take Redis away (same URL)
    bot_token: str
    users: tuple[str, ...]
    web: subprocess.Popen[bytes]
    worker: subprocess.Popen[bytes]
    logs: Path

    @property
    def log_files(self) -> dict[str, Path]:
        """Where `signoff web` and `signoff worker` write their output."""
        return {"web": self.logs / "web.log", "worker": self.logs / "worker.log"}


@contextlib.contextmanager
def running_stack(
    *, approvers: int, env: Mapping[str, str] | None = None, web_workers: int = 1, worker_processes: int = 1
) -> Iterator[Stack]:
    """Start everything, yield it, and stop every process this started, whatever happens.

    `env` adds settings to both children's environment (e.g. SIGNOFF_CALLBACK_ALLOW_PRIVATE).
    `web_workers` and `worker_processes` > 1 start `signoff web --workers N` and `signoff worker
    --processes N` (each a parent supervising N children; `cpu_tree_ms` counts them all).
    """
    tmp = Path(tempfile.mkdtemp(prefix="signoff-bench-"))
    secret, bot_token = secrets.token_hex(16), "xoxb-bench-" + secrets.token_hex(8)
    api_token, callback_secret = secrets.token_hex(24), secrets.token_hex(32)
    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, tmp, ignore_errors=True)
        redis = EmbeddedRedis(tmp / "redis", persist=False).start()
        stack.callback(redis.stop)
        log(f"redis-server at {redis.url}")
        sandbox = SlackSandbox.start(signing_secret=secret, bot_token=bot_token, port=0)
        stack.callback(sandbox.stop)
        users = seed_sandbox(sandbox, approvers)
        port = free_port()
        env = child_env(
            tmp=tmp,
            redis_url=redis.url,
            sandbox=sandbox,
            bot_token=bot_token,
            secret=secret,
            api_token=api_token,
            callback_secret=callback_secret,
            port=port,
        ) | dict(env or {})
        env |= {"WEB_CONCURRENCY": str(web_workers), "SIGNOFF_WORKER_PROCESSES": str(worker_processes)}
        web = stack.enter_context(signoff_process("web", env=env, cwd=tmp))
        web_url = f"http://127.0.0.1:{port}"
        _wait_healthy(web_url, web, tmp / "web.log")
        # The worker starts once web has created the tables: started together on a fresh SQLite
        # file, one of the two exits with "database is locked" from create_all in ~1 of 4 starts.
        worker = stack.enter_context(signoff_process("worker", env=env, cwd=tmp))
        _wait_worker(redis.url, worker, tmp / "worker.log", count=worker_processes)
        sandbox.events_url = f"{web_url}/slack/events"
        log(f"signoff web (pid {web.pid}) at {web_url}, worker pid {worker.pid}, sandbox at {sandbox.url}")
        clicks = Interactions(
            sandbox.state, signing_secret=secret, base_url=sandbox.url, events_url=sandbox.events_url
        )
        stack.callback(clicks.close)
        api = stack.enter_context(
            httpx.Client(
                base_url=web_url,
                headers={"Authorization": f"Bearer {api_token}"},
                timeout=30,
                trust_env=False,
            )
        )
        yield Stack(
            sandbox=sandbox,
            clicks=clicks,
            api=api,
            api_token=api_token,
            callback_secret=callback_secret,
            web_url=web_url,
            redis_url=redis.url,
            redis_pid=redis.process.pid if redis.process else 0,
            redis_server=redis,
            bot_token=bot_token,
            users=users,
            web=web,
            worker=worker,
            logs=tmp,
        )


def seed_sandbox(sandbox: SlackSandbox, approvers: int) -> tuple[str, ...]:
    users = tuple(f"U0B{n:04d}" for n in range(approvers))
    for n, uid in enumerate(users):
        sandbox.add_user(
            uid, name=f"approver{n}", email=f"approver{n}@example.com", real_name=f"Approver {n}"
        )
    sandbox.add_channel(CHANNEL, name="bench-approvals")
    return users


def child_env(
    *,
    tmp: Path,
    redis_url: str,
    sandbox: SlackSandbox,
    bot_token: str,
    secret: str,
    api_token: str,
    port: int,
    callback_secret: str | None = None,
) -> dict[str, str]:
    # Nothing from the caller's SIGNOFF_*/SLACK_* (a stray SLACK_APP_TOKEN would mean Socket Mode).
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SIGNOFF_", "SLACK_")) and k not in PROXY_VARS
    }
    env.update(
        SIGNOFF_DATA_DIR=str(tmp),
        DATABASE_URL=f"sqlite:///{tmp / 'signoff.db'}",
        REDIS_URL=redis_url,
        SLACK_API_URL=sandbox.api_url,
        SLACK_BOT_TOKEN=bot_token,
        SLACK_SIGNING_SECRET=secret,
        SIGNOFF_API_TOKENS=f"bench:{api_token}",
        SIGNOFF_AUDIT_KEY=secrets.token_hex(32),
        SIGNOFF_PORT=str(port),
        PYTHONUNBUFFERED="1",
        PYTHONPATH=os.pathsep.join([str(CHECKOUT), *filter(None, [os.environ.get("PYTHONPATH")])]),
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
    )
    if callback_secret is not None:
        env["SIGNOFF_CALLBACK_SECRETS"] = f"bench:{callback_secret}"
    return env


def _signoff() -> list[str]:
    """`signoff` as installed next to this interpreter (what the Procfile runs), else `-m bot.cli`."""
    script = Path(sys.executable).parent / "signoff"
    return [str(script)] if script.exists() else [sys.executable, "-m", "bot.cli"]


@contextlib.contextmanager
def signoff_process(command: str, *, env: dict[str, str], cwd: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`signoff <command>` with its output in <cwd>/<command>.log; terminated on the way out."""
    # cwd is the scratch dir so a developer's .env in the repo cannot change what we measure.
    with open(cwd / f"{command}.log", "wb") as out:
        proc = subprocess.Popen(
            [*_signoff(), command], env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        yield proc
    finally:
        _stop(proc)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=STOP_TIMEOUT)


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], log_file: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    with httpx.Client(timeout=2, trust_env=False) as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"signoff web exited with {proc.returncode}:\n{tail(log_file)}")
            with contextlib.suppress(httpx.HTTPError):
                if client.get(f"{url}/healthz").status_code == 200:
                    return
            time.sleep(0.05)
    raise RuntimeError(f"signoff web was not healthy within {START_TIMEOUT:.0f} s:\n{tail(log_file)}")


def _wait_worker(redis_url: str, proc: subprocess.Popen[bytes], log_file: Path, *, count: int = 1) -> None:
    """Until `count` RQ workers have registered themselves in Redis, i.e. take jobs."""
    deadline = time.monotonic() + START_TIMEOUT
    with Redis.from_url(redis_url) as redis:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"signoff worker exited with {proc.returncode}:\n{tail(log_file)}")
            if Worker.count(connection=redis) >= count:
                return
            time.sleep(0.05)
    raise RuntimeError(f"signoff worker did not start within {START_TIMEOUT:.0f} s:\n{tail(log_file)}")


def log_problems(files: Mapping[str, Path]) -> dict[str, Any]:
    """Warning and error lines each process logged (they log at WARNING and above)."""
    out: dict[str, Any] = {}
    for name, path in files.items():
        lines = path.read_text(errors="replace").splitlines()
        bad = [ln for ln in lines if any(w in ln for w in ("ERROR", "WARNING", "Traceback"))]
        out[name] = {"lines": len(bad), "first": bad[:3]}
    return out


def fail_with_logs(stack: Stack, why: str) -> NoReturn:
    """Stop the run, showing what the service logged."""
    raise RuntimeError(
        why + "".join(f"\n--- {path.name} ---\n{tail(path)}" for path in stack.log_files.values())
    )


def tail(path: Path, lines: int = 30) -> str:
    """The last lines of a log file."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def memory_mb(pid: int) -> dict[str, float | None]:
    """Peak (VmHWM) and current (VmRSS) resident set of a live process, in MiB."""
    fields: dict[str, float | None] = {"peak": None, "now": None}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in ("VmHWM", "VmRSS"):
                    kib = int(value.split()[0])
                    fields["peak" if key == "VmHWM" else "now"] = round(kib / 1024, 1)
    except OSError:
        pass
    return fields


def cpu_ms(pid: int) -> float:
    """CPU time (user + system) a live process has used so far, in milliseconds."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def _descendants(pid: int) -> list[int]:
    """Every live process below `pid` (children, their children, ...), from /proc."""
    found, todo = [], [pid]
    while todo:
        for task in Path(f"/proc/{todo.pop()}/task").glob("*"):
            try:
                kids = [int(k) for k in (task / "children").read_text().split()]
            except OSError:
                continue
            found += kids
            todo += kids
    return found


def cpu_tree_ms(pid: int) -> float:
    """CPU time of a live process and of every live process below it, in milliseconds: what
    `signoff web --workers N` or `signoff worker --processes N` costs, not only its parent's.
    Measured twice around a run it is exact as long as no child starts or ends in between."""
    return sum(cpu_ms(p) for p in [pid, *_descendants(pid)])
