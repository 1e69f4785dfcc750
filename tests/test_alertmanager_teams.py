"""Team routes: `amtool config routes test` for every case of a team with receivers, a team without,
and alerts without a team, on integration variants of the team and of the stack.

The expected receivers are the table of docs/CONFIGURATION.md "Routing by team", written out in
`expected_receivers` below independently of components/render/alertmanager.py: a team's alert goes
to the team's receivers only (the team route does not continue), routed by severity as the stack's
are; everything else goes where tests/test_alertmanager_routing.py says.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from test_alertmanager_routing import (
    BASE,
    CHAT,
    DEFAULT,
    INTEGRATIONS,
    PAGER,
    route,
    route_receivers,
    write_files,
)
from test_alertmanager_routing import expected_receivers as stack_receivers

from components.render.alertmanager import CONFIG_FILE, TEMPLATE_FILE, render_alertmanager_config
from components.render.alertmanager import render_alertmanager_template as template
from components.settings import parse_settings
from mockengine.stand_ins import SENTINELS, with_secrets
from tools import require, run_tool

TEAM = "payments"
# A team's integrations, by kind; their secrets are filled in by `team_secrets`.
TEAM_INTEGRATIONS: dict[str, Any] = {"pagerduty": {}, "opsgenie": {}, "slack": {"channel": "#payments"},
                                     "msteams": {}, "webhook": {},
                                     "email": {"to": "payments@quikapp.test", "from": "am@quikapp.test",
                                               "smarthost": "smtp.quikapp.test:587"}}
SECRET_FIELDS = {"pagerduty": "routingKey", "opsgenie": "apiKey", "slack": "apiUrl", "msteams": "webhookUrl",
                 "webhook": "url"}
TEAM_VARIANTS: dict[str, frozenset[str]] = {
    "all": frozenset(TEAM_INTEGRATIONS),
    **{kind: frozenset({kind}) for kind in TEAM_INTEGRATIONS},
    "pager+chat": frozenset({"pagerduty", "slack"}),
    "chat+default": frozenset({"msteams", "email"}),
}
STACK_VARIANTS: dict[str, frozenset[str]] = {"none": frozenset(), "all": frozenset(INTEGRATIONS)}
# Each severity with the team's label, with another team's (known to the catalog, no receivers here)
# and without any.
CASES: dict[str, dict[str, str]] = {
    **{f"{team or 'no-team'}-{severity}": {
        "alertname": "HighErrorRate", "service": "checkout", "severity": severity, **({"team": team} if team else {})}
       for team in (TEAM, "search", "") for severity in ("critical", "warning", "info")},
    "team-without-severity": {"alertname": "SomethingExternal", "team": TEAM},
    "team-watchdog": {"alertname": "Watchdog", "severity": "none", "team": TEAM},
}


def expected_receivers(stack: frozenset[str], team: frozenset[str], labels: dict[str, str]) -> str:
    if labels["alertname"] == "Watchdog" or labels.get("team") != TEAM:
        return stack_receivers(stack, labels)
    severity = labels.get("severity")
    out = []
    if severity == "critical" and team & PAGER:
        out.append(f"team.{TEAM}.pager")
    if severity in ("critical", "warning") and team & CHAT:
        out.append(f"team.{TEAM}.chat")
    if not out or team & DEFAULT:  # the team node's own receiver: e-mail and webhook get every alert
        out.append(f"team.{TEAM}")
    return ",".join(out)


def team_secrets(kinds: frozenset[str]) -> dict[tuple[str | int, ...], str]:
    return {("alertmanager", "teams", TEAM, kind, field): f"https://team.test/{kind}"
            for kind, field in SECRET_FIELDS.items() if kind in kinds}


def rendered(stack: frozenset[str], team: frozenset[str]) -> dict[str, str]:
    values = {**BASE, "alertmanager": {**{k: INTEGRATIONS[k] for k in stack},
                                       "teams": {TEAM: {k: TEAM_INTEGRATIONS[k] for k in team}}}}
    settings = parse_settings(*with_secrets(values, {**SENTINELS, **team_secrets(team)}))
    return {CONFIG_FILE: render_alertmanager_config(settings),
            TEMPLATE_FILE: template(settings, "http://grafana.quikapp.test:3030")}


@pytest.mark.parametrize("stack", sorted(STACK_VARIANTS))
@pytest.mark.parametrize("team", sorted(TEAM_VARIANTS))
def test_every_team_route(stack: str, team: str, tmp_path: Path) -> None:
    config = write_files(rendered(STACK_VARIANTS[stack], TEAM_VARIANTS[team]), tmp_path)
    check = run_tool(require("amtool"), "check-config", config)
    assert check.returncode == 0, check.stdout + check.stderr
    got = {name: route(config, labels) for name, labels in CASES.items()}
    want = {name: expected_receivers(STACK_VARIANTS[stack], TEAM_VARIANTS[team], labels)
            for name, labels in CASES.items()}
    assert got == want
    # Every route of the tree is some case's destination.
    assert route_receivers(config) <= {r for receivers in got.values() for r in receivers.split(",")}


def test_a_critical_payments_alert_pages_payments_and_nobody_else(tmp_path: Path) -> None:
    """The issue's case, spelled out: every integration configured for the stack and for the team."""
    config = write_files(rendered(frozenset(INTEGRATIONS), frozenset(TEAM_INTEGRATIONS)), tmp_path)
    labels = {"alertname": "ServiceDown", "severity": "critical", "service": "checkout", "team": TEAM}
    assert route(config, labels) == "team.payments.pager,team.payments.chat,team.payments"
    assert route(config, {**labels, "team": "search"}) == "pager,chat,quikapp"


def test_the_team_route_comes_after_the_watchdog_and_does_not_continue(tmp_path: Path) -> None:
    routes = yaml.safe_load(rendered(frozenset(INTEGRATIONS), frozenset(TEAM_INTEGRATIONS))[CONFIG_FILE]
                            )["route"]["routes"]
    assert [r["receiver"] for r in routes] == ["heartbeat", "team.payments", "pager", "chat", "quikapp"]
    assert routes[1]["matchers"] == ['team="payments"'] and "continue" not in routes[1]


def test_a_continuing_team_route_would_fail_the_cases(tmp_path: Path) -> None:
    """The check can fail: with `continue: true` the stack's receivers would get the team's alerts too."""
    files = rendered(frozenset(INTEGRATIONS), frozenset(TEAM_INTEGRATIONS))
    config = yaml.safe_load(files[CONFIG_FILE])
    config["route"]["routes"][1]["continue"] = True
    files[CONFIG_FILE] = yaml.safe_dump(config)
    path = write_files(files, tmp_path)
    labels = CASES[f"{TEAM}-critical"]
    assert route(path, labels) != expected_receivers(frozenset(INTEGRATIONS), frozenset(TEAM_INTEGRATIONS), labels)
