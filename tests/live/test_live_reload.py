"""Zero-restart config changes with the real programs: the files change under a running tool, the
tool picks them up, and its process is the same one before and after.

- Prometheus (built at the deployed version) runs with the args the stack renders, including
  --config.auto-reload, from a config directory laid out as the kubelet lays out a ConfigMap volume
  (files are symlinks through `..data` to a timestamped directory). A new rule file arrives the way
  the kubelet delivers a ConfigMap update: a new timestamped directory and an atomic rename of the
  `..data` symlink. The new rule must show in /api/v1/rules with the same pid.
- Alertmanager (built at the deployed version) runs with the rendered alertmanager.yml in a
  directory filled the way the Docker target fills its config volume: the copier's own script
  (components/targets/docker_config.py COPY_SCRIPT, run by busybox sh as in the image) copying from
  a staging directory. The real prometheus-config-reloader (built at the pinned image's version)
  runs with the sidecar's rendered args. A route change must show in /api/v2/status with the same
  pid and no restart (Alertmanager's uptime keeps counting).

The intervals are shortened for the test (Prometheus' auto-reload interval 2s instead of 30s); the
rendered values are asserted in tests/test_zero_restart.py and documented in docs/OPERATIONS.md.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from live_servers import LOOPBACK, Server, Servers, free_ports, get_json, servers_in_tempdir, wait_until

from components.alertmanager import config_reloader
from components.render.alertmanager import CONFIG_DIR as AM_CONFIG_DIR
from components.render.alertmanager import render_alertmanager_config
from components.render.prometheus import CONFIG_DIR, RULES_DIR
from components.settings import Settings, parse_settings
from components.targets.docker_config import COPY_SCRIPT
from conftest import stack_run
from mockengine.manifests import plain
from mockengine.program import stack_config
from mockengine.rendered import workload_files
from mockengine.stand_ins import with_secrets
from tools import require

pytestmark = pytest.mark.live

STACK = "dev"
TEST_INTERVAL = "2s"
PROBE_RULE = "QuikAppReloadProbe"


def settings(**alertmanager: Any) -> Settings:
    values = stack_config(STACK)
    values["alertmanager"] = {**values.get("alertmanager", {}), **alertmanager}
    return parse_settings(*with_secrets(values))


# --- the kubelet's atomic writer, as far as a reader can tell ------------------------------------

def kubelet_write(directory: Path, files: dict[str, str], generation: int) -> None:
    """Lay out `files` (relative path -> text) as a ConfigMap volume after an update: the content in
    ..<generation>/, `..data` renamed atomically onto it, and one top-level symlink per entry
    through ..data (kubernetes/kubernetes pkg/volume/util/atomic_writer.go)."""
    payload = directory / f"..{generation}"
    for rel, text in files.items():
        (payload / rel).parent.mkdir(parents=True, exist_ok=True)
        (payload / rel).write_text(text)
    # Steps 7-9 of AtomicWriter.Write: user-visible links first, then the atomic rename.
    for top in sorted({rel.split("/", 1)[0] for rel in files}):
        entry = directory / top
        if not entry.is_symlink():
            entry.symlink_to(f"..data/{top}")
    link = directory / "..data_tmp"
    link.symlink_to(payload.name)
    os.replace(link, directory / "..data")


def rendered_prometheus_args(config_dir: Path, data: Path, port: int) -> list[str]:
    """The dev stack's Prometheus command with paths moved to the test's directories, the web
    address on loopback and the auto-reload interval shortened."""
    container = plain(stack_run(STACK).one("docker:index/container:Container", "prometheus").inputs)
    args = []
    for arg in container["command"]:
        if arg.startswith("--web.external-url="):
            arg = f"--web.external-url=http://{LOOPBACK}:{port}"
        elif arg.startswith("--config.auto-reload-interval="):
            arg = f"--config.auto-reload-interval={TEST_INTERVAL}"
        args.append(arg.replace(f"={CONFIG_DIR}/", f"={config_dir}/").replace("=/prometheus", f"={data}"))
    assert "--config.auto-reload" in args
    return [*args, f"--web.listen-address={LOOPBACK}:{port}"]


def prometheus_files(config_dir: Path) -> dict[str, str]:
    """The rendered files, relative to /etc/prometheus, with the rule glob and the self-scrape moved
    to the test (the other targets would only be down)."""
    files = workload_files(stack_run(STACK))["prometheus"]
    config = yaml.safe_load(files[f"{CONFIG_DIR}/prometheus.yml"])
    config["rule_files"] = [f"{config_dir}/rules/*.yml"]
    config["scrape_configs"] = []
    config.pop("alerting", None)
    out = {"prometheus.yml": yaml.safe_dump(config, sort_keys=False)}
    out.update({path[len(CONFIG_DIR) + 1:]: text for path, text in files.items() if path.startswith(RULES_DIR + "/")})
    return out


def rule_names(base: str) -> set[str]:
    groups = get_json(f"{base}/api/v1/rules")["data"]["groups"]
    return {rule["name"] for group in groups for rule in group["rules"]}


def test_a_new_rule_file_reaches_the_running_prometheus(tmp_path: Path) -> None:
    require("prometheus")
    with servers_in_tempdir() as servers:
        config_dir, data = servers.root / "etc-prometheus", servers.root / "data"
        config_dir.mkdir()
        data.mkdir()
        files = prometheus_files(config_dir)
        kubelet_write(config_dir, files, 1)
        (port,) = free_ports(1)
        server = servers.start("prometheus", [require("prometheus"), *rendered_prometheus_args(config_dir, data, port)])
        base = f"http://{LOOPBACK}:{port}"
        servers.wait_http(server, f"{base}/-/ready", timeout=60)
        before = wait_until("the rendered rules loaded", lambda: rule_names(base) or None, 30,
                            alive=server.check_alive)
        assert PROBE_RULE not in before
        started = get_json(f"{base}/api/v1/status/runtimeinfo")["data"]["startTime"]

        probe = {"groups": [{"name": "reload-probe", "rules": [{"alert": PROBE_RULE, "expr": "vector(1)"}]}]}
        kubelet_write(config_dir, {**files, "rules/reload-probe.yml": yaml.safe_dump(probe)}, 2)

        after = wait_until(f"{PROBE_RULE} in /api/v1/rules", lambda: PROBE_RULE in rule_names(base) and
                           rule_names(base), 30, alive=server.check_alive)
        assert before < after
        # The same process: no restart, no WAL replay.
        assert server.process.poll() is None
        assert get_json(f"{base}/api/v1/status/runtimeinfo")["data"]["startTime"] == started
        assert "Configuration file change detected" in server.log.read_text(errors="replace")


# --- Alertmanager: the Docker copier's script and the real reloader -------------------------------

def copy_in(servers: Servers, staging: Path, config: Path) -> None:
    """Run the Docker config copier's script, as its container would, with busybox sh."""
    result = subprocess.run([require("busybox"), "sh", "-c", COPY_SCRIPT], capture_output=True, text=True,
                            timeout=30, env={**os.environ, "QUIKAPP_STAGING": str(staging),
                                             "QUIKAPP_CONFIG": str(config)})
    assert result.returncode == 0, result.stdout + result.stderr


