"""`signoff ...`: the entrypoints. Settings are loaded here and nowhere deeper."""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import click

from bot.core.vocabulary import Urgency
from bot.errors import InvalidInput, InvalidSettings
from bot.ops.preflight import check_port
from bot.settings import (
    Settings,
    audit_key_alone,
    dev_tokens,
    ensure_dev_audit_key,
    load_settings,
    redact_url,
    requested_log_format,
)

if TYPE_CHECKING:
    from bot.policy.model import Policy

log = logging.getLogger("signoff")


# `python -P -m`: run a module without putting the working directory first on the import path,
# where a `bot/` folder of the user's would shadow Signoff (graph modules are still found there:
# bot.agents.registry appends it).
_SAFE_M = ("-P", "-m")


def _say(message: str) -> None:
    from bot.observe import logs

    logs.say(message)


def _settings(dev: bool = False) -> Settings:
    from bot.observe import logs

    try:
        settings = load_settings(dev=dev)
    except InvalidSettings as e:
        _log_as_requested()  # said in the format asked for, if that much can be read
        raise click.ClickException(str(e)) from e
    logs.configure(fmt=settings.log_format, level=logging.getLogger().level)
    return settings


def _log_as_requested() -> None:
    """Log in the format SIGNOFF_LOG_FORMAT (environment or .env) asks for, when the settings
    themselves could not be read."""
    from bot.observe import logs

    logs.configure(fmt=requested_log_format(), level=logging.getLogger().level)


def _observed(settings: Settings) -> Settings:
    """Have this process's metrics written where every Signoff process on this data dir adds up."""
    from bot.observe.paths import enable_multiprocess, multiproc_dir

    enable_multiprocess(multiproc_dir(settings.data_dir))
    return settings


def _private_files(settings: Settings) -> None:
    """The store, checkpoints and Redis files hold every decision and secret: the owner's alone,
    whichever command makes them first."""
    from bot.embedded_redis import private_dir

    os.umask(0o077)
    private_dir(settings.data_dir)


@contextlib.contextmanager
def _redis(settings: Settings) -> Iterator[Settings]:
    """Settings with a reachable REDIS_URL, starting the embedded server when none is set."""
    from bot.embedded_redis import shared_embedded_redis

    _private_files(settings)
    if settings.redis_url is not None:
        yield settings
        return
    url, owned = shared_embedded_redis(settings.data_dir)
    _say(f"embedded redis-server at {redact_url(url)}" + ("" if owned else " (shared)"))
    try:
        yield settings.with_overrides(redis_url=url)
    finally:
        if owned is not None:
            owned.stop()
            (settings.data_dir / "redis.url").unlink(missing_ok=True)


def _exit_on_signals() -> None:
    """Turn SIGTERM (like SIGINT) into an exception, so `finally` blocks stop our children.

    uvicorn re-raises the signal after its own shutdown; with the default SIGTERM action the
    process would die there, leaving the worker and redis-server running.
    """
    def stop(signum: int, frame: object) -> None:
        # A second signal must not interrupt the cleanup the first one started.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)


# Commands whose stderr is a log stream (a supervisor or platform collects it): in JSON log mode,
# what they say about themselves and why they stopped are JSON lines too.
_SERVERS = ("web", "worker")


class _Signoff(click.Group):
    """`signoff`: a server command in JSON log mode stops with an error record, not `Error: …`."""

    def invoke(self, ctx: click.Context) -> Any:
        from bot.observe import logs

        try:
            return super().invoke(ctx)
        except click.ClickException as e:
            if ctx.invoked_subcommand not in _SERVERS:
                raise
            if not logs.is_json():  # stopped before settings were read (e.g. a bad argument)
                _log_as_requested()
                if not logs.is_json():
                    raise
            # A bad argument says how to see the command's usage, as click's own line does.
            help_ = f"signoff {ctx.invoked_subcommand} --help"
            logs.fail(e.format_message() + (f" (see `{help_}`)" if isinstance(e, click.UsageError) else ""))
            raise click.exceptions.Exit(e.exit_code) from e


@click.group(cls=_Signoff)
@click.version_option(package_name="signoff", prog_name="signoff")
@click.option("-v", "--verbose", is_flag=True, help="Log at DEBUG level.")
def main(verbose: bool) -> None:
    """Signoff: Slack approvals for AI agents."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not verbose:
        from bot.observe.logs import quiet_noisy

        quiet_noisy()


@main.command()
@click.option("--workers", type=click.IntRange(1, 64), default=None,
              help="Web processes sharing the port [default: WEB_CONCURRENCY, else 1].")
def web(workers: int | None) -> None:
    """Serve the agent API, Slack's endpoint (or Socket Mode) and /healthz."""
    _exit_on_signals()
    settings = _observed(_settings())
    _preflight(lambda: check_port(settings.host, settings.port))
    with _redis(settings) as settings:
        workers = workers or settings.web_workers
        if workers > 1:
            _serve_workers(settings, workers)
        else:
            _serve(settings)


