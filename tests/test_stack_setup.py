"""`make up` leaves the checkout as it found it, and shared stacks need their own backend.

scripts/stack-setup.sh (sourced by bootstrap.sh) runs here with the real Pulumi CLI built by
scripts/e2e-tools.sh, in a git copy of the repository: after it, `git status` is clean, and dev's
salt, generated password and local choices sit in the personal stack file under .pulumi-state.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml
from checkout import checkout

from mockengine.program import ROOT
from tools import require


def _git(tree: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=tree, capture_output=True, text=True, check=True).stdout


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    tree = checkout(tmp_path)
    _git(tree, "init", "-q")
    _git(tree, "add", "-A")
    _git(tree, "-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-qm", "checkout")
    return tree


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    pulumi = Path(require("pulumi"))
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    base = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")}
    # No plugin is needed by these steps; never let the CLI reach for one.
    return {**base, "HOME": str(home), "PATH": f"{pulumi.parent}:{base['PATH']}",
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true", **extra}


def _setup(tree: Path, env: dict[str, str], stack: str = "dev", action: str = "up"
           ) -> subprocess.CompletedProcess[str]:
    script = f'set -euo pipefail; ACTION={action}; source scripts/stack-setup.sh {stack}; echo "${{CONFIG_ARGS[*]}}"'
    return subprocess.run(["bash", "-c", script], cwd=tree, env=env, capture_output=True, text=True, timeout=300)


def _config_get(tree: Path, env: dict[str, str], path: str) -> str:
    done = subprocess.run(["pulumi", "config", "get", "--stack", "dev", "--config-file",
                           ".pulumi-state/dev/merged.yaml", "--path", path],
                          cwd=tree, env={**env, "PULUMI_BACKEND_URL": f"file://{tree / '.pulumi-state'}",
                                         "PULUMI_CONFIG_PASSPHRASE_FILE": str(tree / ".pulumi-state" / "passphrase")},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_dev_setup_writes_no_tracked_file(tree: Path, tmp_path: Path) -> None:
    env = _env(tmp_path)
    tracked = (tree / "Pulumi.dev.yaml").read_bytes()
    first = _setup(tree, env)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip().splitlines()[-1] == "--config-file .pulumi-state/dev/merged.yaml"
    assert _git(tree, "status", "--porcelain") == ""
    assert (tree / "Pulumi.dev.yaml").read_bytes() == tracked
    personal = yaml.safe_load((tree / ".pulumi-state" / "dev" / "Pulumi.dev.yaml").read_text())
    assert personal["encryptionsalt"].startswith("v1:")
    assert set(personal["config"]["quikapp-monitoring:grafana"]["adminPassword"]) == {"secure"}
    merged = yaml.safe_load((tree / ".pulumi-state" / "dev" / "merged.yaml").read_text())
    # The tracked settings as written (booleans stay booleans), with the personal ones laid over.
    assert merged["config"]["quikapp-monitoring:protectData"] is False
    shared = yaml.safe_load(tracked)["config"]
    assert merged["config"]["quikapp-monitoring:docker"] == shared["quikapp-monitoring:docker"]
    password = _config_get(tree, env, "grafana.adminPassword")
    assert len(password) == 32
    # A second run keeps the stack, its salt and its password.
    again = _setup(tree, env)
    assert again.returncode == 0, again.stderr
    assert "generating" not in again.stdout
    assert _config_get(tree, env, "grafana.adminPassword") == password
    assert _git(tree, "status", "--porcelain") == ""


def test_a_salt_left_in_the_tracked_file_moves_to_the_personal_one(tree: Path, tmp_path: Path) -> None:
    # What an earlier bootstrap did: stack init and a secret written into the tracked file.
    env = _env(tmp_path)
    state = {"PULUMI_BACKEND_URL": f"file://{tree / '.pulumi-state'}", "PULUMI_CONFIG_PASSPHRASE": "old-run"}
    (tree / ".pulumi-state").mkdir()
    for args in (["stack", "init", "--secrets-provider", "passphrase", "dev"],
                 ["config", "set", "--stack", "dev", "--secret", "--path", "grafana.adminPassword", "kept-password"]):
        done = subprocess.run(["pulumi", *args], cwd=tree, env={**env, **state}, capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 0, done.stderr
    assert "encryptionsalt" in (tree / "Pulumi.dev.yaml").read_text()
    result = _setup(tree, {**env, "PULUMI_CONFIG_PASSPHRASE": "old-run"})
    assert result.returncode == 0, result.stderr
    assert "restore the tracked file with `git checkout -- Pulumi.dev.yaml`" in result.stderr
    _git(tree, "checkout", "--", "Pulumi.dev.yaml")
    again = _setup(tree, {**env, "PULUMI_CONFIG_PASSPHRASE": "old-run"})
    assert again.returncode == 0 and "restore" not in again.stderr, again.stderr
    got = subprocess.run(["pulumi", "config", "get", "--stack", "dev", "--config-file", ".pulumi-state/dev/merged.yaml",
                          "--path", "grafana.adminPassword"], cwd=tree, env={**env, **state},
                         capture_output=True, text=True, timeout=120)
    assert got.stdout.strip() == "kept-password", got.stderr
    assert _git(tree, "status", "--porcelain") == ""


@pytest.mark.parametrize("action", ["preview", "up", "refresh", "destroy"])
def test_a_shared_stack_without_its_backend_is_refused_in_one_line(action: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")}
    result = subprocess.run(["bash", str(ROOT / "scripts" / "bootstrap.sh"), "staging", action], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "PULUMI_BACKEND_URL" in lines[0] and "PULUMI_CONFIG_PASSPHRASE" in lines[0]
    assert f"make {action} STACK=staging" in lines[0]


def test_a_shared_stack_missing_from_its_backend_is_not_created_by_a_preview(tree: Path, tmp_path: Path) -> None:
    backend = tmp_path / "backend"
    backend.mkdir()
    env = _env(tmp_path, PULUMI_BACKEND_URL=f"file://{backend}", PULUMI_CONFIG_PASSPHRASE="team")
    result = _setup(tree, env, stack="staging", action="preview")
    assert result.returncode != 0
    assert result.stderr.strip() == (f"no stack staging in file://{backend}: nothing to preview (check "
                                     f"PULUMI_BACKEND_URL, or create the stack with: make up STACK=staging)")
    assert not any(backend.rglob("staging*")), "a preview created the stack"

