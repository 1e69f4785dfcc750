"""Alertmanager: groups, inhibits and routes the alerts Prometheus sends to alertmanager:9093."""

from __future__ import annotations

import pulumi

from .grafana import HTTP_PORT as GRAFANA_PORT
from .grafana import grafana_root_url
from .prometheus import external_url_args
from .render.alertmanager import (
    CONFIG_FILE,
    DATA_DIR,
    HTTP_PORT,
    TEMPLATE_FILE,
    render_alertmanager_config,
    render_alertmanager_template,
)
from .settings import Settings, secret_paths
from .targets import Target
from .tool import ToolComponent
from .workload import DataVolume, File, Health, Port, Resources, Workload


def alertmanager_workload(settings: Settings, target: Target) -> Workload:
    am = settings.alertmanager
    http = Port("http", HTTP_PORT, publish=HTTP_PORT)
    return Workload(
        name="alertmanager",
        image=settings.images.alertmanager,
        args=(
            f"--config.file={CONFIG_FILE}",
            f"--storage.path={DATA_DIR}",
            # One instance: no gossip cluster (it also fails to start on pods without a private
            # IP to advertise).
            "--cluster.listen-address=",
            # Links in notifications (silence, alert list) open the operator's address.
            *external_url_args(target.operator_url(http)),
        ),
        ports=(http,),
        # Receiver URLs and SMTP passwords are inside: a Docker secret upload / Kubernetes Secret.
        # Without credentials it stays plain, so `pulumi preview` shows route changes as diffs.
        files=(File(CONFIG_FILE, render_alertmanager_config(settings), secret=has_credentials(settings)),
               # Notification texts with service, runbook and Grafana links; no credentials inside.
               File(TEMPLATE_FILE, render_alertmanager_template(settings, grafana_url(settings, target)))),
        # Silences and the notification log survive restarts.
        volumes=(DataVolume("alertmanager_data", DATA_DIR, am.storage_size),),
        health=Health("/-/ready", HTTP_PORT, live_path="/-/healthy",
                      docker_test=("CMD", "wget", "-q", "--spider", f"http://127.0.0.1:{HTTP_PORT}/-/ready")),
        resources=Resources(**am.resources.model_dump()),
        run_as_user=65534,  # `nobody`, the image's user
    )


def grafana_url(settings: Settings, target: Target) -> str | None:
    """Where notification links open Grafana: its root URL, else the operator's published address."""
    return grafana_root_url(settings) or target.operator_url(
        Port("http", GRAFANA_PORT, publish=settings.grafana.publish_port))


def has_credentials(settings: Settings) -> bool:
    """Whether any receiver credential (a secret setting under `alertmanager`) is set."""
    return bool(secret_paths(settings.alertmanager))


class Alertmanager(ToolComponent):
    TYPE = "quikapp:monitoring:Alertmanager"

    def __init__(self, name: str, settings: Settings, target: Target,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(name, alertmanager_workload(settings, target), target, opts)
