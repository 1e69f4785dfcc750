"""The service catalog reports every problem at once, one line each, in the settings' style."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml
from test_dashboards import PROMETHEUS_YML, queries
from test_grafana import substitute

from components.catalog import (
    EMPTY_CATALOG_WARNING,
    RESERVED_JOBS,
    RESERVED_SERVICES,
    Catalog,
    CatalogError,
    load_catalog,
    parse_catalog,
)
from components.render.grafana import DASHBOARDS_DIR
from components.render.prometheus import CATALOG_RULES_FILE, scrape_jobs
from conftest import stack_run
from mockengine.manifests import plain
from mockengine.program import ROOT, STACKS, program_copy
from mockengine.rendered import workload_files
from mockengine.run import Run, run_program
from sd_fixture import promtool_with_kubernetes_sd
from tools import require, run_tool

SOURCE = "configs/services.yaml"
PORT = "(allowed: a port number from 1 to 65535, without quotes)"
DNS = "(allowed: a DNS label: lowercase letters, digits and '-', at most 63)"


def problems(data: Any) -> list[str]:
    with pytest.raises(CatalogError) as caught:
        parse_catalog(data)
    message = str(caught.value)
    if "\n" not in message:
        return [message.removeprefix("invalid service catalog: ")]
    heading, *lines = message.splitlines()
    assert heading == "invalid service catalog:"
    return [line.removeprefix("  ") for line in lines]


def test_the_repository_catalog_loads() -> None:
    assert [job.name for job in load_catalog().jobs][:2] == ["nestjs-services", "spring-services"]


@pytest.mark.parametrize(("catalog", "line"), [
    ({"jobs": {"go": {"services": {"a": "6001"}}}}, f"jobs.go.services.a: '6001' is not valid {PORT}"),
    ({"jobs": {"go": {"services": {"a": 70000}}}}, f"jobs.go.services.a: 70000 is not valid {PORT}"),
    ({"jobs": {"go": {"services": {"a": True}}}}, f"jobs.go.services.a: True is not valid {PORT}"),
    ({"jobs": {"go": {"services": {"Bad_Name": 1}}}},
     f"jobs.go.services.Bad_Name: service name 'Bad_Name' is not valid {DNS}"),
    ({"jobs": {"Go": {"services": {"a": 1}}}}, f"jobs.Go: job name 'Go' is not valid {DNS}"),
    ({"jobs": {"go": {"services": {}}}},
     "jobs.go.services: an empty mapping is not valid (allowed: a mapping of service name to metrics port, "
     "at least one service)"),
    ({"jobs": {"go": {"metrics_path": "metrics", "services": {"a": 1}}}},
     "jobs.go.metrics_path: 'metrics' is not valid (allowed: a URL path such as /metrics or /actuator/prometheus)"),
    ({"jobs": {"go": {"services": {"a": 1}}, "py": {"services": {"a": 2}}}},
     "jobs.py.services.a: service 'a' is also listed under jobs.go (allowed: each service under one job)"),
    ({"jobs": {"redis": {"services": {"a": 1}}}},
     "jobs.redis: job name 'redis' is reserved for the monitoring stack (allowed: any other name; reserved: "
     f"{', '.join(sorted(RESERVED_JOBS))})"),
    ({"jobs": {"kubelet": {"services": {"a": 1}}}},
     "jobs.kubelet: job name 'kubelet' is reserved for the monitoring stack (allowed: any other name; reserved: "
     f"{', '.join(sorted(RESERVED_JOBS))})"),
    ({"jobs": {"go": {"services": {"a": 1}, "port": 3}}},
     "jobs.go.port: unknown key (allowed here: metrics_path, team, services)"),
    ({"jobs": {"go": {"metrics_path": "/metrics"}}}, "jobs.go.services: required, but not set"),
    ({"jobs": {"go": None}}, "jobs.go: an empty value is not valid (allowed: a mapping with services and, "
                             "optionally, metrics_path and team)"),
    ({"jobs": []}, "jobs: an empty list is not valid (allowed: a mapping of job name to its services, or empty)"),
    ({"jobs": {"go": {"services": {"loki": 6006}}}},
     "jobs.go.services.loki: 'loki: 6006' names a workload of the monitoring stack itself (allowed: any other "
     f"name; reserved: {', '.join(sorted(RESERVED_SERVICES))})"),
    ({"services": []}, "services: unknown key (allowed here: jobs)"),
    ([1], "a list is not valid (allowed: a mapping with the key jobs)"),
])
def test_a_bad_entry_is_one_line_naming_file_key_value_and_rule(catalog: Any, line: str) -> None:
    assert line in [p.removeprefix(f"{SOURCE}: ") for p in problems(catalog)]
    assert all(p.startswith(f"{SOURCE}: ") for p in problems(catalog))


def test_every_problem_is_reported_at_once_in_file_order() -> None:
    catalog = {"jobs": {
        "go": {"metrics_path": "metrics", "services": {"a": 70000, "Bad": 1, "b": 2}},
        "redis": {"services": {"b": 3}},
    }}
    assert [p.removeprefix(f"{SOURCE}: ") for p in problems(catalog)] == [
        "jobs.go.metrics_path: 'metrics' is not valid (allowed: a URL path such as /metrics or /actuator/prometheus)",
        f"jobs.go.services.a: 70000 is not valid {PORT}",
        f"jobs.go.services.Bad: service name 'Bad' is not valid {DNS}",
        "jobs.redis: job name 'redis' is reserved for the monitoring stack (allowed: any other name; reserved: "
        f"{', '.join(sorted(RESERVED_JOBS))})",
        "jobs.redis.services.b: service 'b' is also listed under jobs.go (allowed: each service under one job)",
    ]


def test_a_duplicate_never_dumps_the_catalog() -> None:
    catalog = {"jobs": {f"job-{n}": {"services": {f"svc-{n}-{m}": 8000 + m for m in range(20)}} for n in range(3)}}
    catalog["jobs"]["job-2"]["services"]["svc-0-0"] = 9000
    (line,) = problems(catalog)
    assert len(line) < 160 and "{" not in line, line


def test_a_yaml_error_is_one_line_with_its_position(tmp_path: Path) -> None:
    # (The program's own catalog is named configs/services.yaml: see tests/test_settings.py.)
    other = tmp_path / "services.yaml"
    other.write_text((ROOT / SOURCE).read_text().replace("backend: 3000", "backend: [3000"))
    with pytest.raises(CatalogError) as caught:
        load_catalog(other)
    message = str(caught.value)
    assert message.startswith(f"invalid service catalog: {other}: line ") and "not valid YAML" in message
    assert "\n" not in message


def test_a_yaml_error_names_the_file_once_with_line_and_column(tmp_path: Path) -> None:
    # The key without its ':' is on line 5; the parser notices on line 6 and names both.
    text = "jobs:\n  go:\n    services:\n      a: 1\n      b 2\n      c: 3\n"
    assert _catalog_error(tmp_path, text) == (
        f"invalid service catalog: {SOURCE}: line 6, column 7: not valid YAML (could not find expected ':', while "
        "scanning a simple key at line 5, column 7)")


def _catalog_error(tmp_path: Path, text: str) -> str:
    path = tmp_path / "services.yaml"
    path.write_text(text)
    with pytest.raises(CatalogError) as caught:
        load_catalog(path)
    return str(caught.value).replace(str(path), SOURCE)


def test_a_service_listed_twice_under_one_job_is_named_with_its_job_and_lines(tmp_path: Path) -> None:
    """YAML keeps only the last of two equal keys: the first port would vanish without a word."""
    text = (ROOT / SOURCE).read_text().replace("      realtime: 3001\n", "      realtime: 3001\n      backend: 3009\n")
    first = text.splitlines().index("      backend: 3000") + 1
    assert _catalog_error(tmp_path, text) == (
        f"invalid service catalog: {SOURCE}: jobs.nestjs-services.services.backend: service 'backend' is listed twice "
        f"under jobs.nestjs-services, on lines {first} and {first + 2} (allowed: each service once per job)")


@pytest.mark.parametrize(("text", "line"), [
    ("jobs:\n  go:\n    services: {a: 1}\n  go:\n    services: {b: 2}\n",
     "jobs.go: job 'go' is listed twice, on lines 2 and 4 (allowed: each job once)"),
    ("jobs:\n  go:\n    metrics_path: /a\n    metrics_path: /b\n    services: {a: 1}\n",
     "jobs.go.metrics_path: key 'metrics_path' is given twice, on lines 3 and 4 (allowed: each key once)"),
], ids=["job", "job-key"])
def test_any_other_key_given_twice_is_named_with_its_lines(tmp_path: Path, text: str, line: str) -> None:
    assert _catalog_error(tmp_path, text) == f"invalid service catalog: {SOURCE}: {line}"


def test_a_duplicate_written_once_quoted_is_still_a_duplicate(tmp_path: Path) -> None:
    # `a` and `'a'` load as the same string key; `1` and `'1'` would not (an int and a string).
    text = "jobs:\n  go:\n    services:\n      a: 1\n      'a': 2\n"
    assert _catalog_error(tmp_path, text) == (
        f"invalid service catalog: {SOURCE}: jobs.go.services.a: service 'a' is listed twice under jobs.go, on lines "
        "4 and 5 (allowed: each service once per job)")


def test_a_missing_catalog_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(CatalogError) as caught:
        load_catalog(tmp_path / "services.yaml")
    assert str(caught.value) == f"invalid service catalog: {tmp_path / 'services.yaml'}: cannot be read " \
                                "(No such file or directory)"


def test_catalog_errors_take_pulumis_run_error_route() -> None:
    # The language host prints a RunError without a traceback (see tests/test_settings.py).
    assert issubclass(CatalogError, pulumi.RunError)


# One rule for numbers in the catalog and the stack file (components/settings/base.py): written as YAML
# numbers, so a value either passes both or neither.
@pytest.mark.parametrize("port", [3000, 1, 65535, "3000", 3000.0, True, 0, 70000, "3_000", None])
def test_the_catalog_and_the_stack_file_agree_on_ports(port: Any) -> None:
    from components.settings import SettingsError, parse_settings

    try:
        parse_catalog({"jobs": {"go": {"services": {"a": port}}}})
        catalog_accepts = True
    except CatalogError:
        catalog_accepts = False
    try:
        parse_settings({"target": "docker", "grafana": {"adminPassword": "x", "publishPort": port},
                        "exporters": {"postgres": {"enabled": False}}}, {"grafana"})
        stack_accepts = True
    except SettingsError:
        stack_accepts = False
    assert catalog_accepts == stack_accepts == (port in (3000, 1, 65535) and not isinstance(port, (bool, float)))


# --- the stack's own workload names ---------------------------------------------------------------


def test_a_service_named_like_a_stack_workload_is_one_line_naming_file_and_entry(tmp_path: Path) -> None:
    """`prometheus: 6007` would share Prometheus' DNS name on Docker: scraped on the wrong port, paging."""
    path = tmp_path / "services.yaml"
    path.write_text((ROOT / SOURCE).read_text().replace("      bookmark: 6005\n",
                                                        "      bookmark: 6005\n      prometheus: 6007\n"))
    with pytest.raises(CatalogError) as caught:
        load_catalog(path)
    assert str(caught.value) == (
        f"invalid service catalog: {path}: jobs.go-services.services.prometheus: 'prometheus: 6007' names a "
        f"workload of the monitoring stack itself (allowed: any other name; reserved: "
        f"{', '.join(sorted(RESERVED_SERVICES))})")


