"""The program the engine runs: where it is, its stacks and their settings, and copies of it."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "quikapp-monitoring"
STACKS = tuple(sorted(p.name.split(".")[1] for p in ROOT.glob("Pulumi.*.yaml")))
# What a copy of the program leaves out: everything `pulumi up` does not read.
_NOT_PROGRAM = shutil.ignore_patterns("venv", ".git", "build", "tests", "benchmarks", "examples", "docs",
                                      "mockengine", "__pycache__", ".*", "node_modules")
# The program's data: the only files a copy may have edited (code changes go through a seam of the
# harness, e.g. run_program's `prior` or `on_register`, so no edit depends on how code is written).
DATA = "configs/"


def stack_config(stack: str) -> dict[str, Any]:
    """The stack file's `quikapp-monitoring:*` values (namespace stripped)."""
    data = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text(encoding="utf-8"))
    prefix = PROJECT + ":"
    return {k[len(prefix):]: v for k, v in (data.get("config") or {}).items() if k.startswith(prefix)}


def program_copy(tmp: Path, edits: dict[str, tuple[str, str]], name: str = "program") -> Path:
    """A copy of the program (code, configs, stack files) at tmp/name, with text edits applied to
    its data files ({path under configs/: (old, new)})."""
    program = tmp / name
    shutil.copytree(ROOT, program, ignore=_NOT_PROGRAM)
    for rel, (old, new) in edits.items():
        assert rel.startswith(DATA), f"{rel}: only the program's data ({DATA}) is edited in a copy"
        path = program / rel
        text = path.read_text()
        assert old in text, f"{rel}: {old!r} not found"
        path.write_text(text.replace(old, new, 1))
    return program
