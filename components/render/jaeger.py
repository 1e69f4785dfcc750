"""Jaeger v2's config.yaml: an OpenTelemetry Collector configuration with Jaeger's extensions.

Jaeger v2 (`jaegertracing/jaeger`) is configured by one YAML file instead of v1's environment
variables (jaegertracing/jaeger@v2.20.0 cmd/jaeger/config*.yaml are the upstream examples). It
holds no secret: the Elasticsearch password is referenced as `${env:ES_PASSWORD}`, which the
collector's config resolver expands from the container's (secret) environment at start.
"""

from __future__ import annotations

import re
from typing import Any

from ..services import (
    JAEGER,
    JAEGER_HEALTH_PORT,
    JAEGER_OTLP_GRPC_PORT,
    JAEGER_OTLP_HTTP_PORT,
    JAEGER_QUERY_GRPC_PORT,
    JAEGER_THRIFT_HTTP_PORT,
    JAEGER_ZIPKIN_PORT,
)
from ..settings import Settings
from .yamltext import dump_yaml

CONFIG_DIR = "/etc/jaeger"
CONFIG_FILE = f"{CONFIG_DIR}/config.yaml"

# The UI and query API live under this path (the seed's jaeger-config.yml `query.base-path`).
BASE_PATH = "/jaeger"
# The healthcheckv2 extension's (on JAEGER_HEALTH_PORT): with use_v2, GET /status answers 200 once
# every component reports OK (open-telemetry/opentelemetry-collector-contrib@v0.155.0
# internal/healthcheck internal/http/responders.go).
HEALTH_PATH = "/status"

# Badger's data volume is mounted over the image's /tmp. The image runs as uid 10001, and /tmp
# (the image's `VOLUME /tmp`, mode 1777) is the only directory that user can write: Docker copies
# the mount point's ownership and mode onto a new named volume, so a fresh `jaeger_data` is
# writable without a root init step (jaegertracing/jaeger#4906; still `VOLUME ["/tmp"]` and
# `USER ${USER_UID}` 10001 at jaegertracing/jaeger@v2.20.0 cmd/jaeger/Dockerfile); on Kubernetes
# fsGroup 10001 makes the PVC writable. The directories are v1's, so an upgrade finds its data.
DATA_DIR = "/tmp"
BADGER_KEYS = f"{DATA_DIR}/badger/keys"
BADGER_VALUES = f"{DATA_DIR}/badger/values"

# The storage backend's name inside the config (extensions.jaeger_storage.backends).
STORE = "main"
ES_PASSWORD_ENV = "ES_PASSWORD"

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


def _listen(port: int) -> dict[str, str]:
    # Collector components default to localhost since collector v0.104 (jaegertracing/jaeger@v2.20.0
    # CHANGELOG, 1.60.0 breaking changes): in a container that is unreachable, so every endpoint
    # names all interfaces.
    return {"endpoint": f"0.0.0.0:{port}"}


def storage_backend(settings: Settings) -> dict[str, Any]:
    """The one trace store, as jaeger_storage's backend config (same settings meaning as v1)."""
    jaeger = settings.jaeger
    if jaeger.storage == "memory":
        return {"memory": {"max_traces": jaeger.max_traces}}
    if jaeger.storage == "badger":
        return {"badger": {
            "directories": {"keys": BADGER_KEYS, "values": BADGER_VALUES},
            "ephemeral": False,
            "ttl": {"spans": go_duration(jaeger.badger_ttl)},
        }}
    es = jaeger.elasticsearch
    # v1's ES_INDEX_PREFIX=jaeger and v2's indices.index_prefix both name "jaeger-jaeger-span-*"
    # (jaegertracing/jaeger@v2.20.0 internal/storage/elasticsearch/config/config.go IndexPrefix.Apply).
    elasticsearch: dict[str, Any] = {"server_urls": list(es.server_urls), "indices": {"index_prefix": es.index_prefix}}
    if es.username or es.password is not None:
        basic: dict[str, str] = {}
        if es.username:
            basic["username"] = es.username
        if es.password is not None:
            basic["password"] = f"${{env:{ES_PASSWORD_ENV}}}"
        elasticsearch["auth"] = {"basic": basic}
    return {"elasticsearch": elasticsearch}


def jaeger_config(settings: Settings) -> dict[str, Any]:
    """The config as data: receivers → batch → the storage exporter, query and health extensions."""
    return {
        "service": {
            "extensions": ["jaeger_storage", "jaeger_query", "healthcheckv2"],
            "pipelines": {
                "traces": {
                    "receivers": ["otlp", "jaeger", "zipkin"],
                    "processors": ["batch"],
                    "exporters": ["jaeger_storage_exporter"],
                },
            },
            "telemetry": {
                "resource": {"service.name": "jaeger"},
                # Suffixes spelled out: the collector core of 2.20.0 (go.opentelemetry.io/collector/
                # service@v0.155.0 telemetry/otelconftelemetry/internal/migration/v0.3.0.go,
                # applyPrometheusDefaults) drops `_total` and unit suffixes by default, 2.13.0 keeps
                # them; fixed here, the names (otelcol_receiver_accepted_spans_total…) are the same
                # on every version the dashboards and the tests meet.
                "metrics": {"readers": [{"pull": {"exporter": {"prometheus": {
                    "host": "0.0.0.0", "port": JAEGER.scrape_port,
                    "without_type_suffix": False, "without_units": False}}}}]},
                "logs": {"level": "info"},
            },
        },
        "extensions": {
            "healthcheckv2": {"use_v2": True, "http": _listen(JAEGER_HEALTH_PORT)},
            "jaeger_query": {
                "base_path": BASE_PATH,
                "storage": {"traces": STORE},
                "http": _listen(JAEGER.port),
                "grpc": _listen(JAEGER_QUERY_GRPC_PORT),
                # v2 turns query self-tracing on by default (jaegertracing/jaeger@v2.20.0
                # cmd/jaeger/internal/extension/jaegerquery/factory.go); releases before the move to
                # the collector's TracerProvider (v2.13.0 cmd/query/app, internal/jtracer) send those
                # spans to OTLP localhost:4317, i.e. into Jaeger's own store, and stall shutdown on
                # them. v1 did not trace itself: keep it that way.
                "enable_tracing": False,
            },
            "jaeger_storage": {"backends": {STORE: storage_backend(settings)}},
        },
        "receivers": {
            "otlp": {"protocols": {"grpc": _listen(JAEGER_OTLP_GRPC_PORT), "http": _listen(JAEGER_OTLP_HTTP_PORT)}},
            # Only thrift_http: the agent's UDP ports and gRPC 14250 were never exposed by this stack.
            "jaeger": {"protocols": {"thrift_http": _listen(JAEGER_THRIFT_HTTP_PORT)}},
            # The seed's Spring Boot services send Zipkin v2 JSON to jaeger:9411/api/v2/spans.
            "zipkin": _listen(JAEGER_ZIPKIN_PORT),
        },
        "processors": {"batch": {}},
        "exporters": {"jaeger_storage_exporter": {"trace_storage": STORE}},
    }


def render_jaeger_config(settings: Settings) -> str:
    """The text of /etc/jaeger/config.yaml."""
    return dump_yaml(jaeger_config(settings))
