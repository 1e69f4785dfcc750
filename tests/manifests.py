"""Kubernetes objects as the API server would receive them, rebuilt from mock-engine inputs."""

from __future__ import annotations

from typing import Any

from harness import SECRET_SIG, Registered, Run


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
    body = plain(resource.inputs)
    group_version, kind = resource.type.split(":")[1], resource.type.split(":")[2]
    group, version = group_version.split("/")
    body.setdefault("apiVersion", version if group == "core" else f"{group}/{version}")
    body.setdefault("kind", kind)
    return body


def manifests(run: Run) -> list[dict[str, Any]]:
    return [manifest(r) for r in sorted(run.resources, key=lambda r: r.urn) if is_kubernetes_object(r)]
