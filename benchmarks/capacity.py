#!/usr/bin/env python3
"""`make capacity`: Prometheus memory and disk for 10, 100 and 1,000 QuikApp services, measured.

A real Prometheus (the deployed version, built into .tools/bin by scripts/upstream-tools.sh)
scrapes synthetic targets served by one loopback HTTP server in this process. Each target is
what the stack scrapes on Kubernetes: one target per app pod (job `app`), one node-exporter and
one kubelet/cAdvisor target per node, one kube-state-metrics target for the cluster. Many
targets share the one server: relabeling keeps each target's own `instance` and moves the
address to the server (a path per target), so 1,000 targets cost one socket.

Series per target follow the model below (the assumptions are printed into the report):
- app pod: the families the alerts and dashboards read (http_requests_total, the
  http_request_duration_seconds histogram) plus prom-client's default Node.js runtime metrics;
- node: the exposition of a real node_exporter v1.12.1, recorded on a Linux host
  (benchmarks/fixtures/node-exporter-v1.12.1.prom; `--record-node-exporter BIN` re-records it);
- per pod from cAdvisor and kube-state-metrics: derived from their metric families (estimated,
  not measured: the benchmark runs no kubelet or API server).
Values move like real ones (counters rise by varying amounts, gauges wander), so the TSDB
compresses them like real data rather than like constants.

Two kinds of run, each bounded and stopping by itself:
- memory: per scale, Prometheus at the stack's 15s interval for --duration seconds; read
  prometheus_tsdb_head_series, process_resident_memory_bytes, go_memstats_heap_inuse_bytes and
  the peak RSS (VmHWM) once the head series count has stopped changing;
- disk: a small scale at a 0.5s interval with 1-minute blocks, so a real block is compacted in
  about two minutes; its chunk bytes per sample and index bytes per series, and the WAL bytes
  per appended sample, extrapolate the disk for a retention (formula in the report).

Report: build/CAPACITY.md and build/capacity.json; `--out docs/CAPACITY.md` rewrites the tracked
doc (the hand-written analysis below the marker is kept).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import zlib
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = Path(__file__).resolve().parent / "fixtures" / "node-exporter-v1.12.1.prom"
MARKER = "<!-- analysis: hand-written below, kept by benchmarks/capacity.py -->"

# --- the model ------------------------------------------------------------------------------

# One app pod. Ten routes, each served under one method; four status codes seen per route.
ROUTES = 10
STATUSES = ("200", "400", "404", "500")
# prom-client's default histogram buckets (siimon/prom-client@v15.1.3 lib/histogram.js), which
# NestJS/express middlewares use unless told otherwise; +Inf, _sum and _count come on top.
HTTP_BUCKETS = ("0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10")
# prom-client's collectDefaultMetrics() on Linux (siimon/prom-client@v15.1.3 lib/metrics/*):
# gc histogram per kind (lib/metrics/gc.js: major, minor, incremental, weakcb; 6 buckets), heap
# spaces x total/used/available (lib/metrics/heapSpacesSizeAndUsed.js), event loop lag summary
# gauges (lib/metrics/eventLoopLag.js: 8), process cpu/memory/fds/start time, handles/requests.
GC_KINDS = ("major", "minor", "incremental", "weakcb")
GC_BUCKETS = ("0.001", "0.01", "0.1", "1", "2", "5")
HEAP_SPACES = ("read_only", "new", "old", "code", "shared", "trusted", "new_large_object",
               "large_object", "code_large_object", "shared_large_object")
RUNTIME_GAUGES = (
    "process_cpu_user_seconds_total", "process_cpu_system_seconds_total", "process_cpu_seconds_total",
    "process_start_time_seconds", "process_resident_memory_bytes", "process_virtual_memory_bytes",
    "process_heap_bytes", "process_open_fds", "process_max_fds",
    "nodejs_eventloop_lag_seconds", "nodejs_eventloop_lag_min_seconds", "nodejs_eventloop_lag_max_seconds",
    "nodejs_eventloop_lag_mean_seconds", "nodejs_eventloop_lag_stddev_seconds",
    "nodejs_eventloop_lag_p50_seconds", "nodejs_eventloop_lag_p90_seconds", "nodejs_eventloop_lag_p99_seconds",
    "nodejs_active_handles_total", "nodejs_active_requests_total", "nodejs_active_resources_total",
    "nodejs_heap_size_total_bytes", "nodejs_heap_size_used_bytes", "nodejs_external_memory_bytes",
)

# cAdvisor through the kubelet, per container (estimated from the families of google/cadvisor
# lib/metrics/prometheus.go at v0.60.5 that the kubelet's default metric sets enable: cpu,
# memory, cpu load, disk io/usage, network, process). A pod is its app container plus the pod's
# own cgroup (container=""); network counters exist once per pod (one interface, eth0).
CADVISOR_PER_CONTAINER = (
    # cpu (7)
    "container_cpu_usage_seconds_total", "container_cpu_user_seconds_total",
    "container_cpu_system_seconds_total", "container_cpu_cfs_periods_total",
    "container_cpu_cfs_throttled_periods_total", "container_cpu_cfs_throttled_seconds_total",
    "container_cpu_load_average_10s",
    # memory (14)
    "container_memory_usage_bytes", "container_memory_working_set_bytes", "container_memory_rss",
    "container_memory_cache", "container_memory_mapped_file", "container_memory_swap",
    "container_memory_max_usage_bytes", "container_memory_failcnt", "container_oom_events_total",
    'container_memory_failures_total{failure_type="pgfault",scope="container"}',
    'container_memory_failures_total{failure_type="pgfault",scope="hierarchy"}',
    'container_memory_failures_total{failure_type="pgmajfault",scope="container"}',
    'container_memory_failures_total{failure_type="pgmajfault",scope="hierarchy"}',
    "container_memory_kernel_usage",
    # spec (6)
    "container_spec_cpu_period", "container_spec_cpu_quota", "container_spec_cpu_shares",
    "container_spec_memory_limit_bytes", "container_spec_memory_reservation_limit_bytes",
    "container_spec_memory_swap_limit_bytes",
    # filesystem, one device (8)
    "container_fs_reads_bytes_total", "container_fs_writes_bytes_total", "container_fs_reads_total",
    "container_fs_writes_total", "container_fs_usage_bytes", "container_fs_limit_bytes",
    "container_fs_inodes_free", "container_fs_inodes_total",
    # tasks and processes (11)
    'container_tasks_state{state="sleeping"}', 'container_tasks_state{state="running"}',
    'container_tasks_state{state="stopped"}', 'container_tasks_state{state="uninterruptible"}',
    'container_tasks_state{state="iowaiting"}',
    "container_threads", "container_threads_max", "container_processes", "container_sockets",
    "container_file_descriptors", "container_ulimits_soft",
    # lifecycle (2)
    "container_last_seen", "container_start_time_seconds",
)
CADVISOR_PER_POD_NETWORK = tuple(f"container_network_{d}_{m}_total" for d in ("receive", "transmit")
                                 for m in ("bytes", "packets", "errors", "packets_dropped"))

# kube-state-metrics v2.20.0, one running single-container Deployment pod with cpu and memory
# requests and limits and the two default tolerations (kubernetes/kube-state-metrics@v2.20.0
# docs/metrics/workload/pod-metrics.md; families emitted for every pod, state-set families once
# per possible value). Estimated: no API server runs here.
KSM_PER_POD = (
    "kube_pod_info", "kube_pod_ips", "kube_pod_start_time", "kube_pod_owner", "kube_pod_labels",
    "kube_pod_annotations", "kube_pod_created", "kube_pod_restart_policy", "kube_pod_service_account",
    "kube_pod_scheduler", "kube_pod_status_scheduled_time", "kube_pod_status_initialized_time",
    "kube_pod_status_ready_time", "kube_pod_status_container_ready_time",
    *(f'kube_pod_status_phase{{phase="{p}"}}' for p in ("Pending", "Running", "Succeeded", "Failed", "Unknown")),
    *(f'kube_pod_status_qos_class{{qos_class="{q}"}}' for q in ("BestEffort", "Burstable", "Guaranteed")),
    *(f'kube_pod_status_ready{{condition="{c}"}}' for c in ("true", "false", "unknown")),
    *(f'kube_pod_status_scheduled{{condition="{c}"}}' for c in ("true", "false", "unknown")),
    'kube_pod_tolerations{key="node.kubernetes.io/not-ready"}',
    'kube_pod_tolerations{key="node.kubernetes.io/unreachable"}',
    # the one container
    "kube_pod_container_info", "kube_pod_container_status_waiting", "kube_pod_container_status_running",
    "kube_pod_container_state_started", "kube_pod_container_status_terminated",
    "kube_pod_container_status_ready", "kube_pod_container_status_restarts_total",
    *(f'kube_pod_container_resource_requests{{resource="{r}"}}' for r in ("cpu", "memory")),
    *(f'kube_pod_container_resource_limits{{resource="{r}"}}' for r in ("cpu", "memory")),
)

PODS_PER_NODE = 20  # app pods per node: sets how many nodes (node-exporter, kubelet) a scale has
SCRAPE_INTERVAL_S = 15  # the stacks' prometheus.scrapeInterval
AUTO_SERIES_PER_TARGET = 5  # up, scrape_duration_seconds, scrape_samples_*, scrape_series_added

# The stacks' settings this is compared with (Pulumi.<stack>.yaml and components/settings/model.py).
STACKS = {
    "default": {"retention_days": 15, "storage_gib": 20, "memory_limit_gib": 4},
    "dev": {"retention_days": 15, "storage_gib": 10, "memory_limit_gib": 4},
    "staging": {"retention_days": 15, "storage_gib": 50, "memory_limit_gib": 4},
    "prod": {"retention_days": 30, "storage_gib": 200, "memory_limit_gib": 8},
}


@dataclass
class Target:
    """One scrape target: the series it exposes, with how each one's value moves."""

    series: list[tuple[str, bool, float, float]] = field(default_factory=list)  # text, counter, rate, base

    def add(self, name: str, labels: dict[str, str], counter: bool) -> None:
        extra = ""
        if "{" in name:  # a series written with its own labels, e.g. tasks_state{state=...}
            name, extra = name[:-1].split("{", 1)
        pairs = [f'{k}="{v}"' for k, v in labels.items()] + ([extra] if extra else [])
        text = f"{name}{{{','.join(pairs)}}}" if pairs else name
        # A stable pseudo-random rate and level per series (crc32: same numbers every run).
        h = zlib.crc32(text.encode())
        self.series.append((text, counter, 0.05 + (h % 997) / 20.0, float(1 + h % 100_000)))

    def body(self, t: float) -> bytes:
        lines = []
        for text, counter, rate, base in self.series:
            # Counters rise at their own rate; gauges wander 5% around their level.
            value = int(rate * t) if counter else int(base * (1.0 + 0.05 * math.sin(t / 37.0 + rate)))
            lines.append(f"{text} {value}\n")
        return "".join(lines).encode()


