"""A PostgreSQL that accepts connections but never answers is given up on, not waited for forever."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from click.testing import CliRunner
from sqlalchemy.exc import OperationalError

from bot.cli import main
from bot.storage.db import PG_CONNECT_TIMEOUT, make_engine


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port whose connections the kernel accepts and nothing ever answers: a hung host."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        yield server.getsockname()[1]


@pytest.mark.timeout(PG_CONNECT_TIMEOUT * 6)
def test_a_silent_database_server_fails_the_connection_instead_of_hanging(silent_server):
    engine = make_engine(f"postgresql+psycopg://signoff:x@127.0.0.1:{silent_server}/signoff")
    with pytest.raises(OperationalError, match="timeout"):
        engine.connect()
    engine.dispose()
    r = CliRunner().invoke(main, ["db", "current"], env={
        "DATABASE_URL": f"postgresql+psycopg://signoff:x@127.0.0.1:{silent_server}/signoff"})
    assert r.exit_code != 0 and "cannot open the database" in r.output, r.output
