"""The rendered remote_write, run by the real Prometheus against a remote-write receiver in this test.

Prometheus (built by scripts/upstream-tools.sh at the deployed version) runs the rendered
prometheus.yml with its `remote_write` section as rendered: only the endpoint URLs point at the
receiver below, the secret files' paths at copies in the test's temp dir (their content as the
program renders it), and the scrape jobs are reduced to Prometheus itself at a 1s interval.
The receiver decodes what a remote-write server gets (snappy block format over protobuf
prometheus.WriteRequest, remote-write spec 1.0) and checks the credentials from the files:
HTTP basic auth on one endpoint, a bearer token on the other. A changed password file is then
picked up by the same Prometheus process without a restart.
"""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import cramjam
import pytest
import yaml
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from live_servers import LOOPBACK, Server, free_ports, servers_in_tempdir, start_prometheus, wait_until

from components.catalog import load_catalog
from components.render.prometheus import remote_write_secrets, render_prometheus_config
from components.settings import parse_settings
from tools import require

pytestmark = pytest.mark.live

USER = "quikapp"
PASSWORD = "rw-basic-4Lq9"
ROTATED = "rw-basic-rotated-7Tz2"
TOKEN = "rw-token-Qe81"


def _write_request_class() -> Any:
    """prometheus.WriteRequest as in prometheus/prometheus@v3.16.0 prompb/remote.proto and types.proto
    (field numbers as there; metadata, exemplars and histograms are left to unknown fields)."""
    proto = descriptor_pb2.FileDescriptorProto(name="quikapp_remote_write.proto", package="prometheus",
                                               syntax="proto3")
    fields = descriptor_pb2.FieldDescriptorProto

    def message(name: str, *specs: tuple[str, int, int, int, str]) -> None:
        msg = proto.message_type.add(name=name)
        for field_name, number, kind, label, type_name in specs:
            added = msg.field.add(name=field_name, number=number, type=kind, label=label)
            if type_name:
                added.type_name = type_name

    message("Label", ("name", 1, fields.TYPE_STRING, fields.LABEL_OPTIONAL, ""),
            ("value", 2, fields.TYPE_STRING, fields.LABEL_OPTIONAL, ""))
    message("Sample", ("value", 1, fields.TYPE_DOUBLE, fields.LABEL_OPTIONAL, ""),
            ("timestamp", 2, fields.TYPE_INT64, fields.LABEL_OPTIONAL, ""))
    message("TimeSeries", ("labels", 1, fields.TYPE_MESSAGE, fields.LABEL_REPEATED, ".prometheus.Label"),
            ("samples", 2, fields.TYPE_MESSAGE, fields.LABEL_REPEATED, ".prometheus.Sample"))
    message("WriteRequest", ("timeseries", 1, fields.TYPE_MESSAGE, fields.LABEL_REPEATED, ".prometheus.TimeSeries"))
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("prometheus.WriteRequest"))


WRITE_REQUEST = _write_request_class()


@dataclass
class Received:
    path: str
    authorization: str
    headers: dict[str, str]  # names in lower case (HTTP names are case-insensitive; Go sends X-Scope-Orgid)
    series: list[tuple[dict[str, str], list[tuple[float, int]]]]


@dataclass
class Receiver:
    """Accepts remote-write requests; answers 401 to wrong credentials (Prometheus drops those batches)."""

    expected: dict[str, str]  # path -> the Authorization header it accepts
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                request = WRITE_REQUEST()
                request.ParseFromString(bytes(cramjam.snappy.decompress_raw(body)))
                series = [({label.name: label.value for label in ts.labels},
                           [(s.value, s.timestamp) for s in ts.samples]) for ts in request.timeseries]
                auth = self.headers.get("Authorization", "")
                with receiver.lock:
                    receiver.received.append(Received(self.path, auth, {k.lower(): v for k, v in self.headers.items()},
                                                      series))
                    accepted = receiver.expected.get(self.path) == auth
                self.send_response(204 if accepted else 401)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    def accepted(self, path: str, authorization: str) -> list[Received] | None:
        """The requests with samples that came to `path` with `authorization`; None while there are none."""
        with self.lock:
            found = [r for r in self.received if r.path == path and r.authorization == authorization and r.series]
        return found or None


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@dataclass
class Live:
    prometheus: Server
    receiver: Receiver
    password_file: Path
    started: float


