"""Target-neutral description of one workload: what a tool needs, not how it is run.

Components build a `Workload`; a target (Docker or Kubernetes) realises it. Its own fields are what
both targets realise, but for `config_copier_image` (Docker's); what only Kubernetes has the concept
of comes in groups whose docstrings say so (`RootFilesystem`, `Placement`, `ClusterAccess`, `Ingress`),
and the Docker target never reads them (tests/test_workload.py). Everything a target needs is here.
The few decisions outside `components/targets/` that depend on the target kind are each one
exhaustive `match` over TargetKind, which mypy checks (docs/ARCHITECTURE.md, "Add a target").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import pulumi


@dataclass(frozen=True)
class Port:
    name: str  # IANA-style name, also the Kubernetes Service port name (<=15 chars)
    container_port: int
    protocol: Literal["TCP", "UDP"] = "TCP"
    # Host port on Docker (bound to docker.publishAddress); None keeps it inside the network.
    publish: int | None = None
    # Who may connect (Kubernetes NetworkPolicy): "stack" = pods of the monitoring namespace,
    # "apps" = those and QuikApp's namespace (senders of traces and logs), "any" = no restriction
    # (Grafana, which has a login and may sit behind an ingress controller).
    clients: Literal["stack", "apps", "any"] = "stack"


@dataclass(frozen=True)
class File:
    """A config file at an absolute in-container path. Secret content stays a Pulumi secret."""

    path: str
    content: pulumi.Input[str]
    secret: bool = False
    # The running tool picks up a change of this file by itself (its own file watching, or a
    # reloader sidecar): the target delivers it into a directory that is updated in place
    # (Kubernetes: a ConfigMap/Secret mounted as a directory; Docker: a config volume refreshed by a
    # one-shot copier), and a change restarts nothing. False: the file is read at start only, and a
    # change restarts the tool (Kubernetes: a content hash on the pod template; Docker: an upload,
    # which replaces the container). docs/OPERATIONS.md lists which file is which, with sources.
    live: bool = False


@dataclass(frozen=True)
class DataVolume:
    """Persistent state: a named Docker volume or a Kubernetes PVC. Protected when protectData."""

    name: str  # Docker volume name, e.g. prometheus_data (the seed's names)
    mount_path: str
    size: str  # Kubernetes storage request

    @property
    def k8s_name(self) -> str:
        return self.name.replace("_", "-")


@dataclass(frozen=True)
class HostMount:
    """A host directory or socket (Promtail reading logs). Read-only unless stated."""

    host_path: str
    mount_path: str
    read_only: bool = True
    host_path_type: str = "Directory"  # Kubernetes hostPath type
    # Kubernetes mountPropagation (e.g. HostToContainer: mounts the host adds later show up, as
    # node-exporter's rootfs needs); None keeps the default (no propagation). Docker ignores it.
    propagation: str | None = None


@dataclass(frozen=True)
class Health:
    """How to tell the workload is ready and alive."""

    http_path: str  # readiness
    port: int
    live_path: str | None = None  # liveness, when it differs from readiness
    live_port: int | None = None  # liveness port, when it differs from readiness (kube-state-metrics)
    # False: no liveness probe at all. For tools whose only health endpoint is readiness and
    # whose readiness is legitimately false for minutes (Loki replaying its WAL), a liveness
    # probe on it kills them in a loop; their upstream charts set none.
    liveness: bool = True
    # Command for Docker's HEALTHCHECK, run inside the container; None where the image has no
    # shell or HTTP client (Docker then relies on the restart policy only).
    docker_test: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Resources:
    cpu_request: str
    memory_request: str
    cpu_limit: str
    memory_limit: str


@dataclass(frozen=True)
class ClusterRule:
    """A Kubernetes RBAC rule (cluster-wide, read-only use only)."""

    api_groups: tuple[str, ...]
    resources: tuple[str, ...]
    verbs: tuple[str, ...]


@dataclass(frozen=True)
class NamespacedRule:
    """A Kubernetes RBAC rule granted in one namespace only (a Role and RoleBinding there).

    For what a workload reads in a namespace other than the cluster as a whole: Prometheus'
    discovery of the pods behind QuikApp's Services. Docker has no RBAC and ignores it.
    """

    namespace: str
    api_groups: tuple[str, ...]
    resources: tuple[str, ...]
    verbs: tuple[str, ...]


@dataclass(frozen=True)
class Ingress:
    """HTTP(S) entry from outside the cluster for one port (Kubernetes; Docker publishes ports instead)."""

    host: str
    port: str  # name of the workload port
    class_name: str | None = None
    tls_secret_name: str | None = None


@dataclass(frozen=True)
class Sidecar:
    """A helper process next to the tool: a container in the tool's pod on Kubernetes, a container
    of its own on Docker. Used for config reloaders: it sees the workload's live config directories
    (read-only, at the same paths) and reaches the tool at `args(host)`, where host is the address
    the target gives the tool (127.0.0.1 in the pod; the tool's network alias on Docker)."""

    name: str  # container name in the pod; Docker: quikapp-<workload>-<name>
    image: str
    args: Callable[[str], tuple[str, ...]]
    # Live config directories of the workload the sidecar watches (each must be a live root).
    watches: tuple[str, ...]
    health: Health | None = None
    resources: Resources | None = None
    run_as_user: int = 65534


@dataclass(frozen=True)
class Cluster:
    """Replicas that join each other as one cluster (Alertmanager's gossip), described as the flags
    the tool takes. The target fills them in with its own addresses: the flag naming the address to
    listen on, the one naming the address the member advertises (its own, per replica), and one
    `peer_flag` per member with that member's stable address. Docker (one container) has no cluster.
    """

    port: Port  # what the members talk on; open between members only
    listen_flag: str  # e.g. --cluster.listen-address
    advertise_flag: str  # e.g. --cluster.advertise-address
    peer_flag: str  # e.g. --cluster.peer, repeated for every member


@dataclass(frozen=True)
class Replication:
    """More than one replica of a workload (Kubernetes only: Docker keeps one container).

    `stable_identity`: each replica owns its data and a stable name (StatefulSet: one volume per
    replica from the workload's `volumes`, a headless Service); otherwise interchangeable replicas
    without a volume (Deployment). Voluntary disruptions (drains, evictions) and rolling updates
    never take more than `max_unavailable` replicas down (PodDisruptionBudget), and never the last.
    """

    replicas: int
    stable_identity: bool = True
    max_unavailable: int = 1
    cluster: Cluster | None = None
    # Volumes of the single-instance layout this one no longer mounts (the PVC a StatefulSet's
    # per-replica volumes replace). The target keeps them declared, retained on delete, unless the
    # stack lets them go (singleInstanceVolumes: release): their data is never deleted by an `up`.
    retired_volumes: tuple[DataVolume, ...] = ()

    def __post_init__(self) -> None:
        if not 0 < self.max_unavailable < self.replicas:
            raise ValueError("max_unavailable must leave at least one replica up")


@dataclass(frozen=True)
class RootFilesystem:
    """What the process may write outside its volumes. Kubernetes realises it (the container's
    readOnlyRootFilesystem, an emptyDir per scratch directory); Docker ignores it: its containers
    keep the image's writable root filesystem."""

    read_only: bool = True
    # Writable scratch directories when the root filesystem is read-only.
    scratch_dirs: tuple[str, ...] = ()


@dataclass(frozen=True)
class Placement:
    """Where the workload's pods run and how many there are. Kubernetes realises it; Docker ignores
    it: one container on its one host, on the stack's network."""

    per_node: bool = False  # one replica per node (Kubernetes DaemonSet)
    # Share the node's process and network namespaces. Only for a per-node agent that reports on the
    # node itself (node-exporter, as its upstream chart runs it).
    host_pid: bool = False
    host_network: bool = False
    # More than one replica (high availability); None: one instance.
    replication: Replication | None = None


@dataclass(frozen=True)
class ClusterAccess:
    """What the workload learns from the Kubernetes cluster: the API objects it may read (RBAC; the
    service account token is mounted only with a rule) and its own pod's fields. Kubernetes realises
    it; Docker ignores it: no API server, and one container instead of pods."""

    cluster_rules: tuple[ClusterRule, ...] = ()  # a ClusterRole
    namespace_rules: tuple[NamespacedRule, ...] = ()  # a Role in each namespace named
    # Env vars from the pod's own fields (downward API: metadata.name, status.podIP, spec.nodeName),
    # e.g. the replica's name as Prometheus' `replica` external label, or the node's name for a
    # per-node agent.
    field_env: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Workload:
    name: str  # DNS name on both targets: Docker network alias and Kubernetes Service name
    image: str
    args: tuple[str, ...] = ()
    # Replaces the image's entrypoint when set (Docker `entrypoint`, Kubernetes `command`);
    # `args` then follow it. Empty keeps the image's own.
    entrypoint: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    secret_env: tuple[tuple[str, pulumi.Input[str]], ...] = ()
    ports: tuple[Port, ...] = ()
    files: tuple[File, ...] = ()
    volumes: tuple[DataVolume, ...] = ()
    host_mounts: tuple[HostMount, ...] = ()
    health: Health | None = None
    resources: Resources | None = None
    # The user the process runs as, on both targets: the image's numeric user (never 0: Kubernetes
    # enforces non-root with it and sets fsGroup so the volume is writable), or "root" only for
    # readers of root-owned host files (Promtail, cAdvisor): then the image's own user on Docker, and
    # no user enforced on Kubernetes.
    user: int | Literal["root"] = 65534
    # The workload exits until a backend outside this stack answers (kafka-exporter without a
    # broker): `pulumi up` must not wait for it to be ready, the restart policy brings it up later.
    may_wait_for_backend: bool = False
    # Helper containers (a config reloader where the tool has no file watching of its own).
    sidecars: tuple[Sidecar, ...] = ()
    # Docker: the image whose /bin/sh copies live files into the config volume (busybox-based).
    # None: the workload's own image (only where it has a shell; Loki's is distroless). Kubernetes
    # delivers live files itself and ignores it.
    config_copier_image: str | None = None
    # Kubernetes only (the groups' docstrings say what each holds).
    root_filesystem: RootFilesystem = RootFilesystem()
    placement: Placement = Placement()
    cluster_access: ClusterAccess = ClusterAccess()
    ingress: Ingress | None = None

    @property
    def replicas(self) -> int:
        replication = self.placement.replication
        return replication.replicas if replication else 1

    def __post_init__(self) -> None:
        if self.user == 0:
            # Root is spelled one way: a uid of 0 would still be enforced as non-root on Kubernetes.
            raise ValueError(f'{self.name}: user 0 is root: say user="root"')
        # A file read only at start inside a directory that is updated in place would change under
        # the running tool without restarting it: every target relies on this never happening.
        for f in self.files:
            root = self.root_of(f.path)
            if root and not f.live:
                raise ValueError(f"{self.name}: {f.path} is read only at start but lies in the live config "
                                 f"directory {root}: give it a directory of its own")

    def port(self, name: str) -> Port:
        return next(p for p in self.ports if p.name == name)

    def live_roots(self) -> tuple[str, ...]:
        """The directories delivered as a whole and updated in place: each live file's directory,
        reduced to the outermost ones (a nested one is part of its parent: /etc/prometheus holds
        rules/). Every file under a root is live (checked on creation)."""
        dirs = sorted({f.path.rsplit("/", 1)[0] for f in self.files if f.live})
        roots: list[str] = []
        for d in dirs:
            if not any(d == r or d.startswith(r + "/") for r in roots):
                roots.append(d)
        return tuple(roots)

    def root_of(self, path: str) -> str | None:
        """The live root a file is delivered under, or None (delivered on its own)."""
        return next((r for r in self.live_roots() if path.startswith(r + "/")), None)


@dataclass(frozen=True)
class Endpoint:
    """Where a deployed port is reached."""

    internal: str  # host:port inside the Docker network / cluster
    # For operators: host:port of the published port (Docker), of `kubectl port-forward` on the
    # operator's machine (Kubernetes), or the ingress host; None if not reachable from outside.
    public: str | None
    public_scheme: str = "http"


@dataclass(frozen=True)
class DeployedWorkload:
    name: str
    endpoints: dict[str, Endpoint]
    resources: list[pulumi.Resource]
