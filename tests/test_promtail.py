"""Promtail: the rendered config on each target (seed parity, positions, discovery and relabelling)
and its resources on every stack (Docker mounts; Kubernetes DaemonSet, hostPaths, RBAC)."""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from components.render.promtail import CONFIG_FILE, render_promtail_config
from components.settings import TargetKind, parse_settings
from conftest import stack_run
from mockengine.manifests import manifest, plain
from mockengine.program import STACKS, stack_config
from mockengine.rendered import workload_files
from mockengine.run import Run
from mockengine.stand_ins import with_secrets

SEED = yaml.safe_load((Path(__file__).parent / "fixtures" / "seed" / "promtail-config.yml").read_text(encoding="utf-8"))
DOCKER_STACKS = [s for s in STACKS if stack_config(s)["target"] == "docker"]
KUBERNETES_STACKS = [s for s in STACKS if stack_config(s)["target"] == "kubernetes"]
UID = "0f2c6a1e-3b7d-4c55-9e0a-7d1b2c3d4e5f"


def promtail_image(stack: str) -> str:
    image = parse_settings(*with_secrets(stack_config(stack))).images.promtail
    # Promtail's final series: 3.6.x. Loki 3.7 no longer has clients/cmd/promtail.
    assert image.startswith("grafana/promtail:3.6.")
    return image


def config(kind: TargetKind) -> dict[str, Any]:
    return yaml.safe_load(render_promtail_config(kind))


def relabel(rules: list[dict[str, Any]], meta: dict[str, str]) -> dict[str, str]:
    """Prometheus `replace` relabelling (the only action used), enough to check the rules' effect."""
    labels = dict(meta)
    for rule in rules:
        assert rule.get("action", "replace") == "replace"
        value = rule.get("separator", ";").join(labels.get(name, "") for name in rule["source_labels"])
        match = re.fullmatch(rule.get("regex", "(.*)"), value)
        if match:
            replacement = match.expand(re.sub(r"\$(\d+)", r"\\g<\1>", rule.get("replacement", "$1")))
            if replacement:
                labels[rule["target_label"]] = replacement
            else:
                labels.pop(rule["target_label"], None)
    return {k: v for k, v in labels.items() if not k.startswith("__meta_")}


def children(run: Run, type_: str = "quikapp:monitoring:Promtail") -> list[Any]:
    component = run.one(type_, "promtail")
    return [r for r in run.resources if r.parent == component.urn]


# --- rendering --------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(TargetKind))
def test_server_and_client_are_the_seeds(kind: TargetKind) -> None:
    rendered = config(kind)
    assert rendered["server"] == SEED["server"]
    assert rendered["clients"] == SEED["clients"] == [{"url": "http://loki:3100/loki/api/v1/push"}]


@pytest.mark.parametrize("kind", list(TargetKind))
def test_positions_survive_a_restart(kind: TargetKind) -> None:
    positions = config(kind)["positions"]["filename"]
    assert not positions.startswith("/tmp/")
    assert positions == "/var/lib/promtail/positions.yaml"  # the persistent mount on both targets


def test_docker_job_keeps_the_seeds_discovery_and_labels() -> None:
    (job,) = config(TargetKind.DOCKER)["scrape_configs"]
    (seed,) = SEED["scrape_configs"]
    assert job["job_name"] == seed["job_name"]
    assert job["docker_sd_configs"] == seed["docker_sd_configs"]
    assert [(r["source_labels"], r["target_label"]) for r in job["relabel_configs"]] == [
        (r["source_labels"], r["target_label"]) for r in seed["relabel_configs"]]


def test_docker_container_label_drops_the_leading_slash() -> None:
    (job,) = config(TargetKind.DOCKER)["scrape_configs"]
    labels = relabel(job["relabel_configs"], {"__meta_docker_container_name": "/quikapp-loki",
                                              "__meta_docker_container_log_stream": "stderr"})
    assert labels == {"container": "quikapp-loki", "stream": "stderr"}
    # What the seed's rules produced: the name with Docker's '/'.
    (seed,) = SEED["scrape_configs"]
    assert relabel(seed["relabel_configs"], {"__meta_docker_container_name": "/quikapp-loki"})["container"] == \
        "/quikapp-loki"


