"""Revisions and models agree; old databases upgrade keeping every row; mismatches refuse to start."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from click.testing import CliRunner
from sqlalchemy import Engine, MetaData, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel

from bot.cli import main
from bot.core.audit import GENESIS, event_hash
from bot.core.lifecycle import Verdict
from bot.storage import recovery, schema, tables
from bot.storage.db import Database, make_engine
from tests.conftest import AUDIT_KEY
from tests.graph_fixtures import effects_file, stack_overrides  # noqa: F401 - fixtures

REFUND = {"action": "send refund of $340 to customer 8821", "approved": False}


@pytest.fixture
def stack_url(database_url: str) -> str:
    """The stack in this module runs on SQLite and on PostgreSQL."""
    return database_url


def cli(url: str, *args: str, **env: str):
    return CliRunner().invoke(main, list(args), env={"DATABASE_URL": url, "SLACK_BOT_TOKEN": "",
                                                          "SIGNOFF_AUDIT_KEY": AUDIT_KEY, **env})


def diff(engine: Engine) -> list[object]:
    with engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}),
                                SQLModel.metadata)


def run_revisions(engine: Engine, revision: str = "head", migrations: Path = schema.MIGRATIONS) -> None:
    cfg = schema.config(migrations)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def rows(engine: Engine) -> dict[str, list[dict[str, object]]]:
    """Every row of every table as the database holds it (whatever its revision), by primary key."""
    found = MetaData()
    with engine.connect() as conn:
        found.reflect(conn)
        return {t.name: [dict(r._mapping) for r in conn.execute(t.select().order_by(*t.primary_key.columns))]
                for t in found.sorted_tables if t.name != "alembic_version"}


def kept(before: dict[str, list[dict[str, object]]], after: dict[str, list[dict[str, object]]]) -> list[str]:
    """What of `before` is not in `after` (columns added since are ignored): empty when every row and
    every value stayed."""
    lost = []
    for name, table in before.items():
        if len(after.get(name, [])) != len(table):
            lost.append(f"{name}: {len(table)} rows before, {len(after.get(name, []))} after")
            continue
        for old, new in zip(table, after[name], strict=True):
            lost += [f"{name}.{k} of {next(iter(old.values()))}: {v!r} -> {new.get(k)!r}"
                     for k, v in old.items() if new.get(k) != v]
    return lost


def made_before_migrations(engine: Engine) -> None:
    """Turn a database at head into what create_all left before migrations: revision 0001's tables,
    rows kept, its audit chain unkeyed, and no version table."""
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE requests DROP COLUMN reminders_told"))  # what revision 0005 added
        conn.execute(text("DROP INDEX ix_requests_created_by_status"))  # what revision 0004 added
        for column in ("item_routes", "item_approvals"):  # what revision 0002 added
            conn.execute(text(f"ALTER TABLE requests DROP COLUMN {column}"))
        conn.execute(text("ALTER TABLE audit_head DROP COLUMN keyed_from"))  # what 0003 added
        unkeyed_chain(conn)
        conn.execute(text("DROP TABLE alembic_version"))


def unkeyed_chain(conn) -> None:
    """Rewrite the stored chain as plain SHA-256, as Signoff wrote it before revision 0003."""
    prev = GENESIS
    events = conn.execute(text("SELECT seq, at, request_id, kind, actor, data FROM audit_events "
                               "ORDER BY seq")).all()
    for seq, at, request_id, kind, actor, data in events:
        data = json.loads(data) if isinstance(data, str) else data
        h = event_hash(seq=seq, at=at, request_id=request_id, kind=kind, actor=actor, data=data,
                       prev_hash=prev)
        conn.execute(text("UPDATE audit_events SET prev_hash = :p, hash = :h WHERE seq = :s"),
                     {"p": prev, "h": h, "s": seq})
        prev = h
    conn.execute(text("UPDATE audit_head SET hash = :h"), {"h": prev})


@pytest.mark.parametrize("made_by", ["revisions", "create_all"])
def test_models_and_revisions_make_the_same_schema(database_url, made_by):
    engine = make_engine(database_url)
    if made_by == "revisions":
        run_revisions(engine)
    else:
        SQLModel.metadata.create_all(engine)
    assert diff(engine) == []
    # The comparison sees a difference when there is one.
    with engine.begin() as conn:
        conn.execute(text("DROP INDEX ix_requests_status"))
    assert diff(engine) != []
    engine.dispose()


def test_a_fresh_database_is_created_at_head_and_current_prints_it(database_url):
    # Before: no SQLite file is created by looking (it is named, not made), an empty database
    # says none; both exit 1, so a deploy script can gate on `db current`.
    before = cli(database_url, "db", "current")
    said = before.output
    assert before.exit_code == 1 and ("no database at" in said or said.startswith("none ")), said
    if database_url.startswith("sqlite:///"):
        assert not Path(database_url.removeprefix("sqlite:///")).exists()
    r = cli(database_url, "db", "upgrade")
    assert r.exit_code == 0 and f"revision {schema.head()} (was none)" in r.output, r.output
    r = cli(database_url, "db", "current")
    assert r.exit_code == 0 and r.output.strip() == f"{schema.head()} (up to date)"


def fill(stack) -> None:
    """Requests, a vote refused, decisions, a graph run waiting and one finished: real events."""
    for _ in range(2):
        stack.create()
    req = stack.create()
    stack.run_jobs()
    stack.w.service.decide(req["id"], actor="U0ALICE", verdict=Verdict.APPROVE)
    for _ in range(2):
        r = stack.api.post("/v1/runs", json={"graph": "refund", "input": REFUND})
        assert r.status_code == 202, r.text
    stack.run_jobs()
    with stack.w.db.read() as s:
        waiting = s.exec(text("SELECT id FROM requests WHERE run_id IS NOT NULL")).scalars().first()
    stack.w.service.decide(waiting, actor="U0BOB", verdict=Verdict.APPROVE)
    stack.run_jobs()


def test_a_database_made_before_migrations_upgrades_with_every_row_intact(stack, database_url):
    fill(stack)
    engine = stack.w.db.engine
    made_before_migrations(engine)
    before = rows(engine)
    assert len(before["requests"]) == 5 and len(before["runs"]) == 2 and len(before["audit_events"]) > 10
    assert {r["status"] for r in before["runs"]} >= {"done", "waiting"}

    r = cli(database_url, "db", "upgrade")
    assert r.exit_code == 0, r.output
    assert schema.current(engine) == schema.head()
    after = rows(engine)
    assert kept(before, after) == []  # every row and value kept; the new columns added
    assert {r["item_routes"] for r in after["requests"]} == {None}  # read as request-level routes
    pending = next(r["id"] for r in after["requests"] if r["status"] == "pending" and not r["run_id"])
    assert stack.w.service.decide(pending, actor="U0ALICE", verdict=Verdict.APPROVE).status == "approved"
    r = cli(database_url, "audit", "verify")
    decided = len(before["audit_events"]) + 1  # the decision after the upgrade chains on, keyed
    assert r.exit_code == 0 and f"{decided} events, chain intact (1 keyed)" in r.output, r.output


def test_a_database_at_0004_upgrades_counting_every_fired_reminder_as_sent(stack, database_url):
    # Revision 0005 records which reminder the approvers were sent, so that one Redis lost is
    # sent again. Reminders fired before it must not all go out again after the upgrade.
    fill(stack)
    engine = stack.w.db._writer
    with engine.begin() as conn:  # the schema of revision 0004, reminders fired
        conn.execute(text("ALTER TABLE requests DROP COLUMN reminders_told"))
        conn.execute(text("UPDATE alembic_version SET version_num = '0004'"))
        conn.execute(text("UPDATE requests SET reminders_sent = 2 WHERE status = 'pending'"))
    before = rows(engine)
    assert "reminders_told" not in before["requests"][0]

    r = cli(database_url, "db", "upgrade")
    assert r.exit_code == 0, r.output
    after = rows(engine)
    assert kept(before, after) == []
    pending = [r for r in after["requests"] if r["status"] == "pending"]
    assert [(r["reminders_sent"], r["reminders_told"]) for r in pending] == [(2, 2)] * 3
    with stack.w.db.read() as s:
        assert recovery.unreminded(s) == []  # nothing owed, nothing sent twice


def test_an_upgrade_that_fails_is_one_line_and_leaves_the_database_as_it_was(stack, database_url):
    # Someone added revision 0005's column by hand: its migration then fails on it, midway
    # through the upgrade. A traceback used to be all the release step said.
    fill(stack)
    engine = stack.w.db._writer
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0004'"))
    before = rows(engine)
    r = cli(database_url, "db", "upgrade")
    assert r.exit_code == 1, r.output
    assert "the schema upgrade failed and was rolled back" in r.output and "reminders_told" in r.output
    assert "Traceback" not in r.output and len(r.output.strip().splitlines()) == 1, r.output
    assert schema.current(engine) == "0004" and rows(engine) == before
    assert cli(database_url, "db", "current").output.strip().startswith("0004")


def test_web_and_worker_stamp_a_database_made_before_migrations_then_ask_for_the_upgrade(database_url):
    engine = make_engine(database_url)
    run_revisions(engine)
    made_before_migrations(engine)
    assert schema.current(engine) is None
    with pytest.raises(schema.SchemaMismatch, match=f"at revision {schema.PRE_MIGRATIONS_REVISION}; "
                                                    f"this Signoff needs {schema.head()}"):
        Database.connect(database_url)
    assert schema.current(engine) is None  # refused: nothing changed
    assert cli(database_url, "db", "upgrade").exit_code == 0
    Database.connect(database_url).engine.dispose()
    assert schema.current(engine) == schema.head()
    engine.dispose()


def test_a_database_with_only_some_tables_and_no_revision_is_refused(sqlite_url):
    engine = make_engine(sqlite_url)
    tables.AuditEvent.__table__.create(engine)  # type: ignore[attr-defined]
    with pytest.raises(schema.SchemaMismatch, match="some of Signoff's tables .*audit_events"):
        Database.connect(sqlite_url)
    assert schema.current(engine) is None
    engine.dispose()


NEXT_REVISION = '''
"""A test-only revision after the real head."""
import sqlalchemy as sa
from alembic import op

revision = "0002_test"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A change SQLite can only make by copying the table, under rows that reference it.
    sqlite = op.get_bind().dialect.name == "sqlite"
    with op.batch_alter_table("requests", recreate="always" if sqlite else "auto") as batch:
        batch.add_column(sa.Column("test_note", sa.String(), nullable=True))
    op.execute("UPDATE requests SET test_note = 'migrated'")


def downgrade() -> None:
    op.drop_column("requests", "test_note")
'''


@pytest.fixture
def next_migrations(tmp_path) -> Path:
    """The real revisions plus one more: how the code looks the day a 0002 exists."""
    path = tmp_path / "migrations"
    shutil.copytree(schema.MIGRATIONS, path, ignore=shutil.ignore_patterns("__pycache__"))
    (path / "versions" / "0002_test.py").write_text(NEXT_REVISION.format(head=schema.head()))
    return path


def test_an_older_revision_is_refused_with_one_line_then_upgraded_keeping_rows(
        stack, database_url, next_migrations):
    fill(stack)
    engine = stack.w.db._writer
    before = rows(engine)
    with pytest.raises(schema.SchemaMismatch) as refused:
        schema.prepare(engine, migrations=next_migrations)
    assert str(refused.value) == (f"database schema is at revision {schema.head()}; this Signoff needs "
                                  "0002_test: run `signoff db upgrade`")
    assert schema.current(engine) == schema.head()  # refusing changed nothing

    assert schema.prepare(engine, upgrade=True, migrations=next_migrations) == "0002_test"
    assert kept(before, rows(engine)) == []  # the models' columns, untouched
    with engine.connect() as conn:
        notes = conn.execute(text("SELECT DISTINCT test_note FROM requests")).scalars().all()
    assert notes == ["migrated"]


@pytest.mark.parametrize("command_name", ["web", "worker"])
def test_web_and_worker_refuse_an_unknown_revision_with_one_line(database_url, redis_server, command_name):
    Database.connect(database_url).engine.dispose()
    engine = make_engine(database_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999_newer'"))
    r = cli(database_url, command_name, REDIS_URL=redis_server.url, SLACK_BOT_TOKEN="xoxb-x",
            SLACK_SIGNING_SECRET="s" * 32, SIGNOFF_API_TOKENS="agent:" + "t" * 32)
    assert r.exit_code == 1, (r.output, r.exception)
    assert r.output.strip().splitlines() == [
        f"Error: database schema is at revision 9999_newer, which this Signoff does not know (it needs "
        f"{schema.head()}): run the Signoff version that upgraded it"]
    assert schema.current(engine) == "9999_newer"
    engine.dispose()


CONNECT_AT = textwrap.dedent('''
    import sys, time
    from bot.storage.db import Database
    time.sleep(max(0.0, float(sys.argv[2]) - time.time()))
    Database.connect(sys.argv[1]).engine.dispose()
''')


@pytest.mark.parametrize("attempt", range(3))
def test_two_processes_creating_one_fresh_database_at_once_both_succeed(database_url, attempt):
    start = time.time() + 3  # past both interpreters' imports, so their connects collide
    procs = [subprocess.Popen([sys.executable, "-c", CONNECT_AT, database_url, str(start)],
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
    engine = make_engine(database_url)
    assert schema.current(engine) == schema.head() and diff(engine) == []
    engine.dispose()


BREAKING_REVISION = '''
"""A test-only revision that leaves requests pointing at runs that are gone."""
from alembic import op

revision = "0002_breaks"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DELETE FROM runs")


def downgrade() -> None:
    pass
'''


def test_an_upgrade_that_breaks_a_reference_changes_nothing(stack, database_url, tmp_path):
    fill(stack)
    engine = stack.w.db._writer
    before = rows(engine)
    migrations = tmp_path / "breaking"
    shutil.copytree(schema.MIGRATIONS, migrations, ignore=shutil.ignore_patterns("__pycache__"))
    (migrations / "versions" / "0002_breaks.py").write_text(BREAKING_REVISION.format(head=schema.head()))
    # SQLite (keys off while migrating) finds it in the check before commit; PostgreSQL at once.
    with pytest.raises((schema.SchemaMismatch, IntegrityError), match="requests|runs"):
        schema.prepare(engine, upgrade=True, migrations=migrations)
    assert schema.current(engine) == schema.head()
    assert rows(engine) == before
    if engine.dialect.name == "sqlite":  # the pooled connection got its foreign keys back
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_reading_commands_never_make_a_database_where_a_mistyped_url_points(tmp_path):
    # `audit verify` on a typo used to create and migrate an empty database and report
    # "audit log OK: 0 events, chain intact": an auditor would have read the wrong store as clean.
    typo = tmp_path / "sigonff.db"
    for words in (("audit", "verify"), ("audit", "export"), ("audit", "head"), ("db", "current")):
        r = cli(f"sqlite:///{typo}", *words)
        assert r.exit_code == 1 and "no database at" in r.output, (words, r.output)
        assert "DATABASE_URL" in r.output
    assert not typo.exists()
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()  # a file, but no Signoff schema in it
    r = cli(f"sqlite:///{empty}", "audit", "verify")
    assert r.exit_code == 1 and "holds no Signoff schema" in r.output, r.output
