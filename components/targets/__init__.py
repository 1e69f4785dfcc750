"""Targets realise target-neutral workloads on Docker or Kubernetes."""

from __future__ import annotations

import pulumi

from ..settings import Settings, TargetKind
from ..settings.model import unknown_target
from .base import Target


def make_target(settings: Settings, parent: pulumi.Resource) -> Target:
    # Import only the provider SDK this stack uses: pulumi_kubernetes alone takes seconds to import.
    kind = settings.target
    match kind:
        case TargetKind.DOCKER:
            from .docker import DockerTarget

            return DockerTarget(settings, parent)
        case TargetKind.KUBERNETES:
            from .kubernetes import KubernetesTarget

            return KubernetesTarget(settings, parent)
        case _:
            unknown_target(kind)


__all__ = ["Target", "make_target"]
