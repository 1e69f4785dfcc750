"""Jaeger v2 on both targets: image, config file, ports, storage variants, secrets, outputs, manifests."""

from __future__ import annotations

import functools
import json
from typing import Any

import kubernetes_validate
import pytest
import yaml

from components.render.jaeger import CONFIG_FILE, go_duration, render_jaeger_config
from components.settings import Settings, parse_settings
from conftest import stack_run
from mockengine.manifests import (
    is_docker,
    is_kubernetes_object,
    k8s_container,
    k8s_object,
    manifest,
    owned,
    plain,
    without_secrets,
)
from mockengine.program import STACKS, stack_config
from mockengine.rendered import workload_files
from mockengine.run import SECRET_SIG, Run, run_program
from mockengine.stand_ins import SENTINELS, with_secrets

JAEGER = "quikapp:monitoring:Jaeger"
CONTAINER = "docker:index/container:Container"
PUBLISHED = {16686, 14268, 4317, 4318, 9411}
SERVICE_PORTS = {"query": 16686, "collector-http": 14268, "otlp-grpc": 4317, "otlp-http": 4318, "zipkin": 9411,
                 "health": 13133, "metrics": 8888}
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


def stack_settings(stack: str) -> Settings:
    return parse_settings(*with_secrets(stack_config(stack)))


def config_of(run: Run) -> dict[str, Any]:
    """Jaeger's config.yaml as the container receives it."""
    files = workload_files(run)["jaeger"]
    assert list(files) == [CONFIG_FILE]
    return dict(yaml.safe_load(files[CONFIG_FILE]))


def backend_of(run: Run) -> dict[str, Any]:
    """The one storage backend of jaeger_storage, e.g. {"badger": {...}}."""
    (backend,) = config_of(run)["extensions"]["jaeger_storage"]["backends"].values()
    return dict(backend)


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
            stack_settings(run.stack).images.jaeger
        container = plain(run.one(CONTAINER, "jaeger").inputs)
        assert container["name"] == "quikapp-jaeger"
        assert container["networksAdvanced"][0]["aliases"] == ["jaeger"]
    else:
        assert k8s_container(run, "jaeger")["image"] == stack_settings(run.stack).images.jaeger
        assert k8s_object(run, "Service", "jaeger")["spec"]["type"] == "ClusterIP"
    assert stack_settings(run.stack).images.jaeger.startswith("jaegertracing/jaeger:2.")  # v2, not all-in-one


def test_ports_and_publishing(run: Run) -> None:
    if is_docker(run):
        ports = plain(run.one(CONTAINER, "jaeger").inputs)["ports"]
        assert {p["internal"] for p in ports} == PUBLISHED  # health and metrics stay inside the network
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
def test_receivers_query_and_health_in_the_config_file(stack: str) -> None:
    run = stack_run(stack)
    config = config_of(run)
    assert config == yaml.safe_load(render_jaeger_config(stack_settings(stack)))
    # v2 reads its configuration from the file only: no v1 environment variables are left.
    assert not [k for k in env_of(run, "jaeger") if k.startswith(("COLLECTOR_", "SPAN_", "QUERY_", "BADGER_"))]
    if is_docker(run):
        assert plain(run.one(CONTAINER, "jaeger").inputs)["command"] == [f"--config=file:{CONFIG_FILE}"]
    else:
        assert k8s_container(run, "jaeger")["args"] == [f"--config=file:{CONFIG_FILE}"]
    receivers = config["receivers"]
    # Every endpoint on all interfaces: collector components default to localhost.
    assert receivers["otlp"]["protocols"] == {"grpc": {"endpoint": "0.0.0.0:4317"},
                                              "http": {"endpoint": "0.0.0.0:4318"}}
    assert receivers["zipkin"] == {"endpoint": "0.0.0.0:9411"}
    assert receivers["jaeger"]["protocols"] == {"thrift_http": {"endpoint": "0.0.0.0:14268"}}
    pipeline = config["service"]["pipelines"]["traces"]
    assert pipeline["receivers"] == ["otlp", "jaeger", "zipkin"]
    assert pipeline["exporters"] == ["jaeger_storage_exporter"]
    query = config["extensions"]["jaeger_query"]
    assert query["base_path"] == "/jaeger"
    assert query["http"] == {"endpoint": "0.0.0.0:16686"}
    assert query["enable_tracing"] is False  # v1 did not trace itself into its own store either
    store = config["exporters"]["jaeger_storage_exporter"]["trace_storage"]
    assert query["storage"] == {"traces": store}
    assert list(config["extensions"]["jaeger_storage"]["backends"]) == [store]
    assert set(config["service"]["extensions"]) == set(config["extensions"])
    assert config["extensions"]["healthcheckv2"] == {"use_v2": True, "http": {"endpoint": "0.0.0.0:13133"}}
    (reader,) = config["service"]["telemetry"]["metrics"]["readers"]
    assert reader == {"pull": {"exporter": {"prometheus": {
        "host": "0.0.0.0", "port": 8888, "without_type_suffix": False, "without_units": False}}}}
    expected = "memory" if stack == "dev" else "badger"  # dev sets memory; badger is the default
    assert list(backend_of(run)) == [expected]


