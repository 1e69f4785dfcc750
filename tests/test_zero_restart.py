"""Zero-restart configuration changes, measured on the plan: a change to rules, scrape config,
Alertmanager routes, a dashboard or Loki's limits updates only what carries the config (the tool's
stable-named ConfigMap/Secret on Kubernetes, its one-shot config copier on Docker) and leaves every
Deployment, StatefulSet, DaemonSet and tool container as it was: nothing restarts.

The plan is what a real `pulumi up` would do after the first one: each resource's state is what its
provider stored (tests/readback.py), the changed program runs against that state, and each
provider's modelled Diff decides update or replacement. A replaced auto-named Kubernetes object gets
a new name, as the real engine gives it (the mock engine alone would keep the old one), so a
ConfigMap replaced on a data change shows up where it matters: in the pod template that names it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from guarantees import with_changes
from readback import MODELS, Change, k8s_diff

from mockengine.manifests import plain
from mockengine.program import ROOT, STACKS, program_copy, stack_config
from mockengine.rendered import WORKLOAD_TYPES
from mockengine.run import Registered, Run, run_program

CONTAINER = "docker:index/container:Container"
Key = tuple[str, str]


def _mutable(run: Run) -> bool:
    """Whether the stack's Kubernetes provider patches ConfigMaps/Secrets in place (its inputs)."""
    providers = run.of_type("pulumi:providers:kubernetes")
    return bool(providers) and all(plain(p.inputs).get("enableConfigMapMutable") == "true"
                                   and plain(p.inputs).get("enableSecretMutable") == "true" for p in providers)


MUTABLE_OPTIONS = ("enableConfigMapMutable", "enableSecretMutable")


def _deployed_without_mutable_options(run: Run) -> Run:
    """`run` as a release before the options registered it: its Kubernetes provider without them
    (what that release's provider sent and the engine stored), everything else the same."""
    def without(values: dict[str, Any]) -> dict[str, Any]:
        assert set(MUTABLE_OPTIONS) <= values.keys(), sorted(values)
        return {k: v for k, v in values.items() if k not in MUTABLE_OPTIONS}

    return dataclasses.replace(run, resources=[
        dataclasses.replace(r, inputs=without(r.inputs), sent=without(r.sent))
        if r.type == "pulumi:providers:kubernetes" else r for r in run.resources])


def _diff(type_: str, news: dict[str, Any], olds: dict[str, Any], state: dict[str, Any], roc: list[str],
          mutable: bool) -> list[Change]:
    if type_.startswith("kubernetes:") and not type_.startswith("pulumi:"):
        return k8s_diff(news, olds, state, mutable=mutable)
    return MODELS[type_].diff(news, olds, state, roc)


def plan(stack: str, changes: dict[str, Any] | None = None, program: Path = ROOT,
         deployed: Run | None = None) -> dict[Key, list[Change]]:
    """{(type, name): changes} the next `pulumi up` of `program` would make after the first `up`
    registered `deployed` (by default: the program as it is); added and removed resources appear
    with a single change at path '<created>' / '<deleted>'."""
    values, secret_keys = with_changes(stack, {})
    first = run_program(stack, values, secret_keys) if deployed is None else deployed
    mutable = _mutable(first)
    stored: dict[Key, tuple[dict[str, Any], dict[str, Any], bool]] = {}
    for r in first.resources:
        if r.custom:
            model = MODELS[r.type]
            checked = model.check(plain(r.sent), None, plain(r.inputs))
            stored[(r.type, r.name)] = (checked, model.read_back(checked, plain(r.inputs)),
                                        r.type.startswith("kubernetes:") and not plain(r.sent)
                                        .get("metadata", {}).get("name"))

    def engine_state(type_: str, name: str, inputs: dict[str, Any]) -> dict[str, Any] | None:
        """What the engine hands the program back on the second `up`: the provider's stored state."""
        if (type_, name) not in stored:
            return None
        checked, state, autonamed = stored[(type_, name)]
        news = MODELS[type_].check(plain(inputs), checked, state)
        replaced = any(c.replace for c in _diff(type_, news, checked, state, [], mutable))
        if replaced and autonamed:
            # A replacement of an auto-named object gets a fresh name: what dependents see.
            return {**state, "metadata": {**state["metadata"], "name": state["metadata"]["name"] + "-next"}}
        return state

    after_values, after_secrets = with_changes(stack, changes or {})
    second = run_program(stack, after_values, after_secrets, program=program, prior=engine_state)

    found: dict[Key, list[Change]] = {}
    seen = set()
    for r in second.resources:
        if not r.custom:
            continue
        key = (r.type, r.name)
        seen.add(key)
        if key not in stored:
            found[key] = [Change("<created>", None, None, False)]
            continue
        checked, state, _ = stored[key]
        news = MODELS[r.type].check(plain(r.sent), checked, state)
        diff = _diff(r.type, news, checked, state, r.replace_on_changes, mutable)
        if diff:
            found[key] = diff
    for key in stored.keys() - seen:
        found[key] = [Change("<deleted>", None, None, True)]
    return found


