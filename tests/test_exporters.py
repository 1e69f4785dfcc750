"""The four infrastructure exporters: enabled per stack, in step with Prometheus, secrets kept secret."""

from __future__ import annotations

import functools
import json
from typing import Any

import kubernetes_validate
import pytest
import yaml

from components.services import EXPORTERS
from conftest import stack_run
from mockengine.manifests import (
    is_docker,
    is_kubernetes_object,
    k8s_container,
    k8s_object,
    k8s_objects,
    manifest,
    owned,
    plain,
    without_secrets,
)
from mockengine.program import STACKS, stack_config
from mockengine.rendered import workload_files
from mockengine.run import SECRET_SIG, Run, run_program
from mockengine.stand_ins import SENTINELS, with_secrets

CONTAINER = "docker:index/container:Container"
TYPES = {"redis": "quikapp:monitoring:RedisExporter", "postgres": "quikapp:monitoring:PostgresExporter",
         "kafka": "quikapp:monitoring:KafkaExporter", "nginx": "quikapp:monitoring:NginxExporter"}
HOSTS = {job.job: job.name for job in EXPORTERS}
PORTS = {job.job: job.port for job in EXPORTERS}
IMAGES = {"redis": "oliver006/redis_exporter:v1.88.0",
          "postgres": "quay.io/prometheuscommunity/postgres-exporter:v0.20.1",
          "kafka": "danielqsj/kafka-exporter:v1.9.0",
          "nginx": "nginx/nginx-prometheus-exporter:1.5.3"}
HEALTH = {"redis": "/health", "postgres": "/", "kafka": "/healthz", "nginx": "/"}
USERS = {"redis": 59000, "postgres": 65534, "kafka": 65534, "nginx": 1001}
# Only images with a shell and wget get a Docker HEALTHCHECK; redis and nginx are FROM scratch.
DOCKER_HEALTHCHECK = {"redis": False, "postgres": True, "kafka": True, "nginx": False}
DSN = SENTINELS[("exporters", "postgres", "dsn")]
ENABLED = {"dev": {"redis", "kafka", "nginx"}, "staging": set(HOSTS), "prod": set(HOSTS)}


# --- helpers -------------------------------------------------------------------------------------

def args_of(run: Run, name: str) -> list[str]:
    if is_docker(run):
        return list(plain(run.one(CONTAINER, name).inputs).get("command", []))
    return list(k8s_container(run, name).get("args", []))


def env_of(run: Run, name: str) -> dict[str, Any]:
    if is_docker(run):
        return dict(e.split("=", 1) for e in plain(run.one(CONTAINER, name).inputs).get("envs", []))
    env: dict[str, Any] = {}
    for var in k8s_container(run, name).get("env", []):
        env[var["name"]] = ("secret", var["valueFrom"]["secretKeyRef"]["key"]) if "valueFrom" in var else var["value"]
    return env


def deployed_exporters(run: Run) -> set[str]:
    """Exporters with a running workload: a Docker container or a Kubernetes Deployment + Service."""
    if is_docker(run):
        names = {plain(c.inputs)["networksAdvanced"][0]["aliases"][0] for c in run.of_type(CONTAINER)
                 if plain(c.inputs).get("networksAdvanced")}  # config copiers join no network
    else:
        names = {o["metadata"]["name"] for o in k8s_objects(run, "Service")}
        deployments = {o["metadata"]["name"] for o in k8s_objects(run, "Deployment")}
        assert {h for h in HOSTS.values() if h in names} == {h for h in HOSTS.values() if h in deployments}
    return {job for job, host in HOSTS.items() if host in names}


def job_targets(job: dict[str, Any]) -> list[str]:
    """`host:port` of a job: its static targets (Docker), or the Service;port pairs its discovery
    keeps (Kubernetes: the pods behind that Service and port, tests/test_discovery.py)."""
    if "static_configs" in job:
        return [t for sc in job["static_configs"] for t in sc["targets"]]
    keep = job["relabel_configs"][0]
    assert keep["action"] == "keep"
    return [pair.replace(";", ":") for pair in keep["regex"].strip("()").split("|")]


def scrape_targets(run: Run) -> dict[str, list[str]]:
    config = yaml.safe_load(workload_files(run)["prometheus"]["/etc/prometheus/prometheus.yml"])
    return {job["job_name"]: job_targets(job) for job in config["scrape_configs"] if job["job_name"] in HOSTS}


