"""How a workload runs on Kubernetes: its layout, chosen once (`layout_for`) from the workload's
`placement`.

- `SingleInstance` (no `replication`): one pod, a Deployment; each data volume a PVC of a fixed
  name, updated with `Recreate` when it has one.
- `PerNode` (`per_node`): one pod on every node, a DaemonSet tolerating every taint.
- `Replicas` (`replication` without `stable_identity`): interchangeable replicas without a volume
  (Grafana on an external database), a Deployment that surges during updates.
- `StatefulReplicas` (`replication` with `stable_identity`): replicas that own data and a stable
  name (Prometheus, Alertmanager), a StatefulSet with one volume per replica and a headless Service;
  a `cluster` gets its peer flags and the NetworkPolicy rule between its members.

Both replicated layouts (highAvailability) add a PodDisruptionBudget and a spread over nodes, and
keep the single-instance layout's volumes they replace (`retired_volumes`) declared until the stack
releases them. `KubernetesTarget.deploy` asks the workload's layout for what differs between them
(the workload as it runs, its claims, volumes and mounts, where its pods may go, the controller, the
objects next to it and extra NetworkPolicy rules) and does everything else the same for each.

A shape none of them runs is refused, one line naming the workload, rather than run as the nearest
one: a per-node workload with replicas (a DaemonSet runs one pod per node) or with a data volume,
interchangeable replicas with a data volume (pods on different nodes cannot share one
ReadWriteOnce claim), or with a cluster (its members find each other by stable names).

Choices of the replicated layouts, each for a reason:
- StatefulSet for replicas that own data (Prometheus' TSDB, Alertmanager's silences and
  notification log): each replica gets its own ReadWriteOnce volume from `volumeClaimTemplates`
  (a shared RWO volume cannot be attached to two pods on two nodes) and a stable name.
- `podManagementPolicy: Parallel`: the replicas are independent at start (Alertmanager members
  join whoever is up), so scaling does not wait pod by pod. It does not change updates: a
  RollingUpdate still replaces one pod at a time and waits for it to be Ready before the next
  (kubernetes/kubernetes pkg/controller/statefulset, `updateStrategy.rollingUpdate.partition` 0).
- `persistentVolumeClaimRetentionPolicy: Retain` for deletion and scale-down: the per-replica
  data outlives the StatefulSet (also the API server's default where the feature is on; written
  so a cluster without it and a reader see the same).
- A headless Service `<name>-headless` (`publishNotReadyAddresses`): DNS names
  `<name>-<i>.<name>-headless.<namespace>.svc.<cluster domain>` for every replica, including the
  ones not yet Ready, so cluster members find each other while they start. Members name each other
  in the short form `<name>-<i>.<name>-headless`, which the pod's resolver completes with its own
  namespace and the cluster's domain (the kubelet's search list `<namespace>.svc.<domain>
  svc.<domain> <domain>` with `ndots:5`: kubernetes/kubernetes pkg/kubelet/network/dns/dns.go
  generateSearchesForDNSClusterFirst, indexed at 04791b49), so they find each other whatever the
  cluster's DNS domain. The prometheus-community alertmanager chart does the same
  (prometheus-community/helm-charts alertmanager-1.42.0 charts/alertmanager/templates/statefulset.yaml:
  `--cluster.peer={{ $fullName }}-{{ $i }}.{{ $fullName }}-headless:{{ $svcClusterPort }}`).
- PodDisruptionBudget `maxUnavailable` from the workload (1): a drain never takes the last
  Prometheus or more than one of the three Alertmanagers. `unhealthyPodEvictionPolicy:
  AlwaysAllow` lets a drain evict a replica that is not Ready anyway (a crash-looping pod must
  not block node maintenance; policy/v1, GA in Kubernetes 1.31, beta and on since 1.27).
- Topology spread over `kubernetes.io/hostname` with `whenUnsatisfiable: ScheduleAnyway`: the
  scheduler places replicas on different nodes whenever it can, but a replica whose only
  possible node already holds one (a one-node staging cluster, a drain of a two-node pool where
  the cordoned node still counts as a domain, a zonal volume that pins the pod) still starts.
  DoNotSchedule would leave it Pending, and with the budget above a Pending replica blocks the
  next drain: co-located replicas are worse than spread ones but better than missing ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from typing import TYPE_CHECKING, Never, NoReturn, Protocol

import pulumi
from pulumi_kubernetes.apps.v1 import (
    DaemonSet,
    DaemonSetSpecArgs,
    Deployment,
    DeploymentSpecArgs,
    DeploymentStrategyArgs,
    RollingUpdateDeploymentArgs,
    RollingUpdateStatefulSetStrategyArgs,
    StatefulSet,
    StatefulSetPersistentVolumeClaimRetentionPolicyArgs,
    StatefulSetSpecArgs,
    StatefulSetUpdateStrategyArgs,
)
from pulumi_kubernetes.core.v1 import (
    PersistentVolumeClaimArgs,
    PersistentVolumeClaimVolumeSourceArgs,
    PodTemplateSpecArgs,
    Service,
    ServicePortArgs,
    ServiceSpecArgs,
    TolerationArgs,
    TopologySpreadConstraintArgs,
    VolumeArgs,
    VolumeMountArgs,
)
from pulumi_kubernetes.meta.v1 import LabelSelectorArgs, ObjectMetaArgs
from pulumi_kubernetes.policy.v1 import PodDisruptionBudget, PodDisruptionBudgetSpecArgs

from ..workload import Replication, Workload

if TYPE_CHECKING:
    from pulumi_kubernetes.networking.v1 import NetworkPolicyIngressRuleArgs

    from .kubernetes import KubernetesTarget

HOSTNAME_KEY = "kubernetes.io/hostname"


def headless_name(name: str) -> str:
    return f"{name}-headless"


def service_ports(workload: Workload) -> list[ServicePortArgs]:
    """The workload's ports as a Service exposes them (its Service, and a StatefulSet's headless one)."""
    return [ServicePortArgs(name=p.name, port=p.container_port, target_port=p.container_port, protocol=p.protocol)
            for p in workload.ports]


def data_mounts(workload: Workload) -> list[VolumeMountArgs]:
    """The workload's data volumes mounted where it keeps its data, named like their volumes (a PVC's
    or a StatefulSet's claim template)."""
    return [VolumeMountArgs(name=vol.k8s_name, mount_path=vol.mount_path) for vol in workload.volumes]


