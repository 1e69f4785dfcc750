"""What every container of a pod gets on Kubernetes, the tool's own and its sidecars alike."""

from __future__ import annotations

from pulumi_kubernetes.core.v1 import CapabilitiesArgs, ResourceRequirementsArgs, SecurityContextArgs

from ..workload import Resources


def resource_requirements(res: Resources | None) -> ResourceRequirementsArgs | None:
    return ResourceRequirementsArgs(
        requests={"cpu": res.cpu_request, "memory": res.memory_request},
        limits={"cpu": res.cpu_limit, "memory": res.memory_limit},
    ) if res else None


def hardened(read_only_root_filesystem: bool, run_as_user: int | None = None) -> SecurityContextArgs:
    """No privilege escalation, no capabilities; with run_as_user, that non-root user for this
    container (a sidecar whose image user differs from the pod's)."""
    return SecurityContextArgs(
        allow_privilege_escalation=False,
        read_only_root_filesystem=read_only_root_filesystem,
        run_as_user=run_as_user,
        run_as_non_root=True if run_as_user is not None else None,
        capabilities=CapabilitiesArgs(drop=["ALL"]),
    )
