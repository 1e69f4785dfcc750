"""Infrastructure exporters Prometheus scrapes: Redis, PostgreSQL, Kafka and NGINX.

Each runs under the DNS name and port of its scrape job (`EXPORTERS` in components/services.py,
which prometheus.yml reads too), only when enabled for the stack, and stays inside the network:
nothing but Prometheus talks to them.
"""

from __future__ import annotations

from collections.abc import Callable

import pulumi

from .services import Service, enabled_exporters, exporter
from .settings import Settings
from .settings.model import Resources as ResourceSettings
from .targets import Target
from .tool import ToolComponent
from .workload import Health, Port, Resources, Workload


def _wget(job: Service, path: str) -> tuple[str, ...]:
    return ("CMD", "wget", "-q", "--spider", f"http://127.0.0.1:{job.port}{path}")


def _workload(job: Service, image: str, resources: Resources, health_path: str, user: int,
              docker_healthcheck: bool, args: tuple[str, ...] = (), env: tuple[tuple[str, str], ...] = (),
              secret_env: tuple[tuple[str, pulumi.Input[str]], ...] = (),
              may_wait_for_backend: bool = False) -> Workload:
    return Workload(
        name=job.name,
        image=image,
        args=args,
        env=env,
        secret_env=secret_env,
        ports=(Port("metrics", job.port),),  # not published: only Prometheus scrapes it
        health=Health(health_path, job.port,
                      docker_test=_wget(job, health_path) if docker_healthcheck else None),
        resources=resources,
        user=user,
        may_wait_for_backend=may_wait_for_backend,
    )


def _resources(settings_resources: ResourceSettings) -> Resources:
    return Resources(**settings_resources.model_dump())


def redis_exporter_workload(settings: Settings) -> Workload:
    redis = settings.exporters.redis
    return _workload(
        exporter("redis"), settings.images.redis_exporter, _resources(redis.resources),
        health_path="/health",
        # The image's USER 59000:59000, FROM scratch: no shell, no HTTP client (the plain tag is the
        # scratch-release target; oliver006/redis_exporter@v1.88.0 Dockerfile, .github/workflows/release.yml).
        user=59000,
        docker_healthcheck=False,
        # redis_total_system_memory_bytes (the host's memory, from INFO memory), which the redis mixin's
        # RedisOutOfMemory reads, is exported only with this flag (oliver006/redis_exporter@v1.88.0
        # main.go `include-system-metrics`, exporter/exporter.go InclSystemMetrics).
        args=("--include-system-metrics",),
        env=(("REDIS_ADDR", f"redis://{redis.address}"),),
    )


def postgres_exporter_workload(settings: Settings) -> Workload:
    postgres = settings.exporters.postgres
    if postgres.dsn is None:  # the settings loader requires it for an enabled exporter
        raise ValueError("exporters.postgres.dsn is required when the postgres exporter is enabled")
    return _workload(
        exporter("postgres"), settings.images.postgres_exporter, _resources(postgres.resources),
        health_path="/",
        # The image's USER nobody, on quay.io/prometheus/busybox: busybox wget for the health check
        # (prometheus-community/postgres_exporter@v0.20.1 Dockerfile; DATA_SOURCE_NAME read in
        # exporter/datasource.go).
        user=65534,
        docker_healthcheck=True,
        # The DSN carries the database password: secret env only (Docker secret, Kubernetes Secret).
        secret_env=(("DATA_SOURCE_NAME", postgres.dsn.get_secret_value()),),
    )


def kafka_exporter_workload(settings: Settings) -> Workload:
    kafka = settings.exporters.kafka
    return _workload(
        exporter("kafka"), settings.images.kafka_exporter, _resources(kafka.resources),
        health_path="/healthz",
        # The image's USER nobody, on quay.io/prometheus/busybox: busybox wget for the health check
        # (danielqsj/kafka_exporter@v1.9.0 Dockerfile; /healthz in kafka_exporter.go).
        user=65534,
        docker_healthcheck=True,
        args=tuple(f"--kafka.server={broker}" for broker in kafka.brokers),
        # kafka_exporter exits when no broker answers at start (NewExporter then klog.Fatalln in
        # danielqsj/kafka_exporter@v1.9.0 kafka_exporter.go): up must not wait for Kafka.
        may_wait_for_backend=True,
    )


def nginx_exporter_workload(settings: Settings) -> Workload:
    nginx = settings.exporters.nginx
    return _workload(
        exporter("nginx"), settings.images.nginx_exporter, _resources(nginx.resources),
        health_path="/",
        # The image's USER 1001:1001, FROM scratch: no shell, no HTTP client
        # (nginx/nginx-prometheus-exporter@v1.5.3 build/Dockerfile).
        user=1001,
        docker_healthcheck=False,
        # 1.x parses kingpin flags (two dashes) and dropped 0.x's -nginx.retries and
        # -nginx.retry-interval: an unknown flag stops it at start. It no longer contacts NGINX
        # before serving: an unreachable NGINX shows as nginx_up 0 (NginxDown), so `up` may wait
        # for it like any other workload (nginx/nginx-prometheus-exporter@v1.5.3 exporter.go,
        # client/nginx.go NewNginxClient).
        args=(f"--nginx.scrape-uri={nginx.scrape_uri}",),
    )


class RedisExporter(ToolComponent):
    TYPE = "quikapp:monitoring:RedisExporter"

    def __init__(self, name: str, settings: Settings, target: Target,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(name, redis_exporter_workload(settings), target, opts)


class PostgresExporter(ToolComponent):
    TYPE = "quikapp:monitoring:PostgresExporter"

    def __init__(self, name: str, settings: Settings, target: Target,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(name, postgres_exporter_workload(settings), target, opts)


class KafkaExporter(ToolComponent):
    TYPE = "quikapp:monitoring:KafkaExporter"

    def __init__(self, name: str, settings: Settings, target: Target,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(name, kafka_exporter_workload(settings), target, opts)


class NginxExporter(ToolComponent):
    TYPE = "quikapp:monitoring:NginxExporter"

    def __init__(self, name: str, settings: Settings, target: Target,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(name, nginx_exporter_workload(settings), target, opts)


ExporterClass = Callable[[str, Settings, Target, pulumi.ResourceOptions | None], ToolComponent]

EXPORTER_CLASSES: dict[str, ExporterClass] = {
    "redis": RedisExporter,
    "postgres": PostgresExporter,
    "kafka": KafkaExporter,
    "nginx": NginxExporter,
}


def build_exporters(settings: Settings, target: Target,
                    opts: pulumi.ResourceOptions | None = None) -> dict[str, ToolComponent]:
    """The enabled exporters, keyed by scrape job: exactly the jobs prometheus.yml scrapes."""
    return {job.job: EXPORTER_CLASSES[job.job](job.name, settings, target, opts)
            for job in enabled_exporters(settings)}
