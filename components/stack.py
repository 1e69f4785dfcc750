"""MonitoringStack: the whole observability stack on the target the settings choose."""

from __future__ import annotations

import pulumi

from .catalog import Catalog
from .prometheus import Prometheus
from .settings import Settings
from .targets import make_target


class MonitoringStack(pulumi.ComponentResource):
    def __init__(self, name: str, settings: Settings, catalog: Catalog,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("quikapp:monitoring:MonitoringStack", name, None, opts)
        self.target = make_target(settings, parent=self)
        child = pulumi.ResourceOptions(parent=self)
        # Tools are independent of each other: they find one another by DNS name, not by
        # resource references, so the engine creates them in parallel.
        self.prometheus = Prometheus("prometheus", settings, catalog, self.target, child)

        self.outputs: dict[str, pulumi.Input[str] | None] = {
            "target": settings.target.value,
            "prometheusUrl": self.prometheus.url("http", public=True),
            "prometheusInternalUrl": self.prometheus.url("http"),
            **self.target.stack_outputs(),
        }
        self.register_outputs({k: v for k, v in self.outputs.items() if v is not None})
