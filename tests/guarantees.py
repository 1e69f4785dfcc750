"""Helpers for the guarantee tests: comparing two evaluations of the program resource by resource."""

from __future__ import annotations

import json
from typing import Any

from mockengine.program import stack_config
from mockengine.run import Run, run_program
from mockengine.stand_ins import with_secrets

STATEFUL = ("docker:index/volume:Volume", "kubernetes:core/v1:PersistentVolumeClaim")


def snapshot(run: Run) -> dict[str, str]:
    """URN → canonical JSON of inputs and the options that force replacement."""
    return {
        r.urn: json.dumps({"inputs": r.inputs, "provider": r.provider.split("::")[-2:-1] if r.provider else None,
                           "dbr": r.delete_before_replace}, sort_keys=True, default=str)
        for r in run.resources
    }


def changed(before: Run, after: Run) -> set[str]:
    """URNs added, removed or with different inputs between two runs."""
    a, b = snapshot(before), snapshot(after)
    return {urn for urn in a.keys() | b.keys() if a.get(urn) != b.get(urn)}


def tool_of(urn: str) -> str:
    """The tool component a resource belongs to (its `quikapp:monitoring:<Tool>` ancestor), or 'shared'."""
    type_chain = urn.split("::")[2].split("$")
    tools = [t.split(":")[-1] for t in type_chain if t.startswith("quikapp:monitoring:") and
             not t.endswith("MonitoringStack")]
    if not tools:
        return "shared"
    # Resources directly under the tool: name prefix tells exporter instances apart.
    return tools[0]


def with_changes(stack: str, changes: dict[str, Any]) -> tuple[dict[str, Any], set[str]]:
    """The stack's config with `changes` deep-merged in, plus sentinel secrets."""
    values = stack_config(stack)

    def merge(into: dict[str, Any], extra: dict[str, Any]) -> None:
        for key, value in extra.items():
            if isinstance(value, dict) and isinstance(into.get(key), dict):
                merge(into[key], value)
            else:
                into[key] = value

    merge(values, json.loads(json.dumps(changes)))
    return with_secrets(values)


def run_with(stack: str, changes: dict[str, Any]) -> Run:
    return run_program(stack, *with_changes(stack, changes))

