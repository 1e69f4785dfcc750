"""The upstream mixins' rules: reproducible from their pinned sources, aimed at this stack's jobs,
shipped only where those jobs are scraped, every alert with a runbook and a severity.

The reproduction test downloads the pinned Go modules (Go module proxy) and evaluates them with
PyPI's jsonnet: under CI=true a source that cannot be had fails the test; locally it skips. A mixin
read from a git clone (kubernetes-mixin) is checked against its record without the clone, and
re-rendered from the clone where one is at hand (KUBERNETES_MIXIN_CHECKOUT, else the development
sessions' mirror; CI has none).
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
from components.render.prometheus import render_prometheus_config, rule_files, scrape_jobs
from components.scopes import FEATURES, load_scopes, stack_features
from components.settings import TargetKind, parse_settings
from mockengine.program import ROOT, STACKS, stack_config
from mockengine.stand_ins import with_secrets
from tools import require, run_tool

RULES_DIR = ROOT / "configs" / "prometheus" / "rules"
MANIFEST = RULES_DIR / "mixins.yaml"
SCRIPT = ROOT / "scripts" / "sync-mixins.py"
RUNBOOKS = ROOT / "docs" / "runbooks.md"
UPSTREAM_RUNBOOKS = "https://runbooks.prometheus-operator.dev/runbooks/"
KUBERNETES_MIXIN_RUNBOOK = "https://github.com/kubernetes-monitoring/kubernetes-mixin/blob/version-1.5.6/runbook.md#alert-name-"


def manifest() -> dict[str, Any]:
    return dict(yaml.safe_load(MANIFEST.read_text(encoding="utf-8")))


MIXINS = manifest()["mixins"]
GO_MIXINS = [m for m in MIXINS if "module" in m]
GIT_MIXINS = [m for m in MIXINS if "git" in m]
SPLITS = [{**split, "parent": m} for m in MIXINS for split in m.get("split", [])]
MIXIN_OUTPUTS = {m["output"] for m in MIXINS + SPLITS}
# The rule files' scopes (configs/scopes.yaml).
SCOPES = load_scopes().rules.scopes
# every rule file that not every stack ships: mixins (and their split files) and the project's own
SCOPED = [{"output": name, "jobs": sorted(scope.jobs)} for name, scope in sorted(SCOPES.items())
          if not scope.everywhere]
# A clone of kubernetes-mixin with its pinned tag: given by KUBERNETES_MIXIN_CHECKOUT, else the one
# the development sessions' `fetch` stores (as tests/test_loki_storage.py finds grafana/loki).
KUBERNETES_CHECKOUT = Path(os.environ.get("KUBERNETES_MIXIN_CHECKOUT",
                                          "/work/.mirror/kubernetes-monitoring+kubernetes-mixin/repo"))


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


def checkout_or_skip() -> Path:
    if not (KUBERNETES_CHECKOUT / "HEAD").exists() and not (KUBERNETES_CHECKOUT / ".git").exists():
        pytest.skip(f"no kubernetes-mixin clone at {KUBERNETES_CHECKOUT} (set KUBERNETES_MIXIN_CHECKOUT); "
                    "without one the committed file is checked against its record only")
    return KUBERNETES_CHECKOUT


def _only(name: str, tmp_path: Path, **changes: Any) -> Path:
    """A manifest holding only mixin `name` (with `changes`), for fast single-module runs."""
    entry = {**next(m for m in MIXINS if m["name"] == name), **changes}
    path = tmp_path / "mixins.yaml"
    path.write_text(yaml.safe_dump({"mixins": [entry]}), encoding="utf-8")
    return path


def test_the_sync_reproduces_the_committed_files() -> None:
    """What CI runs: the Go mixins re-rendered, the git ones checked against their record."""
    started = time.monotonic()
    result = sync("--check")
    sources_or_skip(result)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "checked against their record (no clone given): kubernetes" in result.stderr
    print(f"sync-mixins --check: {time.monotonic() - started:.1f}s; {result.stderr.strip()}")


def test_the_sync_reproduces_the_kubernetes_mixin_from_its_clone() -> None:
    """From a clone at the pinned tag the file and its record come out exactly as committed."""
    result = sync("--check", "--checkout", f"kubernetes={checkout_or_skip()}")
    sources_or_skip(result)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "5 mixins rendered" in result.stderr and "differ: none" in result.stderr


def test_a_hand_edit_of_a_git_mixin_fails_the_check_without_a_clone(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(RULES_DIR, rules)
    edited = rules / "kubernetes-mixin.yml"
    edited.write_text(edited.read_text().replace("for: 15m", "for: 5m", 1))
    result = sync("--check", "--rules-dir", rules, "--manifest", _only("kubernetes", tmp_path))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "differ: kubernetes-mixin.yml" in result.stderr
    # Writing without the clone cannot repair it: one line saying what is needed.
    result = sync("--rules-dir", rules, "--manifest", _only("kubernetes", tmp_path))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "sync-mixins: the kubernetes mixin's files differ from its record (mixins.yaml `rendered`): "
        "re-render with --checkout kubernetes=<a clone of https://github.com/kubernetes-monitoring/kubernetes-mixin>"]


def test_a_hand_edit_of_a_synced_upstream_test_fails_the_check_without_a_clone(tmp_path: Path) -> None:
    tests = tmp_path / "tests"
    shutil.copytree(ROOT / "tests" / "rules", tests)
    edited = tests / "kubernetes-mixin" / "tests.yaml"
    edited.write_text(edited.read_text().replace("eval_time: 4m", "eval_time: 5m", 1))
    result = sync("--check", "--tests-dir", tests, "--manifest", _only("kubernetes", tmp_path))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "kubernetes-mixin/tests.yaml" in result.stderr


def test_the_synced_upstream_tests_hold_the_cases_of_what_ships() -> None:
    """kubernetes-mixin's own tests/*.yaml, kept for the shipped alerts only (KubeAPIDown and the other
    control-plane ones go), against the shipped file, with upstream's provenance and licence notice."""
    shipped = {r["alert"] for g in yaml.safe_load((RULES_DIR / "kubernetes-mixin.yml").read_text())["groups"]
               for r in g["rules"] if "alert" in r}
    synced = sorted((ROOT / "tests" / "rules" / "kubernetes-mixin").glob("*.yaml"))
    cases = []
    for path in synced:
        text = path.read_text()
        assert text.startswith("# Copyright kubernetes-mixin Authors\n# SPDX-License-Identifier: Apache-2.0\n"), path
        assert f"tests/{path.name} at tag version-1.5.6 (commit 464d0ae592cb7d7b1c6f40741fc72fb7bb2449ac)" in text
        data = yaml.safe_load(text)
        assert data["rule_files"] == ["../../../configs/prometheus/rules/kubernetes-mixin.yml"], path
        cases += [c["alertname"] for g in data["tests"] for c in g.get("alert_rule_test", [])]
    assert set(cases) <= shipped
    assert cases.count("KubePersistentVolumeFillingUp") == 21 and "KubeAPIDown" not in cases
    assert len(cases) >= 100


