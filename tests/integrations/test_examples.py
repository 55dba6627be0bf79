"""The examples the README points at: the policy loads, the snippets parse, the commands they name exist."""

from __future__ import annotations

import json
import py_compile
import tomllib
from pathlib import Path

from bot.policy.explain import match
from bot.policy.loader import load_policy

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def test_the_example_policy_routes_each_runtime_s_tool_calls():
    policy = load_policy(EXAMPLES / "agents-policy.yml")
    calls = [("Bash", {"command": "make deploy"}), ("Read", {"file_path": "x"}),
             ("issue_refund", {"order": 1, "amount": 20}), ("issue_refund", {"order": 1, "amount": 340})]
    routed = [match(policy, action=name, args=args, requester=None, urgency=None).rule.name
              for name, args in calls]
    assert routed == ["shell", "reads", "small-refunds", "refunds"]


def test_the_settings_snippets_name_the_client_s_command():
    scripts = tomllib.loads((ROOT / "client" / "pyproject.toml").read_text())["project"]["scripts"]
    settings = json.loads((EXAMPLES / "claude-code-settings.json").read_text())
    [entry] = settings["hooks"]["PreToolUse"]
    [hook] = entry["hooks"]
    assert "signoff-agent" in scripts
    assert hook["command"].split()[:3] == ["signoff-agent", "hook", "claude-code"]
    # Claude Code treats a hook that times out as no answer: its timeout must outlast Signoff's wait.
    assert hook["timeout"] > float(hook["command"].split("--timeout ")[1].split()[0])
    hosts = json.loads((EXAMPLES / "mcp_host_config.json").read_text())["mcpServers"]
    assert {s["command"] for s in hosts.values()} == {"signoff-agent"}


def test_the_python_examples_compile():
    for path in sorted(EXAMPLES.glob("*.py")):
        py_compile.compile(str(path), doraise=True)


def test_every_name_the_example_policies_use_is_in_signoff_dev_s_sandbox(tmp_path):
    # examples/agents-policy.yml asked @ops, which `signoff dev` did not have: its examples got 422s.
    from bot.cli import _start_sandbox
    from bot.embedded_redis import free_port
    from bot.settings import load_settings
    from bot.slack.client import make_client
    from bot.slack.policy_check import unknown_names

    settings = load_settings({"SIGNOFF_DATA_DIR": str(tmp_path)}, env_file=None, dev=True)
    sandbox, settings = _start_sandbox(settings, free_port())
    try:
        client = make_client(token=settings.slack_bot_token, base_url=settings.slack_api_url)
        for name in ("agents-policy.yml", "policy.yaml"):
            assert unknown_names(load_policy(EXAMPLES / name), client) == [], name
    finally:
        sandbox.stop()