@pytest.fixture(scope="module")
def live() -> Iterator[Live]:
    prom_port, recv_port = free_ports(2)
    endpoints = [
        {"url": f"http://{LOOPBACK}:{recv_port}/basic", "name": "basic", "username": USER, "password": PASSWORD,
         "headers": {"X-Scope-OrgID": "quikapp"},
         "queue": {"batchSendDeadline": "1s", "minBackoff": "10ms", "maxBackoff": "100ms"}},
        {"url": f"http://{LOOPBACK}:{recv_port}/bearer", "name": "bearer", "bearerToken": TOKEN,
         "queue": {"batchSendDeadline": "1s"}},
    ]
    settings = parse_settings({"target": "docker", "grafana": {"adminPassword": "live-admin-pw"},
                               "exporters": {"postgres": {"enabled": False}},
                               "prometheus": {"remoteWrite": endpoints, "externalLabels": {"environment": "live"}}},
                              {"grafana", "prometheus"})
    rendered = yaml.safe_load(render_prometheus_config(settings, load_catalog(), lambda s: s))
    receiver = Receiver({"/basic": basic(USER, PASSWORD), "/bearer": f"Bearer {TOKEN}"})
    server = ThreadingHTTPServer((LOOPBACK, recv_port), receiver.handler())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with servers_in_tempdir("quikapp-remote-write-") as servers:
            secrets_dir = servers.root / "secrets"
            secrets_dir.mkdir()
            local: dict[str, Path] = {}
            for path, value in remote_write_secrets(settings).items():
                local[path] = secrets_dir / Path(path).name
                local[path].write_text(value)
            config = {
                "global": {**rendered["global"], "scrape_interval": "1s"},
                "scrape_configs": [{"job_name": "prometheus",
                                    "static_configs": [{"targets": [f"{LOOPBACK}:{prom_port}"]}]}],
                "remote_write": rendered["remote_write"],  # as rendered; only the secret files' paths move
            }
            for entry in config["remote_write"]:
                for block, key in (("basic_auth", "password_file"), ("authorization", "credentials_file")):
                    if key in entry.get(block, {}):
                        entry[block][key] = str(local[entry[block][key]])
            config_path = servers.root / "prometheus.yml"
            config_path.write_text(yaml.safe_dump(config))
            started = time.time()
            prometheus = start_prometheus(servers, config_path, prom_port)
            password_file = next(p for k, p in local.items() if k.endswith("-password"))
            yield Live(prometheus, receiver, password_file, started)
    finally:
        server.shutdown()
        server.server_close()


def test_samples_arrive_with_the_basic_auth_password_from_the_file(live: Live) -> None:
    got = wait_until("a remote-write request with the rendered basic auth",
                     lambda: live.receiver.accepted("/basic", basic(USER, PASSWORD)), 60,
                     alive=live.prometheus.check_alive)
    request = got[0]
    # Remote-write 1.0 as Prometheus sends it: snappy-compressed protobuf.
    assert request.headers["content-encoding"] == "snappy"
    assert request.headers["content-type"] == "application/x-protobuf"
    assert request.headers["x-scope-orgid"] == "quikapp"  # the tenant header of a multi-tenant store
    names = {labels["__name__"] for r in got for labels, _ in r.series}
    assert "up" in names
    up = next(samples for r in got for labels, samples in r.series
              if labels["__name__"] == "up" and labels["job"] == "prometheus")
    value, timestamp_ms = up[0]
    assert value == 1.0 and timestamp_ms / 1000 >= live.started - 5
    # The stack's external labels travel with every series (how the long-term store tells stacks apart).
    assert all(labels.get("environment") == "live" for r in got for labels, _ in r.series)


def test_the_bearer_token_endpoint_gets_the_token_from_its_file(live: Live) -> None:
    got = wait_until("a remote-write request with the rendered bearer token",
                     lambda: live.receiver.accepted("/bearer", f"Bearer {TOKEN}"), 60,
                     alive=live.prometheus.check_alive)
    assert any(labels.get("__name__") == "up" for r in got for labels, _ in r.series)


def test_no_request_carries_other_credentials(live: Live) -> None:
    wait_until("requests on both endpoints", lambda: live.receiver.accepted("/basic", basic(USER, PASSWORD))
               and live.receiver.accepted("/bearer", f"Bearer {TOKEN}"), 60, alive=live.prometheus.check_alive)
    with live.receiver.lock:
        seen = {(r.path, r.authorization) for r in live.receiver.received}
    assert seen <= {("/basic", basic(USER, PASSWORD)), ("/basic", basic(USER, ROTATED)), ("/bearer", f"Bearer {TOKEN}")}


