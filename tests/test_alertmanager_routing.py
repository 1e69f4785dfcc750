"""Alert routing: `amtool config routes test` for every route on every stack and integration variant,
the notification template rendered by amtool, and the inhibit rules' alert names.

The expected receivers come from the routing table in docs/OPERATIONS.md, written out here
(`expected_receivers`) independently of components/render/alertmanager.py: a missing or extra route
changes what amtool prints and fails the case.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.catalog import CONFIGS, load_catalog, parse_catalog
from components.render.alertmanager import (
    CONFIG_FILE,
    PER_TARGET_DOWN_ALERT,
    SAME_ALERT_LABELS,
    SYMPTOM_ALERTS,
    TEMPLATE_FILE,
    WHOLE_SERVICE_DOWN_ALERTS,
    render_alertmanager_config,
    render_alertmanager_template,
)
from components.render.prometheus import render_catalog_rules, rule_files
from components.render.slo import render_slo_rules
from components.scopes import FEATURES, load_scopes
from components.settings import SettingsError, TargetKind, parse_settings
from conftest import stack_run
from mockengine.program import STACKS, stack_config
from mockengine.rendered import workload_files
from mockengine.run import run_program
from mockengine.stand_ins import with_secrets
from tools import require, run_tool

BASE = {"target": "docker", "grafana": {"adminPassword": "s3cret-pass"}, "exporters": {"postgres": {"enabled": False}}}
SLACK = {"channel": "#quikapp-alerts"}
EMAIL = {"to": "oncall@quikapp.test", "from": "alertmanager@quikapp.test", "smarthost": "smtp.quikapp.test:587"}
INTEGRATIONS: dict[str, Any] = {"pagerduty": {}, "opsgenie": {}, "slack": SLACK, "msteams": {}, "email": EMAIL,
                                "webhook": {}}
PAGER, CHAT, DEFAULT = {"pagerduty", "opsgenie"}, {"slack", "msteams"}, {"email", "webhook"}
# Which integrations each variant configures: all, none, each one alone, and the mixes whose
# fallbacks differ (a pager without chat, chat without a pager, no e-mail/webhook).
VARIANTS: dict[str, frozenset[str]] = {
    "none": frozenset(),
    "all": frozenset(INTEGRATIONS),
    **{kind: frozenset({kind}) for kind in INTEGRATIONS},
    "pager+default": frozenset({"pagerduty", "email"}),
    "chat+default": frozenset({"slack", "webhook"}),
    "pager+chat": frozenset({"opsgenie", "msteams"}),
}
# One alert per route and severity (labels as the rules set them).
CASES: dict[str, dict[str, str]] = {
    "critical": {"alertname": "ServiceDown", "severity": "critical", "service": "auth", "instance": "auth:8080"},
    "warning": {"alertname": "HighErrorRate", "severity": "warning", "service": "auth"},
    # A container alert of one pod on Kubernetes (the kubelet's cAdvisor: instance = node) and on Docker.
    "container-kubernetes": {"alertname": "ContainerMemoryNearLimit", "severity": "warning", "service": "cadvisor",
                             "job": "cadvisor", "instance": "node-a", "namespace": "quikapp",
                             "pod": "search-7d9f8b6c4-x2v9k", "container": "search"},
    "container-docker": {"alertname": "ContainerCPUThrottlingHigh", "severity": "warning", "service": "cadvisor",
                         "job": "cadvisor", "instance": "cadvisor:8080", "container": "backend"},
    "whole-service-down": {"alertname": "ServiceAllTargetsDown", "severity": "critical", "service": "payments",
                           "job": "nestjs-services"},
    "info": {"alertname": "NodeCPUHighUsage", "severity": "info", "service": "node-exporter"},
    "no-severity": {"alertname": "SomethingExternal"},
    "watchdog": {"alertname": "Watchdog", "severity": "none"},
}


def expected_receivers(kinds: frozenset[str], labels: dict[str, str]) -> str:
    """The routing table (docs/OPERATIONS.md): what `amtool config routes test` must print."""
    if labels["alertname"] == "Watchdog":
        return "heartbeat"  # and nothing else, whatever its labels
    severity = labels.get("severity")
    out = []
    if severity == "critical" and kinds & PAGER:
        out.append("pager")
    if severity in ("critical", "warning") and kinds & CHAT:
        out.append("chat")
    if not out or kinds & DEFAULT:  # the root's receiver: e-mail and webhook get every alert
        out.append("quikapp")
    return ",".join(out)


def settings_for(kinds: frozenset[str], **extra: Any) -> Any:
    values, secret_keys = with_secrets({**BASE, "alertmanager": {**{k: INTEGRATIONS[k] for k in kinds}, **extra}})
    return parse_settings(values, secret_keys)


def write_files(files: dict[str, str], folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for path, text in files.items():
        (folder / Path(path).name).write_text(text)
    return folder / Path(CONFIG_FILE).name


def rendered_files(kinds: frozenset[str], **extra: Any) -> dict[str, str]:
    settings = settings_for(kinds, **extra)
    return {CONFIG_FILE: render_alertmanager_config(settings),
            TEMPLATE_FILE: render_alertmanager_template(settings, "http://grafana.quikapp.test:3030")}


def route(config: Path, labels: dict[str, str]) -> str:
    result = run_tool(require("amtool"), "config", "routes", "test", f"--config.file={config}",
                      *(f"{k}={v}" for k, v in labels.items()))
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.strip()


def check_routes(config: Path, kinds: frozenset[str]) -> set[str]:
    """Every case routed as the table says (all mismatches reported at once); the receivers reached."""
    check = run_tool(require("amtool"), "check-config", config)
    assert check.returncode == 0, check.stdout + check.stderr
    got = {name: route(config, labels) for name, labels in CASES.items()}
    want = {name: expected_receivers(kinds, labels) for name, labels in CASES.items()}
    assert got == want
    return {r for receivers in got.values() for r in receivers.split(",")}


def route_receivers(config: Path) -> set[str]:
    """The receiver of every node of the rendered route tree."""
    def walk(node: dict[str, Any]) -> set[str]:
        return {node["receiver"], *(r for child in node.get("routes", []) for r in walk(child))}
    return walk(yaml.safe_load(config.read_text())["route"])


# --- amtool config routes test ------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_route_of_every_variant(variant: str, tmp_path: Path) -> None:
    config = write_files(rendered_files(VARIANTS[variant]), tmp_path)
    reached = check_routes(config, VARIANTS[variant])
    # Every route in the tree is some case's destination: a route without a case fails here.
    assert route_receivers(config) <= reached


@pytest.mark.parametrize("stack", STACKS)
def test_every_route_of_each_stack_as_deployed(stack: str, tmp_path: Path) -> None:
    """The stack files configure no integration: everything but the Watchdog stays with `quikapp`."""
    config = write_files(workload_files(stack_run(stack))["alertmanager"], tmp_path)
    assert route_receivers(config) <= check_routes(config, frozenset())


@pytest.mark.parametrize("stack", STACKS)
def test_every_route_of_each_stack_with_every_integration(stack: str, tmp_path: Path) -> None:
    """Rendered by the real program on each stack, read back from what the container receives."""
    values = stack_config(stack)
    values["alertmanager"] = {**values.get("alertmanager", {}), **INTEGRATIONS, "heartbeat": {}}
    config = write_files(workload_files(run_program(stack, *with_secrets(values)))["alertmanager"], tmp_path)
    assert route_receivers(config) <= check_routes(config, frozenset(INTEGRATIONS))


def test_a_missing_route_fails_the_cases(tmp_path: Path) -> None:
    """The check can fail: drop the pager route and critical alerts no longer page."""
    files = rendered_files(frozenset(INTEGRATIONS))
    config = yaml.safe_load(files[CONFIG_FILE])
    config["route"]["routes"] = [r for r in config["route"]["routes"] if r["receiver"] != "pager"]
    files[CONFIG_FILE] = yaml.safe_dump(config)
    path = write_files(files, tmp_path)
    assert route(path, CASES["critical"]) == "chat,quikapp" != expected_receivers(frozenset(INTEGRATIONS),
                                                                                   CASES["critical"])


def test_pages_repeat_sooner_than_chat_and_timings_come_from_settings() -> None:
    routes = yaml.safe_load(rendered_files(frozenset(INTEGRATIONS))[CONFIG_FILE])["route"]["routes"]
    by_receiver = {r["receiver"]: r for r in routes}
    assert (by_receiver["pager"]["group_wait"], by_receiver["pager"]["repeat_interval"]) == ("10s", "1h")
    assert (by_receiver["chat"]["group_wait"], by_receiver["chat"]["repeat_interval"]) == ("30s", "4h")
    assert "group_by" not in by_receiver["pager"]  # inherited from the root
    custom = yaml.safe_load(rendered_files(frozenset(INTEGRATIONS), routes={
        "pager": {"groupBy": ["alertname", "service", "instance"], "repeatInterval": "30m"},
        "chat": {"groupWait": "1m", "groupInterval": "10m", "repeatInterval": "12h"}})[CONFIG_FILE])["route"]["routes"]
    by_receiver = {r["receiver"]: r for r in custom}
    assert by_receiver["pager"]["group_by"] == ["alertname", "service", "instance"]
    # The other keys keep the pager's defaults, not the chat route's.
    assert by_receiver["pager"]["repeat_interval"] == "30m" and by_receiver["pager"]["group_wait"] == "10s"
    assert (by_receiver["chat"]["group_wait"], by_receiver["chat"]["group_interval"],
            by_receiver["chat"]["repeat_interval"]) == ("1m", "10m", "12h")


@pytest.mark.parametrize(("key", "value", "allowed"), [
    ("runbookBaseUrl", "github.com/quikapp", "an http:// or https:// URL"),
    ("routes", {"pager": {"repeatInterval": "soon"}}, "a duration"),
    ("pagerduty", {"url": "events.pagerduty.com"}, "an http:// or https:// URL"),
])
def test_bad_routing_settings_are_one_line(key: str, value: Any, allowed: str) -> None:
    values, secret_keys = with_secrets({**BASE, "alertmanager": {key: value}})
    with pytest.raises(SettingsError) as raised:
        parse_settings(values, secret_keys)
    message = str(raised.value)
    assert len(message.splitlines()) == 1 and f"alertmanager.{key}" in message and allowed in message


# --- inhibit rules ----------------------------------------------------------------------------------------------


def _alert_names() -> set[str]:
    names = set()
    for path in sorted((CONFIGS / "prometheus" / "rules").glob("*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            names |= {r["alert"] for r in group["rules"] if "alert" in r}
    catalog = yaml.safe_load(render_catalog_rules(load_catalog()))
    return names | {r["alert"] for g in catalog["groups"] for r in g["rules"]}


def test_inhibit_rules_name_alerts_that_exist() -> None:
    """A renamed rule would silently end its inhibition: the names must be the rules' names."""
    assert {*WHOLE_SERVICE_DOWN_ALERTS, *SYMPTOM_ALERTS, PER_TARGET_DOWN_ALERT} <= _alert_names()
    config = yaml.safe_load(rendered_files(frozenset())[CONFIG_FILE])
    (down,) = [rule for rule in config["inhibit_rules"] if "equal" in rule and rule["equal"] == ["service"]]
    assert down["source_matchers"] == ['alertname=~"ServiceAllTargetsDown|ServiceHasNoTargets"', 'service=~".+"']
    assert down["target_matchers"] == ['alertname=~"HighErrorRate|HighLatency|ServiceDown"']
    # No rule mutes by service and instance alone any more: every other rule compares the alert name.
    assert all("alertname" in rule["equal"] for rule in config["inhibit_rules"] if rule is not down)


