"""Prometheus: metrics store and alert evaluator, scraping the QuikApp service catalog."""

from __future__ import annotations

import pulumi

from .catalog import Catalog
from .render.prometheus import CONFIG_DIR, render_prometheus_config, rule_files
from .settings import Settings
from .targets import Target
from .tool import ToolComponent
from .workload import DataVolume, File, Health, Port, Resources, Workload

DATA_DIR = "/prometheus"


def prometheus_workload(settings: Settings, catalog: Catalog, target: Target) -> Workload:
    prom = settings.prometheus
    files = [File(f"{CONFIG_DIR}/prometheus.yml", render_prometheus_config(settings, catalog, target.app_host))]
    files += [File(path, text) for path, text in rule_files().items()]
    return Workload(
        name="prometheus",
        image=settings.images.prometheus,
        args=(
            f"--config.file={CONFIG_DIR}/prometheus.yml",
            f"--storage.tsdb.path={DATA_DIR}",
            f"--storage.tsdb.retention.time={prom.retention}",
            # Lets `curl -X POST /-/reload` pick up a config change without losing the WAL replay time.
            "--web.enable-lifecycle",
        ),
        ports=(Port("http", 9090, publish=9090),),
        files=tuple(files),
        volumes=(DataVolume("prometheus_data", DATA_DIR, prom.storage_size),),
        health=Health("/-/ready", 9090, live_path="/-/healthy",
                      docker_test=("CMD", "wget", "-q", "--spider", "http://127.0.0.1:9090/-/ready")),
        resources=Resources(**prom.resources.model_dump()),
        run_as_user=65534,  # `nobody`, the image's user
    )


class Prometheus(ToolComponent):
    TYPE = "quikapp:monitoring:Prometheus"

    def __init__(self, name: str, settings: Settings, catalog: Catalog, target: Target,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(name, prometheus_workload(settings, catalog, target), target, opts)
