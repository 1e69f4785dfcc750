"""Promtail: ships container logs to Loki. One container on Docker, a DaemonSet on Kubernetes."""

from __future__ import annotations

from dataclasses import replace

import pulumi

from .render.promtail import CONFIG_FILE, POSITIONS_DIR, render_promtail_config
from .services import PROMTAIL
from .settings import Settings, TargetKind
from .settings.model import unknown_target
from .targets import Target
from .tool import ToolComponent
from .workload import (
    ClusterAccess,
    ClusterRule,
    DataVolume,
    File,
    Health,
    HostMount,
    Placement,
    Port,
    Resources,
    RootFilesystem,
    Workload,
)

DOCKER_SOCKET = "/var/run/docker.sock"
POD_LOGS = "/var/log/pods"
# Per node on Kubernetes: a PVC cannot follow a DaemonSet's pods, and positions describe the
# node's own files anyway.
POSITIONS_HOST_DIR = "/var/lib/promtail-positions"

# kubernetes_sd_configs (role: pod) runs an informer: list + watch on pods, nothing else (no
# `get`, no nodes: node metadata is not attached).
POD_DISCOVERY = ClusterRule(api_groups=("",), resources=("pods",), verbs=("list", "watch"))

# The promtail image has neither wget nor curl; bash's /dev/tcp asks /ready for its status line.
_DOCKER_READY = (
    f"exec 3<>/dev/tcp/127.0.0.1/{PROMTAIL.port} && printf 'GET /ready HTTP/1.0\\r\\n\\r\\n' >&3 "
    "&& head -n1 <&3 | grep -q ' 200 '"
)


def promtail_workload(settings: Settings, target: Target) -> Workload:
    kind = target.kind
    match kind:  # where the logs are, as the target's scrape job (render/promtail.py) reads them
        case TargetKind.DOCKER:
            with_logs = _docker_logs
        case TargetKind.KUBERNETES:
            with_logs = _kubernetes_logs
        case _:
            unknown_target(kind)
    return with_logs(Workload(
        name=PROMTAIL.name,
        image=settings.images.promtail,
        args=(f"-config.file={CONFIG_FILE}",),
        # In-network only: Prometheus may scrape /metrics; nothing for operators to publish.
        ports=(Port("http", PROMTAIL.port),),
        files=(File(CONFIG_FILE, render_promtail_config(kind)),),
        resources=Resources(**settings.promtail.resources.model_dump()),
    ))


def _docker_logs(base: Workload) -> Workload:
    """Logs through the Docker API; positions in a named volume."""
    return replace(
        base,
        volumes=(DataVolume("promtail_positions", POSITIONS_DIR, "1Gi"),),
        # Only the socket for docker_sd_configs (`:ro` does not restrict the Docker API: the
        # socket is root-equivalent, as in the seed). docker_sd reads logs through the API
        # (ContainerLogs in grafana/loki@v3.6.11 clients/pkg/promtail/targets/docker/target.go),
        # never from /var/lib/docker/containers, so that is not mounted.
        host_mounts=(HostMount(DOCKER_SOCKET, DOCKER_SOCKET, read_only=True, host_path_type="Socket"),),
        health=Health("/ready", PROMTAIL.port, docker_test=("CMD", "bash", "-c", _DOCKER_READY)),
        user="root",
    )


def _kubernetes_logs(base: Workload) -> Workload:
    """Logs from the node's pod log files, one Promtail per node; positions on the node."""
    return replace(
        base,
        host_mounts=(
            HostMount(POD_LOGS, POD_LOGS, read_only=True),
            HostMount(POSITIONS_HOST_DIR, POSITIONS_DIR, read_only=False, host_path_type="DirectoryOrCreate"),
        ),
        # Readiness only, as grafana/helm-charts charts/promtail/values.yaml (promtail-6.17.1)
        # does: /ready stays false until targets are synced, which is no reason to restart.
        health=Health("/ready", PROMTAIL.port, liveness=False),
        # Root only to read the root-owned 0640 log files under /var/log/pods as their owner: no
        # capability is needed for that, so the target's drop-ALL, no privilege escalation and
        # read-only root filesystem stay.
        user="root",
        root_filesystem=RootFilesystem(scratch_dirs=("/tmp",)),
        placement=Placement(per_node=True),
        cluster_access=ClusterAccess(
            cluster_rules=(POD_DISCOVERY,),
            # Promtail compares each target's __host__ with HOSTNAME: the node's name, not the pod's.
            field_env=(("HOSTNAME", "spec.nodeName"),),
        ),
    )


class Promtail(ToolComponent):
    TYPE = "quikapp:monitoring:Promtail"

    def __init__(self, name: str, settings: Settings, target: Target,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(name, promtail_workload(settings, target), target, opts)
