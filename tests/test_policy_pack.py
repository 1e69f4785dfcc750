"""The policy pack passes the real stacks and rejects deliberately broken ones.

Policies are called the way the engine calls them: ResourceValidationArgs built from the
resources the real program registers under the mock engine (secrets unwrapped, as the engine
hands them to policies).
"""

from __future__ import annotations

import copy
import sys
from typing import Any

import pytest
from pulumi_policy import PolicyCustomTimeouts, PolicyResourceOptions, ResourceValidationArgs

from conftest import stack_run
from mockengine.manifests import plain
from mockengine.program import ROOT, STACKS
from mockengine.run import Registered

sys.path.insert(0, str(ROOT / "policy"))
from quikapp_policies import POLICIES


def _args(record: Registered, props: dict[str, Any] | None = None, protect: bool | None = None
          ) -> ResourceValidationArgs:
    opts = PolicyResourceOptions(
        protect=record.protect if protect is None else protect, ignore_changes=[],
        delete_before_replace=record.delete_before_replace, aliases=[],
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0), additional_secret_outputs=[], parent=record.parent,
    )
    return ResourceValidationArgs(record.type, plain(record.inputs) if props is None else props, record.urn,
                                  record.name, opts, None)


def violations(args: ResourceValidationArgs) -> list[str]:
    found: list[str] = []
    for policy in POLICIES:
        policy.validate(args, lambda message, urn=None, name=policy.name: found.append(f"{name}: {message}"))
    return found


ADVISORY = {"no-open-unauthenticated-ports", "end-of-life-images"}


def _findings(run: Any, policy: str | None = None) -> list[tuple[Registered, str]]:
    return [(r, v) for r in run.resources if r.custom for v in violations(_args(r))
            if policy is None or v.startswith(policy + ":")]


@pytest.mark.parametrize("stack", STACKS)
def test_real_stacks_pass_every_policy_but_promtails_end_of_life(stack: str) -> None:
    problems = [f"{r.type} {r.name}: {v}" for r, v in _findings(stack_run(stack))]
    # Promtail is end of life upstream and stays until Grafana Alloy replaces it (docs/UPGRADING.md):
    # its one advisory finding, on the one place the stack names its image.
    assert len(problems) == 1, problems
    assert "end-of-life-images: image 'grafana/promtail:" in problems[0]
    assert "end of life upstream since 2026-03-02" in problems[0]
    assert ("RemoteImage promtail-image" if stack == "dev" else "DaemonSet promtail") in problems[0]


@pytest.mark.parametrize("stack", ["dev", "staging"])
def test_every_end_of_life_image_is_warned_on(stack: str) -> None:
    """The seed's 2023 images, on Docker (RemoteImage) and Kubernetes (container images)."""
    from guarantees import run_with
    from test_upgrade import OLD_IMAGES

    run = run_with(stack, {"images": OLD_IMAGES})
    found = [v for _, v in _findings(run, "end-of-life-images")]
    flagged = {v.split("'")[1] for v in found}
    assert flagged == {OLD_IMAGES[k] for k in ("promtail", "jaeger", "grafana", "prometheus")}, found
    assert any("since 2025-12-31" in v and "jaegertracing/jaeger 2.x" in v for v in found)


@pytest.mark.parametrize(("ref", "eol"), [
    ("grafana/promtail:3.6.11", True),
    ("docker.io/grafana/promtail:3.6.11@sha256:" + "0" * 64, True),
    ("jaegertracing/all-in-one:1.76.0", True),
    ("jaegertracing/jaeger:2.20.0", False),
    ("grafana/grafana:11.6.3", True),
    ("grafana/grafana:12.0.0", False),
    ("grafana/grafana:13.2.0", False),
    ("prom/prometheus:v2.55.1", True),
    ("prom/prometheus:v3.16.0", False),
    ("grafana/loki:2.9.0", False),  # no upstream end-of-life date to cite: not in the table
    ("quay.io/grafana/promtail:3.6.11", False),  # another registry's repository is another image
])
def test_end_of_life_table(ref: str, eol: bool) -> None:
    from datetime import date

    from quikapp_policies import end_of_life_findings

    assert bool(end_of_life_findings(ref, date(2026, 11, 26))) is eol
    # Before its date an entry is not (yet) end of life.
    assert not end_of_life_findings(ref, date(2025, 1, 1))


def _first(stack: str, type_: str) -> Registered:
    return stack_run(stack).of_type(type_)[0]


