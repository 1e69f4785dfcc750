"""Runbook links: every alert a stack ships carries an absolute `runbook_url` that opens a section of
docs/runbooks.md (or the upstream runbook site, or a mixin's runbook at its pinned tag), behind
`alertmanager.runbookBaseUrl`, the catalog's SLO alerts too; prod refuses an empty base with one line.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml

from components.render.prometheus import CATALOG_RULES_FILE, RULES_DIR
from components.render.runbooks import absolute_runbooks, runbook_urls
from components.render.slo import SLO_RULES_PATH
from components.settings import SettingsError, parse_settings
from components.settings.model import DEFAULT_RUNBOOK_BASE_URL
from conftest import stack_run
from mockengine.program import STACKS, program_copy, stack_config
from mockengine.rendered import workload_files
from mockengine.run import Run, run_program
from mockengine.stand_ins import with_secrets

ROOT = Path(__file__).resolve().parent.parent
RUNBOOKS = ROOT / "docs" / "runbooks.md"
# prometheus-operator/runbooks@a685d14c: content/runbooks/<component>/<Alert>.md, served lower-cased.
UPSTREAM_RUNBOOKS = "https://runbooks.prometheus-operator.dev/runbooks/"
# A mixin's own runbook at its pinned tag, for its alerts without a prometheus-operator page: the
# `runbookURLPattern` its entry in mixins.yaml sets (kubernetes-mixin), `%s` the lower-cased alert name.
MIXIN_RUNBOOKS = {entry["output"]: entry["config"]["runbookURLPattern"]
                  for entry in yaml.safe_load((ROOT / "configs" / "prometheus" / "rules" / "mixins.yaml").read_text())[
                      "mixins"] if "runbookURLPattern" in entry.get("config", {})}


def anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors: lower-cased, punctuation dropped, spaces to hyphens."""
    headings = re.findall(r"^#+ (.+)$", markdown, flags=re.M)
    return {re.sub(r"[^\w\- ]", "", h).strip().lower().replace(" ", "-") for h in headings}


def shipped_alerts(run: Run) -> list[tuple[str, dict[str, Any]]]:
    """(file, rule) of every alert in the rule files the stack's Prometheus receives."""
    files = workload_files(run)["prometheus"]
    rules = {path: text for path, text in files.items() if path.startswith(RULES_DIR + "/")}
    assert CATALOG_RULES_FILE in rules
    return [(Path(path).name, rule) for path, text in sorted(rules.items())
            for group in yaml.safe_load(text)["groups"] for rule in group["rules"] if "alert" in rule]


def ours_absolute(alerts: list[tuple[str, dict[str, Any]]]) -> int:
    """How many of `alerts` link a section of docs/runbooks.md behind the default base (each one must
    exist); every other link must be an upstream runbook page, or its mixin's own pinned runbook."""
    sections = anchors(RUNBOOKS.read_text())
    ours = 0
    for name, rule in alerts:
        url = rule["annotations"]["runbook_url"]
        if url.startswith(DEFAULT_RUNBOOK_BASE_URL):
            path, _, anchor = url.removeprefix(DEFAULT_RUNBOOK_BASE_URL).partition("#")
            assert path == "docs/runbooks.md" and anchor in sections, f"{name} {rule['alert']}: {url}"
            ours += 1
        elif name in MIXIN_RUNBOOKS and url == MIXIN_RUNBOOKS[name] % rule["alert"].lower():
            assert "/blob/version-" in url  # a pinned tag, never the moving default branch
        else:
            assert url.startswith(UPSTREAM_RUNBOOKS) and url.endswith("/" + rule["alert"].lower()), (name, url)
    return ours


@pytest.mark.parametrize("stack", STACKS)
def test_every_shipped_runbook_link_is_absolute_and_opens_a_section(stack: str) -> None:
    alerts = shipped_alerts(stack_run(stack))
    assert {rule["alert"] for _, rule in alerts} >= {"ServiceDown", "ServiceAllTargetsDown", "ServiceHasNoTargets"}
    assert ours_absolute(alerts) >= 10  # the project's own alerts and the mixins' fallback sections


# A catalog service with both objectives and an owner: the rule file rendered from its SLOs ships too.
SLO_EDIT = {"configs/services.yaml": ("      workspace: 6001\n", "      workspace:\n        port: 6001\n"
                                      "        team: core\n        slo:\n          availability: 99.9\n"
                                      "          latency: {threshold: 0.25, target: 99}\n")}


