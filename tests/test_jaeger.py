"""Jaeger all-in-one on both targets: image, ports, storage variants, secrets, outputs, manifests."""

from __future__ import annotations

import functools
import json
from typing import Any

import kubernetes_validate
import pytest

from components.jaeger import go_duration
from conftest import stack_run
from harness import SECRET_SIG, SENTINELS, STACKS, Run, run_program, stack_config, with_secrets
from manifests import (
    is_docker,
    is_kubernetes_object,
    k8s_container,
    k8s_object,
    manifest,
    owned,
    plain,
    without_secrets,
)

JAEGER = "quikapp:monitoring:Jaeger"
CONTAINER = "docker:index/container:Container"
PUBLISHED = {16686, 14268, 4317, 4318, 9411}
SERVICE_PORTS = {"query": 16686, "collector-http": 14268, "otlp-grpc": 4317, "otlp-http": 4318, "zipkin": 9411,
                 "admin": 14269}
ES_PASSWORD = SENTINELS[("jaeger", "elasticsearch", "password")]


# --- helpers -------------------------------------------------------------------------------------

def env_of(run: Run, name: str) -> dict[str, Any]:
    """Plain env values by name; a Kubernetes Secret reference shows as ('secret', key)."""
    if is_docker(run):
        envs = plain(run.one(CONTAINER, name).inputs["envs"])
        return dict(e.split("=", 1) for e in envs)
    env: dict[str, Any] = {}
    for var in k8s_container(run, name).get("env", []):
        if "valueFrom" in var:
            ref = var["valueFrom"]["secretKeyRef"]
            env[var["name"]] = ("secret", ref["key"])
        else:
            env[var["name"]] = var["value"]
    return env


def plain_text_of(run: Run) -> str:
    return json.dumps([without_secrets(r.inputs) for r in run.resources]) + json.dumps(run.outputs)


@functools.cache
def variant(stack: str, overrides: str) -> Run:
    """`stack` with its `jaeger`/`docker` config objects replaced (overrides: JSON {key: object})."""
    values = stack_config(stack)
    values.update(json.loads(overrides))
    return run_program(stack, *with_secrets(values))


ES = json.dumps({"jaeger": {"storage": "elasticsearch", "elasticsearch": {
    "serverUrls": ["https://es-0.search:9200", "https://es-1.search:9200"], "indexPrefix": "quikapp",
    "username": "jaeger"}}})


# --- component, image, ports ----------------------------------------------------------------------

def test_one_jaeger_component_with_the_pinned_image(run: Run) -> None:
    components = run.of_type(JAEGER)
    assert [c.name for c in components] == ["jaeger"]
    if is_docker(run):
        assert run.one("docker:index/remoteImage:RemoteImage", "jaeger-image").inputs["name"] == \
            "jaegertracing/all-in-one:1.50"
        container = plain(run.one(CONTAINER, "jaeger").inputs)
        assert container["name"] == "quikapp-jaeger"
        assert container["networksAdvanced"][0]["aliases"] == ["jaeger"]
    else:
        assert k8s_container(run, "jaeger")["image"] == "jaegertracing/all-in-one:1.50"
        assert k8s_object(run, "Service", "jaeger")["spec"]["type"] == "ClusterIP"


def test_ports_and_publishing(run: Run) -> None:
    if is_docker(run):
        ports = plain(run.one(CONTAINER, "jaeger").inputs)["ports"]
        assert {p["internal"] for p in ports} == PUBLISHED  # admin 14269 stays inside the network
        for port in ports:
            assert port["external"] == port["internal"]
            assert port["ip"] == "127.0.0.1"  # dev's docker.publishAddress
            assert port["protocol"] == "tcp"
    else:
        service = k8s_object(run, "Service", "jaeger")
        assert {p["name"]: p["port"] for p in service["spec"]["ports"]} == SERVICE_PORTS
        assert all(p["targetPort"] == p["port"] for p in service["spec"]["ports"])
        container = k8s_container(run, "jaeger")
        assert {p["name"]: p["containerPort"] for p in container["ports"]} == SERVICE_PORTS


