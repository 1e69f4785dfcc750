"""The offline harness is used through its public seams: no test patches it or rewrites code text."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from mockengine.program import ROOT, program_copy

TESTS = ROOT / "tests"
INSTALLED = {"venv", ".venv", "node_modules"}  # what scripts/instrumented-apps.sh installs under tests/


def _private_uses(path: Path) -> list[str]:
    """Private names of the mockengine package that the file at `path` imports or reaches."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    bound: set[str] = set()  # local names bound to mockengine or one of its modules
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            bound |= {(a.asname or a.name).split(".")[0] for a in node.names if a.name.startswith("mockengine")}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("mockengine"):
            found += [f"from {node.module} import {a.name}" for a in node.names if a.name.startswith("_")]
            if node.module == "mockengine":
                bound |= {a.asname or a.name for a in node.names}
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            root = node.value
            while isinstance(root, ast.Attribute):
                root = root.value
            if isinstance(root, ast.Name) and root.id in bound:
                found.append(ast.unparse(node))
    return found


def test_no_test_reaches_a_private_name_of_the_harness() -> None:
    files = [p for p in sorted(TESTS.rglob("*.py")) if not INSTALLED & set(p.relative_to(TESTS).parts)]
    uses = [f"{path.relative_to(ROOT)}: {use}" for path in files for use in _private_uses(path)]
    assert uses == [], "use a seam of run_program (prior, on_register, main) instead:\n" + "\n".join(uses)


def test_the_check_sees_a_private_name(tmp_path: Path) -> None:
    """The check above is not blind: both ways of reaching a private class are reported."""
    probe = tmp_path / "probe.py"
    probe.write_text("import mockengine.run\nfrom mockengine import run as engine\n"
                     "from mockengine.run import _RecordingMocks\n"
                     "mockengine.run._RecordingMonitor.RegisterResource = None\nengine._RecordingMocks\n")
    assert sorted(_private_uses(probe)) == [
        "engine._RecordingMocks", "from mockengine.run import _RecordingMocks", "mockengine.run._RecordingMonitor"]


def test_a_copy_of_the_program_takes_edits_to_its_data_only(tmp_path: Path) -> None:
    """Code changes are not made by rewriting code text (a reformat would break them): a copy
    refuses an edit outside configs/ and names the file."""
    with pytest.raises(AssertionError, match=r"components/stack\.py: only the program's data \(configs/\)"):
        program_copy(tmp_path, {"components/stack.py": ('Prometheus("prometheus"', 'Prometheus("metrics"')})
    program = program_copy(tmp_path, {"configs/services.yaml": ("backend: 3000", "backend: 3009")}, name="data")
    assert "backend: 3009" in (program / "configs" / "services.yaml").read_text()
    assert not (program / "tests").exists() and not (program / "mockengine").exists()
