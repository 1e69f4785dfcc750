"""Host, container and cluster collectors: node-exporter, cAdvisor and kube-state-metrics.

Each is switchable per stack (`collectors.<name>.enabled`) and runs under the DNS name and port
of its scrape job (components/services.py), so prometheus.yml and the workloads agree. Which
target has which is decided there too (`collectors`): on Kubernetes the container metrics come
from the kubelets' built-in cAdvisor (no workload here, only Prometheus' RBAC, see
components/prometheus.py); on Docker a cAdvisor container reads the Docker host. kube-state-metrics
exists only on Kubernetes. Upstream sources of every fact used here are in docs/UPSTREAM-FACTS.md.
"""

from __future__ import annotations

from collections.abc import Callable

import pulumi

from .services import CADVISOR, KSM_TELEMETRY_PORT, KUBE_STATE_METRICS, NODE_EXPORTER, collector_workloads
from .settings import Settings
from .targets import Target
from .tool import ToolComponent
from .workload import ClusterAccess, ClusterRule, Health, HostMount, Placement, Port, Resources, Workload

# --- node-exporter ----------------------------------------------------------------------------
# The host's /proc, /sys and / read-only under /host, found through the --path.* flags
# (prometheus-community/helm-charts prometheus-node-exporter-4.56.1 templates/daemonset.yaml).
HOST_PROC, HOST_SYS, HOST_ROOT = "/host/proc", "/host/sys", "/host/root"
NODE_EXPORTER_ARGS = (
    f"--path.procfs={HOST_PROC}",
    f"--path.sysfs={HOST_SYS}",
    f"--path.rootfs={HOST_ROOT}",
    f"--path.udev.data={HOST_ROOT}/run/udev/data",
    f"--web.listen-address=:{NODE_EXPORTER.port}",
)


def node_exporter_workload(settings: Settings) -> Workload:
    ne = settings.collectors.node_exporter
    return Workload(
        name=NODE_EXPORTER.name,
        image=settings.images.node_exporter,
        args=NODE_EXPORTER_ARGS,
        ports=(Port("metrics", NODE_EXPORTER.port),),  # not published: only Prometheus scrapes it
        host_mounts=(
            HostMount("/proc", HOST_PROC),
            HostMount("/sys", HOST_SYS),
            # HostToContainer as the chart's hostRootFsMount: filesystems mounted on the node
            # after the pod started are seen (and their usage reported) too.
            HostMount("/", HOST_ROOT, propagation="HostToContainer"),
        ),
        # The chart's probes: GET / on the metrics port. The image is busybox-based (wget).
        health=Health("/", NODE_EXPORTER.port,
                      docker_test=("CMD", "wget", "-q", "--spider", f"http://127.0.0.1:{NODE_EXPORTER.port}/")),
        resources=Resources(**ne.resources.model_dump()),
        user=65534,  # the image's USER nobody (prometheus/node_exporter@v1.12.1 Dockerfile)
        # One per node with the node's network and PID namespaces, as the upstream chart runs it
        # (values.yaml hostNetwork: true, hostPID: true): node_network_* then describe the node's
        # interfaces, not the pod's, and the process collectors see the node's processes. Docker
        # ignores all three (and the mount propagation): one container on the shared network,
        # where Prometheus finds it by name, its network counters its own (as dockprom runs it).
        placement=Placement(per_node=True, host_network=True, host_pid=True),
    )


# --- cAdvisor (Docker) ------------------------------------------------------------------------
CADVISOR_ARGS = (
    # Only Docker containers (plus the machine's root cgroup), not every systemd slice: the
    # containers are what this stack watches, and each cgroup is dozens of series.
    "--docker_only=true",
    # Docker labels (and whitelisted env vars) would each become a Prometheus label: unbounded
    # cardinality. Off, series keep the container's name, first alias and image.
    "--store_container_labels=false",
)


def cadvisor_workload(settings: Settings) -> Workload:
    ca = settings.collectors.cadvisor
    return Workload(
        name=CADVISOR.name,
        image=settings.images.cadvisor,
        args=CADVISOR_ARGS,
        ports=(Port("http", CADVISOR.port),),
        # google/cadvisor@v0.60.6 README.md "Running cAdvisor in a Docker Container", all read-only:
        # / as /rootfs, /var/run (the Docker socket: `:ro` does not restrict the Docker API, as for
        # Promtail), /sys (cgroups), /var/lib/docker (container metadata), /dev/disk (disk names).
        # Without --privileged and /dev/kmsg: only OOM-kill events need those (docs/running.md).
        host_mounts=(
            HostMount("/", "/rootfs"),
            HostMount("/var/run", "/var/run"),
            HostMount("/sys", "/sys"),
            HostMount("/var/lib/docker", "/var/lib/docker"),
            HostMount("/dev/disk", "/dev/disk"),
        ),
        # The image is Alpine-based (busybox wget); /healthz as its own HEALTHCHECK script.
        health=Health("/healthz", CADVISOR.port,
                      docker_test=("CMD", "wget", "-q", "--spider", f"http://127.0.0.1:{CADVISOR.port}/healthz")),
        resources=Resources(**ca.resources.model_dump()),
        # The image sets no USER: root reads the Docker socket and /var/lib/docker.
        user="root",
    )