def replica_host(name: str, ordinal: int) -> str:
    """The stable DNS name of one StatefulSet replica (through its headless Service), short form:
    resolved through the pod's search list in its own namespace and the cluster's domain."""
    return f"{name}-{ordinal}.{headless_name(name)}"


@dataclass(frozen=True)
class WorkloadContext:
    """What every object of one workload is made with: the target (namespace, metadata, claims),
    the workload's labels (its pods', and what selects them) and the options (parent, provider)."""

    target: KubernetesTarget
    labels: dict[str, str]
    opts: pulumi.ResourceOptions

    @property
    def selector(self) -> LabelSelectorArgs:
        return LabelSelectorArgs(match_labels=self.labels)


@dataclass(frozen=True)
class Storage:
    """The PVCs a layout declares, and the pod's volumes and mounts of the workload's data."""

    claims: Sequence[pulumi.Resource] = ()
    volumes: Sequence[VolumeArgs] = ()
    mounts: Sequence[VolumeMountArgs] = ()


@dataclass(frozen=True)
class Scheduling:
    """Where the scheduler may put the pods: the taints they tolerate, how they spread over nodes."""

    tolerations: list[TolerationArgs] | None = None
    spread: list[TopologySpreadConstraintArgs] | None = None


class Layout(Protocol):
    """What differs between the layouts; `KubernetesTarget.deploy` does the rest the same for each."""

    @property
    def workload(self) -> Workload:
        """The workload as the layout runs it (a cluster's members with their peer flags)."""
        ...

    def storage(self, ctx: WorkloadContext) -> Storage:
        ...

    def scheduling(self, ctx: WorkloadContext) -> Scheduling:
        ...

    def controller(self, ctx: WorkloadContext, meta: ObjectMetaArgs, pod: PodTemplateSpecArgs) -> pulumi.Resource:
        """The Deployment, DaemonSet or StatefulSet that runs the pods, named like the workload."""
        ...

    def companions(self, ctx: WorkloadContext) -> list[pulumi.Resource]:
        """The objects next to the controller that only this layout has (headless Service, budget)."""
        ...

    def peer_rules(self, ctx: WorkloadContext) -> list[NetworkPolicyIngressRuleArgs]:
        """NetworkPolicy ingress rules beyond those of the workload's ports (a cluster's members)."""
        ...


