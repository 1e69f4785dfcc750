"""The alert rules in configs/ behave as described: promtool unit tests in tests/rules/.

Each of the project's own alerts has a firing case (exact labels and rendered annotations) and a
silent case just below its condition; a new alert without both makes this suite fail. The rules
rendered from upstream mixins (*-mixin.yml, configs/prometheus/rules/mixins.yaml) need both per
alert group.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.scopes import load_scopes
from tools import require, run_tool

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
RULE_TESTS = TESTS / "rules"
RULES_DIR = ROOT / "configs" / "prometheus" / "rules"
SEED_RULES = TESTS / "fixtures" / "seed" / "alerts.yml"

# The project's tests, then upstream's own synced by scripts/sync-mixins.py (tests/rules/<mixin>/*.yaml).
TEST_FILES = sorted(RULE_TESTS.glob("*.yml")) + sorted(RULE_TESTS.glob("*/*.yaml"))
_MANIFEST = yaml.safe_load((RULES_DIR / "mixins.yaml").read_text(encoding="utf-8"))
MIXIN_FILES = sorted([RULES_DIR / entry["output"] for entry in _MANIFEST["mixins"]]
                     + [RULES_DIR / s["output"] for entry in _MANIFEST["mixins"] for s in entry.get("split", [])])
PROJECT_FILES = sorted(p for p in RULES_DIR.glob("*.yml") if p not in MIXIN_FILES)
# The project files every stack ships (configs/scopes.yaml scopes the others: the exporters', containers).
SHIPPED_EVERYWHERE = [p for p in PROJECT_FILES if load_scopes().rules.scopes[p.name].everywhere]
# The dead man's switch: a case where it is silent would be its failure.
ALWAYS_FIRING = {"Watchdog"}

_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


def seconds(duration: str | None) -> float:
    """A Prometheus duration (1m30s, 5m, 250ms) in seconds; None or empty is 0."""
    if not duration:
        return 0.0
    parts = re.findall(r"(\d+)(ms|s|m|h|d|w|y)", str(duration))
    assert "".join(n + u for n, u in parts) == str(duration), f"not a Prometheus duration: {duration!r}"
    return sum(int(n) * _DURATION_UNITS[u] for n, u in parts)


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def alert_rules(rule_file: Path | None = None) -> dict[str, dict[str, Any]]:
    """{alert name: rule} of one rule file, or of the project's own rule files (not the mixins')."""
    files = [rule_file] if rule_file else PROJECT_FILES
    return {name: variants[-1] for name, variants in alert_variants(files).items()}


def alert_variants(files: list[Path] | None = None) -> dict[str, list[dict[str, Any]]]:
    """{alert name: its rules}: one name may have a warning and a critical rule in one file."""
    rules: dict[str, list[dict[str, Any]]] = {}
    where: dict[str, Path] = {}
    for path in PROJECT_FILES if files is None else files:
        for group in _load(path)["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    assert where.setdefault(rule["alert"], path) == path, f"alert {rule['alert']} defined in two files"
                    rules.setdefault(rule["alert"], []).append(rule)
    return rules


def cases(path: Path) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(test group, alert_rule_test case) pairs of one promtool test file."""
    return [(group, case) for group in _load(path).get("tests", []) for case in group.get("alert_rule_test", [])]


def _with_rule_files(test_file: Path, rule_files: list[Path], into: Path) -> Path:
    """A copy of `test_file` under `into` that loads `rule_files` instead of its own."""
    data = _load(test_file)
    data["rule_files"] = [str(p) for p in rule_files]
    copy = into / test_file.name
    copy.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return copy


def test_there_are_rule_tests() -> None:
    assert TEST_FILES, f"no promtool test files in {RULE_TESTS}"
    assert alert_rules(), f"no alert rules in {RULES_DIR}"


