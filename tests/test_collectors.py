"""Host, container and cluster collectors: what runs on each target, read-only, least privilege, switchable."""

from __future__ import annotations

import functools
import json
from typing import Any

import pytest
import yaml

from components.collectors import KSM_RESOURCES
from components.settings.model import Images
from conftest import stack_run
from mockengine.manifests import is_docker, k8s_object, k8s_objects, plain
from mockengine.program import STACKS, stack_config
from mockengine.rendered import workload_files
from mockengine.run import Run, run_program
from mockengine.stand_ins import with_secrets

CONTAINER = "docker:index/container:Container"
KUBERNETES_STACKS = [s for s in STACKS if not is_docker(stack_run(s))]
TYPES = {"node-exporter": "quikapp:monitoring:NodeExporter", "cadvisor": "quikapp:monitoring:Cadvisor",
         "kube-state-metrics": "quikapp:monitoring:KubeStateMetrics"}
# The scrape jobs, named as the upstream mixins select them (job="node-exporter" ...).
JOBS = {"docker": ["node-exporter", "cadvisor"],
        "kubernetes": ["node-exporter", "kube-state-metrics", "kubelet", "cadvisor"]}


def prometheus_jobs(run: Run) -> dict[str, dict[str, Any]]:
    config = yaml.safe_load(workload_files(run)["prometheus"]["/etc/prometheus/prometheus.yml"])
    return {j["job_name"]: j for j in config["scrape_configs"]}


def container(run: Run, alias: str) -> dict[str, Any]:
    return next(c for c in (plain(r.inputs) for r in run.of_type(CONTAINER))
                if c.get("networksAdvanced", [{}])[0].get("aliases") == [alias])


@functools.cache
def variant(stack: str, collectors: str) -> Run:
    """`stack` with `collectors` (a JSON object) as its collectors config."""
    values = stack_config(stack)
    values["collectors"] = json.loads(collectors)
    return run_program(stack, *with_secrets(values))


# --- what runs where ----------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_each_target_runs_its_collectors_and_scrapes_them_by_the_mixins_job_names(stack: str) -> None:
    run = stack_run(stack)
    kind = "docker" if is_docker(run) else "kubernetes"
    deployed = {job for job, type_ in TYPES.items() if run.of_type(type_)}
    assert deployed == ({"node-exporter", "cadvisor"} if kind == "docker" else {"node-exporter", "kube-state-metrics"})
    jobs = list(prometheus_jobs(run))
    assert jobs[-len(JOBS[kind]):] == JOBS[kind]


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize("collector", ["nodeExporter", "cadvisor", "kubeStateMetrics", "kubelet"])
def test_each_collector_can_be_switched_off(stack: str, collector: str) -> None:
    run = variant(stack, json.dumps({collector: {"enabled": False}}))
    job = {"nodeExporter": "node-exporter", "cadvisor": "cadvisor", "kubeStateMetrics": "kube-state-metrics",
           "kubelet": "kubelet"}[collector]
    kind = "docker" if is_docker(run) else "kubernetes"
    assert job not in prometheus_jobs(run)
    expected = [j for j in JOBS[kind] if j != job]  # on Docker, kube-state-metrics and kubelet never run
    assert list(prometheus_jobs(run))[-len(expected):] == expected
    if job in TYPES:
        assert not run.of_type(TYPES[job])
        assert not [r for r in run.resources if r.name.startswith(job)]


@pytest.mark.parametrize("stack", KUBERNETES_STACKS)
def test_without_kubelet_scrapes_prometheus_has_no_cluster_role(stack: str) -> None:
    run = variant(stack, json.dumps({"kubelet": {"enabled": False}, "cadvisor": {"enabled": False}}))
    assert not [r for r in k8s_objects(run, "ClusterRole") if r["metadata"]["name"] == "monitoring-prometheus"]
    # Discovery in the two namespaces stays.
    assert len([r for r in k8s_objects(run, "Role") if r["metadata"]["name"] == "monitoring-prometheus"]) == 2


# --- node-exporter ------------------------------------------------------------------------------

NODE_EXPORTER_ARGS = ["--path.procfs=/host/proc", "--path.sysfs=/host/sys", "--path.rootfs=/host/root",
                      "--path.udev.data=/host/root/run/udev/data", "--web.listen-address=:9100"]


