"""The second `pulumi up` changes nothing: what real providers read back after the first one does
not differ, for any field the program sets, from what the program sends again.

Each stack's real program runs twice under the mock engine. Between the runs every resource's
state becomes what its real provider would store after the first `up` (tests/readback.py, sources
in docs/UPSTREAM-FACTS.md "Provider read-back (second up)"); the second run receives that state as
the engine would hand it back, and each provider's modelled Diff must find nothing to update or
replace.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from guarantees import with_changes
from readback import (
    CONTAINER_FIELDS,
    IMAGE_CMD,
    MODELS,
    Change,
    docker_nano_cpus_text,
    docker_parse_cpus,
    go_duration_string,
    go_parse_duration,
    k8s_canonical_quantity,
    k8s_check,
    k8s_diff,
    k8s_read_back,
    k8s_typed,
    tf_diff,
)

from components.quantities import cpus
from mockengine.manifests import plain
from mockengine.program import STACKS
from mockengine.run import Registered, Run, run_program

# Each stack as it is, plus the optional parts the stack files leave off (so every resource type
# and field the program can declare goes through a second `up`).
SCENARIOS: dict[str, tuple[str, dict[str, Any] | None]] = {stack: (stack, None) for stack in STACKS}
SCENARIOS["prod+ingress"] = ("prod", {"grafana": {"ingress": {
    "host": "grafana.quikapp.example", "className": "nginx", "tlsSecretName": "grafana-tls"}}})
SCENARIOS["dev+postgres"] = ("dev", {"exporters": {"postgres": {"enabled": True}}})
# Long-term storage: secret uploads / Secret keys for remote-write credentials, Loki's secret env.
_STORAGE = {"prometheus": {"remoteWrite": [{"url": "https://mimir.quikapp.example/api/v1/push", "username": "quikapp"},
                                           {"url": "https://vm.quikapp.example/api/v1/write"}]},
            "loki": {"storage": "s3", "s3": {"since": "2027-02-01", "bucket": "quikapp-logs", "accessKeyId": "AKIAEX"}}}
SCENARIOS["dev+storage"] = ("dev", _STORAGE)
SCENARIOS["prod+storage"] = ("prod", _STORAGE)
# Receiver credentials: Alertmanager's live config as a secret (Kubernetes: the fixed-name Secret in a
# projected volume; Docker: a secret upload of the config copier).
_RECEIVERS = {"alertmanager": {"webhook": {"url": "https://hooks.test/x"}}}
SCENARIOS["prod+receivers"] = ("prod", _RECEIVERS)
SCENARIOS["dev+receivers"] = ("dev", _RECEIVERS)
# Grafana replicated on an external database: a Deployment with replicas, its own PDB and spread.
SCENARIOS["prod+grafana-replicas"] = ("prod", {"grafana": {"replicas": 2, "database": {
    "type": "postgres", "host": "postgres.quikapp.svc:5432", "name": "grafana", "user": "grafana"}}})

_SECOND: dict[str, tuple[Run, Run, dict[tuple[str, str], tuple[dict[str, Any], dict[str, Any]]]]] = {}


def _key(resource: Registered) -> tuple[str, str]:
    return resource.type, resource.name


def two_ups(scenario: str) -> tuple[Run, Run, dict[tuple[str, str], tuple[dict[str, Any], dict[str, Any]]]]:
    """(first run, second run, {(type, name): (checked inputs, stored state) after the first up})."""
    if scenario not in _SECOND:
        stack, changes = SCENARIOS[scenario]
        values, secret_keys = with_changes(stack, changes or {})
        first = run_program(stack, values, secret_keys)
        stored: dict[tuple[str, str], tuple[dict[str, Any], dict[str, Any]]] = {}
        for resource in first.resources:
            if resource.custom and resource.type in MODELS:
                model = MODELS[resource.type]
                checked = model.check(plain(resource.sent), None, plain(resource.inputs))
                stored[_key(resource)] = checked, model.read_back(checked, plain(resource.inputs))
        second = run_program(stack, values, secret_keys, prior={key: state for key, (_, state) in stored.items()})
        _SECOND[scenario] = first, second, stored
    return _SECOND[scenario]


def second_up_changes(scenario: str) -> list[str]:
    _, second, stored = two_ups(scenario)
    found = []
    for resource in second.resources:
        if not resource.custom:
            continue
        model = MODELS[resource.type]
        old_checked, state = stored[_key(resource)]
        news = model.check(plain(resource.sent), old_checked, state)
        for change in model.diff(news, old_checked, state, resource.replace_on_changes):
            found.append(f"{resource.type} {resource.name}: {change}")
    return found


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_resource_type_is_modelled(scenario: str) -> None:
    first, _, _ = two_ups(scenario)
    types = {r.type for r in first.resources if r.custom}
    assert types - MODELS.keys() == set(), "resource types without a read-back model in tests/readback.py"


def test_every_modelled_type_goes_through_a_second_up() -> None:
    seen = {r.type for scenario in SCENARIOS for r in two_ups(scenario)[0].resources if r.custom}
    assert MODELS.keys() - seen == set(), "modelled types no scenario declares: add a scenario"


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_docker_container_field_is_modelled(scenario: str) -> None:
    first, _, _ = two_ups(scenario)
    sent = {key for r in first.of_type("docker:index/container:Container") for key in r.sent}
    assert sent - CONTAINER_FIELDS.keys() == set(), "container fields the model does not know"


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_second_up_changes_nothing(scenario: str) -> None:
    changes = second_up_changes(scenario)
    assert changes == [], "the second `pulumi up` would change:\n" + "\n".join(changes)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_second_run_sees_the_read_back_state(scenario: str) -> None:
    # The second run must be fed the stored state (so what one resource consumes of another is what
    # a real engine hands over), and must declare the same resources.
    first, second, stored = two_ups(scenario)
    assert sorted(map(_key, first.resources)) == sorted(map(_key, second.resources))
    for resource in second.resources:
        if resource.custom:
            assert plain(resource.inputs) == stored[_key(resource)][1]


# --- the model itself: vectors from running the upstream code, and each rule able to fire ----------

# kreuzwerker/terraform-provider-docker@v4.5.0 helpers.go nanoInt64ToDecimalString and docker/cli
# opts.ParseCPUs, run with Go 1.26 on these inputs.
CPUS_READ_BACK = {"1": "1.0", "0.5": "0.5", "0.25": "0.25", "2": "2.0", "4": "4.0", "10": "10.", "20": "20.",
                  "1.5": "1.5", "0.05": "0.1", "0.005": "0.0", "0.1": "0.1", "0.125": "0.125", "0.001": "0.0",
                  "100": "100.", "1.05": "1.05", "0.75": "0.75", "3.0": "3.0", "1.0": "1.0"}
# Go time.ParseDuration + Duration.String, run the same way.
GO_DURATIONS = {"30s": "30s", "5s": "5s", "0s": "0s", "1m": "1m0s", "90s": "1m30s", "1h": "1h0m0s",
                "500ms": "500ms", "1.5s": "1.5s", "2h45m": "2h45m0s", "0.5m": "30s", "100us": "100µs", "1ns": "1ns"}
# k8s.io/apimachinery resource.Quantity canonical String().
QUANTITIES = {"0.5": "500m", "1000m": "1", "1024Mi": "1Gi", "1536Mi": "1536Mi", "1.5Gi": "1536Mi",
              "100m": "100m", "1": "1", "4Gi": "4Gi", "200Gi": "200Gi", "2048Ki": "2Mi", "1000": "1k",
              "128Mi": "128Mi", "0.5Gi": "512Mi", "250m": "250m", "50m": "50m", "10Gi": "10Gi", "512Mi": "512Mi"}


@pytest.mark.parametrize(("sent", "read"), CPUS_READ_BACK.items())
def test_cpus_read_back_model(sent: str, read: str) -> None:
    assert docker_nano_cpus_text(docker_parse_cpus(sent)) == read


@pytest.mark.parametrize("quantity", ["1", "2", "4", "10", "500m", "250m", "1500m", "100m", "0.5", "1.25"])
def test_program_sends_cpus_in_the_read_back_form(quantity: str) -> None:
    assert docker_nano_cpus_text(docker_parse_cpus(cpus(quantity))) == cpus(quantity)


@pytest.mark.parametrize("quantity", ["50m", "1m", "0.05"])
def test_program_refuses_cpus_the_provider_reads_back_as_another_amount(quantity: str) -> None:
    with pytest.raises(ValueError, match="reads it back as"):
        cpus(quantity)


@pytest.mark.parametrize(("sent", "read"), GO_DURATIONS.items())
def test_go_duration_model(sent: str, read: str) -> None:
    assert go_duration_string(go_parse_duration(sent)) == read


@pytest.mark.parametrize(("sent", "read"), QUANTITIES.items())
def test_quantity_model(sent: str, read: str) -> None:
    assert k8s_canonical_quantity(sent) == read


def _container(**overrides: Any) -> dict[str, Any]:
    base = {"name": "quikapp-x", "image": "sha256:abc", "command": ["--flag"], "cpus": "1.0", "memory": 256,
            "memorySwap": 256, "restart": "unless-stopped",
            "ports": [{"internal": 9090, "external": 9090, "ip": "127.0.0.1", "protocol": "tcp"}],
            "healthcheck": {"tests": ["CMD", "true"], "interval": "30s", "timeout": "5s", "startPeriod": "30s",
                            "retries": 3}}
    return {**base, **overrides}


def _docker_changes(sent: dict[str, Any], replace_on_changes: tuple[str, ...] = ()) -> list[Change]:
    model = MODELS["docker:index/container:Container"]
    state = model.read_back(sent, sent)
    return tf_diff(CONTAINER_FIELDS, sent, state, list(replace_on_changes))


def test_model_replaces_on_cpus_text() -> None:
    assert [(c.path, c.old, c.new, c.replace) for c in _docker_changes(_container(cpus="1"))] == [
        ("cpus", "1.0", "1", True)]


def test_model_replaces_on_an_empty_command_the_image_fills_in() -> None:
    assert [(c.path, c.replace) for c in _docker_changes(_container(command=[]))] == [("command", True)]
    assert _docker_changes(_container(command=None)) == []
    model = MODELS["docker:index/container:Container"]
    assert model.read_back({}, _container(command=None))["command"] == IMAGE_CMD


def test_model_replaces_on_a_healthcheck_duration_go_rewrites_when_asked() -> None:
    changes = _docker_changes(_container(healthcheck={"tests": ["CMD", "true"], "interval": "1m"}), ("healthcheck",))
    assert [(c.path, c.replace) for c in changes] == [("healthcheck", True)]
    assert _docker_changes(_container(healthcheck={"tests": ["CMD", "true"], "interval": "1m0s"}),
                           ("healthcheck",)) == []


def test_model_updates_when_swap_is_left_to_the_daemon() -> None:
    assert [(c.path, c.old, c.new, c.replace) for c in _docker_changes(_container(memorySwap=None))] == [
        ("memorySwap", 512, 0, False)]


def test_model_port_order_and_defaults_are_no_change() -> None:
    ports = [{"internal": 9411, "external": 9411, "ip": "127.0.0.1"}, {"internal": 4317, "external": 4317}]
    assert _docker_changes(_container(ports=ports)) == []


def test_model_rejects_an_unmodelled_docker_field() -> None:
    with pytest.raises(KeyError, match="shmSize"):
        _docker_changes(_container(shmSize=64))


def _k8s_second_up(sent: dict[str, Any], again: dict[str, Any]) -> list[Change]:
    first = k8s_check(sent, None, {"metadata": {"name": "x-1234"}})
    live = k8s_read_back(first)
    return k8s_diff(k8s_check(again, first, live), first, live)


_DEPLOYMENT = {"apiVersion": "apps/v1", "kind": "Deployment",
               "metadata": {"name": "prometheus", "namespace": "monitoring"},
               "spec": {"selector": {"matchLabels": {"app": "p"}}, "strategy": {"type": "Recreate"},
                        "template": {"metadata": {"labels": {"app": "p"}}, "spec": {"containers": [{
                            "name": "p", "image": "prom", "args": [],
                            "resources": {"limits": {"cpu": "0.5", "memory": "1024Mi"}},
                            "volumeMounts": [{"name": "v", "mountPath": "/v", "readOnly": False}]}]}}}}


def test_k8s_typed_round_trip_model() -> None:
    # What k8s.io/apimachinery@v0.34.1 runtime.DefaultUnstructuredConverter From/ToUnstructured
    # made of this Deployment (run with Go 1.26): empty args/env and readOnly false dropped, the
    # pointer booleans and emptyDir {} kept, quantities canonical (plus "status": {}, pruned).
    sent = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "p", "namespace": "m"},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "p"}}, "strategy": {"type": "Recreate"},
                     "template": {"metadata": {"labels": {"app": "p"}}, "spec": {
                         "automountServiceAccountToken": False,
                         "containers": [{"name": "p", "image": "prom", "args": [], "env": [],
                                         "resources": {"limits": {"cpu": "0.5", "memory": "1024Mi"}},
                                         "securityContext": {"allowPrivilegeEscalation": False,
                                                             "readOnlyRootFilesystem": True},
                                         "volumeMounts": [{"name": "v", "mountPath": "/v", "readOnly": False},
                                                          {"name": "w", "mountPath": "/w", "readOnly": True}]}],
                         "volumes": [{"name": "s", "emptyDir": {}}]}}}}
    go = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "p", "namespace": "m"},
          "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "p"}}, "strategy": {"type": "Recreate"},
                   "template": {"metadata": {"labels": {"app": "p"}}, "spec": {
                       "automountServiceAccountToken": False,
                       "containers": [{"image": "prom", "name": "p",
                                       "resources": {"limits": {"cpu": "500m", "memory": "1Gi"}},
                                       "securityContext": {"allowPrivilegeEscalation": False,
                                                           "readOnlyRootFilesystem": True},
                                       "volumeMounts": [{"mountPath": "/v", "name": "v"},
                                                        {"mountPath": "/w", "name": "w", "readOnly": True}]}],
                       "volumes": [{"emptyDir": {}, "name": "s"}]}}}}
    assert k8s_typed(sent) == go


def test_k8s_model_normalises_both_sides() -> None:
    # The API server stores 500m and 1Gi, adds its defaults and drops the empty args; the provider's
    # Diff normalises the inputs the same way and prunes the rest: no change.
    live = k8s_read_back(_DEPLOYMENT)
    container = live["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"]["limits"] == {"cpu": "500m", "memory": "1Gi"}
    assert "args" not in container and container["imagePullPolicy"] == "IfNotPresent"
    assert _k8s_second_up(_DEPLOYMENT, _DEPLOYMENT) == []


def test_k8s_model_flags_updates_and_replacements() -> None:
    changed = {**_DEPLOYMENT, "spec": {**_DEPLOYMENT["spec"], "selector": {"matchLabels": {"app": "q"}}}}
    assert [(c.path, c.replace) for c in _k8s_second_up(_DEPLOYMENT, changed)] == [
        (".spec.selector.matchLabels.app", True)]
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"namespace": "m"}, "data": {"a": "1"}}
    assert _k8s_second_up(cm, cm) == []  # the autoname is adopted, not lost
    assert [(c.path, c.replace) for c in _k8s_second_up(cm, {**cm, "data": {"a": "2"}})] == [(".data.a", True)]


def test_k8s_model_secret_string_data_reads_back_as_data() -> None:
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "m"},
              "stringData": {"k": "v"}}
    live = k8s_read_back(secret)
    assert live["data"] == {"k": "dg=="} and "stringData" not in live
    assert _k8s_second_up(secret, secret) == []


_STATEFULSET = {"apiVersion": "apps/v1", "kind": "StatefulSet",
                "metadata": {"name": "alertmanager", "namespace": "monitoring"},
                "spec": {"replicas": 3, "serviceName": "alertmanager-headless", "podManagementPolicy": "Parallel",
                         "selector": {"matchLabels": {"app": "a"}},
                         "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
                         "template": {"metadata": {"labels": {"app": "a"}}, "spec": {"containers": [{
                             "name": "a", "image": "am", "volumeMounts": [{"name": "data", "mountPath": "/d"}]}]}},
                         "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
                             "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1024Mi"}}}}]}}


def test_k8s_model_statefulset_read_back_and_replacements() -> None:
    # What the API server adds (SetDefaults_StatefulSet, the claim templates' PVC defaults) is
    # outside the inputs' shape: pruned, no change; the storage quantity is canonical on both sides.
    bare = json.loads(json.dumps(_STATEFULSET))
    for key in ("podManagementPolicy", "updateStrategy"):
        del bare["spec"][key]
    live = k8s_read_back(bare)
    spec = live["spec"]
    assert spec["podManagementPolicy"] == "OrderedReady" and spec["revisionHistoryLimit"] == 10
    assert spec["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}
    assert spec["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}
    (template,) = spec["volumeClaimTemplates"]
    assert template["status"] == {"phase": "Pending"} and template["spec"]["volumeMode"] == "Filesystem"
    assert template["spec"]["resources"]["requests"]["storage"] == "1Gi"
    assert _k8s_second_up(_STATEFULSET, _STATEFULSET) == []
    assert _k8s_second_up(bare, bare) == []
    # The claim templates and the pod management policy cannot change in place (diff.go statefulSet).
    bigger = json.loads(json.dumps(_STATEFULSET))
    bigger["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] = "2Gi"
    assert [(c.path, c.replace) for c in _k8s_second_up(_STATEFULSET, bigger)] == [
        (".spec.volumeClaimTemplates", True)]
    ordered = {**_STATEFULSET, "spec": {**_STATEFULSET["spec"], "podManagementPolicy": "OrderedReady"}}
    assert [(c.path, c.replace) for c in _k8s_second_up(_STATEFULSET, ordered)] == [
        (".spec.podManagementPolicy", True)]
    scaled = {**_STATEFULSET, "spec": {**_STATEFULSET["spec"], "replicas": 5}}
    assert [(c.path, c.replace) for c in _k8s_second_up(_STATEFULSET, scaled)] == [(".spec.replicas", False)]


def test_k8s_model_pdb_updates_in_place() -> None:
    pdb = {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
           "metadata": {"name": "alertmanager", "namespace": "monitoring"},
           "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app": "a"}},
                    "unhealthyPodEvictionPolicy": "AlwaysAllow"}}
    assert "status" in k8s_read_back(pdb)
    assert _k8s_second_up(pdb, pdb) == []
    two = {**pdb, "spec": {**pdb["spec"], "maxUnavailable": 2}}
    assert [(c.path, c.replace) for c in _k8s_second_up(pdb, two)] == [(".spec.maxUnavailable", False)]


def test_k8s_model_keeps_a_headless_service_headless() -> None:
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "a-headless", "namespace": "m"},
               "spec": {"type": "ClusterIP", "clusterIP": "None", "selector": {"app": "a"},
                        "ports": [{"name": "http", "port": 9093}]}}
    assert k8s_read_back(service)["spec"]["clusterIPs"] == ["None"]
    assert _k8s_second_up(service, service) == []
