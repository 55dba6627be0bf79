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