@functools.cache
def variant(stack: str, exporters: str) -> Run:
    """`stack` with its `exporters` config replaced by the JSON object `exporters`."""
    values = stack_config(stack)
    values["exporters"] = json.loads(exporters)
    return run_program(stack, *with_secrets(values))


ALL_OFF = json.dumps({x: {"enabled": False} for x in HOSTS})
PG_ON = json.dumps({"postgres": {"enabled": True}})


# --- which exporters run ----------------------------------------------------------------------------

@pytest.mark.parametrize("stack", STACKS)
def test_enabled_exporters_run_and_are_scraped(stack: str) -> None:
    run = stack_run(stack)
    assert deployed_exporters(run) == ENABLED[stack]
    assert {job for job, type_ in TYPES.items() if run.of_type(type_)} == ENABLED[stack]
    assert scrape_targets(run) == {job: [f"{HOSTS[job]}:{PORTS[job]}"] for job in ENABLED[stack]}


@pytest.mark.parametrize("stack", STACKS)
def test_disabled_exporters_leave_nothing_behind(stack: str) -> None:
    run = variant(stack, ALL_OFF)
    assert deployed_exporters(run) == set()
    assert not [r for r in run.resources if r.type in TYPES.values()]
    assert not [r for r in run.resources if "exporter" in r.name and not r.name.startswith("node-exporter")]
    assert scrape_targets(run) == {}
    # Without the exporter, no DSN is required and none is deployed.
    assert DSN not in json.dumps([plain(r.inputs) for r in run.resources])


def test_one_exporter_off_only_removes_that_one() -> None:
    run = variant("staging", json.dumps({"kafka": {"enabled": False}}))
    assert deployed_exporters(run) == {"redis", "postgres", "nginx"}
    assert set(scrape_targets(run)) == {"redis", "postgres", "nginx"}
    assert not [r for r in run.resources if r.name.startswith("kafka-exporter")]


# --- images, ports, health, users -------------------------------------------------------------------

@pytest.mark.parametrize("stack", STACKS)
def test_images_ports_and_dns_names(stack: str) -> None:
    run = stack_run(stack)
    for job in ENABLED[stack]:
        host = HOSTS[job]
        if is_docker(run):
            assert run.one("docker:index/remoteImage:RemoteImage", f"{host}-image").inputs["name"] == IMAGES[job]
            container = plain(run.one(CONTAINER, host).inputs)
            assert container["name"] == f"quikapp-{host}"
            assert container["networksAdvanced"][0]["aliases"] == [host]
            assert container["ports"] == []  # never published: only Prometheus, in-network, scrapes them
        else:
            container = k8s_container(run, host)
            assert container["image"] == IMAGES[job]
            assert container["ports"] == [{"name": "metrics", "containerPort": PORTS[job], "protocol": "TCP"}]
            service = k8s_object(run, "Service", host)
            assert service["spec"]["type"] == "ClusterIP"
            assert service["spec"]["ports"] == [
                {"name": "metrics", "port": PORTS[job], "targetPort": PORTS[job], "protocol": "TCP"}]


@pytest.mark.parametrize("stack", STACKS)
def test_health_checks(stack: str) -> None:
    run = stack_run(stack)
    for job in ENABLED[stack]:
        host = HOSTS[job]
        if is_docker(run):
            health = plain(run.one(CONTAINER, host).inputs).get("healthcheck")
            if DOCKER_HEALTHCHECK[job]:
                assert health["tests"] == ["CMD", "wget", "-q", "--spider", f"http://127.0.0.1:{PORTS[job]}{HEALTH[job]}"]
            else:
                assert health is None
        else:
            container = k8s_container(run, host)
            for probe in ("readinessProbe", "livenessProbe"):
                assert container[probe]["httpGet"] == {"path": HEALTH[job], "port": PORTS[job]}


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_non_root_users_and_limits(stack: str) -> None:
    run = stack_run(stack)
    for job in ENABLED[stack]:
        pod = k8s_object(run, "Deployment", HOSTS[job])["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsUser"] == USERS[job]
        assert pod["securityContext"]["runAsNonRoot"] is True
        container = pod["containers"][0]
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["resources"]["limits"]["memory"] == ("256Mi" if job == "kafka" else "128Mi")


