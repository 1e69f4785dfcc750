"""Base of every tool component: declares a workload on the stack's target under its own node."""

from __future__ import annotations

from typing import ClassVar

import pulumi

from .renames import FORMER_NAMES
from .targets import Target
from .workload import Endpoint, Workload


class ToolComponent(pulumi.ComponentResource):
    """One tool of the stack (type token `quikapp:monitoring:<Tool>`), its resources as children."""

    TYPE: ClassVar[str]

    def __init__(self, name: str, workload: Workload, target: Target,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        renamed = pulumi.ResourceOptions(aliases=[pulumi.Alias(name=old) for old in FORMER_NAMES.get(name, ())])
        super().__init__(self.TYPE, name, None, pulumi.ResourceOptions.merge(opts, renamed))
        self.workload = workload
        deployed = target.deploy(workload, parent=self)
        self.endpoints: dict[str, Endpoint] = deployed.endpoints
        self.resources = deployed.resources
        self.register_outputs({
            f"{port}Endpoint": endpoint.internal for port, endpoint in sorted(self.endpoints.items())
        })

    def url(self, port: str, path: str = "", public: bool = False) -> str | None:
        """http URL of a port: in-network by default, the published address for operators."""
        endpoint = self.endpoints[port]
        if public:
            return None if endpoint.public is None else f"{endpoint.public_scheme}://{endpoint.public}{path}"
        return f"http://{endpoint.internal}{path}"
