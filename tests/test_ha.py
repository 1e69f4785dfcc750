"""High availability (`highAvailability`, on by default for Kubernetes stacks): what prod and staging
render, what dev keeps, what bad inputs say, and how the single-instance volumes are kept.

The live half (three real Alertmanagers deduplicating) is tests/live/test_live_alertmanager_cluster.py.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from guarantees import run_with, snapshot

from components.settings import SettingsError, parse_settings
from conftest import stack_run
from mockengine.manifests import k8s_object, k8s_objects, k8s_workload, plain
from mockengine.program import stack_config
from mockengine.rendered import workload_files
from mockengine.run import Run, run_program
from mockengine.stand_ins import with_secrets

HA_STACKS = ["staging", "prod"]
LABELS = {"prometheus": {"app.kubernetes.io/name": "prometheus", "app.kubernetes.io/part-of": "quikapp-monitoring"},
          "alertmanager": {"app.kubernetes.io/name": "alertmanager",
                           "app.kubernetes.io/part-of": "quikapp-monitoring"}}
GRAFANA_DB = {"type": "postgres", "host": "postgres.quikapp.svc:5432", "name": "grafana", "user": "grafana"}


def _pod(workload: dict[str, Any]) -> dict[str, Any]:
    pod: dict[str, Any] = workload["spec"]["template"]["spec"]
    return pod


def _env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def _prometheus_yml(run: Run) -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load(workload_files(run)["prometheus"]["/etc/prometheus/prometheus.yml"])
    return config


# --- prod and staging -------------------------------------------------------------------------


@pytest.mark.parametrize("stack", HA_STACKS)
@pytest.mark.parametrize(("name", "replicas"), [("prometheus", 2), ("alertmanager", 3)])
def test_replicated_statefulsets(stack: str, name: str, replicas: int) -> None:
    run = stack_run(stack)
    sts = k8s_workload(run, name)
    spec = sts["spec"]
    assert sts["kind"] == "StatefulSet" and spec["replicas"] == replicas
    assert spec["serviceName"] == f"{name}-headless"
    assert spec["selector"]["matchLabels"] == LABELS[name] == spec["template"]["metadata"]["labels"]
    # One pod at a time, each waited for until Ready: never both Prometheus, never two members down.
    assert spec["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}
    assert spec["podManagementPolicy"] == "Parallel"
    assert spec["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}
    (template,) = spec["volumeClaimTemplates"]
    claim = f"{name}-data"
    assert template["metadata"]["name"] == claim and template["spec"]["accessModes"] == ["ReadWriteOnce"]
    mounts = {m["name"]: m["mountPath"] for m in _pod(sts)["containers"][0]["volumeMounts"]}
    assert mounts[claim] == f"/{name}"
    assert claim not in {v["name"] for v in _pod(sts)["volumes"]}  # from the template, per replica
    # Spread across nodes, softly (kubernetes_layouts.py says why).
    assert _pod(sts)["topologySpreadConstraints"] == [{
        "maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "ScheduleAnyway",
        "labelSelector": {"matchLabels": LABELS[name]}}]
    # No Deployment of the same name left behind.
    assert not [d for d in k8s_objects(run, "Deployment") if d["metadata"]["name"] == name]


@pytest.mark.parametrize("stack", HA_STACKS)
@pytest.mark.parametrize(("name", "replicas", "keep_up"), [("prometheus", 2, 1), ("alertmanager", 3, 2)])
def test_pod_disruption_budgets_never_take_the_last_replica(stack: str, name: str, replicas: int,
                                                            keep_up: int) -> None:
    run = stack_run(stack)
    pdb = k8s_object(run, "PodDisruptionBudget", name)
    assert pdb["apiVersion"] == "policy/v1"
    assert pdb["spec"]["selector"]["matchLabels"] == k8s_workload(run, name)["spec"]["selector"]["matchLabels"]
    # A drain may evict at most maxUnavailable: Prometheus keeps one, Alertmanager two of three.
    assert replicas - pdb["spec"]["maxUnavailable"] == keep_up
    assert pdb["spec"]["unhealthyPodEvictionPolicy"] == "AlwaysAllow"


@pytest.mark.parametrize("stack", HA_STACKS)
def test_every_replicated_workload_has_a_budget_and_a_spread(stack: str) -> None:
    run = run_with(stack, {"grafana": {"replicas": 2, "database": GRAFANA_DB}})
    replicated = {w["metadata"]["name"]: w for kind in ("Deployment", "StatefulSet") for w in k8s_objects(run, kind)
                  if w["spec"].get("replicas", 1) > 1}
    assert set(replicated) == {"prometheus", "alertmanager", "grafana"}
    budgets = {p["metadata"]["name"]: p["spec"] for p in k8s_objects(run, "PodDisruptionBudget")}
    assert set(budgets) == set(replicated)
    for name, workload in replicated.items():
        assert 0 < budgets[name]["maxUnavailable"] < workload["spec"]["replicas"], name
        assert _pod(workload)["topologySpreadConstraints"][0]["topologyKey"] == "kubernetes.io/hostname", name


@pytest.mark.parametrize("stack", HA_STACKS)
@pytest.mark.parametrize("name", ["prometheus", "alertmanager"])
def test_headless_services_publish_every_replica(stack: str, name: str) -> None:
    service = k8s_object(stack_run(stack), "Service", f"{name}-headless")
    spec = service["spec"]
    assert spec["clusterIP"] == "None" and spec["publishNotReadyAddresses"] is True
    assert spec["selector"] == LABELS[name]
    # The load-balanced Service stays as it was (same DNS name as on Docker, Grafana's datasource).
    plain_service = k8s_object(stack_run(stack), "Service", name)
    assert "clusterIP" not in plain_service["spec"] and plain_service["spec"]["type"] == "ClusterIP"


@pytest.mark.parametrize("stack", HA_STACKS)
def test_alertmanager_members_peer_with_every_member(stack: str) -> None:
    run = stack_run(stack)
    container = _pod(k8s_workload(run, "alertmanager"))["containers"][0]
    args = container["args"]
    peers = [a.split("=", 1)[1] for a in args if a.startswith("--cluster.peer=")]
    # The short form, as the upstream chart writes it: the pod's search list adds its namespace and the
    # cluster's DNS domain, whichever it is (tests/live/test_live_cluster_domain.py resolves it for real).
    assert peers == [f"alertmanager-{i}.alertmanager-headless:9094" for i in range(3)]
    assert "--cluster.listen-address=[$(POD_IP)]:9094" in args
    assert "--cluster.advertise-address=[$(POD_IP)]:9094" in args
    assert "--cluster.listen-address=" not in args  # the single-instance "no cluster" flag is gone
    assert _env(container)["POD_IP"] == {"fieldRef": {"fieldPath": "status.podIP"}}
    headless = k8s_object(run, "Service", "alertmanager-headless")
    assert {(p["port"], p["protocol"]) for p in headless["spec"]["ports"]} >= {(9094, "TCP"), (9094, "UDP")}


@pytest.mark.parametrize("stack", HA_STACKS)
def test_cluster_port_open_between_members_only(stack: str) -> None:
    policy = k8s_object(stack_run(stack), "NetworkPolicy", "alertmanager")["spec"]
    gossip = [r for r in policy["ingress"] if any(p["port"] == 9094 for p in r["ports"])]
    assert gossip == [{"ports": [{"port": 9094, "protocol": "TCP"}, {"port": 9094, "protocol": "UDP"}],
                       "from": [{"podSelector": {"matchLabels": LABELS["alertmanager"]}}]}]
    # The HTTP port keeps its namespace rule.
    http = [r for r in policy["ingress"] if any(p["port"] == 9093 for p in r["ports"])]
    assert http and all("namespaceSelector" in peer for rule in http for peer in rule["from"])


@pytest.mark.parametrize("stack", HA_STACKS)
def test_prometheus_replicas_label_themselves_and_alert_every_member(stack: str) -> None:
    run = stack_run(stack)
    config = _prometheus_yml(run)
    # What Cortex, Mimir and Amazon Managed Service for Prometheus deduplicate on: the pair's cluster
    # (the same on both: the stack's name) and each replica's own name.
    labels = config["global"]["external_labels"]
    assert labels["__replica__"] == "${POD_NAME}" and labels["cluster"] == stack
    assert "replica" not in labels
    container = _pod(k8s_workload(run, "prometheus"))["containers"][0]
    assert _env(container)["POD_NAME"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    alerting = config["alerting"]
    # Dropped before alerts leave, so both replicas' alerts are one alert to Alertmanager.
    assert alerting["alert_relabel_configs"] == [{"action": "labeldrop", "regex": "__replica__"}]
    (managers,) = alerting["alertmanagers"]
    # Every member's pod, discovered: not the load-balanced `alertmanager:9093` Service address.
    assert "static_configs" not in managers
    assert managers["kubernetes_sd_configs"] == [{"role": "endpointslice", "namespaces": {"names": ["monitoring"]}}]
    assert managers["relabel_configs"] == [{"source_labels": ["__meta_kubernetes_service_name",
                                                              "__meta_kubernetes_endpointslice_port"],
                                            "regex": "alertmanager;9093", "action": "keep"}]


def test_other_label_names_and_an_own_cluster_value_for_other_stores(tmp_path: Any) -> None:
    """`prometheus.haLabels` renames both labels (a store configured with other names, e.g. Mimir's
    `ha_cluster_label: prometheus`); `externalLabels.<cluster label>` gives the pair's value. The
    labeldrop follows the replica label's name, and promtool accepts the result with remote write."""
    run = run_with("prod", {"prometheus": {"haLabels": {"cluster": "prometheus", "replica": "prometheus_replica"},
                                           "externalLabels": {"environment": "prod", "prometheus": "eu-1/quikapp"},
                                           "remoteWrite": [{"url": "https://mimir.quikapp.test/api/v1/push"}]}})
    config = _prometheus_yml(run)
    assert config["global"]["external_labels"] == {"environment": "prod", "prometheus": "eu-1/quikapp",
                                                   "prometheus_replica": "${POD_NAME}"}
    assert config["alerting"]["alert_relabel_configs"] == [{"action": "labeldrop", "regex": "prometheus_replica"}]
    from test_remote_write import promtool_check

    for job in config["scrape_configs"]:  # the service account token the kubelet jobs read
        if "credentials_file" in job.get("authorization", {}):
            (tmp_path / "token").write_text("placeholder\n")
            job["authorization"]["credentials_file"] = str(tmp_path / "token")
    result = promtool_check(config, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_ha_labels_leave_a_single_instance_stack_alone() -> None:
    """No pair, nothing to deduplicate: a Docker stack's external labels are the user's only."""
    run = run_with("dev", {"prometheus": {"haLabels": {"cluster": "prometheus", "replica": "prometheus_replica"}}})
    assert _prometheus_yml(run)["global"]["external_labels"] == {"environment": "dev"}


def test_grafana_queries_the_prometheus_service() -> None:
    """Grafana treats the pair as one source: its datasource is the Service (either replica)."""
    from components.render.grafana import DATASOURCES_FILE

    datasources = yaml.safe_load(workload_files(stack_run("prod"))["grafana"][DATASOURCES_FILE])["datasources"]
    urls = {d["type"]: d["url"] for d in datasources}
    assert urls["prometheus"] == "http://prometheus:9090"  # the Service: either replica answers
    assert urls["alertmanager"] == "http://alertmanager:9093"  # one member: they share alerts and silences


# --- Grafana -----------------------------------------------------------------------------------


def test_grafana_stays_single_without_a_database() -> None:
    grafana = k8s_workload(stack_run("prod"), "grafana")
    assert grafana["kind"] == "Deployment" and grafana["spec"]["replicas"] == 1
    assert grafana["spec"]["strategy"]["type"] == "Recreate"  # its SQLite volume
    assert not [p for p in k8s_objects(stack_run("prod"), "PodDisruptionBudget") if p["metadata"]["name"] == "grafana"]


def test_grafana_replicas_share_an_external_database() -> None:
    run = run_with("prod", {"grafana": {"replicas": 3, "database": {**GRAFANA_DB, "sslMode": "verify-full"}}})
    grafana = k8s_workload(run, "grafana")
    assert grafana["kind"] == "Deployment" and grafana["spec"]["replicas"] == 3
    assert grafana["spec"]["strategy"] == {"type": "RollingUpdate",
                                           "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    container = _pod(grafana)["containers"][0]
    env = _env(container)
    assert {k: env[k] for k in ("GF_DATABASE_TYPE", "GF_DATABASE_HOST", "GF_DATABASE_NAME", "GF_DATABASE_USER",
                                "GF_DATABASE_SSL_MODE")} == {
        "GF_DATABASE_TYPE": "postgres", "GF_DATABASE_HOST": "postgres.quikapp.svc:5432",
        "GF_DATABASE_NAME": "grafana", "GF_DATABASE_USER": "grafana", "GF_DATABASE_SSL_MODE": "verify-full"}
    assert "secretKeyRef" in env["GF_DATABASE_PASSWORD"]  # from the Secret, never a plain value
    # No shared volume: the data directory is scratch on each pod.
    volumes = {v["name"]: v for v in _pod(grafana)["volumes"]}
    assert not [v for v in volumes.values() if "persistentVolumeClaim" in v]
    data = next(m for m in container["volumeMounts"] if m["mountPath"] == "/var/lib/grafana")
    assert "emptyDir" in volumes[data["name"]]
    assert k8s_object(run, "PodDisruptionBudget", "grafana")["spec"]["maxUnavailable"] == 1
    # Its single-instance PVC is kept like Prometheus' and Alertmanager's.
    pvc = run.one("kubernetes:core/v1:PersistentVolumeClaim", "grafana-grafana-data")
    assert pvc.protect and pvc.retain_on_delete


def test_grafana_database_on_a_single_replica_and_on_mysql() -> None:
    run = run_with("dev", {"grafana": {"database": {**GRAFANA_DB, "type": "mysql", "host": "mysql:3306"}}})
    container = plain(run.one("docker:index/container:Container", "grafana").inputs)
    envs = dict(e.split("=", 1) for e in container["envs"])
    assert envs["GF_DATABASE_TYPE"] == "mysql" and envs["GF_DATABASE_SSL_MODE"] == "skip-verify"


# --- dev and the single-instance layout --------------------------------------------------------


def test_dev_stays_single_instance() -> None:
    run = stack_run("dev")
    assert not run.of_type("kubernetes:apps/v1:StatefulSet")
    prometheus = _prometheus_yml(run)
    assert prometheus["global"]["external_labels"] == {"environment": "dev"}  # no cluster, no replica
    assert prometheus["alerting"] == {"alertmanagers": [{"static_configs": [{"targets": ["alertmanager:9093"]}]}]}
    am = plain(run.one("docker:index/container:Container", "alertmanager").inputs)
    assert "--cluster.listen-address=" in am["command"]
    assert not [a for a in am["command"] if a.startswith("--cluster.peer")]
    # Explicitly off is the same program as the default.
    assert snapshot(run_with("dev", {"highAvailability": False})) == snapshot(run)


@pytest.mark.parametrize("stack", HA_STACKS)
def test_high_availability_off_is_the_single_instance_layout(stack: str) -> None:
    run = run_with(stack, {"highAvailability": False})
    assert not run.of_type("kubernetes:apps/v1:StatefulSet")
    assert not run.of_type("kubernetes:policy/v1:PodDisruptionBudget")
    for name in ("prometheus", "alertmanager"):
        workload = k8s_workload(run, name)
        assert workload["kind"] == "Deployment" and workload["spec"]["replicas"] == 1
        assert workload["spec"]["strategy"]["type"] == "Recreate"
    assert _prometheus_yml(run)["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == [
        "alertmanager:9093"]


# --- the single-instance volumes ---------------------------------------------------------------

RETIRED = ("prometheus-prometheus-data", "alertmanager-alertmanager-data")


@pytest.mark.parametrize("stack", HA_STACKS)
def test_single_instance_pvcs_are_kept_with_the_same_urn_and_inputs(stack: str) -> None:
    single, ha = run_with(stack, {"highAvailability": False}), stack_run(stack)
    before = {r.urn: r for r in single.of_type("kubernetes:core/v1:PersistentVolumeClaim")}
    after = {r.urn: r for r in ha.of_type("kubernetes:core/v1:PersistentVolumeClaim")}
    assert before.keys() == after.keys()  # nothing dropped (would be deleted), nothing new
    for urn, record in before.items():
        assert plain(after[urn].inputs) == plain(record.inputs), urn
        assert after[urn].protect == record.protect, urn  # prod: still protected
        # Retained from now on, so that releasing them later never deletes the data.
        assert after[urn].retain_on_delete is (record.retain_on_delete or record.name in RETIRED), urn


@pytest.mark.parametrize("stack", HA_STACKS)
def test_releasing_them_never_deletes_data(stack: str) -> None:
    """`singleInstanceVolumes: release` stops declaring them. The engine then deletes what the
    previous `up` (keep) recorded: retained on delete, so the PVC stays in the cluster; in prod
    also protected, so `up` stops until `pulumi state unprotect` is run for it."""
    keep = {r.urn: r for r in stack_run(stack).resources}
    released = run_with(stack, {"singleInstanceVolumes": "release"})
    gone = sorted(set(keep) - {r.urn for r in released.resources})
    assert sorted(keep[urn].name for urn in gone) == sorted(RETIRED)
    for urn in gone:
        assert keep[urn].type == "kubernetes:core/v1:PersistentVolumeClaim" and keep[urn].retain_on_delete
        assert keep[urn].protect is (stack == "prod")


@pytest.mark.parametrize("stack", HA_STACKS)
def test_a_new_stack_declares_no_single_instance_volumes(stack: str) -> None:
    """A new stack has nothing to carry: without `singleInstanceVolumes` in its stack file it declares
    none of the single-instance layout's PVCs, which no pod would mount (on a real cluster each would
    still bind a volume: prod's 200Gi Prometheus claim among them, tests/e2e)."""
    values, secrets = with_secrets(stack_config(stack))
    assert values.pop("singleInstanceVolumes") == "keep"  # the stack files: deployed before highAvailability
    fresh = run_program(stack, values, secrets)
    names = {r.name for r in fresh.of_type("kubernetes:core/v1:PersistentVolumeClaim")}
    assert names.isdisjoint(RETIRED), names & set(RETIRED)
    assert set(RETIRED) <= {r.name for r in stack_run(stack).of_type("kubernetes:core/v1:PersistentVolumeClaim")}


# --- bad inputs: one line each -----------------------------------------------------------------

BASE: dict[str, Any] = {"grafana": {"adminPassword": "x"}, "exporters": {"postgres": {"enabled": False}}}


@pytest.mark.parametrize(("values", "expected"), [
    ({"target": "docker", "highAvailability": True},
     "quikapp-monitoring:highAvailability: true is not valid on a docker stack (allowed: false or unset"),
    ({"target": "kubernetes", "grafana": {"replicas": 2}},
     "quikapp-monitoring:grafana.replicas: 2 is not valid without grafana.database (allowed: 1, or more"),
    ({"target": "kubernetes", "highAvailability": False, "grafana": {"replicas": 2, "database": GRAFANA_DB}},
     "quikapp-monitoring:grafana.replicas: 2 is not valid without highAvailability (allowed: 1"),
    ({"target": "docker", "grafana": {"replicas": 2, "database": GRAFANA_DB}},
     "quikapp-monitoring:grafana.replicas: 2 is not valid without highAvailability"),
    ({"target": "kubernetes", "grafana": {"database": {**GRAFANA_DB, "type": "sqlite3"}}},
     # `--secret --path grafana.adminPassword` makes the whole `grafana` config key a secret; the loader
     # still shows the values of its non-secret keys (only secret keys are [secret]).
     "quikapp-monitoring:grafana.database.type: 'sqlite3' is not valid (allowed: 'postgres' or 'mysql')"),
    ({"target": "kubernetes", "grafana": {"replicas": 0}},
     "quikapp-monitoring:grafana.replicas: 0 is not valid (allowed: greater than or equal to 1)"),
    ({"target": "kubernetes", "singleInstanceVolumes": "delete"},
     "quikapp-monitoring:singleInstanceVolumes: 'delete' is not valid (allowed: 'keep' or 'release')"),
    ({"target": "kubernetes", "highAvailability": "maybe"},
     "quikapp-monitoring:highAvailability: 'maybe' is not valid (allowed: a valid boolean"),
    # The replica label is each pod's own name: a stack-wide value would make the two replicas one.
    ({"target": "kubernetes", "prometheus": {"externalLabels": {"__replica__": "a"}}},
     "quikapp-monitoring:prometheus.externalLabels.__replica__: is set on a highAvailability stack (allowed: any "
     "other label; highAvailability sets __replica__ to each replica's pod name, prometheus.haLabels.replica)"),
    ({"target": "kubernetes", "prometheus": {"haLabels": {"replica": "cluster"}}},
     "quikapp-monitoring:prometheus.haLabels: {'replica': 'cluster'} is not valid (allowed: two different label "
     "names for cluster and replica)"),
    ({"target": "kubernetes", "prometheus": {"haLabels": {"cluster": "ha-cluster"}}},
     "quikapp-monitoring:prometheus.haLabels.cluster: 'ha-cluster' is not valid (allowed: a Prometheus label name"),
])
def test_bad_high_availability_inputs_give_one_line(values: dict[str, Any], expected: str) -> None:
    merged = {**BASE, **values, "grafana": {**BASE["grafana"], **values.get("grafana", {})}}
    if "database" in merged["grafana"]:
        merged["grafana"]["database"] = {**merged["grafana"]["database"], "password": "p"}
    with pytest.raises(SettingsError) as caught:
        parse_settings(merged, {"grafana"})
    message = str(caught.value)
    assert "\n" not in message and "Traceback" not in message
    assert message.startswith("invalid stack configuration: " + expected), message


def test_a_grafana_database_needs_its_password_as_a_secret() -> None:
    values = {**BASE, "target": "kubernetes", "grafana": {"adminPassword": "x", "database": GRAFANA_DB}}
    with pytest.raises(SettingsError, match=r"^invalid stack configuration: quikapp-monitoring:grafana\.database\."
                                            r"password: required secret, not set \(set it with `pulumi config set "
                                            r"--stack <stack> --secret --path grafana\.database\.password`, "
                                            r"which prompts for the value without echo or reads it from stdin\)$"):
        parse_settings(values, {"grafana"})


def test_high_availability_defaults_per_target() -> None:
    assert parse_settings({**BASE, "target": "kubernetes"}, {"grafana"}).ha is True
    assert parse_settings({**BASE, "target": "docker"}, {"grafana"}).ha is False
    assert parse_settings({**BASE, "target": "kubernetes", "highAvailability": False}, {"grafana"}).ha is False


# --- every member, once: the rendered Alertmanager discovery on a real Prometheus -----------------


def _alertmanager_objects() -> list[dict[str, Any]]:
    """The API objects a prod cluster holds for Alertmanager with highAvailability: 3 pods, the
    `alertmanager` Service's EndpointSlice (http) and the headless Service's (http and the gossip
    port over TCP and UDP), in the shape tests/sd_fixture.py reads."""
    pods = [{"kind": "Pod", "metadata": {"name": f"alertmanager-{i}", "namespace": "monitoring"},
             "spec": {"nodeName": f"node-{i}", "containers": [{"name": "alertmanager", "image": "prom/alertmanager",
                                                                "ports": [{"name": "http", "containerPort": 9093}]}]},
             "status": {"phase": "Running", "podIP": f"10.244.{i}.9"}} for i in range(3)]
    services = [{"kind": "Service", "metadata": {"name": name, "namespace": "monitoring"}}
                for name in ("alertmanager", "alertmanager-headless")]
    endpoints = [{"addresses": [f"10.244.{i}.9"], "conditions": {"ready": True},
                  "targetRef": {"kind": "Pod", "name": f"alertmanager-{i}", "namespace": "monitoring"}}
                 for i in range(3)]
    slices = [
        {"kind": "EndpointSlice", "metadata": {"name": "alertmanager-x1", "namespace": "monitoring",
                                               "labels": {"kubernetes.io/service-name": "alertmanager"}},
         "addressType": "IPv4", "ports": [{"name": "http", "port": 9093, "protocol": "TCP"}], "endpoints": endpoints},
        {"kind": "EndpointSlice", "metadata": {"name": "alertmanager-headless-x2", "namespace": "monitoring",
                                               "labels": {"kubernetes.io/service-name": "alertmanager-headless"}},
         "addressType": "IPv4", "endpoints": endpoints,
         "ports": [{"name": "http", "port": 9093, "protocol": "TCP"},
                   {"name": "cluster-tcp", "port": 9094, "protocol": "TCP"},
                   {"name": "cluster-udp", "port": 9094, "protocol": "UDP"}]},
    ]
    return [*pods, *services, *slices]


def test_prometheus_discovers_each_alertmanager_member_once(tmp_path: Any) -> None:
    """A real Prometheus (the deployed version) runs the rendered `alerting` section with its
    Kubernetes discovery swapped for file_sd holding what that discovery derives from the objects
    above (tests/sd_fixture.py): exactly the three pods on 9093, not the headless Service's copies
    and not the gossip port."""
    import json as json_

    from live.live_servers import LOOPBACK, free_ports, get_json, servers_in_tempdir, start_prometheus, wait_until
    from sd_fixture import endpointslice_targets

    config = _prometheus_yml(stack_run("prod"))
    (managers,) = config["alerting"]["alertmanagers"]
    (sd,) = managers.pop("kubernetes_sd_configs")
    found = endpointslice_targets(_alertmanager_objects())
    assert len(found) == 3 * 4  # 3 pods x (the Service's port, the headless Service's three)
    groups = [{"targets": [address], "labels": labels} for ns, address, labels in found
              if ns in sd["namespaces"]["names"]]
    running = {"global": config["global"], "alerting": config["alerting"]}
    with servers_in_tempdir("quikapp-am-discovery-") as servers:
        sd_file = servers.root / "alertmanagers.json"
        sd_file.write_text(json_.dumps(groups))
        managers["file_sd_configs"] = [{"files": [str(sd_file)]}]
        path = servers.root / "prometheus.yml"
        path.write_text(yaml.safe_dump(running))
        (port,) = free_ports(1)
        server = start_prometheus(servers, path, port)
        active = wait_until("the discovered Alertmanagers", lambda: get_json(
            f"http://{LOOPBACK}:{port}/api/v1/alertmanagers")["data"]["activeAlertmanagers"] or None, 60,
            alive=server.check_alive)
    assert sorted(a["url"] for a in active) == [f"http://10.244.{i}.9:9093/api/v2/alerts" for i in range(3)]
