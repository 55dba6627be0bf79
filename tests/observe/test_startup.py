"""`signoff web` / `worker` that cannot start say why in one line, and the running line waits for the port."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from bot.embedded_redis import free_port
from tests.conftest import process_env


def _env(tmp_path: Path, sandbox, **more: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("SIGNOFF_HOST", "PORT", "REDIS_URL", "DATABASE_URL", "PROMETHEUS_MULTIPROC_DIR")}
    return env | {"SIGNOFF_DATA_DIR": str(tmp_path), **process_env(sandbox.api_url),
                  "SIGNOFF_PORT": str(free_port()), **more}


def _fails(command: str, env: dict[str, str], cwd: Path, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "bot.cli", command, *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    return lines[0]


def test_a_busy_port_is_one_line_naming_the_port(sandbox, redis_server, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = _fails("web", _env(tmp_path, sandbox, SIGNOFF_PORT=str(port), REDIS_URL=redis_server.url),
                      tmp_path)
    assert f"port {port}" in line and "already in use" in line and "SIGNOFF_PORT" in line


def test_a_busy_sandbox_port_is_one_line_naming_how_to_move_it(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SIGNOFF_", "SLACK_", "REDIS_URL"))}
    env |= {"SIGNOFF_DATA_DIR": str(tmp_path / "data"), "SIGNOFF_PORT": str(free_port())}
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = _fails("dev", env, tmp_path, "--sandbox-port", str(port))
        assert f"port {port}" in line and "already in use" in line and "SIGNOFF_SANDBOX_PORT" in line
        # and the web's port is looked at before the sandbox starts
        web = _fails("dev", env | {"SIGNOFF_PORT": str(port)}, tmp_path, "--sandbox-port", str(free_port()))
        assert f"port {port}" in web and "SIGNOFF_PORT" in web
    # The same free port for both (a platform's PORT=8001): both checks passed, and uvicorn failed
    # with a line that did not say which setting to move.
    same = str(free_port())
    line = _fails("dev", env | {"PORT": same}, tmp_path, "--sandbox-port", same)
    assert f"both use port {same}" in line and "SIGNOFF_SANDBOX_PORT" in line


@pytest.mark.parametrize("command", ["web", "worker"])
def test_an_unreachable_redis_is_one_line(command, sandbox, tmp_path):
    line = _fails(command, _env(tmp_path, sandbox, REDIS_URL=f"redis://:secret@127.0.0.1:{free_port()}/0"),
                  tmp_path)
    assert "cannot reach Redis" in line and "REDIS_URL" in line and "secret" not in line


@pytest.mark.parametrize("command", ["web", "worker"])
def test_an_unreachable_database_is_one_line(command, sandbox, redis_server, tmp_path):
    url = f"postgresql+psycopg://signoff:hunter2@127.0.0.1:{free_port()}/signoff"
    line = _fails(command, _env(tmp_path, sandbox, REDIS_URL=redis_server.url, DATABASE_URL=url), tmp_path)
    assert "cannot open the database" in line and "DATABASE_URL" in line and "hunter2" not in line


def test_a_postgres_url_is_one_line_with_the_url_to_use(sandbox, redis_server, tmp_path):
    url = "postgres://signoff:hunter2@db.internal:5432/signoff"
    line = _fails("web", _env(tmp_path, sandbox, REDIS_URL=redis_server.url, DATABASE_URL=url), tmp_path)
    assert "postgresql+psycopg://signoff:***@db.internal:5432/signoff" in line and "hunter2" not in line


def test_the_running_line_comes_once_the_port_answers(sandbox, redis_server, tmp_path):
    port = free_port()
    env = _env(tmp_path, sandbox, SIGNOFF_PORT=str(port), REDIS_URL=redis_server.url)
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "web"], env=env, cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        seen = []
        while not seen or "Signoff is running" not in seen[-1]:
            seen.append(proc.stderr.readline())  # blocks until the process says something
            assert seen[-1], "".join(seen)  # the process ended without saying it runs
        assert str(port) in seen[-1]
        # Said only after binding: the port answers at once.
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def test_json_logs_are_one_object_per_line(sandbox, redis_server, tmp_path):
    import json

    env = _env(tmp_path, sandbox, REDIS_URL=redis_server.url, SIGNOFF_LOG_FORMAT="json",
               SIGNOFF_POLICY_FILE=str(Path(__file__).parents[1] / "policy_refunds.yaml"))
    script = ("from bot.cli import main; main(['policy', 'explain', '--action', 'x'], standalone_mode=False);"
              "import logging; logging.getLogger('signoff.lifecycle').info('created req_1', "
              "extra={'step': 'created', 'request_id': 'req_1', 'agent': 'a', 'rule': 'r'})")
    done = subprocess.run([sys.executable, "-c", script], env=env, cwd=tmp_path, capture_output=True,
                          text=True, timeout=60, check=True)
    [line] = [json.loads(x) for x in done.stderr.splitlines() if x.startswith("{")]
    assert line["step"] == "created" and line["request_id"] == "req_1" and line["level"] == "info"


def test_web_starts_without_warning_that_a_token_is_unused(sandbox, redis_server, tmp_path):
    # Bolt reads SLACK_BOT_TOKEN from the environment even when handed a client, and warned on
    # every start: noise an operator would chase.
    from bot import wiring
    from bot.settings import load_settings

    env = _env(tmp_path, sandbox, REDIS_URL=redis_server.url)
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        records: list[logging.LogRecord] = []
        handler = logging.Handler()
        handler.emit = records.append  # type: ignore[method-assign]
        logging.getLogger("slack_bolt").addHandler(handler)
        try:
            wiring.build(load_settings(env_file=None)).web_app()
        finally:
            logging.getLogger("slack_bolt").removeHandler(handler)
    assert not [r for r in records if "unused" in r.getMessage()], [r.getMessage() for r in records]


def _json_lines(text: str) -> list[dict]:
    """Every line of `text` as JSON; fails naming the first line that is not."""
    import json

    out = []
    for line in text.splitlines():
        if line.strip():
            try:
                out.append(json.loads(line))
            except ValueError:
                pytest.fail(f"not a JSON line: {line!r} in\n{text}")
    return out


@pytest.mark.parametrize("command", ["web", "worker"])
def test_in_json_mode_a_server_says_everything_in_json(command, sandbox, tmp_path):
    # No REDIS_URL: the embedded Redis is started, and says where.
    env = _env(tmp_path, sandbox, SIGNOFF_LOG_FORMAT="json",
               SIGNOFF_GRAPHS="tutorial=examples.tutorial_graph:graph")
    env["PYTHONPATH"] = str(Path(__file__).parents[2])
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli", command], env=env, cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    ready = "Signoff is running" if command == "web" else "taking jobs from"
    try:
        assert proc.stderr is not None
        seen = []
        while not any(ready in line for line in seen):
            line = proc.stderr.readline()
            assert line, "".join(seen)  # the process ended before it was ready
            seen.append(line)
        if command == "web":  # uvicorn's own lines too: it warns of a request it cannot parse
            with socket.create_connection(("127.0.0.1", int(env["SIGNOFF_PORT"]))) as bad:
                bad.sendall(b"NOT HTTP\r\n\r\n")
                bad.recv(100)
    finally:
        proc.terminate()
        rest = proc.communicate(timeout=30)[1]
    said = _json_lines("".join(seen) + rest)
    messages = [entry["message"] for entry in said]
    if command == "web":
        assert any("Invalid HTTP request" in m for m in messages), messages
    assert any(m.startswith("embedded redis-server at") for m in messages), messages
    assert "graphs: tutorial" in messages


@pytest.mark.parametrize("command", ["web", "worker"])
def test_in_json_mode_a_server_that_cannot_start_says_why_in_json(command, sandbox, tmp_path):
    unreachable = _env(tmp_path, sandbox, SIGNOFF_LOG_FORMAT="json", REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    [line] = _json_lines(_fails(command, unreachable, tmp_path))
    assert line["level"] == "error" and "cannot reach Redis" in line["message"]
    # Settings that do not load are said in JSON too, when SIGNOFF_LOG_FORMAT itself is readable.
    (tmp_path / ".env").write_text("SIGNOFF_LOG_FORMAT=json\n")
    bad = _env(tmp_path, sandbox, SIGNOFF_PORT="eighty")
    [line] = _json_lines(_fails(command, bad, tmp_path))
    assert line["level"] == "error" and "SIGNOFF_PORT" in line["message"]
    # So is an argument it refuses (click's usage lines and `Error:` were plain text).
    count = "--workers" if command == "web" else "--processes"
    [line] = _json_lines(_fails(command, bad, tmp_path, count, "0"))
    assert line["level"] == "error" and "0 is not in the range" in line["message"]
    assert f"signoff {command} --help" in line["message"]
    # Other commands keep click's plain line.
    assert _fails("audit", bad, tmp_path, "verify").startswith("Error: ")


def test_a_worker_stopped_right_after_it_says_it_is_ready_stops_cleanly(sandbox, tmp_path):
    # The ready line came before RQ installed its handlers: a SIGTERM then killed the worker
    # outright, leaving its embedded Redis's URL file (and the server) behind.
    import signal

    proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "worker"], env=_env(tmp_path, sandbox),
                            cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    seen = []
    while not seen or "taking jobs from" not in seen[-1]:
        seen.append(proc.stderr.readline())
        assert seen[-1], "".join(seen)
    proc.send_signal(signal.SIGTERM)
    rest = proc.communicate(timeout=60)[1]
    assert proc.returncode in (0, 128 + signal.SIGTERM), "".join(seen) + rest
    assert "Traceback" not in rest, rest
    assert not (tmp_path / "redis.url").exists()


@pytest.mark.parametrize("workers", ["1", "2"])
def test_slack_unreachable_or_refusing_the_token_is_one_line(workers, sandbox, redis_server, tmp_path):
    closed = f"http://127.0.0.1:{free_port()}/api/"
    env = _env(tmp_path, sandbox, REDIS_URL=redis_server.url, WEB_CONCURRENCY=workers)
    line = _fails("web", env | {"SLACK_API_URL": closed}, tmp_path)
    assert f"cannot reach Slack at {closed}" in line and "SLACK_API_URL" in line
    line = _fails("web", env | {"SLACK_BOT_TOKEN": "xoxb-" + "0" * 40}, tmp_path)
    assert "Slack refused SLACK_BOT_TOKEN (invalid_auth)" in line
    # A Slack (or a proxy) answering with an error page is not a refused token.
    with _answering(503, b"<html>Service Unavailable</html>") as url:
        line = _fails("web", env | {"SLACK_API_URL": url}, tmp_path)
    assert f"cannot reach Slack at {url}" in line and "SLACK_BOT_TOKEN" not in line, line


@contextlib.contextmanager
def _answering(status: int, body: bytes):
    """A local HTTP server answering every request with `status` and `body`; yields its URL."""
    import http.server
    import threading

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            self.send_response(status)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api/"
    finally:
        server.shutdown()
        server.server_close()


def test_in_json_mode_a_worker_through_a_redis_outage_writes_only_json(sandbox, tmp_path):
    # RQ's scheduler process logs its exception when Redis goes away, then re-raises it, and
    # multiprocessing printed a second, plain traceback to stderr: a log collector reading JSON
    # lines got a dozen lines that were not.
    import signal
    import time

    from bot.embedded_redis import EmbeddedRedis

    redis = EmbeddedRedis(tmp_path / "outage-redis", persist=False).start()
    try:
        env = _env(tmp_path, sandbox, SIGNOFF_LOG_FORMAT="json", REDIS_URL=redis.url)
        proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "worker"], env=env, cwd=tmp_path,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        assert proc.stderr is not None
        seen: list[str] = []
        while not seen or "taking jobs from" not in seen[-1]:
            seen.append(proc.stderr.readline())
            assert seen[-1], "".join(seen)
        redis.stop()
        time.sleep(4)  # the scheduler beats every second; the worker waits for Redis
        proc.send_signal(signal.SIGTERM)
        rest = proc.communicate(timeout=60)[1]
    finally:
        redis.stop()
    lines = _json_lines("".join(seen) + rest)
    assert any("Scheduler" in line["message"] for line in lines), lines  # the outage was met
