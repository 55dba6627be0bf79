"""Fixtures shared by the graph tests: the registered test graphs and a side-effect log."""

from __future__ import annotations

import pytest

from tests import graph_apps
from tests.conftest import CHANNEL


@pytest.fixture
def stack_overrides(tmp_path):
    return {"graphs": graph_apps.GRAPHS, "checkpoint_url": f"sqlite:///{tmp_path / 'checkpoints.db'}",
            "default_approvers": ("U0ALICE", "U0BOB"), "default_channel": CHANNEL}


@pytest.fixture(autouse=True)
def effects_file(tmp_path, monkeypatch):
    monkeypatch.setenv("SIGNOFF_TEST_EFFECTS", str(tmp_path / "effects.log"))
