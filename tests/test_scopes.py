"""configs/scopes.yaml: the one manifest of where every rule file and dashboard ships.

Both renderers read it (rule_files, shipped_dashboards); a file of either folder it does not name, or
a name without its file, is refused, and each mistake in it is one line. Which files the committed
manifest ships to which stack is checked in tests/test_mixins.py and tests/test_dashboards.py.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pulumi
import pytest
import yaml

from components.render.grafana import DASHBOARDS_SOURCE, shipped_dashboards
from components.render.prometheus import RULES_SOURCE, rule_files
from components.scopes import SCOPES_FILE, ScopeError, load_scopes
from components.settings import Settings, TargetKind, parse_settings
from mockengine.program import stack_config
from mockengine.stand_ins import with_secrets

PREFIX = "invalid scopes manifest: configs/scopes.yaml: "


def _copy(folder: Path, tmp_path: Path) -> Path:
    out = tmp_path / folder.name
    shutil.copytree(folder, out)
    return out


def _dev_settings(*, remote_write: bool = False) -> Settings:
    """The dev stack's settings (Docker, every collector), with a remote-write endpoint if asked."""
    values = stack_config("dev")
    if remote_write:
        values.setdefault("prometheus", {})["remoteWrite"] = [{"url": "https://store.example/api/v1/push"}]
    return parse_settings(*with_secrets(values))


def test_the_committed_manifest_names_every_rule_file_and_dashboard() -> None:
    scopes = load_scopes()
    assert set(scopes.rules.scopes) == {p.name for p in RULES_SOURCE.glob("*.yml")}
    assert set(scopes.dashboards.scopes) == {p.name for p in DASHBOARDS_SOURCE.glob("*.json")}


def test_a_rule_file_the_manifest_does_not_name_is_refused(tmp_path: Path) -> None:
    rules = _copy(RULES_SOURCE, tmp_path)
    (rules / "extra.yml").write_text("groups: []\n")
    with pytest.raises(ScopeError) as raised:
        rule_files(TargetKind.DOCKER, {"prometheus"}, rules)
    assert str(raised.value) == (f"{PREFIX}rules.extra.yml: required, but not set ({rules / 'extra.yml'} ships "
                                 "nowhere until its scope is named here)")
    # A RunError: `pulumi preview` prints the line without a traceback.
    assert isinstance(raised.value, pulumi.RunError)


def test_a_dashboard_the_manifest_does_not_name_is_refused(tmp_path: Path) -> None:
    dashboards = _copy(DASHBOARDS_SOURCE, tmp_path)
    shutil.copy(dashboards / "node.json", dashboards / "hosts.json")
    for settings in (_dev_settings(), None):
        with pytest.raises(ScopeError) as raised:
            shipped_dashboards(settings, dashboards)
        assert str(raised.value) == (f"{PREFIX}dashboards.hosts.json: required, but not set "
                                     f"({dashboards / 'hosts.json'} ships nowhere until its scope is named here)")


def test_a_name_without_its_file_is_refused_and_every_problem_is_a_line(tmp_path: Path) -> None:
    rules = _copy(RULES_SOURCE, tmp_path)
    (rules / "redis.yml").rename(rules / "redis-alerts.yml")
    with pytest.raises(ScopeError) as raised:
        rule_files(TargetKind.KUBERNETES, {"redis"}, rules)
    assert str(raised.value).splitlines() == [
        "invalid scopes manifest:",
        f"  configs/scopes.yaml: rules.redis-alerts.yml: required, but not set ({rules / 'redis-alerts.yml'} "
        "ships nowhere until its scope is named here)",
        f"  configs/scopes.yaml: rules.redis.yml: names no file (allowed: the files of {rules}/*.yml)",
    ]


def test_both_renderers_follow_the_manifest(tmp_path: Path) -> None:
    """Narrowing a dashboard's and a rule file's scope in the manifest narrows what a stack gets."""
    data = yaml.safe_load(SCOPES_FILE.read_text(encoding="utf-8"))
    data["dashboards"]["node.json"]["targets"] = ["kubernetes"]
    data["dashboards"]["prometheus.json"]["requires"] = ["remote-write"]
    data["rules"]["alerts.yml"]["jobs"] = ["kafka"]
    manifest = tmp_path / "scopes.yaml"
    manifest.write_text(yaml.safe_dump(data), encoding="utf-8")
    settings = _dev_settings()
    assert {"node.json", "prometheus.json"} <= set(shipped_dashboards(settings))
    assert not {"node.json", "prometheus.json"} & set(shipped_dashboards(settings, manifest=manifest))
    assert "prometheus.json" in shipped_dashboards(_dev_settings(remote_write=True), manifest=manifest)
    jobs = {"prometheus", "monitoring"}
    assert "/etc/prometheus/rules/alerts.yml" in rule_files(TargetKind.DOCKER, jobs)
    assert "/etc/prometheus/rules/alerts.yml" not in rule_files(TargetKind.DOCKER, jobs, manifest=manifest)
    assert "/etc/prometheus/rules/alerts.yml" in rule_files(TargetKind.DOCKER, jobs | {"kafka"}, manifest=manifest)


BAD = """\
rules:
  alerts.yml: {targets: [docker, swarm], jobs: [node_exporter], requires: [gossip], owner: ops}
  redis.yml: {targets: [], jobs: redis}
  nginx.yml: docker
  kafka.yml: {targets: [docker]}
  kafka.yml: {targets: [docker], jobs: []}
dashboard: {}
"""


def test_each_mistake_in_the_manifest_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "scopes.yaml"
    path.write_text(BAD, encoding="utf-8")
    with pytest.raises(ScopeError) as raised:
        load_scopes(path)
    jobs = "cadvisor, kafka, kube-state-metrics, kubelet, monitoring, nginx, node-exporter, postgres, prometheus, redis"
    assert str(raised.value).splitlines() == ["invalid scopes manifest:", *(f"  {path}: {line}" for line in [
        "rules.kafka.yml: given twice, on lines 5 and 6 (allowed: each key once)",
        "dashboard: unknown key (allowed here: rules, dashboards)",
        "rules.alerts.yml.owner: unknown key (allowed here: targets, jobs, requires)",
        "rules.alerts.yml.targets: 'swarm' is not valid (allowed: docker, kubernetes)",
        f"rules.alerts.yml.jobs: 'node_exporter' is not valid (allowed: the stack's own scrape jobs: {jobs})",
        "rules.alerts.yml.requires: 'gossip' is not valid (allowed: alertmanager-cluster, remote-write)",
        "rules.redis.yml.targets: an empty list is not valid (allowed: a list of docker, kubernetes; at least one)",
        f"rules.redis.yml.jobs: 'redis' is not valid (allowed: a list of the stack's own scrape jobs: {jobs}; "
        "[] for none)",
        "rules.nginx.yml: 'docker' is not valid (allowed: a mapping with targets, jobs and, optionally, requires)",
        "dashboards: required, but not set",
    ])]


def test_a_manifest_that_is_not_yaml_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "scopes.yaml"
    path.write_text("rules: {alerts.yml: [docker\n", encoding="utf-8")
    with pytest.raises(ScopeError) as raised:
        load_scopes(path)
    (line,) = str(raised.value).splitlines()
    assert line.startswith(f"invalid scopes manifest: {path}: line ") and "not valid YAML" in line
