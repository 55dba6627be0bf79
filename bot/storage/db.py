"""Engine construction and the two kinds of transaction the service opens."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Container, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlmodel import Session, create_engine

from bot.errors import Unavailable
from bot.storage import schema

# Seconds an agent or a clicker is asked to wait when the database cannot answer: about what a
# PostgreSQL restart or failover takes.
RETRY_AFTER = 30


def is_outage(error: BaseException) -> bool:
    """Whether `error` says the database cannot answer now (down, restarting, connection lost,
    pool exhausted), as opposed to a statement it refused (a constraint, a bug)."""
    if isinstance(error, PoolTimeout | OperationalError | InterfaceError):
        return True
    return isinstance(error, DBAPIError) and error.connection_invalidated


def unavailable(error: BaseException) -> Unavailable:
    """The Unavailable to raise for a database outage."""
    return Unavailable(f"the database cannot answer now ({error.__class__.__name__})",
                       retry_after=RETRY_AFTER)


# Seconds to wait for a PostgreSQL server to answer a new connection (libpq's connect_timeout,
# which covers the whole handshake). Without it a server or host that accepts the connection
# and then says nothing (hung, or behind a partition) held `signoff web` at start, and every
# request that needed a new connection, until TCP gave up (minutes).
PG_CONNECT_TIMEOUT = 10
# libpq's TCP keepalives: a connection whose server went away unannounced is found dead within
# about a minute instead of the kernel's two hours.
PG_KEEPALIVES = {"keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10, "keepalives_count": 3}


def libpq_defaults(*, given: Container[str]) -> dict[str, int]:
    """The connect timeout and keepalives for a PostgreSQL connection, but for the parameters its
    URL gives itself, and a connect timeout PGCONNECT_TIMEOUT gives (ours would override it)."""
    ours = dict(PG_KEEPALIVES)
    if not os.environ.get("PGCONNECT_TIMEOUT"):
        ours["connect_timeout"] = PG_CONNECT_TIMEOUT
    return {k: v for k, v in ours.items() if k not in given}


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for `url`; SQLite gets WAL, a busy timeout and write transactions that lock first;
    PostgreSQL a connect timeout and TCP keepalives (unless the URL sets them)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        if parsed.get_driver_name() == "psycopg":
            kwargs["connect_args"] = {**libpq_defaults(given=parsed.query), **kwargs.get("connect_args", {})}
        kwargs.setdefault("pool_pre_ping", True)
        kwargs.setdefault("pool_size", 10)
        kwargs.setdefault("max_overflow", 20)
        return create_engine(url, **kwargs)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    # Enough pooled connections for the web threads and Bolt's listeners: a pool that is too
    # small opens (and PRAGMA-configures) a new connection for every burst of clicks.
    kwargs.setdefault("pool_size", 20)
    kwargs.setdefault("max_overflow", 20)
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs)
    _sqlite_locking(engine)
    return engine


def _sqlite_locking(engine: Engine) -> None:
    # pysqlite's own BEGIN handling is off so we can say BEGIN IMMEDIATE for writes: a deferred
    # transaction that read first and then writes fails at once with SQLITE_BUSY under WAL when
    # another writer committed in between, whatever the busy timeout.
    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA busy_timeout=30000")
        _wal(cur)
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get("signoff_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _wal(cur: Any) -> None:
    """Switch the file to WAL (it stays so), retrying: two processes opening a new file at once
    get "database is locked" from this PRAGMA at once, without SQLite's busy handler waiting."""
    deadline = time.monotonic() + 30
    while True:
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


class Database:
    """The store's engine and its transactions; the service decides where each begins and ends."""

    def __init__(self, engine: Engine, *, audit_key: str | None = None) -> None:
        self.engine = engine
        # Handed to every write session: repo.append_event MACs the audit chain with it.
        self.audit_key = audit_key
        self._writer = engine.execution_options(signoff_write=True)
        # SQLite has one writer at a time. Threads of this process queue here, in order, instead
        # of in SQLite's busy handler, whose growing sleeps (up to 100 ms a try) made the tail.
        self._write_lock = threading.Lock() if engine.dialect.name == "sqlite" else None

    @classmethod
    def connect(cls, url: str, *, upgrade: bool = False, audit_key: str | None = None) -> Database:
        """Open the database at `url`, creating an empty one at the schema this code needs.

        A database at an older revision is upgraded only when `upgrade` is set (`signoff db
        upgrade`, `signoff dev`); otherwise, and at an unknown revision, SchemaMismatch.
        """
        db = cls(make_engine(url), audit_key=audit_key)
        try:
            db.create_tables(upgrade=upgrade)
        except BaseException:
            db.engine.dispose()
            raise
        return db

    def create_tables(self, *, upgrade: bool = False) -> None:
        """Bring the schema to head (see bot.storage.schema) and add the audit head row."""
        # In a write transaction: `web` and `worker` starting together on a new SQLite file
        # otherwise race, and the loser fails at once with "database is locked".
        with self._write_lock or nullcontext():
            schema.prepare(self._writer, upgrade=upgrade)

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only session; a database outage raises Unavailable."""
        try:
            with Session(self.engine, expire_on_commit=False) as s:
                yield s
        except (DBAPIError, PoolTimeout) as e:
            if is_outage(e):
                raise unavailable(e) from e
            raise

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A session committed on success and rolled back on error (SQLite: locked from BEGIN);
        a database outage raises Unavailable (every edge already words it: 503, "try again")."""
        try:
            with self._write_lock or nullcontext():
                with Session(self._writer, expire_on_commit=False, info={"audit_key": self.audit_key}) as s, \
                        s.begin():
                    yield s
        except (DBAPIError, PoolTimeout) as e:
            if is_outage(e):
                raise unavailable(e) from e
            raise

    @property
    def is_sqlite(self) -> bool:
        """Whether this is the SQLite backend."""
        return self.engine.dialect.name == "sqlite"
