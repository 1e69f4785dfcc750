"""The benchmark's SDK floor is a faithful replay: same resources, same inputs, same options."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from guarantees import snapshot

from conftest import stack_run
from mockengine.program import ROOT
from mockengine.run import run_program

sys.path.insert(0, str(ROOT / "benchmarks"))
import bench


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_floor_registers_exactly_what_the_program_registers(stack: str, tmp_path: Path) -> None:
    graph = bench.generate_floor(stack, tmp_path)
    shutil.copy(ROOT / f"Pulumi.{stack}.yaml", tmp_path)
    floor = run_program(stack, {}, set(), program=tmp_path)
    real = stack_run(stack)
    assert snapshot(floor) == snapshot(real)
    def options(run):  # type: ignore[no-untyped-def]
        return {r.urn: (r.parent, r.protect, r.retain_on_delete, r.delete_before_replace) for r in run.resources}

    assert options(floor) == options(real)
    assert graph["resources"] == len(real.resources)
    # provider -> config (Docker: config volume, then its one-shot copier; Kubernetes: namespace,
    # then ConfigMap) -> workload: four steps on both targets since config became live.
    assert graph["critical_path"] == 4
