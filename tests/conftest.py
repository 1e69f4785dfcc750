"""Shared fixtures: the real program evaluated once per stack under the mock engine.

pytest puts the repository root and tests/ on the import path (pyproject.toml `pythonpath`): tests
import the harness as `mockengine` and their own helpers (tools, guarantees, ...) by name.
"""

from __future__ import annotations

import pytest

from mockengine.program import STACKS
from mockengine.run import Run, run_program

_RUNS: dict[str, Run] = {}


def stack_run(stack: str) -> Run:
    """The program evaluated for `stack` with its stack file (cached: runs are read-only)."""
    if stack not in _RUNS:
        _RUNS[stack] = run_program(stack)
    return _RUNS[stack]


@pytest.fixture(params=STACKS)
def run(request: pytest.FixtureRequest) -> Run:
    return stack_run(request.param)
