"""The rendered routing, run by the real Alertmanager against stand-ins for every integration.

Alertmanager (built by scripts/upstream-tools.sh at the deployed version) runs the rendered
alertmanager.yml and quikapp.tmpl with every integration configured. The integrations' endpoints are
settable (PagerDuty `url`, Opsgenie `api_url`, the Slack, Teams, webhook and heartbeat URLs, the SMTP
smarthost), so each points at a recorder on 127.0.0.1: an HTTP server and a minimal SMTP server in
this process, which keep what Alertmanager sends. Alerts are posted to Alertmanager's API directly:
a critical and two warnings for the same service, a warning for another service, a node's critical
with warnings on that node and another, and the Watchdog.
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
from harness import with_secrets

pytestmark = pytest.mark.live

GRAFANA = "http://grafana.quikapp.test:3030"
RUNBOOKS = "https://git.quikapp.test/monitoring/blob/main/"
GRAFANA_AUTH = f"{GRAFANA}/d/quikapp-service?var-service=auth"
RUNBOOK_SERVICE_DOWN = f"{RUNBOOKS}docs/runbooks.md#servicedown"
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


NODE_RUNBOOK = "https://runbooks.prometheus-operator.dev/runbooks/node/nodefilesystemalmostoutofspace"
NODE_A = {"service": "node-exporter", "instance": "node-a:9100", "job": "node"}
NODE_B = {"service": "node-exporter", "instance": "node-b:9100", "job": "node"}


def alert(name: str, severity: str, runbook: str, **labels: str) -> dict[str, Any]:
    return {"labels": {"alertname": name, "severity": severity, **labels},
            "annotations": {"summary": f"{name} on {labels.get('service', 'nothing')}", "runbook_url": runbook},
            "generatorURL": "http://127.0.0.1:9090/graph"}


ALERTS = [
    alert("ServiceDown", "critical", "docs/runbooks.md#servicedown", service="auth", instance="auth:8080",
          job="quikapp-services"),
    # Muted by the down target (same service, aggregated: no instance).
    alert("HighErrorRate", "warning", "docs/runbooks.md#higherrorrate", service="auth"),
    # Muted by the critical (same service and instance).
    alert("HighMemoryUsage", "warning", "docs/runbooks.md#highmemoryusage", service="auth", instance="auth:8080",
          job="quikapp-services"),
    # Another service: nothing mutes it.
    alert("HighLatency", "warning", "docs/runbooks.md#highlatency", service="payments"),
    alert("Watchdog", "none", "https://runbooks.prometheus-operator.dev/runbooks/general/watchdog"),
    # An exporter's alerts carry the exporter as `service`: a critical on one node mutes its warning
    # twin on that node, not another node's warnings.
    alert("NodeFilesystemAlmostOutOfSpace", "critical", NODE_RUNBOOK, **NODE_A),
    alert("NodeFilesystemAlmostOutOfSpace", "warning", NODE_RUNBOOK, **NODE_A),
    alert("NodeClockSkewDetected", "warning", NODE_RUNBOOK, **NODE_B),
]
MUTED = {("HighErrorRate", "warning", ""), ("HighMemoryUsage", "warning", "auth:8080"),
         ("NodeFilesystemAlmostOutOfSpace", "warning", NODE_A["instance"])}


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


def alertnames(body: Any) -> set[str]:
    """Alert names in an Alertmanager webhook body."""
    return {a["labels"]["alertname"] for a in body["alerts"]}


def identity(labels: dict[str, str]) -> tuple[str, str, str]:
    return labels["alertname"], labels.get("severity", ""), labels.get("instance", "")


def test_the_critical_pages_with_service_runbook_and_grafana(delivered: Recorder) -> None:
    (pagerduty,) = [b for b in delivered.bodies("/pagerduty") if b["payload"]["class"] == "ServiceDown"]
    assert pagerduty["routing_key"] == "pd-routing-key" and pagerduty["event_action"] == "trigger"
    payload = pagerduty["payload"]
    assert payload["summary"] == "[FIRING:1] ServiceDown - service auth: ServiceDown on auth"
    assert payload["severity"] == "critical" and payload["component"] == "auth" and payload["class"] == "ServiceDown"
    details = payload["custom_details"]
    assert (details["service"], details["runbook"], details["grafana"]) == ("auth", RUNBOOK_SERVICE_DOWN, GRAFANA_AUTH)
    assert pagerduty["links"] == [{"href": RUNBOOK_SERVICE_DOWN, "text": "Runbook"},
                                  {"href": GRAFANA_AUTH, "text": "Grafana"}]
    (opsgenie,) = [b for b in delivered.bodies("/opsgenie/v2/alerts") if "ServiceDown" in b["message"]]
    assert delivered.headers("/opsgenie")[0]["Authorization"] == "GenieKey og-api-key"
    assert opsgenie["message"] == "[FIRING:1] ServiceDown - service auth" and opsgenie["priority"] == "P1"
    # The notifier puts the common labels in `details` too (notify/opsgenie/opsgenie.go), then ours.
    assert opsgenie["details"] == {"alertname": "ServiceDown", "severity": "critical", "instance": "auth:8080",
                                   "job": "quikapp-services", "service": "auth", "runbook": RUNBOOK_SERVICE_DOWN,
                                   "grafana": GRAFANA_AUTH}
    assert RUNBOOK_SERVICE_DOWN in opsgenie["description"] and GRAFANA_AUTH in opsgenie["description"]


def test_chat_and_email_carry_the_links_too(delivered: Recorder) -> None:
    slack = {a["title"]: a for body in delivered.bodies("/slack") for a in body["attachments"]}
    auth = slack["[FIRING:1] ServiceDown - service auth"]
    assert auth["title_link"] == GRAFANA_AUTH
    assert RUNBOOK_SERVICE_DOWN in auth["text"] and "service: auth" in auth["text"]
    teams = json.dumps(delivered.bodies("/teams"))
    assert "ServiceDown - service auth" in teams and RUNBOOK_SERVICE_DOWN in teams and GRAFANA_AUTH in teams
    mails = [mail_text(m) for m in delivered.mails]
    (auth_mail,) = [m for m in mails if "ServiceDown - service auth" in m]
    assert f'<a href="{RUNBOOK_SERVICE_DOWN}">' in auth_mail and f'<a href="{GRAFANA_AUTH}">' in auth_mail


def test_routes_by_severity(delivered: Recorder) -> None:
    """critical → pager, chat, e-mail/webhook; a warning → chat, e-mail/webhook, never the pager."""
    assert sorted(b["payload"]["class"] for b in delivered.bodies("/pagerduty")) == [
        "NodeFilesystemAlmostOutOfSpace", "ServiceDown"]
    assert sorted(b["message"] for b in delivered.bodies("/opsgenie")) == [
        "[FIRING:1] NodeFilesystemAlmostOutOfSpace - service node-exporter", "[FIRING:1] ServiceDown - service auth"]
    titles = ["[FIRING:1] HighLatency - service payments", "[FIRING:1] NodeClockSkewDetected - service node-exporter",
              "[FIRING:1] NodeFilesystemAlmostOutOfSpace - service node-exporter",
              "[FIRING:1] ServiceDown - service auth"]
    assert sorted(a["title"] for b in delivered.bodies("/slack") for a in b["attachments"]) == titles
    assert sorted(str(email.message_from_string(m, policy=email.policy.default)["Subject"])
                  for m in delivered.mails) == titles
    webhook = sorted(identity(a["labels"]) for b in delivered.bodies("/webhook") for a in b["alerts"])
    assert webhook == [("HighLatency", "warning", ""), ("NodeClockSkewDetected", "warning", "node-b:9100"),
                       ("NodeFilesystemAlmostOutOfSpace", "critical", "node-a:9100"),
                       ("ServiceDown", "critical", "auth:8080")]


def test_the_warnings_of_the_down_service_are_inhibited(live: Live, delivered: Recorder) -> None:
    everything = json.dumps([body for _, body, _ in delivered.http]) + "".join(delivered.mails)
    assert "HighErrorRate" not in everything and "HighMemoryUsage" not in everything
    alerts = {identity(a["labels"]): a for a in get_json(f"{live.alertmanager}/api/v2/alerts")}
    assert len(alerts) == len(ALERTS)
    sources = {("HighErrorRate", "warning", ""): ("ServiceDown", "critical", "auth:8080"),
               ("HighMemoryUsage", "warning", "auth:8080"): ("ServiceDown", "critical", "auth:8080"),
               ("NodeFilesystemAlmostOutOfSpace", "warning", "node-a:9100"):
                   ("NodeFilesystemAlmostOutOfSpace", "critical", "node-a:9100")}
    assert set(sources) == MUTED
    for key, alert_ in alerts.items():
        if key in MUTED:
            assert alert_["status"]["state"] == "suppressed", key
            assert alert_["status"]["inhibitedBy"] == [alerts[sources[key]]["fingerprint"]], key
        else:  # another service's warning, another node's warning, the criticals, the Watchdog
            assert alert_["status"]["state"] == "active", key


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
