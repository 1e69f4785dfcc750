"""Finding the upstream tools the tests drive. Missing tools fail under CI, skip only locally."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def require(tool: str) -> str:
    # Tools installed from PyPI (actionlint) live next to the interpreter, which may not be on PATH.
    path = shutil.which(tool, path=str(Path(sys.executable).parent)) or shutil.which(tool)
    if path is None:
        message = f"{tool} is not installed (see .ci/apt-packages.txt and requirements-dev.txt)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def run_tool(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run an upstream checker; the returned process carries its own message for assertions."""
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, cwd=cwd, timeout=120)