def test_the_sync_refuses_a_clone_whose_tag_names_another_commit(tmp_path: Path) -> None:
    checkout = checkout_or_skip()
    other = "0" * 40
    result = sync("--check", "--manifest", _only("kubernetes", tmp_path, commit=other),
                  "--checkout", f"kubernetes={checkout}")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "tag version-1.5.6 is commit 464d0ae592cb7d7b1c6f40741fc72fb7bb2449ac" in lines[0]
    assert other in lines[0]


def test_the_sync_writes_the_kubernetes_mixin_and_its_record(tmp_path: Path) -> None:
    """Rendering from the clone into an empty folder writes the committed text, and a stale record
    in the manifest is rewritten (one line; the comments stay)."""
    checkout = checkout_or_skip()
    manifest_path = tmp_path / "mixins.yaml"
    text = MANIFEST.read_text()
    recorded = next(m for m in GIT_MIXINS if m["name"] == "kubernetes")["rendered"]
    manifest_path.write_text(text.replace(f"rendered: {recorded}", "rendered: sha256:stale"))
    out = tmp_path / "rules"
    out.mkdir()
    result = sync("--rules-dir", out, "--manifest", manifest_path, "--checkout", f"kubernetes={checkout}")
    sources_or_skip(result)
    assert result.returncode == 0, result.stderr
    assert (out / "kubernetes-mixin.yml").read_text() == (RULES_DIR / "kubernetes-mixin.yml").read_text()
    assert manifest_path.read_text() == text


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


def test_where_a_mixin_ships_is_no_key_of_its_entry(tmp_path: Path) -> None:
    """Scopes are configs/scopes.yaml's: a `targets` left in mixins.yaml would otherwise be ignored."""
    path = _only("redis", tmp_path, targets=["docker"])
    result = sync("--check", "--manifest", path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"sync-mixins: {path}: mixin redis: unknown key 'targets' (allowed here: name, output, module, git, version, "
        "commit, sum, dir, imports, config, runbooks, drop_alerts, drop_groups, split, tests, rendered; "
        "where a file ships is configs/scopes.yaml)"]


