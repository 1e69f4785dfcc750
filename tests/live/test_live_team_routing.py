"""A team's alert, the whole way: Prometheus adds the catalog's `team`, Alertmanager routes it to the team.

Prometheus and Alertmanager (Go-built at the deployed versions) run what is rendered for a catalog where
`checkout` belongs to `payments`, `search` to `search` (no receivers) and `bookmark` to nobody, with the
stack's and the payments team's PagerDuty, Slack and webhook pointed at HTTP stand-ins on loopback. One
rule fires for each service with only `service` and `severity` (as an aggregating rule leaves them):
`team` comes from the rendered `alert_relabel_configs`. The payments alert must reach the payments
integrations and nothing of the stack's; the others the stack's, and nothing of the team's.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import yaml
from live_servers import (
    LOOPBACK,
    free_ports,
    get_json,
    servers_in_tempdir,
    start_alertmanager,
    start_prometheus,
    wait_until,
)
from test_live_alert_routing import Recorder, http_stand_in

from components.catalog import parse_catalog
from components.render.alertmanager import TEMPLATE_NAME, render_alertmanager_config, render_alertmanager_template
from components.render.prometheus import render_prometheus_config
from components.settings import parse_settings
from mockengine.stand_ins import with_secrets

pytestmark = pytest.mark.live

CATALOG = {"jobs": {"go-services": {"services": {
    "checkout": {"port": 6010, "team": "payments"},
    "search": {"port": 6003, "team": "search"},
    "bookmark": 6005}}}}
QUIET = 4.0


@dataclass
class Live:
    alertmanager: str
    recorder: Recorder


def rules() -> dict[str, Any]:
    # vector(1) with the labels an aggregating rule leaves: `service` and `severity`, no `team`.
    return {"groups": [{"name": "team-routing", "rules": [
        {"alert": "CheckoutFailing", "expr": 'label_replace(vector(1), "service", "checkout", "", "")',
         "labels": {"severity": "critical"}, "annotations": {"summary": "checkout fails"}},
        {"alert": "SearchFailing", "expr": 'label_replace(vector(1), "service", "search", "", "")',
         "labels": {"severity": "critical"}, "annotations": {"summary": "search fails"}},
        {"alert": "BookmarkFailing", "expr": 'label_replace(vector(1), "service", "bookmark", "", "")',
         "labels": {"severity": "critical"}, "annotations": {"summary": "bookmark fails"}},
    ]}]}


@pytest.fixture(scope="module")
def live() -> Iterator[Live]:
    prometheus_port, am_port, http_port = free_ports(3)
    stand_in = f"http://{LOOPBACK}:{http_port}"
    secrets = {
        ("grafana", "adminPassword"): "unused",
        ("alertmanager", "pagerduty", "routingKey"): "stack-routing-key",
        ("alertmanager", "slack", "apiUrl"): f"{stand_in}/stack/slack",
        ("alertmanager", "webhook", "url"): f"{stand_in}/stack/webhook",
        ("alertmanager", "teams", "payments", "pagerduty", "routingKey"): "payments-routing-key",
        ("alertmanager", "teams", "payments", "slack", "apiUrl"): f"{stand_in}/payments/slack",
        ("alertmanager", "teams", "payments", "webhook", "url"): f"{stand_in}/payments/webhook",
    }
    fast = {"groupWait": "1s", "groupInterval": "1s", "repeatInterval": "1h"}
    values = {"target": "docker", "exporters": {"postgres": {"enabled": False}}, "alertmanager": {
        **fast, "routes": {"pager": fast, "chat": fast},
        "pagerduty": {"url": f"{stand_in}/stack/pagerduty"}, "slack": {"channel": "#quikapp"}, "webhook": {},
        "teams": {"payments": {"pagerduty": {"url": f"{stand_in}/payments/pagerduty"},
                               "slack": {"channel": "#payments"}, "webhook": {}}},
    }}
    settings = parse_settings(*with_secrets(values, secrets))
    prometheus = yaml.safe_load(render_prometheus_config(settings, parse_catalog(CATALOG), lambda n: n))
    assert prometheus["alerting"]["alert_relabel_configs"]  # rendered, used as is below
    recorder = Recorder()
    server = http_stand_in(recorder, http_port)
    try:
        with servers_in_tempdir("quikapp-team-routing-") as running:
            base = running.root / "alertmanager"
            base.mkdir()
            (base / TEMPLATE_NAME).write_text(render_alertmanager_template(settings, "http://grafana.quikapp.test"))
            start_alertmanager(running, render_alertmanager_config(settings), am_port)
            (running.root / "rules.yml").write_text(yaml.safe_dump(rules()))
            config = {"global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                      "alerting": {**prometheus["alerting"],
                                   "alertmanagers": [{"static_configs": [{"targets": [f"{LOOPBACK}:{am_port}"]}]}]},
                      "rule_files": [str(running.root / "rules.yml")], "scrape_configs": []}
            (running.root / "prometheus.yml").write_text(yaml.safe_dump(config, sort_keys=False))
            start_prometheus(running, running.root / "prometheus.yml", prometheus_port)
            yield Live(f"http://{LOOPBACK}:{am_port}", recorder)
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def delivered(live: Live) -> Recorder:
    expected = ["/stack/pagerduty", "/stack/slack", "/stack/webhook",
                "/payments/pagerduty", "/payments/slack", "/payments/webhook"]
    wait_until("a notification on every stand-in", lambda: all(live.recorder.bodies(p) for p in expected), timeout=60)
    last, since = live.recorder.count(), time.monotonic()
    while time.monotonic() - since < QUIET:  # nothing else arrives later
        time.sleep(0.5)
        if live.recorder.count() != last:
            last, since = live.recorder.count(), time.monotonic()
    return live.recorder


def services(recorder: Recorder, prefix: str) -> set[str]:
    """The `service` of every alert the stand-ins under `prefix` received."""
    found = set()
    for path, body, _ in recorder.http:
        if not path.startswith(prefix):
            continue
        text = json.dumps(body)
        found |= {s for s in ("checkout", "search", "bookmark") if f"{s} fails" in text or f'"{s}"' in text}
    return found


def test_prometheus_adds_the_catalogs_team_to_each_alert(live: Live, delivered: Recorder) -> None:
    alerts = {a["labels"]["service"]: a["labels"] for a in get_json(f"{live.alertmanager}/api/v2/alerts")}
    assert {service: labels.get("team") for service, labels in alerts.items()} == {
        "checkout": "payments", "search": "search", "bookmark": None}


def test_the_payments_alert_reaches_payments_and_nobody_else(delivered: Recorder) -> None:
    assert services(delivered, "/payments/") == {"checkout"}
    assert services(delivered, "/stack/") == {"search", "bookmark"}
    (page,) = delivered.bodies("/payments/pagerduty")
    assert page["routing_key"] == "payments-routing-key" and page["payload"]["class"] == "CheckoutFailing"
    assert {b["routing_key"] for b in delivered.bodies("/stack/pagerduty")} == {"stack-routing-key"}