def _serve_workers(settings: Settings, workers: int) -> None:
    """N uvicorn worker processes, each building its own app from the environment."""
    import uvicorn

    if settings.slack_app_token is not None:
        # Every worker would open its own Socket Mode connection and Slack would spread events
        # over them; one process holds the socket, so run one web process in Socket Mode.
        raise click.ClickException("Socket Mode (SLACK_APP_TOKEN) runs in one web process: "
                                   "unset WEB_CONCURRENCY / --workers, or serve Slack over HTTP")
    w = _build(settings)  # checked here once, so a bad policy or graph stops before any worker
    _load_graphs(w)
    _bolt(w)  # and Slack, which each worker asks again
    w.db.engine.dispose()
    # The workers read the environment again: the embedded Redis this process started must be in it.
    os.environ["REDIS_URL"] = settings.redis_url or ""
    _say(f"web: {workers} worker processes on {settings.host}:{settings.port}")
    threading.Thread(target=_say_once_answering, args=(settings.host, settings.port), daemon=True,
                     name="signoff-announce").start()
    uvicorn.run("bot.api.asgi:app_from_env", factory=True, workers=workers, host=settings.host,
                port=settings.port, log_level="warning", log_config=None,
                http="bot.api.asgi:NoDelayHttpToolsProtocol")


def _say_once_answering(host: str, port: int, *, patience: float = 300.0) -> None:
    """`Signoff is running at …` once a worker process answers: the port is bound by uvicorn's
    supervisor before any worker serves it, so binding alone says nothing."""
    import http.client
    import json
    import time

    probe = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    deadline = time.monotonic() + patience
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection(probe, port, timeout=2)
            connection.request("GET", "/healthz")
            answer = json.loads(connection.getresponse().read())
            connection.close()
        except (OSError, http.client.HTTPException, ValueError):
            time.sleep(0.1)
            continue
        if isinstance(answer, dict) and "status" in answer:  # Signoff's /healthz, not another server
            _say(f"Signoff is running at http://{host}:{port}")
            return
    log.warning("web: no worker process answered on port %d within %.0f s", port, patience)


def _preflight(check: Callable[[], None]) -> None:
    from bot.ops.preflight import StartupFailure

    try:
        check()
    except StartupFailure as e:
        raise click.ClickException(str(e)) from e


def _serve(settings: Settings, built: Any = None, *, announce: Callable[[], None] | None = None) -> None:
    from bot.api.server import serve

    w = built
    if w is None:  # `dev` passes what it built and checked already
        w = _build(settings)
        _load_graphs(w)
    bolt = _bolt(w)
    if settings.slack_app_token is not None:
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        SocketModeHandler(bolt, settings.slack_app_token).connect()  # runs on its own threads
        _say("Slack: Socket Mode connected")
    base = f"http://{settings.host}:{settings.port}"
    serve(w.web_app(bolt), host=settings.host, port=settings.port,
          on_started=announce or (lambda: _say(f"Signoff is running at {base}")))


def _bolt(w: Any) -> Any:
    """The Bolt app, which asks Slack (auth.test) who the token is: a Slack that cannot be reached
    or refuses the token stops start-up with one line, not a traceback."""
    from slack_bolt.error import BoltError
    from slack_sdk.errors import SlackApiError, SlackClientError

    from bot.observe.logs import silenced
    from bot.ops.preflight import first_line
    from bot.slack.client import token_refused, what_slack_said

    unreachable = (f"cannot reach Slack at {w.settings.slack_api_url} ({{}}): check SLACK_API_URL and "
                   "the network, then start again")
    try:
        with silenced("slack_sdk"):
            # Asked first, because Bolt's own check turns any failed answer (a 503 page, a proxy's,
            # a wrong URL) into the same error as a refused token.
            w.slack.auth_test()
            return w.bolt_app()
    except SlackApiError as e:
        if refused := token_refused(e):
            raise click.ClickException(f"Slack refused SLACK_BOT_TOKEN ({refused}): copy the Bot User OAuth "
                                       "Token from your Slack app again") from e
        raise click.ClickException(unreachable.format(f"it answered {what_slack_said(e)}")) from e
    except (BoltError, SlackClientError, OSError) as e:
        raise click.ClickException(unreachable.format(first_line(e))) from e


def _build(settings: Settings, *, serves_agents: bool = True):  # noqa: ANN202 - Wiring stays lazy
    """Connect everything; a bad policy file stops the process with its line and reason."""
    from bot import wiring
    from bot.ops.preflight import check_redis

    assert settings.redis_url is not None
    _preflight(lambda: check_redis(settings.redis_url or ""))
    try:
        with _opening(settings.database_url):
            return wiring.build(settings, serves_agents=serves_agents)
    except InvalidSettings as e:
        raise click.ClickException(str(e)) from e


@contextlib.contextmanager
def _opening(url: str) -> Iterator[None]:
    """A database that cannot be opened (unreachable or silent server, bad credentials, missing
    driver) stops the command with one line saying what to check, not a traceback."""
    from sqlalchemy.exc import SQLAlchemyError

    from bot.ops.preflight import database_problem

    try:
        yield
    except (SQLAlchemyError, OSError) as e:
        raise click.ClickException(str(database_problem(url, e))) from e


def _database(settings: Settings, *, upgrade: bool = False):  # noqa: ANN202 - Database stays lazy
    """The database, at the schema this code needs; a mismatch stops with one line saying why."""
    _revision(settings.database_url)  # one line if it cannot be opened; a failing upgrade says more
    return _connect(settings, upgrade=upgrade)