def test_ports_bind_to_the_publish_address() -> None:
    run = variant("dev", json.dumps({"docker": {"publishAddress": "10.20.30.40"}}))
    ports = plain(run.one(CONTAINER, "jaeger").inputs)["ports"]
    assert {p["ip"] for p in ports} == {"10.20.30.40"}
    assert run.outputs["jaegerUiUrl"] == "http://10.20.30.40:16686/jaeger"


# --- configuration shared by every storage ----------------------------------------------------------

@pytest.mark.parametrize("stack", STACKS)
def test_collectors_and_base_path(stack: str) -> None:
    env = env_of(stack_run(stack), "jaeger")
    assert env["COLLECTOR_OTLP_ENABLED"] == "true"
    assert env["COLLECTOR_OTLP_GRPC_HOST_PORT"] == ":4317"
    assert env["COLLECTOR_OTLP_HTTP_HOST_PORT"] == ":4318"
    assert env["COLLECTOR_ZIPKIN_HOST_PORT"] == ":9411"  # off by default in Jaeger
    assert env["QUERY_BASE_PATH"] == "/jaeger"
    expected = "memory" if stack == "dev" else "badger"  # dev sets memory; badger is the default
    assert env["SPAN_STORAGE_TYPE"] == expected


def test_health_checks(run: Run) -> None:
    if is_docker(run):
        health = plain(run.one(CONTAINER, "jaeger").inputs)["healthcheck"]
        assert health["tests"] == ["CMD", "wget", "-q", "--spider", "http://127.0.0.1:14269/"]
    else:
        container = k8s_container(run, "jaeger")
        for probe in ("readinessProbe", "livenessProbe"):
            assert container[probe]["httpGet"] == {"path": "/", "port": 14269}


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_runs_as_uid_10001_on_kubernetes(stack: str) -> None:
    # Docker runs the image's own USER, 10001 since Jaeger 1.50.
    run = stack_run(stack)
    pod = k8s_object(run, "Deployment", "jaeger")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsUser"] == 10001
    assert pod["securityContext"]["fsGroup"] == 10001
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is True


# --- storage ----------------------------------------------------------------------------------------

def test_memory_storage_caps_traces_and_has_no_volume() -> None:
    run = stack_run("dev")
    env = env_of(run, "jaeger")
    assert env["MEMORY_MAX_TRACES"] == "50000"
    assert not any(k.startswith(("BADGER_", "ES_")) for k in env)
    assert not [v for v in run.of_type("docker:index/volume:Volume") if v.inputs["name"] == "jaeger_data"]
    assert plain(run.one(CONTAINER, "jaeger").inputs)["volumes"] == []

    capped = variant("dev", json.dumps({"jaeger": {"storage": "memory", "maxTraces": 20000}}))
    assert env_of(capped, "jaeger")["MEMORY_MAX_TRACES"] == "20000"