def _workloads(run: Run) -> list[Registered]:
    """Every Deployment/StatefulSet/DaemonSet and every long-running Docker container (a tool or a
    sidecar: the one-shot config copiers, which run once and exit, are not workloads)."""
    kinds = [r for t in WORKLOAD_TYPES for r in run.of_type(t)]
    return kinds + [r for r in run.of_type(CONTAINER) if plain(r.inputs).get("mustRun") is not False
                    or plain(r.inputs).get("restart") == "unless-stopped"]


def _carriers(tool: str, kubernetes: bool, keys: Iterable[Key]) -> set[Key]:
    """Those of `keys` that carry the tool's live files: on Kubernetes the ConfigMaps and Secrets of
    its live directories (`<tool>-live-<directory>`), on Docker its config copier."""
    if kubernetes:
        return {(type_, name) for type_, name in keys if name.startswith(f"{tool}-live-")
                and type_ in ("kubernetes:core/v1:ConfigMap", "kubernetes:core/v1:Secret")}
    return {key for key in keys if key == (CONTAINER, f"{tool}-config")}


# (what, tool, settings change, file edits {relpath: (old, new)})
CHANGES: list[tuple[str, str, dict[str, Any], dict[str, tuple[str, str]]]] = [
    ("an alert rule", "prometheus", {}, {"configs/prometheus/rules/alerts.yml": ("for: 10m", "for: 15m")}),
    ("a scrape setting", "prometheus", {"prometheus": {"scrapeInterval": "30s"}}, {}),
    ("a service onboarded (scrape config)", "prometheus", {},
     {"configs/services.yaml": ("      notification: 3002\n", "      notification: 3002\n      billing: 3003\n")}),
    ("Alertmanager routes", "alertmanager",
     {"alertmanager": {"repeatInterval": "12h", "groupWait": "45s", "groupBy": ["alertname"]}}, {}),
    ("a dashboard", "grafana", {},
     {"configs/grafana/dashboards/services-overview.json": ('"Request Rate"', '"Requests per second"')}),
    ("a Loki limit", "loki", {"loki": {"retention": "14d", "ingestionRateMb": 16, "ingestionBurstSizeMb": 32}}, {}),
]


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize(("what", "tool", "settings", "edits"), CHANGES, ids=[c[0] for c in CHANGES])
def test_a_config_change_restarts_nothing(stack: str, what: str, tool: str, settings: dict[str, Any],
                                          edits: dict[str, tuple[str, str]], tmp_path: Path) -> None:
    program = program_copy(tmp_path, edits) if edits else ROOT
    changes = plan(stack, settings, program)
    kubernetes = stack_config(stack)["target"] == "kubernetes"
    baseline = run_program(stack, *with_changes(stack, {}))
    workloads = {(r.type, r.name) for r in _workloads(baseline)}
    touched = {key: [f"{'replace' if c.replace else 'update'} {c.path}" for c in found]
               for key, found in changes.items() if key in workloads}
    assert touched == {}, f"{what} would restart workloads:\n" + "\n".join(f"{k}: {v}" for k, v in touched.items())
    _only_carriers_change(what, tool, kubernetes, changes)


def _only_carriers_change(what: str, tool: str, kubernetes: bool, changes: dict[Key, list[Change]]) -> None:
    carried = {key: found for key, found in changes.items() if key in _carriers(tool, kubernetes, changes)}
    assert carried, f"{what}: nothing carries the change to {tool}: {sorted(changes)}"
    if kubernetes:
        # Patched in place: a replacement would be a new object, and an auto-named one a new name.
        replaced = [str(c) for found in carried.values() for c in found if c.replace]
        assert replaced == [], replaced
    # Nothing else changes but what carries config.
    others = set(changes) - _carriers(tool, kubernetes, changes)
    assert others == set(), sorted(others)


# A live file that a release adds or removes: (what, tool, relpath, text); its scope (configs/scopes.yaml
# names every rule file and dashboard) ships it on every stack.
NEW_FILES: list[tuple[str, str, str, str]] = [
    ("a rule file", "prometheus", "configs/prometheus/rules/added.yml",
     "groups:\n  - name: added\n    rules:\n      - alert: AddedNeverFires\n        expr: vector(0) > 1\n"),
    ("a dashboard", "grafana", "configs/grafana/dashboards/added.json",
     '{"panels": [], "title": "Added", "uid": "quikapp-added"}\n'),
]


