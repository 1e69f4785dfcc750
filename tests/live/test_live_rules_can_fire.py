"""Every alert and recording rule a stack ships can fire there: each metric name it selects is
exposed by a job that stack scrapes, at the deployed version, with the stack's own flags.

What a job exposes is measured where the tests can run the software, and recorded upstream output
otherwise:

- live, the Go-built binaries (scripts/upstream-tools.sh) run on loopback with the args the stack
  renders (read back from the evaluated program), only addresses and paths rewritten:
  node_exporter 1.12.1 (on this host's /proc and /sys, and on upstream's own test fixtures of the
  same version, which hold the RAID arrays, bonds and hardware a host here lacks), redis_exporter
  1.88.0 (against a plain and a cluster-mode redis-server), postgres_exporter and the nginx exporter
  (tests/tools.py PROXY_SKEW: the newest the Go module proxy serves), Alertmanager 0.35.0
  (unclustered as on a single-instance stack, or gossiping as the replicated layout runs it) and
  Prometheus 3.16.0 (its own /metrics, with the stack's rule files, an Alertmanager and, where the
  stack has one, a remote_write queue);
- recorded: tests/fixtures/metrics/*.txt for kafka_exporter, cAdvisor, kube-state-metrics (its
  kube_<resource>_labels only for the resources its rendered --metric-labels-allowlist names),
  the kubelet, Jaeger, Loki and QuikApp's own services; each file names its source.

A selector's metric must be exposed by its `job=` job when it names one (and by the `service=`
target of the monitoring job when it names one), else by any job of the stack. Rules are parsed
by the running Prometheus itself (tests/test_dashboards.py `selectors`).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from guarantees import run_with
from live_servers import (
    LOOPBACK,
    Servers,
    free_ports,
    servers_in_tempdir,
    start_nginx,
    start_postgres,
    start_redis,
    wait_until,
)
from test_dashboards import MONITORING_SERVICES, SYNTHETIC, fixture_names, produced
from test_exporters import args_of

from components.render.prometheus import RULES_DIR, scrape_jobs
from conftest import stack_run
from mockengine.program import STACKS
from mockengine.rendered import workload_files
from mockengine.run import Run
from tools import require

pytestmark = pytest.mark.live

PROMETHEUS_YML = "/etc/prometheus/prometheus.yml"
ALERTMANAGER_YML = "/etc/alertmanager/alertmanager.yml"
# A stack with every feature a split rule file requires: the replicated layout (Alertmanager cluster)
# and a remote_write endpoint, so the files shipped only with them are checked too.
FEATURES_VARIANT = ("prod", {"prometheus": {"remoteWrite": [{"url": "https://store.example/api/v1/push"}]}})
VARIANTS = [*STACKS, "prod+remote-write"]
RECORDED = {"kafka": "kafka", "cadvisor": "cadvisor", "kubelet": "kubelet"}
KSM_LABELS = re.compile(r"^kube_(\w+?)_(labels|annotations)$")


def variant_run(variant: str) -> Run:
    if variant == "prod+remote-write":
        stack, changes = FEATURES_VARIANT
        return run_with(stack, changes)
    return stack_run(variant)


_RUNS: dict[str, Run] = {}


def run_of(variant: str) -> Run:
    if variant not in _RUNS:
        _RUNS[variant] = variant_run(variant)
    return _RUNS[variant]


@dataclass(frozen=True)
class Shipped:
    """What one stack ships and scrapes, from its evaluated program."""

    rules: dict[str, dict[str, Any]]  # file name -> parsed rule file
    jobs: frozenset[str]
    prometheus_yml: dict[str, Any]
    alertmanager_yml: str
    args: dict[str, list[str]]  # workload -> rendered args

    @property
    def recorded(self) -> frozenset[str]:
        return frozenset(r["record"] for f in self.rules.values() for g in f["groups"] for r in g["rules"]
                         if "record" in r)


def shipped(variant: str) -> Shipped:
    run = run_of(variant)
    files = workload_files(run)
    prometheus = files["prometheus"]
    config = yaml.safe_load(prometheus[PROMETHEUS_YML])
    jobs = scrape_jobs(prometheus[PROMETHEUS_YML])
    rules = {Path(p).name: yaml.safe_load(t) for p, t in prometheus.items() if p.startswith(RULES_DIR + "/")}
    names = ["prometheus", "alertmanager"] + [w for w in ("node-exporter", "redis-exporter", "postgres-exporter",
                                                          "nginx-exporter", "kube-state-metrics") if w in files]
    args = {name: args_of(run, name) for name in names}
    return Shipped(rules, jobs, config, files["alertmanager"][ALERTMANAGER_YML], args)


# --- running the exporters with the stack's flags -------------------------------------------------


def families(url: str) -> frozenset[str]:
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    return frozenset(line.split()[2] for line in text.splitlines() if line.startswith("# TYPE "))


def scrape_when(url: str, ready: set[str], what: str, server: Any, timeout: float = 60) -> frozenset[str]:
    """The families at `url` once `ready` are among them (collectors and queues start lazily)."""
    def check() -> frozenset[str] | None:
        found = families(url)
        return found if ready <= found else None
    return wait_until(what, check, timeout, interval=0.5, alive=server.check_alive)


def swap(args: list[str], flag: str, value: str | None) -> list[str]:
    """`args` with --flag=... replaced by --flag=value (dropped when value is None, added when absent)."""
    out = [a for a in args if not a.startswith(f"{flag}=")]
    return out if value is None else [*out, f"{flag}={value}"]


@dataclass
class Evidence:
    """Metric families per job (and per target of the monitoring job), per flag set measured."""

    servers: Servers
    node: frozenset[str] = frozenset()
    redis: dict[tuple[str, ...], frozenset[str]] = field(default_factory=dict)
    postgres: frozenset[str] = frozenset()
    nginx: dict[tuple[str, ...], frozenset[str]] = field(default_factory=dict)
    alertmanager: dict[bool, frozenset[str]] = field(default_factory=dict)  # clustered -> families
    prometheus: dict[bool, frozenset[str]] = field(default_factory=dict)  # remote write -> families
    url: str = ""  # a running Prometheus, the PromQL parser
    ports: Iterator[int] = field(default_factory=lambda: iter(()))
    backends: dict[str, int] = field(default_factory=dict)

    def port(self) -> int:
        return next(self.ports)


def node_exporter_families(ev: Evidence, args: list[str]) -> frozenset[str]:
    """node_exporter with the stack's args, on this host and on upstream's fixture host of the same version."""
    binary = require("node_exporter")
    found: set[str] = set()
    fixtures = upstream_node_fixtures(ev.servers.root / "node-fixtures")
    for name, paths in (("host", {"procfs": "/proc", "sysfs": "/sys", "rootfs": "/", "udev.data": "/run/udev/data"}),
                        ("fixtures", {"procfs": f"{fixtures}/proc", "sysfs": f"{fixtures}/sys", "rootfs": str(fixtures),
                                      "udev.data": f"{fixtures}/udev/data"})):
        run_args = list(args)
        for key, path in paths.items():
            assert any(a.startswith(f"--path.{key}=") for a in args), (key, args)
            run_args = swap(run_args, f"--path.{key}", path)
        port = ev.port()
        run_args = swap(run_args, "--web.listen-address", f"{LOOPBACK}:{port}")
        server = ev.servers.start(f"node_exporter-{name}", [binary, *run_args])
        found |= scrape_when(f"http://{LOOPBACK}:{port}/metrics", {"node_cpu_seconds_total"}, f"node_exporter ({name})",
                             server)
        server.stop()
    return frozenset(found)


def upstream_node_fixtures(into: Path) -> Path:
    """node_exporter@v1.12.1's collector/fixtures, its sysfs and udev trees unpacked with its own ttar."""
    go = shutil.which("go") or "/usr/local/go/bin/go"
    info = subprocess.run([go, "mod", "download", "-json", "github.com/prometheus/node_exporter@v1.12.1"],
                          capture_output=True, text=True, timeout=600, cwd=into.parent)
    if info.returncode != 0:
        pytest.fail(f"go mod download github.com/prometheus/node_exporter@v1.12.1: {info.stdout}{info.stderr}")
    module = Path(json.loads(info.stdout)["Dir"])
    shutil.copytree(module / "collector" / "fixtures", into, symlinks=True)
    for path in [into, *into.rglob("*")]:
        if not path.is_symlink():
            path.chmod(path.stat().st_mode | 0o200)
    for archive in ("sys.ttar", "udev.ttar"):
        unpack = subprocess.run(["bash", str(module / "ttar"), "-C", str(into), "-x", "-f", str(into / archive)],
                                capture_output=True, text=True, timeout=300)
        assert unpack.returncode == 0, unpack.stdout + unpack.stderr
    return into


