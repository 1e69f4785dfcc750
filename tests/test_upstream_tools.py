"""The Go-built upstream programs (scripts/upstream-tools.sh) are the versions the stack deploys.

Each binary's own `--version` must name the tag of the image it stands in for, read from the one
version table (the Images defaults), so a bump there without a rebuild fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from components.settings.model import Images
from conftest import stack_run
from mockengine.program import STACKS
from mockengine.rendered import workload_files
from tools import GO_BUILT, PROXY_SKEW, require, run_tool

ROOT = Path(__file__).resolve().parent.parent


def deployed_version(image: str) -> str:
    """'prom/prometheus:v3.16.0' -> '3.16.0' (a digest after the tag is ignored)."""
    return image.split("@", 1)[0].rsplit(":", 1)[1].removeprefix("v")


def reported_version(output: str) -> str | None:
    # prometheus/common's version.Print: "<program>, version 3.16.0 (branch: ..., revision: ...)";
    # jaeger's cobra --version: "jaeger version v2.13.0"; redis_exporter's log line
    # "... msg=\"Redis Metrics Exporter v1.88.0    build date: ..." (oliver006/redis_exporter@v1.88.0 main.go).
    found = re.match(r"(\S+, version |jaeger version v)(\d\S*)", output) or re.search(
        r"(Redis Metrics Exporter v)(\d\S*)", output)
    return found.group(2) if found else None


# The one declared exception, tool -> (deployed, tested). Jaeger v2 releases after 2.13.0 exist on
# the module proxy only as pseudo-versions at their commits, which the module proxy refuses (403 "This
# module version is not available"), so the live Jaeger tests run 2.13.0, the newest it serves,
# against the config rendered for 2.20.0. Any other pair (a bump of the image, a proxy that serves
# 2.20.0 after all) fails below until this line is revisited.
# The exporters the proxy serves only at an older tag are declared in tests/tools.py PROXY_SKEW, which
# scripts/upstream-tools.sh builds from.
KNOWN_SKEW = {"jaeger": ("2.20.0", "2.13.0"), **PROXY_SKEW}


@pytest.mark.parametrize("tool", sorted(GO_BUILT))
def test_built_tool_reports_the_deployed_version(tool: str) -> None:
    binary = require(tool)
    image = getattr(Images(), GO_BUILT[tool])
    result = run_tool(binary, "--version")
    assert result.returncode == 0, result.stdout + result.stderr
    pair = (deployed_version(image), reported_version(result.stdout + result.stderr))
    if tool in KNOWN_SKEW:
        assert pair == KNOWN_SKEW[tool], f"{tool}: deployed and tested versions {pair}, declared {KNOWN_SKEW[tool]}"
        return
    assert pair[1] == pair[0], (
        f"{tool} --version says {(result.stdout + result.stderr).splitlines()[:1]}, but the stack deploys "
        f"{image}: run scripts/upstream-tools.sh")


@pytest.mark.parametrize(("image", "version"), [
    ("prom/prometheus:v3.16.0", "3.16.0"),
    ("nginx/nginx-prometheus-exporter:1.5.3", "1.5.3"),
    ("prom/alertmanager:v0.35.0@sha256:" + "0" * 64, "0.35.0"),
])
def test_deployed_version_reads_the_tag(image: str, version: str) -> None:
    assert deployed_version(image) == version


def test_reported_version_reads_prometheus_common_output() -> None:
    assert reported_version("promtool, version 3.16.0 (branch: , revision: )\n  build user: x") == "3.16.0"
    assert reported_version("no version here") is None
    assert reported_version("jaeger version v2.13.0") == "2.13.0"
    assert reported_version('time="..." level=info msg="Redis Metrics Exporter v1.88.0    build date: x"') == "1.88.0"


# The service discovery scripts/upstream-tools.sh compiles into the tests' prometheus and promtool
# (upstream's build tags: `remove_all_sd`, then `enable_<plugin>_sd` for each one kept). File, static
# and http discovery are always compiled in (prometheus/prometheus plugins/minimum.go).
ALWAYS_COMPILED = {"file", "static", "http"}
# A config key's plugin where the two names differ (plugins/plugin_moby.go registers docker_sd and
# dockerswarm_sd; plugin_aws.go ec2, lightsail and ecs). Other keys are `<plugin>_sd_configs`.
PLUGIN_OF_KEY = {"docker": "moby", "dockerswarm": "moby", "ec2": "aws", "lightsail": "aws", "ecs": "aws"}


def compiled_discovery() -> set[str]:
    script = (ROOT / "scripts" / "upstream-tools.sh").read_text()
    found = re.search(r'^PROMETHEUS_SD_TAGS="([^"]*)"$', script, re.M)
    assert found, "scripts/upstream-tools.sh declares no PROMETHEUS_SD_TAGS"
    tags = found.group(1).split(",")
    if "remove_all_sd" not in tags:
        return {"*"}
    return ALWAYS_COMPILED | {t.removeprefix("enable_").removesuffix("_sd") for t in tags if t.startswith("enable_")}


def discovery_keys(node: object) -> set[str]:
    """Every `<name>_sd_configs` key anywhere in a parsed prometheus.yml."""
    if isinstance(node, dict):
        own = {k.removesuffix("_sd_configs") for k in node if k.endswith("_sd_configs")}
        return own.union(*(discovery_keys(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(discovery_keys(v) for v in node))
    return set()


@pytest.mark.parametrize("stack", STACKS)
def test_the_tests_prometheus_compiles_in_every_discovery_the_stack_renders(stack: str) -> None:
    """The tests' promtool and prometheus leave out the discovery no rendered config uses (a cold
    build's biggest saving); a config naming another would fail their checks for want of it."""
    config = yaml.safe_load(workload_files(stack_run(stack))["prometheus"]["/etc/prometheus/prometheus.yml"])
    used = {PLUGIN_OF_KEY.get(key, key) for key in discovery_keys(config)}
    compiled = compiled_discovery()
    assert "*" in compiled or used <= compiled, (
        f"{stack}'s prometheus.yml uses {sorted(used - compiled)} discovery, which scripts/upstream-tools.sh "
        f"leaves out of the tests' Prometheus: add enable_<plugin>_sd to PROMETHEUS_SD_TAGS")


def test_the_discovery_walk_finds_nested_keys() -> None:
    config = {"scrape_configs": [{"kubernetes_sd_configs": [{}]}, {"static_configs": []}],
              "alerting": {"alertmanagers": [{"docker_sd_configs": [{}]}]}}
    assert {PLUGIN_OF_KEY.get(k, k) for k in discovery_keys(config)} == {"kubernetes", "moby"}
