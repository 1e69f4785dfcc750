"""Jaeger v2 running the rendered config.yaml, fed by the real OpenTelemetry Python SDK and Zipkin JSON.

The config is read back from what the program registered (mockengine/rendered.py) for a stack, and only
its listen addresses are moved: every `0.0.0.0:<port>` becomes `127.0.0.1:<free port>` and Badger's
directories move into the test's temp dir. Receivers, pipeline, query base path, storage backend and
health/metrics extensions stay as rendered. Spans go in over OTLP/HTTP and OTLP/gRPC (the SDK's own
exporters) and as Zipkin v2 JSON, and must come back from the query API under /jaeger.
"""

from __future__ import annotations

import copy
import json
import os
import re
import secrets
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from live_servers import LOOPBACK, Server, free_ports, get_json, http_get, servers_in_tempdir, wait_until

from components.render.jaeger import BASE_PATH, CONFIG_FILE, HEALTH_PATH
from components.services import JAEGER
from components.services import JAEGER_HEALTH_PORT as HEALTH_PORT
from components.services import JAEGER_OTLP_GRPC_PORT as OTLP_GRPC_PORT
from components.services import JAEGER_OTLP_HTTP_PORT as OTLP_HTTP_PORT
from components.services import JAEGER_THRIFT_HTTP_PORT as THRIFT_HTTP_PORT
from components.services import JAEGER_ZIPKIN_PORT as ZIPKIN_PORT
from conftest import stack_run
from mockengine.program import stack_config
from mockengine.rendered import workload_files
from mockengine.run import Run, run_program
from mockengine.stand_ins import with_secrets
from tools import require

pytestmark = pytest.mark.live

QUERY_PORT, METRICS_PORT = JAEGER.port, JAEGER.scrape_port

START_TIMEOUT = 60  # Jaeger's /status turns 200 once every component reports OK
QUERY_TIMEOUT = 30  # a span is queryable after the batch processor's flush (200ms by default)
ES_VARIANT = {"jaeger": {"storage": "elasticsearch", "elasticsearch": {
    "serverUrls": ["http://127.0.0.1:9"], "indexPrefix": "quikapp", "username": "jaeger"}}}


def rendered_config(run: Run) -> dict[str, Any]:
    return dict(yaml.safe_load(workload_files(run)["jaeger"][CONFIG_FILE]))


def es_run() -> Run:
    """Staging with Elasticsearch storage and credentials (the password is a sentinel secret)."""
    values = stack_config("staging")
    values.update(ES_VARIANT)
    return run_program("staging", *with_secrets(values))


def _endpoints(node: Any) -> Iterator[dict[str, Any]]:
    """Every mapping in the config that holds an `endpoint`."""
    if isinstance(node, dict):
        if "endpoint" in node:
            yield node
        for value in node.values():
            yield from _endpoints(value)
    elif isinstance(node, list):
        for value in node:
            yield from _endpoints(value)


def loopback_copy(config: dict[str, Any], ports: dict[int, int], data_dir: Path) -> dict[str, Any]:
    """The config with each `0.0.0.0:<port>` on `127.0.0.1:ports[port]` and Badger under `data_dir`."""
    out = copy.deepcopy(config)
    for holder in _endpoints(out):
        host, _, port = holder["endpoint"].rpartition(":")
        assert host == "0.0.0.0", holder
        holder["endpoint"] = f"{LOOPBACK}:{ports[int(port)]}"
    for reader in out["service"]["telemetry"]["metrics"]["readers"]:
        prometheus = reader["pull"]["exporter"]["prometheus"]
        prometheus.update(host=LOOPBACK, port=ports[prometheus["port"]])
    for backend in out["extensions"]["jaeger_storage"]["backends"].values():
        if "badger" in backend:
            directories = backend["badger"]["directories"]
            directories.update(keys=str(data_dir / "keys"), values=str(data_dir / "values"))
    assert "0.0.0.0" not in json.dumps(out)
    return out


def validate(jaeger: str, config: dict[str, Any], where: Path) -> subprocess.CompletedProcess[str]:
    path = where / f"config-{secrets.token_hex(4)}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return subprocess.run([jaeger, "validate", f"--config=file:{path}"], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "ES_PASSWORD": "not-a-secret"})


# --- the config as the real binary judges it --------------------------------------------------------