def _connect(settings: Settings, *, upgrade: bool):  # noqa: ANN202 - Database stays lazy
    """_database, for a caller that has just read the revision (so the database opens)."""
    from sqlalchemy.exc import SQLAlchemyError

    from bot.ops.preflight import first_line
    from bot.storage.db import Database

    try:
        return Database.connect(settings.database_url, upgrade=upgrade, audit_key=settings.audit_key)
    except InvalidSettings as e:
        raise click.ClickException(str(e)) from e
    except SQLAlchemyError as e:
        if not upgrade:
            raise
        # The whole upgrade is one transaction (bot.storage.schema.prepare): nothing of it stayed.
        raise click.ClickException(
            f"the schema upgrade failed and was rolled back, so the database is as it was "
            f"({first_line(e)}): fix the cause and run `signoff db upgrade` again") from e


def _load_graphs(w: object) -> None:
    """Import the registered graphs now, so a bad SIGNOFF_GRAPHS entry stops start-up."""
    try:
        names = w.registry.names  # type: ignore[attr-defined]
    except InvalidSettings as e:
        raise click.ClickException(str(e)) from e
    if names:
        _say(f"graphs: {', '.join(names)}")


@main.command()
@click.argument("graph")
@click.option("--input", "input_json", default="{}", show_default=True, help="The graph's input, as JSON.")
@click.option("--thread-id", default=None, help="Thread to run on (default: the run id).")
@click.option("--approver", "approvers", multiple=True, help="Who decides its interrupts (repeatable).")
@click.option("--channel", default=None, help="Channel id for its cards.")
@click.option("--requester", default=None, help="Who asks (a Slack user id shows as a mention).")
def run(graph: str, input_json: str, thread_id: str | None, approvers: tuple[str, ...],
        channel: str | None, requester: str | None) -> None:
    """Start a run of a registered graph; a worker executes it. Prints the run id.

    With SIGNOFF_URL and SIGNOFF_TOKEN set (as `signoff dev` prints them) it asks that server's
    API; otherwise it starts the run itself, from this machine's settings."""
    import json

    from bot import wiring
    from bot.agents.runs import NewRun
    from bot.errors import SignoffError

    try:
        graph_input = json.loads(input_json)
    except ValueError as e:
        raise click.BadParameter(f"not JSON: {e}", param_hint="--input") from e
    if (url := os.environ.get("SIGNOFF_URL")) and (token := os.environ.get("SIGNOFF_TOKEN")):
        click.echo(_start_run_over_http(url, token, {
            "graph": graph, "input": graph_input, "thread_id": thread_id, "requester": requester,
            "approvers": list(approvers), "channel": channel}))
        return
    with _redis(_settings()) as settings:
        w = wiring.build(settings)
        try:
            started = w.runs.start(NewRun(graph=graph, input=graph_input, thread_id=thread_id,
                                          requester=requester, approvers=approvers, channel=channel),
                                   agent="cli")
        except SignoffError as e:
            raise click.ClickException(str(e)) from e
    click.echo(started.id)


def _start_run_over_http(url: str, token: str, body: dict[str, Any]) -> str:
    """POST /v1/runs to the server at `url` (httpx, not signoff_client: the server installs without
    the client); the run's id, or one line saying why not."""
    import httpx

    try:
        answer = httpx.post(f"{url.rstrip('/')}/v1/runs", headers={"Authorization": f"Bearer {token}"},
                            json={k: v for k, v in body.items() if v not in (None, [])}, timeout=30)
    except httpx.HTTPError as e:
        raise click.ClickException(f"{url}: cannot reach Signoff ({e.__class__.__name__}: {e})") from e
    try:
        said = answer.json()
    except ValueError:
        said = {}
    if answer.status_code != 202:
        raise click.ClickException(f"{url}: {answer.status_code} {said.get('detail') or answer.text[:200]}")
    return str(said["id"])


@main.command()
@click.option("--burst", is_flag=True, help="Exit once the queues are empty.")
@click.option("--processes", type=click.IntRange(1, 64), default=None,
              help="Worker processes to run and restart [default: SIGNOFF_WORKER_PROCESSES, else 1].")
def worker(burst: bool, processes: int | None) -> None:
    """Run an RQ worker (with the scheduler) for every Signoff queue."""
    # Until RQ installs its own handlers (a warm stop), a stop still runs the `finally` blocks
    # that stop the sweeper and an embedded Redis.
    _exit_on_signals()
    settings = _observed(_settings())
    processes = processes or settings.worker_processes
    with _redis(settings) as settings:
        if processes > 1:
            _supervise(settings, processes, burst=burst)
        else:
            _work(settings, burst=burst)


def _supervise(settings: Settings, processes: int, *, burst: bool) -> None:
    """N `signoff worker` children, each with its sweeper thread; one that dies is restarted."""
    from bot.embedded_redis import die_with_parent
    from bot.supervisor import Supervisor

    _build(settings).db.engine.dispose()  # a bad policy or store stops here, not in N restart loops
    # --processes 1: a child must not read SIGNOFF_WORKER_PROCESSES and start workers of its own.
    argv = [sys.executable, *_SAFE_M, "bot.cli", "worker", "--processes", "1",
            *(["--burst"] if burst else [])]
    env = {**os.environ, "REDIS_URL": settings.redis_url or ""}
    _say(f"worker: supervising {processes} worker processes")
    Supervisor(argv, processes, env, preexec=die_with_parent(), restart=not burst).run()


