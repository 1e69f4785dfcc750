"""MonitoringStack: the whole observability stack on the target the settings choose."""

from __future__ import annotations

import pulumi

from .alertmanager import Alertmanager
from .catalog import Catalog
from .collectors import build_collectors
from .exporters import build_exporters
from .grafana import Grafana
from .instrumentation import instrumentation
from .jaeger import Jaeger
from .loki import Loki
from .prometheus import Prometheus
from .promtail import Promtail
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
        self.alertmanager = Alertmanager("alertmanager", settings, self.target, child)
        self.grafana = Grafana("grafana", settings, self.target, child)
        self.loki = Loki("loki", settings, self.target, child)
        self.promtail = Promtail("promtail", settings, self.target, child)
        self.jaeger = Jaeger("jaeger", settings, self.target, child)
        self.exporters = build_exporters(settings, self.target, child)  # only the enabled ones
        self.collectors = build_collectors(settings, self.target, child)  # likewise, per target

        tracing = self.jaeger.stack_outputs()
        self.outputs: dict[str, object] = {
            "target": settings.target.value,
            "prometheusUrl": self.prometheus.url("http", public=True),
            "prometheusInternalUrl": self.prometheus.url("http"),
            "alertmanagerUrl": self.alertmanager.url("http", public=True),
            "alertmanagerInternalUrl": self.alertmanager.url("http"),
            "grafanaUrl": self.grafana.public_url(),
            "grafanaInternalUrl": self.grafana.url("http"),
            "lokiUrl": self.loki.url("http", public=True),
            "lokiPushUrl": self.loki.push_url,
            **tracing,
            **self.target.stack_outputs(),
            "instrumentation": instrumentation(otlp_grpc=str(tracing["otlpGrpcEndpoint"]),
                                               otlp_http=str(tracing["otlpHttpEndpoint"]),
                                               zipkin=str(tracing["zipkinEndpoint"])),
        }
        self.register_outputs({k: v for k, v in self.outputs.items() if v is not None})
