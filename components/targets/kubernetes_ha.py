"""Kubernetes realisation of replicated workloads (highAvailability): StatefulSets with one volume
per replica, headless Services, PodDisruptionBudgets, spread across nodes, cluster peers.

`KubernetesTarget.deploy` calls in here at a few points; a workload without `replication` gets
nothing from this module (one Deployment, as before).

Choices, each for a reason:
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

from dataclasses import replace
from typing import TYPE_CHECKING

import pulumi
from pulumi_kubernetes.apps.v1 import (
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
    PodTemplateSpecArgs,
    Service,
    ServicePortArgs,
    ServiceSpecArgs,
    TopologySpreadConstraintArgs,
    VolumeMountArgs,
)
from pulumi_kubernetes.meta.v1 import LabelSelectorArgs, ObjectMetaArgs
from pulumi_kubernetes.policy.v1 import PodDisruptionBudget, PodDisruptionBudgetSpecArgs

from ..workload import Workload

if TYPE_CHECKING:
    from pulumi_kubernetes.networking.v1 import NetworkPolicyIngressRuleArgs

    from .kubernetes import KubernetesTarget

HOSTNAME_KEY = "kubernetes.io/hostname"


def headless_name(name: str) -> str:
    return f"{name}-headless"


def replica_host(name: str, ordinal: int) -> str:
    """The stable DNS name of one StatefulSet replica (through its headless Service), short form:
    resolved through the pod's search list in its own namespace and the cluster's domain."""
    return f"{name}-{ordinal}.{headless_name(name)}"


def replicated(workload: Workload) -> bool:
    return workload.placement.replication is not None and not workload.placement.per_node


def claims_per_replica(workload: Workload) -> bool:
    """Whether the workload's volumes become one claim per replica (a StatefulSet's templates)."""
    replication = workload.placement.replication
    return replicated(workload) and replication is not None and replication.stable_identity


def with_cluster_args(workload: Workload) -> Workload:
    """The workload with its cluster flags filled in: listen and advertise on the pod's own IP
    (env POD_IP from the downward API; `[...]` keeps an IPv6 address parseable by Go's
    net.SplitHostPort, which also accepts it around IPv4), one peer flag per member's stable name.
    prometheus/alertmanager@v0.35.0 cmd/alertmanager/main.go (cluster.* flags) and cluster/cluster.go
    Create (SplitHostPort of both addresses; peers are resolved by DNS and re-resolved later)."""
    replication = workload.placement.replication
    if not replicated(workload) or replication is None or replication.cluster is None:
        return workload
    cluster, replicas = replication.cluster, replication.replicas
    own = f"[$(POD_IP)]:{cluster.port.container_port}"  # $(VAR): Kubernetes expands env in args
    peers = tuple(f"{cluster.peer_flag}={replica_host(workload.name, i)}:{cluster.port.container_port}"
                  for i in range(replicas))
    own_env = workload.cluster_access.field_env
    field_env = own_env if any(k == "POD_IP" for k, _ in own_env) else (*own_env, ("POD_IP", "status.podIP"))
    return replace(workload, args=(*workload.args, f"{cluster.listen_flag}={own}", f"{cluster.advertise_flag}={own}",
                                   *peers), cluster_access=replace(workload.cluster_access, field_env=field_env))


def volume_mounts(workload: Workload) -> list[VolumeMountArgs]:
    """Mounts of the per-replica claims (the StatefulSet adds the volumes, named like the templates)."""
    return [VolumeMountArgs(name=vol.k8s_name, mount_path=vol.mount_path) for vol in workload.volumes]


def spread(workload: Workload, labels: dict[str, str]) -> list[TopologySpreadConstraintArgs] | None:
    """Replicas on different nodes where the cluster allows it (see the module docstring)."""
    if not replicated(workload):
        return None
    return [TopologySpreadConstraintArgs(max_skew=1, topology_key=HOSTNAME_KEY, when_unsatisfiable="ScheduleAnyway",
                                         label_selector=LabelSelectorArgs(match_labels=labels))]


def workload_resource(target: KubernetesTarget, workload: Workload, meta: ObjectMetaArgs,
                      selector: LabelSelectorArgs, pod: PodTemplateSpecArgs, labels: dict[str, str],
                      opts: pulumi.ResourceOptions) -> pulumi.Resource:
    """The StatefulSet (replicas with data) or the Deployment (interchangeable replicas)."""
    replication = workload.placement.replication
    assert replication is not None
    if not replication.stable_identity:
        # More replicas than needed during the update (surge), never fewer Ready than asked.
        return Deployment(workload.name, metadata=meta, opts=opts, spec=DeploymentSpecArgs(
            replicas=replication.replicas, selector=selector, template=pod,
            strategy=DeploymentStrategyArgs(type="RollingUpdate", rolling_update=RollingUpdateDeploymentArgs(
                max_surge=1, max_unavailable=0))))
    return StatefulSet(workload.name, metadata=meta, opts=opts, spec=StatefulSetSpecArgs(
        replicas=replication.replicas,
        selector=selector,
        service_name=headless_name(workload.name),
        pod_management_policy="Parallel",
        update_strategy=StatefulSetUpdateStrategyArgs(
            type="RollingUpdate", rolling_update=RollingUpdateStatefulSetStrategyArgs(partition=0)),
        persistent_volume_claim_retention_policy=StatefulSetPersistentVolumeClaimRetentionPolicyArgs(
            when_deleted="Retain", when_scaled="Retain"),
        template=pod,
        volume_claim_templates=[PersistentVolumeClaimArgs(
            metadata=ObjectMetaArgs(name=vol.k8s_name, labels=labels), spec=target.claim_spec(vol))
            for vol in workload.volumes],
    ))


def extras(target: KubernetesTarget, workload: Workload, labels: dict[str, str],
           opts: pulumi.ResourceOptions) -> list[pulumi.Resource]:
    """The headless Service (StatefulSets) and the PodDisruptionBudget of a replicated workload."""
    replication = workload.placement.replication
    if not replicated(workload) or replication is None:
        return []
    created: list[pulumi.Resource] = []
    if replication.stable_identity:
        ports = [ServicePortArgs(name=p.name, port=p.container_port, target_port=p.container_port, protocol=p.protocol)
                 for p in workload.ports]
        if replication.cluster:
            port = replication.cluster.port
            # memberlist gossips over UDP and syncs state over TCP on the same port.
            ports += [ServicePortArgs(name=f"{port.name}-{proto.lower()}", port=port.container_port,
                                      target_port=port.container_port, protocol=proto) for proto in ("TCP", "UDP")]
        created.append(Service(
            headless_name(workload.name),
            metadata=target.meta(headless_name(workload.name), labels, skip_await=workload.may_wait_for_backend),
            spec=ServiceSpecArgs(type="ClusterIP", cluster_ip="None", publish_not_ready_addresses=True, selector=labels,
                                 ports=ports),
            opts=opts,
        ))
    created.append(PodDisruptionBudget(
        f"{workload.name}-pdb",
        metadata=target.meta(workload.name, labels),
        spec=PodDisruptionBudgetSpecArgs(max_unavailable=replication.max_unavailable,
                                         selector=LabelSelectorArgs(match_labels=labels),
                                         unhealthy_pod_eviction_policy="AlwaysAllow"),
        opts=opts,
    ))
    return created


def peer_rules(workload: Workload, labels: dict[str, str]) -> list[NetworkPolicyIngressRuleArgs]:
    """NetworkPolicy ingress rule: the cluster port, from the workload's own pods only."""
    from pulumi_kubernetes.networking.v1 import (
        NetworkPolicyIngressRuleArgs,
        NetworkPolicyPeerArgs,
        NetworkPolicyPortArgs,
    )

    replication = workload.placement.replication
    if not replicated(workload) or replication is None or replication.cluster is None:
        return []
    port = replication.cluster.port.container_port
    return [NetworkPolicyIngressRuleArgs(
        ports=[NetworkPolicyPortArgs(port=port, protocol=proto) for proto in ("TCP", "UDP")],
        from_=[NetworkPolicyPeerArgs(pod_selector=LabelSelectorArgs(match_labels=labels))])]


def retired_claims(target: KubernetesTarget, workload: Workload, labels: dict[str, str],
                   opts: pulumi.ResourceOptions) -> list[pulumi.Resource]:
    """The single-instance layout's PVCs, kept as they were (same name, URN and spec) and retained
    on delete, until the stack releases them (docs/UPGRADING.md, "High availability")."""
    if not replicated(workload) or workload.placement.replication is None or target.releases_single_instance_volumes:
        return []
    return [target.claim(workload.name, vol, labels, opts, retain=True)
            for vol in workload.placement.replication.retired_volumes]

