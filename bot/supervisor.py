"""Keep N copies of one command running: `signoff worker --processes N`."""

from __future__ import annotations

import logging
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

log = logging.getLogger("signoff.supervisor")

# A child that dies within this many seconds of starting waits longer before each restart, so a
# broken configuration does not fork a process every second.
QUICK_EXIT = 10.0
MAX_BACKOFF = 30.0


@dataclass
class _Slot:
    """One child and how its restarts are paced."""

    proc: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    backoff: float = 0.0
    due: float = 0.0  # monotonic time of the next start


@dataclass
class Supervisor:
    """Starts `count` children of `argv`, restarts any that exits, and stops them all at the end."""

    argv: Sequence[str]
    count: int
    env: Mapping[str, str]
    preexec: Callable[[], None] | None = None
    restart: bool = True  # False in burst mode: a child that exits 0 is done
    stop_timeout: float = 15.0
    slots: list[_Slot] = field(default_factory=list)

    def run(self, *, poll: float = 0.5) -> int:
        """Supervise until every child is done (burst) or an exception (SIGTERM) ends it."""
        self.slots = [_Slot() for _ in range(self.count)]
        try:
            while True:
                now = time.monotonic()
                for n, slot in enumerate(self.slots):
                    self._tend(n, slot, now)
                if not self.restart and all(s.proc is not None and s.proc.poll() == 0 for s in self.slots):
                    return 0
                time.sleep(poll)
        finally:
            self.stop()

    def _tend(self, n: int, slot: _Slot, now: float) -> None:
        if slot.proc is None:
            if now >= slot.due:
                slot.proc = subprocess.Popen(list(self.argv), env=dict(self.env),
                                             preexec_fn=self.preexec)  # noqa: PLW1509 - pdeathsig only
                slot.started = now
                log.info("worker %d started (pid %d)", n + 1, slot.proc.pid)
            return
        code = slot.proc.poll()
        if code is None or (code == 0 and not self.restart):
            return
        quick = now - slot.started < QUICK_EXIT
        slot.backoff = min(MAX_BACKOFF, max(1.0, slot.backoff * 2)) if quick else 0.0
        slot.due = now + slot.backoff
        log.warning("worker %d (pid %d) exited with %s; restarting in %.0f s",
                    n + 1, slot.proc.pid, code, slot.backoff)
        slot.proc = None

    def pids(self) -> list[int]:
        """The running children's process ids."""
        return [s.proc.pid for s in self.slots if s.proc is not None and s.proc.poll() is None]

    def stop(self) -> None:
        """SIGTERM every child (RQ finishes its current job), SIGKILL what outlives the timeout."""
        live = [s.proc for s in self.slots if s.proc is not None and s.proc.poll() is None]
        for proc in live:
            proc.terminate()
        deadline = time.monotonic() + self.stop_timeout
        for proc in live:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
