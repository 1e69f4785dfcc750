"""A throw-away copy of the repository, to run `make` targets and scripts on edited files.

The copy shares the running interpreter's virtualenv (symlinked as ./venv) and `make` is told
not to rebuild it, so nothing is installed and the real working tree is never touched. It also
shares the Go-built tools (./.tools, scripts/upstream-tools.sh): with the copy's versions unchanged,
`make check` there finds them up to date and rebuilds nothing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from mockengine.program import ROOT

# What is installed or built, not written: the copy needs none of it, and with Renovate's and the
# instrumented services' node_modules and jars (`.ci/run`) each copy would take about 1 GB.
_SKIP = shutil.ignore_patterns("venv", ".venv", ".git", "build", "__pycache__", ".pytest_cache", ".mypy_cache",
                               ".ruff_cache", ".pulumi-state", ".tools", "node_modules", "target")


def checkout(tmp: Path, name: str = "repo") -> Path:
    tree = tmp / name
    shutil.copytree(ROOT, tree, ignore=_SKIP)
    (tree / "venv").symlink_to(Path(sys.prefix))
    if (ROOT / ".tools").is_dir():  # the Go-built tools (scripts/upstream-tools.sh): shared, not copied
        (tree / ".tools").symlink_to(ROOT / ".tools")
    # Older than the virtualenv's stamp, so a plain `make venv` (as bootstrap.sh runs it) has
    # nothing to do either.
    for requirements in tree.glob("requirements*.txt"):
        os.utime(requirements, (0, 0))
    return tree


def make(tree: Path, *args: str, env: dict[str, str] | None = None,
         timeout: int = 600) -> subprocess.CompletedProcess[str]:
    # -o: treat the virtualenv as up to date (the copy's requirement files are newer than it).
    # The suite itself runs under `make test`: its MAKELEVEL/MAKEFLAGS would make this a sub-make
    # ("make[1]: ***"), unlike the top-level `make render` a person types.
    outer = {"MAKELEVEL", "MAKEFLAGS", "MFLAGS", "MAKEOVERRIDES"}
    base = {k: v for k, v in os.environ.items() if k not in outer}
    return subprocess.run(["make", "--no-print-directory", "-o", "venv/.installed", *args], cwd=tree,
                          capture_output=True, text=True, timeout=timeout, env={**base, **(env or {})})
