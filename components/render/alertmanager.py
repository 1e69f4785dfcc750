"""alertmanager.yml, rendered from settings. Holds receiver credentials: deliver it as a secret file."""

from __future__ import annotations

from typing import Any

from ..settings import Settings
from .yamltext import dump_yaml

CONFIG_DIR = "/etc/alertmanager"
CONFIG_FILE = f"{CONFIG_DIR}/alertmanager.yml"
DATA_DIR = "/alertmanager"
HTTP_PORT = 9093
RECEIVER = "quikapp"
# The Watchdog alert always fires (configs/prometheus/rules/alerts.yml): it goes to its own
# receiver, never to the people on call, and proves the pipeline alive to a dead man's switch.
HEARTBEAT_RECEIVER = "heartbeat"

# Slack message built from the rule annotations every alert in configs/prometheus/rules carries.
SLACK_TITLE = ("[{{ .Status | toUpper }}] {{ .CommonLabels.alertname }}"
               "{{ with .CommonLabels.service }} ({{ . }}){{ end }}")
SLACK_TEXT = "{{ range .Alerts }}*{{ .Labels.severity }}* {{ .Annotations.summary }}\n" \
             "{{ .Annotations.description }}\n{{ end }}"


def _receiver(settings: Settings) -> dict[str, Any]:
    """The one receiver every alert goes to: each configured integration, or none at all."""
    am = settings.alertmanager
    receiver: dict[str, Any] = {"name": RECEIVER}
    if am.slack is not None:
        receiver["slack_configs"] = [{
            "api_url": am.slack.api_url.get_secret_value(),
            "channel": am.slack.channel,
            "send_resolved": True,
            "title": SLACK_TITLE,
            "text": SLACK_TEXT,
        }]
    if am.webhook is not None:
        receiver["webhook_configs"] = [{"url": am.webhook.url.get_secret_value(), "send_resolved": True}]
    if am.email is not None:
        email: dict[str, Any] = {
            "to": am.email.to,
            "from": am.email.sender,
            "smarthost": am.email.smarthost,
            "require_tls": am.email.require_tls,
            "send_resolved": True,
        }
        if am.email.auth_username is not None:
            email["auth_username"] = am.email.auth_username
        if am.email.auth_password is not None:
            email["auth_password"] = am.email.auth_password.get_secret_value()
        receiver["email_configs"] = [email]
    return receiver


def _heartbeat_route(settings: Settings) -> dict[str, Any]:
    heartbeat = settings.alertmanager.heartbeat
    return {
        "matchers": ['alertname="Watchdog"'],
        "receiver": HEARTBEAT_RECEIVER,
        "group_by": ["alertname"],
        "group_wait": "0s",
        "group_interval": "1m",
        "repeat_interval": heartbeat.interval if heartbeat else "5m",
    }


def _heartbeat_receiver(settings: Settings) -> dict[str, Any]:
    """The dead man's switch when one is configured; otherwise the Watchdog notifies nobody."""
    heartbeat = settings.alertmanager.heartbeat
    receiver: dict[str, Any] = {"name": HEARTBEAT_RECEIVER}
    if heartbeat is not None:
        receiver["webhook_configs"] = [{"url": heartbeat.url.get_secret_value(), "send_resolved": False}]
    return receiver


def render_alertmanager_config(settings: Settings) -> str:
    """The text of /etc/alertmanager/alertmanager.yml, secrets in clear (a secret file's content).

    With no receiver configured, alerts are still grouped, kept and shown in the UI/API: the
    route ends in a receiver without integrations, which Alertmanager accepts.
    """
    am = settings.alertmanager
    config = {
        "route": {
            "receiver": RECEIVER,
            "group_by": list(am.group_by),
            "group_wait": am.group_wait,
            "group_interval": am.group_interval,
            "repeat_interval": am.repeat_interval,
            "routes": [_heartbeat_route(settings)],
        },
        "receivers": [_receiver(settings), _heartbeat_receiver(settings)],
        "inhibit_rules": [{
            # A critical alert (ServiceDown) mutes the warnings of the same service (its error
            # rate, latency…): one page, not five. Only sources that name a service: `equal`
            # treats a missing label as equal, so a service-less critical would mute every
            # service-less warning.
            "source_matchers": ['severity="critical"', 'service=~".+"'],
            "target_matchers": ['severity="warning"'],
            "equal": ["service"],
        }],
    }
    return dump_yaml(config)
