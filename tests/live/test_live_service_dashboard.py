"""The service dashboard, the OpenTelemetry names, the escaping and the team label, on the real Prometheus.

Three small services run in this process, each on its own loopback port, answering made-up traffic:
- `checkout` exports the seed's names with the Prometheus Python client (http_requests_total{status},
  http_request_duration_seconds);
- `otel-checkout` records the semantic-convention histogram `http.server.request.duration` with the
  OpenTelemetry Python SDK, exposed by the OpenTelemetry Prometheus exporter (both pinned in
  requirements-dev.txt), with the bucket boundaries the conventions advise;
- `utf8-names` exposes UTF-8 metric names, as an exporter that follows Prometheus' content negotiation
  may when Prometheus allows them.
Prometheus (Go-built at the deployed version) runs the app jobs rendered for a catalog that gives the
first two an owner and SLOs (targets on loopback, 1s intervals) with the compat and SLO rules; a copy of
the `utf8-names` job without the rendered `metric_name_escaping_scheme` shows what it prevents.
"""

from __future__ import annotations

import copy
import json
import random
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from live_servers import LOOPBACK, free_ports, get_json, servers_in_tempdir, start_prometheus, wait_until
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource
from opentelemetry.semconv.attributes.http_attributes import HTTP_REQUEST_METHOD, HTTP_RESPONSE_STATUS_CODE
from opentelemetry.semconv.metrics.http_metrics import HTTP_SERVER_REQUEST_DURATION
from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server

from components.catalog import parse_catalog
from components.render.grafana import DASHBOARDS_SOURCE
from components.render.prometheus import render_prometheus_config
from components.render.slo import render_slo_rules
from components.settings import parse_settings
from mockengine.program import ROOT, stack_config
from mockengine.stand_ins import with_secrets

pytestmark = pytest.mark.live

RULES = ROOT / "configs" / "prometheus" / "rules"
SLO = {"availability": 99.9, "latency": {"threshold": 0.25, "target": 99}}
SERVICES = ("checkout", "otel-checkout")
# open-telemetry/semantic-conventions@v1.44.0 docs/http/http-metrics.md: the ExplicitBucketBoundaries
# advisory parameter of http.server.request.duration.
ADVISED_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10)
PROMQL_VALUES = {"$__rate_interval": "1m", "$__range": "5m"}


def catalog(ports: dict[str, int]) -> dict[str, Any]:
    return {"jobs": {
        "go-services": {"team": "payments", "services": {"checkout": {"port": ports["checkout"], "slo": SLO}}},
        "python-services": {"services": {
            "otel-checkout": {"port": ports["otel-checkout"], "team": "payments", "slo": SLO}}},
        "elixir-services": {"services": {"utf8-names": ports["utf8-names"]}},
    }}


def seed_app(port: int) -> tuple[Any, Any]:
    registry = CollectorRegistry()
    requests = Counter("http_requests", "Requests", ["status"], registry=registry)  # exposed as _total
    duration = Histogram("http_request_duration_seconds", "Duration", registry=registry)  # buckets incl. 0.25

    def record(status: int, seconds: float) -> None:
        requests.labels(str(status)).inc()
        duration.observe(seconds)

    server, _ = start_http_server(port, addr=LOOPBACK, registry=registry)
    return server, record


def otel_app(port: int) -> tuple[Any, Any, MeterProvider]:
    registry = CollectorRegistry()
    reader = PrometheusMetricReader(registry=registry)
    provider = MeterProvider(metric_readers=[reader], resource=Resource.create({"service.name": "otel-checkout"}))
    histogram = provider.get_meter("quikapp.test").create_histogram(
        HTTP_SERVER_REQUEST_DURATION, unit="s", explicit_bucket_boundaries_advisory=ADVISED_BUCKETS)

    def record(status: int, seconds: float) -> None:
        histogram.record(seconds, {HTTP_RESPONSE_STATUS_CODE: status, HTTP_REQUEST_METHOD: "GET"})

    server, _ = start_http_server(port, addr=LOOPBACK, registry=registry)
    return server, record, provider


def utf8_app(port: int) -> Any:
    registry = CollectorRegistry()
    Histogram("http.server.request.duration_seconds", "Duration", ["http.response.status_code"],
              registry=registry).labels("200").observe(0.1)
    server, _ = start_http_server(port, addr=LOOPBACK, registry=registry)
    return server


