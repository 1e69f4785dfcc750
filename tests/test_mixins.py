"""The upstream mixins' rules: reproducible from their pinned sources, aimed at this stack's jobs,
shipped only where those jobs are scraped, every alert with a runbook and a severity.

The reproduction test downloads the pinned Go modules (Go module proxy) and evaluates them with
PyPI's jsonnet: under CI=true a source that cannot be had fails the test; locally it skips.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.catalog import load_catalog
from components.render.prometheus import render_prometheus_config, rule_files, rule_scopes, scrape_jobs
from components.settings import TargetKind, parse_settings
from harness import ROOT, STACKS, stack_config, with_secrets
from tools import require, run_tool

RULES_DIR = ROOT / "configs" / "prometheus" / "rules"
MANIFEST = RULES_DIR / "mixins.yaml"
SCRIPT = ROOT / "scripts" / "sync-mixins.py"
RUNBOOKS = ROOT / "docs" / "runbooks.md"
UPSTREAM_RUNBOOKS = "https://runbooks.prometheus-operator.dev/runbooks/"


def manifest() -> dict[str, Any]:
    return dict(yaml.safe_load(MANIFEST.read_text(encoding="utf-8")))


MIXINS = manifest()["mixins"]
SCOPED = MIXINS + manifest()["project"]  # every rule file with a scope: mixins and the project's own


def sync(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, timeout=900)


def sources_or_skip(result: subprocess.CompletedProcess[str]) -> None:
    """Exit 2 is "the sources or the evaluator could not be had": a failure in CI, a skip locally."""
    if result.returncode == 2:
        message = f"sync-mixins could not get its sources: {result.stderr.strip()}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def _only(name: str, tmp_path: Path, **changes: Any) -> Path:
    """A manifest holding only mixin `name` (with `changes`), for fast single-module runs."""
    entry = {**next(m for m in MIXINS if m["name"] == name), **changes}
    path = tmp_path / "mixins.yaml"
    path.write_text(yaml.safe_dump({"mixins": [entry]}), encoding="utf-8")
    return path


def test_the_sync_reproduces_the_committed_files() -> None:
    started = time.monotonic()
    result = sync("--check")
    sources_or_skip(result)
    assert result.returncode == 0, result.stdout + result.stderr
    print(f"sync-mixins --check: {time.monotonic() - started:.1f}s; {result.stderr.strip()}")


def test_the_check_fails_on_a_hand_edited_file(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(RULES_DIR, rules)
    edited = rules / "redis-mixin.yml"
    edited.write_text(edited.read_text().replace("> 100", "> 1000"))
    result = sync("--check", "--rules-dir", rules, "--manifest", _only("redis", tmp_path))
    sources_or_skip(result)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "redis-mixin.yml" in result.stderr and "> 1000" in result.stdout


def test_the_sync_writes_what_is_committed(tmp_path: Path) -> None:
    result = sync("--rules-dir", tmp_path, "--manifest", _only("redis", tmp_path))
    sources_or_skip(result)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "redis-mixin.yml").read_text() == (RULES_DIR / "redis-mixin.yml").read_text()


def test_the_sync_refuses_a_module_zip_with_another_hash(tmp_path: Path) -> None:
    wrong = "h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
    result = sync("--check", "--manifest", _only("redis", tmp_path, sum=wrong))
    if "hashes to" not in result.stderr:
        sources_or_skip(result)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "github.com/oliver006/redis_exporter@v1.88.0" in lines[0], lines
    assert wrong in lines[0] and next(m["sum"] for m in MIXINS if m["name"] == "redis") in lines[0]


def test_a_bad_manifest_is_one_line_naming_the_key(tmp_path: Path) -> None:
    entry = {k: v for k, v in next(m for m in MIXINS if m["name"] == "redis").items() if k != "sum"}
    path = tmp_path / "mixins.yaml"
    path.write_text(yaml.safe_dump({"mixins": [entry]}))
    result = sync("--check", "--manifest", path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"sync-mixins: {path}: missing key 'sum'"]


@pytest.mark.parametrize("mixin", MIXINS, ids=lambda m: m["name"])
def test_each_rendered_file_is_headed_with_its_source(mixin: dict[str, Any]) -> None:
    head = "".join((RULES_DIR / mixin["output"]).read_text().splitlines(True)[:6])
    assert "scripts/sync-mixins.py" in head
    assert f"{mixin['module']}@{mixin['version']}" in head and f"{mixin['dir']}/" in head
    assert mixin["sum"] in head
    if mixin.get("commit"):
        assert mixin["commit"] in head


@pytest.mark.parametrize("scoped", SCOPED, ids=lambda m: m["output"])
def test_the_selectors_name_the_jobs_the_manifest_ships_on(scoped: dict[str, Any]) -> None:
    """The `_config` took effect: the rules read exactly the jobs the file's shipping depends on
    (the mixins' defaults, e.g. node's job="node", would match nothing this stack scrapes)."""
    rules = [r for g in yaml.safe_load((RULES_DIR / scoped["output"]).read_text())["groups"] for r in g["rules"]]
    jobs = {job for rule in rules for job in re.findall(r'\bjob="([^"]+)"', rule["expr"])}
    assert jobs == set(scoped["jobs"]), (scoped["output"], jobs)


def test_promtool_accepts_every_synced_file() -> None:
    promtool = require("promtool")
    files = [RULES_DIR / m["output"] for m in MIXINS]
    result = run_tool(promtool, "check", "rules", *files)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(files), result.stdout


def test_no_stray_rendered_file_and_no_file_for_an_unavailable_mixin() -> None:
    outputs = {m["output"] for m in MIXINS}
    assert {p.name for p in RULES_DIR.glob("*-mixin.yml")} == outputs
    for missing in manifest()["unavailable"]:
        assert {"name", "source", "command", "error"} <= set(missing), missing
        assert not (RULES_DIR / f"{missing['name']}-mixin.yml").exists()


# --- shipping: which stack gets which file ---------------------------------------------------

def _names(files: dict[str, str]) -> list[str]:
    return [Path(path).name for path in files]


def test_a_mixin_ships_only_where_every_job_it_reads_is_scraped() -> None:
    base = {"prometheus", "monitoring", "redis"}
    assert _names(rule_files(TargetKind.DOCKER, base)) == [
        "alertmanager-mixin.yml", "alerts.yml", "micrometer.yml", "opentelemetry.yml", "prometheus-mixin.yml",
        "redis-mixin.yml"]
    assert "node-mixin.yml" in _names(rule_files(TargetKind.KUBERNETES, base | {"node-exporter"}))
    assert _names(rule_files(TargetKind.DOCKER, set())) == ["alerts.yml", "micrometer.yml", "opentelemetry.yml"]
    every_job = {job for scope in rule_scopes().values() for job in scope.jobs}
    assert "containers.yml" in _names(rule_files(TargetKind.DOCKER, every_job))
    assert "kubernetes.yml" not in _names(rule_files(TargetKind.DOCKER, every_job))
    assert "kubernetes.yml" in _names(rule_files(TargetKind.KUBERNETES, every_job))


def test_a_mixin_ships_only_on_its_targets(tmp_path: Path) -> None:
    (tmp_path / "alerts.yml").write_text("groups: []\n")
    (tmp_path / "cluster-mixin.yml").write_text("groups: []\n")
    (tmp_path / "mixins.yaml").write_text(yaml.safe_dump({"mixins": [
        {"output": "cluster-mixin.yml", "targets": ["kubernetes"], "jobs": ["kube-state-metrics"]}]}))
    jobs = {"kube-state-metrics"}
    assert _names(rule_files(TargetKind.KUBERNETES, jobs, tmp_path)) == ["alerts.yml", "cluster-mixin.yml"]
    assert _names(rule_files(TargetKind.DOCKER, jobs, tmp_path)) == ["alerts.yml"]


def _stack_rule_files(stack: str) -> dict[str, str]:
    values, secret_keys = with_secrets(stack_config(stack))
    settings = parse_settings(values, secret_keys)
    config = render_prometheus_config(settings, load_catalog(), lambda name: name)
    return rule_files(settings.target, scrape_jobs(config))


@pytest.mark.parametrize("stack", STACKS)
def test_the_stacks_ship_the_mixins_of_the_jobs_they_scrape(stack: str) -> None:
    values, secret_keys = with_secrets(stack_config(stack))
    settings = parse_settings(values, secret_keys)
    jobs = scrape_jobs(render_prometheus_config(settings, load_catalog(), lambda name: name))
    shipped = set(_names(_stack_rule_files(stack)))
    for name, scope in rule_scopes().items():
        assert (name in shipped) == (settings.target in scope.targets and scope.jobs <= jobs), name
    assert {"alerts.yml", "micrometer.yml", "opentelemetry.yml", "prometheus-mixin.yml",
            "alertmanager-mixin.yml"} <= shipped


# --- every alert: a runbook and a severity -------------------------------------------------

def _every_shippable_file() -> dict[str, str]:
    """Every rule file any stack can ship: both targets, every job a mixin reads."""
    jobs = {job for scope in rule_scopes().values() for job in scope.jobs}
    files: dict[str, str] = {}
    for target in TargetKind:
        files |= rule_files(target, jobs)
    for stack in STACKS:
        files |= _stack_rule_files(stack)
    return files


SHIPPED_ALERTS = [(Path(path).name, rule) for path, text in sorted(_every_shippable_file().items())
                  for group in yaml.safe_load(text)["groups"] for rule in group["rules"] if "alert" in rule]


def _anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors: lower-cased, punctuation dropped, spaces to hyphens."""
    headings = re.findall(r"^#+ (.+)$", markdown, flags=re.M)
    return {re.sub(r"[^\w\- ]", "", h).strip().lower().replace(" ", "-") for h in headings}


