"""How often each job family is retried; apart from the job table so job modules may read it."""

from __future__ import annotations

from rq import Retry

# Slack outages are usually short; back off up to five minutes, then leave the job failed
# (visible in RQ's failed registry) rather than retrying forever.
SLACK_RETRY = Retry(max=8, interval=[1, 2, 5, 10, 30, 60, 120, 300])
# Callback attempts schedule their own backoff; this only covers a worker dying mid-attempt.
CRASH_RETRY = Retry(max=3, interval=[5, 30, 120])
# Graph runs and resumes: a failing step (the graph's own exception, a database hiccup) is
# retried with backoff; each retry first re-checks what the thread still waits for.
GRAPH_RETRY = Retry(max=5, interval=[2, 10, 30, 120, 600])