def _work(settings: Settings, *, burst: bool) -> None:
    from workers import graphs, runtime

    w = _build(settings, serves_agents=False)
    _load_graphs(w)
    w.clock()  # measures the offset to the database's clock (and warns beyond SIGNOFF_MAX_CLOCK_SKEW)
    runtime.install(w.job_context())
    from workers.liveness import Heartbeat, worker_name

    # The heartbeat beats before the first job: without it a live worker's jobs look abandoned.
    heartbeat = Heartbeat(w.redis, worker_name(), lease=settings.resume_lease)
    heartbeat.beat()
    heartbeat.start()
    if recovered := graphs.recover():
        _say(f"queued {recovered} decided request(s) whose graph was not resumed yet")
    from workers import queues
    from workers.deadlines import Sweeper
    from workers.notices import Teller

    sweeper = Sweeper(w.job_context(), interval=settings.sweep_interval,
                      deadline_interval=settings.deadline_interval)
    teller = Teller(w.redis, w.slack)
    sweeper.start()
    teller.start()
    _say(f"worker {heartbeat.worker}: taking jobs from {', '.join(queues.ALL)}")
    try:
        while _serve_jobs(w, heartbeat, burst=burst):
            heartbeat = _new_heartbeat(w, settings)
    finally:
        # Stopped before an embedded Redis stops under them (the Teller would log the closed socket).
        sweeper.stopped.set()
        teller.stop()
        teller.join(timeout=teller.wait + 1)


def _serve_jobs(w: Any, heartbeat: Any, *, burst: bool) -> bool:
    """Run RQ's worker under `heartbeat`'s name until it stops; True when Redis went away under it.

    RQ quits on a Redis error that reaches its main loop (one that ends a job, or its heartbeat
    after one), and without this `signoff worker` would exit in an outage that found it busy.
    """
    from redis import Redis
    from redis.exceptions import RedisError

    from bot.wiring import REDIS_TIMEOUT
    from workers import queues
    from workers.rq_worker import SignoffWorker

    # A SimpleWorker runs jobs in this process: libraries and the DB pool are paid for once, and
    # no pooled connection is ever shared across a fork. It gets a Redis client of its own: it
    # waits minutes for a job (and raises its client's socket timeout to match), where every
    # other call must give up within REDIS_TIMEOUT.
    connection = Redis.from_url(w.settings.redis_url, socket_connect_timeout=REDIS_TIMEOUT)
    rq_worker = SignoffWorker(list(queues.ALL), connection=connection, name=heartbeat.worker)
    # RQ doubles its wait between reconnects up to 60 s: after a 30 s outage the worker would
    # sleep ~30 s more with the owed jobs already queued. Try every second instead.
    rq_worker.max_connection_wait_time = queues.RECONNECT_EVERY
    try:
        rq_worker.work(burst=burst, with_scheduler=True, logging_level="WARNING")
    except RedisError as e:  # raised from RQ's teardown, when it cannot register its death
        log.warning("worker: Redis went away under RQ's worker (%s)", e)
    finally:
        heartbeat.stop()
        connection.close()  # a new worker (and client) follows an outage
    # Set by RQ's SIGTERM/SIGINT handler: a stop asked for, not a quit on a Redis error.
    stopping = getattr(rq_worker, "_shutdown_requested_date", None) is not None
    return not burst and not stopping


def _new_heartbeat(w: Any, settings: Settings) -> Any:
    """A worker name and its beating heartbeat, once Redis answers again (a stop signal meanwhile
    ends the process: RQ's handler raises StopRequested)."""
    import time

    from redis.exceptions import RedisError
    from rq.exceptions import StopRequested

    from workers import queues
    from workers.liveness import Heartbeat, worker_name

    while True:
        try:
            time.sleep(queues.RECONNECT_EVERY)
            heartbeat = Heartbeat(w.redis, worker_name(), lease=settings.resume_lease)
            heartbeat.beat()
        except RedisError:
            continue
        except StopRequested:
            raise SystemExit(0) from None
        heartbeat.start()
        log.warning("worker: Redis answers again; taking jobs as %s", heartbeat.worker)
        return heartbeat


@main.command()
@click.option("--port", type=int, default=None,
              help="Port of the web process [default: PORT, else SIGNOFF_PORT, else 8000].")
@click.option("--sandbox-port", type=int, default=None,
              help="Port of the Slack sandbox [default: SIGNOFF_SANDBOX_PORT, else 8001].")
