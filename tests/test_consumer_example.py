"""examples/service-stack consumes the real monitoring stack's outputs through a StackReference.

On Kubernetes the example must be scrapeable: its Deployment and Service, as the example declares
them, become the Pods and the EndpointSlice the cluster would hold (the EndpointSlice controller's
port resolution, k8s.io/endpointslice@v0.34.4 utils.go `getEndpointPorts`/`FindPort`: a Service
port whose targetPort names no container port of the pod is left out), their discovery labels come
from tests/sd_fixture.py, and a real Prometheus runs the staging stack's rendered scrape job for the
service, relabeling verbatim, over them through file_sd (as tests/test_discovery.py does).
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import kubernetes_validate
import pytest
import yaml

from components.catalog import load_catalog
from conftest import stack_run
from live.live_servers import (
    LOOPBACK,
    free_ports,
    get_json,
    http_get,
    servers_in_tempdir,
    start_prometheus,
    wait_until,
)
from mockengine.manifests import manifest, plain
from mockengine.program import ROOT
from mockengine.rendered import workload_files
from mockengine.run import Run, run_program
from sd_fixture import endpointslice_targets

EXAMPLE = ROOT / "examples" / "service-stack"
SERVICE = "backend"  # the example's Pulumi.dev.yaml: a service of the catalog's nestjs-services job
PROMETHEUS_YML = "/etc/prometheus/prometheus.yml"


def catalog_entry(service: str) -> tuple[str, int, str]:
    """(job, port, metrics path) of a service in configs/services.yaml."""
    (found,) = [(job.name, port, job.metrics_path) for job in load_catalog().jobs
                for name, port in job.services if name == service]
    return found


def run_example(monitoring_stack: str, replicas: int = 1) -> Run:
    outputs = stack_run(monitoring_stack).outputs
    ref = f"organization/quikapp-monitoring/{monitoring_stack}"
    _, port, _ = catalog_entry(SERVICE)
    values = {"monitoringStack": ref, "service": SERVICE, "metricsPort": str(port), "image": "quikapp/backend:1.4.2",
              "runtime": "node", "replicas": str(replicas)}
    return run_program(monitoring_stack, values, set(), program=EXAMPLE, project="quikapp-service-example",
                       stack_references={ref: outputs})


def test_the_example_stack_file_names_the_catalog_port() -> None:
    config = yaml.safe_load((EXAMPLE / "Pulumi.dev.yaml").read_text())["config"]
    service = config["quikapp-service-example:service"]
    assert service == SERVICE
    assert int(config["quikapp-service-example:metricsPort"]) == catalog_entry(service)[1]


# --- Docker -------------------------------------------------------------------------------------------


def test_docker_service_joins_the_monitoring_network_with_otlp_env() -> None:
    run = run_example("dev")
    monitoring = stack_run("dev").outputs
    assert not [r for r in run.resources if r.type.startswith("kubernetes:")]  # the stack's target decides
    (container,) = run.of_type("docker:index/container:Container")
    inputs = plain(container.inputs)
    assert inputs["networksAdvanced"] == [{"name": monitoring["network"], "aliases": [SERVICE]}]
    env = dict(e.split("=", 1) for e in inputs["envs"])
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://jaeger:4318"
    assert env["OTEL_SERVICE_NAME"] == SERVICE
    assert run.outputs == {"dashboards": monitoring["grafanaUrl"], "traces": monitoring["jaegerUiUrl"]}


# --- Kubernetes: what the example declares ---------------------------------------------------------------


def example_objects(run: Run) -> dict[str, dict[str, Any]]:
    """The example's Kubernetes objects by kind, as the API server would receive them."""
    objects = [manifest(r) for r in run.resources if r.custom and r.type.startswith("kubernetes:")]
    by_kind = {o["kind"]: o for o in objects}
    assert len(by_kind) == len(objects), [o["kind"] for o in objects]
    return by_kind


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_kubernetes_service_and_deployment_in_the_app_namespace(stack: str) -> None:
    monitoring = stack_run(stack).outputs
    objects = example_objects(run_example(stack))
    assert set(objects) == {"Deployment", "Service"}
    deployment, service = objects["Deployment"], objects["Service"]
    for obj in (deployment, service):
        assert obj["metadata"]["namespace"] == monitoring["appNamespace"] == "quikapp"
        kubernetes_validate.validate(obj, "1.30", strict=True)
    assert service["metadata"]["name"] == SERVICE  # the catalog name: what discovery keeps
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == monitoring["otlpHttpEndpoint"]
    assert env["OTEL_SERVICE_NAME"] == SERVICE


