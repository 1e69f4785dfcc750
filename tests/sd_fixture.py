"""What Prometheus' kubernetes_sd_configs would hand to relabeling, computed from API objects.

No API server is reachable here, so the tests feed Prometheus the same target groups through
file_sd instead: the `__meta_kubernetes_*` labels that prometheus/prometheus@v2.47.0 (and, for
these labels, unchanged @v3.14.0) discovery/kubernetes/endpointslice.go `buildEndpointSlice`,
`addServiceLabels`, pod.go `podLabels` and node.go `buildNode`/`nodeAddress` set. Object-metadata
labels (`*_label_*`, `*_annotation_*`) are left out: the rendered relabeling reads none of them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

FIXTURES = Path(__file__).parent / "fixtures" / "discovery"
META = "__meta_kubernetes_"


def load(name: str) -> list[dict[str, Any]]:
    return list(yaml.safe_load((FIXTURES / name).read_text())["items"])


def _join(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _pod_labels(pod: dict[str, Any]) -> dict[str, str]:
    status = pod.get("status", {})
    return {
        f"{META}pod_name": pod["metadata"]["name"],
        f"{META}pod_ip": status.get("podIP", ""),
        f"{META}pod_phase": status.get("phase", ""),
        f"{META}pod_node_name": pod["spec"].get("nodeName", ""),
        f"{META}pod_host_ip": status.get("hostIP", ""),
    }


def _container_port_labels(container: dict[str, Any], port: dict[str, Any]) -> dict[str, str]:
    return {
        f"{META}pod_container_name": container["name"],
        f"{META}pod_container_image": container.get("image", ""),
        f"{META}pod_container_port_name": port.get("name", ""),
        f"{META}pod_container_port_number": str(port["containerPort"]),
        f"{META}pod_container_port_protocol": port.get("protocol", "TCP"),
        f"{META}pod_container_init": "false",
    }


def endpointslice_targets(objects: list[dict[str, Any]]) -> list[tuple[str, str, dict[str, str]]]:
    """(namespace, __address__, labels) of every target role endpointslice yields for `objects`."""
    pods = {(o["metadata"]["namespace"], o["metadata"]["name"]): o for o in objects if o["kind"] == "Pod"}
    services = {(o["metadata"]["namespace"], o["metadata"]["name"]): o for o in objects if o["kind"] == "Service"}
    out: list[tuple[str, str, dict[str, str]]] = []
    for eps in (o for o in objects if o["kind"] == "EndpointSlice"):
        ns = eps["metadata"]["namespace"]
        group = {f"{META}namespace": ns, f"{META}endpointslice_name": eps["metadata"]["name"],
                 f"{META}endpointslice_address_type": eps["addressType"]}
        # addServiceLabels: only when the Service named by kubernetes.io/service-name exists.
        service = eps["metadata"].get("labels", {}).get("kubernetes.io/service-name")
        if service and (ns, service) in services:
            group[f"{META}service_name"] = service
        seen: dict[str, tuple[dict[str, Any], list[int]]] = {}
        for ep in eps.get("endpoints", []):
            for port in eps.get("ports", []):
                for address in ep["addresses"]:
                    target = dict(group)
                    target[f"{META}endpointslice_port_name"] = port.get("name", "")
                    target[f"{META}endpointslice_port_protocol"] = port.get("protocol", "TCP")
                    target[f"{META}endpointslice_port"] = str(port["port"])
                    for condition, value in ep.get("conditions", {}).items():
                        target[f"{META}endpointslice_endpoint_conditions_{condition}"] = str(value).lower()
                    ref = ep.get("targetRef")
                    if ref:
                        target[f"{META}endpointslice_address_target_kind"] = ref["kind"]
                        target[f"{META}endpointslice_address_target_name"] = ref["name"]
                    pod = pods.get((ref.get("namespace", ns), ref["name"])) if ref and ref["kind"] == "Pod" else None
                    if pod is not None:
                        target.update(_pod_labels(pod))
                        for container in pod["spec"]["containers"]:
                            match = next((p for p in container.get("ports", [])
                                          if p["containerPort"] == port["port"]), None)
                            if match:
                                target.update(_container_port_labels(container, match))
                                break
                        seen.setdefault(pod["metadata"]["name"], (pod, []))[1].append(port["port"])
                    out.append((ns, _join(address, port["port"]), target))
        # The pods' declared container ports that no endpoint port covered: targets of their own,
        # without any endpointslice_port label.
        for pod, covered in seen.values():
            ip = pod.get("status", {}).get("podIP")
            if not ip:
                continue
            for container in pod["spec"]["containers"]:
                for port in container.get("ports", []):
                    if port["containerPort"] in covered:
                        continue
                    target = {**group, **_pod_labels(pod), **_container_port_labels(container, port)}
                    out.append((ns, _join(ip, port["containerPort"]), target))
    return out


def node_targets(objects: list[dict[str, Any]]) -> list[tuple[str, dict[str, str]]]:
    """(__address__, labels) of every target role node yields: the first InternalIP (then other
    address kinds, in node.go's order) with the kubelet's port."""
    order = ("InternalIP", "InternalDNS", "ExternalIP", "ExternalDNS", "Hostname")
    out = []
    for node in (o for o in objects if o["kind"] == "Node"):
        addresses = node["status"]["addresses"]
        host = next(a["address"] for kind in order for a in addresses if a["type"] == kind)
        labels = {f"{META}node_name": node["metadata"]["name"]}
        for a in addresses:
            labels.setdefault(f"{META}node_address_{a['type']}", a["address"])
        out.append((_join(host, node["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"]), labels))
    return out


# Where scripts/upstream-tools.sh puts the Go-built Prometheus tools (the versions deployed).
UPSTREAM_BIN = Path(__file__).resolve().parent.parent / ".tools" / "bin"
_PROBE = "scrape_configs:\n  - job_name: probe\n    kubernetes_sd_configs:\n      - role: node\n"


def promtool_with_kubernetes_sd(tmp: Path) -> str:
    """A promtool that knows kubernetes_sd_configs. Debian's prometheus package is built without
    Kubernetes discovery (its promtool answers "field kubernetes_sd_configs not found in type
    config.ScrapeConfig"); upstream builds have it. Fails under CI, skips locally, like require()."""
    import os
    import subprocess

    from tools import require

    probe = tmp / "kubernetes-sd-probe.yml"
    probe.write_text(_PROBE)
    candidates = [str(UPSTREAM_BIN / "promtool")] if (UPSTREAM_BIN / "promtool").exists() else []
    candidates.append(require("promtool"))
    answers = []
    for promtool in candidates:
        result = subprocess.run([promtool, "check", "config", str(probe)], capture_output=True, text=True,
                                timeout=60)
        if result.returncode == 0:
            return promtool
        answers.append(f"{promtool}: {(result.stdout + result.stderr).strip().splitlines()[-1]}")
    message = (f"no promtool with Kubernetes discovery ({'; '.join(answers)}); "
               "build the upstream one with scripts/upstream-tools.sh")
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)
