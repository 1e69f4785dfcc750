"""Loki: the log store Promtail pushes to and Grafana queries (single binary; filesystem or S3 storage)."""

from __future__ import annotations

import pulumi

from .render.loki import (
    CONFIG_FILE,
    DATA_DIR,
    PUSH_PATH,
    RUNTIME_CONFIG_FILE,
    SECRET_KEY_ENV,
    expands_env,
    render_loki_config,
    render_loki_runtime_config,
)
from .services import LOKI
from .settings import Settings
from .targets import Target
from .tool import ToolComponent
from .workload import DataVolume, File, Health, Port, Resources, RootFilesystem, Workload

LOKI_UID = 10001  # the image's `loki` user, owner of /loki in the image


def loki_workload(settings: Settings, target: Target) -> Workload:
    loki = settings.loki
    return Workload(
        name=LOKI.name,
        image=settings.images.loki,
        # -config.expand-env only with an S3 secret key: the file then holds ${LOKI_S3_SECRET_ACCESS_KEY}
        # and the key arrives as a secret env var; otherwise the args stay as before.
        args=(f"-config.file={CONFIG_FILE}", *(("-config.expand-env=true",) if expands_env(settings) else ())),
        secret_env=secret_env(settings),
        # No authentication (auth_enabled: false): published on docker.publishAddress only,
        # loopback unless the stack says otherwise; a ClusterIP Service on Kubernetes.
        # Services may push to lokiPushUrl themselves, besides Promtail.
        ports=(Port("http", LOKI.port, publish=LOKI.port, clients="apps"),),
        # The main config is read at start; the runtime config (the stack's limits) is re-read.
        files=(File(CONFIG_FILE, render_loki_config(settings)),
               File(RUNTIME_CONFIG_FILE, render_loki_runtime_config(settings), live=True)),
        # Chunks, TSDB index, WAL and compactor state (retention marks) all live here.
        volumes=(DataVolume("loki_data", DATA_DIR, loki.storage_size),),
        # Readiness only: /ready is 503 while Loki replays its WAL, which can take minutes, and a
        # liveness probe on it restarts Loki in a loop. grafana/loki@v3.7.6
        # production/helm/loki/values.yaml sets `livenessProbe: {}` for the same reason.
        # The image is distroless since 3.5.8 (no shell, no wget); the binary itself asks
        # /ready with `-health` (grafana/loki@v3.7.6 cmd/loki/health.go, docs/.../upgrade 3.5.8).
        health=Health("/ready", LOKI.port, liveness=False,
                      docker_test=("CMD", "/usr/bin/loki", "-health", f"-health.url=http://127.0.0.1:{LOKI.port}/ready")),
        resources=Resources(**loki.resources.model_dump()),
        user=LOKI_UID,
        root_filesystem=RootFilesystem(scratch_dirs=("/tmp",)),
        # Distroless image (no shell): the busybox-based reloader image copies its live files on Docker.
        config_copier_image=settings.images.config_reloader,
    )


def secret_env(settings: Settings) -> tuple[tuple[str, pulumi.Input[str]], ...]:
    s3 = settings.loki.s3
    if s3 is None or s3.secret_access_key is None:
        return ()
    return ((SECRET_KEY_ENV, s3.secret_access_key.get_secret_value()),)


class Loki(ToolComponent):
    TYPE = "quikapp:monitoring:Loki"

    def __init__(self, name: str, settings: Settings, target: Target,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(name, loki_workload(settings, target), target, opts)

    @property
    def push_url(self) -> str | None:
        """Where log shippers push: in-network on Docker, the Service FQDN on Kubernetes."""
        return self.url("http", PUSH_PATH)