# --- kube-state-metrics (Kubernetes) ----------------------------------------------------------
# The resources it exports (--resources) and the API group of each: its ClusterRole is list/watch
# on exactly these, rule for rule as kubernetes/kube-state-metrics@v2.20.0
# examples/standard/cluster-role.yaml. Left out of upstream's defaults on purpose: secrets and
# configmaps (listing them reads every secret's and config's content cluster-wide, and no alert or
# dashboard here uses kube_secret_* / kube_configmap_*), and the tokenreviews/subjectaccessreviews
# `create` rules, which only --auth-filter uses (off).
KSM_RESOURCES: dict[str, tuple[str, ...]] = {
    "": ("limitranges", "namespaces", "nodes", "persistentvolumeclaims", "persistentvolumes", "pods",
         "replicationcontrollers", "resourcequotas", "services"),
    "admissionregistration.k8s.io": ("mutatingadmissionpolicies", "mutatingadmissionpolicybindings",
                                     "mutatingwebhookconfigurations", "validatingadmissionpolicies",
                                     "validatingadmissionpolicybindings", "validatingwebhookconfigurations"),
    "apps": ("daemonsets", "deployments", "replicasets", "statefulsets"),
    "autoscaling": ("horizontalpodautoscalers",),
    "batch": ("cronjobs", "jobs"),
    "certificates.k8s.io": ("certificatesigningrequests",),
    "coordination.k8s.io": ("leases",),
    "discovery.k8s.io": ("endpointslices",),
    "networking.k8s.io": ("ingresses", "networkpolicies"),
    "policy": ("poddisruptionbudgets",),
    "storage.k8s.io": ("storageclasses", "volumeattachments"),
}
# kube_<resource>_labels is exported only for the label keys allowed here ("By default the labels
# metrics are not exposed": kubernetes/kube-state-metrics@v2.20.0 docs/developer/cli-arguments.md).
# kubernetes-mixin's storage alerts skip claims labelled excluded-from-alerts=true through
# kube_persistentvolumeclaim_labels{label_excluded_from_alerts="true"} (its pvExcludedSelector).
KSM_LABELS_ALLOWLIST = "persistentvolumeclaims=[excluded-from-alerts]"


def kube_state_metrics_workload(settings: Settings) -> Workload:
    ksm = settings.collectors.kube_state_metrics
    resources = sorted(r for group in KSM_RESOURCES.values() for r in group)
    return Workload(
        name=KUBE_STATE_METRICS.name,
        image=settings.images.kube_state_metrics,
        # The image's entrypoint already sets --port=8080 --telemetry-port=8081.
        args=(f"--resources={','.join(resources)}", f"--metric-labels-allowlist={KSM_LABELS_ALLOWLIST}"),
        ports=(Port("http-metrics", KUBE_STATE_METRICS.port), Port("telemetry", KSM_TELEMETRY_PORT)),
        # As upstream's examples/standard/deployment.yaml: ready on the telemetry port once it has
        # metrics, alive on the metrics port while the API server answers.
        health=Health("/readyz", KSM_TELEMETRY_PORT, live_path="/livez", live_port=KUBE_STATE_METRICS.port),
        resources=Resources(**ksm.resources.model_dump()),
        user=65534,  # the image's USER nobody (distroless)
        cluster_access=ClusterAccess(cluster_rules=tuple(
            ClusterRule(api_groups=(group,), resources=names, verbs=("list", "watch"))
            for group, names in KSM_RESOURCES.items())),
    )


class NodeExporter(ToolComponent):
    TYPE = "quikapp:monitoring:NodeExporter"

    def __init__(self, name: str, settings: Settings, target: Target,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(name, node_exporter_workload(settings), target, opts)


class Cadvisor(ToolComponent):
    TYPE = "quikapp:monitoring:Cadvisor"

    def __init__(self, name: str, settings: Settings, target: Target,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(name, cadvisor_workload(settings), target, opts)


class KubeStateMetrics(ToolComponent):
    TYPE = "quikapp:monitoring:KubeStateMetrics"

    def __init__(self, name: str, settings: Settings, target: Target,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(name, kube_state_metrics_workload(settings), target, opts)


CollectorClass = Callable[[str, Settings, Target, pulumi.ResourceOptions | None], ToolComponent]

COLLECTOR_CLASSES: dict[str, CollectorClass] = {
    NODE_EXPORTER.job: NodeExporter,
    CADVISOR.job: Cadvisor,
    KUBE_STATE_METRICS.job: KubeStateMetrics,
}


def build_collectors(settings: Settings, target: Target,
                     opts: pulumi.ResourceOptions | None = None) -> dict[str, ToolComponent]:
    """The enabled collector workloads of the target, keyed by scrape job."""
    return {c.job: COLLECTOR_CLASSES[c.job](c.name, settings, target, opts) for c in collector_workloads(settings)}