def app_target(service: str, pod: str) -> Target:
    target = Target()
    # service, namespace and pod come from discovery (the target's labels), not from the exposition.
    for r in range(ROUTES):
        route = {"method": "GET" if r % 2 else "POST", "route": f"/api/v1/{service}/r{r}"}
        for status in STATUSES:
            labels = {**route, "status": status}
            target.add("http_requests_total", labels, True)
            for le in (*HTTP_BUCKETS, "+Inf"):
                target.add("http_request_duration_seconds_bucket", {**labels, "le": le}, True)
            target.add("http_request_duration_seconds_sum", labels, True)
            target.add("http_request_duration_seconds_count", labels, True)
    for name in RUNTIME_GAUGES:
        target.add(name, {}, name.endswith("_total"))
    for kind in GC_KINDS:
        for le in (*GC_BUCKETS, "+Inf"):
            target.add("nodejs_gc_duration_seconds_bucket", {"kind": kind, "le": le}, True)
        target.add("nodejs_gc_duration_seconds_sum", {"kind": kind}, True)
        target.add("nodejs_gc_duration_seconds_count", {"kind": kind}, True)
    for space in HEAP_SPACES:
        for what in ("total", "used", "available"):
            target.add(f"nodejs_heap_space_size_{what}_bytes", {"space": space}, False)
    target.add("nodejs_version_info", {"version": "v22.12.0", "major": "22", "minor": "12", "patch": "0"}, False)
    for kind in ("Timeout", "TCPSocketWrap", "FSReqCallback"):
        target.add("nodejs_active_handles", {"type": kind}, False)
        target.add("nodejs_active_resources", {"type": kind}, False)
    return target


