"""The shell scripts (bootstrap, CI, Grafana's entrypoint) pass shellcheck and answer bad input."""

from __future__ import annotations

import os
import platform
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from checkout import checkout

from mockengine.program import ROOT
from tools import require, run_tool

SCRIPTS = [ROOT / "scripts" / "bootstrap.sh", ROOT / "scripts" / "stack-setup.sh",
           ROOT / "scripts" / "upstream-tools.sh", ROOT / "scripts" / "e2e-tools.sh", ROOT / "scripts" / "e2e.sh",
           ROOT / "scripts" / "instrumented-apps.sh", ROOT / ".ci" / "run",
           ROOT / "configs" / "grafana" / "entrypoint.sh", ROOT / "scripts" / "pulumi-cli-version.sh"]


@pytest.mark.parametrize("script", SCRIPTS, ids=[s.name for s in SCRIPTS])
def test_shellcheck_accepts(script: Path) -> None:
    result = run_tool(require("shellcheck"), "-x", script, cwd=ROOT)
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize(("args", "message"), [
    (["nosuch", "up"], "no stack file Pulumi.nosuch.yaml (allowed: dev prod staging)"),
    (["dev", "explode"], "unknown action 'explode' (allowed: up, preview, destroy, refresh)"),
])
def test_bootstrap_refuses_bad_arguments_before_doing_anything(args: list[str], message: str) -> None:
    result = run_tool("bash", ROOT / "scripts" / "bootstrap.sh", *args)
    assert result.returncode == 2
    assert result.stderr.strip() == message


# --- `make up` / `make preview` on a machine that lacks something -------------------------------

def _path_without(tmp: Path, *prefixes: str) -> str:
    """A PATH holding every command of the current one except those named prefix*."""
    shim = tmp / "bin"
    shim.mkdir()
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        if not os.path.isdir(folder):
            continue
        for entry in os.scandir(folder):
            if entry.name.startswith(prefixes) or (shim / entry.name).exists():
                continue
            if entry.is_file() and os.access(entry.path, os.X_OK):
                (shim / entry.name).symlink_to(entry.path)
    return str(shim)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _bootstrap_offline(tmp_path: Path, stack: str, edits: dict[str, tuple[str, str]] | None = None
                       ) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """`bootstrap.sh <stack> up` in a copy of the repository (with `edits`: {path: (old, new)})."""
    if not (Path(sys.prefix) / ".installed").exists():
        # bootstrap.sh runs `make venv` itself: without its stamp it would install into this venv.
        message = f"{sys.prefix} was not made by `make venv`"
        pytest.fail(message) if os.environ.get("CI") else pytest.skip(message)
    tree = checkout(tmp_path)
    for name, (before, after) in (edits or {}).items():
        text = (tree / name).read_text()
        assert before in text
        (tree / name).write_text(text.replace(before, after))
    home = tmp_path / "home"
    home.mkdir()
    # No pulumi and no docker on PATH, nothing in ~/.pulumi, and the installer's address refuses
    # connections: offline, whatever network the test machine has.
    env = {"HOME": str(home), "PATH": _path_without(tmp_path, "pulumi", "docker"),
           "PULUMI_GET_URL": f"http://127.0.0.1:{_closed_port()}/"}
    if stack != "dev":  # a shared stack runs only against its team's backend, with its passphrase
        env |= {"PULUMI_BACKEND_URL": f"file://{tmp_path / 'backend'}", "PULUMI_CONFIG_PASSPHRASE": "team"}
    result = subprocess.run(["bash", str(tree / "scripts" / "bootstrap.sh"), stack, "up"], env=env,
                            capture_output=True, text=True, timeout=120)
    return tree, result


def test_bootstrap_offline_without_pulumi_or_docker_says_what_is_missing(tmp_path: Path) -> None:
    socket_path = tmp_path / "docker.sock"
    tree, result = _bootstrap_offline(
        tmp_path, "dev", {"Pulumi.dev.yaml": ("unix:///var/run/docker.sock", f"unix://{socket_path}")})
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    # The CLI's version is the SDK pin (scripts/pulumi-cli-version.sh; tests/test_workflows.py).
    version = re.search(r"^pulumi==([\d.]+)$", (ROOT / "requirements.txt").read_text(), re.M)
    assert version and version.group(1) == "3.272.0"
    headlines = [line for line in lines if line.startswith("missing: ")]
    assert len(headlines) == 3, result.stderr
    assert headlines[0].startswith("missing: the Pulumi CLI 3.272.0 (not on PATH, not in ~/.pulumi/bin), and its "
                                   "installer at http://127.0.0.1:")
    assert "curl: (7)" in headlines[0]
    tarball = "pulumi-v3.272.0-linux-x64.tar.gz" if platform.machine() == "x86_64" else "pulumi-v3.272.0-"
    assert "  with internet: curl -fsSL https://get.pulumi.com | sh -s -- --version 3.272.0" in lines
    assert any(line.startswith(f"  offline: fetch https://github.com/pulumi/pulumi/releases/download/v3.272.0/{tarball}")
               for line in lines)
    assert any("tar -xzf pulumi-v3.272.0-" in line and "-C ~/.pulumi/bin --strip-components=1" in line
               for line in lines)
    # Only the plugin of the stack's own target: a Docker stack never loads the Kubernetes provider.
    assert headlines[1].startswith("missing: the docker provider plugin 5.2.0 ")
    assert any(line.strip().startswith("pulumi plugin install resource docker 5.2.0 --file ") for line in lines)
    assert headlines[2] == (f"missing: a Docker engine at unix://{socket_path} (docker.host of Pulumi.dev.yaml): "
                            f"no socket at {socket_path}")
    assert "  start Docker Engine there (https://docs.docker.com/engine/install/), or point docker.host at one " \
           "that runs:" in lines
    assert lines[-1] == "not running `pulumi up` on dev: fix what is listed above first"
    assert "Traceback" not in result.stderr and "Cannot connect to the Docker daemon" not in result.stderr
    # Nothing was created before the checks: no state backend, no passphrase, no ~/.pulumi.
    assert not (tree / ".pulumi-state").exists() and not (tmp_path / "home" / ".pulumi").exists()


