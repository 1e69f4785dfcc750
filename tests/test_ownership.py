"""Ownership: the catalog's `team` on every scraped series and every alert, the teams' receivers in
the settings, and the checks between the two.

Routing itself (amtool, the real Alertmanager) is in tests/test_alertmanager_teams.py and
tests/live/test_live_team_routing.py; the team label on Docker's static targets, scraped by the real
Prometheus, in tests/live/test_live_service_dashboard.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml
from test_discovery import file_sd_copy

from components.catalog import parse_catalog
from components.render.alertmanager import CONFIG_FILE
from components.render.prometheus import render_prometheus_config
from components.settings import SettingsError, parse_settings
from live.live_servers import LOOPBACK, free_ports, get_json, servers_in_tempdir, start_prometheus, wait_until
from mockengine.manifests import without_secrets
from mockengine.program import program_copy, stack_config
from mockengine.rendered import workload_files
from mockengine.run import SECRET_SIG, run_program
from mockengine.stand_ins import SENTINELS, with_secrets
from tools import require, run_tool

# The discovery fixture's Services in `quikapp` (tests/fixtures/discovery/quikapp.yaml): backend and
# payments-legacy on 3000, realtime on 8080. The job owns them all, one service overrides it, and
# realtime sits in a job without a team.
KUBERNETES_CATALOG = {"jobs": {
    "nestjs-services": {"team": "web", "services": {
        "backend": 3000, "payments-legacy": {"port": 3000, "team": "payments"}}},
    "node-services": {"services": {"realtime": 8080}},
}}
PAYMENTS_SLACK = ("alertmanager", "teams", "payments", "slack", "apiUrl")
PAYMENTS_PAGERDUTY = ("alertmanager", "teams", "payments", "pagerduty", "routingKey")
TEAM_SECRETS = {PAYMENTS_SLACK: "https://hooks.slack.test/sentinel-team-slack-Ts7",
                PAYMENTS_PAGERDUTY: "sentinel-team-pagerduty-Tp3"}


def settings(stack: str, alertmanager: dict[str, Any] | None = None) -> Any:
    values = stack_config(stack)
    if alertmanager:
        values["alertmanager"] = {**values.get("alertmanager", {}), **alertmanager}
    return parse_settings(*with_secrets(values, {**SENTINELS, **TEAM_SECRETS}))


def render(stack: str, catalog: dict[str, Any]) -> dict[str, Any]:
    return dict(yaml.safe_load(render_prometheus_config(settings(stack), parse_catalog(catalog), lambda n: n,
                                                        stack=stack)))


# --- series: target relabeling -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def kubernetes_targets() -> Iterator[list[dict[str, str]]]:
    """The staging stack's rendered jobs for KUBERNETES_CATALOG in the real Prometheus, discovery swapped
    for file_sd of the fixture's objects (tests/test_discovery.py), relabeling verbatim."""
    config = render("staging", KUBERNETES_CATALOG)
    with servers_in_tempdir("quikapp-ownership-") as servers:
        running = file_sd_copy(config, servers.root)
        running["global"]["scrape_interval"] = "1h"  # only the targets' labels are under test
        running["scrape_configs"] = [j for j in running["scrape_configs"] if j["job_name"].endswith("-services")]
        path = servers.root / "prometheus.yml"
        path.write_text(yaml.safe_dump(running, sort_keys=False))
        (port,) = free_ports(1)
        server = start_prometheus(servers, path, port)

        def active() -> list[dict[str, str]] | None:
            targets = get_json(f"http://{LOOPBACK}:{port}/api/v1/targets")["data"]["activeTargets"]
            return [t["labels"] for t in targets] if len(targets) == 5 else None

        yield wait_until("the file_sd targets", active, timeout=60, alive=server.check_alive)


def test_every_kubernetes_target_of_an_owned_service_carries_its_team(kubernetes_targets: list[dict[str, str]]
                                                                      ) -> None:
    teams = {(t["service"], t["pod"]): t.get("team") for t in kubernetes_targets}
    assert {service: team for (service, _), team in teams.items()} == {
        "backend": "web", "payments-legacy": "payments", "realtime": None}
    assert len(teams) == 5  # 3 backend pods, 1 payments-legacy, 1 realtime, each its own target


