"""Three real Alertmanagers clustered on loopback send ONE notification for an alert they all receive.

highAvailability runs Alertmanager as a 3-member gossip cluster and makes both Prometheus replicas
send every alert to every member (components/render/prometheus.py `_alerting`). Without working
deduplication that is up to six notifications per alert. Here the members run the program's own
flags: the workload's args as the Kubernetes target runs them (components/targets/
kubernetes_layouts.py `StatefulReplicas.workload`: listen and advertise on `[$(POD_IP)]:9094`, one
`--cluster.peer` per member's stable name), with the addresses mapped to loopback (each member
its own ports), and the rendered alertmanager.yml with its receivers pointed at a webhook server
in this test.

One deviation, said here: `--cluster.peer-timeout=2s` instead of the default 15s. A member
waits (its position in the cluster) x peer-timeout before notifying and then skips what the
gossiped notification log says another member sent (prometheus/alertmanager@v0.34.0
notify/notify.go), so the mechanism is the same; the test only waits less for it. Likewise the
two Prometheus replicas resend firing alerts every 5s instead of every minute.
"""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from live_servers import LOOPBACK, Server, Servers, free_ports, get_json, http_get, servers_in_tempdir, wait_until

from components.settings import Settings, TargetKind, parse_settings
from components.workload import Port
from tools import require

MEMBERS = 3
PEER_TIMEOUT = 2.0  # seconds (see the module docstring)
RESEND_DELAY = "5s"  # Prometheus' --rules.alert.resend-delay (default 1m), see below


@dataclass
class Webhook:
    """A receiver for Alertmanager's webhook integration: every POST, in arrival order."""

    port: int
    received: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def notifications(self, alertname: str) -> list[dict[str, Any]]:
        return [body for _, body in list(self.received)
                if any(a["labels"].get("alertname") == alertname for a in body.get("alerts", []))]


