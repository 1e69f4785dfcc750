"""Prometheus: metrics store and alert evaluator, scraping the QuikApp service catalog."""

from __future__ import annotations

import pulumi

from .catalog import Catalog
from .render.prometheus import CONFIG_DIR, render_prometheus_config, rule_files, scrape_jobs
from .settings import Settings
from .targets import Target
from .tool import ToolComponent
from .workload import DataVolume, File, Health, Port, Resources, Workload

DATA_DIR = "/prometheus"


def prometheus_workload(settings: Settings, catalog: Catalog, target: Target) -> Workload:
    prom = settings.prometheus
    config = render_prometheus_config(settings, catalog, target.app_host)
    files = [File(f"{CONFIG_DIR}/prometheus.yml", config)]
    files += [File(path, text) for path, text in rule_files(target.kind, scrape_jobs(config)).items()]
    http = Port("http", 9090, publish=9090)
    return Workload(
        name="prometheus",
        image=settings.images.prometheus,
        args=(
            f"--config.file={CONFIG_DIR}/prometheus.yml",
            f"--storage.tsdb.path={DATA_DIR}",
            f"--storage.tsdb.retention.time={prom.retention}",
            # Lets `curl -X POST /-/reload` pick up a config change without losing the WAL replay time.
            "--web.enable-lifecycle",
            *external_url_args(target.operator_url(http)),
            # Keeps exemplars (trace ids next to samples) so Grafana's exemplar -> trace links
            # have something to open; without it Prometheus drops them at scrape time.
            "--enable-feature=exemplar-storage",
        ),
        ports=(http,),
        files=tuple(files),
        volumes=(DataVolume("prometheus_data", DATA_DIR, prom.storage_size),),
        health=Health("/-/ready", 9090, live_path="/-/healthy",
                      docker_test=("CMD", "wget", "-q", "--spider", "http://127.0.0.1:9090/-/ready")),
        resources=Resources(**prom.resources.model_dump()),
        run_as_user=65534,  # `nobody`, the image's user
    )


def external_url_args(url: str | None) -> tuple[str, ...]:
    """`--web.external-url` so links in alerts and the UI open for an operator.

    The route prefix stays `/`: an external URL with a path (a proxy in front) would otherwise
    move every endpoint, health checks and in-network clients included, under that path.
    Alertmanager takes the same two flags.
    """
    return () if url is None else (f"--web.external-url={url}", "--web.route-prefix=/")


class Prometheus(ToolComponent):
    TYPE = "quikapp:monitoring:Prometheus"

    def __init__(self, name: str, settings: Settings, catalog: Catalog, target: Target,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(name, prometheus_workload(settings, catalog, target), target, opts)
