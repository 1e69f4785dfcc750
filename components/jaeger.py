"""Jaeger all-in-one: trace collector (OTLP, Zipkin, jaeger.thrift over HTTP), store and UI."""

from __future__ import annotations

import re

import pulumi

from .settings import Settings
from .targets import Target
from .tool import ToolComponent
from .workload import DataVolume, Health, Port, Resources, Workload

# The UI and query API live under this path (the seed's jaeger-config.yml `query.base-path`).
BASE_PATH = "/jaeger"
ADMIN_PORT = 14269  # health (`/`) and Jaeger's own metrics

# Badger's data volume is mounted over the image's /tmp. Since 1.50 the image runs as uid 10001,
# and /tmp (the image's `VOLUME /tmp`, mode 1777) is the only directory that user can write:
# Docker copies the mount point's ownership and mode onto a new named volume, so a fresh
# `jaeger_data` is writable without a root init step (jaegertracing/jaeger#4906); on Kubernetes
# fsGroup 10001 makes the PVC writable. The same path on both targets keeps the env identical.
DATA_DIR = "/tmp"
BADGER_KEYS = f"{DATA_DIR}/badger/keys"
BADGER_VALUES = f"{DATA_DIR}/badger/values"

_UNITS_MS = {"y": 365 * 86_400_000, "w": 7 * 86_400_000, "d": 86_400_000, "h": 3_600_000, "m": 60_000,
             "s": 1000, "ms": 1}


def go_duration(duration: str) -> str:
    """A Prometheus-style duration (`3d`, `1w2d`, `72h`) as Go's time.Duration text (`72h`).

    Jaeger parses its durations with Go's time.ParseDuration, which knows no days or weeks.
    """
    total = sum(int(n) * _UNITS_MS[unit] for n, unit in re.findall(r"(\d+)(ms|[ywdhms])", duration))
    hours, rest = divmod(total, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    text = "".join(f"{value}{unit}" for value, unit in
                   ((hours, "h"), (minutes, "m"), (seconds, "s"), (millis, "ms")) if value)
    return text or "0s"


def jaeger_workload(settings: Settings) -> Workload:
    jaeger = settings.jaeger
    env: list[tuple[str, str]] = [
        ("COLLECTOR_OTLP_ENABLED", "true"),
        ("COLLECTOR_OTLP_GRPC_HOST_PORT", ":4317"),
        ("COLLECTOR_OTLP_HTTP_HOST_PORT", ":4318"),
        # Off unless given a port: the seed's Spring Boot services send to jaeger:9411.
        ("COLLECTOR_ZIPKIN_HOST_PORT", ":9411"),
        ("QUERY_BASE_PATH", BASE_PATH),
        ("SPAN_STORAGE_TYPE", jaeger.storage),
    ]
    secret_env: list[tuple[str, pulumi.Input[str]]] = []
    volumes: tuple[DataVolume, ...] = ()
    scratch: tuple[str, ...] = (DATA_DIR,)  # the image's VOLUME /tmp, kept writable
    if jaeger.storage == "memory":
        env.append(("MEMORY_MAX_TRACES", str(jaeger.max_traces)))
    elif jaeger.storage == "badger":
        env += [
            ("BADGER_EPHEMERAL", "false"),
            ("BADGER_DIRECTORY_KEY", BADGER_KEYS),
            ("BADGER_DIRECTORY_VALUE", BADGER_VALUES),
            ("BADGER_SPAN_STORE_TTL", go_duration(jaeger.badger_ttl)),
        ]
        volumes = (DataVolume("jaeger_data", DATA_DIR, jaeger.storage_size),)
        scratch = ()
    else:
        es = jaeger.elasticsearch
        env += [("ES_SERVER_URLS", ",".join(es.server_urls)), ("ES_INDEX_PREFIX", es.index_prefix)]
        if es.username:
            env.append(("ES_USERNAME", es.username))
        if es.password is not None:
            secret_env.append(("ES_PASSWORD", es.password.get_secret_value()))
    return Workload(
        name="jaeger",
        image=settings.images.jaeger,
        # No args: the image's CMD (its default sampling strategies file) stays in effect.
        env=tuple(env),
        secret_env=tuple(secret_env),
        ports=(
            Port("query", 16686, publish=16686),
            # The collectors receive spans from QuikApp's services.
            Port("collector-http", 14268, publish=14268, clients="apps"),  # jaeger.thrift over HTTP (/api/traces)
            Port("otlp-grpc", 4317, publish=4317, clients="apps"),
            Port("otlp-http", 4318, publish=4318, clients="apps"),
            Port("zipkin", 9411, publish=9411, clients="apps"),
            Port("admin", ADMIN_PORT),
        ),
        volumes=volumes,
        scratch_dirs=scratch,
        # The image is Alpine-based: busybox wget is there for Docker's HEALTHCHECK.
        health=Health("/", ADMIN_PORT,
                      docker_test=("CMD", "wget", "-q", "--spider", f"http://127.0.0.1:{ADMIN_PORT}/")),
        resources=Resources(**jaeger.resources.model_dump()),
        run_as_user=10001,  # the image's user since 1.50
    )


class Jaeger(ToolComponent):
    TYPE = "quikapp:monitoring:Jaeger"

    def __init__(self, name: str, settings: Settings, target: Target,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(name, jaeger_workload(settings), target, opts)

    def stack_outputs(self) -> dict[str, pulumi.Input[str] | None]:
        """Where operators open the UI and where services send their spans (in-network)."""
        return {
            "jaegerUiUrl": self.url("query", BASE_PATH, public=True),
            "jaegerInternalUiUrl": self.url("query", BASE_PATH),
            "otlpGrpcEndpoint": self.url("otlp-grpc"),
            # OTLP/HTTP base: SDKs append /v1/traces to OTEL_EXPORTER_OTLP_ENDPOINT themselves.
            "otlpHttpEndpoint": self.url("otlp-http"),
            "zipkinEndpoint": self.url("zipkin", "/api/v2/spans"),
            "jaegerThriftHttpEndpoint": self.url("collector-http", "/api/traces"),
        }
