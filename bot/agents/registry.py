"""Registered graphs (`SIGNOFF_GRAPHS`) and the shared checkpointer they run on."""

from __future__ import annotations

import importlib
import os
import sqlite3
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.errors import InvalidInput, InvalidSettings

if TYPE_CHECKING:  # langgraph is imported only when graphs are registered (it costs ~30 MB, 0.5 s)
    from langgraph.checkpoint.base import BaseCheckpointSaver
    from langgraph.pregel import Pregel


def make_checkpointer(url: str) -> BaseCheckpointSaver[Any]:
    """A SQLite (`sqlite:///path`) or PostgreSQL (`postgresql://…`) saver, tables created."""
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        from langgraph.checkpoint.sqlite import SqliteSaver

        conn = sqlite3.connect(path, check_same_thread=False, timeout=30)  # the saver locks itself
        conn.execute("PRAGMA journal_mode=WAL")
        saver: BaseCheckpointSaver[Any] = SqliteSaver(conn)
    elif url.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
        from langgraph.checkpoint.postgres import PostgresSaver
        from psycopg.conninfo import conninfo_to_dict
        from psycopg.rows import dict_row
        from psycopg_pool import ConnectionPool

        from bot.storage.db import libpq_defaults

        dsn = url.replace("postgresql+psycopg://", "postgresql://", 1)
        # check: a pooled connection is tried before it is handed out. Without it every resume
        # after a PostgreSQL restart failed once on a dead connection (AdminShutdown).
        pool = ConnectionPool(dsn, max_size=10, open=True, check=ConnectionPool.check_connection,
                              kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row,
                                      **libpq_defaults(given=conninfo_to_dict(dsn))})
        saver = PostgresSaver(pool)  # type: ignore[arg-type]
    else:
        raise InvalidSettings(f"SIGNOFF_CHECKPOINT_URL must be sqlite:///path or postgresql://…, got {url!r}")
    saver.setup()  # type: ignore[attr-defined]
    return saver


@dataclass(frozen=True)
class StateView:
    """A registration's `?show=a+b` (only these keys) or `?hide=a+b` (all but these) for its cards."""

    show: tuple[str, ...] | None = None
    hide: tuple[str, ...] = ()

    @classmethod
    def parse(cls, options: str) -> StateView:
        """`show=a+b` or `hide=c` (already checked by the settings' SIGNOFF_GRAPHS reader)."""
        if not options:
            return cls()
        which, _, keys = options.partition("=")
        names = tuple(k for k in keys.split("+") if k)
        return cls(show=names) if which == "show" else cls(hide=names)


class GraphRegistry:
    """Graphs by name, each compiled with the shared checkpointer."""

    def __init__(self, graphs: Mapping[str, Pregel], views: Mapping[str, StateView] | None = None) -> None:
        self._graphs = dict(graphs)
        self._views = dict(views or {})

    @classmethod
    def load(cls, entries: Mapping[str, str], checkpointer: BaseCheckpointSaver[Any]) -> GraphRegistry:
        """Import every entry; a bad one stops start-up naming the entry and the reason."""
        targets = {name: target.partition("?") for name, target in entries.items()}
        return cls({name: _load_one(name, target, checkpointer) for name, (target, _, _) in targets.items()},
                   {name: StateView.parse(options) for name, (_, _, options) in targets.items()})

    def view(self, name: str) -> StateView:
        """Which state keys the graph's breakpoint cards show (all but secret-named ones by default)."""
        return self._views.get(name, StateView())

    def get(self, name: str) -> Pregel:
        """The graph called `name`, or InvalidInput listing the registered ones."""
        try:
            return self._graphs[name]
        except KeyError:
            known = ", ".join(sorted(self._graphs)) or "none (set SIGNOFF_GRAPHS)"
            raise InvalidInput(f"no graph named {name!r}; registered: {known}",
                               fields={"graph": f"unknown graph {name!r}"}) from None

    @property
    def names(self) -> list[str]:
        """Registered graph names."""
        return sorted(self._graphs)


def _load_one(name: str, target: str, checkpointer: BaseCheckpointSaver[Any]) -> Pregel:
    from langgraph.pregel import Pregel

    module_name, _, attr_path = target.partition(":")
    where = f"SIGNOFF_GRAPHS entry {name}={target}"
    # From the working directory too: the `signoff` command's own path is its virtualenv's bin
    # folder, where `examples.tutorial_graph` is not. Last, so that nothing there (a `bot/` or
    # `redis.py` of the user's) shadows what Signoff imports, here or in processes started from here.
    if os.getcwd() not in sys.path:
        sys.path.append(os.getcwd())
    try:
        obj: Any = importlib.import_module(module_name)
    except Exception as e:  # noqa: BLE001 - any import failure stops start-up with its reason
        raise InvalidSettings(f"{where}: cannot import {module_name} (from the working directory "
                              f"{os.getcwd()} or PYTHONPATH): {e.__class__.__name__}: {e}") from e
    for part in attr_path.split("."):
        if not hasattr(obj, part):
            raise InvalidSettings(f"{where}: {module_name} has no attribute {attr_path!r}")
        obj = getattr(obj, part)
    if isinstance(obj, Pregel):
        return obj.copy(update={"checkpointer": checkpointer})
    if callable(obj):
        try:
            built = obj(checkpointer)
        except Exception as e:  # noqa: BLE001
            raise InvalidSettings(f"{where}: calling it with the checkpointer failed: {e}") from e
        if isinstance(built, Pregel):
            return built if built.checkpointer is checkpointer else built.copy(
                update={"checkpointer": checkpointer})
        raise InvalidSettings(f"{where}: the factory returned {type(built).__name__}, not a compiled graph")
    raise InvalidSettings(f"{where}: {type(obj).__name__} is neither a compiled graph nor a factory "
                          "taking a checkpointer")