def dev(port: int | None, sandbox_port: int | None) -> None:
    """Everything in one command: web, worker, embedded Redis, SQLite, and the Slack sandbox."""
    _exit_on_signals()
    settings = ensure_dev_audit_key(_settings(dev=True))
    if port is not None:
        settings = settings.with_overrides(port=port)
    sandbox_port = settings.sandbox_port if sandbox_port is None else sandbox_port  # the env or .env's
    # Both ports before anything starts: a busy one is one line, never a traceback.
    _preflight(lambda: check_port(settings.host, settings.port))
    sandbox = None
    if settings.uses_sandbox:
        if sandbox_port == settings.port:  # both free now; the second to bind would fail later
            raise click.ClickException(
                f"the web process and the Slack sandbox would both use port {sandbox_port}: set "
                "SIGNOFF_SANDBOX_PORT (or --sandbox-port) to another port")
        _preflight(lambda: check_port("127.0.0.1", sandbox_port, setting="SIGNOFF_SANDBOX_PORT "
                                      "(or --sandbox-port)", hosts="the sandbox's address"))
        sandbox, settings = _start_sandbox(settings, sandbox_port)
    if not settings.api_tokens:
        # An agent's token, and a UI's that may decide for people (the decision API): the same
        # at every start on this data directory.
        kept = dev_tokens(settings.data_dir)
        agent, ui = kept["agent"], kept["ui"]
        settings = settings.with_overrides(api_tokens={agent: "dev-agent", ui: "dev-ui"},
                                           api_scopes={ui: frozenset({"decide"})},
                                           callback_secrets={"dev-agent": (kept["callback_secret"],)})
    _database(settings, upgrade=True).engine.dispose()  # dev follows the code's schema by itself
    with _redis(_observed(settings)) as settings:
        w = _build(settings)  # a bad policy or graph entry stops here, before anything starts
        _load_graphs(w)
        from bot.embedded_redis import die_with_parent

        # Its own process group, as Redis's: on Ctrl-C this process stops it, then Redis.
        worker_proc = subprocess.Popen([sys.executable, *_SAFE_M, "bot.cli", "worker"],
                                       env={**os.environ, **_env_of(settings)}, process_group=0,
                                       stdin=subprocess.DEVNULL,  # a node's input() must not stop it
                                       preexec_fn=die_with_parent())  # noqa: PLW1509 - a crash too
        try:
            _serve(settings, w, announce=lambda: _print_welcome(settings, sandbox, policy=w.service.policy))
        finally:
            _stop(worker_proc)
            if sandbox is not None:
                sandbox.stop()


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM a child (RQ finishes its current job), SIGKILL it if that takes too long."""
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _start_sandbox(settings: Settings, port: int):  # noqa: ANN202 - sandbox type stays lazy
    from slack_sandbox.server import SlackSandbox

    secret, token = secrets.token_hex(16), "xoxb-sandbox-" + secrets.token_hex(8)
    sandbox = SlackSandbox.start(signing_secret=secret, bot_token=token, port=port)
    for uid, name in (("U0ALICE", "alice"), ("U0BOB", "bob"), ("U0CAROL", "carol")):
        sandbox.add_user(uid, name=name, email=f"{name}@example.com", real_name=name.title())
    sandbox.add_usergroup("S0FINANCE", handle="finance", users=["U0ALICE", "U0BOB"])
    sandbox.add_usergroup("S0OPS", handle="ops", users=["U0CAROL"])  # examples/agents-policy.yml's
    sandbox.add_channel("C0APPROVALS", name="approvals")
    sandbox.events_url = f"http://127.0.0.1:{settings.port}/slack/events"
    return sandbox, settings.with_overrides(
        slack_api_url=sandbox.api_url, slack_bot_token=token,
        slack_signing_secret=secret, default_channel=settings.default_channel or "C0APPROVALS",
    )


def _env_of(settings: Settings) -> dict[str, str]:
    """The environment that makes a child process load these same settings."""
    env = {
        "SIGNOFF_DATA_DIR": str(settings.data_dir), "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url or "", "SLACK_API_URL": settings.slack_api_url,
        "SLACK_BOT_TOKEN": settings.slack_bot_token or "",
        "SLACK_SIGNING_SECRET": settings.slack_signing_secret or "",
        "SIGNOFF_API_TOKENS": ",".join(
            f"{n}:{t}" + (":" + "+".join(sorted(settings.api_scopes[t])) if t in settings.api_scopes else "")
            for t, n in settings.api_tokens.items()),
        "SIGNOFF_CALLBACK_SECRETS": ",".join(f"{n}:{s}" for n, ss in settings.callback_secrets.items()
                                             for s in ss),
        "SIGNOFF_AUDIT_KEY": settings.audit_key or "",
    }
    if settings.default_channel:
        env["SIGNOFF_DEFAULT_CHANNEL"] = settings.default_channel
    return env


def _print_welcome(settings: Settings, sandbox: object | None, *, policy: Policy) -> None:
    token = next((t for t in settings.api_tokens if t not in settings.api_scopes), None) or next(
        iter(settings.api_tokens))
    ui = next((t for t, scopes in settings.api_scopes.items() if "decide" in scopes), None)
    # The newest callback secret of that agent: what its callback receiver verifies with.
    signer = settings.callback_secrets.get(settings.api_tokens[token], ())
    # Listening on every interface (PORT set) is reached here through loopback.
    base = f"http://{'127.0.0.1' if settings.host in ('0.0.0.0', '::') else settings.host}:{settings.port}"
    lines = [
        "", "Signoff is running.",
        f"  agent API     {base}/v1   (OpenAPI docs: {base}/docs)",
        f"  API token     {token}",
        *([f"  callbacks     signed with {signer[-1]}"] if signer else []),
        f"  database      {redact_url(settings.database_url)}",
        f"  redis         {redact_url(settings.redis_url or '')}",
    ]
    if sandbox is not None:
        lines += [
            f"  Slack sandbox {getattr(sandbox, 'url', '')}/   (open it to see cards and click as "
            "alice, bob or carol)",
        ]
    exports = f"export SIGNOFF_URL={base} SIGNOFF_TOKEN={token} TOKEN={token}"
    if ui is not None:
        exports += f" UI_TOKEN={ui}"
    # The sample names its approvers unless the policy's rule for it does (it then refuses any).
    from bot.policy.explain import match

    rule = match(policy, action="issue_refund", args={"order": 1234, "amount": 340}, requester=None,
                 urgency=None).rule
    named = "" if rule.approvers and not rule.allow_request_approvers else ', \"approvers\": [\"@finance\"]'
    lines += [
        "", "In another terminal (the README's commands use these):", f"  {exports}",
        "", "Ask for an approval:",
        f"  curl -s -X POST {base}/v1/requests -H 'Authorization: Bearer {token}' \\",
        "    -H 'Content-Type: application/json' \\",
        "    -d '{\"action\": \"issue_refund\", \"summary\": \"Refund $340 to order #1234\", "
        f"\"args\": {{\"order\": 1234, \"amount\": 340}}{named}}}'", "",
    ]
    click.echo("\n".join(lines), err=True)


_PASS_ON = {"ignore_unknown_options": True, "allow_interspersed_args": False, "help_option_names": []}
AGENT_CLI = "signoff_client.integrations.cli"


def _agent_command(command: str, argv: tuple[str, ...]) -> None:
    """Become `signoff-agent <command> …`: these run beside an agent, from the client's distribution.

    Exec'd rather than imported: the server installs without the client (and stdin/stdout, which
    a hook and a stdio MCP server speak on, pass straight through).
    """
    import importlib.util

    if importlib.util.find_spec("signoff_client") is None:
        raise click.ClickException(f"`signoff {command}` comes with signoff-client: pip install ./client")
    os.execv(sys.executable, [sys.executable, "-m", AGENT_CLI, command, *argv])


@main.command(context_settings=_PASS_ON)
@click.argument("argv", nargs=-1, type=click.UNPROCESSED)
def hook(argv: tuple[str, ...]) -> None:
    """Answer an agent runtime's permission hook: `signoff hook claude-code [--approver …]`."""
    _agent_command("hook", argv)