@pytest.mark.parametrize("stack", KUBERNETES_STACKS)
def test_kubernetes_node_exporter_is_a_daemonset_on_the_hosts_namespaces_reading_the_host_read_only(
        stack: str) -> None:
    daemonset = k8s_object(stack_run(stack), "DaemonSet", "node-exporter")
    pod = daemonset["spec"]["template"]["spec"]
    # As prometheus-community/helm-charts prometheus-node-exporter-4.56.1 values.yaml.
    assert pod["hostNetwork"] is True and pod["hostPID"] is True
    assert "hostIPC" not in pod
    assert pod["automountServiceAccountToken"] is False  # it never calls the API server
    assert pod["securityContext"]["runAsUser"] == 65534 and pod["securityContext"]["runAsNonRoot"] is True
    (ne,) = pod["containers"]
    assert ne["image"] == "prom/node-exporter:v1.12.1"
    assert ne["args"] == NODE_EXPORTER_ARGS
    assert ne["securityContext"]["readOnlyRootFilesystem"] is True
    assert ne["securityContext"]["allowPrivilegeEscalation"] is False
    volumes = {v["name"]: v["hostPath"]["path"] for v in pod["volumes"] if "hostPath" in v}
    mounts = {volumes[m["name"]]: m for m in ne["volumeMounts"] if m["name"] in volumes}
    assert {path: m["mountPath"] for path, m in mounts.items()} == {
        "/proc": "/host/proc", "/sys": "/host/sys", "/": "/host/root"}
    assert all(m["readOnly"] is True for m in mounts.values())
    assert mounts["/"]["mountPropagation"] == "HostToContainer"
    assert "mountPropagation" not in mounts["/proc"]
    assert ne["readinessProbe"]["httpGet"] == {"path": "/", "port": 9100}
    assert pod["tolerations"] == [{"operator": "Exists"}]  # every node, tainted ones too


def test_docker_node_exporter_reads_the_host_read_only_inside_the_network() -> None:
    ne = container(stack_run("dev"), "node-exporter")
    assert ne["command"] == NODE_EXPORTER_ARGS
    assert ne["volumes"] == [
        {"hostPath": "/proc", "containerPath": "/host/proc", "readOnly": True},
        {"hostPath": "/sys", "containerPath": "/host/sys", "readOnly": True},
        {"hostPath": "/", "containerPath": "/host/root", "readOnly": True},
    ]
    assert ne["user"] == "65534"
    assert not ne.get("ports")  # only Prometheus scrapes it, over the network
    assert "networkMode" not in ne and "pidMode" not in ne


# --- cAdvisor -----------------------------------------------------------------------------------


def test_docker_cadvisor_reads_docker_and_the_host_read_only() -> None:
    ca = container(stack_run("dev"), "cadvisor")
    # google/cadvisor@v0.60.6 README.md, without --privileged and /dev/kmsg.
    assert ca["volumes"] == [
        {"hostPath": "/", "containerPath": "/rootfs", "readOnly": True},
        {"hostPath": "/var/run", "containerPath": "/var/run", "readOnly": True},
        {"hostPath": "/sys", "containerPath": "/sys", "readOnly": True},
        {"hostPath": "/var/lib/docker", "containerPath": "/var/lib/docker", "readOnly": True},
        {"hostPath": "/dev/disk", "containerPath": "/dev/disk", "readOnly": True},
    ]
    assert ca["command"] == ["--docker_only=true", "--store_container_labels=false"]
    assert not ca.get("privileged") and not ca.get("devices")
    assert not ca.get("ports")
    assert ca["healthcheck"]["tests"] == ["CMD", "wget", "-q", "--spider", "http://127.0.0.1:8080/healthz"]


# cAdvisor's Docker API client is pinned with every other Docker-talking image in tests/test_docker_api.py.


# --- kube-state-metrics -------------------------------------------------------------------------

# kubernetes/kube-state-metrics@v2.20.0 examples/standard/cluster-role.yaml, group -> resources
# with list/watch (transcribed; tokenreviews/subjectaccessreviews `create` left out).
UPSTREAM_KSM_LIST_WATCH = {
    "": {"configmaps", "secrets", "nodes", "pods", "services", "serviceaccounts", "resourcequotas",
         "replicationcontrollers", "limitranges", "persistentvolumeclaims", "persistentvolumes", "namespaces",
         "endpoints"},
    "apps": {"statefulsets", "daemonsets", "deployments", "replicasets"},
    "batch": {"cronjobs", "jobs"},
    "autoscaling": {"horizontalpodautoscalers"},
    "policy": {"poddisruptionbudgets"},
    "certificates.k8s.io": {"certificatesigningrequests"},
    "discovery.k8s.io": {"endpointslices"},
    "storage.k8s.io": {"storageclasses", "volumeattachments"},
    "admissionregistration.k8s.io": {"mutatingadmissionpolicies", "mutatingadmissionpolicybindings",
                                     "mutatingwebhookconfigurations", "validatingadmissionpolicies",
                                     "validatingadmissionpolicybindings", "validatingwebhookconfigurations"},
    "networking.k8s.io": {"networkpolicies", "ingresses", "ingressclasses"},
    "coordination.k8s.io": {"leases"},
    "rbac.authorization.k8s.io": {"clusterrolebindings", "clusterroles", "rolebindings", "roles"},
}