@pytest.mark.parametrize("variant", ["dev", "staging", "prod", "elasticsearch"])
def test_jaeger_validate_accepts_every_rendered_config(variant: str, tmp_path: Path) -> None:
    jaeger = require("jaeger")
    run = es_run() if variant == "elasticsearch" else stack_run(variant)
    result = validate(jaeger, rendered_config(run), tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(("breakage", "words"), [
    # A misspelt key: the collector decodes every component config strictly.
    (lambda c: c["receivers"]["zipkin"].update(endpiont="0.0.0.0:9411"), "endpiont"),
    # A pipeline naming a receiver that is not configured.
    (lambda c: c["service"]["pipelines"]["traces"]["receivers"].append("kafka"), "kafka"),
])
def test_a_broken_rendered_config_is_rejected(breakage: Any, words: str, tmp_path: Path) -> None:
    """The check above can fail: the same binary refuses the rendered config with one fault added."""
    jaeger = require("jaeger")
    config = rendered_config(stack_run("prod"))
    breakage(config)
    result = validate(jaeger, config, tmp_path)
    assert result.returncode != 0
    assert words in result.stdout + result.stderr


# --- a running Jaeger ---------------------------------------------------------------------------------


@dataclass
class LiveJaeger:
    stack: str
    server: Server
    rendered: dict[str, Any]
    running: dict[str, Any]
    ports: dict[int, int]  # rendered port -> loopback port
    data_dir: Path
    started_in: float  # seconds from exec to /status 200

    def url(self, rendered_port: int, path: str = "") -> str:
        return f"http://{LOOPBACK}:{self.ports[rendered_port]}{path}"

    @property
    def query(self) -> str:
        return self.url(QUERY_PORT, BASE_PATH)


@pytest.fixture(scope="module", params=["dev", "prod"])  # memory storage, badger storage
def live(request: pytest.FixtureRequest) -> Iterator[LiveJaeger]:
    stack: str = request.param
    jaeger = require("jaeger")
    rendered = rendered_config(stack_run(stack))
    wanted = [QUERY_PORT, 16685, OTLP_GRPC_PORT, OTLP_HTTP_PORT, ZIPKIN_PORT, THRIFT_HTTP_PORT, HEALTH_PORT,
              METRICS_PORT]
    with servers_in_tempdir("quikapp-live-jaeger-") as servers:
        ports = dict(zip(wanted, free_ports(len(wanted)), strict=True))
        data_dir = servers.root / "badger"
        running = loopback_copy(rendered, ports, data_dir)
        path = servers.root / "config.yaml"
        path.write_text(yaml.safe_dump(running, sort_keys=False))
        began = time.monotonic()
        server = servers.start("jaeger", [jaeger, f"--config=file:{path}"])
        servers.wait_http(server, f"http://{LOOPBACK}:{ports[HEALTH_PORT]}{HEALTH_PATH}", timeout=START_TIMEOUT)
        yield LiveJaeger(stack, server, rendered, running, ports, data_dir, time.monotonic() - began)


def _trace(live: LiveJaeger, trace_id: str) -> dict[str, Any] | None:
    status, body = http_get(f"{live.query}/api/traces/{trace_id}")
    if status != 200:
        return None
    traces = json.loads(body).get("data") or []
    return traces[0] if traces and traces[0].get("spans") else None


def wait_for_trace(live: LiveJaeger, trace_id: str) -> dict[str, Any]:
    return wait_until(f"trace {trace_id} in {live.query}", lambda: _trace(live, trace_id), QUERY_TIMEOUT,
                      alive=live.server.check_alive)


def service_of(trace: dict[str, Any], span: dict[str, Any]) -> str:
    return str(trace["processes"][span["processID"]]["serviceName"])


def sdk_span(exporter: Any, service: str, name: str) -> str:
    """One span made by the SDK and sent by `exporter`; returns its trace id (hex)."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    with provider.get_tracer("quikapp-live-test").start_as_current_span(name) as span:
        span.set_attribute("quikapp.test", True)
        trace_id = format(span.get_span_context().trace_id, "032x")
    spans = memory.get_finished_spans()
    # The exporter's own verdict: Jaeger's receiver accepted the request (HTTP 200 / gRPC OK).
    assert exporter.export(spans) is SpanExportResult.SUCCESS
    exporter.shutdown()
    provider.shutdown()
    return trace_id


def test_the_running_config_is_the_rendered_one_on_loopback(live: LiveJaeger) -> None:
    assert live.running["service"] == {**live.rendered["service"], "telemetry": live.running["service"]["telemetry"]}
    assert live.running["receivers"].keys() == live.rendered["receivers"].keys()
    assert live.running["extensions"]["jaeger_query"]["base_path"] == BASE_PATH
    backend = next(iter(live.running["extensions"]["jaeger_storage"]["backends"].values()))
    assert list(backend) == (["memory"] if live.stack == "dev" else ["badger"])
    print(f"jaeger ({live.stack}) healthy after {live.started_in:.1f}s")


def test_otlp_http_span_comes_back_from_the_query_api(live: LiveJaeger) -> None:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    service = f"otlp-http-{live.stack}"
    exporter = OTLPSpanExporter(endpoint=live.url(OTLP_HTTP_PORT, "/v1/traces"), timeout=10)
    trace_id = sdk_span(exporter, service, "GET /orders")
    trace = wait_for_trace(live, trace_id)
    (span,) = trace["spans"]
    assert span["operationName"] == "GET /orders"
    assert service_of(trace, span) == service
    assert {"key": "quikapp.test", "type": "bool", "value": True} in span["tags"]


def test_otlp_grpc_span_comes_back_from_the_query_api(live: LiveJaeger) -> None:
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    service = f"otlp-grpc-{live.stack}"
    exporter = OTLPSpanExporter(endpoint=f"{LOOPBACK}:{live.ports[OTLP_GRPC_PORT]}", insecure=True, timeout=10)
    trace_id = sdk_span(exporter, service, "SendMessage")
    trace = wait_for_trace(live, trace_id)
    (span,) = trace["spans"]
    assert span["operationName"] == "SendMessage"
    assert service_of(trace, span) == service


def test_zipkin_json_span_comes_back_from_the_query_api(live: LiveJaeger) -> None:
    """What the seed's Spring Boot services send to jaeger:9411/api/v2/spans."""
    trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
    service = f"zipkin-{live.stack}"
    body = json.dumps([{
        "traceId": trace_id, "id": span_id, "name": "post /auth/login", "kind": "SERVER",
        "timestamp": int(time.time() * 1_000_000), "duration": 1500,
        "localEndpoint": {"serviceName": service}, "tags": {"http.status_code": "200"},
    }]).encode()
    request = urllib.request.Request(live.url(ZIPKIN_PORT, "/api/v2/spans"), data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 202
    trace = wait_for_trace(live, trace_id)
    (span,) = trace["spans"]
    assert span["spanID"] == span_id
    assert span["operationName"] == "post /auth/login"
    assert service_of(trace, span) == service


def test_services_are_listed_under_the_base_path_only(live: LiveJaeger) -> None:
    test_zipkin_json_span_comes_back_from_the_query_api(live)
    services = wait_until("the zipkin service in /api/services",
                          lambda: (s := get_json(f"{live.query}/api/services")["data"]) and
                          f"zipkin-{live.stack}" in s and s, QUERY_TIMEOUT, alive=live.server.check_alive)
    assert f"zipkin-{live.stack}" in services
    # Grafana's Jaeger datasource URL is http://jaeger:16686/jaeger: the API is not at the root (the
    # UI answers any other path with its page, whose <base> points under the base path).
    status, body = http_get(live.url(QUERY_PORT, "/api/services"))
    assert status != 200 or body.lstrip().startswith("<!DOCTYPE html>")
    status, page = http_get(live.url(QUERY_PORT, f"{BASE_PATH}/"))
    assert status == 200 and page.lstrip().startswith("<!DOCTYPE html>")
    served = re.search(r'"gitVersion":"v2\.(\d+)\.', page)
    assert served, "the UI page names the Jaeger version it was served by"
    if int(served.group(1)) < 18:
        # Up to 2.17 the server writes the base path into the page's <base>; from 2.18 on the UI
        # finds its own mount point in the browser (jaegertracing/jaeger#8568, ADR-009, first in
        # v2.18.0: cmd/jaeger/internal/extension/jaegerquery/internal/static_handler.go).
        assert f'<base href="{BASE_PATH}/"' in page


def test_thrift_http_receiver_listens_where_the_output_points(live: LiveJaeger) -> None:
    """jaegerThriftHttpEndpoint (…:14268/api/traces): the jaeger receiver answers a bad batch with 400."""
    request = urllib.request.Request(live.url(THRIFT_HTTP_PORT, "/api/traces"), data=b"not thrift",
                                     method="POST", headers={"Content-Type": "application/x-thrift"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 400


def test_metrics_port_serves_what_prometheus_scrapes(live: LiveJaeger) -> None:
    """Prometheus' `monitoring` job scrapes jaeger:8888/metrics: it must be Prometheus text with span counts."""
    test_otlp_http_span_comes_back_from_the_query_api(live)

    def accepted() -> str | None:
        status, body = http_get(live.url(METRICS_PORT, "/metrics"))
        return body if status == 200 and "otelcol_receiver_accepted_spans" in body else None

    body = wait_until("accepted-span counters on /metrics", accepted, QUERY_TIMEOUT, alive=live.server.check_alive)
    # The names the Jaeger dashboard reads, suffixes included, whichever Jaeger v2 runs (2.20's
    # collector core drops them unless the rendered exporter says otherwise).
    assert "# TYPE otelcol_receiver_accepted_spans_total counter" in body
    assert "otelcol_process_memory_rss_bytes" in body


def test_badger_writes_to_the_data_volume(live: LiveJaeger) -> None:
    if live.stack == "dev":
        assert not live.data_dir.exists()  # memory storage: nothing on disk
        return
    test_otlp_grpc_span_comes_back_from_the_query_api(live)
    assert any((live.data_dir / "keys").iterdir()) and any((live.data_dir / "values").iterdir())