def prometheus_config(ports: dict[str, int], rules: list[Path]) -> dict[str, Any]:
    """The app jobs as rendered for the dev stack and the test catalog, on loopback every second."""
    values, secret_keys = with_secrets(stack_config("dev"))
    text = render_prometheus_config(parse_settings(values, secret_keys), parse_catalog(catalog(ports)),
                                    lambda service: LOOPBACK)
    rendered = yaml.safe_load(text)
    apps = [job for job in rendered["scrape_configs"] if job["job_name"].endswith("-services")]
    assert len(apps) == 3 and all(job["metric_name_escaping_scheme"] == "underscores" for job in apps)
    unescaped = copy.deepcopy(next(job for job in apps if job["job_name"] == "elixir-services"))
    unescaped["job_name"] = "unescaped"
    del unescaped["metric_name_escaping_scheme"]
    return {"global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(p) for p in rules], "scrape_configs": [*apps, unescaped]}


@dataclass
class Live:
    url: str

    def query(self, expr: str) -> list[dict[str, Any]]:
        reply = get_json(f"{self.url}/api/v1/query", query=expr)
        assert reply["status"] == "success", reply
        return list(reply["data"]["result"])

    def series(self, match: str) -> list[dict[str, str]]:
        return list(get_json(f"{self.url}/api/v1/series", **{"match[]": match})["data"])


@pytest.fixture(scope="module")
def live() -> Iterator[Live]:
    prometheus_port, *app_ports = free_ports(4)
    ports = dict(zip(("checkout", "otel-checkout", "utf8-names"), app_ports, strict=True))
    seed_server, seed_record = seed_app(ports["checkout"])
    otel_server, otel_record, provider = otel_app(ports["otel-checkout"])
    utf8_server = utf8_app(ports["utf8-names"])
    stop = threading.Event()

    def traffic() -> None:  # about 100 requests a second each: 2 % fail, 5 % slower than 0.25 s
        rng = random.Random(19)
        while not stop.wait(0.01):
            status = 500 if rng.random() < 0.02 else 200
            seconds = rng.uniform(0.3, 0.6) if rng.random() < 0.05 else rng.uniform(0.005, 0.2)
            seed_record(status, seconds)
            otel_record(status, seconds)

    worker = threading.Thread(target=traffic, daemon=True)
    worker.start()
    try:
        with servers_in_tempdir("quikapp-service-dashboard-") as running:
            rules = [RULES / "micrometer.yml", RULES / "opentelemetry.yml", running.root / "slo.yml"]
            slo_rules = render_slo_rules(parse_catalog(catalog(ports)))
            assert slo_rules is not None
            rules[2].write_text(slo_rules)
            config = running.root / "prometheus.yml"
            config.write_text(yaml.safe_dump(prometheus_config(ports, rules), sort_keys=False))
            start_prometheus(running, config, prometheus_port)
            live = Live(f"http://{LOOPBACK}:{prometheus_port}")
            wait_until("the 30-day SLI of both services", lambda: len(live.query(
                'slo:period_error_budget_remaining:ratio{service=~"checkout|otel-checkout"}')) == 4, timeout=60)
            yield live
    finally:
        stop.set()
        worker.join(timeout=5)
        provider.shutdown()
        for server in (seed_server, otel_server, utf8_server):
            server.shutdown()
            server.server_close()


def dashboard_queries() -> list[tuple[str, str]]:
    dashboard = json.loads((DASHBOARDS_SOURCE / "service.json").read_text())
    found = [(f"{panel['title']}/{target['refId']}", target["expr"])
             for panel in dashboard["panels"] for target in panel.get("targets", [])
             if target["datasource"]["type"] == "prometheus"]
    (variable,) = dashboard["templating"]["list"]
    found.append(("variable service", variable["query"]["query"].removeprefix("label_values(").split(",")[0]))
    return found


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_dashboard_query_has_data(live: Live, service: str) -> None:
    """Each Prometheus query of the dashboard answers for a service of either shape, as Grafana sends it."""
    queries = dashboard_queries()
    assert len(queries) >= 13
    empty = []
    for where, expr in queries:
        for variable, value in {**PROMQL_VALUES, "$service": service}.items():
            expr = expr.replace(variable, value)
        assert "$" not in expr, where
        if not live.query(expr):
            empty.append(where)
    assert empty == []


def test_a_misspelt_query_is_noticed(live: Live) -> None:
    """The check above can fail: a name nothing records gives no data."""
    assert live.query('slo:period_error_budget_remaining:ratio{service="checkout"}')
    assert not live.query('slo:period_error_budget_remaining:ratios{service="checkout"}')


def test_the_opentelemetry_exporter_sends_the_semantic_convention_names(live: Live) -> None:
    """What Prometheus stores from the real exporter: the histogram under http_server_request_duration_seconds
    with http_response_status_code (and the advised 0.25 s boundary as `le`), and the compat rules' copies."""
    buckets = live.series('http_server_request_duration_seconds_bucket{service="otel-checkout"}')
    assert buckets and all({"http_response_status_code", "http_request_method", "le"} <= set(s) for s in buckets)
    assert {"0.25", "1.0", "+Inf"} <= {s["le"] for s in buckets}
    recorded = live.series('http_requests_total{service="otel-checkout", status="500"}')
    assert recorded and all(s["http_response_status_code"] == "500" for s in recorded)
    assert live.series('http_request_duration_seconds_bucket{service="otel-checkout", le="0.25"}')


def test_the_app_jobs_ask_for_underscore_names(live: Live) -> None:
    """Without `metric_name_escaping_scheme: underscores` Prometheus 3 stores the UTF-8 name, which no rule,
    alert or dashboard reads; the rendered app job gets the underscore name."""
    escaped = live.series('http_server_request_duration_seconds_count{service="utf8-names"}')
    assert {s["job"] for s in escaped} == {"elixir-services"}
    dotted = live.series('{__name__="http.server.request.duration_seconds_count"}')
    assert {s["job"] for s in dotted} == {"unescaped"}


def test_the_catalogs_team_is_on_every_series_of_its_services(live: Live) -> None:
    teams = {s["service"]: s.get("team") for s in live.series('up{job=~".+-services"}')}
    assert teams == {"checkout": "payments", "otel-checkout": "payments", "utf8-names": None}
    for service in SERVICES:
        scraped = live.series(f'{{service="{service}", job=~".+-services"}}')
        assert scraped and all(s.get("team") == "payments" for s in scraped), service
