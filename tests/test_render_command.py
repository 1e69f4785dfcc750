"""`make render` / `make check`: deterministic review output, checked by the upstream tools."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness import ROOT, SENTINELS, STACKS
from tools import require


def _render(out: Path, hash_seed: str) -> None:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    subprocess.run([sys.executable, str(ROOT / "scripts" / "render.py"), "--out", str(out)], check=True, env=env,
                   capture_output=True, text=True, timeout=300)


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    first, second = tmp_path_factory.mktemp("render-a"), tmp_path_factory.mktemp("render-b")
    _render(first, "1")
    _render(second, "4242")
    return first, second


def test_render_is_byte_identical_across_runs_and_hash_seeds(rendered: tuple[Path, Path]) -> None:
    first, second = rendered
    a, b = _tree(first), _tree(second)
    assert a.keys() == b.keys()
    differing = [name for name in a if a[name] != b[name]]
    assert not differing


@pytest.mark.parametrize("stack", STACKS)
def test_render_writes_files_manifests_and_resources(rendered: tuple[Path, Path], stack: str) -> None:
    out = rendered[0] / stack
    assert (out / "prometheus" / "etc" / "prometheus" / "prometheus.yml").is_file()
    assert (out / "prometheus" / "etc" / "prometheus" / "rules" / "alerts.yml").is_file()
    listing = json.loads((out / "resources.json").read_text())
    types = {r["type"] for r in listing["resources"]}
    assert "quikapp:monitoring:Prometheus" in types
    assert all({"type", "name", "parent"} <= r.keys() for r in listing["resources"])
    assert (out / "manifests").is_dir() == (stack != "dev")


def test_render_never_contains_a_real_secret(rendered: tuple[Path, Path]) -> None:
    """make render never reads secrets: placeholders stand in, and no test sentinel leaks in."""
    for content in _tree(rendered[0]).values():
        text = content.decode()
        for sentinel in SENTINELS.values():
            assert sentinel not in text


@pytest.mark.parametrize("stack", STACKS)
def test_check_passes_on_every_stack(rendered: tuple[Path, Path], stack: str) -> None:
    require("promtool")
    require("amtool")
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "check.py"), stack, "--out", str(rendered[0])],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "promtool check config" in result.stdout


def test_check_fails_with_the_tools_message(tmp_path: Path, rendered: tuple[Path, Path]) -> None:
    require("promtool")
    broken = tmp_path / "dev"
    for name, content in _tree(rendered[0] / "dev").items():
        (broken / name).parent.mkdir(parents=True, exist_ok=True)
        (broken / name).write_bytes(content)
    rules = broken / "prometheus" / "etc" / "prometheus" / "rules" / "alerts.yml"
    rules.write_text(rules.read_text().replace("expr: up == 0", "expr: up ==== 0"))
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "check.py"), "dev", "--out", str(tmp_path)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    assert "FAILED" in result.stdout and "parse error" in result.stderr