def redis_exporter_families(ev: Evidence, args: list[str]) -> frozenset[str]:
    """redis_exporter with the stack's args against a plain and a cluster-mode Redis."""
    binary = require("redis_exporter")
    found: set[str] = set()
    for backend in ("redis", "redis-cluster"):
        port = ev.port()
        server = ev.servers.start(f"redis_exporter-{backend}-{port}", [
            binary, *args, f"--web.listen-address={LOOPBACK}:{port}"],
            env={"REDIS_ADDR": f"redis://{LOOPBACK}:{ev.backends[backend]}"})
        found |= scrape_when(f"http://{LOOPBACK}:{port}/metrics", {"redis_up", "redis_memory_used_bytes"},
                             f"redis_exporter ({backend})", server)
        server.stop()
    return frozenset(found)


def start_redis_cluster_node(servers: Servers, port: int, bus_port: int) -> None:
    data = servers.root / "redis-cluster"
    data.mkdir()
    # The cluster bus port is given: by default it is port + 10000, which a free port above 55535
    # (half of Linux's ephemeral range) pushes past 65535, and Redis then refuses to start.
    server = servers.start("redis-cluster", [
        require("redis-server"), "--bind", LOOPBACK, "--port", str(port), "--cluster-port", str(bus_port),
        "--dir", str(data), "--save", "", "--appendonly", "no", "--cluster-enabled", "yes",
        "--cluster-config-file", str(data / "nodes.conf")])
    servers.wait_port(server, port)


