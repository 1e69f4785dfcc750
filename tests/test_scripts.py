"""The shell scripts (bootstrap, CI, Grafana's entrypoint) pass shellcheck and answer bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import ROOT
from tools import require, run_tool

SCRIPTS = [ROOT / "scripts" / "bootstrap.sh", ROOT / ".ci" / "run", ROOT / "configs" / "grafana" / "entrypoint.sh"]


@pytest.mark.parametrize("script", SCRIPTS, ids=[s.name for s in SCRIPTS])
def test_shellcheck_accepts(script: Path) -> None:
    result = run_tool(require("shellcheck"), script)
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize(("args", "message"), [
    (["nosuch", "up"], "no stack file Pulumi.nosuch.yaml (allowed: dev prod staging)"),
    (["dev", "explode"], "unknown action 'explode' (allowed: up, preview, destroy, refresh)"),
])
def test_bootstrap_refuses_bad_arguments_before_doing_anything(args: list[str], message: str) -> None:
    result = run_tool("bash", ROOT / "scripts" / "bootstrap.sh", *args)
    assert result.returncode == 2
    assert result.stderr.strip() == message
