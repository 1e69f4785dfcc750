"""The `instrumentation` stack output: what a QuikApp service sets to be traced, logged and scraped.

OpenTelemetry's Jaeger exporter (used in the seed's NestJS and Go snippets) is gone from the
SDKs; every runtime sends OTLP to Jaeger instead. Spring Boot keeps the seed's Zipkin endpoint.
"""

from __future__ import annotations

from typing import Any


def instrumentation(*, otlp_grpc: str, otlp_http: str, zipkin: str) -> dict[str, Any]:
    """Per runtime: environment variables to set (OTEL_SERVICE_NAME is the service's catalog name)."""
    otlp_http_env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": otlp_http,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_TRACES_EXPORTER": "otlp",
        # Metrics are scraped by Prometheus and logs collected by Promtail: don't push them too.
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none",
        "OTEL_SERVICE_NAME": "<service name from configs/services.yaml>",
    }
    return {
        "node": {"env": otlp_http_env,
                 "packages": ["@opentelemetry/sdk-node", "@opentelemetry/exporter-trace-otlp-proto"]},
        "python": {"env": otlp_http_env,
                   "packages": ["opentelemetry-distro", "opentelemetry-exporter-otlp-proto-http"]},
        "go": {"env": {**otlp_http_env, "OTEL_EXPORTER_OTLP_ENDPOINT": otlp_grpc,
                       "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
               "packages": ["go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"]},
        "springBoot": {
            "env": {
                "MANAGEMENT_ZIPKIN_TRACING_ENDPOINT": zipkin,
                "MANAGEMENT_TRACING_SAMPLING_PROBABILITY": "1.0",
                "MANAGEMENT_ENDPOINTS_WEB_EXPOSURE_INCLUDE": "health,prometheus",
                # Histogram buckets for P95 latency (management.metrics.distribution.
                # percentiles-histogram.http.server.requests); see configs/prometheus/rules/micrometer.yml.
                "MANAGEMENT_METRICS_DISTRIBUTION_PERCENTILESHISTOGRAM_HTTP_SERVER_REQUESTS": "true",
            },
            "packages": ["io.micrometer:micrometer-tracing-bridge-brave", "io.zipkin.reporter2:zipkin-reporter-brave",
                         "io.micrometer:micrometer-registry-prometheus"],
        },
        "logs": {
            "how": "write JSON lines to stdout/stderr with fields level, msg and service; Promtail ships them "
                   "to Loki with labels container, stream, level, service",
        },
        "metrics": {
            "how": "expose Prometheus metrics on the port and path of the service's job in configs/services.yaml "
                   "(one line per service); series get a `service` label",
        },
    }