def layout_for(workload: Workload) -> Layout:
    """The one place a workload's layout is chosen (see the module docstring). Nothing else on
    Kubernetes asks a workload's placement for `per_node` or `replication`."""
    placement = workload.placement
    match placement.replication:
        case None:
            if not placement.per_node:
                return SingleInstance(workload)
            if workload.volumes:
                raise _refused(workload, "a per-node workload with a data volume: its pods on different nodes "
                                         "cannot share one ReadWriteOnce claim (a host mount keeps per-node state)")
            return PerNode(workload)
        case Replication() as replication:
            if placement.per_node:
                raise _refused(workload, "per_node with replication: a DaemonSet runs one pod per node, "
                                         "never replicas of its own")
            if replication.stable_identity:
                return StatefulReplicas(workload, replication)
            if workload.volumes:
                raise _refused(workload, "replicas without stable_identity with a data volume: replicas on "
                                         "different nodes cannot share one ReadWriteOnce claim (stable_identity "
                                         "gives each its own)")
            if replication.cluster is not None:
                raise _refused(workload, "a cluster of replicas without stable_identity: its members find each "
                                         "other by stable names")
            return Replicas(workload, replication)
        case unknown:
            _unknown_shape(workload, unknown)


def _unknown_shape(workload: Workload, replication: Never) -> NoReturn:
    """The last case of `layout_for`: mypy refuses the call while some value `replication` may hold
    has no case of its own above it. Reached anyway (an unchecked build), the program stops in one
    line rather than run the workload in another layout."""
    raise _refused(workload, f"replication {replication!r}: `layout_for` has no case for it")


def _refused(workload: Workload, shape: str) -> ValueError:
    return ValueError(f"{workload.name}: no Kubernetes layout runs {shape}")


@dataclass(frozen=True)
class SingleInstance:
    """One pod, a Deployment of one replica; each data volume a PVC of a fixed name."""

    workload: Workload

    def storage(self, ctx: WorkloadContext) -> Storage:
        volumes = self.workload.volumes
        claims = [ctx.target.claim(self.workload.name, vol, ctx.labels, ctx.opts) for vol in volumes]
        return Storage(
            claims=claims,
            volumes=[VolumeArgs(name=vol.k8s_name, persistent_volume_claim=PersistentVolumeClaimVolumeSourceArgs(
                claim_name=pvc.metadata.name)) for vol, pvc in zip(volumes, claims, strict=True)],
            mounts=data_mounts(self.workload))

    def scheduling(self, ctx: WorkloadContext) -> Scheduling:
        return Scheduling()

    def controller(self, ctx: WorkloadContext, meta: ObjectMetaArgs, pod: PodTemplateSpecArgs) -> pulumi.Resource:
        return Deployment(
            self.workload.name,
            metadata=meta,
            spec=DeploymentSpecArgs(
                replicas=1,
                selector=ctx.selector,
                # A ReadWriteOnce volume cannot be attached to the new pod while the old one
                # holds it: RollingUpdate would deadlock, so stop the old pod first.
                strategy=DeploymentStrategyArgs(type="Recreate" if self.workload.volumes else "RollingUpdate"),
                template=pod,
            ),
            opts=ctx.opts,
        )

    def companions(self, ctx: WorkloadContext) -> list[pulumi.Resource]:
        return []

    def peer_rules(self, ctx: WorkloadContext) -> list[NetworkPolicyIngressRuleArgs]:
        return []


