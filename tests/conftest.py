"""Shared fixtures: the real program evaluated once per stack under the mock engine."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS))
sys.path.insert(0, str(TESTS.parent))

from harness import STACKS, Run, run_program  # noqa: E402

_RUNS: dict[str, Run] = {}


def stack_run(stack: str) -> Run:
    """The program evaluated for `stack` with its stack file (cached: runs are read-only)."""
    if stack not in _RUNS:
        _RUNS[stack] = run_program(stack)
    return _RUNS[stack]


@pytest.fixture(params=STACKS)
def run(request: pytest.FixtureRequest) -> Run:
    return stack_run(request.param)
