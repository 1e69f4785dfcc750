"""The guard rails of quikapp-monitoring, as Pulumi resource validation policies.

Each check is a plain function of (resource type, props, options, URN) so it is unit-tested on
the resources the real stacks register under the mock engine (tests/test_policy_pack.py).
The engine hands policies plain values (secrets unwrapped), so these checks look at shape
(`valueFrom` references, bound addresses), never at whether a value was marked secret.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
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


def _image_refs(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """The image references a resource deploys: a Docker RemoteImage's name, a workload's containers'."""
    if resource_type == "docker:index/remoteImage:RemoteImage":
        return [str(props.get("name", "") or "")]
    if resource_type in WORKLOAD_TYPES:
        return [str(c.get("image", "") or "") for c in _containers(props)]
    return []


def images(resource_type: str, props: Mapping[str, Any], protect: bool, urn: str) -> list[str]:
    refs = _image_refs(resource_type, props)
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


@dataclass(frozen=True)
class EndOfLife:
    """An image series no longer supported upstream: `repository` at a version below `below`
    (every version when None) is end of life since `since`."""

    repository: str
    below: tuple[int, ...] | None
    since: date
    what: str
    instead: str
    source: str


# Images known to be end of life upstream, each with the upstream text that says so.
END_OF_LIFE = (
    EndOfLife("grafana/promtail", None, date(2026, 3, 2), "Promtail", "Grafana Alloy",
              "grafana/loki@v3.6.11 docs/sources/send-data/promtail/_index.md"),
    EndOfLife("jaegertracing/all-in-one", None, date(2025, 12, 31), "Jaeger v1", "jaegertracing/jaeger 2.x",
              "jaegertracing/jaeger@v1.76.0 cmd/internal/flags/service.go (v1's end-of-life notice)"),
    # Each Grafana minor is supported 9 months, a major's last minor 15: 11.6, the last 11.x,
    # until June 2026 (grafana.com docs, upgrade-guide/when-to-upgrade).
    EndOfLife("grafana/grafana", (12,), date(2026, 6, 25), "Grafana 11 and older", "Grafana 12 or later",
              "grafana.com/docs/grafana/latest/upgrade-guide/when-to-upgrade"),
    EndOfLife("prom/prometheus", (3,), date(2025, 7, 31), "Prometheus 2.x (its last LTS, 2.53)", "Prometheus 3",
              "prometheus/docs@c105550 docs/introduction/release-cycle.md"),
)
_DOCKER_HUB = re.compile(r"^(docker\.io|index\.docker\.io|registry-1\.docker\.io)/(library/)?")


def _repository_and_version(ref: str) -> tuple[str, tuple[int, ...] | None]:
    """`[registry/]repo[:tag][@digest]` → (repository without Docker Hub's prefix, the tag's numbers)."""
    ref = ref.split("@", 1)[0]
    name, _, tag = ref.rpartition(":") if ":" in ref.rsplit("/", 1)[-1] else (ref, "", "")
    numbers = re.match(r"v?(\d+(?:\.\d+)*)", tag)
    return _DOCKER_HUB.sub("", name), tuple(int(n) for n in numbers.group(1).split(".")) if numbers else None


def end_of_life_findings(ref: str, today: date) -> list[str]:
    repository, version = _repository_and_version(ref)
    return [f"image {ref!r} is {eol.what}, end of life upstream since {eol.since.isoformat()}: move to "
            f"{eol.instead} (source: {eol.source})"
            for eol in END_OF_LIFE
            if eol.repository == repository and eol.since <= today
            and (eol.below is None or (version is not None and version < eol.below))]


def end_of_life(resource_type: str, props: Mapping[str, Any], protect: bool, urn: str) -> list[str]:
    return [finding for ref in _image_refs(resource_type, props) for finding in end_of_life_findings(ref, date.today())]


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
    # Advisory: Promtail has no replacement in this stack yet (docs/UPGRADING.md); every preview says so.
    _policy("end-of-life-images", "No image is end of life upstream.", end_of_life, EnforcementLevel.ADVISORY),
    _policy("hardened-kubernetes-workloads",
            "Kubernetes workloads have requests/limits, no privilege escalation and run as non-root.",
            hardened_workloads),
]
