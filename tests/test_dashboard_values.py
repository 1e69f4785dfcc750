"""What a stat panel shows, evaluated by promtool on the dashboard's own query (`promql_expr_test`).

A stat must not read 0 where its data is missing (a `... or vector(0)` reads "all fine" when the
exporter is not scraped at all), and a ratio must not mix series that have no denominator.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from test_grafana import panels, substitute

from components.render.grafana import load_dashboards
from tools import require, run_tool


def panel_expr(dashboard: str, title: str) -> str:
    (panel,) = [p for p in panels(load_dashboards()[dashboard]) if p.get("title") == title]
    (target,) = panel["targets"]
    return substitute(target["expr"])


def evaluate(tmp_path: Path, expr: str, series: dict[str, str], expected: list[dict[str, Any]]) -> str:
    """promtool's verdict on `expr` over `series` (one sample a minute) at 5m: "" when it returned `expected`."""
    test = {"tests": [{"interval": "1m",
                       "input_series": [{"series": s, "values": v} for s, v in series.items()],
                       "promql_expr_test": [{"expr": expr, "eval_time": "5m", "exp_samples": expected}]}]}
    path = tmp_path / "panel.test.yml"
    path.write_text(yaml.safe_dump(test, sort_keys=False))
    result = run_tool(require("promtool"), "test", "rules", path)
    return "" if result.returncode == 0 else result.stdout + result.stderr


KSM = 'job="kube-state-metrics", namespace="quikapp"'
DEPLOYMENTS = {
    f'kube_deployment_spec_replicas{{{KSM}, deployment="api"}}': "3x10",
    f'kube_deployment_status_replicas_available{{{KSM}, deployment="api"}}': "3x10",
    f'kube_deployment_spec_replicas{{{KSM}, deployment="web"}}': "2x10",
}


@pytest.mark.parametrize(("case", "web_available", "expected"), [
    ("one of two short", "1x10", [{"labels": "{}", "value": 1}]),
    ("none short", "2x10", [{"labels": "{}", "value": 0}]),
])
def test_deployments_short_of_replicas_counts_them(tmp_path: Path, case: str, web_available: str,
                                                   expected: list[dict[str, Any]]) -> None:
    expr = panel_expr("kubernetes-pods.json", "Deployments short of replicas")
    series = {**DEPLOYMENTS, f'kube_deployment_status_replicas_available{{{KSM}, deployment="web"}}': web_available}
    assert evaluate(tmp_path, expr, series, expected) == "", case


def test_deployments_short_of_replicas_shows_nothing_without_kube_state_metrics(tmp_path: Path) -> None:
    expr = panel_expr("kubernetes-pods.json", "Deployments short of replicas")
    assert evaluate(tmp_path, expr, {'up{job="prometheus"}': "1x10"}, []) == ""


REDIS = 'job="redis", service="redis"'


def test_redis_memory_used_is_the_share_of_maxmemory_of_the_servers_that_have_one(tmp_path: Path) -> None:
    expr = panel_expr("redis.json", "Memory used")
    series = {
        f'redis_memory_used_bytes{{{REDIS}, instance="cache:9121"}}': "50x10",
        f'redis_memory_max_bytes{{{REDIS}, instance="cache:9121"}}': "200x10",
        # A second server without maxmemory: its memory is no share of the first one's limit.
        f'redis_memory_used_bytes{{{REDIS}, instance="sessions:9121"}}': "1000x10",
        f'redis_memory_max_bytes{{{REDIS}, instance="sessions:9121"}}': "0x10",
    }
    assert evaluate(tmp_path, expr, series, [{"labels": "{}", "value": 0.25}]) == ""


def test_redis_memory_used_says_why_it_is_empty_without_maxmemory(tmp_path: Path) -> None:
    expr = panel_expr("redis.json", "Memory used")
    series = {f'redis_memory_used_bytes{{{REDIS}, instance="redis-exporter:9121"}}': "50x10",
              f'redis_memory_max_bytes{{{REDIS}, instance="redis-exporter:9121"}}': "0x10"}
    assert evaluate(tmp_path, expr, series, []) == ""
    (panel,) = [p for p in panels(load_dashboards()["redis.json"]) if p.get("title") == "Memory used"]
    assert panel["fieldConfig"]["defaults"]["noValue"] == "no maxmemory set"


def test_a_wrong_expectation_fails(tmp_path: Path) -> None:
    """The check can fail: promtool reports a value other than the expected one."""
    expr = panel_expr("kubernetes-pods.json", "Deployments short of replicas")
    series = {**DEPLOYMENTS, f'kube_deployment_status_replicas_available{{{KSM}, deployment="web"}}': "1x10"}
    assert "exp:" in evaluate(tmp_path, expr, series, [{"labels": "{}", "value": 2}])
