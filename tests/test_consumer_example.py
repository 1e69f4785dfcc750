"""examples/service-stack consumes the real monitoring stack's outputs through a StackReference."""

from __future__ import annotations

import pytest

from conftest import stack_run
from harness import ROOT, run_program
from manifests import plain

EXAMPLE = ROOT / "examples" / "service-stack"


def _run_example(monitoring_stack: str, target: str) -> dict[str, object]:
    outputs = stack_run(monitoring_stack).outputs
    ref = f"organization/quikapp-monitoring/{monitoring_stack}"
    values = {"monitoringStack": ref, "service": "backend", "image": "quikapp/backend:1.4.2", "runtime": "node",
              "target": target}
    run = run_program(monitoring_stack, values, set(), program=EXAMPLE, project="quikapp-service-example",
                      stack_references={ref: outputs})
    kind = "docker:index/container:Container" if target == "docker" else "kubernetes:apps/v1:Deployment"
    (service,) = run.of_type(kind)
    return {"inputs": plain(service.inputs), "outputs": run.outputs, "monitoring": outputs}


def test_docker_service_joins_the_monitoring_network_with_otlp_env() -> None:
    result = _run_example("dev", "docker")
    inputs, monitoring = result["inputs"], result["monitoring"]
    assert isinstance(inputs, dict) and isinstance(monitoring, dict)
    assert inputs["networksAdvanced"] == [{"name": monitoring["network"], "aliases": ["backend"]}]
    env = dict(e.split("=", 1) for e in inputs["envs"])
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://jaeger:4318"
    assert env["OTEL_SERVICE_NAME"] == "backend"
    assert result["outputs"] == {"dashboards": monitoring["grafanaUrl"], "traces": monitoring["jaegerUiUrl"]}


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_kubernetes_service_gets_the_cluster_otlp_endpoint(stack: str) -> None:
    result = _run_example(stack, "kubernetes")
    inputs = result["inputs"]
    assert isinstance(inputs, dict)
    env = {e["name"]: e["value"] for e in inputs["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://jaeger.monitoring.svc.cluster.local:4318"
