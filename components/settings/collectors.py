"""Settings of the collectors of host, container and cluster metrics (`collectors`)."""

from __future__ import annotations

from pydantic import Field

from .base import Model
from .workloads import Resources


class NodeExporterSettings(Model):
    """Host metrics: a DaemonSet on Kubernetes, one container on the Docker host."""

    enabled: bool = Field(True, description=(
        "node-exporter (job `node-exporter`): a DaemonSet on Kubernetes, one container on Docker. Turn it off where "
        "the cluster already runs one on port 9100 (host network: two cannot bind it)."), examples=[False])
    resources: Resources = Field(
        Resources(cpu_request="50m", memory_request="32Mi", cpu_limit="250m", memory_limit="180Mi"),
        description="node-exporter's requests and limits.")


class CadvisorSettings(Model):
    """Container metrics: a cAdvisor container on Docker; on Kubernetes the kubelet's built-in
    cAdvisor (`/metrics/cadvisor`) is scraped instead, and `resources` does not apply."""

    enabled: bool = Field(True, description=(
        "Container metrics (job `cadvisor`): on Docker a cAdvisor container; on Kubernetes the kubelets' built-in "
        "cAdvisor (`/metrics/cadvisor`), no workload."), examples=[False])
    resources: Resources = Field(
        Resources(cpu_request="100m", memory_request="128Mi", cpu_limit="1", memory_limit="512Mi"), description=(
            "Docker's cAdvisor only: its requests and limits. Its memory grows with the number of containers on "
            "the host."))


class KubeStateMetricsSettings(Model):
    """Cluster object state (Kubernetes only)."""

    enabled: bool = Field(True, description="kube-state-metrics (job `kube-state-metrics`), Kubernetes only.",
                          examples=[False])
    resources: Resources = Field(
        Resources(cpu_request="50m", memory_request="128Mi", cpu_limit="500m", memory_limit="512Mi"), description=(
            "kube-state-metrics' requests and limits. Its memory grows with the number of objects in the cluster."))


class KubeletSettings(Model):
    """The kubelets' own metrics (Kubernetes only), scraped from each node's kubelet port."""

    enabled: bool = Field(True, description="The kubelets' own metrics (job `kubelet`), Kubernetes only.",
                          examples=[False])
    insecure_skip_verify: bool = Field(True, description=(
        "Skip verifying the kubelets' serving certificates (jobs `kubelet` and `cadvisor`). They are self-signed "
        "on kubeadm clusters unless `serverTLSBootstrap` is on, as kube-prometheus-stack assumes; `false` verifies "
        "them against the cluster CA."), examples=[False])


class CollectorsSettings(Model):
    node_exporter: NodeExporterSettings = NodeExporterSettings()
    cadvisor: CadvisorSettings = CadvisorSettings()
    kube_state_metrics: KubeStateMetricsSettings = KubeStateMetricsSettings()
    kubelet: KubeletSettings = KubeletSettings()
