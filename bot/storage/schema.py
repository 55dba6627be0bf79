"""The database's schema revision: create, stamp, check and upgrade it, one process at a time."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine
from sqlmodel import SQLModel

from bot.errors import InvalidSettings
from bot.storage import tables  # noqa: F401 - registers the tables on SQLModel.metadata

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


def current(engine: Engine) -> str | None:
    """The database's revision; None for an empty database or one made before migrations."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def prepare(engine: Engine, *, upgrade: bool = False, migrations: Path = MIGRATIONS) -> str:
    """Bring the database to head and return it: create an empty one, stamp a pre-migrations one,
    upgrade an older one only when `upgrade` is set, and refuse anything else.

    `engine.begin()` must take SQLite's write lock (BEGIN IMMEDIATE): processes starting together
    on one database queue here, and the second finds the work done.
    """
    cfg = config(migrations)
    script = ScriptDirectory.from_config(cfg)
    wanted = head(migrations)
    with _serialised(engine) as conn:
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
        if at not in {r.revision for r in script.walk_revisions()}:
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
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Released at commit or rollback; waits for the process that holds it.
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_LOCK_KEY})
        yield conn