def test_memory_storage_on_kubernetes_keeps_tmp_writable() -> None:
    run = variant("staging", json.dumps({"jaeger": {"storage": "memory"}}))
    assert not [r for r in run.of_type("kubernetes:core/v1:PersistentVolumeClaim") if "jaeger" in r.name]
    pod = k8s_object(run, "Deployment", "jaeger")["spec"]["template"]["spec"]
    assert pod["containers"][0]["volumeMounts"] == [{"name": "scratch-0", "mountPath": "/tmp"}]
    assert pod["volumes"] == [{"name": "scratch-0", "emptyDir": {}}]


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_badger_on_a_persistent_volume_on_kubernetes(stack: str) -> None:
    run = stack_run(stack)
    env = env_of(run, "jaeger")
    assert env["BADGER_EPHEMERAL"] == "false"
    assert env["BADGER_DIRECTORY_KEY"] == "/tmp/badger/keys"
    assert env["BADGER_DIRECTORY_VALUE"] == "/tmp/badger/values"
    assert env["BADGER_SPAN_STORE_TTL"] == "72h"
    assert "MEMORY_MAX_TRACES" not in env
    pvc_resource = run.one("kubernetes:core/v1:PersistentVolumeClaim", "jaeger-jaeger-data")
    pvc = manifest(pvc_resource)
    assert pvc["metadata"]["name"] == "jaeger-data"
    assert pvc["spec"]["resources"]["requests"]["storage"] == "10Gi"
    assert pvc_resource.protect is (stack == "prod")
    deployment = k8s_object(run, "Deployment", "jaeger")
    assert deployment["spec"]["strategy"]["type"] == "Recreate"  # a RWO volume cannot be shared
    pod = deployment["spec"]["template"]["spec"]
    assert {"name": "jaeger-data", "persistentVolumeClaim": {"claimName": "jaeger-data"}} in pod["volumes"]
    assert pod["containers"][0]["volumeMounts"] == [{"name": "jaeger-data", "mountPath": "/tmp"}]


def test_badger_on_docker_uses_the_named_volume_and_settings() -> None:
    run = variant("dev", json.dumps({"jaeger": {"storage": "badger", "badgerTtl": "7d", "storageSize": "5Gi"}}))
    env = env_of(run, "jaeger")
    assert env["SPAN_STORAGE_TYPE"] == "badger"
    assert env["BADGER_EPHEMERAL"] == "false"
    assert env["BADGER_SPAN_STORE_TTL"] == "168h"  # Go durations have no days
    assert env["BADGER_DIRECTORY_KEY"].startswith("/tmp/") and env["BADGER_DIRECTORY_VALUE"].startswith("/tmp/")
    volume = run.one("docker:index/volume:Volume", "jaeger-jaeger-data")
    assert volume.inputs["name"] == "jaeger_data"
    mounts = plain(run.one(CONTAINER, "jaeger").inputs)["volumes"]
    assert mounts == [{"volumeName": "jaeger_data", "containerPath": "/tmp"}]


@pytest.mark.parametrize(("prometheus", "go"), [
    ("72h", "72h"), ("3d", "72h"), ("1w2d", "216h"), ("90m", "1h30m"), ("1h30s", "1h30s"), ("500ms", "500ms"),
    ("1y", "8760h"), ("2d12h30m15s", "60h30m15s"), ("0s", "0s"),
])
def test_go_duration(prometheus: str, go: str) -> None:
    assert go_duration(prometheus) == go


@pytest.mark.parametrize("stack", ["dev", "staging"])
def test_elasticsearch_storage(stack: str) -> None:
    run = variant(stack, ES)
    env = env_of(run, "jaeger")
    assert env["SPAN_STORAGE_TYPE"] == "elasticsearch"
    assert env["ES_SERVER_URLS"] == "https://es-0.search:9200,https://es-1.search:9200"
    assert env["ES_INDEX_PREFIX"] == "quikapp"
    assert env["ES_USERNAME"] == "jaeger"
    assert not any(k.startswith(("BADGER_", "MEMORY_")) for k in env)
    # The cluster is external: no volume for Jaeger.
    assert not [r for r in owned(run, JAEGER)
                if r.type in ("docker:index/volume:Volume", "kubernetes:core/v1:PersistentVolumeClaim")]
    # The password reaches the container only as a secret.
    assert ES_PASSWORD not in plain_text_of(run)
    if is_docker(run):
        envs = run.one(CONTAINER, "jaeger").inputs["envs"]
        assert SECRET_SIG in envs  # the env list holding the password is a Pulumi secret
        assert env["ES_PASSWORD"] == ES_PASSWORD
    else:
        assert env["ES_PASSWORD"] == ("secret", "env_ES_PASSWORD")
        secret_resource = run.one("kubernetes:core/v1:Secret", "jaeger-secret")
        assert SECRET_SIG in secret_resource.inputs["stringData"]
        secret = manifest(secret_resource)
        assert secret["stringData"] == {"env_ES_PASSWORD": ES_PASSWORD}
        ref = k8s_container(run, "jaeger")["env"]
        ref_name = next(v for v in ref if v["name"] == "ES_PASSWORD")["valueFrom"]["secretKeyRef"]["name"]
        assert ref_name == secret["metadata"]["name"]
        for cm in run.of_type("kubernetes:core/v1:ConfigMap"):
            assert ES_PASSWORD not in json.dumps(plain(cm.inputs))