# --- Kubernetes: what the cluster would make of it, and what Prometheus keeps ------------------------------


def cluster_objects(declared: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The Service, the Deployment's running pods and the Service's EndpointSlice, as the API would hold them."""
    service = declared.get("Service")
    deployment = declared["Deployment"]
    namespace = deployment["metadata"]["namespace"]
    template = deployment["spec"]["template"]
    suffix = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()[:9]
    pods = []
    for i in range(deployment["spec"].get("replicas", 1)):
        spec = copy.deepcopy(template["spec"])
        spec["nodeName"] = f"node-{i}"
        for container in spec["containers"]:
            for port in container.get("ports", []):
                port.setdefault("protocol", "TCP")  # API defaulting
        pods.append({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"{deployment['metadata']['name']}-{suffix}-p{i}", "namespace": namespace,
                         "labels": template["metadata"]["labels"]},
            "spec": spec,
            "status": {"phase": "Running", "podIP": f"10.244.{i}.10", "hostIP": f"192.168.10.{i + 1}",
                       "podIPs": [{"ip": f"10.244.{i}.10"}]},
        })
    if service is None:
        return pods
    selected = [p for p in pods if service["spec"]["selector"].items() <= p["metadata"]["labels"].items()]

    def endpoint_ports(pod: dict[str, Any]) -> list[dict[str, Any]]:
        # getEndpointPorts: a named targetPort resolves to the container port of that name and
        # protocol, a number is taken as is; a port that does not resolve is skipped.
        found = []
        for port in service["spec"]["ports"]:
            protocol = port.get("protocol", "TCP")
            target = port.get("targetPort", port["port"])
            if isinstance(target, str):
                numbers = [p["containerPort"] for c in pod["spec"]["containers"] for p in c.get("ports", [])
                           if p.get("name") == target and p["protocol"] == protocol]
                if not numbers:
                    continue
                target = numbers[0]
            found.append({"name": port.get("name", ""), "port": target, "protocol": protocol})
        return found

    ports = endpoint_ports(selected[0]) if selected else []
    assert all(endpoint_ports(p) == ports for p in selected)  # one slice: every pod resolves alike
    slice_ = {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
        "metadata": {"name": f"{service['metadata']['name']}-abcde", "namespace": namespace,
                     "labels": {"kubernetes.io/service-name": service["metadata"]["name"],
                                "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"}},
        "endpoints": [{"addresses": [p["status"]["podIP"]], "conditions": {"ready": True},
                       "nodeName": p["spec"]["nodeName"],
                       "targetRef": {"kind": "Pod", "namespace": namespace, "name": p["metadata"]["name"]}}
                      for p in selected],
        "ports": ports,
    }
    return [service, *pods, slice_]


def _without_service(declared: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {kind: obj for kind, obj in declared.items() if kind != "Service"}


def _without_container_port(declared: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out = copy.deepcopy(declared)
    for container in out["Deployment"]["spec"]["template"]["spec"]["containers"]:
        container.pop("ports", None)
    return out


def _without_service_port(declared: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out = copy.deepcopy(declared)
    for service in [o for kind, o in out.items() if kind == "Service"]:
        service["spec"]["ports"] = [{**p, "port": 9999, "targetPort": 9999} for p in service["spec"]["ports"]]
    return out


# Each variant runs as its own copy of the rendered job (same relabeling, its own job name).
VARIANTS: dict[str, Callable[[dict[str, dict[str, Any]]], dict[str, dict[str, Any]]]] = {
    "as-declared": lambda declared: declared,
    "without-service": _without_service,
    "without-container-port": _without_container_port,
    "service-on-another-port": _without_service_port,
}
REPLICAS = 2


def test_the_cluster_objects_are_valid_kubernetes_objects() -> None:
    for obj in cluster_objects(example_objects(run_example("staging", REPLICAS))):
        kubernetes_validate.validate(obj, "1.30", strict=True)


@pytest.fixture(scope="module")
def discovered() -> Iterator[dict[str, Any]]:
    """/api/v1/targets of a real Prometheus running the staging stack's rendered job for the example's
    service, once per variant of the example, over file_sd built from the variant's cluster objects."""
    job_name, _, _ = catalog_entry(SERVICE)
    rendered = yaml.safe_load(workload_files(stack_run("staging"))["prometheus"][PROMETHEUS_YML])
    (job,) = [j for j in rendered["scrape_configs"] if j["job_name"] == job_name]
    (sd,) = job["kubernetes_sd_configs"]
    declared = example_objects(run_example("staging", REPLICAS))
    with servers_in_tempdir("quikapp-example-discovery-") as servers:
        jobs, written = [], {}
        for variant, change in VARIANTS.items():
            targets = [(a, labels) for ns, a, labels in endpointslice_targets(cluster_objects(change(declared)))
                       if ns in sd["namespaces"]["names"]]
            groups = [{"targets": [a.replace("10.244.", "127.244.", 1)], "labels": labels} for a, labels in targets]
            path = servers.root / f"sd-{variant}.json"
            path.write_text(json.dumps(groups))
            copy_ = {k: v for k, v in copy.deepcopy(job).items() if k != "kubernetes_sd_configs"}
            copy_.update(job_name=f"{job_name}--{variant}", file_sd_configs=[{"files": [str(path)]}])
            jobs.append(copy_)
            written[copy_["job_name"]] = len(groups)
        config = {"global": {**rendered["global"], "scrape_interval": "1h"}, "scrape_configs": jobs}
        path = servers.root / "prometheus.yml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        (port,) = free_ports(1)
        server = start_prometheus(servers, path, port)
        names = {j["job_name"] for j in jobs}

        def synced() -> dict[str, Any] | None:
            # Every job's discovery has delivered what its file holds and the scrape manager holds that
            # many targets, kept or dropped: the targets are final. (The gauge starts at 0 for every job
            # before the files are read, so "equal to what was written", not "present", is the test.)
            _, metrics = http_get(f"http://{LOOPBACK}:{port}/metrics")
            counted = {job: int(float(n)) for job, n in re.findall(
                r'^prometheus_sd_discovered_targets\{config="([^"]+)",name="scrape"\} (\S+)$', metrics, re.M)}
            data = get_json(f"http://{LOOPBACK}:{port}/api/v1/targets")["data"]
            held = [t["discoveredLabels"]["job"] for t in data["activeTargets"] + data["droppedTargets"]]
            return data if all(counted.get(j) == n == held.count(j) for j, n in written.items()) else None

        data = wait_until("discovery of every variant", synced, timeout=60, alive=server.check_alive)
        assert {t["labels"]["job"] for t in data["activeTargets"]} <= names
        yield data


def _active(discovered: dict[str, Any], variant: str) -> list[dict[str, str]]:
    job_name = f"{catalog_entry(SERVICE)[0]}--{variant}"
    return sorted((t["labels"] for t in discovered["activeTargets"] if t["labels"]["job"] == job_name),
                  key=lambda labels: labels["instance"])


def test_prometheus_keeps_each_pod_of_the_example_on_the_catalog_port(discovered: dict[str, Any]) -> None:
    _, port, _ = catalog_entry(SERVICE)
    labels = _active(discovered, "as-declared")
    assert [(t["service"], t["namespace"], t["instance"]) for t in labels] == [
        (SERVICE, "quikapp", f"127.244.{i}.10:{port}") for i in range(REPLICAS)]
    assert all(t["pod"].startswith(f"{SERVICE}-") for t in labels)


@pytest.mark.parametrize("variant", ["without-service", "without-container-port", "service-on-another-port"])
def test_without_its_service_or_port_the_example_is_not_scraped(discovered: dict[str, Any], variant: str) -> None:
    """The check above can fail: the example with its Service, or its port, taken away is no target."""
    assert _active(discovered, variant) == []
