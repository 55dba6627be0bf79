"""Where metric files go; importable before prometheus-client, which reads the setting at import."""

from __future__ import annotations

import os
import sys
from pathlib import Path

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def multiproc_dir(data_dir: Path) -> Path:
    """Where this deployment's processes write their metric files (under the data dir)."""
    return data_dir / "metrics"


def enable_multiprocess(path: Path) -> None:
    """Have this process (and its children) write metrics under `path`, unless one is set already.

    prometheus-client picks its value class when it is imported: once it is, this process keeps
    its metrics in memory, and so (not to mislead its children) nothing is set.
    """
    if os.environ.get(MULTIPROC_ENV) or "prometheus_client" in sys.modules:
        return
    path.mkdir(mode=0o700, parents=True, exist_ok=True)  # request ids, rules, agents: the owner's only
    os.environ[MULTIPROC_ENV] = str(path.resolve())  # children may start in another directory