def _deployed_names(run: Run) -> set[str]:
    """Every name a stack's workloads answer to or run under: Docker network aliases and container
    names (`quikapp-<name>`), Kubernetes Service names (headless ones too)."""
    names: set[str] = set()
    for container in run.of_type("docker:index/container:Container"):
        inputs = plain(container.inputs)
        names.add(inputs["name"].removeprefix("quikapp-"))
        networks = inputs.get("networksAdvanced") or []
        names.update(alias for network in networks for alias in network.get("aliases") or [])
    names.update(plain(s.inputs)["metadata"]["name"] for s in run.of_type("kubernetes:core/v1:Service"))
    return names


def test_every_name_a_stack_deploys_is_reserved_for_it() -> None:
    deployed = set().union(*(_deployed_names(stack_run(stack)) for stack in STACKS))
    assert {"prometheus", "loki", "grafana", "alertmanager", "jaeger", "promtail", "redis-exporter",
            "node-exporter", "kube-state-metrics", "alertmanager-headless"} <= deployed
    assert deployed <= RESERVED_SERVICES, sorted(deployed - RESERVED_SERVICES)


def test_the_repository_catalog_uses_no_reserved_name() -> None:
    names = {name for job in load_catalog().jobs for name, _ in job.services}
    assert not names & RESERVED_SERVICES