def _scoped_everywhere(rel: str) -> dict[str, tuple[str, str]]:
    """The program_copy edit that gives the file at `rel` a scope of every stack."""
    section = "rules:\n" if "/rules/" in rel else "dashboards:\n"
    scope = f"{section}  {Path(rel).name}: {{targets: [docker, kubernetes], jobs: []}}\n"
    return {"configs/scopes.yaml": (section, scope)}


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize("direction", ["added", "removed"])
@pytest.mark.parametrize(("what", "tool", "rel", "text"), NEW_FILES, ids=[f[0] for f in NEW_FILES])
def test_a_live_file_added_or_removed_restarts_nothing(stack: str, direction: str, what: str, tool: str, rel: str,
                                                       text: str, tmp_path: Path) -> None:
    """A new live file (a rule file, a dashboard) and the same file dropped again: only the objects
    carrying the tool's live files change, and no pod template (Kubernetes: the file names are the
    keys of the directory's ConfigMap, never items of the pod's volume)."""
    with_file = program_copy(tmp_path, _scoped_everywhere(rel))
    (with_file / rel).write_text(text)
    if direction == "added":
        changes = plan(stack, None, program=with_file)
    else:
        changes = plan(stack, None, program=ROOT,
                       deployed=run_program(stack, *with_changes(stack, {}), program=with_file))
    kubernetes = stack_config(stack)["target"] == "kubernetes"
    baseline = run_program(stack, *with_changes(stack, {}))
    workloads = {(r.type, r.name) for r in _workloads(baseline)}
    touched = {key: [f"{'replace' if c.replace else 'update'} {c.path}" for c in found]
               for key, found in changes.items() if key in workloads}
    assert touched == {}, f"{what} {direction} would restart workloads:\n" + "\n".join(
        f"{k}: {v}" for k, v in touched.items())
    _only_carriers_change(f"{what} {direction}", tool, kubernetes, changes)
    if kubernetes:
        # The file itself is what changed: a key of the carrier's data, added or dropped.
        name = rel.rsplit("/", 1)[1]
        paths = [c.path for found in changes.values() for c in found]
        assert any(name in p for p in paths), paths


@pytest.mark.parametrize("stack", STACKS)
def test_a_start_only_file_still_restarts_its_tool(stack: str, tmp_path: Path) -> None:
    """The other half: a file the tool reads only at start (Grafana's entrypoint wrapper, like its
    datasources) must restart it, and only it, or the change would never take effect."""
    program = program_copy(tmp_path, {})
    wrapper = program / "configs" / "grafana" / "entrypoint.sh"
    wrapper.write_text(wrapper.read_text() + "# read by the shell at start only\n")
    changes = plan(stack, None, program)
    baseline = run_program(stack, *with_changes(stack, {}))
    workloads = {(r.type, r.name) for r in _workloads(baseline)}
    restarted = {key for key in changes if key in workloads}
    if stack_config(stack)["target"] == "kubernetes":
        assert restarted == {("kubernetes:apps/v1:Deployment", "grafana")}
        (change,) = changes[("kubernetes:apps/v1:Deployment", "grafana")]
        assert change.path == ".spec.template.metadata.annotations.checksum/restart-files" and not change.replace
    else:
        assert restarted == {(CONTAINER, "grafana")}
        assert any(c.replace and c.path.startswith("uploads") for c in changes[(CONTAINER, "grafana")])


@pytest.mark.parametrize("stack", STACKS)
def test_the_plan_of_no_change_is_empty(stack: str) -> None:
    assert plan(stack) == {}


@pytest.mark.parametrize("stack", STACKS)
def test_a_secret_env_change_still_restarts_its_tool(stack: str) -> None:
    """Secret env vars are read at start: a new Grafana admin password must roll Grafana. (With the
    provider patching Secrets in place, only an immutable env Secret is replaced under a new name.)"""
    changes = plan(stack, {"grafana": {"adminPassword": "another-sentinel-Kq2"}})
    if stack_config(stack)["target"] == "kubernetes":
        secret = changes[("kubernetes:core/v1:Secret", "grafana-secret")]
        assert any(c.replace for c in secret), secret
        paths = [c.path for c in changes[("kubernetes:apps/v1:Deployment", "grafana")]]
        assert paths and all(p.startswith(".spec.template.spec.containers") for p in paths), paths
    else:
        assert any(c.replace and c.path.startswith("envs") for c in changes[(CONTAINER, "grafana")])


@pytest.mark.parametrize("stack", [s for s in STACKS if stack_config(s)["target"] == "kubernetes"])
def test_turning_on_mutable_configmaps_updates_the_provider_in_place(stack: str) -> None:
    """An existing stack's provider lacks the two options: adding them must be a provider update,
    never a replacement (which would replace every resource of the stack)."""
    deployed = run_program(stack, *with_changes(stack, {}))
    changes = plan(stack, None, deployed=_deployed_without_mutable_options(deployed))
    provider = changes[("pulumi:providers:kubernetes", "kubernetes")]
    assert sorted(c.path for c in provider) == ["enableConfigMapMutable", "enableSecretMutable"]
    assert not any(c.replace for c in provider)
    assert not [key for key, found in changes.items() if any(c.replace for c in found)]
