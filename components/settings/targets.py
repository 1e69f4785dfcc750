"""Settings of the two targets: the Docker host (`docker`) and the Kubernetes cluster (`kubernetes`)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from .base import DnsDomain, DnsLabel, DockerName, IpAddress, Model


class NetworkSettings(Model):
    name: DockerName = Field("QuikApp-network", description="The Docker network shared with QuikApp's containers.",
                             examples=["QuikApp-network"])
    external: bool = Field(False, description=(
        "Adopt a network that already exists instead of creating it (the seed's `external: true`)."),
        examples=[True])


class DockerSettings(Model):
    host: Annotated[str, Field(pattern=r"^(unix|tcp|ssh|npipe)://\S+$")] = Field(
        "unix:///var/run/docker.sock", description="The Docker engine to deploy to (unix, tcp, ssh or npipe).",
        examples=["ssh://deploy@dev-host"])
    # Loopback by default: Prometheus, Loki, Jaeger and the exporters have no authentication.
    publish_address: IpAddress = Field("127.0.0.1", description=(
        "The host address published ports bind to. Loopback keeps the tools' unauthenticated APIs off the "
        "network unless asked."), examples=["0.0.0.0"])
    network: NetworkSettings = NetworkSettings()


class KubernetesSettings(Model):
    context: str | None = Field(None, description=(
        "The kubeconfig context to deploy with (not with `kubeconfig`). Unset: the kubeconfig's current context."),
        examples=["quikapp-prod"])
    kubeconfig: str | None = Field(None, description=(
        "The path or the contents of a kubeconfig (not with `context`). Unset: `~/.kube/config`."),
        examples=["/etc/kube/prod.yaml"])
    namespace: DnsLabel = Field("monitoring", description="The namespace of the monitoring stack.",
                                examples=["monitoring"])
    create_namespace: bool = Field(True, description=(
        "Create the namespace (protected with `protectData`), labelled for Pod Security (`enforce: privileged` for "
        "the per-node agents, `warn`/`audit: restricted` for the rest: [OPERATIONS.md](OPERATIONS.md#pod-security)). "
        "`false`: adopt one that already exists; the preflight refuses one whose `enforce` label is stricter than "
        "`privileged`."), examples=[False])
    network_policies: bool = Field(True, description=(
        "A NetworkPolicy per tool, enforced where the cluster's network plugin supports them: its unauthenticated "
        "API only from the monitoring namespace; Loki and Jaeger's collectors also from `appNamespace`; Grafana "
        "from anywhere."), examples=[False])
    app_namespace: DnsLabel = Field("quikapp", description=(
        "The namespace where QuikApp's services run (the `appNamespace` output): Prometheus discovers the pods "
        "behind the catalog's Services there, with a read-only Role (list/watch EndpointSlices, Services, Pods) in "
        "that namespace only."), examples=["quikapp"])
    create_app_namespace: bool = Field(True, description=(
        "Ensure `appNamespace` exists: created when the cluster lacks it (a fresh cluster, before QuikApp is "
        "deployed), adopted unchanged when it exists (the stack declares only its name; server-side apply leaves "
        "everything else to its owner), and never deleted (retained on delete, also by `pulumi destroy`). `false`: "
        "it must exist before `pulumi up`, which the preflight checks."), examples=[False])
    storage_class: DnsLabel | None = Field(None, description=(
        "The StorageClass of every PVC. Unset: the cluster's default class. The preflight (`make up`, "
        "`make preview`) refuses a class the cluster lacks, or no class when the cluster has no default: such "
        "claims never bind."), examples=["ssd"])
    cluster_domain: DnsDomain = Field("cluster.local", description=(
        "The cluster's DNS domain (the kubelet's `--cluster-domain`): the in-cluster addresses the stack publishes "
        "are `<tool>.<namespace>.svc.<clusterDomain>` (`*InternalUrl`, `lokiPushUrl`, the OTLP/Zipkin/Jaeger "
        "endpoints, `instrumentation`). Alertmanager's members name each other in the short form "
        "`alertmanager-<i>.alertmanager-headless`, which each pod's resolver completes with its namespace and the "
        "cluster's domain, whatever it is. Datasources and Promtail use the bare Service names "
        "(`http://loki:<port>`) inside the namespace."), examples=["quikapp.internal"])

    @model_validator(mode="after")
    def _one_source(self) -> KubernetesSettings:
        if self.context and self.kubeconfig:
            raise ValueError("set either kubernetes.context or kubernetes.kubeconfig, not both")
        return self
