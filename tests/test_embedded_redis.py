"""The embedded redis-server: reachable only by the data directory's owner, with the password."""

import os
import socket
import stat
from pathlib import Path

import pytest
from redis import Redis
from redis.exceptions import AuthenticationError

from bot.embedded_redis import EmbeddedRedis, private_dir, shared_embedded_redis


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


@pytest.fixture
def server(tmp_path: Path):
    s = EmbeddedRedis(tmp_path / "data").start()
    yield s
    s.stop()


def test_a_client_without_the_password_is_refused(server: EmbeddedRedis):
    with socket.socket(socket.AF_UNIX) as raw:
        raw.connect(str(server.socket))
        raw.sendall(b"*1\r\n$4\r\nPING\r\n")
        assert raw.recv(100).startswith(b"-NOAUTH")
    with pytest.raises(AuthenticationError):
        Redis(unix_socket_path=str(server.socket)).ping()
    assert Redis.from_url(server.url).ping()


def test_it_listens_on_no_tcp_port_and_keeps_the_password_off_its_command_line(server: EmbeddedRedis):
    assert server.url.startswith("unix://")
    assert server.process is not None
    cmdline = Path(f"/proc/{server.process.pid}/cmdline").read_bytes()
    assert server.password.encode() not in cmdline
    fd_dir = Path(f"/proc/{server.process.pid}/fd")
    links = [os.readlink(fd) for fd in fd_dir.iterdir()]
    socket_inodes = {link[len("socket:["):-1] for link in links if link.startswith("socket:[")}
    tcp = Path("/proc/net/tcp").read_text() + Path("/proc/net/tcp6").read_text()
    tcp_inodes = {row.split()[9] for row in tcp.splitlines()[1:] if "local_address" not in row}
    assert not socket_inodes & {i for i in tcp_inodes if i != "0"}


def test_its_files_are_the_owners_alone(server: EmbeddedRedis):
    Redis.from_url(server.url).set("k", "v")
    data = server.data_dir
    assert _mode(data) == 0o700
    files = list(data.rglob("*"))
    assert any(p.name.startswith("appendonly") for p in files)
    for p in files:
        assert _mode(p) & 0o077 == 0, f"{p.name} is {oct(_mode(p))}"


def test_a_long_data_dir_gets_a_short_private_socket(tmp_path: Path):
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    s = EmbeddedRedis(deep, persist=False).start()
    try:
        assert Redis.from_url(s.url).ping()
        assert _mode(s.socket.parent) == 0o700
    finally:
        s.stop()
    assert not s.socket.parent.exists()


def test_private_dir_tightens_what_an_older_version_left_readable(tmp_path: Path):
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    for name in ("signoff.db", "checkpoints.db-wal", "appendonly.aof", "run.sh"):
        (data / name).write_text("")
        (data / name).chmod(0o755)
    private_dir(data)
    modes = {p.name: _mode(p) for p in data.iterdir()}
    assert _mode(data) == 0o700
    # a data dir may be shared with other files: only Signoff's own are touched
    assert modes == {"signoff.db": 0o600, "checkpoints.db-wal": 0o600, "appendonly.aof": 0o600,
                     "run.sh": 0o755}


def test_a_second_process_shares_the_server_through_a_private_url_file(tmp_path: Path):
    url, owned = shared_embedded_redis(tmp_path / "data")
    try:
        assert owned is not None
        url_file = tmp_path / "data" / "redis.url"
        assert _mode(url_file) == 0o600 and url_file.read_text() == url
        again, second = shared_embedded_redis(tmp_path / "data")
        assert (again, second) == (url, None)
    finally:
        assert owned is not None
        owned.stop()


def test_a_client_of_the_server_reconnects_after_its_owner_restarts_it(tmp_path: Path):
    # `signoff worker` keeps the URL it read; when `signoff web` (the owner) restarts, the new
    # server had a new password, and the worker failed to authenticate for ever.
    first = EmbeddedRedis(tmp_path / "data").start()
    client = Redis.from_url(first.url)
    try:
        client.set("k", "v")
        first.stop()
        second = EmbeddedRedis(tmp_path / "data").start()
        try:
            assert second.url == first.url and client.get("k") == b"v"  # the same URL, and the AOF
        finally:
            second.stop()
    finally:
        client.close()
    assert _mode(tmp_path / "data" / "redis.password") == 0o600


def test_db_upgrade_as_the_first_command_makes_private_files(tmp_path: Path):
    # The release step often runs before web: its SQLite file and data dir were 0644 and 0755.
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith(("SIGNOFF_", "DATABASE_URL", "SLACK_"))}
    env |= {"SIGNOFF_DATA_DIR": str(tmp_path / "data"), "SIGNOFF_AUDIT_KEY": "k" * 32}
    done = subprocess.run([sys.executable, "-m", "bot.cli", "db", "upgrade"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert _mode(tmp_path / "data") == 0o700
    assert {p.name: _mode(p) for p in (tmp_path / "data").iterdir()} == {"signoff.db": 0o600}