def test_every_alert_file_of_every_target_is_covered() -> None:
    assert {name for name, _ in SHIPPED_ALERTS} == {"alerts.yml"} | {m["output"] for m in SCOPED}


@pytest.mark.parametrize(("rule_file", "rule"), SHIPPED_ALERTS,
                         ids=[f"{f}:{r['alert']}:{r['labels'].get('severity') if r.get('labels') else '-'}"
                              for f, r in SHIPPED_ALERTS])
def test_every_shipped_alert_has_a_severity_and_a_runbook(rule_file: str, rule: dict[str, Any]) -> None:
    severity = rule.get("labels", {}).get("severity")
    assert severity in {"critical", "warning", "info", "none"}, f"{rule_file} {rule['alert']}: severity {severity!r}"
    url = rule.get("annotations", {}).get("runbook_url")
    assert url, f"{rule_file} {rule['alert']}: no runbook_url"
    if url.startswith("docs/runbooks.md#"):
        assert url.split("#", 1)[1] in _anchors(RUNBOOKS.read_text()), f"{url}: no such section in docs/runbooks.md"
    else:
        # prometheus-operator/runbooks@a685d14c: content/runbooks/<component>/<Alert>.md, served lower-cased
        assert url.startswith(UPSTREAM_RUNBOOKS) and url.endswith("/" + rule["alert"].lower()), url


def test_the_runbook_anchor_check_can_fail() -> None:
    assert "servicedown" in _anchors(RUNBOOKS.read_text())
    assert "nosuchalert" not in _anchors(RUNBOOKS.read_text())


def test_watchdog_always_fires_and_pages_nobody() -> None:
    watchdog = [rule for _, rule in SHIPPED_ALERTS if rule["alert"] == "Watchdog"]
    assert len(watchdog) == 1
    assert watchdog[0]["expr"] == "vector(1)" and watchdog[0]["labels"] == {"severity": "none"}
    assert "for" not in watchdog[0]
