"""The guard rails of quikapp-monitoring, as Pulumi resource validation policies.

Each check is a plain function of (resource type, props, options, URN) so it is unit-tested on
the resources the real stacks register under the mock engine (tests/test_policy_pack.py).
The engine hands policies plain values (secrets unwrapped), so these checks look at shape
(`valueFrom` references, bound addresses), never at whether a value was marked secret.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from pulumi_policy import EnforcementLevel, ReportViolation, ResourceValidationArgs, ResourceValidationPolicy

WORKLOAD_TYPES = {
    "kubernetes:apps/v1:Deployment",
    "kubernetes:apps/v1:DaemonSet",
    "kubernetes:apps/v1:StatefulSet",
}
STATEFUL_TYPES = {"docker:index/volume:Volume", "kubernetes:core/v1:PersistentVolumeClaim"}
PROTECTED_STACKS = {"prod"}
# Container ports that require a login (Grafana); every other published port is an open API.
AUTHENTICATED_PORTS = {3000}
# Workloads allowed to run as root: Promtail reads root-owned host logs.
ROOT_ALLOWED = {"promtail"}
_PINNED = re.compile(r".+(:(?!latest$)[\w][\w.-]{0,127}|@sha256:[a-f0-9]{64})$")


def _stack_of(urn: str) -> str:
    return urn.split("::")[0].removeprefix("urn:pulumi:")


def _containers(props: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    pod = props.get("spec", {}).get("template", {}).get("spec", {})
    yield from pod.get("initContainers", []) or []
    yield from pod.get("containers", []) or []


def images(resource_type: str, props: Mapping[str, Any], protect: bool, urn: str) -> list[str]:
    if resource_type == "docker:index/remoteImage:RemoteImage":
        refs = [props.get("name", "")]
    elif resource_type in WORKLOAD_TYPES:
        refs = [c.get("image", "") for c in _containers(props)]
    else:
        return []
    return [f"image {ref!r} is not pinned: use a version tag (not :latest) or an @sha256 digest"
            for ref in refs if not _PINNED.match(ref or "")]


def grafana_password(resource_type: str, props: Mapping[str, Any], protect: bool, urn: str) -> list[str]:
    problems = []
    if resource_type == "docker:index/container:Container":
        for env in props.get("envs", []) or []:
            name, _, value = str(env).partition("=")
            if name == "GF_SECURITY_ADMIN_PASSWORD" and value in {"", "admin"}:
                problems.append("Grafana admin password is empty or the default 'admin'")
    elif resource_type in WORKLOAD_TYPES:
        for container in _containers(props):
            for env in container.get("env", []) or []:
                if env.get("name") == "GF_SECURITY_ADMIN_PASSWORD" and "valueFrom" not in env:
                    problems.append("Grafana admin password is set inline: reference a Secret with valueFrom")
    return problems


def protected_state(resource_type: str, props: Mapping[str, Any], protect: bool, urn: str) -> list[str]:
    if resource_type in STATEFUL_TYPES and _stack_of(urn) in PROTECTED_STACKS and not protect:
        return [f"stateful {resource_type.split(':')[-1]} must be protected in stack {_stack_of(urn)!r} "
                "(set protectData: true)"]
    return []


def exposure(resource_type: str, props: Mapping[str, Any], protect: bool, urn: str) -> list[str]:
    if resource_type != "docker:index/container:Container":
        return []
    problems = []
    for port in props.get("ports", []) or []:
        if port.get("external") is None or port.get("internal") in AUTHENTICATED_PORTS:
            continue
        if port.get("ip") in (None, "", "0.0.0.0", "::"):
            problems.append(f"port {port.get('internal')} has no authentication and is published on all "
                            "interfaces: bind it to docker.publishAddress (loopback)")
    return problems


def hardened_workloads(resource_type: str, props: Mapping[str, Any], protect: bool, urn: str) -> list[str]:
    if resource_type not in WORKLOAD_TYPES:
        return []
    name = props.get("metadata", {}).get("name", "")
    pod = props.get("spec", {}).get("template", {}).get("spec", {})
    pod_security = pod.get("securityContext", {}) or {}
    problems = []
    for container in _containers(props):
        label = f"{name}/{container.get('name')}"
        resources = container.get("resources", {}) or {}
        if not resources.get("requests") or not resources.get("limits"):
            problems.append(f"{label}: set resource requests and limits")
        security = container.get("securityContext", {}) or {}
        if security.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{label}: set allowPrivilegeEscalation: false")
        if security.get("privileged"):
            problems.append(f"{label}: privileged containers are not allowed")
        non_root = security.get("runAsNonRoot", pod_security.get("runAsNonRoot"))
        if non_root is not True and name not in ROOT_ALLOWED:
            problems.append(f"{label}: must run as non-root (runAsNonRoot: true)")
    return problems


Check = Callable[[str, Mapping[str, Any], bool, str], list[str]]


def _policy(name: str, description: str, check: Check,
            level: EnforcementLevel = EnforcementLevel.MANDATORY) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        for problem in check(args.resource_type, args.props, bool(args.opts.protect), args.urn):
            report_violation(problem, None)

    return ResourceValidationPolicy(name=name, description=description, validate=validate, enforcement_level=level)


POLICIES = [
    _policy("pinned-images", "Images are pinned to a version or digest, never :latest.", images),
    _policy("grafana-admin-password", "Grafana's admin password is not the default and comes from a secret.",
            grafana_password),
    _policy("protected-state-in-prod", "Volumes and PVCs are protected in prod.", protected_state),
    # Advisory: a stack may deliberately publish on all interfaces (docker.publishAddress: 0.0.0.0),
    # e.g. a shared dev host behind a firewall; the preview still says so on every run.
    _policy("no-open-unauthenticated-ports", "Unauthenticated APIs are not published on all interfaces.", exposure,
            EnforcementLevel.ADVISORY),
    _policy("hardened-kubernetes-workloads",
            "Kubernetes workloads have requests/limits, no privilege escalation and run as non-root.",
            hardened_workloads),
]
