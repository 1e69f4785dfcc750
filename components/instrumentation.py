"""The `instrumentation` stack output: how a QuikApp service of each runtime is traced, logged and scraped.

One entry per runtime of the service catalog (`job`: its job in configs/services.yaml): the packages
to add (pinned: the versions tests/live/test_live_instrumentation.py runs), how to install and start
the service so it is traced, the environment to set, and how it serves the metrics the stack reads.
Every runtime sends its spans to Jaeger over OTLP; OpenTelemetry's Jaeger exporter (used in the seed's
NestJS and Go snippets) is gone from the SDKs. `springBoot` keeps the seed's Zipkin endpoint.

The names each SDK reads, at the pinned versions, are cited in docs/UPSTREAM-FACTS.md
(§ Service instrumentation); docs/SERVICE-TEAMS.md shows the set-up per runtime.
"""

from __future__ import annotations

from typing import Any

# What a service sets OTEL_SERVICE_NAME to: its name in configs/services.yaml, which is also its
# `service` label on every scraped series, so a trace and the service's metrics share one name.
SERVICE_NAME = "<service name from configs/services.yaml>"
# Read by every SDK below into the resource; shown as a process tag in Jaeger.
RESOURCE_ATTRIBUTES = "service.namespace=quikapp"

# Pinned packages per runtime; the live test's apps (tests/live/instrumented/*) pin the same.
PYTHON_PACKAGES = ("opentelemetry-distro==0.66b1", "opentelemetry-exporter-otlp-proto-http==1.45.1",
                   "prometheus-client==0.26.0")
NODE_PACKAGES = ("@opentelemetry/auto-instrumentations-node@0.82.0", "prom-client@15.1.3")
JAVA_AGENT = "io.opentelemetry.javaagent:opentelemetry-javaagent:2.28.1"
JAVA_PACKAGES = (JAVA_AGENT, "org.springframework.boot:spring-boot-starter-actuator",
                 "io.micrometer:micrometer-registry-prometheus")
GO_PACKAGES = ("go.opentelemetry.io/otel/sdk@v1.47.0",
               "go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc@v1.47.0",
               "go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp@v0.72.0",
               "github.com/prometheus/client_golang@v1.25.0")
ELIXIR_PACKAGES = ("opentelemetry_exporter 1.10.0", "opentelemetry 1.7.0", "opentelemetry_api 1.5.0",
                   "telemetry_metrics_prometheus_core 1.2.1")

# The names the stack's alerts and dashboards read (configs/prometheus/rules/alerts.yml,
# configs/grafana/dashboards/services-overview.json); Prometheus adds `service` and `job`.
METRIC_NAMES = {
    "http_requests_total": "counter of requests served, label `status` (the HTTP status code, e.g. 200, 503)",
    "http_request_duration_seconds": "histogram of request durations in seconds (_bucket, _sum, _count)",
}


def _otlp_env(endpoint: str, protocol: str) -> dict[str, str]:
    return {
        "OTEL_SERVICE_NAME": SERVICE_NAME,
        "OTEL_RESOURCE_ATTRIBUTES": RESOURCE_ATTRIBUTES,
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
        "OTEL_TRACES_EXPORTER": "otlp",
        # Metrics are scraped by Prometheus and logs collected by Promtail: don't push them too.
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none",
    }


