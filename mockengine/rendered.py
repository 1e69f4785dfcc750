"""The files each workload receives, read back from what the program registered.

Docker: the container's `uploads`, plus what its config copier (`<name>-config`) uploads into the
config volumes the container mounts. Kubernetes: the ConfigMap/Secret keys the workload mounts with
subPath or in a projected directory volume (its items, or without items every key). Both give
{workload: {in-container path: text}}, so the same checks (promtool, amtool, parity) run on exactly
what a container would read, on every stack.
"""

from __future__ import annotations

import base64

from .manifests import plain
from .run import Run

WORKLOAD_TYPES = ("kubernetes:apps/v1:Deployment", "kubernetes:apps/v1:DaemonSet", "kubernetes:apps/v1:StatefulSet")


def _docker_files(run: Run) -> dict[str, dict[str, str]]:
    containers = [plain(c.inputs) for c in run.of_type("docker:index/container:Container")]
    # Config copiers: volume name -> {path relative to the volume: content} (uploads under /staging/<n>/).
    staged: dict[str, dict[str, str]] = {}
    for inputs in containers:
        if inputs.get("uploads") and not inputs.get("networksAdvanced"):
            for mount in inputs.get("volumes", []):
                index = mount["containerPath"].rsplit("/", 1)[1]
                prefix = f"/staging/{index}/"
                staged[mount["volumeName"]] = {u["file"][len(prefix):]: u["content"] for u in inputs["uploads"]
                                               if u["file"].startswith(prefix)}
    files: dict[str, dict[str, str]] = {}
    for inputs in containers:
        if not inputs.get("networksAdvanced"):
            continue
        alias = inputs["networksAdvanced"][0]["aliases"][0]
        mine = {u["file"]: u["content"] for u in inputs.get("uploads", [])}
        for mount in inputs.get("volumes", []):
            for rel, content in staged.get(mount.get("volumeName", ""), {}).items():
                if mount.get("readOnly"):
                    mine[f"{mount['containerPath']}/{rel}"] = content
        files[alias] = mine
    return files


def _kubernetes_files(run: Run) -> dict[str, dict[str, str]]:
    # (kind, name) -> data: a live directory's ConfigMap and Secret share a name.
    by_name: dict[tuple[str, str], dict[str, str]] = {}
    for cm in run.of_type("kubernetes:core/v1:ConfigMap"):
        body = plain(cm.inputs)
        by_name[("configMap", body["metadata"]["name"])] = body.get("data", {})
    for secret in run.of_type("kubernetes:core/v1:Secret"):
        body = plain(secret.inputs)
        data = {k: base64.b64decode(v).decode() for k, v in body.get("data", {}).items()}
        data.update(body.get("stringData", {}))
        by_name[("secret", body["metadata"]["name"])] = data
    files: dict[str, dict[str, str]] = {}
    for workload in (r for t in WORKLOAD_TYPES for r in run.of_type(t)):
        body = plain(workload.inputs)
        pod = body["spec"]["template"]["spec"]
        sources = {}
        projected: dict[str, dict[str, str]] = {}  # volume -> {relative path: content}
        for volume in pod.get("volumes", []):
            if "configMap" in volume:
                sources[volume["name"]] = by_name[("configMap", volume["configMap"]["name"])]
            if "secret" in volume:
                sources[volume["name"]] = by_name[("secret", volume["secret"]["secretName"])]
            for part in volume.get("projected", {}).get("sources", []):
                kind = "configMap" if "configMap" in part else "secret"
                ref = part[kind]
                data = by_name[(kind, ref["name"])]
                # Without items the kubelet writes every key as a file of that name.
                items = ref.get("items") or [{"key": key, "path": key} for key in data]
                for item in items:
                    projected.setdefault(volume["name"], {})[item["path"]] = data[item["key"]]
        mine: dict[str, str] = {}
        # The tool's own container (the first); sidecars see the same volumes.
        for mount in pod["containers"][0].get("volumeMounts", []):
            if mount["name"] in sources and "subPath" in mount:
                mine[mount["mountPath"]] = sources[mount["name"]][mount["subPath"]]
            for rel, content in projected.get(mount["name"], {}).items():
                mine[f"{mount['mountPath']}/{rel}"] = content
        files[body["metadata"]["name"]] = mine
    return files


def workload_files(run: Run) -> dict[str, dict[str, str]]:
    """{workload name: {in-container path: content}} for the stack's target."""
    if run.of_type("docker:index/container:Container"):
        return _docker_files(run)
    return _kubernetes_files(run)
