"""A stack imports only the provider SDK its target needs (pulumi_kubernetes alone costs ~0.1 s).

pulumi_kubernetes.networking.v1 is imported for NetworkPolicies and Ingresses only.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from mockengine.program import ROOT

PROBE = """
import sys
sys.path.insert(0, {root!r})
from mockengine.run import run_program
run_program({stack!r})
print(sorted(m for m in ("pulumi_docker", "pulumi_kubernetes", "pulumi_kubernetes.networking.v1") if m in sys.modules))
"""


@pytest.mark.parametrize(("stack", "expected"), [
    ("dev", ["pulumi_docker"]),
    ("prod", ["pulumi_kubernetes", "pulumi_kubernetes.networking.v1"]),  # NetworkPolicies
])
def test_only_the_targets_provider_sdk_is_imported(stack: str, expected: list[str]) -> None:
    code = PROBE.format(root=str(ROOT), stack=stack)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert result.stdout.strip().splitlines()[-1] == repr(expected)
