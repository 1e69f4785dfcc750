"""Jaeger v2: trace collector (OTLP, Zipkin, jaeger.thrift over HTTP), store and UI in one process.

Configured by one YAML file (components/render/jaeger.py); the image's entrypoint is the `jaeger`
binary, which runs its embedded all-in-one memory config unless given `--config`.
"""

from __future__ import annotations

import pulumi

from .render.jaeger import BASE_PATH, CONFIG_FILE, DATA_DIR, ES_PASSWORD_ENV, HEALTH_PATH, render_jaeger_config
from .services import (
    JAEGER,
    JAEGER_HEALTH_PORT,
    JAEGER_OTLP_GRPC_PORT,
    JAEGER_OTLP_HTTP_PORT,
    JAEGER_THRIFT_HTTP_PORT,
    JAEGER_ZIPKIN_PORT,
)
from .settings import Settings
from .targets import Target
from .tool import ToolComponent
from .workload import DataVolume, File, Health, Port, Resources, RootFilesystem, Workload

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
        name=JAEGER.name,
        image=settings.images.jaeger,
        args=(f"--config=file:{CONFIG_FILE}",),
        secret_env=tuple(secret_env),
        ports=(
            Port("query", JAEGER.port, publish=JAEGER.port),
            # The receivers take spans from QuikApp's services.
            Port("collector-http", JAEGER_THRIFT_HTTP_PORT, publish=JAEGER_THRIFT_HTTP_PORT, clients="apps"),
            Port("otlp-grpc", JAEGER_OTLP_GRPC_PORT, publish=JAEGER_OTLP_GRPC_PORT, clients="apps"),
            Port("otlp-http", JAEGER_OTLP_HTTP_PORT, publish=JAEGER_OTLP_HTTP_PORT, clients="apps"),
            Port("zipkin", JAEGER_ZIPKIN_PORT, publish=JAEGER_ZIPKIN_PORT, clients="apps"),
            Port("health", JAEGER_HEALTH_PORT),
            Port("metrics", JAEGER.scrape_port),  # Prometheus scrapes it (job monitoring)
        ),
        files=(File(CONFIG_FILE, render_jaeger_config(settings)),),
        volumes=volumes,
        root_filesystem=RootFilesystem(scratch_dirs=scratch),
        # The image is Alpine-based (jaegertracing/jaeger@v2.20.0 scripts/build/docker/base/Dockerfile):
        # busybox wget is there for Docker's HEALTHCHECK.
        health=Health(HEALTH_PATH, JAEGER_HEALTH_PORT,
                      docker_test=("CMD", "wget", "-q", "--spider",
                                   f"http://127.0.0.1:{JAEGER_HEALTH_PORT}{HEALTH_PATH}")),
        resources=Resources(**jaeger.resources.model_dump()),
        user=JAEGER_UID,
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
