"""Finding the upstream tools the tests drive. Missing tools fail under CI, skip only locally."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Built by scripts/upstream-tools.sh at the versions the stack deploys (the Images table).
TOOLS_BIN = ROOT / ".tools" / "bin"
# Which image each Go-built program comes from: tests must run the deployed version, so these are
# never taken from PATH (a distribution's older prometheus or promtool would pass silently).
GO_BUILT = {"prometheus": "prometheus", "promtool": "prometheus", "alertmanager": "alertmanager",
            "amtool": "alertmanager", "jaeger": "jaeger", "prometheus-config-reloader": "config_reloader",
            "node_exporter": "node_exporter", "redis_exporter": "redis_exporter",
            "postgres_exporter": "postgres_exporter", "nginx-prometheus-exporter": "nginx_exporter"}
# Go-built too, at a version pinned in scripts/upstream-tools.sh itself (not a deployed image):
# never taken from PATH either (PyPI's actionlint packages ship other builds, even a fork). Sloth is
# the SLO oracle of tests/test_slo_sloth.py.
GO_BUILT_PINNED = {"actionlint", "sloth"}
# Built at another version than deployed, tool -> (deployed, built), the one place this is declared
# (scripts/upstream-tools.sh builds the second, tests/test_upstream_tools.py holds the binaries to it):
# the Go module proxy refuses the deployed tags with 403 "This module version is not available"
# (postgres_exporter v0.20.1 and v0.20.0, nginx-prometheus-exporter v1.5.3 and v1.5.2) and serves these.
PROXY_SKEW = {"postgres_exporter": ("0.20.1", "0.19.1"), "nginx-prometheus-exporter": ("1.5.3", "1.5.1")}


def require(tool: str) -> str:
    built = TOOLS_BIN / tool
    path: str | None = str(built) if os.access(built, os.X_OK) else None
    if tool in GO_BUILT or tool in GO_BUILT_PINNED:
        message = f"{tool} is not built at {built}: scripts/upstream-tools.sh builds it, or says why it cannot"
    else:
        # Tools installed from PyPI (zizmor) live next to the interpreter, which may not be on PATH.
        path = path or shutil.which(tool, path=str(Path(sys.executable).parent)) or shutil.which(tool)
        message = f"{tool} is not installed (see .ci/apt-packages.txt and requirements-dev.txt)"
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def run_tool(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run an upstream checker; the returned process carries its own message for assertions."""
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, cwd=cwd, timeout=120)