def test_a_split_file_takes_its_requires_from_its_scope(tmp_path: Path) -> None:
    """The header of a split file names what its scope in configs/scopes.yaml requires: a split file
    the manifest does not scope cannot be rendered."""
    entry = next(m for m in MIXINS if m["name"] == "prometheus")
    split = [{**entry["split"][0], "output": "prometheus-unscoped-mixin.yml"}]
    result = sync("--check", "--manifest", _only("prometheus", tmp_path, split=split))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"sync-mixins: {tmp_path / 'mixins.yaml'}: the prometheus mixin's split file prometheus-unscoped-mixin.yml "
        "has no `requires` in configs/scopes.yaml `rules` (allowed: its scope, naming the features its alerts need)"]
    head = (RULES_DIR / "prometheus-remote-write-mixin.yml").read_text().splitlines()[:8]
    assert "# Only the alerts that need remote-write: shipped where the stack has it (mixins.yaml `split`)." in head
    assert SCOPES["prometheus-remote-write-mixin.yml"].requires == {"remote-write"}


@pytest.mark.parametrize("mixin", MIXINS + SPLITS, ids=lambda m: m["output"])
def test_each_rendered_file_is_headed_with_its_source(mixin: dict[str, Any]) -> None:
    source = mixin.get("parent", mixin)
    head = "".join((RULES_DIR / mixin["output"]).read_text().splitlines(True)[:6])
    assert "scripts/sync-mixins.py" in head
    if "git" in source:
        assert f"{source['git']} tag {source['version']} (commit {source['commit']})" in head
    else:
        assert f"{source['module']}@{source['version']}" in head and f"{source['dir']}/" in head
        assert source["sum"] in head
        if source.get("commit"):
            assert source["commit"] in head


@pytest.mark.parametrize("split", SPLITS, ids=lambda s: s["output"])
def test_split_alerts_live_only_in_their_own_file(split: dict[str, Any]) -> None:
    """Each alert a `split` names is in its file and gone from the mixin's main file."""
    def alerts(name: str) -> set[str]:
        return {r["alert"] for g in yaml.safe_load((RULES_DIR / name).read_text())["groups"]
                for r in g["rules"] if "alert" in r}

    assert alerts(split["output"]) == set(split["alerts"])
    assert not alerts(split["parent"]["output"]) & set(split["alerts"])
    assert SCOPES[split["output"]].requires <= set(FEATURES)
    assert SCOPES[split["output"]].requires, "a split file exists for what its alerts require"


@pytest.mark.parametrize("scoped", SCOPED, ids=lambda m: m["output"])
def test_the_selectors_name_the_jobs_the_manifest_ships_on(scoped: dict[str, Any]) -> None:
    """The `_config` took effect: the rules read exactly the jobs the file's shipping depends on
    (the mixins' defaults, e.g. node's job="node", would match nothing this stack scrapes)."""
    rules = [r for g in yaml.safe_load((RULES_DIR / scoped["output"]).read_text())["groups"] for r in g["rules"]]
    jobs = {job for rule in rules for job in re.findall(r'\bjob="([^"]+)"', rule["expr"])}
    if scoped["output"] not in MIXIN_OUTPUTS and not jobs:
        # The seed's exporter alerts name no job (redis_up == 0): what they read is checked against
        # what the shipping job exposes in tests/live/test_live_rules_can_fire.py.
        return
    assert jobs == set(scoped["jobs"]), (scoped["output"], jobs)


def test_promtool_accepts_every_synced_file() -> None:
    promtool = require("promtool")
    files = [RULES_DIR / m["output"] for m in MIXINS]
    result = run_tool(promtool, "check", "rules", *files)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(files), result.stdout


def test_no_stray_rendered_file_and_no_file_for_an_unavailable_mixin() -> None:
    outputs = {m["output"] for m in MIXINS} | {s["output"] for s in SPLITS}
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
        "redis-mixin.yml", "redis.yml"]
    assert "node-mixin.yml" in _names(rule_files(TargetKind.KUBERNETES, base | {"node-exporter"}))
    assert _names(rule_files(TargetKind.DOCKER, set())) == ["alerts.yml", "micrometer.yml", "opentelemetry.yml"]
    every_job = {job for scope in SCOPES.values() for job in scope.jobs}
    assert "containers.yml" in _names(rule_files(TargetKind.DOCKER, every_job))
    assert "kubernetes-mixin.yml" not in _names(rule_files(TargetKind.DOCKER, every_job))
    assert "kubernetes-mixin.yml" in _names(rule_files(TargetKind.KUBERNETES, every_job))
    assert "kubernetes-mixin.yml" not in _names(rule_files(TargetKind.KUBERNETES, every_job - {"cadvisor"}))


