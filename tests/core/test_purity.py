"""bot/core and bot/policy (but its file loader) must stay pure: no IO library may be imported there."""

import ast
from pathlib import Path

import bot.core
import bot.policy

FORBIDDEN = {"slack_sdk", "slack_bolt", "redis", "rq", "sqlmodel", "sqlalchemy", "langgraph",
             "httpx", "requests", "fastapi", "socket", "subprocess", "pathlib", "os"}
IO_ALLOWED = {Path(bot.policy.__file__).parent / "loader.py"}


def _pure_modules() -> list[Path]:
    roots = [Path(bot.core.__file__).parent, Path(bot.policy.__file__).parent]
    return [p for root in roots for p in sorted(root.rglob("*.py")) if p not in IO_ALLOWED]


def _imports(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
    return names


def test_core_and_policy_import_no_io_library():
    offenders = [f"{p.parent.name}/{p.name}: {n}" for p in _pure_modules() for n in _imports(p)
                 if n.split(".")[0] in FORBIDDEN]
    assert offenders == []


def test_pure_modules_do_not_import_the_policy_loader():
    offenders = [f"{p.parent.name}/{p.name}" for p in _pure_modules()
                 if "bot.policy.loader" in _imports(p)]
    assert offenders == []


def test_the_walk_covers_both_packages():
    names = {f"{p.parent.name}/{p.name}" for p in _pure_modules()}
    assert {"core/lifecycle.py", "policy/parser.py", "policy/model.py"} <= names
    assert "policy/loader.py" not in names
