"""`make bench` never rewrites the tracked docs/BENCHMARKS.md; `make bench-doc` does, keeping its analysis."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from checkout import checkout, make

from mockengine.program import ROOT, STACKS

sys.path.insert(0, str(ROOT / "benchmarks"))
import bench

MARKER = "<!-- analysis: kept by bench.py -->"


def _stand_in_figures(runs: int) -> bench.Figures:
    # The report's plumbing only: the measurements themselves are covered by tests/test_bench_floor.py.
    sample = {"seconds": 1.0, "peak_mib": 10.0, "resources": 3, "prometheus_yml_bytes": 2048}
    graph: dict[str, Any] = {"resources": 3, "critical_path": 2, "chain": ["Provider:docker", "Container:x"]}
    return ([(stack, dict(graph), dict(sample), dict(sample)) for stack in STACKS],
            [(services, dict(sample)) for services in (10, 100, 1000)])


def test_bench_writes_under_build_and_leaves_the_doc_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tree = checkout(tmp_path)
    doc = tree / "docs" / "BENCHMARKS.md"
    before = doc.read_bytes()
    monkeypatch.chdir(tree)
    assert bench.main(["--runs", "1"], root=tree, figures=_stand_in_figures) == 0
    assert doc.read_bytes() == before
    report = (tree / "build" / "BENCHMARKS.md").read_text()
    assert report.startswith("# Benchmarks\n") and "| dev | 3 | 1.000 |" in report
    # The analysis written by hand in the doc rides along.
    assert report.endswith(before.decode()[before.decode().index(MARKER):])


def test_bench_doc_rewrites_the_figures_and_keeps_the_analysis(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    tree = checkout(tmp_path)
    doc = tree / "docs" / "BENCHMARKS.md"
    analysis = doc.read_text()[doc.read_text().index(MARKER):]
    monkeypatch.chdir(tree)
    assert bench.main(["--runs", "1", "--out", "docs/BENCHMARKS.md"], root=tree, figures=_stand_in_figures) == 0
    text = doc.read_text()
    assert "| dev | 3 | 1.000 |" in text and text.endswith(analysis)


def test_the_make_targets_choose_the_output(tmp_path: Path) -> None:
    tree = checkout(tmp_path)
    bench_cmd = make(tree, "-n", "bench").stdout.strip().splitlines()[-1]
    doc_cmd = make(tree, "-n", "bench-doc").stdout.strip().splitlines()[-1]
    assert bench_cmd == "venv/bin/python benchmarks/bench.py"
    assert doc_cmd == "venv/bin/python benchmarks/bench.py --out docs/BENCHMARKS.md"