@pytest.fixture()
def webhook() -> Iterator[Webhook]:
    (port,) = free_ports(1)
    hook = Webhook(port)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            hook.received.append((self.path, json.loads(body)))
            self.send_response(200)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer((LOOPBACK, port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hook
    finally:
        server.shutdown()
        server.server_close()


def ha_settings(webhook: Webhook) -> Settings:
    """A highAvailability (Kubernetes) stack whose receivers are this test's webhook."""
    return parse_settings({
        "target": "kubernetes",
        "grafana": {"adminPassword": "live-test-only"},
        "exporters": {"postgres": {"enabled": False}},
        "prometheus": {"externalLabels": {"environment": "prod"}},
        "alertmanager": {
            # Longer than the second replica takes to start and send (seconds on a loaded machine): with
            # both replicas' alerts in the group's first notification, the other members' is a repeat
            # their notification log suppresses; a later alert would be "new alerts added", sent again.
            "groupWait": "10s",
            "webhook": {"url": f"http://{LOOPBACK}:{webhook.port}/webhook"},
            "heartbeat": {"url": f"http://{LOOPBACK}:{webhook.port}/heartbeat"},
        },
    }, {"grafana", "alertmanager"})


class _Target:
    """What alertmanager_workload asks of a target: its kind and the operator's address."""

    kind = TargetKind.KUBERNETES

    def operator_url(self, port: Port) -> str:
        return f"http://{LOOPBACK}:{port.container_port}"


def member_dir(root: Path, member: int, settings: Settings) -> Path:
    """A member's directory: its data directory and the rendered alertmanager.yml."""
    from components.render.alertmanager import render_alertmanager_config

    base = root / f"alertmanager-{member}"
    (base / "data").mkdir(parents=True)
    (base / "alertmanager.yml").write_text(render_alertmanager_config(settings))
    return base


def cluster_args(settings: Settings) -> list[str]:
    """The Alertmanager args a highAvailability Kubernetes stack deploys (with the target's cluster flags)."""
    from components.alertmanager import alertmanager_workload
    from components.targets.kubernetes_layouts import layout_for

    workload = layout_for(alertmanager_workload(settings, _Target())).workload  # type: ignore[arg-type]
    return list(workload.args)


def loopback_args(args: list[str], member: int, http: list[int], gossip: list[int], base: Path) -> list[str]:
    """The deployed args for `member`, its addresses mapped to loopback: the pod IP becomes
    127.0.0.1, member i's cluster port `gossip[i]`, its stable DNS name 127.0.0.1."""
    out = []
    for arg in args:
        flag, _, value = arg.partition("=")
        if flag == "--cluster.peer":
            ordinal = int(re.fullmatch(r"alertmanager-(\d+)\.alertmanager-headless:9094",
                                       value).group(1))  # type: ignore[union-attr]
            out.append(f"{flag}={LOOPBACK}:{gossip[ordinal]}")
        elif flag in ("--cluster.listen-address", "--cluster.advertise-address"):
            assert value == "[$(POD_IP)]:9094", arg  # the rendered style: the pod's own IP, bracketed
            out.append(f"{flag}=[{LOOPBACK}]:{gossip[member]}")
        elif flag == "--config.file":
            out.append(f"{flag}={base / 'alertmanager.yml'}")
        elif flag == "--storage.path":
            out.append(f"{flag}={base / 'data'}")
        elif flag == "--web.external-url":
            out.append(f"{flag}=http://{LOOPBACK}:{http[member]}")
        else:
            out.append(arg)
    return [*out, f"--web.listen-address={LOOPBACK}:{http[member]}", f"--cluster.peer-timeout={PEER_TIMEOUT:g}s"]


@dataclass
class Cluster:
    servers: Servers
    members: list[Server]
    http: list[int]

    def url(self, member: int) -> str:
        return f"http://{LOOPBACK}:{self.http[member]}"

    def peers(self, member: int) -> int:
        status = get_json(f"{self.url(member)}/api/v2/status")
        return len(status["cluster"].get("peers") or []) if status["cluster"]["status"] == "ready" else 0


@pytest.fixture()
def cluster(webhook: Webhook) -> Iterator[Cluster]:
    require("alertmanager")
    settings = ha_settings(webhook)
    args = cluster_args(settings)
    assert sum(a.startswith("--cluster.peer=") for a in args) == MEMBERS
    ports = free_ports(2 * MEMBERS)
    http, gossip = ports[:MEMBERS], ports[MEMBERS:]
    with servers_in_tempdir("quikapp-am-cluster-") as servers:
        members = []
        for member in range(MEMBERS):
            base = member_dir(servers.root, member, settings)
            members.append(servers.start(f"alertmanager-{member}",
                                         [require("alertmanager"), *loopback_args(args, member, http, gossip, base)],
                                         cwd=base))
        for member, server in enumerate(members):
            servers.wait_http(server, f"http://{LOOPBACK}:{http[member]}/-/ready")
        found = Cluster(servers, members, http)
        for member, server in enumerate(members):
            wait_until(f"alertmanager-{member} to see {MEMBERS} cluster peers",
                       lambda m=member: found.peers(m) == MEMBERS, 60, alive=server.check_alive)
        yield found


def send_from_both_prometheus_replicas(cluster: Cluster, members: list[int], alertname: str) -> None:
    """What two Prometheus replicas do with one firing alert: each POSTs it to every member.
    The labels are the same from both (the replica external label is dropped for Alertmanager)."""
    now = datetime.now(UTC)
    for replica in ("prometheus-0", "prometheus-1"):
        alert = [{"labels": {"alertname": alertname, "service": "auth-service", "severity": "critical",
                             "environment": "prod"},
                  "annotations": {"summary": f"{alertname} probe"},
                  "startsAt": now.isoformat(), "endsAt": (now + timedelta(minutes=10)).isoformat(),
                  "generatorURL": f"http://{replica}:9090/graph"}]
        for member in members:
            request = urllib.request.Request(
                f"{cluster.url(member)}/api/v2/alerts", data=json.dumps(alert).encode(),
                headers={"Content-Type": "application/json"}, method="POST")
            with urllib.request.urlopen(request, timeout=5) as response:
                assert response.status == 200


def exactly_one_notification(webhook: Webhook, cluster: Cluster, alertname: str, members: int) -> dict[str, Any]:
    """Wait for the first notification, then long enough for every other member to have sent
    its own had it not deduplicated (its position x peer-timeout, plus margin): still one."""
    first = wait_until(f"a notification for {alertname}", lambda: webhook.notifications(alertname)[:1] or None, 30,
                       alive=lambda: [m.check_alive() for m in cluster.members if m.process.poll() is None])
    time.sleep(members * PEER_TIMEOUT + 5)
    got = webhook.notifications(alertname)
    assert len(got) == 1, f"{len(got)} notifications for {alertname}: {json.dumps(got)[:800]}"
    return first[0]


def test_three_members_send_one_notification_for_an_alert_sent_to_all(webhook: Webhook, cluster: Cluster) -> None:
    send_from_both_prometheus_replicas(cluster, list(range(MEMBERS)), "HAProbe")
    notification = exactly_one_notification(webhook, cluster, "HAProbe", MEMBERS)
    assert notification["status"] == "firing" and len(notification["alerts"]) == 1
    # Every member holds the alert (each got it from the Prometheus replicas), one notified.
    for member in range(MEMBERS):
        alerts = get_json(f"{cluster.url(member)}/api/v2/alerts", filter=['alertname="HAProbe"'])
        assert len(alerts) == 1, member


def test_one_member_down_still_one_notification(webhook: Webhook, cluster: Cluster) -> None:
    # A drain or a rolling update takes one member (the PDB allows no more): the other two carry on.
    cluster.members[0].stop()
    survivors = [1, 2]
    send_from_both_prometheus_replicas(cluster, survivors, "HAProbeOneDown")
    notification = exactly_one_notification(webhook, cluster, "HAProbeOneDown", MEMBERS)
    assert notification["status"] == "firing" and len(notification["alerts"]) == 1


def test_without_the_cluster_each_member_notifies(webhook: Webhook, tmp_path: Path) -> None:
    """The test can fail: three members that are not clustered (the single-instance flag
    `--cluster.listen-address=`) each send their own notification for the same alert."""
    settings = ha_settings(webhook)
    http = free_ports(MEMBERS)
    with servers_in_tempdir("quikapp-am-solo-") as servers:
        members = []
        for member in range(MEMBERS):
            base = member_dir(servers.root, member, settings)
            server = servers.start(f"alertmanager-{member}", [
                require("alertmanager"), f"--config.file={base / 'alertmanager.yml'}",
                f"--storage.path={base / 'data'}", f"--web.listen-address={LOOPBACK}:{http[member]}",
                "--cluster.listen-address="], cwd=base)
            servers.wait_http(server, f"http://{LOOPBACK}:{http[member]}/-/ready")
            members.append(server)
        solo = Cluster(servers, members, http)
        send_from_both_prometheus_replicas(solo, list(range(MEMBERS)), "HAProbeSolo")
        wait_until("three notifications", lambda: len(webhook.notifications("HAProbeSolo")) >= MEMBERS, 30)
        assert len(webhook.notifications("HAProbeSolo")) == MEMBERS


# --- the Prometheus pair in front of the cluster ------------------------------------------------

PAIR_RULES = """groups:
  - name: ha-pair
    rules:
      - alert: HAPair
        expr: vector(1)
        labels: {severity: critical, service: auth-service}
        annotations: {summary: both replicas fire this}
"""


def pair_config(settings: Settings, cluster: Cluster, rules: Path, *, drop_replica: bool) -> dict[str, Any]:
    """The rendered prometheus.yml of a highAvailability stack as each replica runs it, with two
    substitutions for loopback: the Alertmanager members as static addresses instead of their
    discovery from the Kubernetes API (the relabelling that keeps them refers to its labels), and
    a 1s evaluation interval with this test's one rule. External labels and alert_relabel_configs
    stay as rendered (`drop_replica=False` removes the labeldrop, to show what it does)."""
    from components.catalog import load_catalog
    from components.render.prometheus import render_prometheus_config

    config: dict[str, Any] = yaml.safe_load(render_prometheus_config(settings, load_catalog(), lambda s: s,
                                                                     stack="prod"))
    (managers,) = config["alerting"]["alertmanagers"]
    assert managers["relabel_configs"][0]["regex"] == "alertmanager;9093"  # every member, not the Service
    config["alerting"]["alertmanagers"] = [{"static_configs": [{"targets": [
        f"{LOOPBACK}:{port}" for port in cluster.http]}]}]
    if not drop_replica:
        del config["alerting"]["alert_relabel_configs"]
    config["global"]["evaluation_interval"] = "1s"
    config["rule_files"] = [str(rules)]
    config["scrape_configs"] = []
    return config


def sent_to_members(port: int) -> int:
    """How many Alertmanagers a Prometheus has delivered at least one alert to (its own metrics)."""
    _, body = http_get(f"http://{LOOPBACK}:{port}/metrics")
    sent = re.findall(r'^prometheus_notifications_sent_total\{alertmanager="[^"]+"\} (\S+)$', body, flags=re.M)
    return sum(float(v) > 0 for v in sent)


@pytest.mark.parametrize("drop_replica", [True, False], ids=["rendered", "without-labeldrop"])
def test_two_prometheus_replicas_and_three_members_notify_once(webhook: Webhook, cluster: Cluster,
                                                              drop_replica: bool) -> None:
    settings = ha_settings(webhook)
    root = cluster.servers.root
    rules = root / "ha-pair.yml"
    rules.write_text(PAIR_RULES)
    ports = free_ports(2)
    for replica, port in enumerate(ports):
        base = root / f"prometheus-{replica}"
        (base / "data").mkdir(parents=True)
        config = base / "prometheus.yml"
        config.write_text(yaml.safe_dump(pair_config(settings, cluster, rules, drop_replica=drop_replica)))
        server = cluster.servers.start(f"prometheus-{replica}", [
            require("prometheus"), f"--config.file={config}", f"--storage.tsdb.path={base / 'data'}",
            f"--web.listen-address={LOOPBACK}:{port}", f"--rules.alert.resend-delay={RESEND_DELAY}"],
            env={"POD_NAME": f"prometheus-{replica}"}, cwd=base)
        cluster.servers.wait_http(server, f"http://{LOOPBACK}:{port}/-/ready", timeout=60)
        # The replica's own name, expanded from the downward-API variable the pod gets.
        loaded = yaml.safe_load(get_json(f"http://{LOOPBACK}:{port}/api/v1/status/config")["data"]["yaml"])
        assert loaded["global"]["external_labels"] == {"environment": "prod", "cluster": "prod",
                                                       "__replica__": f"prometheus-{replica}"}
    # Both replicas have sent the alert to every member before the counts below are read.
    for port in ports:
        # An alert that fires before the members are discovered (the discovery's first update can
        # take a few seconds) is sent again only with the next resend, after
        # --rules.alert.resend-delay (1m by default, RESEND_DELAY here): an alert goes only to the
        # send loops that exist (prometheus/prometheus@v3.14.0 notifier/alertmanagerset.go send),
        # created per member once discovered; seen with 3.16.
        wait_until(f"prometheus on {port} to notify all {MEMBERS} members",
                   lambda p=port: sent_to_members(p) >= MEMBERS, 60)
    notification = exactly_one_notification(webhook, cluster, "HAPair", MEMBERS)
    alerts = get_json(f"{cluster.url(0)}/api/v2/alerts", filter=['alertname="HAPair"'])
    if drop_replica:
        # One alert from both replicas: no replica label, the other external labels kept.
        assert len(notification["alerts"]) == 1 and len(alerts) == 1
        assert alerts[0]["labels"]["environment"] == "prod" and "__replica__" not in alerts[0]["labels"]
        assert alerts[0]["labels"]["cluster"] == "prod"
    else:
        # Two alerts (one per replica) in the same group: what the labeldrop prevents.
        assert len(alerts) == 2
        assert sorted(a["labels"]["__replica__"] for a in alerts) == ["prometheus-0", "prometheus-1"]
