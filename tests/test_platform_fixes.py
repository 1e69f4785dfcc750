"""What only a real platform shows: scheduling, probes, operator links and exemplars (issue 10)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from components.render.grafana import DASHBOARDS_SOURCE
from conftest import stack_run
from mockengine.manifests import k8s_objects, k8s_workload, plain
from mockengine.program import stack_config

KUBERNETES_STACKS = ["staging", "prod"]
POD_KINDS = ("Deployment", "DaemonSet", "StatefulSet")


def pod_specs(stack: str) -> dict[str, dict[str, Any]]:
    run = stack_run(stack)
    return {obj["metadata"]["name"]: obj["spec"]["template"]["spec"]
            for kind in POD_KINDS for obj in k8s_objects(run, kind)}


@pytest.mark.parametrize("stack", KUBERNETES_STACKS)
def test_every_pod_is_scheduled_on_linux_nodes_only(stack: str) -> None:
    # All images are Linux-only; on a mixed cluster Promtail's DaemonSet would otherwise put a
    # pod that can never start on every Windows node.
    specs = pod_specs(stack)
    assert "promtail" in specs
    for name, spec in specs.items():
        assert spec["nodeSelector"] == {"kubernetes.io/os": "linux"}, name


@pytest.mark.parametrize("stack", KUBERNETES_STACKS)
def test_loki_and_promtail_have_readiness_but_no_liveness_probe(stack: str) -> None:
    containers = {name: spec["containers"][0] for name, spec in pod_specs(stack).items()}
    for name in ("loki", "promtail"):
        assert containers[name]["readinessProbe"]["httpGet"]["path"] == "/ready", name
        assert "livenessProbe" not in containers[name], name
    # The others keep theirs: Prometheus and Alertmanager have a /-/healthy distinct from readiness.
    for name in ("prometheus", "alertmanager"):
        assert containers[name]["livenessProbe"]["httpGet"]["path"] == "/-/healthy", name


def _args(stack: str, name: str) -> list[str]:
    run = stack_run(stack)
    if stack_config(stack)["target"] == "docker":
        return list(plain(run.one("docker:index/container:Container", name).inputs)["command"])
    return list(k8s_workload(run, name)["spec"]["template"]["spec"]["containers"][0]["args"])


@pytest.mark.parametrize("stack", ["dev", *KUBERNETES_STACKS])
@pytest.mark.parametrize(("tool", "port"), [("prometheus", 9090), ("alertmanager", 9093)])
def test_alert_and_notification_links_open_the_operators_address(stack: str, tool: str, port: int) -> None:
    args = _args(stack, tool)
    run = stack_run(stack)
    # The same address the stack outputs give operators: published port on Docker,
    # `kubectl port-forward` on Kubernetes.
    expected = run.outputs[f"{tool}Url"]
    assert expected.endswith(f":{port}")
    assert f"--web.external-url={expected}" in args
    # Served at / whatever the external URL's path: probes and in-network clients keep working.
    assert "--web.route-prefix=/" in args


def test_a_wildcard_publish_address_gives_links_a_browser_can_open() -> None:
    from guarantees import run_with

    run = run_with("dev", {"docker": {"publishAddress": "0.0.0.0"}})
    command = plain(run.one("docker:index/container:Container", "prometheus").inputs)["command"]
    assert "--web.external-url=http://localhost:9090" in command


@pytest.mark.parametrize("stack", ["dev", *KUBERNETES_STACKS])
def test_prometheus_keeps_exemplars(stack: str) -> None:
    assert "--enable-feature=exemplar-storage" in _args(stack, "prometheus")


def test_latency_panels_show_exemplars() -> None:
    latency = 0
    for path in sorted(DASHBOARDS_SOURCE.glob("*.json")):
        for panel in json.loads(path.read_text()).get("panels", []):
            for target in panel.get("targets", []):
                if "_bucket" in target.get("expr", ""):
                    latency += 1
                    assert target.get("exemplar") is True, (path.name, panel["title"])
    assert latency >= 5


@pytest.mark.parametrize("stack", ["dev", *KUBERNETES_STACKS])
def test_prometheus_drops_old_blocks_before_its_volume_fills(stack: str) -> None:
    # A full volume stops ingestion (docs/CAPACITY.md: 20Gi holds ~130 services for 15 days): a
    # size cap at 85% of the volume makes Prometheus delete its oldest blocks first.
    from components.quantities import quantity_bytes

    size = stack_config(stack).get("prometheus", {}).get("storageSize", "20Gi")
    flag = next(a for a in _args(stack, "prometheus") if a.startswith("--storage.tsdb.retention.size="))
    cap = flag.split("=", 1)[1]
    assert cap.endswith("MB") and int(cap[:-2]) * 2**20 <= quantity_bytes(size) * 0.85 < (int(cap[:-2]) + 1) * 2**20