# The alerts that exist as a critical and a warning rule, and the labels their series are told apart
# by, read from their expressions: node-mixin's filesystem alerts select node_filesystem_* per
# device/fstype/mountpoint of a node-exporter target; its file-descriptor alert node_filefd_* per
# target; KubePersistentVolumeFillingUp kubelet_volume_stats_* per namespace/persistentvolumeclaim of
# a kubelet target (instance = node); AlertmanagerClusterFailedToSendAlerts `min by (job, service,
# integration)`. (fstype follows from device and mountpoint.)
TWO_SEVERITY_ALERTS = {
    "NodeFilesystemSpaceFillingUp": {"instance", "mountpoint", "device"},
    "NodeFilesystemAlmostOutOfSpace": {"instance", "mountpoint", "device"},
    "NodeFilesystemFilesFillingUp": {"instance", "mountpoint", "device"},
    "NodeFilesystemAlmostOutOfFiles": {"instance", "mountpoint", "device"},
    "NodeFileDescriptorLimit": {"instance"},
    "KubePersistentVolumeFillingUp": {"instance", "namespace", "persistentvolumeclaim"},
    "KubePersistentVolumeInodesFillingUp": {"instance", "namespace", "persistentvolumeclaim"},
    # One series per node's kubelet (the kubelet job's `instance` and `node` are the node's name).
    "KubeletClientCertificateExpiration": {"instance", "node"},
    "KubeletServerCertificateExpiration": {"instance", "node"},
    "AlertmanagerClusterFailedToSendAlerts": {"job", "service", "integration"},
    # One series per objective of a service (render/slo.py: the SLI records carry service and slo).
    "ErrorBudgetBurn": {"service", "slo"},
}
# A catalog with both kinds of objective, for the rule file rendered from the catalog (slo.yml).
SLO_CATALOG = {"jobs": {"shop": {"services": {"checkout": {
    "port": 6010, "slo": {"availability": 99.9, "latency": {"threshold": 0.25, "target": 99}}}}}}}