def alertmanager_families(ev: Evidence, config: str, clustered: bool) -> frozenset[str]:
    base = ev.servers.root / f"alertmanager-{'cluster' if clustered else 'single'}"
    (base / "data").mkdir(parents=True)
    (base / "alertmanager.yml").write_text(config)
    port = ev.port()
    cluster = f"{LOOPBACK}:{ev.port()}" if clustered else ""
    server = ev.servers.start(base.name, [
        require("alertmanager"), f"--config.file={base / 'alertmanager.yml'}", f"--storage.path={base / 'data'}",
        f"--web.listen-address={LOOPBACK}:{port}", f"--cluster.listen-address={cluster}"], cwd=base)
    found = scrape_when(f"http://{LOOPBACK}:{port}/metrics", {"alertmanager_alerts"}, base.name, server)
    server.stop()
    return found


def prometheus_families(ev: Evidence, stack: Shipped, remote_write: bool) -> tuple[frozenset[str], str, Any]:
    """Prometheus with the stack's args and its rendered config, scraping only itself: its rule
    files, an Alertmanager (one that answers), and the remote_write queues pointed at loopback."""
    base = ev.servers.root / f"prometheus-{'rw' if remote_write else 'plain'}"
    (base / "rules").mkdir(parents=True)
    for name, rules in stack.rules.items():
        (base / "rules" / name).write_text(yaml.safe_dump(rules))
    port, am = ev.port(), ev.port()
    config = dict(stack.prometheus_yml)
    config["scrape_configs"] = [{"job_name": "prometheus", "static_configs": [{"targets": [f"{LOOPBACK}:{port}"]}]}]
    config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [f"{LOOPBACK}:{am}"]}]}]}
    config["rule_files"] = [str(base / "rules" / "*.yml")]
    config["global"] = {**config["global"], "scrape_interval": "1s", "evaluation_interval": "1s"}
    if remote_write:
        assert config.get("remote_write"), "the variant has no remote_write"
        config["remote_write"] = [{"url": f"http://{LOOPBACK}:{ev.port()}/api/v1/write", "name": "store"}]
    (base / "prometheus.yml").write_text(yaml.safe_dump(config))
    args = list(stack.args["prometheus"])
    args = swap(args, "--config.file", str(base / "prometheus.yml"))
    args = swap(args, "--storage.tsdb.path", str(base / "data"))
    args = swap(args, "--web.external-url", f"http://{LOOPBACK}:{port}")
    args = swap(args, "--web.listen-address", f"{LOOPBACK}:{port}")
    am_server = ev.servers.start(f"am-for-{base.name}", [
        require("alertmanager"), f"--config.file={write_minimal_am(base)}", f"--storage.path={base / 'am'}",
        f"--web.listen-address={LOOPBACK}:{am}", "--cluster.listen-address="])
    server = ev.servers.start(base.name, [require("prometheus"), *args], cwd=base)
    # Families whose series appear once the first scrape pool synced, a sample was appended and a
    # rule evaluated and notified.
    ready = {"prometheus_rule_evaluations_total", "prometheus_notifications_sent_total",
             "prometheus_target_sync_failed_total", "prometheus_target_metadata_cache_entries",
             "prometheus_tsdb_head_samples_appended_total"}
    if remote_write:
        ready.add("prometheus_remote_storage_samples_total")
    found = scrape_when(f"http://{LOOPBACK}:{port}/metrics", ready, base.name, server, timeout=90)
    return found, f"http://{LOOPBACK}:{port}", (server, am_server)


