"""A graph thread's lease outlives Redis pausing for longer than one Redis call may wait."""

from __future__ import annotations

import shutil
import signal
import tempfile
import time
from pathlib import Path

from redis import Redis

from bot.embedded_redis import EmbeddedRedis
from bot.wiring import REDIS_TIMEOUT
from workers.locks import leased_lock

LEASE = 6.0  # renewed every 2 s


def test_a_lease_survives_a_renewal_that_timed_out():
    data = Path(tempfile.mkdtemp(prefix="so-lock-"))  # short: the socket path must fit sun_path
    server = EmbeddedRedis(data, persist=False).start()
    client = Redis.from_url(server.url, socket_timeout=REDIS_TIMEOUT, socket_connect_timeout=REDIS_TIMEOUT)
    try:
        with leased_lock(client, "signoff:thread:t", lease=LEASE):
            time.sleep(1.5)
            assert server.process is not None
            server.process.send_signal(signal.SIGSTOP)  # the renewal at 2 s waits, then times out
            time.sleep(REDIS_TIMEOUT + 1.1)
            server.process.send_signal(signal.SIGCONT)
            time.sleep(8.0 - 1.5 - REDIS_TIMEOUT - 1.1)  # past the lease granted before the pause
            assert client.pttl("signoff:thread:t") > 0, "the lease lapsed while its holder ran"
        assert client.exists("signoff:thread:t") == 0  # released at the end
    finally:
        if server.process is not None:
            server.process.send_signal(signal.SIGCONT)
        client.close()
        server.stop()
        shutil.rmtree(data, ignore_errors=True)
