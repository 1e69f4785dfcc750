"""Alertmanager: groups, inhibits and routes the alerts Prometheus sends it."""

from __future__ import annotations

import pulumi

from .grafana import grafana_root_url
from .prometheus import external_url_args
from .render.alertmanager import (
    CONFIG_DIR,
    CONFIG_FILE,
    DATA_DIR,
    TEMPLATE_FILE,
    render_alertmanager_config,
    render_alertmanager_template,
)
from .services import ALERTMANAGER, ALERTMANAGER_CLUSTER_PORT, CONFIG_RELOADER_PORT, GRAFANA
from .settings import Settings, secret_paths
from .targets import Target
from .tool import ToolComponent
from .workload import Cluster, DataVolume, File, Health, Placement, Port, Replication, Resources, Sidecar, Workload

RELOADER_WATCH_INTERVAL = "30s"


def config_reloader(settings: Settings) -> Sidecar:
    """Alertmanager re-reads its config only on SIGHUP or POST /-/reload, it watches no file
    (prometheus/alertmanager@v0.35.0 cmd/alertmanager/main.go, app/lifecycle.go reloadRouter).
    prometheus-config-reloader watches the config directory (fsnotify, plus a full re-read every
    --watch-interval) and POSTs /-/reload when its content changed,
    retrying while Alertmanager answers with an error (prometheus-operator/prometheus-operator@v0.93.1
    cmd/prometheus-config-reloader/main.go flags; the thanos-io/thanos pkg/reloader it runs). The
    flags are the prometheus-community alertmanager chart's (templates/statefulset.yaml)."""
    def args(host: str) -> tuple[str, ...]:
        return (f"--watched-dir={CONFIG_DIR}",
                f"--reload-url=http://{host}:{ALERTMANAGER.port}/-/reload",
                f"--watch-interval={RELOADER_WATCH_INTERVAL}",
                f"--listen-address=:{CONFIG_RELOADER_PORT}")

    return Sidecar(
        name="config-reloader",
        image=settings.images.config_reloader,
        args=args,
        watches=(CONFIG_DIR,),
        # The image is busybox-based (prometheus-operator Dockerfile: quay.io/prometheus/busybox, USER nobody).
        health=Health("/healthz", CONFIG_RELOADER_PORT,
                      docker_test=("CMD", "wget", "-q", "--spider", f"http://127.0.0.1:{CONFIG_RELOADER_PORT}/healthz")),
        resources=Resources(cpu_request="10m", memory_request="16Mi", cpu_limit="100m", memory_limit="64Mi"),
    )


# High availability: a 3-member gossip cluster. Alertmanager deduplicates across members: each
# member waits (its position in the cluster) x --cluster.peer-timeout before notifying and skips
# what the notification log, gossiped between members, says another one sent
# (prometheus/alertmanager@v0.35.0 notify/notify.go ClusterWaitStage, DedupStage; app/cluster.go
# clusterWait). Three members: one may be down (a drain, a rolling update) while the other two still
# form a cluster.
CLUSTER_REPLICAS = 3


def alertmanager_workload(settings: Settings, target: Target) -> Workload:
    am = settings.alertmanager
    http = Port("http", ALERTMANAGER.port, publish=ALERTMANAGER.port)
    return Workload(
        name=ALERTMANAGER.name,
        image=settings.images.alertmanager,
        args=(
            f"--config.file={CONFIG_FILE}",
            f"--storage.path={DATA_DIR}",
            # One instance: no gossip cluster (it also fails to start on pods without a private
            # IP to advertise). With high availability the target adds the cluster flags instead.
            *(() if settings.ha else ("--cluster.listen-address=",)),
            # Links in notifications (silence, alert list) open the operator's address.
            *external_url_args(target.operator_url(http)),
        ),
        ports=(http,),
        # Receiver URLs and SMTP passwords are inside: a Docker secret upload / Kubernetes Secret.
        # Without credentials it stays plain, so `pulumi preview` shows route changes as diffs.
        # Both live: the config-reloader sidecar watches their directory and has Alertmanager reload,
        # which re-reads the templates too.
        files=(File(CONFIG_FILE, render_alertmanager_config(settings), secret=has_credentials(settings), live=True),
               # Notification texts with service, runbook and Grafana links; no credentials inside.
               File(TEMPLATE_FILE, render_alertmanager_template(settings, grafana_url(settings, target)), live=True)),
        sidecars=(config_reloader(settings),),
        # Silences and the notification log survive restarts.
        volumes=(DataVolume("alertmanager_data", DATA_DIR, am.storage_size),),
        health=Health("/-/ready", ALERTMANAGER.port, live_path="/-/healthy",
                      docker_test=("CMD", "wget", "-q", "--spider", f"http://127.0.0.1:{ALERTMANAGER.port}/-/ready")),
        resources=Resources(**am.resources.model_dump()),
        user=65534,  # `nobody`, the image's user
        placement=Placement(replication=Replication(
            CLUSTER_REPLICAS,
            cluster=Cluster(Port("cluster", ALERTMANAGER_CLUSTER_PORT), listen_flag="--cluster.listen-address",
                            advertise_flag="--cluster.advertise-address", peer_flag="--cluster.peer"),
            # Silences and the notification log are gossiped: one member's data reaches the others.
            retired_volumes=(DataVolume("alertmanager_data", DATA_DIR, am.storage_size),),
        ) if settings.ha else None),
    )


def grafana_url(settings: Settings, target: Target) -> str | None:
    """Where notification links open Grafana: its root URL, else the operator's published address."""
    return grafana_root_url(settings) or target.operator_url(
        Port("http", GRAFANA.port, publish=settings.grafana.publish_port))


def has_credentials(settings: Settings) -> bool:
    """Whether any receiver credential (a secret setting under `alertmanager`) is set."""
    return bool(secret_paths(settings.alertmanager))


class Alertmanager(ToolComponent):
    TYPE = "quikapp:monitoring:Alertmanager"

    def __init__(self, name: str, settings: Settings, target: Target,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(name, alertmanager_workload(settings, target), target, opts)
