"""Targets realise target-neutral workloads on Docker or Kubernetes."""

from __future__ import annotations

import pulumi

from ..settings import Settings, TargetKind
from .base import Target


def make_target(settings: Settings, parent: pulumi.Resource) -> Target:
    # Import only the provider SDK this stack uses: pulumi_kubernetes alone takes seconds to import.
    if settings.target is TargetKind.DOCKER:
        from .docker import DockerTarget

        return DockerTarget(settings, parent)
    from .kubernetes import KubernetesTarget

    return KubernetesTarget(settings, parent)


__all__ = ["Target", "make_target"]
