"""The README runs as written: every sh and python block, against a running `signoff dev`.

A block preceded by `<!-- norun -->` is not meant to run here (production set-up, the server
itself, placeholders); every other one must exit 0 against the sandbox stack the README's
"Try it" section starts, with the exports `signoff dev` prints.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from blocks import ids
from tests.servers import wait_healthy

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
FENCE = re.compile(r"^```(\w+)\s*$")
NORUN = "<!-- norun -->"


@dataclass(frozen=True)
class Block:
    """One fenced block of the README."""

    line: int
    language: str
    code: str
    runs: bool


def blocks(text: str) -> list[Block]:
    """Every fenced block, with whether it is meant to run (no `<!-- norun -->` right before it)."""
    lines = text.splitlines()
    found, i = [], 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if m is None:
            i += 1
            continue
        start, body = i, []
        i += 1
        while i < len(lines) and lines[i].strip() != "```":
            body.append(lines[i])
            i += 1
        before = next((ln.strip() for ln in reversed(lines[:start]) if ln.strip()), "")
        found.append(Block(line=start + 1, language=m[1], code="\n".join(body) + "\n",
                           runs=before != NORUN))
        i += 1
    return found


RUNNABLE = [b for b in blocks(README.read_text()) if b.runs and b.language in ("sh", "python")]


def test_the_readme_has_runnable_blocks_and_marks_the_rest():
    everything = blocks(README.read_text())
    assert len(RUNNABLE) >= 6
    assert any(not b.runs for b in everything)  # the marker is honoured, not ignored
    assert any("decision" in b.code for b in RUNNABLE) and any("/v1/runs" in b.code for b in RUNNABLE)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class DevStack:
    env: dict[str, str]
    workdir: Path
    log: Path
    sandbox: str  # the Slack sandbox's URL


@pytest.fixture(scope="module")
def dev_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    data, workdir = tmp_path_factory.mktemp("readme-data"), tmp_path_factory.mktemp("readme-cwd")
    (workdir / "examples").symlink_to(ROOT / "examples")
    port, sandbox_port = _free_port(), _free_port()
    token, ui = "dev-" + secrets.token_hex(12), "dev-ui-" + secrets.token_hex(12)
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("SIGNOFF_", "SLACK_", "DATABASE_URL",
                                                                      "REDIS_URL"))}
    keep.pop("PYTHONPATH", None)  # as a user's shell: Signoff finds the examples from its working directory
    env = {**keep, "SIGNOFF_DATA_DIR": str(data),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "SIGNOFF_API_TOKENS": f"dev-agent:{token},dev-ui:{ui}:decide",
           # As the README's "Try it" starts it:
           "SIGNOFF_GRAPHS": "tutorial=examples.tutorial_graph:graph,agent=examples.hitl_agent:agent",
           "SIGNOFF_POLICY_FILE": "examples/policy.yaml"}
    log = (data / "dev.log").open("w")
    # The `signoff` command, as scripts/dev runs it (`python -m` would put the working directory
    # on the import path by itself, hiding a graph module it cannot find).
    proc = subprocess.Popen([str(Path(sys.executable).parent / "signoff"), "dev", "--port", str(port),
                             "--sandbox-port", str(sandbox_port)],
                            cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc=proc, output=lambda: (data / "dev.log").read_text()[-3000:])
        yield DevStack(env={**env, "SIGNOFF_URL": url, "SIGNOFF_TOKEN": token, "TOKEN": token,
                            "UI_TOKEN": ui}, workdir=workdir, log=data / "dev.log",
                       sandbox=f"http://127.0.0.1:{sandbox_port}")
    finally:
        proc.send_signal(signal.SIGTERM)  # it stops its worker and redis-server itself
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.mark.parametrize("block", RUNNABLE, ids=[f"{b.language}-line{b.line}" for b in RUNNABLE])
def test_a_readme_block_runs_as_written(dev_stack: DevStack, block: Block) -> None:
    command = (["bash", "-euo", "pipefail", "-c", block.code] if block.language == "sh"
               else [sys.executable, "-c", block.code])
    done = subprocess.run(command, cwd=dev_stack.workdir, env=dev_stack.env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, (f"README line {block.line} ({block.language}) failed:\n{block.code}\n"
                                  f"--- stdout\n{done.stdout[-2000:]}\n--- stderr\n{done.stderr[-2000:]}")


def test_signoff_dev_prints_the_exports_the_readme_uses(dev_stack: DevStack) -> None:
    printed = dev_stack.log.read_text()
    env = dev_stack.env
    assert (f"export SIGNOFF_URL={env['SIGNOFF_URL']} SIGNOFF_TOKEN={env['TOKEN']} TOKEN={env['TOKEN']} "
            f"UI_TOKEN={env['UI_TOKEN']}") in printed


def test_the_decorator_example_refunds_once_an_approver_clicks(dev_stack: DevStack) -> None:
    # "Try it" runs `.venv/bin/python -m examples.decorator 340` and approves in the sandbox.
    def cards() -> list[dict]:
        found = httpx.get(f"{dev_stack.sandbox}/_sandbox/messages", params={"channel": "C0APPROVALS"})
        return found.json()["result"]

    before = len(cards())
    example = subprocess.Popen([sys.executable, "-m", "examples.decorator", "340"], cwd=dev_stack.workdir,
                               env=dev_stack.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while len(found := cards()) == before:
            assert example.poll() is None, example.communicate()
            assert time.monotonic() < deadline, "no card for the decorator's request"
            time.sleep(0.2)
        card = found[before]
        [approve] = [e for b in card["blocks"] if b["type"] == "actions" for e in b["elements"]
                     if e.get("action_id") == ids.ACTION_APPROVE]
        click = httpx.post(f"{dev_stack.sandbox}/_sandbox/click", json={
            "user": "U0ALICE", "channel": "C0APPROVALS", "ts": card["ts"], "action_id": ids.ACTION_APPROVE,
            "value": approve["value"]})
        assert click.status_code == 200, click.text
        out, err = example.communicate(timeout=60)
    finally:
        if example.poll() is None:
            example.kill()
    assert example.returncode == 0 and out.strip() == "refunded $340 on order #1234", (out, err)



def test_signoff_run_starts_a_run_on_signoff_dev_through_its_api(dev_stack: DevStack) -> None:
    # With the exports `signoff dev` printed, the CLI asks that server: it needs none of its secrets.
    signoff = str(Path(sys.executable).parent / "signoff")
    given = '{"action": "refund $5", "approved": false}'
    done = subprocess.run([signoff, "run", "tutorial", "--input", given, "--approver", "@finance"],
                          cwd=dev_stack.workdir, env=dev_stack.env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0 and done.stdout.strip().startswith("run_"), done.stderr
    bad = subprocess.run([signoff, "run", "nosuch"], cwd=dev_stack.workdir, env=dev_stack.env,
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1 and "no graph named 'nosuch'" in bad.stderr and "Traceback" not in bad.stderr


def test_the_curl_signoff_dev_prints_creates_a_request_under_its_policy(dev_stack: DevStack) -> None:
    # The banner's example is an example like the README's: under the Try-it policy, whose rule
    # names the approvers, a request naming its own was refused.
    printed = dev_stack.log.read_text().splitlines()
    start = printed.index("Ask for an approval:") + 1
    command = "\n".join(line for line in printed[start:start + 3])
    assert command.lstrip().startswith("curl") and "approvers" not in command, command
    done = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.startswith('{"id":"req_'), (done.stdout, done.stderr)