def test_json_stages_keep_the_seeds_labels() -> None:
    (job,) = config(TargetKind.DOCKER)["scrape_configs"]
    (seed,) = SEED["scrape_configs"]
    json_stage, labels_stage = job["pipeline_stages"]
    seed_json, seed_labels = seed["pipeline_stages"]
    assert labels_stage == seed_labels == {"labels": {"level": None, "service": None}}
    # Every label the seed promotes is still extracted from the same JSON field; `message` (never
    # used by a stage) is gone, so the whole line reaches Loki.
    for label in seed_labels["labels"]:
        assert json_stage["json"]["expressions"][label] == seed_json["json"]["expressions"][label]
    assert "message" not in json_stage["json"]["expressions"]
    assert not any("output" in stage for stage in job["pipeline_stages"])


def test_kubernetes_job_discovers_pods_and_parses_cri() -> None:
    (job,) = config(TargetKind.KUBERNETES)["scrape_configs"]
    assert job["kubernetes_sd_configs"] == [{"role": "pod"}]
    assert "docker_sd_configs" not in job
    stages = job["pipeline_stages"]
    assert stages[0] == {"cri": {}}
    # Then the same application-log stages as on Docker.
    assert stages[1:] == config(TargetKind.DOCKER)["scrape_configs"][0]["pipeline_stages"]


def test_kubernetes_relabelling_builds_labels_and_path() -> None:
    (job,) = config(TargetKind.KUBERNETES)["scrape_configs"]
    meta = {
        "__meta_kubernetes_namespace": "quikapp",
        "__meta_kubernetes_pod_name": "auth-7d9f8-abcde",
        "__meta_kubernetes_pod_container_name": "auth",
        "__meta_kubernetes_pod_uid": UID,
        "__meta_kubernetes_pod_node_name": "node-a",
        "__meta_kubernetes_pod_label_app_kubernetes_io_name": "auth-service",
        "__meta_kubernetes_pod_label_app": "auth-legacy",
    }
    labels = relabel(job["relabel_configs"], meta)
    assert labels == {"namespace": "quikapp", "pod": "auth-7d9f8-abcde", "container": "auth",
                      "app": "auth-service", "node_name": "node-a",
                      # Compared by Promtail with its HOSTNAME (the node name): other nodes' pods are dropped.
                      "__host__": "node-a",
                      "__path__": f"/var/log/pods/*{UID}/auth/*.log"}
    # The kubelet's layout: /var/log/pods/<namespace>_<pod>_<uid>/<container>/<restart>.log
    assert fnmatch.fnmatch(f"/var/log/pods/quikapp_auth-7d9f8-abcde_{UID}/auth/0.log", labels["__path__"])
    assert not fnmatch.fnmatch(f"/var/log/pods/quikapp_auth-7d9f8-abcde_{UID}/sidecar/0.log", labels["__path__"])


@pytest.mark.parametrize(("pod_labels", "app"), [
    ({"__meta_kubernetes_pod_label_app": "billing"}, "billing"),
    ({"__meta_kubernetes_pod_label_app_kubernetes_io_name": "billing"}, "billing"),
    ({}, None),
])
def test_kubernetes_app_label_falls_back_to_app(pod_labels: dict[str, str], app: str | None) -> None:
    (job,) = config(TargetKind.KUBERNETES)["scrape_configs"]
    labels = relabel(job["relabel_configs"], {"__meta_kubernetes_pod_uid": UID, **pod_labels})
    assert labels.get("app") == app


@pytest.mark.parametrize("kind", list(TargetKind))
def test_rendering_is_deterministic(kind: TargetKind) -> None:
    assert render_promtail_config(kind) == render_promtail_config(kind)


def test_targets_differ_only_in_the_scrape_job() -> None:
    docker, kubernetes = config(TargetKind.DOCKER), config(TargetKind.KUBERNETES)
    assert docker.pop("scrape_configs") != kubernetes.pop("scrape_configs")
    assert docker == kubernetes


# --- resources on every stack -----------------------------------------------------------------


def test_promtail_receives_the_rendered_config(run: Run) -> None:
    kind = TargetKind(stack_config(run.stack)["target"])
    assert workload_files(run)["promtail"] == {CONFIG_FILE: render_promtail_config(kind)}