def test_the_team_rules_are_the_same_text_on_both_targets() -> None:
    def team_rules(stack: str) -> dict[str, list[dict[str, Any]]]:
        return {job["job_name"]: [r for r in job.get("relabel_configs", []) if r.get("target_label") == "team"]
                for job in render(stack, KUBERNETES_CATALOG)["scrape_configs"] if job["job_name"].endswith("-services")}
    docker, kubernetes = team_rules("dev"), team_rules("staging")
    assert docker == kubernetes == {
        "nestjs-services": [
            {"source_labels": ["service"], "regex": "payments-legacy", "target_label": "team",
             "replacement": "payments"},
            {"source_labels": ["service"], "regex": "backend", "target_label": "team", "replacement": "web"}],
        "node-services": []}


def test_promtool_accepts_the_rendered_docker_config_with_teams(tmp_path: Path) -> None:
    config = render("dev", KUBERNETES_CATALOG)
    config["rule_files"] = []
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    result = run_tool(require("promtool"), "check", "config", path)
    assert result.returncode == 0, result.stdout + result.stderr


# --- alerts: alert relabeling ------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_alerts_get_the_team_of_their_service_before_the_replica_label_is_dropped(stack: str) -> None:
    alerting = render(stack, KUBERNETES_CATALOG)["alerting"]
    teams = [{"source_labels": ["service"], "regex": "payments-legacy", "target_label": "team",
              "replacement": "payments"},
             {"source_labels": ["service"], "regex": "backend", "target_label": "team", "replacement": "web"}]
    # prod runs Prometheus as a pair: the replica label is dropped after (tests/test_ha.py).
    tail = [{"action": "labeldrop", "regex": "__replica__"}] if stack == "prod" else []
    assert alerting["alert_relabel_configs"] == teams + tail


def test_without_owners_nothing_changes() -> None:
    committed = yaml.safe_load(render_prometheus_config(settings("dev"), parse_catalog({"jobs": {
        "go-services": {"services": {"bookmark": 6005}}}}), lambda n: n))
    assert "alert_relabel_configs" not in committed["alerting"]
    assert all("relabel_configs" not in job for job in committed["scrape_configs"] if job["job_name"] == "go-services")


# --- settings --------------------------------------------------------------------------------------------------


def _problem(alertmanager: dict[str, Any], secrets: dict[tuple[str | int, ...], str] | None = None,
             plain: bool = False) -> str:
    values = {"target": "docker", "grafana": {"adminPassword": "s3cret-pass"},
              "exporters": {"postgres": {"enabled": False}}, "alertmanager": alertmanager}
    values, secret_keys = with_secrets(values, {**SENTINELS, **(secrets or {})})
    if plain:
        secret_keys.discard("alertmanager")
    with pytest.raises(SettingsError) as caught:
        parse_settings(values, secret_keys)
    return str(caught.value)


@pytest.mark.parametrize(("alertmanager", "line"), [
    ({"teams": {"payments": {}}},
     "quikapp-monitoring:alertmanager.teams.payments: {} is not valid (allowed: at least one of pagerduty, "
     "opsgenie, slack, msteams, webhook, email)"),
    ({"teams": {"Payments": {"webhook": {"url": "x"}}}},
     "quikapp-monitoring:alertmanager.teams.Payments: 'Payments' is not valid (allowed: a DNS label"),
    ({"teams": {"payments": {"slak": {}}}}, "quikapp-monitoring:alertmanager.teams.payments.slak: unknown key"),
    ({"teams": {"payments": {"slack": {"channel": "#payments"}}}},
     "quikapp-monitoring:alertmanager.teams.payments.slack.apiUrl: required, but not set"),
])
def test_a_bad_team_setting_is_one_line(alertmanager: dict[str, Any], line: str) -> None:
    message = _problem(alertmanager)
    assert len(message.splitlines()) == 1 and line in message, message


def test_a_team_credential_in_plain_text_is_refused_without_showing_it() -> None:
    message = _problem({"teams": {"payments": {"slack": {"channel": "#payments"}}}}, TEAM_SECRETS, plain=True)
    assert "alertmanager.teams.payments.slack.apiUrl: [secret] is stored in plain text" in message
    assert TEAM_SECRETS[PAYMENTS_SLACK] not in message


# --- the program: settings and catalog together -------------------------------------------------------------------


TEAM_CATALOG_EDIT = {"configs/services.yaml": ("      workspace: 6001\n",
                                               "      workspace: 6001\n      checkout:\n        port: 6010\n"
                                               "        team: payments\n")}
