"""Benchmarks are modules that share only bench.harness: no reaching into each other, no sys.path."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
SHARED = ("bench.harness", "bench.graphs")  # what a benchmark may import from bench


def module_name(path: Path) -> str:
    """bench/harness/cli.py -> bench.harness.cli."""
    parts = path.relative_to(BENCH.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_shared(name: str) -> bool:
    """The harness (any part of it) and the graph the benchmarks register."""
    return any(name == s or name.startswith(s + ".") for s in SHARED) or name == "bench"


def violations(name: str, source: str) -> list[str]:
    """What in one bench module breaks the rules, as readable lines."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr == "path" and _is_name(node.value, "sys"):
            found.append(f"{name}:{node.lineno} touches sys.path")
        if isinstance(node, ast.Name) and node.id == "__package__":
            found.append(f"{name}:{node.lineno} checks __package__ (a script-mode import workaround)")
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "bench":
            for alias in node.names:
                if alias.name.startswith("_"):
                    found.append(f"{name}:{node.lineno} imports private {node.module}.{alias.name}")
            if not is_shared(node.module) or (node.module == "bench" and not _all_shared(node)):
                found.append(f"{name}:{node.lineno} imports from another benchmark, {node.module}")
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "bench" and not is_shared(alias.name):
                    found.append(f"{name}:{node.lineno} imports another benchmark, {alias.name}")
    return found


def _is_name(node: ast.expr, name: str) -> bool:
    return isinstance(node, ast.Name) and node.id == name


def _all_shared(node: ast.ImportFrom) -> bool:
    """`from bench import harness` is fine, `from bench import approval_loop` is not."""
    return all(is_shared(f"bench.{alias.name}") for alias in node.names)


BENCH_FILES = sorted(BENCH.rglob("*.py"))
BENCHMARKS = sorted(
    module_name(p) for p in BENCH.glob("*.py") if not is_shared(module_name(p)) and p.name != "__init__.py"
)


def test_the_benchmarks_are_found() -> None:
    assert {"bench.approval_loop", "bench.deadlines", "bench.graph_resume", "bench.remote_agents"} <= set(
        BENCHMARKS
    )


@pytest.mark.parametrize("path", BENCH_FILES, ids=lambda p: module_name(p))
def test_module_follows_the_rules_and_imports(path: Path) -> None:
    name = module_name(path)
    assert violations(name, path.read_text()) == []
    importlib.import_module(name)


@pytest.mark.parametrize("name", BENCHMARKS)
def test_benchmark_is_run_by_its_module(name: str) -> None:
    module = importlib.import_module(name)
    assert callable(module.main)
    args = module.parse_args(["--quick"])
    assert args.quick is True


def test_a_count_below_one_is_refused_before_anything_starts() -> None:
    module = importlib.import_module("bench.approval_loop")
    with pytest.raises(SystemExit) as raised:
        module.parse_args(["--clicks", "0"])
    assert raised.value.code == 2


def test_the_rules_catch_what_they_forbid() -> None:
    bad = """
import sys
from pathlib import Path
if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).parent.parent))
from bench.approval_loop import log
from bench.harness.stack import _seed
from bench import deadlines
import bench.remote_agents
"""
    found = violations("bench.example", bad)
    assert len(found) == 6, found
    assert violations("bench.example", "from bench.harness import log\nfrom bench import harness\n") == []
