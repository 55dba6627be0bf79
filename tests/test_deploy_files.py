"""The Dockerfile and compose.yaml keep the invariants an operator relies on."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent


def _instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined, comments dropped."""
    logical, parts = [], []
    for line in text.splitlines():
        if not parts and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            parts.append(line.rstrip()[:-1])
            continue
        parts.append(line)
        logical.append(" ".join(p.strip() for p in parts))
        parts = []
    return [(k.upper(), rest) for k, _, rest in (s.partition(" ") for s in logical)]


def _final_stage() -> list[tuple[str, str]]:
    steps = _instructions((ROOT / "Dockerfile").read_text())
    last_from = max(i for i, (k, _) in enumerate(steps) if k == "FROM")
    return steps[last_from:]


def _compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def test_the_image_runs_as_a_non_root_user():
    users = [arg.split(":")[0] for k, arg in _final_stage() if k == "USER"]
    assert users and users[-1] not in ("root", "0")


def test_the_image_checks_its_health_on_healthz():
    [check] = [arg for k, arg in _final_stage() if k == "HEALTHCHECK"]
    assert "CMD" in check and "/healthz" in check


def test_signoff_is_the_entrypoint_on_debian_slim():
    steps = _final_stage()
    assert steps[0] == ("FROM", "debian:bookworm-slim")
    assert [json.loads(arg) for k, arg in steps if k == "ENTRYPOINT"] == [["signoff"]]


def test_the_final_stage_has_no_build_tools():
    installs = " ".join(arg for k, arg in _final_stage() if k == "RUN")
    for tool in ("gcc", "build-essential", "make", "python3-dev", "python3-venv", "python3-pip"):
        assert tool not in shlex.split(installs), tool


def test_redis_persists_every_second_and_never_evicts():
    command = _compose()["services"]["redis"]["command"]
    line = " ".join(command) if isinstance(command, list) else command
    assert "--appendonly yes" in line and "--maxmemory-policy noeviction" in line


def test_web_and_worker_start_only_after_migrations_completed():
    services = _compose()["services"]
    assert services["migrate"]["command"] == ["db", "upgrade"]
    for name in ("web", "worker"):
        assert services[name]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}


def test_containers_listen_on_every_interface_and_reach_the_services_by_name():
    env = _compose()["services"]["web"]["environment"]
    assert env["SIGNOFF_HOST"] == "0.0.0.0"
    assert env["DATABASE_URL"].startswith("postgresql+psycopg://") and "@postgres:" in env["DATABASE_URL"]
    assert env["REDIS_URL"] == "redis://redis:6379/0"


def test_only_web_is_health_checked_on_healthz():
    services = _compose()["services"]
    assert services["worker"]["healthcheck"] == {"disable": True}
    assert services["migrate"]["healthcheck"] == {"disable": True}
    assert "/healthz" in " ".join(services["web"]["healthcheck"]["test"])
