"""The Slack sandbox stands in for Slack, so it knows Slack's shapes and nothing of Signoff's code."""

from __future__ import annotations

import ast
from pathlib import Path

import slack_sandbox

PACKAGE = Path(slack_sandbox.__file__).resolve().parent
# Everything Signoff ships; the sandbox may use the standard library and third-party packages only.
OURS = {"bot", "blocks", "workers", "signoff_client"}


def imported_roots(source: str) -> set[str]:
    """Top-level package names a module's source imports, wherever in the module the import sits."""
    roots: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            # A relative import stays inside the sandbox package: it cannot reach ours.
            roots.add("slack_sandbox" if node.level else (node.module or "").split(".")[0])
        elif isinstance(node, ast.Call) and _names_import(node.func) and node.args:
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                roots.add(first.value.split(".")[0])
    return roots


def _names_import(func: ast.expr) -> bool:
    """`importlib.import_module(...)`, `import_module(...)` or `__import__(...)`."""
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
    return name in {"import_module", "__import__"}


def test_the_sandbox_imports_nothing_of_signoff():
    modules = sorted(PACKAGE.rglob("*.py"))
    assert len(modules) >= 10, modules  # the walk really sees the package
    crossing = {
        str(path.relative_to(PACKAGE)): sorted(imported_roots(path.read_text()) & OURS) for path in modules
    }
    assert {name: roots for name, roots in crossing.items() if roots} == {}


def test_the_walk_finds_every_kind_of_import():
    """The check above proves nothing unless the walker sees the imports it is meant to refuse."""
    source = (
        "import bot.core\n"
        "from blocks import ids\n"
        "def later():\n"
        "    from workers.queues import RQJobs\n"
        "    importlib.import_module('signoff_client.models')\n"
        "from . import shapes\n"
        "import json\n"
    )
    assert imported_roots(source) == {"bot", "blocks", "workers", "signoff_client", "slack_sandbox", "json"}