def add_cadvisor_pod(target: Target, pod: str) -> None:
    for container in ("app", ""):
        labels = {"namespace": "quikapp", "pod": pod, "container": container,
                  "id": f"/kubepods/burstable/pod-{pod}/{container}", "image": "quikapp/app:1" if container else ""}
        for name in CADVISOR_PER_CONTAINER:
            target.add(name, labels, "_total" in name)
    for name in CADVISOR_PER_POD_NETWORK:
        target.add(name, {"namespace": "quikapp", "pod": pod, "interface": "eth0",
                          "id": f"/kubepods/burstable/pod-{pod}"}, True)


def add_ksm_pod(target: Target, pod: str, node: str) -> None:
    for name in KSM_PER_POD:
        labels = {"namespace": "quikapp", "pod": pod, "uid": f"uid-{pod}"}
        if "container" in name:
            labels["container"] = "app"
        if name == "kube_pod_info":
            labels["node"] = node
        target.add(name, labels, name.endswith("_total"))


def node_target(recorded: str) -> Target:
    target = Target()
    for line in recorded.splitlines():
        if not line or line.startswith("#"):
            continue
        text = line.rsplit(" ", 1)[0]
        name = text.split("{", 1)[0]
        # Counters and histogram parts rise; everything else is a gauge.
        counter = name.endswith(("_total", "_bucket", "_count", "_sum"))
        h = zlib.crc32(text.encode())
        target.series.append((text, counter, 0.05 + (h % 997) / 20.0, float(1 + h % 100_000)))
    return target


