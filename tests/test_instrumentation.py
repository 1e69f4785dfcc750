"""The `instrumentation` output: an entry per catalog runtime, pinning what the live apps run.

The live proof (a span in Jaeger under the catalog name, the dashboards' metrics in Prometheus) is
tests/live/test_live_instrumentation.py; this checks the output against the catalog and the apps'
own manifests, so the versions the output names are the ones that test runs.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from components.catalog import load_catalog
from components.instrumentation import SERVICE_NAME
from conftest import stack_run
from mockengine.program import ROOT, STACKS

APPS = ROOT / "tests" / "live" / "instrumented"
RUNTIMES = ("python", "node", "java", "go", "elixir")


def entries(stack: str = "dev") -> dict[str, Any]:
    return dict(stack_run(stack).outputs["instrumentation"])


@pytest.mark.parametrize("stack", STACKS)
def test_every_catalog_job_has_an_entry_elixir_included(stack: str) -> None:
    output = entries(stack)
    assert set(RUNTIMES) <= set(output)
    covered = {entry["job"] for entry in output.values() if "job" in entry}
    assert {job.name for job in load_catalog().jobs} <= covered
    assert output["elixir"]["job"] == "elixir-services"


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_every_runtime_names_its_service_by_the_catalog_and_points_at_jaeger(runtime: str) -> None:
    out = stack_run("staging").outputs
    env = entries("staging")[runtime]["env"]
    assert env["OTEL_SERVICE_NAME"] == SERVICE_NAME
    assert env["OTEL_RESOURCE_ATTRIBUTES"] == "service.namespace=quikapp"
    endpoint = out["otlpGrpcEndpoint"] if runtime == "go" else out["otlpHttpEndpoint"]
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == endpoint


def _python_pins() -> set[str]:
    lines = (APPS / "python" / "requirements.txt").read_text().splitlines()
    return {line.strip() for line in lines if line.strip() and not line.startswith("#")}


def _node_pins() -> set[str]:
    deps = json.loads((APPS / "node" / "package.json").read_text())["dependencies"]
    return {f"{name}@{version}" for name, version in deps.items()}


def _go_pins() -> set[str]:
    text = (APPS / "go" / "go.mod").read_text()
    direct = re.search(r"require \(\n(.*?)\n\)", text, re.S)
    assert direct, "go.mod has a require block of direct dependencies"
    return {"@".join(line.split()) for line in direct.group(1).splitlines()}


def _pypi_name(requirement: str) -> str:
    """A distribution's normalised name (PEP 503), as pip compares them: prometheus_client = prometheus-client."""
    return re.sub(r"[-_.]+", "-", requirement.split("==")[0]).lower()


def test_the_entries_pin_what_the_live_apps_run() -> None:
    output = entries()
    assert set(output["python"]["packages"]) <= _python_pins()
    assert set(output["node"]["packages"]) <= _node_pins()
    assert set(output["go"]["packages"]) <= _go_pins()
    pom = (APPS / "java" / "pom.xml").read_text()
    agent = re.search(r"<opentelemetry-javaagent.version>(.+?)<", pom)
    assert agent is not None
    assert output["java"]["packages"][0] == f"io.opentelemetry.javaagent:opentelemetry-javaagent:{agent[1]}"
    # The lock holds the entry's packages and what `opentelemetry-bootstrap -a install` added for Flask.
    lock = {_pypi_name(line) for line in (APPS / "python" / "requirements.lock").read_text().splitlines()
            if "==" in line}
    assert {_pypi_name(p) for p in output["python"]["packages"]} | {"opentelemetry-instrumentation-flask"} <= lock