# --- an empty catalog ---------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["jobs: {}\n", "jobs:\n"])
def test_an_empty_catalog_is_allowed(text: str) -> None:
    assert parse_catalog(yaml.safe_load(text)) == Catalog(jobs=())


@dataclass
class EmptyRun:
    run: Run
    warnings: list[str]


class _Warnings(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture(scope="module")
def empty_catalog(tmp_path_factory: pytest.TempPathFactory) -> dict[str, EmptyRun]:
    """The real program on dev (Docker) and staging (Kubernetes) with every service removed."""
    program = program_copy(tmp_path_factory.mktemp("empty-catalog"), {})
    catalog = program / SOURCE
    catalog.write_text(catalog.read_text().split("jobs:")[0] + "jobs: {}\n")
    runs = {}
    for stack in ("dev", "staging"):
        handler = _Warnings()
        logging.getLogger().addHandler(handler)  # the mock engine logs pulumi.log.warn to the root logger
        try:
            run = run_program(stack, program=program)
        finally:
            logging.getLogger().removeHandler(handler)
        runs[stack] = EmptyRun(run, handler.messages)
    return runs


@pytest.mark.parametrize("stack", ["dev", "staging"])
def test_an_empty_catalog_says_so_once(empty_catalog: dict[str, EmptyRun], stack: str) -> None:
    assert empty_catalog[stack].warnings == [EMPTY_CATALOG_WARNING]


@pytest.mark.parametrize("stack", ["dev", "staging"])
def test_an_empty_catalog_renders_no_app_job_and_no_absence_alert(empty_catalog: dict[str, EmptyRun],
                                                                  stack: str) -> None:
    files = workload_files(empty_catalog[stack].run)["prometheus"]
    full = workload_files(stack_run(stack))["prometheus"]
    app_jobs = {job.name for job in load_catalog().jobs}
    assert scrape_jobs(files[PROMETHEUS_YML]) == scrape_jobs(full[PROMETHEUS_YML]) - app_jobs
    assert yaml.safe_load(files[CATALOG_RULES_FILE])["groups"] == [{"name": "catalog", "rules": []}]
    # Every other file (rules, the other tools' files) is what the full catalog gives.
    assert {p: t for p, t in files.items() if p not in (PROMETHEUS_YML, CATALOG_RULES_FILE)} == \
        {p: t for p, t in full.items() if p not in (PROMETHEUS_YML, CATALOG_RULES_FILE)}


@pytest.mark.parametrize("stack", ["dev", "staging"])
def test_promtool_accepts_the_empty_catalog_config_and_rules(empty_catalog: dict[str, EmptyRun], stack: str,
                                                             tmp_path: Path) -> None:
    promtool = promtool_with_kubernetes_sd(tmp_path) if stack == "staging" else require("promtool")
    files = workload_files(empty_catalog[stack].run)["prometheus"]
    for path, text in files.items():
        target = tmp_path / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    config_path = tmp_path / PROMETHEUS_YML.lstrip("/")
    config = yaml.safe_load(config_path.read_text())
    config["rule_files"] = [str(tmp_path / p.lstrip("/")) for p in config["rule_files"]]
    for job in config["scrape_configs"]:  # the token Kubernetes mounts: promtool checks that it exists
        if "authorization" in job:
            token = tmp_path / "token"
            token.write_text("not-a-token\n")
            job["authorization"]["credentials_file"] = str(token)
    config_path.write_text(yaml.safe_dump(config))
    result = run_tool(promtool, "check", "config", config_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{tmp_path / CATALOG_RULES_FILE.lstrip('/')}\n  SUCCESS: 0 rules found" in result.stdout


@pytest.mark.parametrize("stack", ["dev", "staging"])
def test_an_empty_catalog_keeps_every_dashboard_valid(empty_catalog: dict[str, EmptyRun], stack: str,
                                                      tmp_path: Path) -> None:
    """The same dashboards ship (the services dashboards fill in as services are added); each query
    parses in promtool (as a recording rule's expression)."""
    grafana = workload_files(empty_catalog[stack].run)["grafana"]
    assert grafana == workload_files(stack_run(stack))["grafana"]
    dashboards = [json.loads(t) for p, t in grafana.items() if p.startswith(DASHBOARDS_DIR + "/")]
    assert len(dashboards) >= 8
    rules = [{"record": f"dashboard:query_{n}", "expr": substitute(expr)}
             for n, (_, expr) in enumerate(q for d in dashboards for q in queries(d))]
    (tmp_path / "queries.yml").write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    result = run_tool(require("promtool"), "check", "rules", tmp_path / "queries.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules)} rules found" in result.stdout
