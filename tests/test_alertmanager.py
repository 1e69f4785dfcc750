"""Alertmanager: the rendered alertmanager.yml (amtool-checked), its resources and its secrets on every stack."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from components.render.alertmanager import (
    CONFIG_FILE,
    RECEIVER,
    TEMPLATE_FILE,
    render_alertmanager_config,
)
from components.settings import Settings, parse_settings
from conftest import stack_run
from mockengine.manifests import k8s_workload, plain, without_secrets
from mockengine.program import STACKS, stack_config
from mockengine.rendered import workload_files
from mockengine.run import SECRET_SIG, Run, run_program
from mockengine.stand_ins import SENTINELS, with_secrets
from tools import require, run_tool

BASE = {"target": "docker", "grafana": {"adminPassword": "s3cret-pass"}, "exporters": {"postgres": {"enabled": False}}}
SLACK = {"channel": "#quikapp-alerts"}
WEBHOOK: dict[str, Any] = {}
EMAIL = {"to": "oncall@quikapp.test", "from": "alertmanager@quikapp.test", "smarthost": "smtp.quikapp.test:587",
         "authUsername": "alertmanager"}
RECEIVERS = {"slack": {"slack": SLACK}, "webhook": {"webhook": WEBHOOK}, "email": {"email": EMAIL},
             "heartbeat": {"heartbeat": {"interval": "1m"}}, "pagerduty": {"pagerduty": {}},
             "opsgenie": {"opsgenie": {}}, "msteams": {"msteams": {}},
             "all": {"pagerduty": {}, "opsgenie": {}, "slack": SLACK, "msteams": {}, "webhook": WEBHOOK,
                     "email": EMAIL, "heartbeat": {}}}
AM_SENTINELS = [v for k, v in SENTINELS.items() if k[0] == "alertmanager"]
DOCKER_STACKS = [s for s in STACKS if stack_config(s)["target"] == "docker"]
KUBERNETES_STACKS = [s for s in STACKS if stack_config(s)["target"] == "kubernetes"]


def settings_with(**alertmanager: Any) -> Settings:
    """Settings with `alertmanager` values; receiver secrets filled with the harness sentinels."""
    values, secret_keys = with_secrets({**BASE, "alertmanager": alertmanager})
    return parse_settings(values, secret_keys)


def run_with_receivers(stack: str, receivers: dict[str, Any]) -> Run:
    values = stack_config(stack)
    values["alertmanager"] = {**values.get("alertmanager", {}), **receivers}
    return run_program(stack, *with_secrets(values))


def write_files(files: dict[str, str], tmp_path: Path) -> Path:
    """The workload's files side by side (as in the container's /etc/alertmanager); the config's path."""
    for path, text in files.items():
        (tmp_path / Path(path).name).write_text(text)
    return tmp_path / Path(CONFIG_FILE).name


def amtool_check(files: dict[str, str], tmp_path: Path) -> str:
    """amtool check-config on the config and, next to it, the template it names (parsed too)."""
    amtool = require("amtool")
    path = write_files(files, tmp_path)
    result = run_tool(amtool, "check-config", path)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


# --- rendering (pure) -------------------------------------------------------------------------------------------


def test_default_route_and_a_receiver_without_integrations() -> None:
    config = yaml.safe_load(render_alertmanager_config(settings_with()))
    assert config["templates"] == ["quikapp.tmpl"]
    # No integration anywhere: only the Watchdog's route; everything else stays with the root.
    assert config["route"] == {"receiver": RECEIVER,
                               "group_by": ["alertname", "service", "instance", "namespace", "pod", "container"],
                               "group_wait": "30s",
                               "group_interval": "5m", "repeat_interval": "4h",
                               "routes": [{"matchers": ['alertname="Watchdog"'], "receiver": "heartbeat",
                                           "group_by": ["alertname"], "group_wait": "0s", "group_interval": "1m",
                                           "repeat_interval": "5m"}]}
    assert config["receivers"] == [{"name": RECEIVER}, {"name": "pager"}, {"name": "chat"}, {"name": "heartbeat"}]


def test_route_timings_come_from_settings() -> None:
    config = yaml.safe_load(render_alertmanager_config(settings_with(
        groupBy=["alertname"], groupWait="10s", groupInterval="1m", repeatInterval="12h")))
    assert config["route"]["group_by"] == ["alertname"]
    assert (config["route"]["group_wait"], config["route"]["group_interval"], config["route"]["repeat_interval"]) == (
        "10s", "1m", "12h")