@pytest.mark.parametrize("test_file", TEST_FILES, ids=lambda p: str(p.relative_to(RULE_TESTS)))
def test_promtool_unit_tests_pass(test_file: Path) -> None:
    promtool = require("promtool")
    result = run_tool(promtool, "test", "rules", test_file, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


@pytest.mark.parametrize("test_file", TEST_FILES, ids=lambda p: str(p.relative_to(RULE_TESTS)))
def test_unit_tests_load_the_rule_files_from_configs(test_file: Path) -> None:
    """Each test file exercises the deployed rules, not a copy (paths are relative to the test file);
    a test of alerts.yml loads every rule file every stack ships (micrometer.yml and opentelemetry.yml feed
    its alerts)."""
    rule_files = _load(test_file)["rule_files"]
    resolved = {(test_file.parent / p).resolve() for p in rule_files}
    assert resolved <= {p.resolve() for p in RULES_DIR.glob("*.yml")}, rule_files
    if {case.get("alertname") for _, case in cases(test_file)} & set(alert_rules(RULES_DIR / "alerts.yml")):
        assert {p.resolve() for p in SHIPPED_EVERYWHERE} <= resolved, rule_files


def _matches(exp: dict[str, Any], rule: dict[str, Any]) -> bool:
    """An expected alert is spelled out in full for this rule (promtool compares whole sets)."""
    return (set(exp["exp_annotations"]) == set(rule.get("annotations", {}))
            and all(exp["exp_labels"].get(key) == value for key, value in rule.get("labels", {}).items()))


def firing_and_silent_cases(rules: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    """Where the promtool tests expect one of `rules` to fire, and where to stay silent (counted
    only after the longest hold of the rules of that name, with series the expression reads)."""
    firing: list[str] = []
    silent: list[str] = []
    for path in TEST_FILES:
        for group, case in cases(path):
            variants = [r for r in rules if r["alert"] == case.get("alertname")]
            if not variants:
                continue
            where = f"{path.name}: {group.get('name', '?')} @ {case.get('eval_time')}"
            expected = case.get("exp_alerts") or []
            if expected:
                for exp in expected:
                    # promtool compares the full label and annotation sets: both must be spelled out.
                    assert exp.get("exp_labels"), f"{where}: firing case without exp_labels"
                    assert exp.get("exp_annotations"), f"{where}: firing case without exp_annotations"
                    assert any(_matches(exp, rule) for rule in variants), \
                        f"{where}: the expected labels/annotation keys match no rule named {case['alertname']}"
                firing.append(where)
            else:
                hold = max(seconds(rule.get("for")) for rule in variants)
                names = {s["series"].strip().split("{")[0] for s in group.get("input_series", [])}
                reads = any(re.search(rf"\b{re.escape(n)}\b", rule["expr"]) for n in names if n for rule in variants)
                if seconds(case.get("eval_time")) >= hold and reads:
                    silent.append(where)
    return firing, silent


@pytest.mark.parametrize("alert", sorted(alert_variants()))
def test_every_alert_has_a_firing_and_a_silent_case(alert: str) -> None:
    rules = alert_variants()[alert]
    firing, silent = firing_and_silent_cases(rules)
    assert firing, f"{alert}: no promtool case where it fires (add one to {RULE_TESTS.name}/)"
    if alert not in ALWAYS_FIRING:
        holds = sorted({str(rule.get("for")) for rule in rules})
        assert silent, f"{alert}: no promtool case where it stays silent after `for: {holds}` elapsed"


MIXIN_GROUPS = [(path, group) for path in MIXIN_FILES for group in _load(path)["groups"]
                if any("alert" in rule for rule in group["rules"])]


@pytest.mark.parametrize(("rule_file", "group"), MIXIN_GROUPS, ids=[f"{p.name}:{g['name']}" for p, g in MIXIN_GROUPS])
def test_every_mixin_alert_group_has_a_firing_and_a_silent_case(rule_file: Path, group: dict[str, Any]) -> None:
    firing, silent = firing_and_silent_cases([rule for rule in group["rules"] if "alert" in rule])
    assert firing, f"{rule_file.name} group {group['name']}: no promtool case where one of its alerts fires"
    assert silent, f"{rule_file.name} group {group['name']}: no promtool case where one of its alerts stays silent"


def test_promtool_fails_a_wrong_expectation(tmp_path: Path) -> None:
    """The unit tests can fail: a wrong rendered annotation is reported."""
    promtool = require("promtool")
    source = RULE_TESTS / "service_down.test.yml"
    copy = _with_rule_files(source, sorted(RULES_DIR.glob("*.yml")), tmp_path)
    copy.write_text(copy.read_text().replace("has been down for more than 1 minute", "is down", 1))
    result = run_tool(promtool, "test", "rules", copy)
    assert result.returncode != 0, result.stdout + result.stderr


SEED_FIXED = sorted(
    name for name, rule in alert_rules().items()
    if SEED_RULES.exists() and name in alert_rules(SEED_RULES) and alert_rules(SEED_RULES)[name]["expr"] != rule["expr"]
)


@pytest.mark.parametrize("alert", SEED_FIXED)
def test_the_seed_expression_fails_the_unit_tests_of_a_fixed_alert(alert: str, tmp_path: Path) -> None:
    """Where configs/ fixed a seed expression, the unit tests catch the seed's flaw."""
    promtool = require("promtool")
    test_files = [p for p in TEST_FILES if any(c.get("alertname") == alert for _, c in cases(p))]
    assert test_files
    for test_file in test_files:
        copy = _with_rule_files(test_file, [SEED_RULES], tmp_path)
        result = run_tool(promtool, "test", "rules", copy)
        assert result.returncode != 0, f"{test_file.name} passes against the seed's {alert}"
        assert f"alertname: {alert}" in result.stdout + result.stderr