@dataclass(frozen=True)
class PerNode:
    """One pod on every node, a DaemonSet: an agent reporting on its node (its state, if any, on
    host mounts)."""

    workload: Workload

    def storage(self, ctx: WorkloadContext) -> Storage:
        return Storage()

    def scheduling(self, ctx: WorkloadContext) -> Scheduling:
        # It must run on every node, tainted ones (control plane, dedicated pools) included.
        return Scheduling(tolerations=[TolerationArgs(operator="Exists")])

    def controller(self, ctx: WorkloadContext, meta: ObjectMetaArgs, pod: PodTemplateSpecArgs) -> pulumi.Resource:
        return DaemonSet(self.workload.name, metadata=meta, spec=DaemonSetSpecArgs(selector=ctx.selector, template=pod),
                         opts=ctx.opts)

    def companions(self, ctx: WorkloadContext) -> list[pulumi.Resource]:
        return []

    def peer_rules(self, ctx: WorkloadContext) -> list[NetworkPolicyIngressRuleArgs]:
        return []


@dataclass(frozen=True)
class Replicas:
    """Interchangeable replicas without a volume, a Deployment that surges during updates."""

    workload: Workload
    replication: Replication

    def storage(self, ctx: WorkloadContext) -> Storage:
        return Storage(claims=_retired_claims(self.workload, self.replication, ctx))

    def scheduling(self, ctx: WorkloadContext) -> Scheduling:
        return Scheduling(spread=_spread(ctx))

    def controller(self, ctx: WorkloadContext, meta: ObjectMetaArgs, pod: PodTemplateSpecArgs) -> pulumi.Resource:
        # More replicas than needed during the update (surge), never fewer Ready than asked.
        return Deployment(self.workload.name, metadata=meta, opts=ctx.opts, spec=DeploymentSpecArgs(
            replicas=self.replication.replicas, selector=ctx.selector, template=pod,
            strategy=DeploymentStrategyArgs(type="RollingUpdate", rolling_update=RollingUpdateDeploymentArgs(
                max_surge=1, max_unavailable=0))))

    def companions(self, ctx: WorkloadContext) -> list[pulumi.Resource]:
        return [_budget(self.workload, self.replication, ctx)]

    def peer_rules(self, ctx: WorkloadContext) -> list[NetworkPolicyIngressRuleArgs]:
        return []