def _every_shippable_alert() -> dict[str, set[str]]:
    """{alert name: its severities} over every rule file any stack can ship: the files of every job and
    feature, and those rendered from a catalog (its ServiceHasNoTargets, its SLOs)."""
    jobs = {job for scope in load_scopes().rules.scopes.values() for job in scope.jobs}
    catalog = parse_catalog(SLO_CATALOG)
    rendered = [render_catalog_rules(catalog), render_slo_rules(catalog) or ""]
    severities: dict[str, set[str]] = {}
    for target in TargetKind:
        for text in [*rule_files(target, jobs, features=FEATURES).values(), *rendered]:
            for group in yaml.safe_load(text)["groups"]:
                for rule in group["rules"]:
                    if "alert" in rule:
                        severities.setdefault(rule["alert"], set()).add(rule["labels"]["severity"])
    return severities


def test_a_critical_mutes_only_its_own_warning_twin() -> None:
    """Every alert shipped in two severities is told apart by labels the critical-mutes-warning rule
    compares; a new one fails here until its labels are checked and listed above."""
    both = {name for name, severities in _every_shippable_alert().items() if {"critical", "warning"} <= severities}
    assert both == set(TWO_SEVERITY_ALERTS), "alerts in two severities changed: list their labels above"
    for alert, labels in TWO_SEVERITY_ALERTS.items():
        assert labels <= set(SAME_ALERT_LABELS), (alert, labels - set(SAME_ALERT_LABELS))
    # kube-prometheus-stack's `equal: [namespace, alertname]` would not tell two mounts of a node apart.
    assert not TWO_SEVERITY_ALERTS["NodeFilesystemAlmostOutOfSpace"] <= {"namespace", "alertname"}