def test_bootstrap_on_a_kubernetes_stack_without_a_kubeconfig_says_so(tmp_path: Path) -> None:
    _, result = _bootstrap_offline(tmp_path, "prod")
    assert result.returncode == 1
    # Offline, only the Kubernetes provider is asked for: the stack never loads the Docker one.
    plugins = [line for line in result.stderr.splitlines() if "provider plugin" in line]
    assert len(plugins) == 1 and plugins[0].startswith("missing: the kubernetes provider plugin 4.34.2 "), plugins
    assert f"missing: a kubeconfig for Pulumi.prod.yaml (kubernetes.context quikapp-prod): none readable at " \
           f"{tmp_path / 'home' / '.kube' / 'config'}" in result.stderr.splitlines()
    assert "Docker engine" not in result.stderr


def test_bootstrap_reports_a_bad_stack_file_before_running_pulumi(tmp_path: Path) -> None:
    _, result = _bootstrap_offline(tmp_path, "dev", {"Pulumi.dev.yaml": ("retention: 15d", "retention: fortnight")})
    assert result.returncode == 1
    assert "Pulumi.dev.yaml: invalid stack configuration: quikapp-monitoring:prometheus.retention: 'fortnight' " \
           "is not valid" in result.stderr
    assert "Traceback" not in result.stderr


def test_bootstrap_reports_a_broken_catalog_before_running_pulumi(tmp_path: Path) -> None:
    _, result = _bootstrap_offline(tmp_path, "dev", {"configs/services.yaml": ("backend: 3000", "backend: 0")})
    assert result.returncode == 1
    assert "invalid service catalog: configs/services.yaml: jobs.nestjs-services.services.backend: 0 is not " \
           "valid (allowed: a port number from 1 to 65535, without quotes)" in result.stderr.splitlines()


def test_make_check_builds_only_the_tools_it_runs(tmp_path: Path) -> None:
    """`make check` runs promtool and amtool: it asks scripts/upstream-tools.sh for those two groups,
    and the script then looks at nothing else (Jaeger, the exporters, actionlint, Sloth stay unbuilt)."""
    dry = subprocess.run(["make", "-n", "check", "STACK=prod"], cwd=ROOT, capture_output=True, text=True,
                         env={k: v for k, v in os.environ.items() if not k.startswith("MAKE")}, timeout=60)
    calls = [line.split() for line in dry.stdout.splitlines() if "upstream-tools.sh" in line]
    assert [c[1:] for c in calls] == [["prometheus", "alertmanager"]], dry.stdout
    # The two groups already built (their stamps and binaries), nothing else: the script reports
    # both up to date and builds nothing.
    tools = tmp_path / "tools"
    (tools / "bin").mkdir(parents=True)
    (tools / "stamps").mkdir()
    for group, binaries in (("prometheus", ("prometheus", "promtool")), ("alertmanager", ("alertmanager", "amtool"))):
        stamp = ROOT / ".tools" / "stamps" / group
        if not stamp.exists():
            pytest.fail(f"{stamp} missing: scripts/upstream-tools.sh builds it") if os.environ.get("CI") else \
                pytest.skip(f"{stamp} missing")
        (tools / "stamps" / group).write_text(stamp.read_text())
        for binary in binaries:
            (tools / "bin" / binary).symlink_to(ROOT / ".tools" / "bin" / binary)
    done = subprocess.run(["bash", str(ROOT / "scripts" / "upstream-tools.sh"), "prometheus", "alertmanager"],
                          env={**os.environ, "UPSTREAM_TOOLS_DIR": str(tools)}, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert [line.split(":")[1].strip() for line in done.stdout.splitlines()] == ["up to date", "up to date"]
    assert sorted(p.name for p in (tools / "bin").iterdir()) == ["alertmanager", "amtool", "prometheus", "promtool"]
    bad = subprocess.run(["bash", str(ROOT / "scripts" / "upstream-tools.sh"), "grafana"], capture_output=True,
                         text=True, timeout=60, env={**os.environ, "UPSTREAM_TOOLS_DIR": str(tools)})
    assert bad.returncode == 2
    assert bad.stderr.strip() == ("unknown tool group 'grafana' (allowed: prometheus alertmanager jaeger "
                                  "config-reloader actionlint exporters sloth)")