@dataclass
class Scale:
    services: int
    targets: dict[str, tuple[str, dict[str, str], Target]]  # id -> job, labels, target

    @property
    def nodes(self) -> int:
        return max(1, math.ceil(self.services / PODS_PER_NODE))

    def expected_series(self) -> int:
        return sum(len(t.series) + AUTO_SERIES_PER_TARGET for _, _, t in self.targets.values())


def build_scale(services: int, recorded_node: str) -> Scale:
    targets: dict[str, tuple[str, dict[str, str], Target]] = {}
    nodes = max(1, math.ceil(services / PODS_PER_NODE))
    cadvisor = [Target() for _ in range(nodes)]
    ksm = Target()
    for i in range(services):
        service, pod, node = f"svc-{i:04d}", f"svc-{i:04d}-7d9f8b6c5-x{i % 97:02d}q", f"node-{i // PODS_PER_NODE:03d}"
        labels = {"service": service, "namespace": "quikapp", "pod": pod}
        targets[f"app-{i:04d}"] = ("app", labels, app_target(service, pod))
        add_cadvisor_pod(cadvisor[i // PODS_PER_NODE], pod)
        add_ksm_pod(ksm, pod, node)
    for n in range(nodes):
        node = f"node-{n:03d}"
        targets[f"node-{n:03d}"] = ("node-exporter", {"node": node}, node_target(recorded_node))
        targets[f"cadvisor-{n:03d}"] = ("cadvisor", {"node": node}, cadvisor[n])
    targets["ksm"] = ("kube-state-metrics", {}, ksm)
    return Scale(services, targets)


def model_counts(recorded_node: str) -> dict[str, int]:
    pod = "p"
    cad, ksm = Target(), Target()
    add_cadvisor_pod(cad, pod)
    add_ksm_pod(ksm, pod, "n")
    return {"app_per_pod": len(app_target("s", pod).series), "cadvisor_per_pod": len(cad.series),
            "ksm_per_pod": len(ksm.series), "node_exporter_per_node": len(node_target(recorded_node).series),
            # The recording host's CPUs (the per-CPU families grow with them), not the generating one's.
            "node_exporter_cpus": len(set(re.findall(r'^node_cpu_seconds_total\{cpu="(\d+)"', recorded_node, re.M)))}


# --- the loopback server ----------------------------------------------------------------------

class _Server(ThreadingHTTPServer):
    daemon_threads = True
    targets: dict[str, tuple[str, dict[str, str], Target]]
    started: float


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        entry = self.server.targets.get(self.path.rsplit("/", 1)[-1])
        if entry is None:
            self.send_error(404)
            return
        body = entry[2].body(time.time() - self.server.started)
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def serve(scale: Scale) -> _Server:
    server = _Server(("127.0.0.1", 0), _Handler)
    server.targets = scale.targets
    server.started = time.time() - 86_400  # counters start a day in, like a pod that has run a while
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def prometheus_config(scale: Scale, port: int, interval: str) -> str:
    jobs: dict[str, list[dict[str, Any]]] = {}
    for tid, (job, labels, _) in scale.targets.items():
        jobs.setdefault(job, []).append({"targets": [tid], "labels": labels})
    scrape_configs = [{
        "job_name": job,
        "static_configs": statics,
        # The target id stays the instance; the server is reached under a path per target.
        "relabel_configs": [
            {"source_labels": ["__address__"], "target_label": "instance"},
            {"source_labels": ["__address__"], "target_label": "__metrics_path__", "replacement": "/t/$1"},
            {"target_label": "__address__", "replacement": f"127.0.0.1:{port}"},
        ],
    } for job, statics in jobs.items()]
    return json.dumps({"global": {"scrape_interval": interval, "scrape_timeout": interval if
                                  interval.endswith("ms") or int(interval[:-1]) <= 10 else "10s"},
                       "scrape_configs": scrape_configs}, indent=1)


# --- running Prometheus ---------------------------------------------------------------------

def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _metrics(port: int) -> dict[str, float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("#") or not line:
            continue
        key, _, value = line.rpartition(" ")
        name = key.split("{", 1)[0]
        out[name] = out.get(name, 0.0) + float(value)  # summed over label sets
        out[key] = float(value)
    return out


def _peak_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def _dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.exists() else 0


class Prometheus:
    def __init__(self, binary: str, config: str, workdir: Path, extra: tuple[str, ...] = ()) -> None:
        self.port = _free_port()
        self.data = workdir / "data"
        (workdir / "prometheus.yml").write_text(config)
        self.log = (workdir / "prometheus.log").open("w")
        self.proc = subprocess.Popen(
            [binary, f"--config.file={workdir / 'prometheus.yml'}", f"--storage.tsdb.path={self.data}",
             f"--web.listen-address=127.0.0.1:{self.port}", *extra],
            stdout=self.log, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"prometheus exited with {self.proc.returncode}; see {self.log.name}")
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready", timeout=2)
                return
            except OSError:
                time.sleep(0.5)
        raise SystemExit(f"prometheus not ready after {timeout}s; see {self.log.name}")

    def targets_up(self) -> tuple[int, int]:
        url = f"http://127.0.0.1:{self.port}/api/v1/targets?state=active"
        data = json.load(urllib.request.urlopen(url, timeout=30))
        active = data["data"]["activeTargets"]
        return sum(1 for t in active if t["health"] == "up"), len(active)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def memory_run(binary: str, scale: Scale, duration: float, interval: str, workdir: Path) -> dict[str, Any]:
    server = serve(scale)
    prom = Prometheus(binary, prometheus_config(scale, server.server_address[1], interval), workdir)
    try:
        prom.wait_ready()
        # The clock starts once every target is discovered (target groups arrive asynchronously).
        deadline = time.time() + 60
        while prom.targets_up()[1] < len(scale.targets) and time.time() < deadline:
            time.sleep(0.5)
        started = time.time()
        interval_s = float(interval[:-2]) / 1000 if interval.endswith("ms") else float(interval[:-1])
        history: list[float] = []
        stable_since: float | None = None
        while time.time() - started < duration:
            time.sleep(max(1.0, interval_s / 3))
            series = _metrics(prom.port).get("prometheus_tsdb_head_series", 0.0)
            unchanged = bool(history) and series == history[-1] and series > 0
            stable_since = (stable_since or time.time()) if unchanged else None
            history.append(series)
        m = _metrics(prom.port)
        up, total = prom.targets_up()
        return {
            "services": scale.services, "nodes": scale.nodes, "targets": total, "targets_up": up,
            "expected_series": scale.expected_series(),
            "head_series": int(m.get("prometheus_tsdb_head_series", 0)),
            "stable_for_s": round(time.time() - stable_since, 1) if stable_since else 0.0,
            "rss_bytes": int(m.get("process_resident_memory_bytes", 0)),
            "peak_rss_bytes": _peak_rss(prom.proc.pid),
            "heap_inuse_bytes": int(m.get("go_memstats_heap_inuse_bytes", 0)),
            "samples_appended": int(m.get("prometheus_tsdb_head_samples_appended_total", 0)),
            "seconds": round(time.time() - started, 1), "interval": interval,
        }
    finally:
        prom.stop()
        server.shutdown()
        server.server_close()


def disk_run(binary: str, scale: Scale, timeout: float, workdir: Path) -> dict[str, Any]:
    """0.5s scrapes, 1m blocks: 120 samples per series and block (a full chunk, as at 15s in 30m)."""
    server = serve(scale)
    prom = Prometheus(binary, prometheus_config(scale, server.server_address[1], "500ms"), workdir,
                      ("--storage.tsdb.min-block-duration=1m", "--storage.tsdb.max-block-duration=1m"))
    try:
        prom.wait_ready()
        deadline = time.time() + timeout
        blocks: list[Path] = []
        # The first block starts when Prometheus did, mid-minute: wait for a second, full one.
        while time.time() < deadline and len(blocks) < 2:
            time.sleep(5)
            blocks = [p for p in prom.data.glob("01*") if (p / "meta.json").exists()]
        m = _metrics(prom.port)
        wal = _dir_bytes(prom.data / "wal")
        appended = m.get("prometheus_tsdb_head_samples_appended_total", 0.0)
    finally:
        prom.stop()
        server.shutdown()
        server.server_close()
    if not blocks:
        raise SystemExit(f"no block was compacted within {timeout}s; see {workdir / 'prometheus.log'}")
    def _stats(block: Path) -> dict[str, int]:
        return dict(json.loads((block / "meta.json").read_text())["stats"])

    block = max(blocks, key=lambda b: _stats(b)["numSamples"] / max(_stats(b)["numSeries"], 1))
    stats = _stats(block)
    chunks, index = _dir_bytes(block / "chunks"), (block / "index").stat().st_size
    return {
        "services": scale.services, "block_series": stats["numSeries"], "block_samples": stats["numSamples"],
        "block_chunks": stats["numChunks"], "chunk_bytes": chunks, "index_bytes": index,
        "chunk_bytes_per_sample": chunks / stats["numSamples"],
        "index_bytes_per_series": index / stats["numSeries"],
        "wal_bytes": wal, "wal_samples": int(appended),
        "wal_bytes_per_sample": wal / appended if appended else 0.0,
    }


# --- extrapolation ----------------------------------------------------------------------------

HEAD_HOURS = 3  # the head (WAL and head chunks) holds up to 1.5 block ranges of 2h before compaction


def disk_bytes(series: int, days: int, disk: dict[str, Any]) -> float:
    """Blocks over the retention + the head's WAL and chunks.

    samples = series x (86400 / 15s) x days, at the measured chunk bytes per sample; index bytes
    per series once per block, with blocks growing to 10% of the retention (Prometheus' default
    max block duration), so about 10 long blocks plus 3 younger ones; plus HEAD_HOURS of samples
    in the WAL and in head chunks.
    """
    per_day = series * 86_400 / SCRAPE_INTERVAL_S
    blocks = 10 + 3
    head_samples = series * HEAD_HOURS * 3600 / SCRAPE_INTERVAL_S
    return float(per_day * days * disk["chunk_bytes_per_sample"] + series * blocks * disk["index_bytes_per_series"]
            + head_samples * (disk["wal_bytes_per_sample"] + disk["chunk_bytes_per_sample"]))


GIB = 1024 ** 3


def report(result: dict[str, Any]) -> str:
    counts = result["model"]
    lines = [
        "# Capacity: Prometheus memory and disk by number of services",
        "",
        f"Generated by `make capacity` (benchmarks/capacity.py) on {result['machine']}, "
        f"Prometheus {result['prometheus_version']}. Memory is measured; disk is measured per sample "
        "and per series on a compacted block and extrapolated (formula below). Do not edit above the marker.",
        "",
        "## Series",
        "",
        "| source | series | how |",
        "|---|---:|---|",
        f"| one app pod | {counts['app_per_pod']} | model: {ROUTES} routes x {len(STATUSES)} status codes; "
        f"http_requests_total + http_request_duration_seconds ({len(HTTP_BUCKETS)} buckets + +Inf, _sum, _count); "
        "prom-client default Node.js runtime metrics |",
        f"| one pod, cAdvisor (kubelet) | {counts['cadvisor_per_pod']} | estimated: app container + pod cgroup, "
        "kubelet's default cAdvisor metric sets, one interface |",
        f"| one pod, kube-state-metrics | {counts['ksm_per_pod']} | estimated: running 1-container Deployment pod, "
        "requests and limits set |",
        f"| one node, node-exporter | {counts['node_exporter_per_node']} | measured: node_exporter v1.12.1, "
        f"default collectors, recorded on a {counts['node_exporter_cpus']}-CPU host (+8 series per extra CPU, more "
        "with more disks and NICs) |",
        f"| per target, Prometheus itself | {AUTO_SERIES_PER_TARGET} | up, scrape_duration_seconds, scrape_samples_*, "
        "scrape_series_added |",
        "",
        f"One service = one pod; {PODS_PER_NODE} app pods per node. Replicas multiply the per-pod rows.",
        "",
        "## Measured",
        "",
        "| services | nodes | targets (up) | head series | series expected | RSS | peak RSS | Go heap in use | ran |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for run in result["memory"]:
        lines.append(
            f"| {run['services']} | {run['nodes']} | {run['targets']} ({run['targets_up']}) | {run['head_series']:,} "
            f"| {run['expected_series']:,} | {run['rss_bytes'] / 2**20:,.0f} MiB "
            f"| {run['peak_rss_bytes'] / 2**20:,.0f} MiB "
            f"| {run['heap_inuse_bytes'] / 2**20:,.0f} MiB | {run['seconds']:.0f} s at {run['interval']} |")
    disk = result.get("disk")
    if disk:
        lines += [
            "",
            f"Disk, from one compacted block ({disk['services']} services, 0.5s scrapes, 1-minute blocks of "
            f"{disk['block_samples'] // max(disk['block_series'], 1)} samples per series): "
            f"**{disk['chunk_bytes_per_sample']:.2f} bytes per sample** in chunks, "
            f"{disk['index_bytes_per_series']:.0f} bytes of index per series and block; "
            f"WAL {disk['wal_bytes_per_sample']:.2f} bytes per appended sample.",
            "",
            "## Sizing",
            "",
            "Disk = series x 5,760 samples/day (15s) x days x chunk bytes/sample + series x 13 blocks x index "
            f"bytes/series + {HEAD_HOURS}h of samples x (WAL + chunk bytes/sample).",
            "",
            "| services | head series | samples/s | RSS measured | disk 15d | disk 30d |",
            "|---:|---:|---:|---:|---:|---:|",
        ]
        for run in result["memory"]:
            s = run["head_series"]
            lines.append(f"| {run['services']} | {s:,} | {s / SCRAPE_INTERVAL_S:,.0f} "
                         f"| {run['rss_bytes'] / GIB:.2f} GiB "
                         f"| {disk_bytes(s, 15, disk) / GIB:.1f} GiB | {disk_bytes(s, 30, disk) / GIB:.1f} GiB |")
        lines += ["", "## Against the stacks' settings", "",
                  "| stack | retention | storage | memory limit | measured scales whose disk fits "
                  "| services the volume holds | measured scales whose peak RSS fits |",
                  "|---|---|---:|---:|---|---:|---|"]
        # Series per service at the largest scale (its share of node and cluster series included).
        largest = max(result["memory"], key=lambda r: r["services"])
        per_service = largest["head_series"] / largest["services"]
        for name, st in STACKS.items():
            fit_disk = [str(r["services"]) for r in result["memory"]
                        if disk_bytes(r["head_series"], st["retention_days"], disk) <= st["storage_gib"] * GIB]
            fit_mem = [str(r["services"]) for r in result["memory"]
                       if r["peak_rss_bytes"] <= st["memory_limit_gib"] * GIB]
            holds = st["storage_gib"] * GIB / disk_bytes(round(per_service), st["retention_days"], disk)
            lines.append(f"| {name} | {st['retention_days']}d | {st['storage_gib']} GiB | {st['memory_limit_gib']} GiB "
                         f"| {', '.join(fit_disk) or 'none'} | about {int(holds // 10 * 10)} "
                         f"| {', '.join(fit_mem) or 'none'} |")
    lines += ["", MARKER, ""]
    return "\n".join(lines)


def _prometheus_version(binary: str) -> str:
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30).stdout
    match = re.search(r"version (\S+)", out)
    return match.group(1) if match else "unknown"


def record_node_exporter(binary: str) -> None:
    port = _free_port()
    proc = subprocess.Popen([binary, f"--web.listen-address=127.0.0.1:{port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(40):
            try:
                text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
                break
            except OSError:
                time.sleep(0.25)
        else:
            raise SystemExit(f"node_exporter at {binary} did not answer on 127.0.0.1:{port}")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    FIXTURE.parent.mkdir(parents=True, exist_ok=True)
    FIXTURE.write_text(text)
    print(f"recorded {sum(1 for ln in text.splitlines() if ln and not ln.startswith('#'))} series into {FIXTURE}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", default="10,100,1000", help="comma-separated service counts")
    parser.add_argument("--duration", type=float, default=120, help="seconds each memory run lasts")
    parser.add_argument("--interval", default=f"{SCRAPE_INTERVAL_S}s", help="scrape interval of the memory runs")
    parser.add_argument("--disk-services", type=int, default=10, help="services in the disk run (0: skip it)")
    parser.add_argument("--disk-timeout", type=float, default=300, help="give up on a compacted block after this")
    parser.add_argument("--prometheus", default=str(ROOT / ".tools" / "bin" / "prometheus"))
    parser.add_argument("--out", default=str(ROOT / "build" / "CAPACITY.md"))
    parser.add_argument("--json", default=None, help="where the raw results go (default: next to --out, .json)")
    parser.add_argument("--record-node-exporter", metavar="BIN", help="re-record the node-exporter fixture and exit")
    parser.add_argument("--from-json", metavar="FILE", help="re-render the report from a run's saved results")
    args = parser.parse_args(argv)

    if args.record_node_exporter:
        record_node_exporter(args.record_node_exporter)
        return 0
    if not os.access(args.prometheus, os.X_OK):
        print(f"--prometheus: {args.prometheus} is not an executable; `make tools` builds it", file=sys.stderr)
        return 2
    try:
        scales = [int(s) for s in args.scales.split(",")]
        if any(s < 1 for s in scales):
            raise ValueError
    except ValueError:
        print(f"--scales: {args.scales!r} is not a comma-separated list of positive integers", file=sys.stderr)
        return 2
    if not re.fullmatch(r"\d+(ms|s)", args.interval):
        print(f"--interval: {args.interval!r} is not a duration like 15s or 500ms", file=sys.stderr)
        return 2
    if args.from_json:
        _write(Path(args.out), report(json.loads(Path(args.from_json).read_text())))
        return 0
    recorded = FIXTURE.read_text()
    result: dict[str, Any] = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "prometheus_version": _prometheus_version(args.prometheus),
        "model": model_counts(recorded), "memory": [], "disk": None,
    }
    work = Path(tempfile.mkdtemp(prefix="capacity-"))
    try:
        for services in scales:
            scale = build_scale(services, recorded)
            print(f"memory run: {services} services, {len(scale.targets)} targets, "
                  f"{scale.expected_series():,} series, {args.duration:.0f}s", flush=True)
            run_dir = work / f"mem-{services}"
            run_dir.mkdir()
            result["memory"].append(memory_run(args.prometheus, scale, args.duration, args.interval, run_dir))
            print(json.dumps(result["memory"][-1]), flush=True)
            shutil.rmtree(run_dir / "data", ignore_errors=True)
        if args.disk_services:
            print(f"disk run: {args.disk_services} services until a block is compacted", flush=True)
            run_dir = work / "disk"
            run_dir.mkdir()
            result["disk"] = disk_run(args.prometheus, build_scale(args.disk_services, recorded),
                                      args.disk_timeout, run_dir)
            print(json.dumps(result["disk"]), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    out = Path(args.out)
    _write(out, report(result))
    Path(args.json or out.with_suffix(".json")).write_text(json.dumps(result, indent=1) + "\n")
    return 0


def _write(out: Path, generated: str) -> None:
    """The generated part, then the hand-written analysis of the target (or of the tracked doc)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    analysis = ""
    for source in (out, ROOT / "docs" / "CAPACITY.md"):
        if source.exists() and MARKER in source.read_text():
            analysis = source.read_text().split(MARKER, 1)[1].lstrip("\n")
            break
    out.write_text(generated + analysis)
    print(f"wrote {out}")


if __name__ == "__main__":
    sys.exit(main())