def test_critical_inhibits_only_the_warning_of_the_same_alert_and_target() -> None:
    """Not every warning of the service and instance (issue 18): the same alertname, target and object.
    Behaviour: tests/live/test_live_alert_routing.py; the labels: tests/test_alertmanager_routing.py."""
    config = yaml.safe_load(render_alertmanager_config(settings_with()))
    same = ["alertname", "service", "job", "instance", "namespace", "pod", "container", "node", "cluster",
            "persistentvolumeclaim", "mountpoint", "device", "integration", "slo"]
    assert config["inhibit_rules"][:2] == [
        {"source_matchers": ['severity="critical"'], "target_matchers": ['severity=~"warning|info"'], "equal": same},
        {"source_matchers": ['severity="warning"'], "target_matchers": ['severity="info"'], "equal": same},
    ]


def test_receivers_carry_their_resolved_secrets() -> None:
    config = yaml.safe_load(render_alertmanager_config(settings_with(**RECEIVERS["all"])))
    receiver, pager, chat, _ = config["receivers"]
    slack, = chat["slack_configs"]
    assert slack["channel"] == "#quikapp-alerts"
    assert slack["api_url"] == SENTINELS[("alertmanager", "slack", "apiUrl")]
    assert receiver["webhook_configs"] == [{"url": SENTINELS[("alertmanager", "webhook", "url")],
                                            "send_resolved": True}]
    email, = receiver["email_configs"]
    assert (email["to"], email["from"], email["smarthost"]) == (EMAIL["to"], EMAIL["from"], EMAIL["smarthost"])
    assert email["auth_username"] == "alertmanager"
    assert email["auth_password"] == SENTINELS[("alertmanager", "email", "authPassword")]
    assert email["require_tls"] is True
    assert pager["pagerduty_configs"][0]["routing_key"] == SENTINELS[("alertmanager", "pagerduty", "routingKey")]
    assert pager["opsgenie_configs"][0]["api_key"] == SENTINELS[("alertmanager", "opsgenie", "apiKey")]
    assert chat["msteamsv2_configs"][0]["webhook_url"] == SENTINELS[("alertmanager", "msteams", "webhookUrl")]


def test_only_configured_integrations_are_rendered() -> None:
    receiver = yaml.safe_load(render_alertmanager_config(settings_with(**RECEIVERS["webhook"])))["receivers"][0]
    assert sorted(receiver) == ["name", "webhook_configs"]


# --- upstream checker --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_amtool_accepts_every_stacks_rendered_config(stack: str, tmp_path: Path) -> None:
    out = amtool_check(workload_files(stack_run(stack))["alertmanager"], tmp_path)
    assert "4 receivers" in out and "3 inhibit rules" in out and "1 templates" in out


def amtool_route(text: str, tmp_path: Path, *labels: str) -> str:
    """The receiver `amtool config routes test` picks for an alert with `labels`."""
    path = tmp_path / "alertmanager.yml"
    path.write_text(text)
    result = run_tool(require("amtool"), "config", "routes", "test", f"--config.file={path}", *labels)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.mark.parametrize("stack", STACKS)
def test_the_watchdog_goes_to_the_heartbeat_and_nothing_else_does(stack: str, tmp_path: Path) -> None:
    # Watchdog always fires: routed to the on-call receiver it would notify every repeat interval.
    text = workload_files(stack_run(stack))["alertmanager"][CONFIG_FILE]
    assert amtool_route(text, tmp_path, "alertname=Watchdog", "severity=none") == "heartbeat"
    assert amtool_route(text, tmp_path, "alertname=ServiceDown", "severity=critical", "service=auth") == "quikapp"
    assert amtool_route(text, tmp_path, "alertname=NodeFilesystemAlmostOutOfSpace", "severity=warning") == "quikapp"


def test_a_configured_heartbeat_receives_the_watchdog_at_its_interval() -> None:
    config = yaml.safe_load(render_alertmanager_config(settings_with(heartbeat={"interval": "2m"})))
    (route,) = config["route"]["routes"]
    assert route["matchers"] == ['alertname="Watchdog"'] and route["repeat_interval"] == "2m"
    heartbeat = next(r for r in config["receivers"] if r["name"] == "heartbeat")
    assert heartbeat["webhook_configs"] == [{"url": SENTINELS[("alertmanager", "heartbeat", "url")],
                                             "send_resolved": False}]


