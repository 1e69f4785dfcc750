"""What every stack renders passes the upstream checkers: promtool and kubernetes-validate (strict, 1.30)."""

from __future__ import annotations

from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from conftest import stack_run
from mockengine.manifests import manifests
from mockengine.program import STACKS
from mockengine.rendered import workload_files
from sd_fixture import promtool_with_kubernetes_sd
from tools import require, run_tool

KUBERNETES_STACKS = [s for s in STACKS if stack_run(s).of_type("pulumi:providers:kubernetes")]


def _write_prometheus_files(stack: str, root: Path) -> Path:
    """Write Prometheus's files under `root` as they sit in the container; returns prometheus.yml."""
    files = workload_files(stack_run(stack))["prometheus"]
    for path, text in files.items():
        target = root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    config_path = root / "etc/prometheus/prometheus.yml"
    config = yaml.safe_load(config_path.read_text())
    # Point rule_files at the written copies so `check config` also loads every rule file.
    config["rule_files"] = [str(root / p.lstrip("/")) for p in config["rule_files"]]
    # The service account token Kubernetes mounts (kubelet jobs): promtool checks that it exists.
    for job in config["scrape_configs"]:
        if "authorization" in job:
            token = root / job["authorization"]["credentials_file"].lstrip("/")
            token.parent.mkdir(parents=True, exist_ok=True)
            token.write_text("not-a-token\n")
            job["authorization"]["credentials_file"] = str(token)
    config_path.write_text(yaml.safe_dump(config))
    return config_path


@pytest.mark.parametrize("stack", STACKS)
def test_promtool_accepts_the_rendered_prometheus_config(stack: str, tmp_path: Path) -> None:
    # Kubernetes stacks discover their targets: Debian's promtool lacks Kubernetes discovery.
    promtool = promtool_with_kubernetes_sd(tmp_path) if stack in KUBERNETES_STACKS else require("promtool")
    config = _write_prometheus_files(stack, tmp_path)
    result = run_tool(promtool, "check", "config", config)
    assert result.returncode == 0, result.stdout + result.stderr
    # promtool reports per rule file: alerts.yml's 6 alerts (Watchdog included), the 2 Micrometer
    # recording rules (and redis.yml's 2 alerts), and one SUCCESS per other shipped file too.
    assert "SUCCESS: 6 rules found" in result.stdout and "SUCCESS: 2 rules found" in result.stdout
    rule_files = list((tmp_path / "etc/prometheus/rules").glob("*.yml"))
    assert result.stdout.count(" rules found") == len(rule_files), result.stdout


@pytest.mark.parametrize("stack", STACKS)
def test_promtool_accepts_every_rendered_rule_file(stack: str, tmp_path: Path) -> None:
    promtool = require("promtool")
    _write_prometheus_files(stack, tmp_path)
    rule_files = sorted((tmp_path / "etc/prometheus/rules").glob("*.yml"))
    assert rule_files
    result = run_tool(promtool, "check", "rules", *rule_files)
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_rejects_a_broken_config(tmp_path: Path) -> None:
    """The check above can fail: a typo in a rendered config is caught."""
    promtool = require("promtool")
    config = _write_prometheus_files("dev", tmp_path)
    config.write_text(config.read_text().replace("scrape_interval", "scrape_intervall", 1))
    result = run_tool(promtool, "check", "config", config)
    assert result.returncode != 0


@pytest.mark.parametrize("stack", KUBERNETES_STACKS)
def test_every_kubernetes_object_is_valid_for_1_30_strict(stack: str) -> None:
    objects = manifests(stack_run(stack))
    assert len(objects) >= 5
    for obj in objects:
        try:
            kubernetes_validate.validate(obj, "1.30", strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{obj['kind']}/{obj['metadata'].get('name')}: {exc}")


def test_kubernetes_validate_rejects_an_unknown_field() -> None:
    obj = manifests(stack_run(KUBERNETES_STACKS[0]))[0]
    broken = {**obj, "spec": {**obj.get("spec", {}), "replicaz": 1}} if "spec" in obj else {**obj, "extra": 1}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, "1.30", strict=True)
