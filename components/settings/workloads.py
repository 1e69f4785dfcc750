"""What every workload takes from the settings: its pinned image (`images`) and its `resources`."""

from __future__ import annotations

from pydantic import Field

from .base import CpuQuantity, Image, MemoryQuantity, Model


class Images(Model):
    """Pinned images. The seed's versions where the seed names one."""

    prometheus: Image = Field("prom/prometheus:v3.16.0", description="Prometheus.")
    alertmanager: Image = Field("prom/alertmanager:v0.35.0", description="Alertmanager.")
    grafana: Image = Field("grafana/grafana:13.2.0", description=(
        "Grafana: the default Alpine variant, since the admin password wrapper needs `/bin/sh`."))
    loki: Image = Field("grafana/loki:3.7.8", description="Loki, run as a single binary.")
    promtail: Image = Field("grafana/promtail:3.6.11", description=(
        "Promtail: the final release series (end of life 2026-03-02)."))
    jaeger: Image = Field("jaegertracing/jaeger:2.20.0", description=(
        "Jaeger v2: collector, query and UI in one process."))
    redis_exporter: Image = Field("oliver006/redis_exporter:v1.88.0", description="The Redis exporter.")
    postgres_exporter: Image = Field("quay.io/prometheuscommunity/postgres-exporter:v0.20.1",
                                     description="The PostgreSQL exporter.")
    kafka_exporter: Image = Field("danielqsj/kafka-exporter:v1.9.0", description="The Kafka exporter.")
    nginx_exporter: Image = Field("nginx/nginx-prometheus-exporter:1.5.3", description="The NGINX exporter.")
    # The collectors (components/collectors.py); sources in docs/UPSTREAM-FACTS.md.
    node_exporter: Image = Field("prom/node-exporter:v1.12.1", description="node-exporter.")
    cadvisor: Image = Field("ghcr.io/google/cadvisor:0.60.6", description=(
        "cAdvisor (Docker only: Kubernetes stacks scrape the kubelets' built-in cAdvisor)."))
    kube_state_metrics: Image = Field("registry.k8s.io/kube-state-metrics/kube-state-metrics:v2.20.0",
                                      description="kube-state-metrics (Kubernetes only).")
    # The one the prometheus-community alertmanager chart runs (charts/alertmanager/values.yaml configmapReload).
    config_reloader: Image = Field("quay.io/prometheus-operator/prometheus-config-reloader:v0.93.1", description=(
        "Alertmanager's config reloader (Alertmanager has no file watching of its own). Busybox-based, so on "
        "Docker it also copies Loki's live config, Loki's image having no shell."))


class Resources(Model):
    """Kubernetes requests/limits of one workload."""

    cpu_request: CpuQuantity = Field("100m", description="CPU request (Kubernetes; Docker has no requests).")
    memory_request: MemoryQuantity = Field("128Mi", description=(
        "Memory request (Kubernetes; Docker has no requests)."))
    cpu_limit: CpuQuantity = Field("1", description="CPU limit; on Docker, the container's.")
    memory_limit: MemoryQuantity = Field("512Mi", description="Memory limit; on Docker, the container's.")
