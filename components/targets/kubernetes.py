"""Kubernetes realisation: explicit provider, one namespace, ConfigMap/Secret, PVCs, workloads, Services.

How each workload runs (one pod, one per node, replicas) is its layout's: kubernetes_layouts.py.

Every workload's Service is named like its Docker network alias, so the addresses in rendered
configs (components/services.py: Prometheus' Alertmanager, Grafana's datasources) are identical on
both targets.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import pulumi
import pulumi_kubernetes as k8s
from pulumi_kubernetes.core.v1 import (
    ContainerArgs,
    ContainerPortArgs,
    EmptyDirVolumeSourceArgs,
    EnvVarArgs,
    EnvVarSourceArgs,
    HostPathVolumeSourceArgs,
    HTTPGetActionArgs,
    Namespace,
    ObjectFieldSelectorArgs,
    PersistentVolumeClaim,
    PersistentVolumeClaimSpecArgs,
    PodSecurityContextArgs,
    PodSpecArgs,
    PodTemplateSpecArgs,
    ProbeArgs,
    SeccompProfileArgs,
    SecretKeySelectorArgs,
    Service,
    ServiceAccount,
    ServiceSpecArgs,
    VolumeArgs,
    VolumeMountArgs,
    VolumeResourceRequirementsArgs,
)
from pulumi_kubernetes.meta.v1 import LabelSelectorArgs, ObjectMetaArgs
from pulumi_kubernetes.rbac.v1 import (
    ClusterRole,
    ClusterRoleBinding,
    PolicyRuleArgs,
    Role,
    RoleBinding,
    RoleRefArgs,
    SubjectArgs,
)

from ..settings import Settings, TargetKind
from ..workload import ClusterRule, DataVolume, DeployedWorkload, Endpoint, NamespacedRule, Port, Workload
from .base import PART_OF
from .kubernetes_config import deliver_config, sidecar_containers
from .kubernetes_container import hardened, resource_requirements
from .kubernetes_layouts import WorkloadContext, layout_for, service_ports

if TYPE_CHECKING:
    from pulumi_kubernetes.networking.v1 import NetworkPolicyIngressRuleArgs

# Pod Security admission levels of the stack's namespace. Its per-node agents need host access
# that only `privileged` admits: node-exporter the host's network, PID namespace and root
# filesystem, Promtail and cAdvisor hostPath mounts of the node's logs and container state
# (Pod Security Standards: "Host Namespaces", "HostPath Volumes" are forbidden from `baseline` on;
# k8s.io/pod-security-admission@v0.34.4 policy/check_hostNamespaces.go, check_hostPathVolumes.go).
# Every other workload meets `restricted`, which the API server checks and reports as a warning
# (and audit annotation) for any that does not: tests/e2e shows only the agents are reported.
POD_SECURITY_LABELS = {
    "pod-security.kubernetes.io/enforce": "privileged",
    "pod-security.kubernetes.io/warn": "restricted",
    "pod-security.kubernetes.io/audit": "restricted",
}


def _policy_rules(rules: Iterable[ClusterRule | NamespacedRule]) -> list[PolicyRuleArgs]:
    return [PolicyRuleArgs(api_groups=list(r.api_groups), resources=list(r.resources), verbs=list(r.verbs))
            for r in rules]


class KubernetesTarget:
    kind = TargetKind.KUBERNETES

    def __init__(self, settings: Settings, parent: pulumi.Resource) -> None:
        kube = settings.kubernetes
        self._settings = settings
        self._protect = settings.protect_data
        self.releases_single_instance_volumes = settings.single_instance_volumes == "release"
        self.namespace = kube.namespace
        # `kubectl port-forward` commands for the ports Docker would publish (stack output).
        self._forwards: dict[str, str] = {}
        self._kubectl = "kubectl" + (f" --context {kube.context}" if kube.context else "")
        self.provider = k8s.Provider(
            "kubernetes",
            k8s.ProviderArgs(context=kube.context, kubeconfig=kube.kubeconfig,
                             # ConfigMaps and Secrets with stable names are patched in place instead of
                             # replaced, so a running pod sees new config (kubernetes_config.py). Adding
                             # these to an existing provider is an update, not a replacement: DiffConfig
                             # replaces only on kubeconfig/context/cluster changes
                             # (pulumi/pulumi-kubernetes@v4.32.0 provider/pkg/provider/provider.go
                             # DiffConfig; diff.go forceNewProperties drops .data once enabled).
                             enable_config_map_mutable=True, enable_secret_mutable=True),
            opts=pulumi.ResourceOptions(parent=parent),
        )
        self._ns_name: pulumi.Input[str] = kube.namespace  # adopted: it exists and is not ours
        if kube.create_namespace:
            namespace = Namespace(
                "namespace",
                metadata=ObjectMetaArgs(name=kube.namespace, labels={"app.kubernetes.io/part-of": PART_OF,
                                                                     **POD_SECURITY_LABELS}),
                # Deleting a namespace deletes every PVC in it: protect it like the data itself.
                opts=pulumi.ResourceOptions(parent=parent, provider=self.provider,
                                            protect=self._protect, retain_on_delete=self._protect),
            )
            self._ns_name = namespace.metadata.name
        # QuikApp's namespace, where Prometheus' discovery Role goes: created when a fresh cluster
        # lacks it (else the Role fails: namespaces "quikapp" not found), adopted unchanged when it
        # exists (server-side apply upserts; the program sets nothing but its name), and never
        # deleted: it belongs to QuikApp.
        self._app_ns_name: pulumi.Input[str] = kube.app_namespace
        if kube.create_app_namespace and kube.app_namespace != kube.namespace:
            app_namespace = Namespace(
                "app-namespace",
                metadata=ObjectMetaArgs(name=kube.app_namespace),
                opts=pulumi.ResourceOptions(parent=parent, provider=self.provider, retain_on_delete=True),
            )
            self._app_ns_name = app_namespace.metadata.name

    def app_host(self, service: str) -> str:
        return f"{service}.{self._settings.kubernetes.app_namespace}.svc"

    def stack_outputs(self) -> dict[str, object]:
        # appNamespace: where service teams deploy, and where Prometheus discovers the catalog's Services.
        return {"namespace": self._ns_name, "appNamespace": self._settings.kubernetes.app_namespace,
                "portForward": dict(sorted(self._forwards.items()))}

    def operator_url(self, port: Port) -> str | None:
        # The `kubectl port-forward` of the portForward output binds the same local port.
        return None if port.publish is None else f"http://localhost:{port.publish}"

    def _labels(self, name: str) -> dict[str, str]:
        return {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": PART_OF}

    def meta(self, name: str | None, labels: dict[str, str], skip_await: bool = False) -> ObjectMetaArgs:
        """The metadata of an object in the stack's namespace (skip_await: see `deploy`)."""
        return ObjectMetaArgs(name=name, namespace=self._ns_name, labels=labels,
                              annotations={"pulumi.com/skipAwait": "true"} if skip_await else None)

    def claim_spec(self, vol: DataVolume) -> PersistentVolumeClaimSpecArgs:
        return PersistentVolumeClaimSpecArgs(
            access_modes=["ReadWriteOnce"],
            storage_class_name=self._settings.kubernetes.storage_class,
            resources=VolumeResourceRequirementsArgs(requests={"storage": vol.size}),
        )

    def claim(self, name: str, vol: DataVolume, labels: dict[str, str], opts: pulumi.ResourceOptions,
              retain: bool = False) -> PersistentVolumeClaim:
        """The fixed-name PVC of a single-instance workload's volume (retained also when `retain`)."""
        return PersistentVolumeClaim(
            f"{name}-{vol.k8s_name}",
            metadata=self.meta(vol.k8s_name, labels),
            spec=self.claim_spec(vol),
            opts=pulumi.ResourceOptions.merge(
                opts, pulumi.ResourceOptions(protect=self._protect, retain_on_delete=self._protect or retain)
            ),
        )

    def deploy(self, workload: Workload, parent: pulumi.Resource) -> DeployedWorkload:
        # Single instance, per-node agent or replicas: what differs is the layout's, decided once
        # (kubernetes_layouts.py); everything here is the same for every layout.
        layout = layout_for(workload)
        workload = layout.workload  # as the layout runs it: a cluster's members with their peer flags
        name = workload.name
        labels = self._labels(name)
        opts = pulumi.ResourceOptions(parent=parent, provider=self.provider)
        ctx = WorkloadContext(self, labels, opts)
        created: list[pulumi.Resource] = []

        # ConfigMap/Secrets, their volumes and the restart hash: components/targets/kubernetes_config.py.
        delivery = deliver_config(workload, self.meta, labels, opts)
        created += delivery.resources
        secret_env = sorted(workload.secret_env)
        sec = delivery.env_secret
        storage = layout.storage(ctx)
        created += storage.claims
        volumes = [*delivery.volumes, *storage.volumes]
        mounts = [*delivery.mounts, *storage.mounts]
        for i, host in enumerate(workload.host_mounts):
            volumes.append(VolumeArgs(name=f"host-{i}", host_path=HostPathVolumeSourceArgs(
                path=host.host_path, type=host.host_path_type)))
            mounts.append(VolumeMountArgs(name=f"host-{i}", mount_path=host.mount_path, read_only=host.read_only,
                                          mount_propagation=host.propagation))
        for i, path in enumerate(workload.root_filesystem.scratch_dirs):
            volumes.append(VolumeArgs(name=f"scratch-{i}", empty_dir=EmptyDirVolumeSourceArgs()))
            mounts.append(VolumeMountArgs(name=f"scratch-{i}", mount_path=path))

        env = [EnvVarArgs(name=k, value=v) for k, v in sorted(workload.env)]
        # The pod's own fields (downward API).
        env += [EnvVarArgs(name=k, value_from=EnvVarSourceArgs(field_ref=ObjectFieldSelectorArgs(field_path=path)))
                for k, path in sorted(workload.cluster_access.field_env)]
        if secret_env:
            assert sec is not None
            env += [EnvVarArgs(name=k, value_from=EnvVarSourceArgs(secret_key_ref=SecretKeySelectorArgs(
                name=sec.metadata.name, key=f"env_{k}"))) for k, _ in secret_env]

        service_account = None
        # The API token is mounted only into pods that talk to the API server (RBAC rules).
        needs_api = bool(workload.cluster_access.cluster_rules or workload.cluster_access.namespace_rules)
        if needs_api:
            service_account = self._rbac(workload, labels, opts, created)

        scheduling = layout.scheduling(ctx)
        pod = PodTemplateSpecArgs(
            metadata=ObjectMetaArgs(labels=labels, annotations=delivery.annotations or None),
            spec=PodSpecArgs(
                service_account_name=service_account,
                automount_service_account_token=needs_api,
                # Only a per-node agent reporting on its node shares the node's namespaces.
                host_pid=workload.placement.host_pid or None,
                host_network=workload.placement.host_network or None,
                security_context=self._pod_security(workload),
                tolerations=scheduling.tolerations,
                # Every image here is Linux-only: a pod scheduled onto a Windows node (mixed
                # clusters) never starts, and a DaemonSet would place one on each of them.
                node_selector={"kubernetes.io/os": "linux"},
                topology_spread_constraints=scheduling.spread,
                containers=[self._container(workload, env, mounts), *sidecar_containers(workload, delivery)],
                volumes=volumes,
            ),
        )
        # Pulumi waits for a Deployment to become ready and for a Service with a selector to have
        # ready endpoints (10 min, then fails the update). A workload that stays unready until a
        # backend outside the stack answers must not be awaited on any of its objects.
        # pulumi/pulumi-kubernetes@v4.32.0 provider/pkg/await/awaiters.go (v1/Service awaiter)
        # and await.go (metadata.SkipAwaitLogic skips it).
        meta = self.meta(name, labels, skip_await=workload.may_wait_for_backend)
        created.append(layout.controller(ctx, meta, pod))
        if workload.ports and self._settings.kubernetes.network_policies:
            created.append(self._network_policy(workload, labels, opts, layout.peer_rules(ctx)))
        if workload.ports:
            created.append(Service(
                f"{name}-service",
                metadata=meta,
                spec=ServiceSpecArgs(
                    type="ClusterIP",
                    selector=labels,
                    ports=service_ports(workload),
                ),
                opts=opts,
            ))
        created += layout.companions(ctx)
        # The Service's name in the cluster's DNS domain: what a pod in any namespace reaches it by.
        fqdn = f"{name}.{self.namespace}.svc.{self._settings.kubernetes.cluster_domain}"
        endpoints = {}
        for p in workload.ports:
            public = None
            if p.publish is not None:
                # Not exposed by the cluster: an operator reaches it with `kubectl port-forward`
                # on the same local port Docker would publish.
                public = f"localhost:{p.publish}"
                self._forwards[f"{name}-{p.name}" if len(workload.ports) > 1 else name] = (
                    f"{self._kubectl} -n {self.namespace} port-forward svc/{name} {p.publish}:{p.container_port}")
            endpoints[p.name] = Endpoint(internal=f"{fqdn}:{p.container_port}", public=public)
        if workload.ingress:
            ingress = workload.ingress
            created.append(self._ingress(workload, labels, opts))
            endpoints[ingress.port] = Endpoint(internal=endpoints[ingress.port].internal, public=ingress.host,
                                               public_scheme="https" if ingress.tls_secret_name else "http")
        return DeployedWorkload(name=name, endpoints=endpoints, resources=created)

    def _ingress(self, workload: Workload, labels: dict[str, str], opts: pulumi.ResourceOptions) -> pulumi.Resource:
        # Imported here: the networking SDK module costs ~20 ms, needed only for ingress/policies.
        from pulumi_kubernetes.networking.v1 import (
            HTTPIngressPathArgs,
            HTTPIngressRuleValueArgs,
            IngressBackendArgs,
            IngressRuleArgs,
            IngressServiceBackendArgs,
            IngressSpecArgs,
            IngressTLSArgs,
            ServiceBackendPortArgs,
        )
        from pulumi_kubernetes.networking.v1 import Ingress as IngressResource

        ingress = workload.ingress
        assert ingress is not None
        port = workload.port(ingress.port)
        return IngressResource(
            f"{workload.name}-ingress",
            metadata=self.meta(workload.name, labels),
            spec=IngressSpecArgs(
                ingress_class_name=ingress.class_name,
                tls=[IngressTLSArgs(hosts=[ingress.host], secret_name=ingress.tls_secret_name)]
                if ingress.tls_secret_name else None,
                rules=[IngressRuleArgs(host=ingress.host, http=HTTPIngressRuleValueArgs(paths=[HTTPIngressPathArgs(
                    path="/", path_type="Prefix",
                    backend=IngressBackendArgs(service=IngressServiceBackendArgs(
                        name=workload.name, port=ServiceBackendPortArgs(number=port.container_port))),
                )]))],
            ),
            opts=opts,
        )

    def _network_policy(self, workload: Workload, labels: dict[str, str], opts: pulumi.ResourceOptions,
                        extra_rules: list[NetworkPolicyIngressRuleArgs]) -> pulumi.Resource:
        """Ingress to the workload's ports only from the clients each port names (see Port.clients),
        and what the layout adds (a cluster's port between its members)."""
        from pulumi_kubernetes.networking.v1 import (
            NetworkPolicy,
            NetworkPolicyIngressRuleArgs,
            NetworkPolicyPeerArgs,
            NetworkPolicyPortArgs,
            NetworkPolicySpecArgs,
        )

        def namespaces(*names: str) -> list[NetworkPolicyPeerArgs]:
            return [NetworkPolicyPeerArgs(namespace_selector=LabelSelectorArgs(
                match_labels={"kubernetes.io/metadata.name": n})) for n in names]

        peers = {"stack": namespaces(self.namespace),
                 "apps": namespaces(self.namespace, self._settings.kubernetes.app_namespace)}
        rules = []
        for clients in ("stack", "apps", "any"):
            ports = [NetworkPolicyPortArgs(port=p.container_port, protocol=p.protocol)
                     for p in workload.ports if p.clients == clients]
            if ports:
                # No `from`: any source (Grafana's login protects it).
                rules.append(NetworkPolicyIngressRuleArgs(ports=ports, from_=peers.get(clients)))
        rules += extra_rules
        return NetworkPolicy(
            f"{workload.name}-network-policy",
            metadata=self.meta(workload.name, labels),
            spec=NetworkPolicySpecArgs(pod_selector=LabelSelectorArgs(match_labels=labels),
                                       policy_types=["Ingress"], ingress=rules),
            opts=opts,
        )

    @staticmethod
    def _pod_security(workload: Workload) -> PodSecurityContextArgs:
        if workload.user == "root":
            return PodSecurityContextArgs(seccomp_profile=SeccompProfileArgs(type="RuntimeDefault"))
        uid = workload.user
        return PodSecurityContextArgs(run_as_non_root=True, run_as_user=uid, run_as_group=uid, fs_group=uid,
                                      # Re-own the volume only when its root is not ours: a recursive
                                      # chown of a 200Gi TSDB on every restart takes minutes.
                                      fs_group_change_policy="OnRootMismatch",
                                      seccomp_profile=SeccompProfileArgs(type="RuntimeDefault"))

    @staticmethod
    def _container(workload: Workload, env: list[EnvVarArgs], mounts: list[VolumeMountArgs]) -> ContainerArgs:
        readiness = liveness = None
        if workload.health:
            health = workload.health
            ready = HTTPGetActionArgs(path=health.http_path, port=health.port)
            alive = HTTPGetActionArgs(path=health.live_path or health.http_path, port=health.live_port or health.port)
            readiness = ProbeArgs(http_get=ready, period_seconds=10, timeout_seconds=5, failure_threshold=3)
            if health.liveness:
                # Generous: a restart loses in-memory state (Prometheus replays its WAL on start).
                liveness = ProbeArgs(http_get=alive, initial_delay_seconds=30, period_seconds=30, timeout_seconds=5,
                                     failure_threshold=5)
        return ContainerArgs(
            name=workload.name,
            image=workload.image,
            command=list(workload.entrypoint) or None,
            args=list(workload.args),
            env=env,
            ports=[ContainerPortArgs(name=p.name, container_port=p.container_port, protocol=p.protocol)
                   for p in workload.ports],
            volume_mounts=mounts,
            resources=resource_requirements(workload.resources),
            security_context=hardened(workload.root_filesystem.read_only),
            readiness_probe=readiness,
            liveness_probe=liveness,
        )

    def _rbac(self, workload: Workload, labels: dict[str, str], opts: pulumi.ResourceOptions,
              created: list[pulumi.Resource]) -> pulumi.Output[str]:
        name = workload.name
        sa = ServiceAccount(f"{name}-sa", metadata=self.meta(name, labels), opts=opts)
        # Cluster-scoped names must not clash between stacks sharing a cluster.
        scoped = f"{self.namespace}-{name}"
        subjects = [SubjectArgs(kind="ServiceAccount", name=sa.metadata.name, namespace=self._ns_name)]
        created.append(sa)
        if workload.cluster_access.cluster_rules:
            role = ClusterRole(f"{name}-role", metadata=ObjectMetaArgs(name=scoped, labels=labels),
                               rules=_policy_rules(workload.cluster_access.cluster_rules), opts=opts)
            binding = ClusterRoleBinding(
                f"{name}-binding",
                metadata=ObjectMetaArgs(name=scoped, labels=labels),
                role_ref=RoleRefArgs(api_group="rbac.authorization.k8s.io", kind="ClusterRole",
                                     name=role.metadata.name),
                subjects=subjects,
                opts=opts,
            )
            created += [role, binding]
        # One Role and RoleBinding per namespace, in that namespace. Named like the ClusterRole: a
        # namespace (QuikApp's) may be read by the monitoring stacks of several namespaces.
        namespaces = sorted({r.namespace for r in workload.cluster_access.namespace_rules})
        for namespace in namespaces:
            # The namespaces by reference, so the Role waits for the Namespace the stack creates.
            known = {self.namespace: self._ns_name, self._settings.kubernetes.app_namespace: self._app_ns_name}
            ns: pulumi.Input[str] = known.get(namespace, namespace)
            meta = ObjectMetaArgs(name=scoped, namespace=ns, labels=labels)
            ns_role = Role(f"{name}-role-{namespace}", metadata=meta, opts=opts,
                           rules=_policy_rules(r for r in workload.cluster_access.namespace_rules
                                               if r.namespace == namespace))
            ns_binding = RoleBinding(
                f"{name}-binding-{namespace}",
                metadata=meta,
                role_ref=RoleRefArgs(api_group="rbac.authorization.k8s.io", kind="Role", name=ns_role.metadata.name),
                subjects=subjects,
                opts=opts,
            )
            created += [ns_role, ns_binding]
        return sa.metadata.name