def test_latest_image_is_rejected() -> None:
    record = _first("dev", "docker:index/remoteImage:RemoteImage")
    props = {**plain(record.inputs), "name": "prom/prometheus:latest"}
    assert any("pinned-images" in v for v in violations(_args(record, props)))
    props["name"] = "prom/prometheus"
    assert any("pinned-images" in v for v in violations(_args(record, props)))


def test_latest_image_in_a_kubernetes_workload_is_rejected() -> None:
    record = _first("prod", "kubernetes:apps/v1:Deployment")
    props = copy.deepcopy(plain(record.inputs))
    props["spec"]["template"]["spec"]["containers"][0]["image"] = "grafana/grafana:latest"
    assert any("pinned-images" in v for v in violations(_args(record, props)))


def test_default_grafana_password_is_rejected() -> None:
    record = _first("dev", "docker:index/container:Container")
    props = {**plain(record.inputs), "envs": ["GF_SECURITY_ADMIN_PASSWORD=admin"]}
    assert any("grafana-admin-password" in v for v in violations(_args(record, props)))


def test_inline_grafana_password_on_kubernetes_is_rejected() -> None:
    record = _first("prod", "kubernetes:apps/v1:Deployment")
    props = copy.deepcopy(plain(record.inputs))
    props["spec"]["template"]["spec"]["containers"][0]["env"] = [
        {"name": "GF_SECURITY_ADMIN_PASSWORD", "value": "hunter2"}]
    assert any("grafana-admin-password" in v for v in violations(_args(record, props)))


def test_unprotected_state_in_prod_is_rejected_but_allowed_in_staging() -> None:
    prod = _first("prod", "kubernetes:core/v1:PersistentVolumeClaim")
    assert any("protected-state-in-prod" in v for v in violations(_args(prod, protect=False)))
    staging = _first("staging", "kubernetes:core/v1:PersistentVolumeClaim")
    assert not violations(_args(staging, protect=False))


def test_unauthenticated_port_on_all_interfaces_is_rejected() -> None:
    record = next(r for r in stack_run("dev").of_type("docker:index/container:Container") if r.name == "prometheus")
    props = copy.deepcopy(plain(record.inputs))
    props["ports"][0]["ip"] = "0.0.0.0"
    assert any("no-open-unauthenticated-ports" in v for v in violations(_args(record, props)))
    del props["ports"][0]["ip"]
    assert any("no-open-unauthenticated-ports" in v for v in violations(_args(record, props)))


@pytest.mark.parametrize("breakage", ["no-limits", "escalation", "root", "privileged"])
def test_unhardened_kubernetes_workload_is_rejected(breakage: str) -> None:
    # Prod's Prometheus is a StatefulSet (highAvailability): the policy covers that kind too.
    record = next(r for r in stack_run("prod").of_type("kubernetes:apps/v1:StatefulSet")
                  if plain(r.inputs)["metadata"]["name"] == "prometheus")
    props = copy.deepcopy(plain(record.inputs))
    pod = props["spec"]["template"]["spec"]
    container = pod["containers"][0]
    if breakage == "no-limits":
        del container["resources"]["limits"]
    elif breakage == "escalation":
        container["securityContext"]["allowPrivilegeEscalation"] = True
    elif breakage == "root":
        pod["securityContext"]["runAsNonRoot"] = False
    else:
        container["securityContext"]["privileged"] = True
    assert any("hardened-kubernetes-workloads" in v for v in violations(_args(record, props)))


def test_a_stack_that_publishes_on_all_interfaces_is_warned_not_blocked() -> None:
    from guarantees import run_with
    from pulumi_policy import EnforcementLevel

    run = run_with("dev", {"docker": {"publishAddress": "0.0.0.0"}})
    flagged = {r.name for r in run.resources if r.custom
               for v in violations(_args(r)) if v.startswith("no-open-unauthenticated-ports")}
    assert flagged == {"prometheus", "alertmanager", "loki", "jaeger"}  # Grafana has a login
    levels = {p.name: p.enforcement_level for p in POLICIES}
    assert all(levels[name] == EnforcementLevel.ADVISORY for name in ADVISORY)
    assert all(level in (None, EnforcementLevel.MANDATORY) for name, level in levels.items() if name not in ADVISORY)


def test_end_of_life_warns_and_never_blocks() -> None:
    from pulumi_policy import EnforcementLevel

    policy = next(p for p in POLICIES if p.name == "end-of-life-images")
    assert policy.enforcement_level == EnforcementLevel.ADVISORY
