"""Kubernetes: every scrape target is a pod (or a node's kubelet), found from the one-line catalog.

The rendered kubernetes_sd jobs run in a real Prometheus on loopback: each job's discovery is
swapped for file_sd holding the `__meta_kubernetes_*` labels that Prometheus' Kubernetes discovery
would derive from the API objects in tests/fixtures/discovery/ (tests/sd_fixture.py), while the
rendered relabel_configs, metrics paths and every other field run verbatim.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from components.catalog import load_catalog
from conftest import stack_run
from live.live_servers import LOOPBACK, free_ports, get_json, servers_in_tempdir, start_prometheus, wait_until
from mockengine.manifests import k8s_container, k8s_object, k8s_objects, k8s_workload, plain
from mockengine.program import STACKS
from mockengine.rendered import workload_files
from sd_fixture import FIXTURES, endpointslice_targets, load, node_targets, promtool_with_kubernetes_sd
from tools import run_tool

KUBERNETES_STACKS = [s for s in STACKS if stack_run(s).of_type("pulumi:providers:kubernetes")]
STACK = "staging"
PROMETHEUS_YML = "/etc/prometheus/prometheus.yml"
SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


def rendered(stack: str) -> dict[str, Any]:
    return dict(yaml.safe_load(workload_files(stack_run(stack))["prometheus"][PROMETHEUS_YML]))


def jobs(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {j["job_name"]: j for j in config["scrape_configs"]}


def loopback(address: str) -> str:
    """A fixture address moved into 127.0.0.0/8 (same port): Prometheus scrapes nothing off this host."""
    host, port = address.rsplit(":", 1)
    return f"127.{'.'.join(host.split('.')[1:])}:{port}"


# --- the rendered config ------------------------------------------------------------------------


@pytest.mark.parametrize("stack", KUBERNETES_STACKS)
def test_no_kubernetes_scrape_target_is_a_static_or_service_address(stack: str) -> None:
    for job in rendered(stack)["scrape_configs"]:
        assert "static_configs" not in job, job["job_name"]
        (sd,) = job["kubernetes_sd_configs"]
        assert sd["role"] in {"endpointslice", "node"}, job["job_name"]


@pytest.mark.parametrize("stack", KUBERNETES_STACKS)
def test_every_catalog_service_is_kept_by_name_and_port_in_the_app_namespace(stack: str) -> None:
    config = jobs(rendered(stack))
    for job in load_catalog().jobs:
        rendered_job = config[job.name]
        assert rendered_job["metrics_path"] == job.metrics_path
        assert rendered_job["kubernetes_sd_configs"] == [
            {"role": "endpointslice", "namespaces": {"names": ["quikapp"]}}]
        keep = rendered_job["relabel_configs"][0]
        assert keep["action"] == "keep"
        assert keep["source_labels"] == ["__meta_kubernetes_service_name", "__meta_kubernetes_endpointslice_port"]
        assert keep["regex"] == "(" + "|".join(f"{name};{port}" for name, port in job.services) + ")"


@pytest.mark.parametrize("stack", KUBERNETES_STACKS)
def test_stack_jobs_discover_in_the_monitoring_namespace_promtail_included(stack: str) -> None:
    config = jobs(rendered(stack))
    monitoring = config["monitoring"]
    assert monitoring["kubernetes_sd_configs"][0]["namespaces"] == {"names": ["monitoring"]}
    assert "promtail;9080" in monitoring["relabel_configs"][0]["regex"]
    for job in ("prometheus", "redis", "kafka", "nginx", "node-exporter", "kube-state-metrics"):
        assert config[job]["kubernetes_sd_configs"][0]["namespaces"] == {"names": ["monitoring"]}, job


def test_promtool_accepts_the_rendered_kubernetes_config(tmp_path: Path) -> None:
    promtool = promtool_with_kubernetes_sd(tmp_path)
    config = rendered(STACK)
    config["rule_files"] = []
    _local_credentials(config, tmp_path)
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    result = run_tool(promtool, "check", "config", path)
    assert result.returncode == 0, result.stdout + result.stderr


def _local_credentials(config: dict[str, Any], root: Path) -> None:
    """The service account token and CA Kubernetes mounts, as files under `root` (promtool and
    Prometheus check that a credentials file exists)."""
    for job in config["scrape_configs"]:
        auth, tls = job.get("authorization"), job.get("tls_config")
        if auth:
            token = root / "token"
            token.write_text("not-a-token\n")
            assert auth["credentials_file"] == f"{SA_DIR}/token"
            auth["credentials_file"] = str(token)
        if tls and "ca_file" in tls:
            assert tls["ca_file"] == f"{SA_DIR}/ca.crt"
            del tls["ca_file"]  # no CA to read; insecure_skip_verify stays as rendered


# --- RBAC for discovery -------------------------------------------------------------------------


@pytest.mark.parametrize("stack", KUBERNETES_STACKS)
def test_prometheus_may_list_and_watch_endpointslices_services_and_pods_in_both_namespaces(stack: str) -> None:
    run = stack_run(stack)
    roles = {r["metadata"]["namespace"]: r for r in k8s_objects(run, "Role")
             if r["metadata"]["name"] == "monitoring-prometheus"}
    assert set(roles) == {"quikapp", "monitoring"}
    for role in roles.values():
        assert role["rules"] == [
            {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["list", "watch"]},
            {"apiGroups": [""], "resources": ["pods", "services"], "verbs": ["list", "watch"]},
        ]
    account = k8s_object(run, "ServiceAccount", "prometheus")
    bindings = [b for b in k8s_objects(run, "RoleBinding") if b["metadata"]["name"] == "monitoring-prometheus"]
    assert {b["metadata"]["namespace"] for b in bindings} == {"quikapp", "monitoring"}
    for binding in bindings:
        assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                      "name": "monitoring-prometheus"}
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": account["metadata"]["name"],
                                        "namespace": "monitoring"}]
    pod = k8s_workload(run, "prometheus")["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is True
    assert pod["serviceAccountName"] == account["metadata"]["name"]


@pytest.mark.parametrize("stack", KUBERNETES_STACKS)
def test_prometheus_reads_kubelet_metrics_without_nodes_proxy(stack: str) -> None:
    role = k8s_object(stack_run(stack), "ClusterRole", "monitoring-prometheus")
    assert role["rules"] == [
        {"apiGroups": [""], "resources": ["nodes"], "verbs": ["list", "watch"]},
        {"apiGroups": [""], "resources": ["nodes/metrics"], "verbs": ["get"]},
    ]


def test_docker_has_no_rbac_and_static_targets() -> None:
    run = stack_run("dev")
    assert not [r for r in run.resources if r.type.startswith("kubernetes:")]
    assert all("static_configs" in j for j in rendered("dev")["scrape_configs"])


def test_pods_behind_every_port_are_reachable_by_prometheus_under_the_network_policies() -> None:
    """Scraping pods (not Services) needs each scraped port open to the monitoring namespace."""
    run = stack_run(STACK)
    for name, port in (("node-exporter", 9100), ("kube-state-metrics", 8080), ("promtail", 9080),
                       ("loki", 3100), ("alertmanager", 9093), ("redis-exporter", 9121)):
        policy = k8s_object(run, "NetworkPolicy", name)
        allowed = [rule for rule in policy["spec"]["ingress"]
                   if any(p["port"] == port for p in rule["ports"])
                   and (not rule.get("from") or {"namespaceSelector": {"matchLabels": {
                       "kubernetes.io/metadata.name": "monitoring"}}} in rule["from"])]
        assert allowed, f"{name}:{port} closed to the monitoring namespace"
    assert k8s_container(run, "prometheus")


# --- the fixture is what the API would hold ---------------------------------------------------


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("*.yaml")))
def test_fixture_objects_are_valid_kubernetes_objects(name: str) -> None:
    for obj in load(name):
        try:
            kubernetes_validate.validate(obj, "1.30", strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{name}: {obj['kind']}/{obj['metadata']['name']}: {exc}")


# --- live: Prometheus runs the rendered relabeling on the fixture's targets ---------------------


def file_sd_copy(config: dict[str, Any], root: Path) -> dict[str, Any]:
    """The rendered config with each job's kubernetes_sd swapped for file_sd of the fixture's
    targets in the namespaces (or nodes) it names; everything else as rendered."""
    objects = load("quikapp.yaml") + load("monitoring.yaml")
    pods = endpointslice_targets(objects)
    nodes = node_targets(load("nodes.yaml"))
    out = copy.deepcopy(config)
    out.pop("alerting")  # alertmanager:9093 does not resolve here; not what this test is about
    out["rule_files"] = []
    _local_credentials(out, root)
    for job in out["scrape_configs"]:
        (sd,) = job.pop("kubernetes_sd_configs")
        if sd["role"] == "endpointslice":
            names = sd["namespaces"]["names"]
            groups = [{"targets": [loopback(a)], "labels": labels} for ns, a, labels in pods if ns in names]
        else:
            assert sd == {"role": "node"}
            groups = [{"targets": [loopback(a)], "labels": labels} for a, labels in nodes]
        path = root / f"sd-{job['job_name']}.json"
        path.write_text(json.dumps(groups))
        job["file_sd_configs"] = [{"files": [str(path)], "refresh_interval": "1h"}]
    return out


@pytest.fixture(scope="module")
def targets() -> Iterator[dict[str, Any]]:
    config = rendered(STACK)
    with servers_in_tempdir("quikapp-discovery-") as servers:
        running = file_sd_copy(config, servers.root)
        # Scrape rarely: only the targets' labels are under test, and every address is refused.
        running["global"]["scrape_interval"] = "1h"
        path = servers.root / "prometheus.yml"
        path.write_text(yaml.safe_dump(running, sort_keys=False))
        (port,) = free_ports(1)
        server = start_prometheus(servers, path, port)
        expected_jobs = {"nestjs-services", "monitoring", "node-exporter", "kubelet", "cadvisor"}

        def synced() -> dict[str, Any] | None:
            data = get_json(f"http://{LOOPBACK}:{port}/api/v1/targets")["data"]
            active = {t["labels"]["job"] for t in data["activeTargets"]}
            return data if expected_jobs <= active else None

        yield wait_until("the file_sd targets", synced, timeout=60, alive=server.check_alive)


def _active(targets: dict[str, Any], job: str) -> list[dict[str, Any]]:
    return sorted((t for t in targets["activeTargets"] if t["labels"]["job"] == job),
                  key=lambda t: t["labels"]["instance"])


def _dropped(targets: dict[str, Any], job: str) -> list[dict[str, str]]:
    return [t["discoveredLabels"] for t in targets["droppedTargets"] if t["discoveredLabels"]["job"] == job]


def test_a_three_replica_service_is_three_targets_one_per_pod(targets: dict[str, Any]) -> None:
    backend = _active(targets, "nestjs-services")
    assert [t["labels"] for t in backend] == [
        {"instance": "127.244.1.11:3000", "job": "nestjs-services", "namespace": "quikapp",
         "pod": "backend-6f9c7d8b5-2mzqx", "service": "backend"},
        {"instance": "127.244.2.12:3000", "job": "nestjs-services", "namespace": "quikapp",
         "pod": "backend-6f9c7d8b5-8wq4r", "service": "backend"},
        {"instance": "127.244.3.13:3000", "job": "nestjs-services", "namespace": "quikapp",
         "pod": "backend-6f9c7d8b5-kt7vn", "service": "backend"},
    ]
    assert {re.sub(r"^http://[^/]+", "", t["scrapeUrl"]) for t in backend} == {"/metrics"}


def test_a_service_outside_the_catalog_and_a_wrong_port_are_dropped(targets: dict[str, Any]) -> None:
    dropped = _dropped(targets, "nestjs-services")
    by_service: dict[str, list[str]] = {}
    for labels in dropped:
        service = labels.get("__meta_kubernetes_service_name", "")
        port = labels.get("__meta_kubernetes_endpointslice_port", "-")
        container_port = labels.get("__meta_kubernetes_pod_container_port_number", "-")
        by_service.setdefault(service, []).append(f"{port}/{container_port}")
    assert sorted(by_service["payments-legacy"]) == ["3000/3000"]  # not in the catalog
    assert sorted(by_service["realtime"]) == ["8080/8080"]  # in the catalog with 3001
    # The backend pods' debug port, declared on the pod but not in the Service: no endpointslice_port.
    assert sorted(by_service["backend"]) == ["-/9229"] * 3
    assert len(dropped) == 5
    # No other application job picks up any of them.
    for job in ("spring-services", "go-services", "python-services", "elixir-services"):
        assert not _active(targets, job) and len(_dropped(targets, job)) == 8, job


def test_promtail_is_scraped_on_every_node_in_the_monitoring_job(targets: dict[str, Any]) -> None:
    promtail = [t["labels"] for t in _active(targets, "monitoring")]
    assert [(t["service"], t["pod"], t["instance"], t["namespace"]) for t in promtail] == [
        ("promtail", "promtail-4xw9d", "127.244.1.41:9080", "monitoring"),
        ("promtail", "promtail-f7m2k", "127.244.2.42:9080", "monitoring"),
        ("promtail", "promtail-zq6pn", "127.244.3.43:9080", "monitoring"),
    ]


def test_node_exporter_targets_name_their_node(targets: dict[str, Any]) -> None:
    (target,) = _active(targets, "node-exporter")
    assert target["labels"] == {"instance": "127.168.10.1:9100", "job": "node-exporter", "namespace": "monitoring",
                                "node": "node-a", "pod": "node-exporter-9kd2x", "service": "node-exporter"}


@pytest.mark.parametrize(("job", "path"), [("kubelet", "/metrics"), ("cadvisor", "/metrics/cadvisor")])
def test_kubelet_jobs_scrape_each_node_over_https(targets: dict[str, Any], job: str, path: str) -> None:
    nodes = _active(targets, job)
    assert [t["labels"] for t in nodes] == [
        {"instance": n, "job": job, "node": n, "service": job} for n in ("node-a", "node-b", "node-c")]
    assert [t["scrapeUrl"] for t in nodes] == [
        f"https://127.168.10.{i}:10250{path}" for i in (1, 2, 3)]


def test_the_running_config_differs_from_the_rendered_one_only_in_discovery(tmp_path: Path) -> None:
    """What the live test runs is the rendered config, relabeling verbatim."""
    config = rendered(STACK)
    running = file_sd_copy(config, tmp_path)
    for original, copied in zip(config["scrape_configs"], running["scrape_configs"], strict=True):
        left = {k: v for k, v in original.items() if k not in {"kubernetes_sd_configs", "authorization", "tls_config"}}
        right = {k: v for k, v in copied.items() if k not in {"file_sd_configs", "authorization", "tls_config"}}
        assert left == right
    assert plain(running["global"]) == config["global"]
