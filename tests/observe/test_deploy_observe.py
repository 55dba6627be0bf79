"""The Grafana dashboard and the alert rules use only metric names that /metrics exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from bot.observe.metrics import exported_names

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
# A metric name in PromQL: signoff_ and word characters (no function or label of ours starts so).
_NAME = re.compile(r"\bsignoff_[a-z0-9_]+")


def _alert_exprs() -> list[str]:
    rules = yaml.safe_load((DEPLOY / "alerts.yml").read_text())
    return [rule["expr"] for group in rules["groups"] for rule in group["rules"]]


def _dashboard_exprs() -> list[str]:
    dash = json.loads((DEPLOY / "grafana-dashboard.json").read_text())
    assert dash["title"] and dash["panels"]
    return [t["expr"] for p in dash["panels"] for t in p["targets"]]


def test_alert_rules_are_well_formed_and_name_only_exported_metrics():
    rules = yaml.safe_load((DEPLOY / "alerts.yml").read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            assert {"alert", "expr", "labels", "annotations"} <= rule.keys(), rule
    names = {n for e in _alert_exprs() for n in _NAME.findall(e)}
    assert {"signoff_requests_overdue", "signoff_worker_heartbeat_timestamp_seconds",
            "signoff_callback_failures_total"} <= names
    assert names <= exported_names(), names - exported_names()


def test_the_dashboard_names_only_exported_metrics_and_panels_do_not_overlap():
    names = {n for e in _dashboard_exprs() for n in _NAME.findall(e)}
    assert names and names <= exported_names(), names - exported_names()
    dash = json.loads((DEPLOY / "grafana-dashboard.json").read_text())
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))


def test_every_exported_metric_is_on_the_dashboard():
    shown = {n for e in _dashboard_exprs() for n in _NAME.findall(e)}
    bases = {re.sub(r"_(total|bucket|sum|count|created)$", "", n) for n in exported_names()}
    assert bases <= {re.sub(r"_(total|bucket|sum|count|created)$", "", n) for n in shown}