def write_minimal_am(base: Path) -> Path:
    path = base / "am.yml"
    path.write_text("route: {receiver: none}\nreceivers: [{name: none}]\n")
    return path


@pytest.fixture(scope="module")
def evidence() -> Iterator[Evidence]:
    stacks = {v: shipped(v) for v in VARIANTS}
    with servers_in_tempdir("quikapp-can-fire-") as servers:
        ev = Evidence(servers, ports=iter(free_ports(40)))
        ev.backends = {"redis": ev.port(), "redis-cluster": ev.port(), "postgres": ev.port(), "nginx": ev.port()}
        start_redis(servers, ev.backends["redis"])
        start_redis_cluster_node(servers, ev.backends["redis-cluster"], ev.port())
        start_postgres(servers, ev.backends["postgres"])
        start_nginx(servers, ev.backends["nginx"])

        node_args = {tuple(s.args["node-exporter"]) for s in stacks.values() if "node-exporter" in s.args}
        assert len(node_args) == 1, node_args  # every stack renders the same flags
        ev.node = node_exporter_families(ev, list(next(iter(node_args))))
        for s in stacks.values():
            if "redis-exporter" in s.args and tuple(s.args["redis-exporter"]) not in ev.redis:
                ev.redis[tuple(s.args["redis-exporter"])] = redis_exporter_families(ev, s.args["redis-exporter"])
            if "nginx-exporter" in s.args:
                key = tuple(a for a in s.args["nginx-exporter"] if not a.startswith("--nginx.scrape-uri="))
                if key not in ev.nginx:
                    ev.nginx[key] = nginx_exporter_families(ev, list(key))
        if any("postgres-exporter" in s.args for s in stacks.values()):
            ev.postgres = postgres_exporter_families(ev)
        configs = {clustered(s): s.alertmanager_yml for s in stacks.values()}
        for mode, config in sorted(configs.items()):
            ev.alertmanager[mode] = alertmanager_families(ev, config, mode)
        parser = None
        for mode in (False, True):
            stack = next(s for s in stacks.values() if bool(s.prometheus_yml.get("remote_write")) == mode)
            found, url, processes = prometheus_families(ev, stack, mode)
            ev.prometheus[mode] = found
            if parser is None:
                parser, ev.url = processes, url
            else:
                for process in processes:
                    process.stop()
        yield ev


