"""`signoff doctor` against the Slack sandbox, a real Redis and database: a passing and a failing run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

from bot.observe import heartbeat
from bot.slack.scopes import BOT_SCOPES
from bot.storage.db import Database
from tests.conftest import CHANNEL, process_env

ROOT = Path(__file__).resolve().parents[2]
POLICY = ROOT / "tests" / "policy_refunds.yaml"


def doctor(tmp_path: Path, sandbox, redis_url: str, db_url: str, *args: str, **env: str):
    dropped = ("REDIS_URL", "DATABASE_URL", "SIGNOFF_POLICY_FILE", "PROMETHEUS_MULTIPROC_DIR")
    base = {k: v for k, v in os.environ.items() if k not in dropped}
    base |= {"SIGNOFF_DATA_DIR": str(tmp_path), **process_env(sandbox.api_url),
             "REDIS_URL": redis_url, "DATABASE_URL": db_url, "SIGNOFF_POLICY_FILE": str(POLICY),
             "SIGNOFF_DEFAULT_CHANNEL": CHANNEL, **env}
    return subprocess.run([sys.executable, "-m", "bot.cli", "doctor", *args], env=base, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)


def test_the_manifest_asks_for_the_scopes_doctor_checks():
    manifest = yaml.safe_load((ROOT / "slack-manifest.yml").read_text())
    assert set(manifest["oauth_config"]["scopes"]["bot"]) == BOT_SCOPES


def test_a_healthy_install_passes_and_warns_about_redis_persistence(sandbox, redis, redis_server, sqlite_url,
                                                                     tmp_path):
    Database.connect(sqlite_url).engine.dispose()
    heartbeat.beat(redis, datetime.now(UTC))
    done = doctor(tmp_path, sandbox, redis_server.url, sqlite_url, "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    got = {c["name"]: c for c in json.loads(done.stdout)["checks"]}
    assert {n for n, c in got.items() if c["status"] == "ok"} == {
        "slack token", "signing secret", "policy", "channels", "database", "clock", "worker"}
    # The test Redis does not persist: a warning, not a failure.
    assert got["redis"]["status"] == "warn" and "appendonly" in got["redis"]["detail"]


def test_a_policy_its_approvers_cannot_satisfy_is_a_warning(sandbox, redis, redis_server, sqlite_url,
                                                            tmp_path):
    Database.connect(sqlite_url).engine.dispose()
    heartbeat.beat(redis, datetime.now(UTC))
    policy = tmp_path / "policy.yaml"
    policy.write_text("default:\n  approvers: [U0ALICE]\n  quorum: 2\n")
    done = doctor(tmp_path, sandbox, redis_server.url, sqlite_url, "--json", SIGNOFF_POLICY_FILE=str(policy))
    assert done.returncode == 0, done.stdout + done.stderr
    got = {c["name"]: c for c in json.loads(done.stdout)["checks"]}
    assert got["policy"]["status"] == "warn"
    assert got["policy"]["detail"].startswith("every name resolves, but line 1: rule 'default' needs 2 "
                                              "approvals but names 1 approver(s)")


def test_a_broken_install_fails_naming_each_problem(sandbox, redis, redis_server, sqlite_url, tmp_path):
    sandbox.set_scopes(tuple(sorted(BOT_SCOPES - {"usergroups:read"})))
    sandbox.add_channel("C0QUIET", name="quiet", is_member=False)
    heartbeat.beat(redis, datetime.now(UTC) - timedelta(minutes=10))
    policy = tmp_path / "policy.yaml"
    policy.write_text("rules:\n  - name: r\n    match: {action: x}\n    approvers: [U0NOBODY]\n"
                      "default:\n  approvers: [U0ALICE]\n")
    # No database upgrade: the file does not exist yet, so its schema is "none".
    done = doctor(tmp_path, sandbox, redis_server.url, sqlite_url, SIGNOFF_DEFAULT_CHANNEL="C0QUIET",
                  SIGNOFF_POLICY_FILE=str(policy))
    assert done.returncode == 1, done.stdout + done.stderr
    failed = {line.split()[1] if not line.startswith("FAIL  slack") else "slack": line
              for line in done.stdout.splitlines() if line.startswith("FAIL")}
    assert "usergroups:read" in failed["slack"]
    assert "U0NOBODY" in failed["policy"]
    assert "/invite" in failed["channels"]
    assert "signoff db upgrade" in failed["database"]
    assert "worker" in failed and "ago" in failed["worker"]


def test_an_unreachable_redis_fails(sandbox, sqlite_url, tmp_path):
    from bot.embedded_redis import free_port

    done = doctor(tmp_path, sandbox, f"redis://127.0.0.1:{free_port()}/0", sqlite_url, "--json")
    assert done.returncode == 1
    got = {c["name"]: c for c in json.loads(done.stdout)["checks"]}
    assert got["redis"]["status"] == "fail" and "REDIS_URL" in got["redis"]["detail"]
    assert "Traceback" not in done.stderr


def test_version():
    done = subprocess.run([sys.executable, "-m", "bot.cli", "--version"], capture_output=True, text=True,
                          check=True)
    assert done.stdout.startswith("signoff, version ")


def test_settings_that_cannot_load_are_one_failing_check_in_json_too(sandbox, redis_server, sqlite_url,
                                                                     tmp_path):
    # A missing SIGNOFF_AUDIT_KEY printed a plain "Error: …" line even with --json.
    done = doctor(tmp_path, sandbox, redis_server.url, sqlite_url, "--json", SIGNOFF_AUDIT_KEY="")
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] is False and [c["name"] for c in report["checks"]] == ["settings"]
    assert "SIGNOFF_AUDIT_KEY" in report["checks"][0]["detail"]
    plain = doctor(tmp_path, sandbox, redis_server.url, sqlite_url, SIGNOFF_AUDIT_KEY="")
    assert plain.returncode == 1 and "SIGNOFF_AUDIT_KEY" in plain.stdout and "Traceback" not in plain.stderr
    # Each bad setting is its own failing check.
    both = doctor(tmp_path, sandbox, redis_server.url, sqlite_url, "--json", SIGNOFF_AUDIT_KEY="",
                  SIGNOFF_PORT="eighty")
    checks = json.loads(both.stdout)["checks"]
    assert [c["name"] for c in checks] == ["settings", "settings"]
    assert ["SIGNOFF_AUDIT_KEY" in checks[0]["detail"], "SIGNOFF_PORT" in checks[1]["detail"]] == [True, True]


def test_a_refused_token_says_what_slack_answered_for_each_check(sandbox, redis, redis_server, sqlite_url,
                                                                 tmp_path):
    done = doctor(tmp_path, sandbox, redis_server.url, sqlite_url, "--json",
                  SLACK_BOT_TOKEN="xoxb-" + "0" * 40)
    got = {c["name"]: c for c in json.loads(done.stdout)["checks"]}
    assert got["slack token"]["status"] == "fail" and "invalid_auth" in got["slack token"]["detail"]
    channels = got["channels"]
    assert channels["status"] == "fail" and "invalid_auth" in channels["detail"], channels
