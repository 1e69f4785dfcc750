"""The real program under the mock engine: Prometheus fully wired on every stack's target."""

from __future__ import annotations

from typing import Any

import yaml

from conftest import stack_run
from mockengine.manifests import k8s_workload, plain
from mockengine.program import stack_config
from mockengine.rendered import workload_files
from mockengine.run import SECRET_SIG, run_program
from mockengine.stand_ins import with_secrets

PROM_ARGS = [
    "--config.file=/etc/prometheus/prometheus.yml",
    "--storage.tsdb.path=/prometheus",
]


def test_dev_targets_docker_and_the_others_kubernetes() -> None:
    assert stack_run("dev").of_type("pulumi:providers:docker")
    assert not stack_run("dev").of_type("pulumi:providers:kubernetes")
    for stack in ("staging", "prod"):
        assert stack_run(stack).of_type("pulumi:providers:kubernetes")
        assert not stack_run(stack).of_type("pulumi:providers:docker")


def test_components_parent_their_resources() -> None:
    run = stack_run("dev")
    component = run.one("quikapp:monitoring:Prometheus", "prometheus")
    container = run.one("docker:index/container:Container", "prometheus")
    assert container.parent == component.urn
    assert component.parent == run.one("quikapp:monitoring:MonitoringStack", "quikapp-monitoring").urn


def test_docker_prometheus_container() -> None:
    run = stack_run("dev")
    provider = plain(run.one("pulumi:providers:docker", "docker").inputs)
    assert provider["host"] == "unix:///var/run/docker.sock"
    image = plain(run.one("docker:index/remoteImage:RemoteImage", "prometheus-image").inputs)
    assert image["name"] == "prom/prometheus:v3.16.0"
    volume = plain(run.one("docker:index/volume:Volume", "prometheus-prometheus-data").inputs)
    assert volume["name"] == "prometheus_data"
    network = plain(run.one("docker:index/network:Network", "network").inputs)
    assert network["name"] == "QuikApp-network"

    record = run.one("docker:index/container:Container", "prometheus")
    container = plain(record.inputs)
    assert container["image"].startswith("sha256:")  # the RemoteImage's id, not a floating tag
    assert container["command"][:2] == PROM_ARGS
    assert "--storage.tsdb.retention.time=15d" in container["command"]
    # The data volume, and the config volume the copier refreshes (read-only for Prometheus).
    assert container["volumes"] == [{"volumeName": "prometheus_data", "containerPath": "/prometheus"},
                                    {"volumeName": "prometheus_config", "containerPath": "/etc/prometheus",
                                     "readOnly": True}]
    assert container["ports"] == [{"internal": 9090, "external": 9090, "ip": "127.0.0.1", "protocol": "tcp"}]
    assert container["networksAdvanced"] == [{"name": "QuikApp-network", "aliases": ["prometheus"]}]
    assert container["restart"] == "unless-stopped"
    assert container["healthcheck"]["tests"][0] == "CMD"
    # Every Prometheus file is live: none is an upload of the container (a change would replace it);
    # the one-shot copier carries them into the config volume.
    assert "uploads" not in container
    copier = plain(run.one("docker:index/container:Container", "prometheus-config").inputs)
    assert sorted(u["file"] for u in copier["uploads"]) == ["/staging/0/prometheus.yml"] + [
        f"/staging/0/rules/{name}" for name in (
            "alertmanager-mixin.yml", "alerts.yml", "catalog.yml", "containers.yml", "kafka.yml", "micrometer.yml",
            "nginx.yml", "node-mixin.yml", "opentelemetry.yml", "prometheus-mixin.yml", "redis-mixin.yml", "redis.yml")]
    assert copier["volumes"] == [{"volumeName": "prometheus_config", "containerPath": "/config/0"}]
    assert record.delete_before_replace is True
    assert "healthcheck" in record.replace_on_changes
    # Resource references, not names typed twice: the engine orders creation by them.
    deps = set(record.dependencies)
    assert run.one("docker:index/remoteImage:RemoteImage", "prometheus-image").urn in deps
    assert run.one("docker:index/volume:Volume", "prometheus-prometheus-data").urn in deps
    assert run.one("docker:index/network:Network", "network").urn in deps
    assert run.one("docker:index/container:Container", "prometheus-config").urn in deps  # files first


def _dev_with(**changes: Any) -> tuple[dict[str, Any], set[str]]:
    values = stack_config("dev")
    for key, value in changes.items():
        values[key] = {**values.get(key, {}), **value}
    return with_secrets(values)


def test_docker_external_network_is_adopted_not_created() -> None:
    values = _dev_with(docker={"network": {"name": "QuikApp-network", "external": True}})
    run = run_program("dev", *values)
    assert not run.of_type("docker:index/network:Network")
    container = plain(run.one("docker:index/container:Container", "prometheus").inputs)
    assert container["networksAdvanced"][0]["name"] == "QuikApp-network"
    assert run.outputs["network"] == "QuikApp-network"


def test_docker_publish_address_and_retention_come_from_settings() -> None:
    values = _dev_with(docker={"publishAddress": "10.1.2.3"}, prometheus={"retention": "45d"})
    run = run_program("dev", *values)
    container = plain(run.one("docker:index/container:Container", "prometheus").inputs)
    assert {p["ip"] for p in container["ports"]} == {"10.1.2.3"}
    assert "--storage.tsdb.retention.time=45d" in container["command"]
    assert run.outputs["prometheusUrl"] == "http://10.1.2.3:9090"