def test_resources_come_from_settings() -> None:
    run = variant("staging", json.dumps({"redis": {"resources": {"memoryLimit": "64Mi", "cpuLimit": "100m"}}}))
    limits = k8s_container(run, "redis-exporter")["resources"]["limits"]
    assert limits == {"cpu": "100m", "memory": "64Mi"}


# --- per-exporter configuration ---------------------------------------------------------------------

@pytest.mark.parametrize(("stack", "address"), [
    ("dev", "redis:6379"), ("staging", "redis.quikapp.svc:6379"), ("prod", "redis.quikapp.svc:6379")])
def test_redis_address(stack: str, address: str) -> None:
    run = stack_run(stack)
    assert env_of(run, "redis-exporter") == {"REDIS_ADDR": f"redis://{address}"}
    # The host's memory for RedisOutOfMemory (tests/live/test_live_rules_can_fire.py scrapes the real exporter).
    assert args_of(run, "redis-exporter") == ["--include-system-metrics"]


@pytest.mark.parametrize(("stack", "brokers"), [
    ("dev", ["kafka:9092"]),
    ("staging", ["kafka.quikapp.svc:9092"]),
    ("prod", ["kafka-0.kafka.quikapp.svc:9092", "kafka-1.kafka.quikapp.svc:9092", "kafka-2.kafka.quikapp.svc:9092"]),
])
def test_kafka_one_server_flag_per_broker(stack: str, brokers: list[str]) -> None:
    assert args_of(stack_run(stack), "kafka-exporter") == [f"--kafka.server={b}" for b in brokers]


@pytest.mark.parametrize(("stack", "uri"), [
    ("dev", "http://nginx:8080/stub_status"), ("prod", "http://nginx.quikapp.svc:8080/stub_status")])
def test_nginx_scrape_uri(stack: str, uri: str) -> None:
    args = args_of(stack_run(stack), "nginx-exporter")
    # 1.x: kingpin flags; 0.x's -nginx.retries/-nginx.retry-interval no longer exist (fatal if passed).
    assert args == [f"--nginx.scrape-uri={uri}"]


# --- the PostgreSQL DSN is a secret everywhere ------------------------------------------------------

def test_postgres_dsn_on_docker_is_a_secret_env() -> None:
    run = variant("dev", PG_ON)
    assert deployed_exporters(run) == set(HOSTS)
    container = run.one(CONTAINER, "postgres-exporter")
    assert SECRET_SIG in container.inputs["envs"]  # the env list carrying the DSN is a Pulumi secret
    assert env_of(run, "postgres-exporter") == {"DATA_SOURCE_NAME": DSN}
    assert DSN not in json.dumps([without_secrets(r.inputs) for r in run.resources])
    assert DSN not in json.dumps(run.outputs)
    assert scrape_targets(run)["postgres"] == ["postgres-exporter:9187"]


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_postgres_dsn_on_kubernetes_is_a_secret_ref(stack: str) -> None:
    run = stack_run(stack)
    assert env_of(run, "postgres-exporter") == {"DATA_SOURCE_NAME": ("secret", "env_DATA_SOURCE_NAME")}
    secret_resource = run.one("kubernetes:core/v1:Secret", "postgres-exporter-secret")
    assert SECRET_SIG in secret_resource.inputs["stringData"]
    secret = manifest(secret_resource)
    assert secret["stringData"] == {"env_DATA_SOURCE_NAME": DSN}
    var = k8s_container(run, "postgres-exporter")["env"][0]
    assert var["valueFrom"]["secretKeyRef"]["name"] == secret["metadata"]["name"]
    assert "value" not in var
    for cm in k8s_objects(run, "ConfigMap"):
        assert DSN not in json.dumps(cm)
    for deployment in k8s_objects(run, "Deployment"):
        assert DSN not in json.dumps(deployment)
    assert DSN not in json.dumps([without_secrets(r.inputs) for r in run.resources])
    assert DSN not in json.dumps(run.outputs)


# --- Kubernetes schema --------------------------------------------------------------------------------

@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_kubernetes_objects_validate_strictly(stack: str) -> None:
    run = stack_run(stack)
    for job, type_ in TYPES.items():
        objects = [manifest(r) for r in owned(run, type_) if is_kubernetes_object(r)]
        kinds = {o["kind"] for o in objects}
        assert kinds >= {"Deployment", "Service"}, job
        assert ("Secret" in kinds) is (job == "postgres")
        assert "ConfigMap" not in kinds
        for obj in objects:
            kubernetes_validate.validate(obj, "1.30", strict=True)
