"""Settings of the exporters of QuikApp's backing services (`exporters`): Redis, PostgreSQL, Kafka, NGINX."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from .base import HostAndPort, HttpUrl, Model, Secret
from .fields import When
from .secrets import RequiredSecret
from .workloads import Resources


def _enabled(exporter: str, job: str) -> str:
    # Its port is components/services.py's (EXPORTERS), the one table of the stack's ports.
    return f"Run `{exporter}` and scrape it as job `{job}`."


def _resources() -> Resources:
    return Resources(cpu_request="50m", memory_request="32Mi", cpu_limit="250m", memory_limit="128Mi")


_RESOURCES = "The exporter's requests and limits."


class RedisExporterSettings(Model):
    enabled: bool = Field(True, description=_enabled("redis-exporter", "redis"), examples=[False])
    address: HostAndPort = Field("redis:6379", description="The Redis to watch (`REDIS_ADDR=redis://<address>`).",
                                 examples=["redis.quikapp.svc:6379"])
    resources: Resources = Field(_resources(), description=_RESOURCES)


class PostgresExporterSettings(Model):
    enabled: bool = Field(True, description=_enabled("postgres-exporter", "postgres"), examples=[False])
    # postgresql://user:password@host:5432/db?sslmode=... : holds a password, so secret only.
    dsn: Annotated[Secret | None, RequiredSecret(When("enabled"))] = Field(None, description=(
        "`DATA_SOURCE_NAME`, passed only as a secret env var: "
        "`postgresql://monitor:<password>@postgres:5432/postgres?sslmode=require`."))
    resources: Resources = Field(_resources(), description=_RESOURCES)


class KafkaExporterSettings(Model):
    enabled: bool = Field(True, description=_enabled("kafka-exporter", "kafka"), examples=[False])
    brokers: Annotated[list[HostAndPort], Field(min_length=1)] = Field(["kafka:9092"], description=(
        "The brokers: one `--kafka.server` each."), examples=[["kafka-0.kafka.quikapp.svc:9092"]])
    # Holds every topic's partition offsets: grows with the cluster.
    resources: Resources = Field(Resources(cpu_request="50m", memory_request="64Mi", cpu_limit="500m",
                                           memory_limit="256Mi"), description=(
        "The exporter's requests and limits; its memory grows with the cluster's topics and partitions."))


class NginxExporterSettings(Model):
    enabled: bool = Field(True, description=_enabled("nginx-exporter", "nginx"), examples=[False])
    scrape_uri: HttpUrl = Field("http://nginx:8080/stub_status", description=(
        "The NGINX `stub_status` page (`--nginx.scrape-uri`)."), examples=["http://nginx.quikapp.svc:8080/stub_status"])
    resources: Resources = Field(_resources(), description=_RESOURCES)


class ExportersSettings(Model):
    redis: RedisExporterSettings = RedisExporterSettings()
    postgres: PostgresExporterSettings = PostgresExporterSettings()
    kafka: KafkaExporterSettings = KafkaExporterSettings()
    nginx: NginxExporterSettings = NginxExporterSettings()