# --- grouping ----------------------------------------------------------------------------------------------------

# What keeps one node's or one pod's alerts out of the whole cluster's notification: on Kubernetes
# the cAdvisor and node-exporter targets are nodes (`instance`), a pod is namespace + pod; on Docker a
# container alert's container is `container`.
APART = {"instance", "namespace", "pod", "container"}


def _group_by_of_each_route(config: dict[str, Any]) -> dict[str, list[str]]:
    """{receiver: effective group_by} of the root and its children (a child inherits the root's)."""
    root = config["route"]
    return {root["receiver"]: root["group_by"],
            **{child["receiver"]: child.get("group_by", root["group_by"]) for child in root["routes"]}}


@pytest.mark.parametrize("variant", ["none", "all"])
def test_every_route_groups_a_pod_or_node_apart(variant: str) -> None:
    config = yaml.safe_load(rendered_files(VARIANTS[variant])[CONFIG_FILE])
    for receiver, group_by in _group_by_of_each_route(config).items():
        if receiver != "heartbeat":  # the Watchdog is one alert
            assert set(group_by) >= APART, (receiver, group_by)


# --- the notification template ------------------------------------------------------------------------------

RELATIVE_RUNBOOK = "docs/runbooks.md#servicedown"
BASE_URL = "https://git.quikapp.test/monitoring/blob/main/"
# As the shipped rules carry it (render/runbooks.py puts alertmanager.runbookBaseUrl in front).
SHIPPED_RUNBOOK = BASE_URL + RELATIVE_RUNBOOK
ABSOLUTE_RUNBOOK = "https://runbooks.prometheus-operator.dev/runbooks/node/noderaiddegraded"
GRAFANA_LINK = "http://grafana.quikapp.test:3030/d/quikapp-service?var-service=auth"


