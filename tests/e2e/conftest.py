"""The real-engine tests: tools present, a loopback-only network, and the summary they write."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from e2e.cluster import TOOLS_BIN
from e2e.scenario import ROOT, write_summary

BUILD = ROOT / "build" / "e2e"
SUMMARY = BUILD / "summary.json"
E2E_TOOLS = ("pulumi", "kubectl", "etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")


def _interfaces() -> list[str]:
    """The network interfaces of this process' network namespace (/proc/net/dev follows it;
    /sys/class/net shows the namespace /sys was mounted in)."""
    lines = Path("/proc/net/dev").read_text().splitlines()[2:]
    return sorted(line.split(":", 1)[0].strip() for line in lines)


@pytest.fixture(scope="session", autouse=True)
def loopback_only() -> None:
    """Everything here runs in a network namespace whose only interface is `lo` (scripts/e2e.sh):
    a stray connection to a pod, node or Service address cannot leave the machine."""
    interfaces = _interfaces()
    if interfaces != ["lo"] and not os.environ.get("E2E_HOST_NETWORK"):
        pytest.fail(f"the end-to-end tests run in a loopback-only network namespace (`make e2e`, "
                    f"scripts/e2e.sh); this one has {interfaces}")


@pytest.fixture(scope="session", autouse=True)
def e2e_tools() -> None:
    missing = [t for t in E2E_TOOLS if not os.access(TOOLS_BIN / t, os.X_OK)]
    if missing:
        message = f"{', '.join(missing)} not built in {TOOLS_BIN}: scripts/e2e-tools.sh builds them"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="session")
def summary() -> Iterator[dict[str, Any]]:
    """build/e2e/summary.json: one object per stack, filled by the tests as they go."""
    data: dict[str, Any] = {}
    yield data
    write_summary(SUMMARY, data)


def stack_summary(summary: dict[str, Any], stack: str) -> dict[str, Any]:
    return summary.setdefault(stack, {"created": None, "second_preview_changes": None, "restarts": {},
                                      "pvcs_replaced_on_upgrade": None, "seconds": {}})


def build_dir(name: str) -> Path:
    """A fresh directory for one scenario (its cluster, program copy, workspace and state)."""
    path = BUILD / name
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path
