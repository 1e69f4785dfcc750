"""The rendered routing, run by the real Alertmanager against stand-ins for every integration.

Alertmanager (built by scripts/upstream-tools.sh at the deployed version) runs the rendered
alertmanager.yml and quikapp.tmpl with every integration configured. The integrations' endpoints are
settable (PagerDuty `url`, Opsgenie `api_url`, the Slack, Teams, webhook and heartbeat URLs, the SMTP
smarthost), so each points at a recorder on 127.0.0.1: an HTTP server and a minimal SMTP server in
this process, which keep what Alertmanager sends. Alerts are posted to Alertmanager's API directly,
labelled as the rules and scrape jobs label them (`ALERTS`): what the inhibit rules mute and what they
must not (issue 18: (a) another mount, (b) one replica of three, (c) the same alert's warning twin,
(d) a whole service down), how notifications are grouped (one pod, one node) and what each
integration receives.
"""

from __future__ import annotations

import email
import email.policy
import json
import socketserver
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from live_servers import LOOPBACK, free_ports, get_json, servers_in_tempdir, start_alertmanager, wait_until

from components.render.alertmanager import (
    TEMPLATE_NAME,
    render_alertmanager_config,
    render_alertmanager_template,
)
from components.settings import parse_settings
from mockengine.stand_ins import with_secrets

pytestmark = pytest.mark.live

GRAFANA = "http://grafana.quikapp.test:3030"
RUNBOOKS = "https://git.quikapp.test/monitoring/blob/main/"
GRAFANA_AUTH = f"{GRAFANA}/d/quikapp-service?var-service=auth"
QUIET = 5.0  # seconds without a further notification (every group_wait here is 1s)


@dataclass
class Recorder:
    """What the stand-ins received: (path, JSON body, headers) per HTTP request, raw text per e-mail."""

    http: list[tuple[str, Any, dict[str, str]]] = field(default_factory=list)
    mails: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def bodies(self, prefix: str) -> list[Any]:
        with self.lock:
            return [body for path, body, _ in self.http if path.startswith(prefix)]

    def headers(self, prefix: str) -> list[dict[str, str]]:
        with self.lock:
            return [headers for path, _, headers in self.http if path.startswith(prefix)]

    def count(self) -> int:
        with self.lock:
            return len(self.http) + len(self.mails)


