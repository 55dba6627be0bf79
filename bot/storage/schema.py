"""The database's schema revision: create, stamp, check and upgrade it, one process at a time."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import insert, inspect, select, text
from sqlalchemy.engine import Connection, Engine
from sqlmodel import SQLModel

from bot.core.audit import GENESIS
from bot.errors import InvalidSettings
from bot.storage import tables  # also registers the tables on SQLModel.metadata

MIGRATIONS = Path(__file__).parent / "migrations"
# What a database made by `create_all` before migrations existed is: the tables are there,
# alembic_version is not. Its schema is this revision's.
PRE_MIGRATIONS_REVISION = "0001"
PRE_MIGRATIONS_TABLES = frozenset({"runs", "requests", "slack_messages", "audit_events", "audit_head",
                                   "callback_deliveries"})
# Any constant works; it only has to be the same in every Signoff process.
PG_LOCK_KEY = int.from_bytes(b"signoff", "big")


class SchemaMismatch(InvalidSettings):
    """The database's schema revision is not the one this code needs."""


def config(migrations: Path = MIGRATIONS) -> Config:
    """Alembic's configuration, built here so that nothing depends on the working directory."""
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations))
    return cfg


def head(migrations: Path = MIGRATIONS) -> str:
    """The revision this code needs."""
    found = ScriptDirectory.from_config(config(migrations)).get_current_head()
    if found is None:
        raise RuntimeError(f"no revisions in {migrations}")
    return found


def known(migrations: Path = MIGRATIONS) -> set[str]:
    """Every revision this code has."""
    return _revisions(ScriptDirectory.from_config(config(migrations)))


def _revisions(script: ScriptDirectory) -> set[str]:
    return {r.revision for r in script.walk_revisions()}


def current(engine: Engine) -> str | None:
    """The database's revision; None for an empty database or one made before migrations."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def prepare(engine: Engine, *, upgrade: bool = False, migrations: Path = MIGRATIONS) -> str:
    """Bring the database to head and return it: create an empty one, stamp a pre-migrations one,
    upgrade an older one only when `upgrade` is set, and refuse anything else. Adds the audit
    chain's head row when missing.

    `engine.begin()` must take SQLite's write lock (BEGIN IMMEDIATE): processes starting together
    on one database queue here, and the second finds the work done.
    """
    cfg = config(migrations)
    with _serialised(engine) as conn:
        at = _to_head(cfg, conn, upgrade=upgrade)
        # The chain's first link, here under the lock: two processes checking for it in
        # transactions of their own both insert it on PostgreSQL, and one fails.
        audit_head = SQLModel.metadata.tables[tables.AuditHead.__tablename__]
        if conn.execute(select(audit_head.c.id)).first() is None:
            conn.execute(insert(audit_head).values(id=1, seq=0, hash=GENESIS, keyed_from=1))
    return at


def _to_head(cfg: Config, conn: Connection, *, upgrade: bool) -> str:
    script = ScriptDirectory.from_config(cfg)
    wanted = script.get_current_head()
    assert wanted is not None, "no revisions"
    at = MigrationContext.configure(conn).get_current_revision()
    if at is None:
        present = set(inspect(conn).get_table_names()) & PRE_MIGRATIONS_TABLES
        if not present:
            # The cookbook way to a new database: the models as they are, stamped at head
            # (tests/storage/test_migrations.py proves they equal the revisions' result).
            SQLModel.metadata.create_all(conn)
            _stamp(cfg, conn, wanted)
            return wanted
        if present != PRE_MIGRATIONS_TABLES:
            raise SchemaMismatch(f"database has some of Signoff's tables ({', '.join(sorted(present))}) "
                                 "but no schema revision: restore it or start from an empty one")
        _stamp(cfg, conn, PRE_MIGRATIONS_REVISION)
        at = PRE_MIGRATIONS_REVISION
    if at == wanted:
        return at
    if at not in _revisions(script):
        raise SchemaMismatch(f"database schema is at revision {at}, which this Signoff does not know "
                             f"(it needs {wanted}): run the Signoff version that upgraded it")
    if not upgrade:
        raise SchemaMismatch(f"database schema is at revision {at}; this Signoff needs {wanted}: "
                             "run `signoff db upgrade`")
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, wanted)
    return wanted


def _stamp(cfg: Config, conn: Connection, revision: str) -> None:
    cfg.attributes["connection"] = conn
    command.stamp(cfg, revision)


@contextmanager
def _serialised(engine: Engine) -> Iterator[Connection]:
    """One transaction that no other Signoff process's schema work runs alongside."""
    if engine.dialect.name != "sqlite":
        with engine.begin() as conn:
            # Released at commit or rollback; waits for the process that holds it.
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_LOCK_KEY})
            yield conn
        return
    # SQLite changes most columns by copying the table and dropping the old one, and dropping a
    # table that rows reference fails with foreign keys on. SQLite's own recipe: keys off
    # (outside any transaction), change, check them all before commit, keys on again.
    with engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        assert raw is not None
        raw.execute("PRAGMA foreign_keys=OFF")
        try:
            with conn.begin():  # BEGIN IMMEDIATE: see the docstring of prepare()
                yield conn
                broken = conn.exec_driver_sql("PRAGMA foreign_key_check").first()
                if broken is not None:
                    raise SchemaMismatch(f"the upgrade left a row of {broken[0]} whose {broken[2]} "
                                         "is missing; nothing was changed")
        finally:
            raw.execute("PRAGMA foreign_keys=ON")
