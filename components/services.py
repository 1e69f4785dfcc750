"""The stack's services: every tool, exporter and collector by the DNS name, port and scrape job under
which the rest of the stack reaches it, and every other port the stack's workloads listen on.

The one table of these addresses. Workloads listen on these ports under these names (on every
target: the Docker network alias and the Kubernetes Service are both the name), prometheus.yml
scrapes them, Grafana's datasources, Promtail's client and Prometheus' alerting point at them, and
the stack outputs are the deployed endpoints of these ports. No port number of the stack is
written anywhere else in components/ (tests/test_services.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from .settings import Settings, TargetKind
from .settings.model import unknown_target


@dataclass(frozen=True)
class Service:
    """One workload as the others reach it."""

    name: str  # DNS name on every target
    port: int  # where the others reach it: its API or UI, an exporter's /metrics
    job: str  # the scrape job its own metrics land in
    metrics_port: int | None = None  # its /metrics, when not on `port`

    @property
    def address(self) -> str:
        return f"{self.name}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    @property
    def scrape_port(self) -> int:
        return self.port if self.metrics_port is None else self.metrics_port


# --- the tools ----------------------------------------------------------------------------------

PROMETHEUS = Service("prometheus", 9090, "prometheus")
# The stack's own tools are scraped as job `monitoring`, so ServiceDown also covers the monitoring
# stack (a silent Loki or Alertmanager is otherwise noticed only when someone needs it).
MONITORING_JOB = "monitoring"
ALERTMANAGER = Service("alertmanager", 9093, MONITORING_JOB)
GRAFANA = Service("grafana", 3000, MONITORING_JOB)
LOKI = Service("loki", 3100, MONITORING_JOB)
# The query service (UI and API). Its metrics are the collector's own (service.telemetry), Prometheus
# text on /metrics on the port Jaeger's upstream configs use (jaegertracing/jaeger@v2.20.0
# cmd/jaeger/config.yaml); v1's admin port 14269 is gone.
JAEGER = Service("jaeger", 16686, MONITORING_JOB, metrics_port=8888)
PROMTAIL = Service("promtail", 9080, MONITORING_JOB)  # one target per node on Kubernetes

# The targets of job `monitoring`, in the seed's order (Promtail, per node, last).
MONITORED_TOOLS: tuple[Service, ...] = (ALERTMANAGER, GRAFANA, LOKI, JAEGER, PROMTAIL)

# Jaeger's other listeners. The receivers take spans from QuikApp's services.
JAEGER_OTLP_GRPC_PORT = 4317
JAEGER_OTLP_HTTP_PORT = 4318
JAEGER_ZIPKIN_PORT = 9411
# jaeger.thrift over HTTP (POST /api/traces), v1's collector endpoint: v2 keeps it through the
# `jaeger` receiver's thrift_http protocol, so services still using a Jaeger client keep working.
JAEGER_THRIFT_HTTP_PORT = 14268
# The healthcheckv2 extension's, where v1 had its admin port 14269 (open-telemetry/
# opentelemetry-collector-contrib@v0.155.0 internal/healthcheck config.go DefaultHTTPPort).
JAEGER_HEALTH_PORT = 13133
JAEGER_QUERY_GRPC_PORT = 16685  # query's gRPC API (api_v2/api_v3): in-container only, named so tests can move it

# Alertmanager's gossip between the members of a highAvailability cluster: the
# --cluster.listen-address default port (prometheus/alertmanager cmd/alertmanager/main.go).
ALERTMANAGER_CLUSTER_PORT = 9094
# A config reloader sidecar's /healthz and /metrics (inside the pod / container only).
CONFIG_RELOADER_PORT = 8080


# --- infrastructure exporters (components/exporters.py) ------------------------------------------
# The seed's jobs, in the seed's order; the `service` label of their series is the job.

EXPORTERS: tuple[Service, ...] = (
    Service("redis-exporter", 9121, "redis"),
    Service("postgres-exporter", 9187, "postgres"),
    Service("kafka-exporter", 9308, "kafka"),
    Service("nginx-exporter", 9113, "nginx"),
)


def exporter(job: str) -> Service:
    return next(e for e in EXPORTERS if e.job == job)


def enabled_exporters(settings: Settings) -> list[Service]:
    exporters = settings.exporters
    enabled = {"redis": exporters.redis.enabled, "postgres": exporters.postgres.enabled,
               "kafka": exporters.kafka.enabled, "nginx": exporters.nginx.enabled}
    return [e for e in EXPORTERS if enabled[e.job]]


# --- host, container and cluster collectors (components/collectors.py) ---------------------------
# The job names are the selectors of the upstream mixins' rules and dashboards (node-mixin
# `job="node-exporter"`, kubernetes-mixin `job="kube-state-metrics"`, `job="kubelet"`, `job="cadvisor"`).

NODE_EXPORTER = Service("node-exporter", 9100, "node-exporter")
CADVISOR = Service("cadvisor", 8080, "cadvisor")  # Docker: the cAdvisor container
KUBE_STATE_METRICS = Service("kube-state-metrics", 8080, "kube-state-metrics")
KSM_TELEMETRY_PORT = 8081  # its own metrics and /readyz (the image's --telemetry-port)
KUBELET = "kubelet"  # the job of the kubelets' own metrics


@dataclass(frozen=True)
class Collector:
    """A collector job: served by a workload of the stack, or by every node's kubelet."""

    job: str
    workload: Service | None = None  # None: each node's kubelet serves it


def collectors(settings: Settings) -> list[Collector]:
    """The enabled collectors of the stack's target, in job order."""
    on = settings.collectors
    kind = settings.target
    match kind:
        case TargetKind.DOCKER:
            # A cAdvisor container reads the Docker host's containers.
            offered = [(Collector(NODE_EXPORTER.job, NODE_EXPORTER), on.node_exporter.enabled),
                       (Collector(CADVISOR.job, CADVISOR), on.cadvisor.enabled)]
        case TargetKind.KUBERNETES:
            # The container metrics are the kubelets' built-in cAdvisor's; kube-state-metrics describes
            # the cluster's objects.
            offered = [(Collector(NODE_EXPORTER.job, NODE_EXPORTER), on.node_exporter.enabled),
                       (Collector(KUBE_STATE_METRICS.job, KUBE_STATE_METRICS), on.kube_state_metrics.enabled),
                       (Collector(KUBELET), on.kubelet.enabled),
                       (Collector(CADVISOR.job), on.cadvisor.enabled)]
        case _:
            unknown_target(kind)
    return [collector for collector, enabled in offered if enabled]


def collector_workloads(settings: Settings) -> list[Service]:
    """The collectors the stack runs as workloads of its own, in job order."""
    return [c.workload for c in collectors(settings) if c.workload is not None]
