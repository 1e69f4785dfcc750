"""benchmarks/capacity.py end to end on a tiny case: a real Prometheus scrapes the modelled targets.

No timing assertions (speed and memory are what the benchmark reports, not what a test checks):
the run must finish, every target must be up, and the head must hold exactly the series the
model says a scale has, so a model or relabeling mistake shows as a count mismatch.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from mockengine.program import ROOT
from tools import require

sys.path.insert(0, str(ROOT / "benchmarks"))
import capacity


def test_model_counts_add_up() -> None:
    recorded = capacity.FIXTURE.read_text()
    counts = capacity.model_counts(recorded)
    # 10 routes x 4 statuses x (counter + 11 buckets + +Inf + _sum + _count), plus the runtime set.
    assert counts["app_per_pod"] - 40 * 15 == 96
    scale = capacity.build_scale(21, recorded)  # 21 pods: two nodes
    assert scale.nodes == 2 and len(scale.targets) == 21 + 2 * 2 + 1
    per_target = capacity.AUTO_SERIES_PER_TARGET * len(scale.targets)
    per_pod = counts["app_per_pod"] + counts["cadvisor_per_pod"] + counts["ksm_per_pod"]
    assert scale.expected_series() == per_target + 21 * per_pod + 2 * counts["node_exporter_per_node"]


def test_tiny_run_end_to_end(tmp_path: Path) -> None:
    prometheus = require("prometheus")
    out = tmp_path / "CAPACITY.md"
    assert capacity.main(["--prometheus", prometheus, "--scales", "2", "--duration", "6", "--interval", "1s",
                          "--disk-services", "0", "--out", str(out)]) == 0
    result = json.loads(out.with_suffix(".json").read_text())
    [run] = result["memory"]
    assert run["targets"] == run["targets_up"] == 2 + 1 + 1 + 1
    assert run["head_series"] == run["expected_series"] > 0
    assert run["rss_bytes"] > 0 and run["peak_rss_bytes"] >= run["rss_bytes"] * 0.9
    text = out.read_text()
    assert text.startswith("# Capacity") and "| 2 | 1 | 5 (5) |" in text and capacity.MARKER in text


def test_bad_scales_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert capacity.main(["--prometheus", sys.executable, "--scales", "ten"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--scales" in err and "'ten'" in err