@main.command(context_settings=_PASS_ON)
@click.argument("argv", nargs=-1, type=click.UNPROCESSED)
def mcp(argv: tuple[str, ...]) -> None:
    """Serve Signoff's tools over MCP: `signoff mcp [--transport stdio|streamable-http]`."""
    _agent_command("mcp", argv)


@main.command("mcp-gateway", context_settings=_PASS_ON)
@click.argument("argv", nargs=-1, type=click.UNPROCESSED)
def mcp_gateway(argv: tuple[str, ...]) -> None:
    """Hold another MCP server's tool calls for Signoff: `signoff mcp-gateway --upstream CMD|URL`."""
    _agent_command("mcp-gateway", argv)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object: every check and whether all passed.")
def doctor(as_json: bool) -> None:
    """Check Slack, the policy's names, the database, Redis, a worker and the clock; exit 1 on a failure."""
    import json

    from bot.ops import doctor as checks
    from bot.ops.run_doctor import run_checks

    try:
        settings = _settings()
    except click.ClickException as e:  # nothing else can be checked: a failing check per problem
        problems = getattr(e.__cause__, "problems", None) or [e.message]
        found = [checks.Check("settings", checks.FAIL, p) for p in problems]
    else:
        found = run_checks(settings)
    if as_json:
        click.echo(json.dumps({"ok": checks.exit_code(found) == 0, "checks": [c.to_json() for c in found]}))
    else:
        click.echo(checks.report(found))
    sys.exit(checks.exit_code(found))


@main.group()
def policy() -> None:
    """Check a policy file and explain how it routes a request."""


@policy.command("check")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--slack", "against_slack", is_flag=True,
              help="Also ask the Slack workspace for every user, group and channel named "
                   "(needs SLACK_BOT_TOKEN; SLACK_API_URL for the sandbox).")
@click.option("--slack-token", envvar="SLACK_BOT_TOKEN", default=None, hidden=True)
@click.option("--slack-api-url", envvar="SLACK_API_URL", default=None, hidden=True)
def policy_check(file: Path, against_slack: bool, slack_token: str | None, slack_api_url: str | None) -> None:
    """Validate FILE; exit 1 with the line and the reason of the first problem."""
    from bot.policy.loader import load_policy
    from bot.policy.parser import policy_warnings

    try:
        loaded = load_policy(file)
    except InvalidSettings as e:
        click.echo(str(e), err=True)
        sys.exit(1)
    for line, reason in policy_warnings(loaded):
        click.echo(f"warning: {file}:{line}: {reason}")
    if against_slack:
        _check_against_slack(file, loaded, token=slack_token, api_url=slack_api_url)
    click.echo(f"{file}: OK, {len(loaded.rules)} rule(s) and a default")


def _check_against_slack(file: Path, loaded: Policy, *, token: str | None, api_url: str | None) -> None:
    from bot.errors import Unavailable
    from bot.settings import SLACK_API_URL
    from bot.slack.client import make_client
    from bot.slack.policy_check import unknown_names

    if not token:
        raise click.ClickException("--slack needs SLACK_BOT_TOKEN (and SLACK_API_URL for the sandbox)")
    try:
        problems = unknown_names(loaded, make_client(token=token, base_url=api_url or SLACK_API_URL))
    except Unavailable as e:
        raise click.ClickException(f"{e}; try again") from e
    for line, reason in problems:
        click.echo(f"{file}:{line}: {reason}", err=True)
    if problems:
        sys.exit(1)