def test_a_changed_password_file_is_used_without_a_restart(live: Live) -> None:
    """Prometheus reads the password file for every request (prometheus/common@v0.72.1
    config/http_config.go FileSecret.Fetch): rotating the secret needs no restart."""
    wait_until("the first accepted request", lambda: live.receiver.accepted("/basic", basic(USER, PASSWORD)), 60,
               alive=live.prometheus.check_alive)
    pid = live.prometheus.process.pid
    with live.receiver.lock:
        live.receiver.expected["/basic"] = basic(USER, ROTATED)
    live.password_file.write_text(ROTATED)
    wait_until("a request with the rotated password", lambda: live.receiver.accepted("/basic", basic(USER, ROTATED)),
               60, alive=live.prometheus.check_alive)
    assert live.prometheus.process.pid == pid and live.prometheus.process.poll() is None



# --- highAvailability: the pair's labels, as a deduplicating store needs them ----------------------------

STACK = "prod"  # the stack's name: the default value of the pair's cluster label


@dataclass
class Pair:
    receiver: Receiver
    replicas: list[str]


@pytest.fixture(scope="module")
def ha_pair() -> Iterator[Pair]:
    """Both replicas of a highAvailability stack, each running the rendered `global` (external labels)
    and `remote_write` with POD_NAME set as the pod's downward API sets it, writing to one receiver."""
    prom_ports, (recv_port,) = free_ports(2), free_ports(1)
    settings = parse_settings({"target": "kubernetes", "grafana": {"adminPassword": "live-admin-pw"},
                               "exporters": {"postgres": {"enabled": False}},
                               "prometheus": {"externalLabels": {"environment": "live"}, "remoteWrite": [
                                   {"url": f"http://{LOOPBACK}:{recv_port}/ha", "name": "store",
                                    "queue": {"batchSendDeadline": "1s"}}]}},
                              {"grafana"})
    rendered = yaml.safe_load(render_prometheus_config(settings, load_catalog(), lambda s: s, stack=STACK))
    receiver = Receiver({"/ha": ""})
    server = ThreadingHTTPServer((LOOPBACK, recv_port), receiver.handler())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    replicas = [f"prometheus-{i}" for i in range(len(prom_ports))]
    try:
        with servers_in_tempdir("quikapp-remote-write-ha-") as servers:
            for replica, port in zip(replicas, prom_ports, strict=True):
                base = servers.root / replica
                (base / "data").mkdir(parents=True)
                # Both scrape the same target, as the two replicas of a pair do.
                config = {"global": {**rendered["global"], "scrape_interval": "1s"},
                          "scrape_configs": [{"job_name": "prometheus",
                                              "static_configs": [{"targets": [f"{LOOPBACK}:{prom_ports[0]}"]}]}],
                          "remote_write": rendered["remote_write"]}
                (base / "prometheus.yml").write_text(yaml.safe_dump(config))
                started = servers.start(replica, [
                    require("prometheus"), f"--config.file={base / 'prometheus.yml'}",
                    f"--storage.tsdb.path={base / 'data'}", f"--web.listen-address={LOOPBACK}:{port}"],
                    env={"POD_NAME": replica}, cwd=base)
                servers.wait_http(started, f"http://{LOOPBACK}:{port}/-/ready", timeout=60)
            yield Pair(receiver, replicas)
    finally:
        server.shutdown()
        server.server_close()


def test_both_replicas_send_the_cluster_and_their_own_replica_label(ha_pair: Pair) -> None:
    """What Cortex, Mimir and Amazon Managed Service for Prometheus deduplicate on: `cluster` the same
    from both replicas, `__replica__` each one's own (cortexproject/cortex@v1.21.1 findHALabels reads
    exactly these two names by default). Without them the store keeps both replicas' copies."""

    def per_replica() -> dict[str, list[dict[str, str]]] | None:
        with ha_pair.receiver.lock:
            series = [labels for r in ha_pair.receiver.received for labels, _ in r.series]
        found = {replica: [s for s in series if s.get("__replica__") == replica] for replica in ha_pair.replicas}
        return found if all(found.values()) else None

    found = wait_until("series from both replicas", per_replica, 60)
    with ha_pair.receiver.lock:
        every = [labels for r in ha_pair.receiver.received for labels, _ in r.series]
    # Every series carries both labels; the old single `replica` label is gone.
    assert all(s.get("cluster") == STACK and s.get("__replica__") in ha_pair.replicas for s in every)
    assert not [s for s in every if "replica" in s]
    # The same series from the two replicas differ in __replica__ only: one series once it is dropped.
    up = {replica: {tuple(sorted((k, v) for k, v in s.items() if k != "__replica__"))
                    for s in series if s["__name__"] == "up"} for replica, series in found.items()}
    first, second = (up[r] for r in ha_pair.replicas)
    assert first and first == second, up