def start_reloader(servers: Servers, watched: Path, am_port: int, port: int) -> Server:
    args = list(config_reloader(settings()).args(LOOPBACK))
    rendered = [a.replace(f"={AM_CONFIG_DIR}", f"={watched}") for a in args]
    # The rendered listen address is ":8080" (inside the pod); the test binds loopback only.
    rendered = [f"--listen-address={LOOPBACK}:{port}" if a.startswith("--listen-address=") else a
                for a in rendered]
    rendered = [a.replace(":9093/", f":{am_port}/") for a in rendered]
    server = servers.start("prometheus-config-reloader", [require("prometheus-config-reloader"), *rendered])
    servers.wait_http(server, f"http://{LOOPBACK}:{port}/healthz")
    return server


def test_a_route_change_reaches_the_running_alertmanager() -> None:
    require("alertmanager")
    require("prometheus-config-reloader")
    with servers_in_tempdir() as servers:
        staging, volume = servers.root / "staging", servers.root / "config"
        (staging / "0").mkdir(parents=True)
        (volume / "0").mkdir(parents=True)
        (servers.root / "data").mkdir()
        (staging / "0" / "alertmanager.yml").write_text(render_alertmanager_config(settings()))
        # The rest of the directory as the dev stack ships it (the notification template).
        for path, text in workload_files(stack_run(STACK))["alertmanager"].items():
            if path != f"{AM_CONFIG_DIR}/alertmanager.yml":
                (staging / "0" / path[len(AM_CONFIG_DIR) + 1:]).write_text(text)
        copy_in(servers, staging, volume)
        assert sorted(p.name for p in (volume / "0").iterdir()) == sorted(p.name for p in (staging / "0").iterdir())
        am_port, reloader_port = free_ports(2)
        am = servers.start("alertmanager", [
            require("alertmanager"), f"--config.file={volume / '0' / 'alertmanager.yml'}",
            f"--storage.path={servers.root / 'data'}", f"--web.listen-address={LOOPBACK}:{am_port}",
            "--cluster.listen-address=",
        ])
        base = f"http://{LOOPBACK}:{am_port}"
        servers.wait_http(am, f"{base}/-/ready")
        reloader = start_reloader(servers, volume / "0", am_port, reloader_port)
        status = get_json(f"{base}/api/v2/status")
        assert "repeat_interval: 7h" not in status["config"]["original"]

        (staging / "0" / "alertmanager.yml").write_text(render_alertmanager_config(settings(repeatInterval="7h")))
        copy_in(servers, staging, volume)

        def reloaded() -> dict[str, Any] | None:
            current = get_json(f"{base}/api/v2/status")
            return current if "repeat_interval: 7h" in current["config"]["original"] else None

        after = wait_until("the new route in /api/v2/status", reloaded, 30, alive=reloader.check_alive)
        assert am.process.poll() is None
        assert after["uptime"] == status["uptime"]  # the start time: the same process, never restarted
        assert "Reload triggered" in reloader.log.read_text(errors="replace")