def http_stand_in(recorder: Recorder, port: int) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # every integration here POSTs JSON
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"null")
            with recorder.lock:
                recorder.http.append((self.path, body, dict(self.headers.items())))
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(b"ok")  # what a Slack webhook answers

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer((LOOPBACK, port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def smtp_stand_in(recorder: Recorder, port: int) -> socketserver.ThreadingTCPServer:
    """Just enough SMTP (RFC 5321: greeting, EHLO, MAIL, RCPT, DATA, QUIT) for Go's net/smtp client."""
    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            self.wfile.write(b"220 stand-in ESMTP\r\n")
            lines: list[bytes] | None = None
            for line in self.rfile:
                if lines is not None:  # inside DATA
                    if line.rstrip(b"\r\n") == b".":
                        with recorder.lock:
                            recorder.mails.append(b"".join(lines).decode())
                        lines = None
                        self.wfile.write(b"250 accepted\r\n")
                    else:
                        lines.append(line[1:] if line.startswith(b"..") else line)
                    continue
                verb = line[:4].upper()
                if verb == b"DATA":
                    lines = []
                    self.wfile.write(b"354 go ahead\r\n")
                elif verb == b"QUIT":
                    self.wfile.write(b"221 bye\r\n")
                    return
                else:  # EHLO (no extensions offered), MAIL, RCPT, RSET, NOOP
                    self.wfile.write(b"250 ok\r\n")

    server = socketserver.ThreadingTCPServer((LOOPBACK, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def mail_text(raw: str) -> str:
    """Subject and every decoded part of a MIME message (Alertmanager writes quoted-printable)."""
    message = email.message_from_string(raw, policy=email.policy.default)
    parts = [str(message["Subject"])]
    for part in message.walk():
        if not part.is_multipart():
            parts.append(part.get_content())
    return "\n".join(parts)


@dataclass
class Live:
    alertmanager: str
    recorder: Recorder


@pytest.fixture(scope="module")
def live() -> Iterator[Live]:
    am_port, http_port, smtp_port = free_ports(3)
    stand_in = f"http://{LOOPBACK}:{http_port}"
    secrets = {
        ("alertmanager", "pagerduty", "routingKey"): "pd-routing-key",
        ("alertmanager", "opsgenie", "apiKey"): "og-api-key",
        ("alertmanager", "slack", "apiUrl"): f"{stand_in}/slack",
        ("alertmanager", "msteams", "webhookUrl"): f"{stand_in}/teams",
        ("alertmanager", "webhook", "url"): f"{stand_in}/webhook",
        ("alertmanager", "heartbeat", "url"): f"{stand_in}/heartbeat",
        ("grafana", "adminPassword"): "unused",
    }
    fast = {"groupWait": "1s", "groupInterval": "1s", "repeatInterval": "1h"}
    values = {"target": "docker", "exporters": {"postgres": {"enabled": False}}, "alertmanager": {
        **fast,
        "routes": {"pager": fast, "chat": fast},
        "pagerduty": {"url": f"{stand_in}/pagerduty"},
        "opsgenie": {"apiUrl": f"{stand_in}/opsgenie"},  # "/" appended by the render (the notifier adds v2/alerts)
        "slack": {"channel": "#quikapp-alerts"},
        "msteams": {},
        "webhook": {},
        "email": {"to": "oncall@quikapp.test", "from": "alertmanager@quikapp.test",
                  "smarthost": f"{LOOPBACK}:{smtp_port}", "requireTls": False},
        "heartbeat": {"interval": "1h"},
        "runbookBaseUrl": RUNBOOKS,
    }}
    settings = parse_settings(*with_secrets(values, secrets))
    recorder = Recorder()
    servers = [http_stand_in(recorder, http_port), smtp_stand_in(recorder, smtp_port)]
    try:
        with servers_in_tempdir("quikapp-routing-") as running:
            base = running.root / "alertmanager"
            base.mkdir()
            (base / TEMPLATE_NAME).write_text(render_alertmanager_template(settings, GRAFANA))
            start_alertmanager(running, render_alertmanager_config(settings), am_port)
            yield Live(f"http://{LOOPBACK}:{am_port}", recorder)
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


def shipped(anchor: str) -> str:
    """A project runbook link as the shipped rules carry it (render/runbooks.py)."""
    return f"{RUNBOOKS}docs/runbooks.md#{anchor}"


NODE_FS_RUNBOOK = "https://runbooks.prometheus-operator.dev/runbooks/node/nodefilesystemalmostoutofspace"
NODE_A = {"service": "node-exporter", "instance": "node-a:9100", "job": "node-exporter"}
NODE_B = {"service": "node-exporter", "instance": "node-b:9100", "job": "node-exporter"}
ROOT_FS = {"mountpoint": "/", "device": "/dev/sda1", "fstype": "ext4"}
DATA_FS = {"mountpoint": "/data", "device": "/dev/sdb1", "fstype": "xfs"}
PROMETHEUS = {"service": "prometheus", "instance": "localhost:9090", "job": "prometheus"}
AUTH_POD_A = {"service": "auth", "job": "nestjs-services", "instance": "10.1.0.11:3000", "namespace": "quikapp",
              "pod": "auth-6b7c8d9e0-aaaaa"}
PAYMENTS_POD_A = {"service": "payments", "job": "nestjs-services", "instance": "10.1.0.31:3000",
                  "namespace": "quikapp", "pod": "payments-1a2b3c4d5-aaaaa"}
CADVISOR = {"service": "cadvisor", "job": "cadvisor"}
SEARCH_ON_NODE_A = {**CADVISOR, "instance": "node-a", "namespace": "quikapp", "pod": "search-7d9f8b6c4-x2v9k",
                    "container": "search"}
AUTH_ON_NODE_B = {**CADVISOR, "instance": "node-b", "namespace": "quikapp", "pod": "auth-6b7c8d9e0-bbbbb",
                  "container": "auth"}


def alert(case: str, name: str, severity: str, runbook: str, **labels: str) -> dict[str, Any]:
    """An alert as Prometheus posts it; `case` (an annotation, not part of its identity) names it here."""
    return {"labels": {"alertname": name, "severity": severity, **labels},
            "annotations": {"summary": f"{name} on {labels.get('service', 'nothing')}", "runbook_url": runbook,
                            "case": case},
            "generatorURL": "http://127.0.0.1:9090/graph"}


ALERTS = [
    # (b) One replica of auth's three is down: its error rate (from the two serving) stays news.
    alert("auth-replica-down", "ServiceDown", "critical", shipped("servicedown"), **AUTH_POD_A),
    alert("auth-error-rate", "HighErrorRate", "warning", shipped("higherrorrate"), service="auth"),
    # (d) Every target of payments is down: its rates and its targets' ServiceDown are consequences.
    alert("payments-all-down", "ServiceAllTargetsDown", "critical", shipped("servicealltargetsdown"),
          service="payments", job="nestjs-services"),
    alert("payments-replica-down", "ServiceDown", "critical", shipped("servicedown"), **PAYMENTS_POD_A),
    alert("payments-latency", "HighLatency", "warning", shipped("highlatency"), service="payments"),
    alert("payments-error-rate", "HighErrorRate", "warning", shipped("higherrorrate"), service="payments"),
    # (c) A critical disk alert mutes its own warning twin: same alert, node and mount.
    alert("root-fs-critical", "NodeFilesystemAlmostOutOfSpace", "critical", NODE_FS_RUNBOOK, **NODE_A, **ROOT_FS),
    alert("root-fs-warning", "NodeFilesystemAlmostOutOfSpace", "warning", NODE_FS_RUNBOOK, **NODE_A, **ROOT_FS),
    # (a) ...but not the warning of another mount of that node, nor of another node.
    alert("data-fs-warning", "NodeFilesystemAlmostOutOfSpace", "warning", NODE_FS_RUNBOOK, **NODE_A, **DATA_FS),
    alert("node-b-fs-warning", "NodeFilesystemAlmostOutOfSpace", "warning", NODE_FS_RUNBOOK, **NODE_B, **ROOT_FS),
    alert("node-b-clock", "NodeClockSkewDetected", "warning",
          "https://runbooks.prometheus-operator.dev/runbooks/node/nodeclockskewdetected", **NODE_B),
    # A critical Prometheus alert does not mute another alert of the same Prometheus (issue 18).
    alert("prometheus-bad-config", "PrometheusBadConfig", "critical",
          "https://runbooks.prometheus-operator.dev/runbooks/prometheus/prometheusbadconfig", **PROMETHEUS),
    alert("prometheus-no-alertmanager", "PrometheusNotConnectedToAlertmanagers", "warning",
          "https://runbooks.prometheus-operator.dev/runbooks/prometheus/prometheusnotconnectedtoalertmanagers",
          **PROMETHEUS),
    # Grouping: two pods' container alerts on two nodes (the kubelet's cAdvisor: service cadvisor).
    alert("search-memory", "ContainerMemoryNearLimit", "warning", shipped("containermemorynearlimit"),
          **SEARCH_ON_NODE_A),
    alert("auth-memory", "ContainerMemoryNearLimit", "warning", shipped("containermemorynearlimit"), **AUTH_ON_NODE_B),
    alert("watchdog", "Watchdog", "none", "https://runbooks.prometheus-operator.dev/runbooks/general/watchdog"),
    # The catalog's SLO alerts (render/slo.py): an objective's page mutes its own ticket, not the ticket
    # of the service's other objective.
    alert("checkout-availability-page", "ErrorBudgetBurn", "critical", shipped("errorbudgetburn"),
          service="checkout", slo="availability"),
    alert("checkout-availability-ticket", "ErrorBudgetBurn", "warning", shipped("errorbudgetburn"),
          service="checkout", slo="availability"),
    alert("checkout-latency-ticket", "ErrorBudgetBurn", "warning", shipped("errorbudgetburn"),
          service="checkout", slo="latency"),
]
# Muted alert -> the alert that mutes it.
MUTED = {"payments-replica-down": "payments-all-down", "payments-latency": "payments-all-down",
         "payments-error-rate": "payments-all-down", "root-fs-warning": "root-fs-critical",
         "checkout-availability-ticket": "checkout-availability-page"}


def post_alerts(url: str, alerts: list[dict[str, Any]]) -> None:
    request = urllib.request.Request(f"{url}/api/v2/alerts", data=json.dumps(alerts).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200


@pytest.fixture(scope="module")
def delivered(live: Live) -> Recorder:
    """Post the alerts, wait for every expected notification, then for a quiet spell."""
    post_alerts(live.alertmanager, ALERTS)
    expected = ["/pagerduty", "/opsgenie/v2/alerts", "/slack", "/teams", "/webhook", "/heartbeat"]
    wait_until("a notification on every stand-in", lambda: all(live.recorder.bodies(p) for p in expected)
               and live.recorder.mails, timeout=30)
    last, since = live.recorder.count(), time.monotonic()
    while time.monotonic() - since < QUIET:  # a muted alert sent late would arrive within a group_wait
        time.sleep(0.5)
        if live.recorder.count() != last:
            last, since = live.recorder.count(), time.monotonic()
    return live.recorder


@pytest.fixture(scope="module")
def states(live: Live, delivered: Recorder) -> dict[str, tuple[str, list[str]]]:
    """{case: (state, [cases of the alerts that mute it])} as Alertmanager's API reports them."""
    alerts = get_json(f"{live.alertmanager}/api/v2/alerts")
    case_of = {a["fingerprint"]: a["annotations"]["case"] for a in alerts}
    assert sorted(case_of.values()) == sorted(a["annotations"]["case"] for a in ALERTS)
    return {a["annotations"]["case"]: (a["status"]["state"], [case_of[fp] for fp in a["status"]["inhibitedBy"]])
            for a in alerts}


def alertnames(body: Any) -> set[str]:
    """Alert names in an Alertmanager webhook body."""
    return {a["labels"]["alertname"] for a in body["alerts"]}


def cases_in(body: Any) -> list[str]:
    return sorted(a["annotations"]["case"] for a in body["alerts"])


def everything(recorder: Recorder) -> str:
    return json.dumps([body for _, body, _ in recorder.http]) + "".join(recorder.mails)


# --- inhibitions ------------------------------------------------------------------------------------------------


def test_a_critical_on_one_mount_leaves_the_warnings_of_other_mounts_and_nodes(
        states: dict[str, tuple[str, list[str]]], delivered: Recorder) -> None:
    """(a) A critical NodeFilesystemAlmostOutOfSpace on / of node-a: the warning for /data of the same
    node (and for another node) still notifies."""
    assert states["data-fs-warning"] == ("active", [])
    assert states["node-b-fs-warning"] == ("active", [])
    webhook = [c for body in delivered.bodies("/webhook") for c in cases_in(body)]
    assert "data-fs-warning" in webhook and "node-b-fs-warning" in webhook


def test_one_replica_down_leaves_the_error_rate_of_the_service(
        states: dict[str, tuple[str, list[str]]], delivered: Recorder) -> None:
    """(b) One replica of three down (ServiceDown of one pod): HighErrorRate of the service is news."""
    assert states["auth-replica-down"] == ("active", [])
    assert states["auth-error-rate"] == ("active", [])
    slack = [a["title"] for body in delivered.bodies("/slack") for a in body["attachments"]]
    assert "[FIRING:1] HighErrorRate - service auth" in slack


def test_a_critical_mutes_the_warning_of_the_same_alert_and_target(
        states: dict[str, tuple[str, list[str]]], delivered: Recorder) -> None:
    """(c) The critical disk alert of node-a's / mutes the warning of node-a's /, and only that."""
    assert states["root-fs-warning"] == ("suppressed", ["root-fs-critical"])
    assert states["root-fs-critical"] == ("active", [])
    assert "root-fs-warning" not in everything(delivered)


def test_the_whole_service_down_mutes_its_rates_and_its_targets(
        states: dict[str, tuple[str, list[str]]], delivered: Recorder) -> None:
    """(d) ServiceAllTargetsDown mutes the service's HighLatency, HighErrorRate and each target's
    ServiceDown: one page for the outage."""
    for case in ("payments-latency", "payments-error-rate", "payments-replica-down"):
        assert states[case] == ("suppressed", ["payments-all-down"]), case
    assert states["payments-all-down"] == ("active", [])
    pages = [b["payload"]["summary"] for b in delivered.bodies("/pagerduty") if "payments" in b["payload"]["summary"]]
    assert pages == ["[FIRING:1] ServiceAllTargetsDown - service payments: ServiceAllTargetsDown on payments"]


def test_an_slo_page_mutes_its_own_ticket_not_the_other_objectives(
        states: dict[str, tuple[str, list[str]]], delivered: Recorder) -> None:
    """The availability budget of checkout burns fast (page) and its latency budget slowly (ticket): the
    page mutes the availability ticket only; the latency ticket still reaches chat."""
    assert states["checkout-availability-ticket"] == ("suppressed", ["checkout-availability-page"])
    assert states["checkout-latency-ticket"] == ("active", [])
    webhook = [c for body in delivered.bodies("/webhook") for c in cases_in(body)]
    assert "checkout-latency-ticket" in webhook and "checkout-availability-ticket" not in webhook


def test_a_critical_prometheus_alert_leaves_its_other_warnings(states: dict[str, tuple[str, list[str]]]) -> None:
    assert states["prometheus-no-alertmanager"] == ("active", [])


def test_nothing_else_is_muted(states: dict[str, tuple[str, list[str]]], delivered: Recorder) -> None:
    assert {case for case, (state, _) in states.items() if state != "active"} == set(MUTED)
    for muted, source in MUTED.items():
        assert states[muted] == ("suppressed", [source]), muted
        assert muted not in everything(delivered)


# --- grouping ---------------------------------------------------------------------------------------------------


def test_one_pods_and_one_nodes_alerts_are_notified_apart(delivered: Recorder) -> None:
    """Two pods' ContainerMemoryNearLimit (service cadvisor, on two nodes) are two notifications, each
    naming its pod; the same disk alert on two nodes is two notifications. With `group_by: [alertname,
    service]` each pair was one notification."""
    webhook = delivered.bodies("/webhook")
    containers = [b for b in webhook if alertnames(b) == {"ContainerMemoryNearLimit"}]
    assert sorted(cases_in(b)[0] for b in containers) == ["auth-memory", "search-memory"]
    assert all(len(b["alerts"]) == 1 for b in containers)
    assert sorted((b["groupLabels"]["pod"], b["groupLabels"]["instance"]) for b in containers) == [
        ("auth-6b7c8d9e0-bbbbb", "node-b"), ("search-7d9f8b6c4-x2v9k", "node-a")]
    disks = {b["groupLabels"]["instance"]: cases_in(b) for b in webhook
             if alertnames(b) == {"NodeFilesystemAlmostOutOfSpace"}}
    assert disks == {"node-a:9100": ["data-fs-warning", "root-fs-critical"], "node-b:9100": ["node-b-fs-warning"]}
    slack = [a["title"] for body in delivered.bodies("/slack") for a in body["attachments"]]
    assert "[FIRING:1] ContainerMemoryNearLimit - service cadvisor, pod quikapp/search-7d9f8b6c4-x2v9k" in slack
    assert "[FIRING:1] ContainerMemoryNearLimit - service cadvisor, pod quikapp/auth-6b7c8d9e0-bbbbb" in slack


# --- what each integration receives ---------------------------------------------------------------------------

RUNBOOK_SERVICE_DOWN = shipped("servicedown")
AUTH_TITLE = "[FIRING:1] ServiceDown - service auth, pod quikapp/auth-6b7c8d9e0-aaaaa"


def test_the_critical_pages_with_service_runbook_and_grafana(delivered: Recorder) -> None:
    (pagerduty,) = [b for b in delivered.bodies("/pagerduty") if b["payload"]["component"] == "auth"]
    assert pagerduty["routing_key"] == "pd-routing-key" and pagerduty["event_action"] == "trigger"
    payload = pagerduty["payload"]
    assert payload["summary"] == f"{AUTH_TITLE}: ServiceDown on auth"
    assert payload["severity"] == "critical" and payload["class"] == "ServiceDown"
    details = payload["custom_details"]
    assert (details["service"], details["runbook"], details["grafana"]) == ("auth", RUNBOOK_SERVICE_DOWN, GRAFANA_AUTH)
    assert pagerduty["links"] == [{"href": RUNBOOK_SERVICE_DOWN, "text": "Runbook"},
                                  {"href": GRAFANA_AUTH, "text": "Grafana"}]
    (opsgenie,) = [b for b in delivered.bodies("/opsgenie/v2/alerts") if "service auth" in b["message"]]
    assert delivered.headers("/opsgenie")[0]["Authorization"] == "GenieKey og-api-key"
    assert opsgenie["message"] == AUTH_TITLE and opsgenie["priority"] == "P1"
    # The notifier puts the common labels in `details` too (notify/opsgenie/opsgenie.go), then ours.
    assert opsgenie["details"] == {"alertname": "ServiceDown", "severity": "critical", **AUTH_POD_A,
                                   "runbook": RUNBOOK_SERVICE_DOWN, "grafana": GRAFANA_AUTH}
    assert RUNBOOK_SERVICE_DOWN in opsgenie["description"] and GRAFANA_AUTH in opsgenie["description"]
    where = "service: auth, namespace quikapp, pod auth-6b7c8d9e0-aaaaa, instance 10.1.0.11:3000"
    assert where in opsgenie["description"]


def test_chat_and_email_carry_the_links_too(delivered: Recorder) -> None:
    slack = {a["title"]: a for body in delivered.bodies("/slack") for a in body["attachments"]}
    auth = slack[AUTH_TITLE]
    assert auth["title_link"] == GRAFANA_AUTH
    assert RUNBOOK_SERVICE_DOWN in auth["text"] and "service: auth, namespace quikapp" in auth["text"]
    teams = json.dumps(delivered.bodies("/teams"))
    assert AUTH_TITLE in teams and RUNBOOK_SERVICE_DOWN in teams and GRAFANA_AUTH in teams
    mails = [mail_text(m) for m in delivered.mails]
    (auth_mail,) = [m for m in mails if AUTH_TITLE in m]
    assert f'<a href="{RUNBOOK_SERVICE_DOWN}">' in auth_mail and f'<a href="{GRAFANA_AUTH}">' in auth_mail


def test_routes_by_severity(delivered: Recorder) -> None:
    """critical → pager, chat, e-mail/webhook; a warning → chat, e-mail/webhook, never the pager."""
    pages = ["[FIRING:1] ErrorBudgetBurn - service checkout",
             "[FIRING:1] NodeFilesystemAlmostOutOfSpace - service node-exporter, node-a:9100",
             "[FIRING:1] PrometheusBadConfig - service prometheus, localhost:9090",
             "[FIRING:1] ServiceAllTargetsDown - service payments", AUTH_TITLE]
    assert sorted(b["payload"]["summary"].split(": ")[0] for b in delivered.bodies("/pagerduty")) == pages
    assert sorted(b["message"] for b in delivered.bodies("/opsgenie")) == pages
    titles = sorted([
        AUTH_TITLE, "[FIRING:1] HighErrorRate - service auth", "[FIRING:1] ServiceAllTargetsDown - service payments",
        "[FIRING:2] NodeFilesystemAlmostOutOfSpace - service node-exporter, node-a:9100",
        "[FIRING:1] NodeFilesystemAlmostOutOfSpace - service node-exporter, node-b:9100",
        "[FIRING:1] NodeClockSkewDetected - service node-exporter, node-b:9100",
        "[FIRING:1] PrometheusBadConfig - service prometheus, localhost:9090",
        "[FIRING:1] PrometheusNotConnectedToAlertmanagers - service prometheus, localhost:9090",
        "[FIRING:1] ContainerMemoryNearLimit - service cadvisor, pod quikapp/search-7d9f8b6c4-x2v9k",
        "[FIRING:1] ContainerMemoryNearLimit - service cadvisor, pod quikapp/auth-6b7c8d9e0-bbbbb",
        # The page of one objective and the ticket of the other: one group (alertname, service).
        "[FIRING:2] ErrorBudgetBurn - service checkout"])
    assert sorted(a["title"] for b in delivered.bodies("/slack") for a in b["attachments"]) == titles
    assert sorted(str(email.message_from_string(m, policy=email.policy.default)["Subject"])
                  for m in delivered.mails) == titles
    webhook = sorted(c for b in delivered.bodies("/webhook") for c in cases_in(b))
    assert webhook == sorted(a["annotations"]["case"] for a in ALERTS
                             if a["annotations"]["case"] not in MUTED and a["labels"]["alertname"] != "Watchdog")


def test_the_watchdog_reaches_the_heartbeat_only(delivered: Recorder) -> None:
    heartbeats = delivered.bodies("/heartbeat")
    assert heartbeats and all(alertnames(b) == {"Watchdog"} for b in heartbeats)
    others = json.dumps([body for path, body, _ in delivered.http if not path.startswith("/heartbeat")])
    assert "Watchdog" not in others and not any("Watchdog" in m for m in delivered.mails)


def test_the_smtp_stand_in_receives_from_a_standard_client() -> None:
    """The e-mail checks above rely on the stand-in: it takes a mail from Python's own SMTP client too."""
    import smtplib

    recorder = Recorder()
    (port,) = free_ports(1)
    server = smtp_stand_in(recorder, port)
    try:
        with smtplib.SMTP(LOOPBACK, port, timeout=5) as client:
            client.sendmail("a@quikapp.test", ["b@quikapp.test"], "Subject: hi\r\n\r\nbody\r\n")
        assert "body" in mail_text(recorder.mails[0])
    finally:
        server.shutdown()
        server.server_close()