@policy.command("explain")
@click.option("--file", "file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The policy file (default: SIGNOFF_POLICY_FILE).")
@click.option("--action", required=True, help="The action name, e.g. issue_refund.")
@click.option("--args", "args_json", default="{}", show_default=True, help="The arguments, as JSON.")
@click.option("--requester", default=None)
@click.option("--agent", default=None, help="The agent asking (the name of its API token).")
@click.option("--urgency", type=click.Choice([u.value for u in Urgency], case_sensitive=False), default=None)
def policy_explain(file: Path | None, action: str, args_json: str, requester: str | None,
                   agent: str | None, urgency: str | None) -> None:
    """Print which rule a request matches and why each earlier rule did not."""
    import json

    from bot.policy.explain import explain_text, match
    from bot.policy.loader import load_policy

    path = file or _settings(dev=True).policy_file
    if path is None:
        raise click.UsageError("give --file or set SIGNOFF_POLICY_FILE")
    try:
        args = json.loads(args_json)
        loaded = load_policy(path)
    except ValueError as e:
        raise click.BadParameter(f"not JSON: {e}", param_hint="--args") from e
    except InvalidSettings as e:
        raise click.ClickException(str(e)) from e
    try:
        explained = match(loaded, action=action, args=args, requester=requester, urgency=urgency,
                          agent=agent)
    except InvalidInput as e:
        raise click.ClickException(str(e)) from e
    click.echo(explain_text(explained))


@main.group()
def graphs() -> None:
    """Check the graphs registered in SIGNOFF_GRAPHS."""


@graphs.command("check")
@click.argument("name")
@click.option("--input", "sample", required=True,
              help="A sample state: JSON, or module:attribute naming a Python object (for dates, sets, …).")
def graphs_check(name: str, sample: str) -> None:
    """Run SAMPLE through graph NAME's checkpointer serializer; exit 1 naming each key path it cannot save."""
    from bot.agents.graphcheck import problems
    from bot.agents.registry import GraphRegistry, make_checkpointer
    from bot.errors import SignoffError

    settings = _settings(dev=True)
    try:
        graph = GraphRegistry.load(settings.graphs, make_checkpointer(settings.checkpoints)).get(name)
    except SignoffError as e:
        raise click.ClickException(str(e)) from e
    value = _sample(sample)
    serde = getattr(graph.checkpointer, "serde", None)
    if serde is None:
        raise click.ClickException(f"graph {name!r} has no checkpointer to check against")
    found = problems(value, serde)
    for line in found:
        click.echo(line, err=True)
    if found:
        sys.exit(1)
    click.echo(f"{name}: the sample state can be saved by {type(graph.checkpointer).__name__}")


def _sample(raw: str) -> object:
    """JSON, or `module:attribute` naming a Python object."""
    import importlib
    import json

    try:
        return json.loads(raw)
    except ValueError:
        pass
    module, _, attr = raw.partition(":")
    if not module or not attr:
        raise click.BadParameter("neither JSON nor module:attribute", param_hint="--input")
    try:
        obj: object = importlib.import_module(module)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as e:
        raise click.BadParameter(f"cannot load {raw}: {e}", param_hint="--input") from e
    return obj


@main.group()
def audit() -> None:
    """Export and verify the audit log."""


@audit.command("export")
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), default="jsonl", show_default=True)
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write here instead of standard output.")
@click.option("--request", "request_id", default=None, help="Only this request's events.")
def audit_export(fmt: str, output: Path | None, request_id: str | None) -> None:
    """Write every audit event, in chain order, as CSV or JSON Lines."""
    from bot.storage.audit_export import export

    db = _existing(_settings(dev=True))
    with contextlib.ExitStack() as stack:
        out = stack.enter_context(output.open("w", newline="")) if output else sys.stdout
        count = export(db, out, fmt=fmt, request_id=request_id)
    click.echo(f"exported {count} events", err=True)
    if request_id is not None and count == 0:  # every request has its `created` event
        raise click.ClickException(f"no request {request_id!r} in this audit log: check the id "
                                   "(and DATABASE_URL)")


def _keyed_settings() -> Settings:
    """Settings with the audit key, without which the keyed chain cannot be checked."""
    settings = _settings(dev=True)
    if settings.audit_key is None:
        raise click.ClickException(_NO_AUDIT_KEY)
    return settings


_NO_AUDIT_KEY = "SIGNOFF_AUDIT_KEY is not set: the keyed audit chain cannot be verified without it"


def _head(anchor: str | None):  # noqa: ANN202 - Head stays a lazy import
    """`--head SEQ:MAC` read, or None."""
    from bot.core.audit import Head

    try:
        return Head.parse(anchor) if anchor is not None else None
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--head") from e


def _verified(anchor: str | None):  # noqa: ANN202 - Verified stays a lazy import
    """Verify the chain and the requests against it; exit 1 with every problem named."""
    from bot.storage.audit_export import verify

    settings = _keyed_settings()
    found = verify(_existing(settings), anchor=_head(anchor))
    if found.broken is not None:
        click.echo(f"audit log BROKEN at event {found.broken.seq}: {found.broken.reason}", err=True)
    for m in found.mismatches:
        click.echo(f"audit log MISMATCH: {m}", err=True)
    if found.broken is not None or found.mismatches:
        sys.exit(1)
    return found