@pytest.mark.parametrize("kind", sorted(RECEIVERS))
def test_amtool_accepts_configs_with_receivers(kind: str, tmp_path: Path) -> None:
    # Rendered through the real program, read back from what the container receives.
    files = workload_files(run_with_receivers("dev", RECEIVERS[kind]))["alertmanager"]
    receivers = {r["name"]: sorted(k for k in r if k != "name")
                 for r in yaml.safe_load(files[CONFIG_FILE])["receivers"]}
    expected = {
        "slack": {"chat": ["slack_configs"]}, "msteams": {"chat": ["msteamsv2_configs"]},
        "pagerduty": {"pager": ["pagerduty_configs"]}, "opsgenie": {"pager": ["opsgenie_configs"]},
        "webhook": {RECEIVER: ["webhook_configs"]}, "email": {RECEIVER: ["email_configs"]},
        "heartbeat": {"heartbeat": ["webhook_configs"]},
        "all": {RECEIVER: ["email_configs", "webhook_configs"], "pager": ["opsgenie_configs", "pagerduty_configs"],
                "chat": ["msteamsv2_configs", "slack_configs"], "heartbeat": ["webhook_configs"]},
    }[kind]
    assert {name: integrations for name, integrations in receivers.items() if integrations} == expected
    amtool_check(files, tmp_path)


def test_amtool_rejects_a_broken_config(tmp_path: Path) -> None:
    """The check above can fail: a route naming an unknown receiver is refused."""
    amtool = require("amtool")
    path = tmp_path / "alertmanager.yml"
    path.write_text(render_alertmanager_config(settings_with()).replace(f"receiver: {RECEIVER}", "receiver: nobody"))
    assert run_tool(amtool, "check-config", path).returncode != 0


def test_amtool_check_config_parses_the_template_next_to_the_config(tmp_path: Path) -> None:
    """The config names its template relative to itself, so check-config reads and parses it:
    a broken template fails the check (the rendered one passes above)."""
    files = dict(workload_files(stack_run("dev"))["alertmanager"])
    files[TEMPLATE_FILE] += '{{ define "broken" }}{{ .X | nope }}{{ end }}\n'
    path = write_files(files, tmp_path)
    result = run_tool(require("amtool"), "check-config", path)
    assert result.returncode != 0 and "nope" in result.stdout + result.stderr


# --- resources ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", DOCKER_STACKS)
def test_docker_alertmanager_container(stack: str) -> None:
    run = stack_run(stack)
    component = run.one("quikapp:monitoring:Alertmanager", "alertmanager")
    record = run.one("docker:index/container:Container", "alertmanager")
    assert record.parent == component.urn
    image = plain(run.one("docker:index/remoteImage:RemoteImage", "alertmanager-image").inputs)
    assert image["name"] == "prom/alertmanager:v0.35.0"
    volume = plain(run.one("docker:index/volume:Volume", "alertmanager-alertmanager-data").inputs)
    assert volume["name"] == "alertmanager_data"
    container = plain(record.inputs)
    assert container["name"] == "quikapp-alertmanager"
    assert container["command"] == ["--config.file=/etc/alertmanager/alertmanager.yml",
                                    "--storage.path=/alertmanager", "--cluster.listen-address=",
                                    "--web.external-url=http://127.0.0.1:9093", "--web.route-prefix=/"]
    assert container["volumes"] == [{"volumeName": "alertmanager_data", "containerPath": "/alertmanager"},
                                    {"volumeName": "alertmanager_config", "containerPath": "/etc/alertmanager",
                                     "readOnly": True}]
    publish = stack_config(stack).get("docker", {}).get("publishAddress", "127.0.0.1")
    assert container["ports"] == [{"internal": 9093, "external": 9093, "ip": publish, "protocol": "tcp"}]
    assert container["networksAdvanced"][0]["aliases"] == ["alertmanager"]
    assert "http://127.0.0.1:9093/-/ready" in container["healthcheck"]["tests"]
    # The config and template reach Alertmanager through the config volume, copied by a one-shot
    # container, and the reloader (a container of its own on the network) has it reload: no upload
    # of its own.
    assert "uploads" not in container
    copier = run.one("docker:index/container:Container", "alertmanager-config")
    assert [u["file"] for u in plain(copier.inputs)["uploads"]] == ["/staging/0/alertmanager.yml",
                                                                     "/staging/0/quikapp.tmpl"]
    # No receiver credentials on this stack: a plain upload, so previews show route changes.
    # (With credentials it is a secret upload: test_receiver_credentials_only_in_secrets.)
    assert SECRET_SIG not in repr(copier.inputs["uploads"])
    reloader = plain(run.one("docker:index/container:Container", "alertmanager-config-reloader").inputs)
    assert "--reload-url=http://alertmanager:9093/-/reload" in reloader["command"]
    assert reloader["volumes"] == [{"volumeName": "alertmanager_config", "containerPath": "/etc/alertmanager",
                                    "readOnly": True}]


