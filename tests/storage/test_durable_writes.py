"""SQLite writes are on disk before `Database.write` returns, and the fsync that puts them there
is made after the write lock is released, shared by the writers that committed meanwhile."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bot.storage.db import Database


@pytest.fixture
def store(sqlite_url: str) -> Database:
    db = Database.connect(sqlite_url)
    with db.write() as s:
        s.execute(text("CREATE TABLE scratch (n INTEGER)"))
    return db


def _path(db: Database) -> str:
    return str(make_url(str(db.engine.url)).database)


def _other_writer_can_lock_and_sees(path: str) -> int:
    """Rows another connection sees, after taking SQLite's write lock without waiting."""
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # raises "database is locked" while a writer holds it
        seen = other.execute("SELECT count(*) FROM scratch").fetchone()[0]
        other.execute("ROLLBACK")
        return int(seen)
    finally:
        other.close()


def test_a_write_is_fsynced_before_it_returns_and_after_the_lock_is_released(store, monkeypatch):
    path, real_fsync, seen = _path(store), os.fsync, []

    def fsync(fd: int) -> None:
        seen.append((os.readlink(f"/proc/self/fd/{fd}"), store._write_lock.locked(),
                     _other_writer_can_lock_and_sees(path)))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    with store.write() as s:
        s.execute(text("INSERT INTO scratch VALUES (1)"))
        assert seen == []
    # One fsync, of the WAL, once the commit is visible to others and both locks are free: this
    # process's (its other threads' writes) and SQLite's (other processes').
    assert seen == [(str(Path(path).resolve()) + "-wal", False, 1)]
    with store.read() as s:  # the COMMIT itself waits for no disk: the WAL fsync above does
        assert s.execute(text("PRAGMA synchronous")).scalar() == 1  # NORMAL


def test_a_write_that_fails_syncs_nothing(store, monkeypatch):
    calls: list[int] = []
    monkeypatch.setattr(os, "fsync", calls.append)
    with pytest.raises(RuntimeError), store.write() as s:
        s.execute(text("INSERT INTO scratch VALUES (1)"))
        raise RuntimeError("refused")
    assert calls == []
    assert _other_writer_can_lock_and_sees(_path(store)) == 0


def test_writers_that_commit_during_an_fsync_share_the_next_one(store, monkeypatch):
    real_fsync, calls, first_started, release = os.fsync, [], threading.Event(), threading.Event()

    def fsync(fd: int) -> None:
        calls.append(fd)
        if len(calls) == 1:  # the first writer's fsync is slow; three more commit meanwhile
            first_started.set()
            release.wait(10)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)

    def write(n: int) -> None:
        with store.write() as s:
            s.execute(text("INSERT INTO scratch VALUES (:n)"), {"n": n})

    first = threading.Thread(target=write, args=(0,))
    first.start()
    assert first_started.wait(10)
    others = [threading.Thread(target=write, args=(n,)) for n in (1, 2, 3)]
    for t in others:
        t.start()
    deadline = time.monotonic() + 10
    while store._committed < 4 and time.monotonic() < deadline:  # all three committed, waiting to sync
        time.sleep(0.01)
    release.set()
    for t in (first, *others):
        t.join(10)
    assert len(calls) == 2, "the three commits made during the first fsync share one more"
    assert _other_writer_can_lock_and_sees(_path(store)) == 4
