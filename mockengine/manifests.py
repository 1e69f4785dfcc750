"""Kubernetes objects as the API server would receive them, rebuilt from mock-engine inputs."""

from __future__ import annotations

from typing import Any

from .run import SECRET_SIG, Registered, Run


def plain(value: Any) -> Any:
    """Unwrap secret markers and turn the engine's integral floats back into ints."""
    if isinstance(value, dict):
        if SECRET_SIG in value:
            return plain(value.get("value"))
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def is_kubernetes_object(resource: Registered) -> bool:
    return resource.custom and resource.type.startswith("kubernetes:") and not resource.type.startswith(
        "pulumi:providers:")


def manifest(resource: Registered) -> dict[str, Any]:
    body: dict[str, Any] = plain(resource.inputs)
    group_version, kind = resource.type.split(":")[1], resource.type.split(":")[2]
    group, version = group_version.split("/")
    body.setdefault("apiVersion", version if group == "core" else f"{group}/{version}")
    body.setdefault("kind", kind)
    return body


def manifests(run: Run) -> list[dict[str, Any]]:
    return [manifest(r) for r in sorted(run.resources, key=lambda r: r.urn) if is_kubernetes_object(r)]


def without_secrets(value: Any, marker: str = "[secret]") -> Any:
    """`value` with every secret-wrapped subtree replaced by `marker`: what a non-secret reader sees."""
    if isinstance(value, dict):
        if SECRET_SIG in value:
            return marker
        return {k: without_secrets(v, marker) for k, v in value.items()}
    if isinstance(value, list):
        return [without_secrets(v, marker) for v in value]
    return value


def is_docker(run: Run) -> bool:
    return bool(run.of_type("docker:index/container:Container"))


def owned(run: Run, component_type: str) -> list[Registered]:
    """Every resource whose parent chain leads to a component of `component_type`."""
    by_urn = {r.urn: r for r in run.resources}
    roots = {r.urn for r in run.resources if r.type == component_type}
    found = []
    for resource in run.resources:
        parent = resource.parent
        while parent and parent not in roots:
            parent = by_urn[parent].parent if parent in by_urn else ""
        if parent:
            found.append(resource)
    return found


def k8s_objects(run: Run, kind: str) -> list[dict[str, Any]]:
    return [manifest(r) for r in run.resources if is_kubernetes_object(r) and r.type.endswith(f":{kind}")]


def k8s_object(run: Run, kind: str, name: str) -> dict[str, Any]:
    """The one Kubernetes object of `kind` whose metadata.name is `name`."""
    matches = [o for o in k8s_objects(run, kind) if o["metadata"].get("name") == name]
    assert len(matches) == 1, f"{kind} {name}: {len(matches)}"
    return matches[0]


WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet")


def k8s_workload(run: Run, name: str) -> dict[str, Any]:
    """The one Deployment, StatefulSet or DaemonSet named `name` (Prometheus and Alertmanager are
    StatefulSets on highAvailability stacks, Deployments otherwise)."""
    matches = [o for kind in WORKLOAD_KINDS for o in k8s_objects(run, kind) if o["metadata"].get("name") == name]
    assert len(matches) == 1, f"workload {name}: {len(matches)}"
    return matches[0]


def k8s_container(run: Run, name: str) -> dict[str, Any]:
    """The first container of workload `name`."""
    container: dict[str, Any] = k8s_workload(run, name)["spec"]["template"]["spec"]["containers"][0]
    return container
