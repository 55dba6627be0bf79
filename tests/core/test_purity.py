"""bot/core must stay pure: no IO library may be imported there."""

import ast
from pathlib import Path

import bot.core

FORBIDDEN = {"slack_sdk", "slack_bolt", "redis", "rq", "sqlmodel", "sqlalchemy", "langgraph",
             "httpx", "requests", "fastapi", "socket", "subprocess"}


def test_core_imports_no_io_library():
    core = Path(bot.core.__file__).parent
    offenders = []
    for path in core.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in FORBIDDEN]
    assert offenders == []
