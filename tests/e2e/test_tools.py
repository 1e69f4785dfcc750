"""The engine the end-to-end tests drive is the one scripts/e2e-tools.sh declares."""

from __future__ import annotations

import json
import os
import subprocess

from e2e.cluster import TOOLS_BIN
from e2e.scenario import ROOT


def _declared() -> dict[str, object]:
    out = subprocess.run(["bash", str(ROOT / "scripts" / "e2e-tools.sh"), "--versions"], capture_output=True,
                         text=True, check=True).stdout
    return json.loads(out)  # type: ignore[no-any-return]


def _pinned(package: str) -> str:
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        if line.startswith(f"{package}=="):
            return line.split("==", 1)[1]
    raise AssertionError(f"requirements.txt pins no {package}")


def test_the_cli_is_the_declared_build_of_the_pinned_sdk() -> None:
    declared = _declared()["pulumi"]
    assert isinstance(declared, dict)
    assert declared["pinned"] == _pinned("pulumi")
    version = subprocess.run([str(TOOLS_BIN / "pulumi"), "version"], capture_output=True, text=True, check=True)
    assert version.stdout.strip() == f"v{declared['built']}"


def test_the_provider_is_installed_under_the_pinned_version() -> None:
    declared = _declared()["pulumi-kubernetes"]
    assert isinstance(declared, dict)
    assert declared["pinned"] == _pinned("pulumi-kubernetes")
    plugins = json.loads(subprocess.run([str(TOOLS_BIN / "pulumi"), "plugin", "ls", "--json"], capture_output=True,
                                        text=True, check=True,
                                        env={**os.environ, "PULUMI_SKIP_UPDATE_CHECK": "true"}).stdout)
    assert {"name": "kubernetes", "kind": "resource", "version": declared["pinned"]} in [
        {k: p[k] for k in ("name", "kind", "version")} for p in plugins]


def test_the_control_plane_is_the_declared_kubernetes() -> None:
    declared = _declared()
    out = subprocess.run([str(TOOLS_BIN / "kubectl"), "version", "--client", "-o", "json"], capture_output=True,
                         text=True, check=True).stdout
    assert json.loads(out)["clientVersion"]["gitVersion"] == f"v{declared['kubernetes']}"
    etcd = subprocess.run([str(TOOLS_BIN / "etcd"), "--version"], capture_output=True, text=True, check=True).stdout
    assert f"etcd Version: {declared['etcd']}" in etcd