def instrumentation(*, otlp_grpc: str, otlp_http: str, zipkin: str) -> dict[str, Any]:
    """Per runtime: packages, install and start-up, environment, metrics. Same shape on every target."""
    otlp_http_env = _otlp_env(otlp_http, "http/protobuf")
    return {
        "python": {
            "job": "python-services",
            "packages": list(PYTHON_PACKAGES),
            # bootstrap adds the instrumentation of every library it finds installed (Flask, ...).
            "install": [f"pip install {' '.join(PYTHON_PACKAGES)}", "opentelemetry-bootstrap -a install"],
            "start": ["opentelemetry-instrument"],  # then the service's own command: ... python app.py
            "env": otlp_http_env,
            "metrics": "prometheus-client: Counter('http_requests', ..., ['method', 'route', 'status']) "
                       "(served as http_requests_total) and Histogram('http_request_duration_seconds', ...)",
        },
        "node": {
            "job": "nestjs-services",
            "packages": list(NODE_PACKAGES),
            "install": [f"npm install --save-exact {' '.join(NODE_PACKAGES)}"],
            "runtime": "Node.js 22.15 or later (the engines of @opentelemetry/auto-instrumentations-node 0.82.0)",
            "start": ["node", "--require", "@opentelemetry/auto-instrumentations-node/register"],
            "env": {
                **otlp_http_env,
                # Without it every detector runs, the cloud ones too, which query instance-metadata
                # endpoints at start-up. These read only the process and the host.
                "OTEL_NODE_RESOURCE_DETECTORS": "env,host,os,process,serviceinstance,container",
            },
            "metrics": "prom-client: Counter http_requests_total (labels method, route, status) and "
                       "Histogram http_request_duration_seconds",
        },
        "java": {
            "job": "spring-services",
            "packages": list(JAVA_PACKAGES),
            "install": [f"download {JAVA_AGENT} (Maven Central) as opentelemetry-javaagent.jar; add "
                        "spring-boot-starter-actuator and micrometer-registry-prometheus (versions from the "
                        "Spring Boot BOM)"],
            "start": ["java", "-javaagent:opentelemetry-javaagent.jar"],  # then -jar app.jar
            "env": {
                **otlp_http_env,
                # Metrics: Micrometer at /actuator/prometheus; configs/prometheus/rules/micrometer.yml
                # copies http_server_requests_seconds_* under the names the alerts and dashboards read.
                "MANAGEMENT_ENDPOINTS_WEB_EXPOSURE_INCLUDE": "health,prometheus",
                # Histogram buckets for P95 latency (management.metrics.distribution.
                # percentiles-histogram.http.server.requests).
                "MANAGEMENT_METRICS_DISTRIBUTION_PERCENTILESHISTOGRAM_HTTP_SERVER_REQUESTS": "true",
            },
            "metrics": "Micrometer through Spring Boot Actuator: http_server_requests_seconds_count/_bucket "
                       "(label status), recorded by the stack as http_requests_total and "
                       "http_request_duration_seconds_bucket",
        },
        "go": {
            "job": "go-services",
            "packages": list(GO_PACKAGES),
            "install": [f"go get {' '.join(GO_PACKAGES)}"],
            "start": [],  # the SDK is set up in code: docs/SERVICE-TEAMS.md § Go
            # Only what the set-up reads: otlptracegrpc takes the endpoint (http:// = no TLS) and
            # resource.Default() the service name and attributes; the other OTEL_* need autoexport.
            "env": {
                "OTEL_SERVICE_NAME": SERVICE_NAME,
                "OTEL_RESOURCE_ATTRIBUTES": RESOURCE_ATTRIBUTES,
                "OTEL_EXPORTER_OTLP_ENDPOINT": otlp_grpc,
            },
            "metrics": "client_golang: CounterVec http_requests_total (labels method, route, status) and "
                       "HistogramVec http_request_duration_seconds",
        },
        "elixir": {
            "job": "elixir-services",
            "packages": list(ELIXIR_PACKAGES),
            # The SDK must start after its exporter: list :opentelemetry_exporter before :opentelemetry.
            "install": ["mix.exs deps: {:opentelemetry_exporter, \"1.10.0\"}, {:opentelemetry, \"1.7.0\"}, "
                        "{:opentelemetry_api, \"1.5.0\"}, {:telemetry_metrics_prometheus_core, \"1.2.1\"}; "
                        "releases: applications: [opentelemetry_exporter: :permanent, opentelemetry: :temporary]"],
            "start": [],  # the SDK starts as an OTP application of the release
            # The Erlang SDK reads no OTEL_LOGS_EXPORTER (it has no logs exporter to turn off).
            "env": {k: v for k, v in otlp_http_env.items() if k != "OTEL_LOGS_EXPORTER"},
            "metrics": "telemetry_metrics_prometheus_core: counter(\"http.requests.total\", tags: [:status]) and "
                       "distribution(\"http.request.duration.seconds\", ...) are served as http_requests_total "
                       "and http_request_duration_seconds",
        },
        "springBoot": {
            "job": "spring-services",
            # The seed's way without an agent: Micrometer Tracing's Brave bridge to the Zipkin endpoint.
            "packages": ["io.micrometer:micrometer-tracing-bridge-brave", "io.zipkin.reporter2:zipkin-reporter-brave",
                         "io.micrometer:micrometer-registry-prometheus"],
            "start": [],
            "env": {
                "MANAGEMENT_ZIPKIN_TRACING_ENDPOINT": zipkin,
                "MANAGEMENT_TRACING_SAMPLING_PROBABILITY": "1.0",
                "MANAGEMENT_ENDPOINTS_WEB_EXPOSURE_INCLUDE": "health,prometheus",
                # Histogram buckets for P95 latency (management.metrics.distribution.
                # percentiles-histogram.http.server.requests); see configs/prometheus/rules/micrometer.yml.
                "MANAGEMENT_METRICS_DISTRIBUTION_PERCENTILESHISTOGRAM_HTTP_SERVER_REQUESTS": "true",
            },
        },
        "logs": {
            "how": "write JSON lines to stdout/stderr with fields level, msg and service; Promtail ships them "
                   "to Loki with labels container, stream, level, service",
        },
        "metrics": {
            "how": "expose Prometheus metrics on the port and path of the service's job in configs/services.yaml "
                   "(one line per service); series get a `service` label",
            "names": dict(METRIC_NAMES),
        },
    }
