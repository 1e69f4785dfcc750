"""Every dashboard query reads only metrics that a scrape job of the stack it ships on produces.

Queries are parsed by the deployed Prometheus itself (/api/v1/parse_query of the Go-built 3.16
binary), so every selector is found exactly as PromQL sees it, binary operators, subqueries and
all. A selector's metric name must be produced by a scrape job the stack's rendered prometheus.yml
has: its `job=` matcher's job when it names one, else any of the stack's jobs. What each job
produces comes from evidence listed in tests/fixtures/metrics/*.txt (each file names its upstream
source and tag, or the binary it was read from), plus the series Prometheus adds to every target
and the recording rules the stack ships.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from guarantees import with_changes
from test_grafana import panels, substitute

from components.catalog import load_catalog, parse_catalog
from components.render.grafana import DASHBOARDS_DIR, DASHBOARDS_SOURCE, load_dashboards
from components.render.prometheus import RULES_DIR, infrastructure_jobs, scrape_jobs
from components.render.slo import render_slo_rules
from components.scopes import load_scopes
from components.settings import TargetKind, parse_settings
from conftest import stack_run
from mockengine.program import STACKS, stack_config
from mockengine.rendered import workload_files
from mockengine.run import run_program
from mockengine.stand_ins import with_secrets
from tools import require

FIXTURES = Path(__file__).parent / "fixtures" / "metrics"
PROMETHEUS_DS = {"type": "prometheus", "uid": "prometheus"}
LOKI_DS = {"type": "loki", "uid": "loki"}
JAEGER_DS = {"type": "jaeger", "uid": "jaeger"}
PROMETHEUS_YML = "/etc/prometheus/prometheus.yml"
# The dashboards' scopes (configs/scopes.yaml).
SCOPES = load_scopes().dashboards.scopes
# The seed's dashboards over the catalog's services: on every stack, with an empty catalog too.
APP_DASHBOARDS = {"services-overview.json", "key-metrics-by-service.json"}

# Series Prometheus writes for every target and for alerting rules, whatever the job
# (prometheus.io/docs/concepts/jobs_instances "Automatically generated labels and time series").
SYNTHETIC = frozenset({"up", "scrape_duration_seconds", "scrape_samples_scraped",
                       "scrape_samples_post_metric_relabeling", "scrape_series_added", "ALERTS",
                       "ALERTS_FOR_STATE"})

# The `monitoring` job's targets, told apart by their `service` label (components/services.py
# MONITORED_TOOLS). Grafana's and Promtail's names have no fixture: a panel on
# them fails here until someone records what they export.
# Jaeger: the deployed 2.20.0 and CI's 2.13.0 spell their counters differently (jaeger-v2.20.0.txt).
MONITORING_SERVICES: dict[str, tuple[str, ...]] = {
    "alertmanager": ("alertmanager",), "jaeger": ("jaeger", "jaeger-v2.20.0"), "loki": ("loki",),
    "grafana": (), "promtail": ()}
EVIDENCE = {"prometheus": "prometheus", "redis": "redis", "postgres": "postgres", "kafka": "kafka",
            "nginx": "nginx", "node-exporter": "node-exporter", "cadvisor": "cadvisor",
            "kube-state-metrics": "kube-state-metrics", "kubelet": "kubelet"}
APP_EVIDENCE = "quikapp-services"
# Histogram and summary series carry a suffix on the family name the fixtures list.
SUFFIXES = ("_bucket", "_sum", "_count")


def fixture_names(name: str | None) -> frozenset[str]:
    if name is None:
        return frozenset()
    lines = (FIXTURES / f"{name}.txt").read_text().splitlines()
    return frozenset(line.strip() for line in lines if line.strip() and not line.startswith("#"))


def job_metrics(job: str, service: str | None = None) -> frozenset[str]:
    """The metric families a scrape job produces (one target of `monitoring` when `service` names it)."""
    if job == "monitoring":
        services = [service] if service in MONITORING_SERVICES else list(MONITORING_SERVICES)
        return frozenset().union(*(fixture_names(f) for s in services for f in MONITORING_SERVICES[s]))
    if job in EVIDENCE:
        return fixture_names(EVIDENCE[job])
    if job in {j.name for j in load_catalog().jobs}:
        return fixture_names(APP_EVIDENCE)
    return frozenset()


def produced(name: str, families: frozenset[str]) -> bool:
    return name in families or any(name.endswith(s) and name[:-len(s)] in families for s in SUFFIXES)


# --- the parser: the deployed Prometheus ------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(url: str, data: bytes | None = None) -> bytes:
    with urllib.request.urlopen(url, data=data, timeout=10) as response:
        return bytes(response.read())


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A running Prometheus (its base URL) that scrapes itself, evaluates a rule and has an
    Alertmanager configured, so its own /metrics carry the families those features add."""
    binary = require("prometheus")
    base = tmp_path_factory.mktemp("prometheus")
    port = _free_port()
    (base / "rules.yml").write_text(yaml.safe_dump({"groups": [{"name": "g", "rules": [
        {"record": "x:up", "expr": "up"}, {"alert": "Always", "expr": "vector(1)"}]}]}))
    (base / "prometheus.yml").write_text(yaml.safe_dump({
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{_free_port()}"]}]}]},
        "rule_files": [str(base / "rules.yml")],
        "scrape_configs": [{"job_name": "prometheus", "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]}],
    }))
    log = (base / "log").open("w")
    process = subprocess.Popen([binary, f"--config.file={base / 'prometheus.yml'}",
                                f"--storage.tsdb.path={base / 'data'}", f"--web.listen-address=127.0.0.1:{port}"],
                               stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                _get(f"{url}/-/ready")
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError("prometheus did not start:\n" + (base / "log").read_text()) from None
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


Selector = tuple[str | None, dict[str, tuple[str, str]]]  # (metric name, label → (match type, value))


def selectors(url: str, expr: str) -> list[Selector]:
    """Every vector/matrix selector of `expr` as Prometheus' own parser sees it."""
    body = urllib.parse.urlencode({"query": expr}).encode()
    reply = json.loads(_get(f"{url}/api/v1/parse_query", body))
    assert reply["status"] == "success", (expr, reply)
    found: list[Selector] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") in {"vectorSelector", "matrixSelector"}:
                matchers = {m["name"]: (m["type"], m["value"]) for m in node["matchers"]}
                found.append((node.get("name") or None, matchers))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(reply["data"])
    return found


LABEL_VALUES = re.compile(r"^label_values\((.*),\s*\w+\)$")


def queries(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(where, PromQL) of every panel target and every query variable of a dashboard."""
    for panel in panels(dashboard):
        for target in panel.get("targets", []):
            if target["datasource"]["type"] == "prometheus":
                yield f"{panel['title']}/{target['refId']}", target["expr"]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            match = LABEL_VALUES.match(variable["query"]["query"])
            assert match, variable["query"]["query"]
            yield f"variable {variable['name']}", match.group(1)


def problems(dashboards: dict[str, dict[str, Any]], jobs: frozenset[str], recorded: frozenset[str],
             parse: Callable[[str], list[Selector]]) -> list[str]:
    """One line per selector whose metric no scrape job of the stack produces."""
    everything = frozenset().union(*(job_metrics(j) for j in jobs))
    found = []
    for name, dashboard in sorted(dashboards.items()):
        for where, expr in queries(dashboard):
            for metric, matchers in parse(substitute(expr)):
                if metric is None:
                    found.append(f"{name} {where}: a selector without a metric name")
                    continue
                if metric in SYNTHETIC or metric in recorded:
                    continue
                kind, job = matchers.get("job", ("", ""))
                if kind == "=":
                    if job not in jobs:
                        found.append(f"{name} {where}: {metric} reads job {job}, which this stack does not scrape")
                        continue
                    service = matchers.get("service", ("", ""))
                    families = job_metrics(job, service[1] if service[0] == "=" else None)
                    if not produced(metric, families):
                        found.append(f"{name} {where}: job {job} does not produce {metric}")
                elif not produced(metric, everything):
                    found.append(f"{name} {where}: no scrape job of this stack produces {metric}")
    return found


def stack_facts(run: Any) -> tuple[dict[str, dict[str, Any]], frozenset[str], frozenset[str]]:
    """(shipped dashboards, scrape jobs, recorded names) of an evaluated stack, from its rendered files."""
    files = workload_files(run)
    shipped = {Path(p).name: json.loads(t) for p, t in files["grafana"].items()
               if p.startswith(DASHBOARDS_DIR + "/")}
    prometheus_files = files["prometheus"]
    jobs = scrape_jobs(prometheus_files[PROMETHEUS_YML])
    recorded = frozenset(rule["record"] for path, text in prometheus_files.items()
                         if path.startswith(RULES_DIR + "/")
                         for group in yaml.safe_load(text)["groups"] for rule in group["rules"] if "record" in rule)
    return shipped, jobs, recorded | slo_records()


def slo_records() -> frozenset[str]:
    """The names the SLO rules record once any service of the catalog has an objective (the committed
    catalog has none yet; the service dashboard reads them): rendered for a catalog that has both kinds."""
    catalog = parse_catalog({"jobs": {"go": {"services": {"a": {"port": 1, "slo": {
        "availability": 99.9, "latency": {"threshold": 0.25, "target": 99}}}}}}})
    text = render_slo_rules(catalog)
    assert text is not None
    return frozenset(rule["record"] for group in yaml.safe_load(text)["groups"] for rule in group["rules"]
                     if "record" in rule)


# --- the check ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_every_shipped_dashboard_query_reads_a_scraped_metric(stack: str, prometheus: str) -> None:
    shipped, jobs, recorded = stack_facts(stack_run(stack))
    assert len(shipped) >= 8
    seen: list[Selector] = []

    def parse(expr: str) -> list[Selector]:
        seen.extend(selectors(prometheus, expr))
        return selectors(prometheus, expr)

    assert problems(shipped, jobs, recorded, parse) == []
    assert len(seen) >= 100  # the check looked at every panel, not at nothing


def test_every_dashboard_checks_on_some_stack() -> None:
    """Each dashboard file ships on at least one of the committed stacks, so the check above saw it."""
    seen = set().union(*(stack_facts(stack_run(s))[0] for s in STACKS))
    assert seen == {p.name for p in DASHBOARDS_SOURCE.glob("*.json")}


def test_a_misspelt_metric_fails(prometheus: str) -> None:
    shipped, jobs, recorded = stack_facts(stack_run("dev"))
    node = json.loads(json.dumps(shipped["node.json"]).replace("node_load1{", "node_load_1{"))
    found = problems({"node.json": node}, jobs, recorded, lambda e: selectors(prometheus, e))
    assert found == ["node.json Load per CPU/A: job node-exporter does not produce node_load_1"]


def test_a_metric_of_another_job_fails(prometheus: str) -> None:
    """A real metric under the wrong job (here Loki's on the Jaeger target) is caught too."""
    shipped, jobs, recorded = stack_facts(stack_run("dev"))
    jaeger = json.loads(json.dumps(shipped["jaeger.json"]).replace(
        "otelcol_process_memory_rss_bytes", "loki_ingester_memory_streams"))
    found = problems({"jaeger.json": jaeger}, jobs, recorded, lambda e: selectors(prometheus, e))
    assert found == ["jaeger.json Memory (RSS)/A: job monitoring does not produce loki_ingester_memory_streams"]


def test_a_dashboard_on_an_unscraped_job_fails(prometheus: str) -> None:
    """The pods dashboard reads kube-state-metrics, which no Docker stack scrapes."""
    _, jobs, recorded = stack_facts(stack_run("dev"))
    pods = load_dashboards()["kubernetes-pods.json"]
    found = problems({"kubernetes-pods.json": pods}, jobs, recorded, lambda e: selectors(prometheus, e))
    assert found and all("kube-state-metrics, which this stack does not scrape" in line
                         for line in found if "kube_" in line)


def test_jaeger_panels_work_on_the_deployed_and_the_tested_version(prometheus: str) -> None:
    """Each Jaeger query reads a name that 2.20.0 (deployed) and 2.13.0 (CI) both export with the rendered config."""
    versions = {"2.13.0": fixture_names("jaeger"), "2.20.0": fixture_names("jaeger-v2.20.0")}
    # The rendered reader keeps the suffixes 2.20's collector core would drop by default.
    assert "otelcol_receiver_accepted_spans_total" in versions["2.13.0"] & versions["2.20.0"]
    for where, expr in queries(load_dashboards()["jaeger.json"]):
        names = {metric for metric, _ in selectors(prometheus, substitute(expr)) if metric not in SYNTHETIC}
        if not names:
            continue  # up{...}
        for version, families in versions.items():
            assert any(produced(n, families) for n in names), f"{where}: nothing {version} exports in {sorted(names)}"


def test_the_parser_sees_every_selector(prometheus: str) -> None:
    found = selectors(prometheus, 'sum by (x) (rate(a_total{job="j"}[5m])) / on (x) b + max_over_time(c[1h:1m])')
    assert [name for name, _ in found] == ["a_total", "b", "c"]
    assert found[0][1]["job"] == ("=", "j")


def test_the_prometheus_dashboard_reads_what_the_running_binary_exports(prometheus: str) -> None:
    """The prometheus job's names the dashboards use appear on the deployed version's own /metrics."""
    used = set()
    for dashboard in load_dashboards().values():
        for _, expr in queries(dashboard):
            for metric, matchers in selectors(prometheus, substitute(expr)):
                if matchers.get("job") == ("=", "prometheus") and metric not in SYNTHETIC:
                    used.add(metric)
    assert len(used) >= 10
    deadline = time.monotonic() + 30
    while True:  # rule and notification families appear after the first evaluation
        text = _get(f"{prometheus}/metrics").decode()
        families = frozenset(line.split()[2] for line in text.splitlines() if line.startswith("# TYPE "))
        missing = sorted(m for m in used if not produced(m, families))
        if not missing or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert missing == []


# --- which dashboards ship where -----------------------------------------------------------------------------------


def shipped_names(stack: str, changes: dict[str, Any] | None = None) -> set[str]:
    run = run_program(stack, *with_changes(stack, changes)) if changes else stack_run(stack)
    return set(stack_facts(run)[0])


def test_every_dashboard_is_scoped_and_only_the_service_dashboards_ship_everywhere() -> None:
    files = {p.name for p in DASHBOARDS_SOURCE.glob("*.json")}
    assert set(SCOPES) <= files
    assert files - set(SCOPES) == set()
    assert {name for name, scope in SCOPES.items() if scope.everywhere} == APP_DASHBOARDS | {"service.json"}
    assert SCOPES["service.json"].jobs == frozenset()  # the alerts' link target: on every stack


@pytest.mark.parametrize("stack", STACKS)
def test_dashboards_follow_the_target(stack: str) -> None:
    names = shipped_names(stack)
    docker = stack_config(stack)["target"] == "docker"
    assert ("containers-docker.json" in names) is docker
    assert ("kubernetes-pods.json" in names) is not docker
    assert {"node.json", "prometheus.json", "loki.json", "jaeger.json", "services-overview.json",
            "service.json"} <= names


def test_a_disabled_exporter_or_collector_takes_its_dashboard_along() -> None:
    assert {"redis.json", "node.json", "kubernetes-pods.json"} <= shipped_names("prod")
    names = shipped_names("prod", {"exporters": {"redis": {"enabled": False}},
                                   "collectors": {"nodeExporter": {"enabled": False},
                                                  "kubeStateMetrics": {"enabled": False}}})
    assert not {"redis.json", "node.json", "kubernetes-pods.json"} & names
    assert "nginx.json" in names
    # dev runs without the postgres exporter (its DSN is not set): no PostgreSQL dashboard there.
    assert "postgres.json" not in shipped_names("dev")


@pytest.mark.parametrize("stack", STACKS)
def test_infrastructure_jobs_match_the_rendered_prometheus_yml(stack: str) -> None:
    settings = parse_settings(*with_secrets(stack_config(stack)))
    _, jobs, _ = stack_facts(stack_run(stack))
    catalog_jobs = {job.name for job in load_catalog().jobs}
    assert infrastructure_jobs(settings) == jobs - catalog_jobs


# --- conventions ---------------------------------------------------------------------------------------------------


def test_each_dashboard_names_its_source_and_keeps_the_conventions() -> None:
    for name, dashboard in load_dashboards().items():
        assert dashboard["uid"].startswith("quikapp-"), name
        if name not in APP_DASHBOARDS:
            assert re.search(r"Written for this project|@v\d", dashboard["description"]), name
        for where, expr in queries(dashboard):
            # Grafana picks the window: no hard-coded range that breaks at other scrape intervals.
            for window in re.findall(r"\[([^\]]*)\]", expr):
                assert window in {"$__rate_interval", "$__range"}, f"{name} {where}: [{window}]"
        for panel in panels(dashboard):
            for target in panel.get("targets", []):
                # Metrics from Prometheus; only a logs panel reads Loki and only a table Jaeger's search.
                expected = {"logs": LOKI_DS, "table": JAEGER_DS}.get(panel["type"], PROMETHEUS_DS)
                assert target["datasource"] == expected == panel["datasource"], f"{name} {panel['title']}"


def test_fixtures_name_their_source() -> None:
    for path in sorted(FIXTURES.glob("*.txt")):
        header = [line for line in path.read_text().splitlines() if line.startswith("#")]
        assert header, path.name
        assert re.search(r"@v?\d|\.tools/bin|not a measurement", " ".join(header)), path.name
        names = fixture_names(path.stem)
        assert names and all(re.fullmatch(r"[a-zA-Z_:][a-zA-Z0-9_:]*", n) for n in names), path.name


def test_the_kubelet_fixture_is_what_the_sources_register() -> None:
    """kubelet.txt is re-read from the pinned Kubernetes modules (scripts/kubelet-metric-names.py)."""
    script = Path(__file__).resolve().parent.parent / "scripts" / "kubelet-metric-names.py"
    result = subprocess.run([sys.executable, str(script), "--check"], capture_output=True, text=True, timeout=900)
    if result.returncode == 2:
        message = f"the Kubernetes modules could not be had: {result.stderr.strip()}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    assert result.returncode == 0, result.stderr
    assert {"kubelet_volume_stats_available_bytes", "kubelet_running_pods", "kubernetes_build_info"} <= fixture_names(
        "kubelet")


def test_docker_and_kubernetes_stacks_exist() -> None:
    kinds = {parse_settings(*with_secrets(stack_config(s))).target for s in STACKS}
    assert kinds == {TargetKind.DOCKER, TargetKind.KUBERNETES}