def clustered(stack: Shipped) -> bool:
    """Whether the stack's Alertmanager gossips: a single one runs with an empty --cluster.listen-address."""
    return "--cluster.listen-address=" not in stack.args["alertmanager"]


def nginx_exporter_families(ev: Evidence, args: list[str]) -> frozenset[str]:
    port = ev.port()
    server = ev.servers.start(f"nginx-exporter-{port}", [
        require("nginx-prometheus-exporter"), *args,
        f"--nginx.scrape-uri=http://{LOOPBACK}:{ev.backends['nginx']}/stub_status",
        f"--web.listen-address={LOOPBACK}:{port}"])
    found = scrape_when(f"http://{LOOPBACK}:{port}/metrics", {"nginx_up", "nginx_connections_active"},
                        "nginx-prometheus-exporter", server)
    server.stop()
    return found


def postgres_exporter_families(ev: Evidence) -> frozenset[str]:
    """postgres_exporter as the stack runs it: no args, the DSN in DATA_SOURCE_NAME."""
    port = ev.port()
    dsn = f"postgresql://postgres@{LOOPBACK}:{ev.backends['postgres']}/postgres?sslmode=disable"
    args = [require("postgres_exporter"), f"--web.listen-address={LOOPBACK}:{port}"]
    server = ev.servers.start("postgres_exporter", args, env={"DATA_SOURCE_NAME": dsn})
    found = scrape_when(f"http://{LOOPBACK}:{port}/metrics", {"pg_up", "pg_stat_activity_count"}, "postgres_exporter",
                        server)
    server.stop()
    return found


# --- the check ---------------------------------------------------------------------------------------


def ksm_families(args: list[str]) -> frozenset[str]:
    """kube-state-metrics' documented families, its label/annotation metrics only where allowed."""
    allowed: set[str] = set()
    for arg in args:
        if arg.startswith(("--metric-labels-allowlist=", "--metric-annotations-allowlist=")):
            kind = "labels" if "labels" in arg.split("=", 1)[0] else "annotations"
            allowed |= {f"{m}:{kind}" for m in re.findall(r"(\w+)=\[", arg.split("=", 1)[1])}
    out = set()
    for name in fixture_names("kube-state-metrics"):
        match = KSM_LABELS.match(name)
        # kube_<resource>_labels exists for allowlisted resources only (the flag takes plural names).
        if match is None or any(f"{p}:{match.group(2)}" in allowed for p in (match.group(1) + "s",
                                                                                match.group(1) + "es")):
            out.add(name)
    return frozenset(out)


def job_families(ev: Evidence, stack: Shipped, job: str, service: str | None) -> frozenset[str]:
    if job == "prometheus":
        return ev.prometheus[bool(stack.prometheus_yml.get("remote_write"))]
    if job == "monitoring":
        services = [service] if service in MONITORING_SERVICES else list(MONITORING_SERVICES)
        found: set[str] = set()
        for s in services:
            if s == "alertmanager":
                found |= ev.alertmanager[clustered(stack)]
            else:
                found |= frozenset().union(*(fixture_names(f) for f in MONITORING_SERVICES[s]))
        return frozenset(found)
    if job == "node-exporter":
        return ev.node
    if job == "redis":
        return ev.redis[tuple(stack.args["redis-exporter"])]
    if job == "postgres":
        return ev.postgres
    if job == "nginx":
        return ev.nginx[tuple(a for a in stack.args["nginx-exporter"] if not a.startswith("--nginx.scrape-uri="))]
    if job == "kube-state-metrics":
        return ksm_families(stack.args["kube-state-metrics"])
    if job in RECORDED:
        return fixture_names(RECORDED[job])
    return fixture_names("quikapp-services")  # the catalog's jobs


def parse_tree(url: str, expr: str) -> Any:
    """The PromQL syntax tree of `expr` as the running Prometheus parses it (/api/v1/parse_query)."""
    body = urllib.parse.urlencode({"query": expr}).encode()
    with urllib.request.urlopen(f"{url}/api/v1/parse_query", data=body, timeout=10) as response:
        reply = json.loads(response.read())
    assert reply["status"] == "success", (expr, reply)
    return reply["data"]