def template_data(runbook: str = SHIPPED_RUNBOOK, service: str = "auth", **extra: str) -> dict[str, Any]:
    """A notification's data (prometheus/alertmanager@v0.35.0 template.Data) for a firing critical alert."""
    labels = {"alertname": "ServiceDown", "severity": "critical", "service": service, "instance": f"{service}:8080",
              "job": "quikapp-services", **extra}
    annotations = {"summary": f"Service {service} is down", "description": f"{service}:8080 has been down",
                   "runbook_url": runbook}
    return {"receiver": "pager", "status": "firing",
            "alerts": [{"status": "firing", "labels": labels, "annotations": annotations,
                        "startsAt": "2026-11-27T02:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
                        "generatorURL": "http://127.0.0.1:9090/graph", "fingerprint": "0123456789abcdef"}],
            "groupLabels": {"alertname": "ServiceDown", "service": service},
            "commonLabels": labels, "commonAnnotations": annotations, "externalURL": "http://127.0.0.1:9093"}


def render(folder: Path, text: str, data: dict[str, Any], html: bool = False) -> str:
    (folder / "data.json").write_text(json.dumps(data))
    result = run_tool(require("amtool"), "template", "render", f"--template.glob={folder / '*.tmpl'}",
                      f"--template.data={folder / 'data.json'}", f"--template.text={text}",
                      *(["--template.type=html"] if html else []))
    assert result.returncode == 0, f"{text}: {result.stdout}{result.stderr}"
    return result.stdout


def _templated(node: Any, key: str = "") -> list[tuple[str, str]]:
    """(field, template) of every templated string of an integration's config, nested ones too."""
    if isinstance(node, dict):
        return [t for k, v in node.items() for t in _templated(v, f"{key}.{k}" if key else k)]
    if isinstance(node, list):
        return [t for i, v in enumerate(node) for t in _templated(v, f"{key}[{i}]")]
    return [(key, node)] if isinstance(node, str) and "{{" in node else []


def rendered_notifications(folder: Path, data: dict[str, Any], **extra: Any) -> dict[str, dict[str, str]]:
    """{integration: {field: text}} as Alertmanager would fill them for `data`, rendered by amtool."""
    write_files(rendered_files(frozenset(INTEGRATIONS), **extra), folder)
    config = yaml.safe_load((folder / "alertmanager.yml").read_text())
    out: dict[str, dict[str, str]] = {}
    for receiver in config["receivers"]:
        for kind, integrations in receiver.items():
            if kind == "name":
                continue
            for key, text in _templated(integrations[0]):
                # The e-mail `html` goes through html/template (prometheus/alertmanager@v0.35.0
                # notify/email/email.go ExecuteHTMLString), everything else through text/template.
                html = kind == "email_configs" and key == "html"
                out.setdefault(kind, {})[key] = render(folder, text, data, html=html)
    return out


TEMPLATED = ["slack_configs", "msteamsv2_configs", "email_configs", "pagerduty_configs", "opsgenie_configs"]


def test_every_notification_names_the_service_runbook_and_grafana(tmp_path: Path) -> None:
    notifications = rendered_notifications(tmp_path, template_data())
    assert sorted(notifications) == sorted(TEMPLATED)  # the webhook sends labels and annotations as JSON
    for kind, fields in notifications.items():
        whole = "\n".join(fields.values())
        assert "auth" in whole and SHIPPED_RUNBOOK in whole and GRAFANA_LINK in whole, (kind, fields)
    pagerduty = notifications["pagerduty_configs"]
    assert pagerduty["links[0].href"] == SHIPPED_RUNBOOK and pagerduty["links[1].href"] == GRAFANA_LINK
    assert pagerduty["details.service"] == pagerduty["component"] == "auth"
    assert pagerduty["severity"] == "critical"
    assert pagerduty["description"] == "[FIRING:1] ServiceDown - service auth, auth:8080: Service auth is down"
    opsgenie = notifications["opsgenie_configs"]
    assert opsgenie["priority"] == "P1" and opsgenie["details.runbook"] == SHIPPED_RUNBOOK
    assert len(opsgenie["message"]) <= 130  # Opsgenie cuts the message there (notify/opsgenie/opsgenie.go)
    assert notifications["slack_configs"]["title_link"] == GRAFANA_LINK
    html = notifications["email_configs"]["html"]
    assert f'<a href="{SHIPPED_RUNBOOK}">' in html and f'<a href="{GRAFANA_LINK}">' in html