def _single_instance(stack: str) -> Run:
    values = stack_config(stack)
    values["highAvailability"] = False
    return run_program(stack, *with_secrets(values))


@pytest.mark.parametrize("stack", KUBERNETES_STACKS)
@pytest.mark.parametrize("ha", [True, False], ids=["ha", "single"])
def test_kubernetes_alertmanager_objects(stack: str, ha: bool) -> None:
    run = stack_run(stack) if ha else _single_instance(stack)
    workload = k8s_workload(run, "alertmanager")
    if ha:  # a 3-member cluster (tests/test_ha.py has the details)
        assert workload["kind"] == "StatefulSet" and workload["spec"]["replicas"] == 3
        assert workload["spec"]["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}
        (template,) = workload["spec"]["volumeClaimTemplates"]
        assert template["metadata"]["name"] == "alertmanager-data"
        assert template["spec"]["resources"]["requests"]["storage"] == "1Gi"
    else:
        assert workload["kind"] == "Deployment" and workload["spec"]["strategy"]["type"] == "Recreate"
        assert "--cluster.listen-address=" in workload["spec"]["template"]["spec"]["containers"][0]["args"]
    pod = workload["spec"]["template"]["spec"]
    container, reloader = pod["containers"]
    assert reloader["name"] == "config-reloader"
    assert "--reload-url=http://127.0.0.1:9093/-/reload" in reloader["args"]
    assert reloader["volumeMounts"] == [{"name": "config-0", "mountPath": "/etc/alertmanager", "readOnly": True}]
    assert container["image"] == "prom/alertmanager:v0.35.0"
    assert "--storage.path=/alertmanager" in container["args"]
    assert container["readinessProbe"]["httpGet"] == {"path": "/-/ready", "port": 9093}
    assert container["livenessProbe"]["httpGet"] == {"path": "/-/healthy", "port": 9093}
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] == 65534
    assert container["resources"] == {"requests": {"cpu": "100m", "memory": "128Mi"},
                                      "limits": {"cpu": "1", "memory": "512Mi"}}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert mounts["/alertmanager"] == "alertmanager-data"
    # The config directory as a whole (updated in place). No credentials on these stacks: both files
    # from the ConfigMap (with credentials: the config from a Secret, tested below).
    assert mounts["/etc/alertmanager"] == "config-0"
    (volume,) = [v for v in pod["volumes"] if v["name"] == "config-0"]
    # The directory's ConfigMap whole: its keys are the file names, none is listed in the pod.
    assert volume["projected"]["sources"] == [{"configMap": {"name": "alertmanager-live-etc-alertmanager"}}]
    config_map = plain(run.one("kubernetes:core/v1:ConfigMap", "alertmanager-live-etc-alertmanager").inputs)
    assert sorted(config_map["data"]) == ["alertmanager.yml", "quikapp.tmpl"]
    # With highAvailability the single-instance PVC stays declared (retained) until released.
    pvc = plain(run.one("kubernetes:core/v1:PersistentVolumeClaim", "alertmanager-alertmanager-data").inputs)
    assert pvc["metadata"]["name"] == "alertmanager-data"
    assert pvc["spec"]["resources"]["requests"]["storage"] == "1Gi"
    service = plain(run.one("kubernetes:core/v1:Service", "alertmanager-service").inputs)
    assert service["metadata"]["name"] == "alertmanager"
    assert service["spec"]["ports"] == [{"name": "http", "port": 9093, "targetPort": 9093, "protocol": "TCP"}]


