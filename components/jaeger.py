"""Jaeger v2: trace collector (OTLP, Zipkin, jaeger.thrift over HTTP), store and UI in one process.

Configured by one YAML file (components/render/jaeger.py); the image's entrypoint is the `jaeger`
binary, which runs its embedded all-in-one memory config unless given `--config`.
"""

from __future__ import annotations

import pulumi

from .render.jaeger import (
    BASE_PATH,
    CONFIG_FILE,
    DATA_DIR,
    ES_PASSWORD_ENV,
    HEALTH_PATH,
    HEALTH_PORT,
    METRICS_PORT,
    OTLP_GRPC_PORT,
    OTLP_HTTP_PORT,
    QUERY_PORT,
    THRIFT_HTTP_PORT,
    ZIPKIN_PORT,
    render_jaeger_config,
)
from .settings import Settings
from .targets import Target
from .tool import ToolComponent
from .workload import DataVolume, File, Health, Port, Resources, Workload

JAEGER_UID = 10001  # the image's USER (jaegertracing/jaeger@v2.20.0 cmd/jaeger/Dockerfile)


def jaeger_workload(settings: Settings) -> Workload:
    jaeger = settings.jaeger
    secret_env: list[tuple[str, pulumi.Input[str]]] = []
    volumes: tuple[DataVolume, ...] = ()
    scratch: tuple[str, ...] = (DATA_DIR,)  # the image's VOLUME /tmp, kept writable
    if jaeger.storage == "badger":
        volumes = (DataVolume("jaeger_data", DATA_DIR, jaeger.storage_size),)
        scratch = ()
    elif jaeger.storage == "elasticsearch" and jaeger.elasticsearch.password is not None:
        # The config file says ${env:ES_PASSWORD}: the password itself stays a secret env var.
        secret_env.append((ES_PASSWORD_ENV, jaeger.elasticsearch.password.get_secret_value()))
    return Workload(
        name="jaeger",
        image=settings.images.jaeger,
        args=(f"--config=file:{CONFIG_FILE}",),
        secret_env=tuple(secret_env),
        ports=(
            Port("query", QUERY_PORT, publish=QUERY_PORT),
            # The receivers take spans from QuikApp's services.
            Port("collector-http", THRIFT_HTTP_PORT, publish=THRIFT_HTTP_PORT, clients="apps"),  # jaeger.thrift
            Port("otlp-grpc", OTLP_GRPC_PORT, publish=OTLP_GRPC_PORT, clients="apps"),
            Port("otlp-http", OTLP_HTTP_PORT, publish=OTLP_HTTP_PORT, clients="apps"),
            Port("zipkin", ZIPKIN_PORT, publish=ZIPKIN_PORT, clients="apps"),
            Port("health", HEALTH_PORT),
            Port("metrics", METRICS_PORT),  # Prometheus scrapes it (job monitoring)
        ),
        files=(File(CONFIG_FILE, render_jaeger_config(settings)),),
        volumes=volumes,
        scratch_dirs=scratch,
        # The image is Alpine-based (jaegertracing/jaeger@v2.20.0 scripts/build/docker/base/Dockerfile):
        # busybox wget is there for Docker's HEALTHCHECK.
        health=Health(HEALTH_PATH, HEALTH_PORT,
                      docker_test=("CMD", "wget", "-q", "--spider", f"http://127.0.0.1:{HEALTH_PORT}{HEALTH_PATH}")),
        resources=Resources(**jaeger.resources.model_dump()),
        run_as_user=JAEGER_UID,
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
