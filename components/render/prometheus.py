"""prometheus.yml and the alert rule files, rendered from the service catalog and settings."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path

from ..catalog import CONFIGS, Catalog
from ..settings import Settings, TargetKind
from .yamltext import dump_yaml, load_yaml

CONFIG_DIR = "/etc/prometheus"
RULES_DIR = f"{CONFIG_DIR}/rules"
RULES_SOURCE = CONFIGS / "prometheus" / "rules"
ALERTMANAGER = "alertmanager:9093"


@dataclass(frozen=True)
class ExporterJob:
    """A scrape job for one infrastructure exporter of the monitoring stack."""

    job: str  # the seed's job name: redis, postgres, kafka, nginx
    host: str  # the exporter's DNS name, same on both targets
    port: int


# The seed's infrastructure jobs, in the seed's order.
EXPORTER_JOBS: tuple[ExporterJob, ...] = (
    ExporterJob("redis", "redis-exporter", 9121),
    ExporterJob("postgres", "postgres-exporter", 9187),
    ExporterJob("kafka", "kafka-exporter", 9308),
    ExporterJob("nginx", "nginx-exporter", 9113),
)


# The stack's own tools, scraped as job `monitoring` so ServiceDown also covers the monitoring
# stack (a silent Loki or Alertmanager is otherwise noticed only when someone needs it).
# Promtail is left out: on Kubernetes its Service would hit a random node's pod per scrape.
MONITORING_TARGETS: tuple[tuple[str, int], ...] = (
    ("alertmanager", 9093),
    ("grafana", 3000),
    ("loki", 3100),
    ("jaeger", 14269),  # Jaeger's admin port serves /metrics
)


def _static(address: str, service: str) -> dict[str, object]:
    # Every target carries a `service` label: the alerts and dashboards aggregate `by (service)`,
    # and nothing in the seed attached one, so those expressions could not split per service.
    return {"targets": [address], "labels": {"service": service}}


def enabled_exporters(settings: Settings) -> list[ExporterJob]:
    exporters = settings.exporters
    enabled = {"redis": exporters.redis.enabled, "postgres": exporters.postgres.enabled,
               "kafka": exporters.kafka.enabled, "nginx": exporters.nginx.enabled}
    return [job for job in EXPORTER_JOBS if enabled[job.job]]


def render_prometheus_config(settings: Settings, catalog: Catalog, app_host: Callable[[str], str]) -> str:
    """The text of /etc/prometheus/prometheus.yml.

    `app_host` maps a catalog service name to the host Prometheus reaches it under (the bare name
    on the Docker network, `<name>.<appNamespace>.svc` on Kubernetes).
    """
    prom = settings.prometheus
    global_: dict[str, object] = {
        "scrape_interval": prom.scrape_interval,
        "evaluation_interval": prom.evaluation_interval,
    }
    if prom.external_labels:
        global_["external_labels"] = dict(sorted(prom.external_labels.items()))
    jobs: list[dict[str, object]] = [
        {"job_name": "prometheus", "static_configs": [_static("localhost:9090", "prometheus")]},
    ]
    for job in catalog.jobs:
        jobs.append({
            "job_name": job.name,
            "metrics_path": job.metrics_path,
            "static_configs": [_static(f"{app_host(name)}:{port}", name) for name, port in job.services],
        })
    for exporter in enabled_exporters(settings):
        jobs.append({
            "job_name": exporter.job,
            "static_configs": [_static(f"{exporter.host}:{exporter.port}", exporter.job)],
        })
    # After the seed's jobs, in the seed's order.
    jobs.append({
        "job_name": "monitoring",
        "static_configs": [_static(f"{host}:{port}", host) for host, port in MONITORING_TARGETS],
    })
    config = {
        "global": global_,
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [ALERTMANAGER]}]}]},
        "rule_files": [f"{RULES_DIR}/*.yml"],
        "scrape_configs": jobs,
    }
    return dump_yaml(config)


@dataclass(frozen=True)
class RuleScope:
    """Where a rule file that not every stack can use ships (configs/prometheus/rules/mixins.yaml)."""

    targets: frozenset[TargetKind]
    jobs: frozenset[str]  # the scrape jobs its selectors read


def rule_scopes(source: Path = RULES_SOURCE) -> dict[str, RuleScope]:
    """File name → scope: every mixin scripts/sync-mixins.py renders, and the project's own
    target-specific files (`project`)."""
    manifest = load_yaml((source / "mixins.yaml").read_text(encoding="utf-8"))
    entries = [*manifest["mixins"], *manifest.get("project", [])]
    return {entry["output"]: RuleScope(frozenset(TargetKind(t) for t in entry["targets"]), frozenset(entry["jobs"]))
            for entry in entries}


def scrape_jobs(prometheus_yml: str) -> frozenset[str]:
    """The job names of a rendered prometheus.yml."""
    return frozenset(job["job_name"] for job in load_yaml(prometheus_yml)["scrape_configs"])


def rule_files(target: TargetKind, jobs: Collection[str], source: Path = RULES_SOURCE) -> dict[str, str]:
    """In-container path → text of the rule files a stack ships (kept verbatim, comments too).

    A file with a scope (a mixin's, or the project's cluster and container rules) only on its
    targets and when every job its selectors read is scraped: its alerts could never fire
    otherwise (and `absent()` ones always would). The project's other files always.
    """
    scopes = rule_scopes(source)
    shipped = {}
    for path in sorted(source.glob("*.yml")):
        scope = scopes.get(path.name)
        if scope is None or (target in scope.targets and scope.jobs <= set(jobs)):
            shipped[f"{RULES_DIR}/{path.name}"] = path.read_text(encoding="utf-8")
    return shipped