def test_a_split_file_ships_only_with_its_feature() -> None:
    jobs = {"prometheus", "monitoring"}
    plain = _names(rule_files(TargetKind.KUBERNETES, jobs))
    assert "alertmanager-mixin.yml" in plain and "alertmanager-cluster-mixin.yml" not in plain
    assert "prometheus-remote-write-mixin.yml" not in plain
    clustered = _names(rule_files(TargetKind.KUBERNETES, jobs, features={"alertmanager-cluster"}))
    assert set(clustered) - set(plain) == {"alertmanager-cluster-mixin.yml"}
    writing = _names(rule_files(TargetKind.DOCKER, jobs, features={"remote-write"}))
    assert "prometheus-remote-write-mixin.yml" in writing and "alertmanager-cluster-mixin.yml" not in writing
    # A feature does not override the jobs: without the monitoring job no Alertmanager file at all.
    assert "alertmanager-cluster-mixin.yml" not in _names(
        rule_files(TargetKind.KUBERNETES, {"prometheus"}, features={"alertmanager-cluster"}))


@pytest.mark.parametrize("stack", STACKS)
def test_the_stacks_features_follow_their_settings(stack: str) -> None:
    settings = parse_settings(*with_secrets(stack_config(stack)))
    assert stack_features(settings) == ({"alertmanager-cluster"} if settings.ha else set())
    with_endpoint = stack_config(stack)
    with_endpoint.setdefault("prometheus", {})["remoteWrite"] = [{"url": "https://store.example/api/v1/push"}]
    assert "remote-write" in stack_features(parse_settings(*with_secrets(with_endpoint)))


def test_a_mixin_ships_only_on_its_targets(tmp_path: Path) -> None:
    (tmp_path / "alerts.yml").write_text("groups: []\n")
    (tmp_path / "cluster-mixin.yml").write_text("groups: []\n")
    scopes = tmp_path / "scopes.yaml"
    scopes.write_text(yaml.safe_dump({"dashboards": {}, "rules": {
        "alerts.yml": {"targets": ["docker", "kubernetes"], "jobs": []},
        "cluster-mixin.yml": {"targets": ["kubernetes"], "jobs": ["kube-state-metrics"]}}}))
    jobs = {"kube-state-metrics"}
    assert _names(rule_files(TargetKind.KUBERNETES, jobs, tmp_path, manifest=scopes)) == ["alerts.yml",
                                                                                          "cluster-mixin.yml"]
    assert _names(rule_files(TargetKind.DOCKER, jobs, tmp_path, manifest=scopes)) == ["alerts.yml"]


def _stack_rule_files(stack: str) -> dict[str, str]:
    values, secret_keys = with_secrets(stack_config(stack))
    settings = parse_settings(values, secret_keys)
    config = render_prometheus_config(settings, load_catalog(), lambda name: name, stack=stack)
    return rule_files(settings.target, scrape_jobs(config), features=stack_features(settings))


@pytest.mark.parametrize("stack", STACKS)
def test_the_stacks_ship_the_mixins_of_the_jobs_they_scrape(stack: str) -> None:
    values, secret_keys = with_secrets(stack_config(stack))
    settings = parse_settings(values, secret_keys)
    jobs = scrape_jobs(render_prometheus_config(settings, load_catalog(), lambda name: name, stack=stack))
    shipped = set(_names(_stack_rule_files(stack)))
    features = stack_features(settings)
    for name, scope in SCOPES.items():
        expected = settings.target in scope.targets and scope.jobs <= jobs and scope.requires <= features
        assert (name in shipped) == expected, name
    assert {"alerts.yml", "micrometer.yml", "opentelemetry.yml", "prometheus-mixin.yml",
            "alertmanager-mixin.yml"} <= shipped


# --- every alert: a runbook and a severity -------------------------------------------------

def _every_shippable_file() -> dict[str, str]:
    """Every rule file any stack can ship: both targets, every job a mixin reads."""
    jobs = {job for scope in SCOPES.values() for job in scope.jobs}
    files: dict[str, str] = {}
    for target in TargetKind:
        files |= rule_files(target, jobs, features=FEATURES)
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
    elif url.startswith(KUBERNETES_MIXIN_RUNBOOK):
        # kubernetes-mixin's own runbook.md at the pinned tag: `##### Alert Name: "<Alert>"` sections
        assert url == KUBERNETES_MIXIN_RUNBOOK + rule["alert"].lower(), url
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