@dataclass(frozen=True)
class StatefulReplicas:
    """Replicas that own data and a stable name, a StatefulSet (see the module docstring)."""

    declared: Workload  # as the component describes it; `workload` is how it runs
    replication: Replication

    @cached_property
    def workload(self) -> Workload:
        """With its cluster flags filled in: listen and advertise on the pod's own IP (env POD_IP
        from the downward API; `[...]` keeps an IPv6 address parseable by Go's net.SplitHostPort,
        which also accepts it around IPv4), one peer flag per member's stable name.
        prometheus/alertmanager@v0.35.0 cmd/alertmanager/main.go (cluster.* flags) and
        cluster/cluster.go Create (SplitHostPort of both addresses; peers are resolved by DNS and
        re-resolved later)."""
        workload, cluster = self.declared, self.replication.cluster
        if cluster is None:
            return workload
        own = f"[$(POD_IP)]:{cluster.port.container_port}"  # $(VAR): Kubernetes expands env in args
        peers = tuple(f"{cluster.peer_flag}={replica_host(workload.name, i)}:{cluster.port.container_port}"
                      for i in range(self.replication.replicas))
        own_env = workload.cluster_access.field_env
        field_env = own_env if any(k == "POD_IP" for k, _ in own_env) else (*own_env, ("POD_IP", "status.podIP"))
        return replace(workload, args=(*workload.args, f"{cluster.listen_flag}={own}",
                                       f"{cluster.advertise_flag}={own}", *peers),
                       cluster_access=replace(workload.cluster_access, field_env=field_env))

    def storage(self, ctx: WorkloadContext) -> Storage:
        # Mounts of the per-replica claims: the StatefulSet adds the volumes, named like its templates.
        return Storage(claims=_retired_claims(self.workload, self.replication, ctx), mounts=data_mounts(self.workload))

    def scheduling(self, ctx: WorkloadContext) -> Scheduling:
        return Scheduling(spread=_spread(ctx))

    def controller(self, ctx: WorkloadContext, meta: ObjectMetaArgs, pod: PodTemplateSpecArgs) -> pulumi.Resource:
        workload = self.workload
        return StatefulSet(workload.name, metadata=meta, opts=ctx.opts, spec=StatefulSetSpecArgs(
            replicas=self.replication.replicas,
            selector=ctx.selector,
            service_name=headless_name(workload.name),
            pod_management_policy="Parallel",
            update_strategy=StatefulSetUpdateStrategyArgs(
                type="RollingUpdate", rolling_update=RollingUpdateStatefulSetStrategyArgs(partition=0)),
            persistent_volume_claim_retention_policy=StatefulSetPersistentVolumeClaimRetentionPolicyArgs(
                when_deleted="Retain", when_scaled="Retain"),
            template=pod,
            volume_claim_templates=[PersistentVolumeClaimArgs(
                metadata=ObjectMetaArgs(name=vol.k8s_name, labels=ctx.labels), spec=ctx.target.claim_spec(vol))
                for vol in workload.volumes],
        ))

    def companions(self, ctx: WorkloadContext) -> list[pulumi.Resource]:
        """The headless Service that gives every replica its DNS name, and the budget."""
        workload = self.workload
        ports = service_ports(workload)
        if self.replication.cluster:
            port = self.replication.cluster.port
            # memberlist gossips over UDP and syncs state over TCP on the same port.
            ports += [ServicePortArgs(name=f"{port.name}-{proto.lower()}", port=port.container_port,
                                      target_port=port.container_port, protocol=proto) for proto in ("TCP", "UDP")]
        headless = Service(
            headless_name(workload.name),
            metadata=ctx.target.meta(headless_name(workload.name), ctx.labels,
                                     skip_await=workload.may_wait_for_backend),
            spec=ServiceSpecArgs(type="ClusterIP", cluster_ip="None", publish_not_ready_addresses=True,
                                 selector=ctx.labels, ports=ports),
            opts=ctx.opts,
        )
        return [headless, _budget(workload, self.replication, ctx)]

    def peer_rules(self, ctx: WorkloadContext) -> list[NetworkPolicyIngressRuleArgs]:
        """The cluster port, from the workload's own pods only."""
        if self.replication.cluster is None:
            return []
        from pulumi_kubernetes.networking.v1 import (
            NetworkPolicyIngressRuleArgs,
            NetworkPolicyPeerArgs,
            NetworkPolicyPortArgs,
        )

        port = self.replication.cluster.port.container_port
        return [NetworkPolicyIngressRuleArgs(
            ports=[NetworkPolicyPortArgs(port=port, protocol=proto) for proto in ("TCP", "UDP")],
            from_=[NetworkPolicyPeerArgs(pod_selector=ctx.selector)])]


# --- what both replicated layouts have ----------------------------------------------------------


def _retired_claims(workload: Workload, replication: Replication, ctx: WorkloadContext) -> list[pulumi.Resource]:
    """The single-instance layout's PVCs, kept as they were (same name, URN and spec) and retained
    on delete, until the stack releases them (docs/UPGRADING.md, "High availability")."""
    if ctx.target.releases_single_instance_volumes:
        return []
    return [ctx.target.claim(workload.name, vol, ctx.labels, ctx.opts, retain=True)
            for vol in replication.retired_volumes]


def _spread(ctx: WorkloadContext) -> list[TopologySpreadConstraintArgs]:
    """Replicas on different nodes where the cluster allows it (see the module docstring)."""
    return [TopologySpreadConstraintArgs(max_skew=1, topology_key=HOSTNAME_KEY, when_unsatisfiable="ScheduleAnyway",
                                         label_selector=ctx.selector)]


def _budget(workload: Workload, replication: Replication, ctx: WorkloadContext) -> pulumi.Resource:
    """Voluntary disruptions (drains) take at most `max_unavailable` replicas, never the last."""
    return PodDisruptionBudget(
        f"{workload.name}-pdb",
        metadata=ctx.target.meta(workload.name, ctx.labels),
        spec=PodDisruptionBudgetSpecArgs(max_unavailable=replication.max_unavailable, selector=ctx.selector,
                                         unhealthy_pod_eviction_policy="AlwaysAllow"),
        opts=ctx.opts,
    )