def test_storage_size_and_resources_come_from_settings() -> None:
    values = stack_config("staging")
    values["alertmanager"] = {"storageSize": "3Gi", "resources": {"cpuLimit": "2", "memoryLimit": "1Gi"}}
    run = run_program("staging", *with_secrets(values))
    pvc = plain(run.one("kubernetes:core/v1:PersistentVolumeClaim", "alertmanager-alertmanager-data").inputs)
    assert pvc["spec"]["resources"]["requests"]["storage"] == "3Gi"
    workload = k8s_workload(run, "alertmanager")
    assert workload["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "3Gi"
    container = workload["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"]["limits"] == {"cpu": "2", "memory": "1Gi"}


def test_outputs_per_target() -> None:
    dev = stack_run("dev").outputs
    assert dev["alertmanagerUrl"] == "http://127.0.0.1:9093"
    assert dev["alertmanagerInternalUrl"] == "http://alertmanager:9093"
    prod = stack_run("prod").outputs
    assert prod["alertmanagerInternalUrl"] == "http://alertmanager.monitoring.svc.cluster.local:9093"
    # Not exposed by the cluster: reached through `kubectl port-forward` on the Docker port.
    assert prod["alertmanagerUrl"] == "http://localhost:9093"
    assert prod["portForward"]["alertmanager"] == (
        "kubectl --context quikapp-prod -n monitoring port-forward svc/alertmanager 9093:9093")


def test_prometheus_points_at_this_alertmanager() -> None:
    for stack in STACKS:
        files = workload_files(stack_run(stack))
        prometheus = yaml.safe_load(files["prometheus"]["/etc/prometheus/prometheus.yml"])
        (alertmanagers,) = prometheus["alerting"]["alertmanagers"]
        if stack_config(stack)["target"] == "docker":
            assert alertmanagers["static_configs"][0]["targets"] == ["alertmanager:9093"]
        else:  # every member's pod behind the `alertmanager` Service (tests/test_ha.py)
            assert alertmanagers["relabel_configs"][0]["regex"] == "alertmanager;9093"
        assert "alertmanager" in files


# --- secrets -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_receiver_credentials_stay_secret(stack: str) -> None:
    run = run_with_receivers(stack, RECEIVERS["all"])
    text = workload_files(run)["alertmanager"][CONFIG_FILE]
    assert all(s in text for s in AM_SENTINELS)  # the container does get them
    kubernetes = stack_config(stack)["target"] == "kubernetes"
    for record in run.resources:
        if kubernetes and record.type == "kubernetes:core/v1:Secret":
            shown = without_secrets(record.inputs)
        elif kubernetes:
            shown = record.inputs  # nothing outside a Secret may hold them, wrapped or not
        else:
            shown = without_secrets(record.inputs)
        for sentinel in AM_SENTINELS:
            assert sentinel not in repr(shown), f"{record.type} {record.name}"
    assert not any(s in repr(run.outputs) for s in AM_SENTINELS)
    if kubernetes:  # with credentials the config moves from the ConfigMap to a Secret; the template stays
        config_maps = [c for c in run.of_type("kubernetes:core/v1:ConfigMap") if c.name.startswith("alertmanager")]
        assert [sorted(plain(c.inputs)["data"]) for c in config_maps] == [["quikapp.tmpl"]]
        secret = run.one("kubernetes:core/v1:Secret", "alertmanager-live-etc-alertmanager")
        assert sorted(plain(secret.inputs)["stringData"]) == ["alertmanager.yml"]
        pod = k8s_workload(run, "alertmanager")["spec"]["template"]["spec"]
        (volume,) = [v for v in pod["volumes"] if v["name"] == "config-0"]
        # One directory, both sources whole: the kubelet projects them together and updates them in place.
        assert volume["projected"]["sources"] == [
            {"configMap": {"name": "alertmanager-live-etc-alertmanager"}},
            {"secret": {"name": "alertmanager-live-etc-alertmanager"}}]


def test_receiver_secrets_must_be_set_as_secrets() -> None:
    values = {**BASE, "alertmanager": {"webhook": {"url": "https://hooks.test/x"}}}
    with pytest.raises(Exception, match=r"alertmanager\.webhook\.url: \[secret\] is stored in plain text"):
        parse_settings(values, {"grafana"})