def test_kubernetes_prometheus_objects() -> None:
    run = stack_run("prod")
    provider = plain(run.one("pulumi:providers:kubernetes", "kubernetes").inputs)
    assert provider["context"] == "quikapp-prod"
    namespace = plain(run.one("kubernetes:core/v1:Namespace", "namespace").inputs)
    assert namespace["metadata"]["name"] == "monitoring"

    pvc = plain(run.one("kubernetes:core/v1:PersistentVolumeClaim", "prometheus-prometheus-data").inputs)
    assert pvc["spec"]["resources"]["requests"]["storage"] == "200Gi"
    assert pvc["spec"]["storageClassName"] == "ssd"
    assert pvc["spec"]["accessModes"] == ["ReadWriteOnce"]

    # highAvailability (prod's default): two replicas, each with its own volume (tests/test_ha.py).
    workload = k8s_workload(run, "prometheus")
    assert workload["kind"] == "StatefulSet" and workload["spec"]["replicas"] == 2
    assert workload["metadata"]["namespace"] == "monitoring"
    (template,) = workload["spec"]["volumeClaimTemplates"]
    assert template["spec"] == pvc["spec"]  # the same claim as the single-instance layout's, per replica
    pod = workload["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["image"] == "prom/prometheus:v3.16.0"
    assert container["args"][:2] == PROM_ARGS
    assert "--storage.tsdb.retention.time=30d" in container["args"]
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert mounts["/prometheus"]["name"] == "prometheus-data" == template["metadata"]["name"]
    assert not [v for v in pod["volumes"] if v["name"] == "prometheus-data"]  # the StatefulSet adds it
    assert container["readinessProbe"]["httpGet"] == {"path": "/-/ready", "port": 9090}
    assert container["resources"]["limits"] == {"cpu": "4", "memory": "8Gi"}
    assert pod["securityContext"]["runAsNonRoot"] is True

    service = plain(run.one("kubernetes:core/v1:Service", "prometheus-service").inputs)
    assert service["metadata"]["name"] == "prometheus"  # same DNS name as on Docker
    assert service["spec"]["type"] == "ClusterIP"
    assert service["spec"]["ports"] == [{"name": "http", "port": 9090, "targetPort": 9090, "protocol": "TCP"}]


def test_kubernetes_config_targets_the_app_namespace() -> None:
    config = yaml.safe_load(workload_files(stack_run("staging"))["prometheus"]["/etc/prometheus/prometheus.yml"])
    spring = next(j for j in config["scrape_configs"] if j["job_name"] == "spring-services")
    # The pods behind the catalog's Services in QuikApp's namespace (tests/test_discovery.py).
    assert spring["kubernetes_sd_configs"] == [{"role": "endpointslice", "namespaces": {"names": ["quikapp"]}}]
    assert spring["relabel_configs"][0]["regex"].startswith("(auth-service;8001|")
    assert spring["metrics_path"] == "/actuator/prometheus"
    assert config["alerting"]["alertmanagers"][0]["kubernetes_sd_configs"] == [
        {"role": "endpointslice", "namespaces": {"names": ["monitoring"]}}]
    # highAvailability: the pair's cluster (the stack's name) and each replica's pod name.
    assert config["global"]["external_labels"] == {"environment": "staging", "cluster": "staging",
                                                    "__replica__": "${POD_NAME}"}


def test_same_prometheus_rules_on_both_targets() -> None:
    dev = workload_files(stack_run("dev"))["prometheus"]
    prod = workload_files(stack_run("prod"))["prometheus"]
    assert dev["/etc/prometheus/rules/alerts.yml"] == prod["/etc/prometheus/rules/alerts.yml"]


def test_prod_protects_state_and_staging_does_not() -> None:
    prod, staging = stack_run("prod"), stack_run("staging")
    for run, protected in ((prod, True), (staging, False)):
        pvc = run.one("kubernetes:core/v1:PersistentVolumeClaim", "prometheus-prometheus-data")
        namespace = run.one("kubernetes:core/v1:Namespace", "namespace")
        # The single-instance PVC a highAvailability stack keeps is retained either way (docs/UPGRADING.md).
        assert pvc.protect is protected and pvc.retain_on_delete is True
        assert namespace.protect is protected


def test_prometheus_outputs_per_target() -> None:
    assert stack_run("dev").outputs["prometheusUrl"] == "http://127.0.0.1:9090"
    assert stack_run("dev").outputs["prometheusInternalUrl"] == "http://prometheus:9090"
    assert stack_run("dev").outputs["network"] == "QuikApp-network"
    prod = stack_run("prod").outputs
    assert prod["prometheusInternalUrl"] == "http://prometheus.monitoring.svc.cluster.local:9090"
    assert prod["namespace"] == "monitoring"


def test_no_secret_marker_in_prometheus_inputs() -> None:
    """Prometheus takes no secrets: nothing it renders should be a secret (it would hide diffs)."""
    for stack in ("dev", "prod"):
        for record in stack_run(stack).resources:
            if record.name.startswith("prometheus"):
                assert SECRET_SIG not in repr(record.inputs), record.name