def test_the_slo_alerts_links_are_absolute_and_open_their_sections(tmp_path: Path) -> None:
    alerts = shipped_alerts(run_program("dev", program=program_copy(tmp_path, SLO_EDIT)))
    slo = [(name, rule) for name, rule in alerts if name == SLO_RULES_PATH]
    assert {rule["alert"] for _, rule in slo} == {"ErrorBudgetBurn", "SLOLatencyBucketMissing"}
    assert ours_absolute(slo) == len(slo)


def test_a_runbook_base_url_of_the_stack_is_used(tmp_path: Path) -> None:
    values = stack_config("dev")
    values["alertmanager"] = {"runbookBaseUrl": "https://git.quikapp.test/monitoring/-/blob/main"}  # no "/"
    alerts = shipped_alerts(run_program("dev", *with_secrets(values)))
    service_down = next(rule for _, rule in alerts if rule["alert"] == "ServiceDown")
    assert service_down["annotations"]["runbook_url"] == (
        "https://git.quikapp.test/monitoring/-/blob/main/docs/runbooks.md#servicedown")


def test_the_anchor_check_can_fail() -> None:
    assert "servicealltargetsdown" in anchors(RUNBOOKS.read_text())
    assert "nosuchalert" not in anchors(RUNBOOKS.read_text())


# --- the rewrite --------------------------------------------------------------------------------------------------

RULES = """\
# a comment stays
groups:
  - name: g
    rules:
      - alert: A
        expr: vector(1)
        annotations:
          runbook_url: docs/runbooks.md#a
      - alert: B
        expr: vector(1)
        annotations:
          runbook_url: 'docs/runbooks.md#b'
      - alert: C
        expr: vector(1)
        annotations:
          runbook_url: https://runbooks.prometheus-operator.dev/runbooks/general/c
"""


def test_relative_links_get_the_base_and_the_rest_stays() -> None:
    out = absolute_runbooks(RULES, "https://git.quikapp.test/repo/blob/main/")
    assert runbook_urls(out) == ["https://git.quikapp.test/repo/blob/main/docs/runbooks.md#a",
                                 "https://git.quikapp.test/repo/blob/main/docs/runbooks.md#b",
                                 "https://runbooks.prometheus-operator.dev/runbooks/general/c"]
    assert out.startswith("# a comment stays\n")
    assert absolute_runbooks(RULES, "") == RULES  # "" keeps them relative


def test_a_relative_link_the_rewrite_does_not_know_is_refused() -> None:
    folded = RULES.replace("runbook_url: docs/runbooks.md#a", "runbook_url: >-\n            docs/runbooks.md#a")
    assert runbook_urls(folded)[0] == "docs/runbooks.md#a"
    with pytest.raises(ValueError, match="relative"):
        absolute_runbooks(folded, "https://git.quikapp.test/repo/blob/main/")


# --- the setting ---------------------------------------------------------------------------------------------------

BASE = {"target": "kubernetes", "grafana": {"adminPassword": "s3cret-pass"},
        "exporters": {"postgres": {"enabled": False}}}


def test_the_default_is_the_repository_on_its_git_host() -> None:
    settings = parse_settings(BASE, {"grafana"}, stack="prod")
    assert settings.alertmanager.runbook_base_url == DEFAULT_RUNBOOK_BASE_URL
    assert DEFAULT_RUNBOOK_BASE_URL.startswith("https://") and DEFAULT_RUNBOOK_BASE_URL.endswith("/blob/main/")


def test_empty_is_refused_in_prod_with_one_line_and_allowed_elsewhere() -> None:
    values = {**BASE, "alertmanager": {"runbookBaseUrl": ""}}
    with pytest.raises(SettingsError) as raised:
        parse_settings(values, {"grafana"}, stack="prod")
    message = str(raised.value)
    assert len(message.splitlines()) == 1
    assert "alertmanager.runbookBaseUrl: '' is not valid in stack prod" in message and "https://" in message
    assert parse_settings(values, {"grafana"}, stack="staging").alertmanager.runbook_base_url == ""


def test_prod_refuses_an_empty_base_through_the_program() -> None:
    """The stack name comes from the engine (pulumi.get_stack()), not from a setting."""
    values = stack_config("prod")
    values["alertmanager"] = {"runbookBaseUrl": ""}
    with pytest.raises(pulumi.RunError, match=r"alertmanager\.runbookBaseUrl: '' is not valid in stack prod"):
        run_program("prod", *with_secrets(values))


def test_a_bad_base_is_one_line() -> None:
    with pytest.raises(SettingsError) as raised:
        parse_settings({**BASE, "alertmanager": {"runbookBaseUrl": "github.com/quikapp"}}, {"grafana"})
    message = str(raised.value)
    assert len(message.splitlines()) == 1 and "alertmanager.runbookBaseUrl: 'github.com/quikapp'" in message
    assert "an http:// or https:// URL" in message