def test_a_pods_alert_names_its_namespace_pod_container_and_node(tmp_path: Path) -> None:
    """A container alert on Kubernetes: the title names the pod, every text the namespace, pod,
    container and node (the kubelet's cAdvisor target is the node), not only `service: cadvisor`."""
    data = template_data(service="cadvisor", instance="node-a", namespace="quikapp", pod="search-7d9f8b6c4-x2v9k",
                         container="search", node="node-a")
    notifications = rendered_notifications(tmp_path, data)
    where = ("service: cadvisor, namespace quikapp, pod search-7d9f8b6c4-x2v9k, container search, instance node-a,"
             " node node-a")
    assert where in notifications["slack_configs"]["text"]
    assert where in notifications["email_configs"]["html"]
    assert notifications["opsgenie_configs"]["message"] == (
        "[FIRING:1] ServiceDown - service cadvisor, pod quikapp/search-7d9f8b6c4-x2v9k")
    docker = template_data(service="cadvisor", instance="cadvisor:8080", container="backend")
    assert rendered_notifications(tmp_path, docker)["slack_configs"]["title"] == (
        "[FIRING:1] ServiceDown - service cadvisor, container backend")


def test_a_relative_runbook_stays_as_it_is_and_is_no_pagerduty_link(tmp_path: Path) -> None:
    """runbookBaseUrl "" (outside prod) ships relative links: shown as they are, never as a link."""
    notifications = rendered_notifications(tmp_path, template_data(runbook=RELATIVE_RUNBOOK), runbookBaseUrl="")
    assert "runbook: docs/runbooks.md#servicedown" in notifications["slack_configs"]["text"]
    # Not a URL: PagerDuty drops a link with an empty href (notify/pagerduty/pagerduty.go); details keep it.
    assert notifications["pagerduty_configs"]["links[0].href"] == ""
    assert notifications["pagerduty_configs"]["details.runbook"] == RELATIVE_RUNBOOK


def test_absolute_runbooks_are_kept_and_html_is_escaped(tmp_path: Path) -> None:
    data = template_data(runbook=ABSOLUTE_RUNBOOK, service="a<b")
    notifications = rendered_notifications(tmp_path, data)
    assert notifications["pagerduty_configs"]["links[0].href"] == ABSOLUTE_RUNBOOK
    assert f"runbook: {ABSOLUTE_RUNBOOK}" in notifications["slack_configs"]["text"]
    assert "var-service=a%3Cb" in notifications["slack_configs"]["title_link"]
    html = notifications["email_configs"]["html"]
    assert "a&lt;b" in html and "a<b" not in html


def test_alerts_without_a_service_or_runbook(tmp_path: Path) -> None:
    data = template_data()
    for labels in (data["alerts"][0]["labels"], data["commonLabels"]):
        labels.pop("service", None)  # (the same dict here)
    data["alerts"][0]["annotations"].pop("runbook_url")
    text = rendered_notifications(tmp_path, data)["slack_configs"]["text"]
    assert "service: (none)" in text and "runbook: (none)" in text
    assert "grafana: http://grafana.quikapp.test:3030/d/quikapp-services-overview\n" in text


def test_the_grafana_link_opens_the_service_dashboard_with_its_service_variable() -> None:
    """The link lands on "QuikApp Service" (one service: single-valued variable), shipped on every stack."""
    dashboard = json.loads((CONFIGS / "grafana" / "dashboards" / "service.json").read_text())
    assert dashboard["uid"] == re.search(r"/d/([\w-]+)", GRAFANA_LINK).group(1)  # type: ignore[union-attr]
    (variable,) = [v for v in dashboard["templating"]["list"] if v["name"] == "service"]
    assert not variable["multi"] and not variable["includeAll"]
    for stack in STACKS:
        assert "/etc/grafana/dashboards/quikapp/service.json" in workload_files(stack_run(stack))["grafana"]


@pytest.mark.parametrize("stack", STACKS)
def test_links_point_at_this_stacks_grafana(stack: str) -> None:
    template = workload_files(stack_run(stack))["alertmanager"][TEMPLATE_FILE]
    grafana = stack_run(stack).outputs["grafanaUrl"]
    assert f'{{{{ define "quikapp.grafana_url" }}}}{grafana.rstrip("/")}{{{{ end }}}}' in template
    assert template.endswith((CONFIGS / "alertmanager" / "quikapp.tmpl").read_text())