@audit.command("verify")
@click.option("--head", "anchor", default=None, metavar="SEQ:MAC",
              help="A head printed earlier by `signoff audit head`: the chain must still reach it.")
@click.option("--file", "exported", type=click.File("r", encoding="utf-8"), default=None,
              help="Check a file `signoff audit export` wrote (JSON Lines or CSV; - for standard input) "
                   "instead of the database.")
def audit_verify(anchor: str | None, exported: TextIO | None) -> None:
    """Check the keyed chain and that every request row matches its events; exit 1 naming what
    was edited, deleted or cut off."""
    if exported is not None:
        _verify_export(exported, anchor)
        return
    found = _verified(anchor)
    reaches = f" and reaching the head {anchor}" if anchor is not None else ""
    click.echo(f"audit log OK: {found.events} events, chain intact ({found.keyed} keyed){reaches}, "
               "requests match their events")


def _verify_export(exported: TextIO, anchor: str | None) -> None:
    """`audit verify --file`: the exported events under SIGNOFF_AUDIT_KEY, no database needed."""
    from bot.storage.audit_export import verify_file

    try:
        key = audit_key_alone()
    except InvalidSettings as e:
        raise click.ClickException(str(e)) from e
    if key is None:
        raise click.ClickException(_NO_AUDIT_KEY)
    try:
        found = verify_file(exported, key=key.encode(), anchor=_head(anchor))
    except ValueError as e:
        raise click.ClickException(f"{exported.name}: {e}") from e
    if found.broken is not None:
        click.echo(f"{exported.name}: BROKEN at event {found.broken.seq}: {found.broken.reason}", err=True)
        sys.exit(1)
    counts = f"{found.events} events ({found.keyed} keyed)"
    if found.request_id is not None:
        click.echo(f"{exported.name}: OK, {counts} of request {found.request_id}, each as written; "
                   "a request's own export cannot show events removed from it")
    elif anchor is None:
        click.echo(f"{exported.name}: OK, {counts}, chain intact; pass --head with a head kept elsewhere "
                   "to show that no events were cut from the end")
    else:
        click.echo(f"{exported.name}: OK, {counts}, chain intact and reaching the head {anchor}")


@audit.command("head")
def audit_head() -> None:
    """Verify, then print the head as SEQ:MAC: keep it outside this database for `verify --head`."""
    found = _verified(None)
    if found.head is None:
        raise click.ClickException("the audit log is empty: there is no head yet")
    click.echo(str(found.head))


@main.group("db")
def db_group() -> None:
    """The database schema: upgrade it before a deploy, or see its revision."""


@db_group.command("upgrade")
def db_upgrade() -> None:
    """Create the database, or upgrade it to the schema this Signoff needs (the release step)."""
    from bot.storage import schema

    settings = _settings(dev=True)
    if settings.database_url.startswith("sqlite"):
        _private_files(settings)  # the release step may be what creates the SQLite file
    before = _revision(settings.database_url)
    db = _connect(settings, upgrade=True)
    try:
        after = schema.current(db.engine)
    finally:
        db.engine.dispose()
    was = "" if before == after else f" (was {before or 'none'})"
    click.echo(f"database schema at revision {after}{was}")


@db_group.command("current")
def db_current() -> None:
    """Print the database's schema revision and the one this Signoff needs; changes nothing."""
    from bot.storage import schema

    settings, wanted = _settings(dev=True), schema.head()
    _refuse_missing_sqlite(settings.database_url)
    at = _revision(settings.database_url)
    if at == wanted:
        state = "up to date"
    elif at is not None and at not in schema.known():
        state = f"newer than this Signoff knows ({wanted}): run the Signoff version that upgraded it"
    else:
        state = f"this Signoff needs {wanted}: run `signoff db upgrade`"
    click.echo(f"{at or 'none'} ({state})")
    if at != wanted:
        sys.exit(1)  # a deploy script can gate on it


def _existing(settings: Settings):  # noqa: ANN202 - Database stays lazy
    """The database, for a command that only reads it (audit, db current): never created or
    migrated on the way, so that a mistyped DATABASE_URL or a wrong working directory is an error,
    not an empty log reported intact."""
    _refuse_missing_sqlite(settings.database_url)
    if _revision(settings.database_url) is None:
        raise click.ClickException(f"{redact_url(settings.database_url)} holds no Signoff schema: check "
                                   "DATABASE_URL; `signoff db upgrade` creates one")
    return _connect(settings, upgrade=False)


def _refuse_missing_sqlite(database_url: str) -> None:
    """One line, rather than SQLite quietly creating an empty database where the URL points."""
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:" \
            and not Path(url.database).is_file():
        raise click.ClickException(f"no database at {url.database}: check DATABASE_URL (and the working "
                                   "directory, for a relative path); `signoff db upgrade` creates one")


def _revision(url: str) -> str | None:
    from bot.storage import schema
    from bot.storage.db import make_engine

    engine = make_engine(url)
    try:
        with _opening(url):
            return schema.current(engine)
    finally:
        engine.dispose()


if __name__ == "__main__":
    main()
