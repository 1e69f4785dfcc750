"""Every decision that depends on the target kind is one exhaustive `match` over TargetKind.

A third kind must not slip into the Docker or the Kubernetes branch of some `if`: mypy names every
match that lacks a case for it, and a program that runs anyway stops at the first one
(docs/ARCHITECTURE.md, "Add a target", lists the same places).
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from enum import StrEnum
from pathlib import Path
from typing import Any

import pytest

from components.catalog import load_catalog
from components.promtail import promtail_workload
from components.render.prometheus import render_prometheus_config
from components.render.promtail import render_promtail_config
from components.services import collectors
from components.settings import Settings, parse_settings
from components.targets import make_target
from mockengine.program import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
import preflight

COMPONENTS = ROOT / "components"
MODEL = COMPONENTS / "settings" / "model.py"
ARCHITECTURE = ROOT / "docs" / "ARCHITECTURE.md"

# (file, function) of every decision that depends on the target kind.
DECISIONS = {
    ("components/targets/__init__.py", "make_target"),  # which target class realises the workloads
    ("components/services.py", "collectors"),  # which collectors the target offers
    ("components/render/prometheus.py", "render_prometheus_config"),  # static targets or discovery
    ("components/render/promtail.py", "scrape_file"),  # how Promtail finds the containers
    ("components/promtail.py", "promtail_workload"),  # where Promtail reads their logs
    ("components/settings/model.py", "ha"),  # the highAvailability default
    ("components/settings/model.py", "target_conflicts"),  # settings the target cannot honour
}
# Checked by the runtime test below: scripts are not part of `mypy components`.
SCRIPT_DECISIONS = {("scripts/preflight.py", "platform_problems")}  # what to probe before `pulumi up`


class StandIn(StrEnum):
    """A target kind the program does not implement."""

    NOMAD = "nomad"


def stand_in_settings() -> Settings:
    values: dict[str, Any] = {"target": "docker", "grafana": {"adminPassword": "pw-123456"},
                              "exporters": {"postgres": {"enabled": False}}}
    # model_copy does not validate: the stand-in passes as the target, as a new enum member would.
    return parse_settings(values, {"grafana"}).model_copy(update={"target": StandIn.NOMAD})


class _StandInTarget:
    kind = StandIn.NOMAD


LOUD = "target: no case for 'nomad' here; `mypy components` names every match"

CALLS = {
    "make_target": lambda s: make_target(s, parent=None),  # type: ignore[arg-type]
    "collectors": collectors,
    "render_prometheus_config": lambda s: render_prometheus_config(s, load_catalog(), lambda name: name),
    "scrape_file": lambda s: render_promtail_config(s.target),
    "promtail_workload": lambda s: promtail_workload(s, _StandInTarget()),  # type: ignore[arg-type]
    "ha": lambda s: s.ha,
    "target_conflicts": lambda s: list(s.target_conflicts()),
    "platform_problems": lambda s: preflight.platform_problems(s, "Pulumi.nomad.yaml"),
}


def test_every_decision_is_called_here() -> None:
    assert set(CALLS) == {function for _, function in DECISIONS | SCRIPT_DECISIONS}


@pytest.mark.parametrize("decision", sorted(CALLS))
def test_a_kind_without_a_case_stops_the_program(decision: str) -> None:
    # Not the Docker branch, not the Kubernetes one: one line naming the kind and where to look.
    with pytest.raises(ValueError, match=re.escape(LOUD)):
        CALLS[decision](stand_in_settings())


def _enclosing_function(tree: ast.Module, line: int) -> str:
    functions = [node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
                 and node.lineno <= line <= (node.end_lineno or node.lineno)]
    return min(functions, key=lambda f: (f.end_lineno or f.lineno) - f.lineno).name


def test_mypy_names_every_match_a_new_kind_needs(tmp_path: Path) -> None:
    """mypy over components/ with a third member of TargetKind (a shadow of model.py): every
    decision, and nothing else, is an error."""
    source = MODEL.read_text(encoding="utf-8")
    kind = '    KUBERNETES = "kubernetes"\n'
    assert source.count(kind) == 1
    shadow = tmp_path / "model.py"
    shadow.write_text(source.replace(kind, kind + '    NOMAD = "nomad"\n'), encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "components", "--shadow-file", str(MODEL), str(shadow),
         "--cache-dir", str(tmp_path / "cache"), "--no-error-summary", "--no-pretty", "--show-error-codes"],
        cwd=ROOT, capture_output=True, text=True, timeout=900, check=False)
    errors = [line for line in result.stdout.splitlines() if ": error: " in line]
    assert errors, result.stdout + result.stderr
    found = set()
    for line in errors:
        path, number, _ = line.split(":", 2)
        assert 'to "unknown_target" has incompatible type "Literal[TargetKind.NOMAD]"' in line, line
        checked = shadow if ROOT / path == MODEL else ROOT / path  # its line numbers are the shadow's
        tree = ast.parse(checked.read_text(encoding="utf-8"))
        found.add((path, _enclosing_function(tree, int(number))))
    assert found == DECISIONS


def _compares_a_kind(node: ast.AST) -> bool:
    """`x is TargetKind.DOCKER`, `kind == "docker"`, `TargetKind.X in kinds`: a two-way branch."""
    if not isinstance(node, ast.Compare):
        return False
    for operand in (node.left, *node.comparators):
        if isinstance(operand, ast.Attribute) and isinstance(operand.value, ast.Name) \
                and operand.value.id == "TargetKind":
            return True
        if isinstance(operand, ast.Constant) and operand.value in ("docker", "kubernetes"):
            return True
    return False


def test_no_kind_is_decided_by_a_comparison() -> None:
    """A comparison with one kind has an implicit `else` that a new kind would fall into."""
    found = []
    for path in sorted([*COMPONENTS.rglob("*.py"), ROOT / "scripts" / "preflight.py"]):
        name = str(path.relative_to(ROOT))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if _compares_a_kind(node):
                found.append(f"{name}:{node.lineno}")
    assert found == []


def test_the_recipe_lists_every_decision() -> None:
    text = ARCHITECTURE.read_text(encoding="utf-8")
    recipe = text[text.index("## Add a target"):]
    recipe = recipe[:recipe.find("\n## ", 1)] if "\n## " in recipe[1:] else recipe
    for path, function in sorted(DECISIONS | SCRIPT_DECISIONS):
        assert f"`{path}` `{function}`" in recipe, (path, function)
