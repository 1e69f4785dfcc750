"""The files each workload receives, read back from what the program registered.

Docker: the container's `uploads`. Kubernetes: the ConfigMap/Secret keys the workload mounts
with subPath. Both give {workload: {in-container path: text}}, so the same checks (promtool,
amtool, parity) run on exactly what a container would read, on every stack.
"""

from __future__ import annotations

import base64

from harness import Run
from manifests import plain

WORKLOAD_TYPES = ("kubernetes:apps/v1:Deployment", "kubernetes:apps/v1:DaemonSet", "kubernetes:apps/v1:StatefulSet")


def _docker_files(run: Run) -> dict[str, dict[str, str]]:
    files: dict[str, dict[str, str]] = {}
    for container in run.of_type("docker:index/container:Container"):
        inputs = plain(container.inputs)
        alias = inputs["networksAdvanced"][0]["aliases"][0]
        files[alias] = {u["file"]: u["content"] for u in inputs.get("uploads", [])}
    return files


def _kubernetes_files(run: Run) -> dict[str, dict[str, str]]:
    by_name: dict[str, dict[str, str]] = {}
    for cm in run.of_type("kubernetes:core/v1:ConfigMap"):
        body = plain(cm.inputs)
        by_name[body["metadata"]["name"]] = body.get("data", {})
    for secret in run.of_type("kubernetes:core/v1:Secret"):
        body = plain(secret.inputs)
        data = {k: base64.b64decode(v).decode() for k, v in body.get("data", {}).items()}
        data.update(body.get("stringData", {}))
        by_name[body["metadata"]["name"]] = data
    files: dict[str, dict[str, str]] = {}
    for workload in (r for t in WORKLOAD_TYPES for r in run.of_type(t)):
        body = plain(workload.inputs)
        pod = body["spec"]["template"]["spec"]
        sources = {}
        for volume in pod.get("volumes", []):
            source = volume.get("configMap", {}).get("name") or volume.get("secret", {}).get("secretName")
            if source:
                sources[volume["name"]] = by_name[source]
        mine: dict[str, str] = {}
        for container in pod["containers"]:
            for mount in container.get("volumeMounts", []):
                if mount["name"] in sources and "subPath" in mount:
                    mine[mount["mountPath"]] = sources[mount["name"]][mount["subPath"]]
        files[body["metadata"]["name"]] = mine
    return files


def workload_files(run: Run) -> dict[str, dict[str, str]]:
    """{workload name: {in-container path: content}} for the stack's target."""
    if run.of_type("docker:index/container:Container"):
        return _docker_files(run)
    return _kubernetes_files(run)
