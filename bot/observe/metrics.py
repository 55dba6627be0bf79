"""The Prometheus metrics Signoff exports, and their exposition.

Counters and histograms are module-level objects on Signoff's own registry, as prometheus-client
wants them: in multiprocess mode (PROMETHEUS_MULTIPROC_DIR, set by `signoff web` / `signoff worker`
before this module is imported) every process writes its values to files there, and the web's
/metrics adds up every process's files, so a worker's counters show on the web's /metrics.
Gauges that describe the store (pending requests, queue depths, the worker heartbeat) are not
kept here at all: `StoreCollector` computes them from SQL and Redis at each scrape.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from bot.observe.paths import MULTIPROC_ENV

REGISTRY = CollectorRegistry(auto_describe=True)
# Decided with prometheus-client's own choice, at import: the setting may change later (a test
# running an entrypoint in-process), the value class this process writes with does not.
MULTIPROCESS = bool(os.environ.get(MULTIPROC_ENV))

# Seconds: a click is acked in milliseconds; a decision takes minutes to days.
_ACK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0)
_DECISION_BUCKETS = (1, 10, 30, 60, 300, 900, 1800, 3600, 4 * 3600, 12 * 3600, 86400, 3 * 86400, 7 * 86400)
_LATENESS_BUCKETS = (0.1, 0.5, 1, 2, 5, 10, 30, 60, 300, 900)

REQUESTS_CREATED = Counter("signoff_requests_created", "Requests created, by policy rule and agent.",
                           ["rule", "agent"], registry=REGISTRY)
REQUESTS_ENDED = Counter("signoff_requests_ended", "Requests that ended, by outcome (final status), "
                         "policy rule and agent.", ["outcome", "rule", "agent"], registry=REGISTRY)
DECISION_SECONDS = Histogram("signoff_decision_seconds", "Time from a request's creation to its end.",
                             ["rule"], buckets=_DECISION_BUCKETS, registry=REGISTRY)
SLACK_ACK_SECONDS = Histogram("signoff_slack_ack_seconds", "Time to answer a Slack delivery "
                              "(a click's ack), measured around the Slack endpoint.",
                              buckets=_ACK_BUCKETS, registry=REGISTRY)
DEADLINE_LATENESS = Histogram("signoff_deadline_lateness_seconds", "How long after its due time a "
                              "reminder, escalation or timeout fired.", ["kind"],
                              buckets=_LATENESS_BUCKETS, registry=REGISTRY)
ESCALATIONS = Counter("signoff_escalations", "Escalation levels reached, by policy rule.", ["rule"],
                      registry=REGISTRY)
CALLBACK_ATTEMPTS = Counter("signoff_callback_attempts", "Callback delivery attempts, by agent.",
                            ["agent"], registry=REGISTRY)
CALLBACK_FAILURES = Counter("signoff_callback_failures", "Failed callback attempts, by agent; "
                            "final=true when Signoff gave up.", ["agent", "final"], registry=REGISTRY)
RESUME_FAILURES = Counter("signoff_resume_failures", "Failed graph resume attempts; final=true when "
                          "Signoff gave up.", ["final"], registry=REGISTRY)

def zero_series(*, agents: Iterable[str], escalating_rules: Iterable[str]) -> None:
    """Export the failure and escalation counters at 0 for every label value known at start.

    A counter's series appears only once incremented, and Prometheus' `increase()` over a series
    that first appears at 1 is 0: the alerts on giving up (deploy/alerts.yml) would miss the
    first one.
    """
    for final in ("true", "false"):
        RESUME_FAILURES.labels(final=final)
    for agent in agents:
        CALLBACK_ATTEMPTS.labels(agent=agent)
        for final in ("true", "false"):
            CALLBACK_FAILURES.labels(agent=agent, final=final)
    for rule in escalating_rules:
        ESCALATIONS.labels(rule=rule)


# Computed at scrape by StoreCollector (name -> help); listed so tests can check the deploy files.
PENDING = "signoff_requests_pending"
OVERDUE = "signoff_requests_overdue"
QUEUE_DEPTH = "signoff_rq_queue_depth"
FAILED_JOBS = "signoff_rq_failed_jobs"
HEARTBEAT = "signoff_worker_heartbeat_timestamp_seconds"
SCRAPE_GAUGES = {
    PENDING: "Pending requests, by age bucket (seconds since creation).",
    OVERDUE: "Pending requests whose next deadline passed more than a minute ago (the sweeper is behind).",
    QUEUE_DEPTH: "Jobs waiting in each RQ queue.",
    FAILED_JOBS: "Jobs in each RQ queue's failed registry.",
    HEARTBEAT: "Unix time of the last sweeper pass of any worker (0: never seen).",
}


def exported_names() -> set[str]:
    """Every series name /metrics can show (with _total, _bucket, _sum, _count, _created)."""
    names = set(SCRAPE_GAUGES)
    for metric in (REQUESTS_CREATED, REQUESTS_ENDED, ESCALATIONS, CALLBACK_ATTEMPTS, CALLBACK_FAILURES,
                   RESUME_FAILURES):
        names |= {metric._name + "_total", metric._name + "_created"}
    for hist in (DECISION_SECONDS, SLACK_ACK_SECONDS, DEADLINE_LATENESS):
        names |= {hist._name + s for s in ("_bucket", "_sum", "_count", "_created")}
    return names


class StoreCollector(Collector):
    """Gauges read at scrape time from what the store says now (cheap, indexed queries)."""

    def __init__(self, read: Callable[[], StoreReading]) -> None:
        self.read = read

    def collect(self) -> Iterator[Metric]:
        """One family per gauge, from one reading."""
        r = self.read()
        pending = GaugeMetricFamily(PENDING, SCRAPE_GAUGES[PENDING], labels=["age"])
        for age, n in r.pending_by_age:
            pending.add_metric([age], n)
        if r.pending_by_age:
            yield pending
        if r.overdue is not None:
            yield GaugeMetricFamily(OVERDUE, SCRAPE_GAUGES[OVERDUE], value=r.overdue)
        depth = GaugeMetricFamily(QUEUE_DEPTH, SCRAPE_GAUGES[QUEUE_DEPTH], labels=["queue"])
        failed = GaugeMetricFamily(FAILED_JOBS, SCRAPE_GAUGES[FAILED_JOBS], labels=["queue"])
        for queue, (queued, failures) in r.queues.items():
            depth.add_metric([queue], queued)
            failed.add_metric([queue], failures)
        yield depth
        yield failed
        yield GaugeMetricFamily(HEARTBEAT, SCRAPE_GAUGES[HEARTBEAT], value=r.heartbeat or 0.0)


class StoreReading:
    """One scrape's view of the store."""

    def __init__(self, *, pending_by_age: Iterable[tuple[str, int]], overdue: int | None,
                 queues: dict[str, tuple[int, int]], heartbeat: float | None) -> None:
        self.pending_by_age, self.overdue = list(pending_by_age), overdue
        self.queues, self.heartbeat = queues, heartbeat


def render(store: Collector | None) -> bytes:
    """The text exposition: every process's metrics (multiprocess) or this one's, plus `store`."""
    registry = CollectorRegistry()
    if MULTIPROCESS:
        MultiProcessCollector(registry)
    else:
        registry.register(_Forward(REGISTRY))
    if store is not None:
        registry.register(store)
    return generate_latest(registry)


class _Forward(Collector):
    """This process's own registry, inside the scrape's registry."""

    def __init__(self, source: CollectorRegistry) -> None:
        self.source = source

    def collect(self) -> Iterator[Metric]:
        """What the source registry holds."""
        yield from self.source.collect()