@pytest.mark.parametrize("stack", KUBERNETES_STACKS)
def test_kube_state_metrics_may_only_list_and_watch_what_it_exports(stack: str) -> None:
    run = stack_run(stack)
    role = k8s_object(run, "ClusterRole", "monitoring-kube-state-metrics")
    granted = {(group, resource) for rule in role["rules"] for group in rule["apiGroups"]
               for resource in rule["resources"]}
    assert all(rule["verbs"] == ["list", "watch"] for rule in role["rules"])
    # Each one a rule of upstream's own role ...
    assert all(resource in UPSTREAM_KSM_LIST_WATCH[group] for group, resource in granted)
    # ... and no reader of secret or config contents.
    assert not {r for _, r in granted} & {"secrets", "configmaps"}
    (ksm,) = k8s_object(run, "Deployment", "kube-state-metrics")["spec"]["template"]["spec"]["containers"]
    (resources_arg,) = [a for a in ksm["args"] if a.startswith("--resources=")]
    assert set(resources_arg.removeprefix("--resources=").split(",")) == {r for _, r in granted}
    assert {g for g, _ in granted} == set(KSM_RESOURCES)
    assert ksm["image"] == "registry.k8s.io/kube-state-metrics/kube-state-metrics:v2.20.0"
    # As upstream's examples/standard/deployment.yaml.
    assert ksm["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": 8081}
    assert ksm["livenessProbe"]["httpGet"] == {"path": "/livez", "port": 8080}
    assert ksm["securityContext"]["readOnlyRootFilesystem"] is True
    # Only the one label kubernetes-mixin's storage alerts read (pvExcludedSelector), nothing wider.
    assert [a for a in ksm["args"] if a.startswith("--metric-labels")] == [
        "--metric-labels-allowlist=persistentvolumeclaims=[excluded-from-alerts]"]


@pytest.mark.parametrize("stack", KUBERNETES_STACKS)
def test_kube_state_metrics_binding_is_its_own_service_account(stack: str) -> None:
    run = stack_run(stack)
    binding = k8s_object(run, "ClusterRoleBinding", "monitoring-kube-state-metrics")
    account = k8s_object(run, "ServiceAccount", "kube-state-metrics")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": account["metadata"]["name"],
                                    "namespace": "monitoring"}]
    pod = k8s_object(run, "Deployment", "kube-state-metrics")["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == account["metadata"]["name"]


# --- kubelet and cAdvisor through the kubelet (Kubernetes) ----------------------------------------


@pytest.mark.parametrize("stack", KUBERNETES_STACKS)
def test_kubelet_jobs_authenticate_with_the_service_account_token(stack: str) -> None:
    jobs = prometheus_jobs(stack_run(stack))
    for job, path in (("kubelet", "/metrics"), ("cadvisor", "/metrics/cadvisor")):
        assert jobs[job]["scheme"] == "https" and jobs[job]["metrics_path"] == path
        assert jobs[job]["authorization"] == {"credentials_file": "/var/run/secrets/kubernetes.io/serviceaccount/token"}
        assert jobs[job]["honor_labels"] is True
        # Kubelet serving certificates are self-signed on kubeadm clusters by default: as
        # kube-prometheus-stack's kubelet.serviceMonitor.insecureSkipVerify, unless the stack says.
        assert jobs[job]["tls_config"]["insecure_skip_verify"] is True
    verified = prometheus_jobs(variant(KUBERNETES_STACKS[0], json.dumps({"kubelet": {"insecureSkipVerify": False}})))
    assert verified["kubelet"]["tls_config"] == {"ca_file": "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"}


def test_images_are_the_pinned_collector_releases() -> None:
    images = Images()
    assert images.node_exporter == "prom/node-exporter:v1.12.1"
    assert images.cadvisor == "ghcr.io/google/cadvisor:0.60.6"
    assert images.kube_state_metrics == "registry.k8s.io/kube-state-metrics/kube-state-metrics:v2.20.0"