def test_elasticsearch_without_credentials_sets_none() -> None:
    run = variant("staging", json.dumps({"jaeger": {"storage": "elasticsearch"}}))
    env = env_of(run, "jaeger")
    assert env["ES_SERVER_URLS"] == "http://elasticsearch:9200"  # the seed's jaeger-config.yml
    assert env["ES_INDEX_PREFIX"] == "jaeger"
    assert "ES_USERNAME" not in env and "ES_PASSWORD" not in env
    assert not [r for r in owned(run, JAEGER) if r.type == "kubernetes:core/v1:Secret"]


# --- stack outputs ------------------------------------------------------------------------------------

def test_outputs_on_docker() -> None:
    outputs = stack_run("dev").outputs
    assert outputs["jaegerUiUrl"] == "http://127.0.0.1:16686/jaeger"
    assert outputs["jaegerInternalUiUrl"] == "http://jaeger:16686/jaeger"
    assert outputs["otlpGrpcEndpoint"] == "http://jaeger:4317"
    assert outputs["otlpHttpEndpoint"] == "http://jaeger:4318"
    assert outputs["zipkinEndpoint"] == "http://jaeger:9411/api/v2/spans"
    assert outputs["jaegerThriftHttpEndpoint"] == "http://jaeger:14268/api/traces"


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_outputs_on_kubernetes(stack: str) -> None:
    outputs = stack_run(stack).outputs
    host = "jaeger.monitoring.svc.cluster.local"
    assert outputs["jaegerUiUrl"] == "http://localhost:16686/jaeger"  # through `kubectl port-forward`
    assert "port-forward svc/jaeger 16686:16686" in outputs["portForward"]["jaeger-query"]
    assert outputs["jaegerInternalUiUrl"] == f"http://{host}:16686/jaeger"
    assert outputs["otlpGrpcEndpoint"] == f"http://{host}:4317"
    assert outputs["otlpHttpEndpoint"] == f"http://{host}:4318"
    assert outputs["zipkinEndpoint"] == f"http://{host}:9411/api/v2/spans"
    assert outputs["jaegerThriftHttpEndpoint"] == f"http://{host}:14268/api/traces"


def test_outputs_follow_the_namespace() -> None:
    run = variant("staging", json.dumps({"kubernetes": {"context": "quikapp-staging", "namespace": "obs"}}))
    assert run.outputs["otlpGrpcEndpoint"] == "http://jaeger.obs.svc.cluster.local:4317"


# --- Kubernetes schema --------------------------------------------------------------------------------

@pytest.mark.parametrize(("stack", "overrides"), [
    ("staging", "{}"), ("prod", "{}"), ("staging", ES), ("staging", json.dumps({"jaeger": {"storage": "memory"}})),
])
def test_kubernetes_objects_validate_strictly(stack: str, overrides: str) -> None:
    run = stack_run(stack) if overrides == "{}" else variant(stack, overrides)
    objects = [manifest(r) for r in owned(run, JAEGER) if is_kubernetes_object(r)]
    assert {o["kind"] for o in objects} >= {"Deployment", "Service"}
    for obj in objects:
        kubernetes_validate.validate(obj, "1.30", strict=True)