def test_rendering_is_deterministic() -> None:
    assert render_jaeger_config(stack_settings("prod")) == render_jaeger_config(stack_settings("prod"))


def test_health_checks(run: Run) -> None:
    if is_docker(run):
        health = plain(run.one(CONTAINER, "jaeger").inputs)["healthcheck"]
        assert health["tests"] == ["CMD", "wget", "-q", "--spider", "http://127.0.0.1:13133/status"]
    else:
        container = k8s_container(run, "jaeger")
        for probe in ("readinessProbe", "livenessProbe"):
            assert container[probe]["httpGet"]["port"] == 13133
        assert container["readinessProbe"]["httpGet"]["path"] == "/status"


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_runs_as_uid_10001_on_kubernetes(stack: str) -> None:
    # Docker runs the image's own USER, 10001 (jaegertracing/jaeger@v2.20.0 cmd/jaeger/Dockerfile).
    run = stack_run(stack)
    pod = k8s_object(run, "Deployment", "jaeger")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsUser"] == 10001
    assert pod["securityContext"]["fsGroup"] == 10001
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is True


# --- storage ----------------------------------------------------------------------------------------

def test_memory_storage_caps_traces_and_has_no_volume() -> None:
    run = stack_run("dev")
    assert backend_of(run) == {"memory": {"max_traces": 50000}}
    assert not any(k.startswith(("BADGER_", "ES_")) for k in env_of(run, "jaeger"))
    assert not [v for v in run.of_type("docker:index/volume:Volume") if v.inputs["name"] == "jaeger_data"]
    assert plain(run.one(CONTAINER, "jaeger").inputs)["volumes"] == []

    capped = variant("dev", json.dumps({"jaeger": {"storage": "memory", "maxTraces": 20000}}))
    assert backend_of(capped) == {"memory": {"max_traces": 20000}}


def test_memory_storage_on_kubernetes_keeps_tmp_writable() -> None:
    run = variant("staging", json.dumps({"jaeger": {"storage": "memory"}}))
    assert not [r for r in run.of_type("kubernetes:core/v1:PersistentVolumeClaim") if "jaeger" in r.name]
    pod = k8s_object(run, "Deployment", "jaeger")["spec"]["template"]["spec"]
    mounts = pod["containers"][0]["volumeMounts"]
    assert [m for m in mounts if m["mountPath"] != CONFIG_FILE] == [{"name": "scratch-0", "mountPath": "/tmp"}]
    assert {"name": "scratch-0", "emptyDir": {}} in pod["volumes"]
    assert not [v for v in pod["volumes"] if "persistentVolumeClaim" in v]


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_badger_on_a_persistent_volume_on_kubernetes(stack: str) -> None:
    run = stack_run(stack)
    # v1's directories on the same volume: an upgraded Jaeger finds the spans it stored before.
    assert backend_of(run) == {"badger": {"directories": {"keys": "/tmp/badger/keys", "values": "/tmp/badger/values"},
                                          "ephemeral": False, "ttl": {"spans": "72h"}}}
    pvc_resource = run.one("kubernetes:core/v1:PersistentVolumeClaim", "jaeger-jaeger-data")
    pvc = manifest(pvc_resource)
    assert pvc["metadata"]["name"] == "jaeger-data"
    assert pvc["spec"]["resources"]["requests"]["storage"] == "10Gi"
    assert pvc_resource.protect is (stack == "prod")
    deployment = k8s_object(run, "Deployment", "jaeger")
    assert deployment["spec"]["strategy"]["type"] == "Recreate"  # a RWO volume cannot be shared
    pod = deployment["spec"]["template"]["spec"]
    assert {"name": "jaeger-data", "persistentVolumeClaim": {"claimName": "jaeger-data"}} in pod["volumes"]
    mounts = pod["containers"][0]["volumeMounts"]
    assert [m for m in mounts if m["mountPath"] != CONFIG_FILE] == [{"name": "jaeger-data", "mountPath": "/tmp"}]


def test_badger_on_docker_uses_the_named_volume_and_settings() -> None:
    run = variant("dev", json.dumps({"jaeger": {"storage": "badger", "badgerTtl": "7d", "storageSize": "5Gi"}}))
    badger = backend_of(run)["badger"]
    assert badger["ephemeral"] is False
    assert badger["ttl"] == {"spans": "168h"}  # Go durations have no days
    assert all(d.startswith("/tmp/") for d in badger["directories"].values())
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
    assert backend_of(run) == {"elasticsearch": {
        "server_urls": ["https://es-0.search:9200", "https://es-1.search:9200"],
        "indices": {"index_prefix": "quikapp"},
        # The file names the env var; the collector expands it at start (no password in the file).
        "auth": {"basic": {"username": "jaeger", "password": "${env:ES_PASSWORD}"}},
    }}
    assert list(env) == ["ES_PASSWORD"]
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
    # The seed's jaeger-config.yml server and prefix; no auth block at all.
    assert backend_of(run) == {"elasticsearch": {"server_urls": ["http://elasticsearch:9200"],
                                                 "indices": {"index_prefix": "jaeger"}}}
    assert "ES_PASSWORD" not in env
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
