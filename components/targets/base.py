"""What every target offers the components."""

from __future__ import annotations

from typing import Protocol

import pulumi

from ..settings import TargetKind
from ..workload import DeployedWorkload, Port, Workload

PART_OF = "quikapp-monitoring"


class Target(Protocol):
    kind: TargetKind

    def app_host(self, service: str) -> str:
        """DNS name under which a QuikApp application service is reached from the monitoring stack."""
        ...

    def operator_url(self, port: Port) -> str | None:
        """The address a person opens for a published port (links in alerts and notifications)."""
        ...

    def deploy(self, workload: Workload, parent: pulumi.Resource) -> DeployedWorkload:
        """Declare every resource the workload needs, parented to the tool's component."""
        ...

    def stack_outputs(self) -> dict[str, object]:
        """Target facts service teams need (network or namespace)."""
        ...