TEAM_SETTINGS = {"teams": {"payments": {"slack": {"channel": "#payments"}, "pagerduty": {}}}}


def _run(tmp_path: Path, stack: str, alertmanager: dict[str, Any],
         secrets: dict[tuple[str | int, ...], str] | None = None) -> Any:
    program = program_copy(tmp_path, TEAM_CATALOG_EDIT)
    values = stack_config(stack)
    values["alertmanager"] = {**values.get("alertmanager", {}), **alertmanager}
    return run_program(stack, *with_secrets(values, {**SENTINELS, **TEAM_SECRETS, **(secrets or {})}),
                       program=program)


def test_receivers_for_a_team_the_catalog_does_not_name_are_refused_with_one_line(tmp_path: Path) -> None:
    with pytest.raises(pulumi.RunError) as caught:
        _run(tmp_path, "dev", {"teams": {"paymnts": {"webhook": {}}}},
             {("alertmanager", "teams", "paymnts", "webhook", "url"): "https://hooks.test/paymnts"})
    message = str(caught.value)
    assert message == ("invalid stack configuration: quikapp-monitoring:alertmanager.teams.paymnts: no service of "
                       "configs/services.yaml belongs to team 'paymnts' (allowed: a team the catalog names: payments)")


@pytest.mark.parametrize("stack", ["dev", "staging"])
def test_team_credentials_reach_only_the_secret_alertmanager_config(tmp_path: Path, stack: str) -> None:
    run = _run(tmp_path, stack, TEAM_SETTINGS)
    config = yaml.safe_load(workload_files(run)["alertmanager"][CONFIG_FILE])
    receivers = {r["name"]: r for r in config["receivers"]}
    assert receivers["team.payments.chat"]["slack_configs"][0]["api_url"] == TEAM_SECRETS[PAYMENTS_SLACK]
    assert receivers["team.payments.pager"]["pagerduty_configs"][0]["routing_key"] == TEAM_SECRETS[PAYMENTS_PAGERDUTY]
    for record in run.resources:
        shown = json.dumps(without_secrets(record.inputs))
        assert not any(secret in shown for secret in TEAM_SECRETS.values()), f"{record.type} {record.name}"
        if record.type == "kubernetes:core/v1:ConfigMap":
            assert SECRET_SIG not in json.dumps(record.inputs), record.name
    assert not any(secret in json.dumps(run.outputs) for secret in TEAM_SECRETS.values())


def test_the_program_ships_the_slo_rules_when_the_catalog_has_objectives(tmp_path: Path) -> None:
    edit = {"configs/services.yaml": ("      workspace: 6001\n", "      workspace:\n        port: 6001\n"
                                      "        slo:\n          availability: 99.5\n")}
    run = run_program("dev", program=program_copy(tmp_path, edit))
    files = workload_files(run)["prometheus"]
    groups = yaml.safe_load(files["/etc/prometheus/rules/slo.yml"])["groups"]
    assert [g["name"] for g in groups] == ["slo-workspace-availability"]
    assert "/etc/prometheus/rules/slo.yml" not in workload_files(run_program("dev"))["prometheus"]


def test_make_render_puts_checkable_placeholders_in_a_teams_secrets(tmp_path: Path) -> None:
    """`make render`/`make check` never decrypt: a team's secure values, and one its stack file leaves
    out, become placeholders amtool accepts (a URL where a URL belongs)."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
    import render

    (tmp_path / "Pulumi.x.yaml").write_text(
        "config:\n  quikapp-monitoring:target: docker\n  quikapp-monitoring:alertmanager:\n    teams:\n"
        "      payments:\n        slack:\n          channel: '#payments'\n"
        "          apiUrl:\n            secure: v1:AAAA\n        webhook: {}\n")
    config, secret_keys, notes = render.stack_file_config("x", tmp_path)
    teams = json.loads(config["quikapp-monitoring:alertmanager"])["teams"]
    assert teams == {"payments": {"slack": {"channel": "#payments",
                                            "apiUrl": "https://redacted.invalid/alertmanager/teams/slack/apiUrl"},
                                  "webhook": {"url": "https://redacted.invalid/alertmanager/teams/webhook/url"}}}
    assert "quikapp-monitoring:alertmanager" in secret_keys
    assert "quikapp-monitoring:alertmanager.teams.payments.webhook.url: secret not set in Pulumi.x.yaml, rendered " \
           "as a placeholder" in notes