def problems(ev: Evidence, stack: Shipped, seen: list[str] | None = None) -> list[str]:
    """One line per selector of a shipped rule whose metric no scraped job of the stack exposes.

    `a or b` needs one side only: upstream mixins read a metric under its old and its new name
    that way (prometheus-mixin's remote-storage alerts), and one of them suffices for the alert to
    fire. Everything else must be there, the guards of `unless` and `and` included (a guard that
    reads nothing guards nothing)."""
    everything = frozenset().union(*(job_families(ev, stack, j, None) for j in stack.jobs))

    def missing(node: Any, where: str) -> list[str]:
        if isinstance(node, list):
            return [line for item in node for line in missing(item, where)]
        if not isinstance(node, dict):
            return []
        if node.get("type") == "binaryExpr" and node.get("op") == "or":
            left, right = missing(node["lhs"], where), missing(node["rhs"], where)
            return [] if not left or not right else left + right
        if node.get("type") in {"vectorSelector", "matrixSelector"} and "matchers" in node:
            if seen is not None:
                seen.append(where)
            return selector_problem(node.get("name") or None, {m["name"]: (m["type"], m["value"])
                                                               for m in node["matchers"]}, where)
        return [line for value in node.values() for line in missing(value, where)]

    def selector_problem(metric: str | None, matchers: dict[str, tuple[str, str]], where: str) -> list[str]:
        if metric is None:
            return [f"{where}: a selector without a metric name"]
        if metric in SYNTHETIC or metric in stack.recorded:
            return []
        kind, job = matchers.get("job", ("", ""))
        if kind != "=":
            return [] if produced(metric, everything) else [f"{where}: no scrape job of this stack exposes {metric}"]
        if job not in stack.jobs:
            return [f"{where}: {metric} reads job {job}, which this stack does not scrape"]
        service_kind, service = matchers.get("service", ("", ""))
        families = job_families(ev, stack, job, service if service_kind == "=" else None)
        return [] if produced(metric, families) else [f"{where}: job {job} does not expose {metric}"]

    found = []
    for file, rules in sorted(stack.rules.items()):
        for group in rules["groups"]:
            for rule in group["rules"]:
                where = f"{file} {rule.get('alert') or rule.get('record')}"
                found += missing(parse_tree(ev.url, rule["expr"]), where)
    return sorted(set(found))


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_shipped_rule_reads_names_a_scraped_job_exposes(variant: str, evidence: Evidence) -> None:
    stack = shipped(variant)
    seen: list[str] = []
    assert problems(evidence, stack, seen) == []
    assert len(seen) >= 100  # every rule was looked at, not none


def test_an_or_needs_one_side_and_a_guard_is_needed_too(evidence: Evidence) -> None:
    stack = shipped("dev")
    rules = {"x.yml": {"groups": [{"name": "x", "rules": [
        {"alert": "Either", "expr": 'rate(gone_total{job="redis"}[5m]) or rate(redis_commands_total{job="redis"}[5m])'},
        {"alert": "Neither", "expr": 'gone_total{job="redis"} or also_gone{job="redis"}'},
        {"alert": "Guarded", "expr": 'redis_up{job="redis"} == 0 unless on() no_such_guard{job="redis"}'}]}]}}
    forced = Shipped(rules, stack.jobs, stack.prometheus_yml, stack.alertmanager_yml, stack.args)
    assert problems(evidence, forced) == [
        "x.yml Guarded: job redis does not expose no_such_guard",
        "x.yml Neither: job redis does not expose also_gone",
        "x.yml Neither: job redis does not expose gone_total"]


def test_the_features_variant_ships_the_split_files() -> None:
    names = set(shipped("prod+remote-write").rules)
    assert {"alertmanager-cluster-mixin.yml", "prometheus-remote-write-mixin.yml", "kubernetes-mixin.yml"} <= names
    assert not {"alertmanager-cluster-mixin.yml", "prometheus-remote-write-mixin.yml"} & set(shipped("dev").rules)


# --- each fix, shown to matter: without it the check above fails -------------------------------------