@pytest.mark.parametrize("stack", DOCKER_STACKS)
def test_docker_promtail_container(stack: str) -> None:
    run = stack_run(stack)
    mine = children(run)
    assert sorted(r.type for r in mine) == ["docker:index/container:Container", "docker:index/remoteImage:RemoteImage",
                                            "docker:index/volume:Volume"]
    assert plain(next(r for r in mine if r.type.endswith("RemoteImage")).inputs)["name"] == promtail_image(stack)
    container = plain(run.one("docker:index/container:Container", "promtail").inputs)
    assert container["command"] == ["-config.file=/etc/promtail/promtail-config.yml"]
    assert container["ports"] == []  # nothing published
    mounts = {v["containerPath"]: v for v in container["volumes"]}
    assert mounts["/var/run/docker.sock"] == {"hostPath": "/var/run/docker.sock",
                                              "containerPath": "/var/run/docker.sock", "readOnly": True}
    assert mounts["/var/lib/promtail"] == {"volumeName": "promtail_positions", "containerPath": "/var/lib/promtail"}
    assert len(mounts) == 2  # docker_sd reads logs through the API: no /var/lib/docker/containers
    assert "/ready" in " ".join(container["healthcheck"]["tests"])


@pytest.mark.parametrize("stack", KUBERNETES_STACKS)
def test_kubernetes_promtail_is_a_least_privileged_daemonset(stack: str) -> None:
    run = stack_run(stack)
    objects = [manifest(r) for r in children(run)]
    for obj in objects:
        kubernetes_validate.validate(obj, "1.30", strict=True)
    by_kind = {obj["kind"]: obj for obj in objects}
    assert sorted(by_kind) == ["ClusterRole", "ClusterRoleBinding", "ConfigMap", "DaemonSet", "NetworkPolicy",
                               "Service", "ServiceAccount"]
    assert len(objects) == len(by_kind)  # no PVC, no Deployment, one of each

    pod = by_kind["DaemonSet"]["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == by_kind["ServiceAccount"]["metadata"]["name"] == "promtail"
    assert pod["automountServiceAccountToken"] is True
    assert not pod.get("hostNetwork") and not pod.get("hostPID")
    (container,) = pod["containers"]
    assert container["image"] == promtail_image(stack)
    assert container["readinessProbe"]["httpGet"] == {"path": "/ready", "port": 9080}
    security = container["securityContext"]
    assert security["allowPrivilegeEscalation"] is False
    assert security["readOnlyRootFilesystem"] is True
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert not security.get("privileged")

    host_paths = {v["name"]: v["hostPath"] for v in pod["volumes"] if "hostPath" in v}
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    logs = mounts["/var/log/pods"]
    assert host_paths[logs["name"]] == {"path": "/var/log/pods", "type": "Directory"}
    assert logs["readOnly"] is True
    positions = mounts["/var/lib/promtail"]
    assert host_paths[positions["name"]] == {"path": "/var/lib/promtail-positions", "type": "DirectoryOrCreate"}
    assert positions["readOnly"] is False
    assert len(host_paths) == 2  # neither the Docker socket nor anything else of the node

    role = by_kind["ClusterRole"]
    assert role["rules"] == [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list", "watch"]}]
    binding = by_kind["ClusterRoleBinding"]
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                  "name": role["metadata"]["name"]}
    namespace = stack_config(stack)["kubernetes"]["namespace"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "promtail", "namespace": namespace}]
    assert role["metadata"]["name"] == f"{namespace}-promtail"


@pytest.mark.parametrize("stack", KUBERNETES_STACKS)
def test_only_promtail_gets_cluster_access(stack: str) -> None:
    run = stack_run(stack)
    # Loki discovers nothing: no ServiceAccount token, no RBAC.
    loki = run.one("quikapp:monitoring:Loki", "loki")
    loki_kinds = {r.type for r in run.resources if r.parent == loki.urn}
    assert not any("rbac" in t or t.endswith("ServiceAccount") for t in loki_kinds)
    deployment = plain(run.one("kubernetes:apps/v1:Deployment", "loki").inputs)
    assert deployment["spec"]["template"]["spec"]["automountServiceAccountToken"] is False


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_daemonset_hostname_is_the_node_name(stack: str) -> None:
    """Promtail keeps a target only when its __host__ equals HOSTNAME: that must be the node's name."""
    from mockengine.manifests import k8s_object

    daemonset = k8s_object(stack_run(stack), "DaemonSet", "promtail")
    env = daemonset["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "HOSTNAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}} in env


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_daemonset_tolerates_every_taint(stack: str) -> None:
    from mockengine.manifests import k8s_object

    daemonset = k8s_object(stack_run(stack), "DaemonSet", "promtail")
    assert daemonset["spec"]["template"]["spec"]["tolerations"] == [{"operator": "Exists"}]
