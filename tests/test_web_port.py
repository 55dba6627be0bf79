"""`signoff web` under a platform's PORT: a real process, listening where the platform routes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from bot.embedded_redis import free_port
from tests.conftest import process_env


def _listening_on_all_interfaces(port: int) -> bool:
    """True when /proc/net/tcp shows a LISTEN socket on 0.0.0.0:port."""
    rows = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return any(r.split()[1] == f"00000000:{port:04X}" and r.split()[3] == "0A" for r in rows)


def test_web_listens_on_the_platform_port_on_every_interface(sandbox, redis_server, tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("SIGNOFF_HOST", "SIGNOFF_PORT", "REDIS_URL")}
    env |= {"PORT": str(port), "SIGNOFF_PORT": str(free_port()), "REDIS_URL": redis_server.url,
            "SIGNOFF_DATA_DIR": str(tmp_path), **process_env(sandbox.api_url)}
    # cwd is empty so no developer's .env changes what the process reads.
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "web"], env=env, cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    proc.terminate()  # stderr ends only when the process does
                    _, err = proc.communicate(timeout=15)
                    raise AssertionError(f"no answer on PORT {port}: {err.decode()}") from None
                time.sleep(0.1)
        assert answer.status_code == 200 and answer.json()["status"] == "ok"
        assert _listening_on_all_interfaces(port)
    finally:
        proc.terminate()
        proc.wait(timeout=15)