def test_without_include_system_metrics_redis_out_of_memory_cannot_fire(evidence: Evidence) -> None:
    stack = shipped("dev")
    assert "--include-system-metrics" in stack.args["redis-exporter"]
    without = [a for a in stack.args["redis-exporter"] if a != "--include-system-metrics"]
    evidence.redis[tuple(without)] = redis_exporter_families(evidence, without)
    bare = Shipped(stack.rules, stack.jobs, stack.prometheus_yml, stack.alertmanager_yml,
                   {**stack.args, "redis-exporter": without})
    assert problems(evidence, bare) == [
        "redis-mixin.yml RedisOutOfMemory: job redis does not expose redis_total_system_memory_bytes"]


def test_an_unclustered_alertmanager_has_no_cluster_series(evidence: Evidence) -> None:
    """The cluster alerts on dev (a single Alertmanager) would read nothing: they ship only clustered."""
    dev, clustered_stack = shipped("dev"), shipped("prod")
    assert not clustered(dev) and clustered(clustered_stack)
    cluster_rules = clustered_stack.rules["alertmanager-cluster-mixin.yml"]
    forced = Shipped({**dev.rules, "alertmanager-cluster-mixin.yml": cluster_rules}, dev.jobs, dev.prometheus_yml,
                     dev.alertmanager_yml, dev.args)
    assert problems(evidence, forced) == [
        "alertmanager-cluster-mixin.yml AlertmanagerClusterFailedPeers: job monitoring does not expose "
        "alertmanager_cluster_failed_peers",
        "alertmanager-cluster-mixin.yml AlertmanagerMembersInconsistent: job monitoring does not expose "
        "alertmanager_cluster_members"]


def test_without_remote_write_the_queue_series_are_absent(evidence: Evidence) -> None:
    dev, writing = shipped("dev"), shipped("prod+remote-write")
    split = "prometheus-remote-write-mixin.yml"
    forced = Shipped({**dev.rules, split: writing.rules[split]}, dev.jobs, dev.prometheus_yml, dev.alertmanager_yml,
                     dev.args)
    found = problems(evidence, forced)
    assert found and all(line.startswith("prometheus-remote-write-mixin.yml ") for line in found), found
    assert any("prometheus_remote_storage_shards_desired" in line for line in found)


def test_what_the_left_out_alerts_read_is_not_exposed(evidence: Evidence) -> None:
    """PrometheusSDRefreshFailure (no refresh-based discovery) and NodeSystemd* (collector off)."""
    assert "prometheus_sd_refresh_failures_total" not in evidence.prometheus[False] | evidence.prometheus[True]
    assert not {n for n in evidence.node if n.startswith("node_systemd_")}
    # While what the node mixin's other hardware alerts read is there (upstream's fixture host).
    assert {"node_md_disks", "node_bonding_slaves", "node_filesystem_avail_bytes"} <= evidence.node


def test_without_the_labels_allowlist_the_claim_exclusion_reads_nothing(evidence: Evidence) -> None:
    stack = shipped("prod")
    without = [a for a in stack.args["kube-state-metrics"] if not a.startswith("--metric-labels-allowlist=")]
    bare = Shipped(stack.rules, stack.jobs, stack.prometheus_yml, stack.alertmanager_yml,
                   {**stack.args, "kube-state-metrics": without})
    found = problems(evidence, bare)
    assert found and all("kube_persistentvolumeclaim_labels" in line for line in found), found


def test_a_misspelt_metric_fails(evidence: Evidence) -> None:
    stack = shipped("dev")
    rules = {**stack.rules, "x.yml": {"groups": [{"name": "x", "rules": [
        {"alert": "X", "expr": 'redis_memory_used_byte{job="redis"} > 0'},
        {"alert": "Y", "expr": "kube_node_info > 0"}]}]}}
    forced = Shipped(rules, stack.jobs, stack.prometheus_yml, stack.alertmanager_yml, stack.args)
    assert problems(evidence, forced) == [
        "x.yml X: job redis does not expose redis_memory_used_byte",
        "x.yml Y: no scrape job of this stack exposes kube_node_info"]
