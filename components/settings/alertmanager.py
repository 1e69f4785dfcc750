"""Settings of Alertmanager (`alertmanager`): grouping, the severity routes, receivers, teams, runbook links."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field, model_validator

from .base import DnsLabel, Duration, HostAndPort, HttpUrl, LabelName, Model, Quantity, Secret, TypeDoc
from .workloads import Resources


class SlackReceiver(Model):
    channel: Annotated[str, Field(pattern=r"^[#@]?[\w.-]+$")] = Field(
        description="The Slack channel (`#channel`) or user (`@user`).", examples=["#quikapp-alerts"])
    api_url: Secret = Field(description="The Slack incoming-webhook URL, `https://hooks.slack.com/services/…`.")


class WebhookReceiver(Model):
    url: Secret = Field(description=(
        "The URL that gets Alertmanager's JSON payload (every label and annotation), such as "
        "`https://oncall.example/hook?token=…`."))


class HeartbeatReceiver(Model):
    """A dead man's switch (Healthchecks.io, a PagerDuty/Opsgenie heartbeat URL…) that pages when
    the always-firing Watchdog alert stops arriving: the whole alerting pipeline is then down."""

    url: Secret = Field(description="The switch's URL, such as `https://hc-ping.com/<uuid>`.")
    interval: Duration = Field("5m", description=(
        "How often the still-firing Watchdog is re-sent; keep it shorter than the switch's grace period."),
        examples=["1m"])


class EmailReceiver(Model):
    to: Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$")] = Field(description="Recipient.",
                                                                    examples=["oncall@quikapp.io"])
    sender: Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$", alias="from")] = Field(
        description="Sender.", examples=["alertmanager@quikapp.io"])
    smarthost: HostAndPort = Field(description="The SMTP server.", examples=["smtp.quikapp.io:587"])
    auth_username: str | None = Field(None, description="SMTP user, when the server wants authentication.",
                                      examples=["alertmanager"])
    auth_password: Secret | None = Field(None, description="SMTP password.")
    require_tls: bool = Field(True, description="Require STARTTLS.", examples=[False])


class PagerDutyReceiver(Model):
    """PagerDuty Events API v2 (`pagerduty_configs`): critical alerts page."""

    routing_key: Secret = Field(description=(
        "The integration (routing) key of a PagerDuty service's Events API v2 integration."))
    url: HttpUrl | None = Field(None, description=(
        "The Events API endpoint. Unset: Alertmanager's default, `https://events.pagerduty.com/v2/enqueue`."),
        examples=["https://events.eu.pagerduty.com/v2/enqueue"])


class OpsgenieReceiver(Model):
    """Opsgenie Alert API (`opsgenie_configs`): critical alerts page."""

    api_key: Secret = Field(description="The key of an Opsgenie API integration.")
    api_url: HttpUrl | None = Field(None, description=(
        "The Opsgenie API base; a missing trailing `/` is added (the notifier appends `v2/alerts`). Unset: "
        "Alertmanager's default, `https://api.opsgenie.com/` (EU accounts: `https://api.eu.opsgenie.com/`)."),
        examples=["https://api.eu.opsgenie.com/"])


class MsTeamsReceiver(Model):
    """Microsoft Teams through a Workflows (Power Automate) webhook (`msteamsv2_configs`): chat."""

    webhook_url: Secret = Field(description=(
        "The Microsoft Teams Workflows (Power Automate) webhook, `https://…logic.azure.com/workflows/…`."))


class RouteTimings(Model):
    """Grouping and timing of the chat route; `groupBy` unset: the root's `alertmanager.groupBy`."""

    group_by: list[LabelName] | None = Field(None, description=(
        "The route's `group_by`. Unset: the root's `alertmanager.groupBy`."), examples=[["alertname"]])
    group_wait: Duration = Field("30s", description="The route's `group_wait`.", examples=["1m"])
    group_interval: Duration = Field("5m", description="The route's `group_interval`.", examples=["10m"])
    repeat_interval: Duration = Field("4h", description="The route's `repeat_interval`.", examples=["12h"])


class PagerRouteTimings(RouteTimings):
    """The pager route's: a page goes out and is re-sent sooner than a chat message. Own defaults,
    so setting one key (repeatInterval) keeps the others' pager defaults."""

    group_wait: Duration = Field("10s", description="The route's `group_wait`.", examples=["30s"])
    repeat_interval: Duration = Field("1h", description=(
        "The route's `repeat_interval`: a still-firing page is re-sent this often (sooner than chat)."),
        examples=["30m"])


class SeverityRoutes(Model):
    """The pager route (severity critical) and the chat route (critical and warning)."""

    pager: PagerRouteTimings = Field(PagerRouteTimings(), description=(
        "The pager route: severity `critical`, to PagerDuty and Opsgenie."))
    chat: RouteTimings = Field(RouteTimings(), description=(
        "The chat route: severities `critical` and `warning`, to Slack and Teams."))


class TeamReceivers(Model):
    """A team's own receivers (`alertmanager.teams.<team>`): the same integrations as the stack's, for
    the alerts of the services configs/services.yaml gives that team (`team` label, render/alertmanager.py)."""

    pagerduty: PagerDutyReceiver | None = Field(None, description=(
        "Pager: the team's own PagerDuty service; the team's critical alerts page there instead of "
        "`alertmanager.pagerduty`."))
    opsgenie: OpsgenieReceiver | None = Field(None, description=(
        "Pager: the team's Opsgenie integration (priority P1), for its critical alerts."))
    slack: SlackReceiver | None = Field(None, description=(
        "Chat: the team's Slack channel, for its critical and warning alerts."))
    msteams: MsTeamsReceiver | None = Field(None, description=(
        "Chat: the team's Teams Workflows webhook, for its critical and warning alerts."))
    webhook: WebhookReceiver | None = Field(None, description="Every alert of the team, as Alertmanager's JSON.")
    email: EmailReceiver | None = Field(None, description="Every alert of the team, by e-mail.")

    @model_validator(mode="after")
    def _some_integration(self) -> TeamReceivers:
        if not any((self.pagerduty, self.opsgenie, self.slack, self.msteams, self.webhook, self.email)):
            # The team's route takes its alerts away from the stack's receivers: with nothing here
            # they would reach nobody.
            raise ValueError("at least one of pagerduty, opsgenie, slack, msteams, webhook, email")
        return self


# The repository on its git host (GitHub's blob view renders docs/runbooks.md with its heading
# anchors). A fork or mirror sets alertmanager.runbookBaseUrl to its own.
DEFAULT_RUNBOOK_BASE_URL = "https://github.com/quikapp/quikapp-monitoring/blob/main/"

_RUNBOOK_BASE_RULE = 'an http:// or https:// URL, or "" for links relative to the repository'


def _runbook_base(value: str) -> str:
    if value and not re.fullmatch(r"https?://[^\s/]+(/\S*)?", value):
        raise ValueError(_RUNBOOK_BASE_RULE)
    return value


RunbookBaseUrl = Annotated[str, AfterValidator(_runbook_base), TypeDoc("URL or empty", _RUNBOOK_BASE_RULE)]


class AlertmanagerSettings(Model):
    storage_size: Quantity = Field("1Gi", description=(
        "The size of the `alertmanager_data` PVC on Kubernetes (silences, the notification log)."), examples=["2Gi"])
    # With only alertname and service, every container alert of the cluster (`service="cadvisor"`) went out as
    # one notification.
    group_by: list[LabelName] = Field(["alertname", "service", "instance", "namespace", "pod", "container"],
                                      description=(
        "The root route's `group_by` (the `quikapp` receiver's, and what the pager and chat routes inherit): "
        "alerts sharing these labels go out as one notification. The default keeps one node's alerts (`instance`: "
        "node-exporter, cAdvisor, kubelet targets) and one pod's or container's (`namespace`, `pod`, `container`: "
        "where the target is a whole node or a cluster-wide exporter) out of the rest of the cluster's. Labels an "
        "alert lacks group as empty, so a service-wide alert (`HighErrorRate`) still groups per service."),
        examples=[["alertname", "service", "instance"]])
    group_wait: Duration = Field("30s", description=(
        "The root route's `group_wait`: how long a new group waits for more alerts before the first "
        "notification."), examples=["10s"])
    group_interval: Duration = Field("5m", description=(
        "The root route's `group_interval`: the delay before notifying about alerts added to a group already "
        "notified."), examples=["1m"])
    repeat_interval: Duration = Field("4h", description=(
        "The root route's `repeat_interval`: how often a still-firing group is sent again."), examples=["12h"])
    routes: SeverityRoutes = Field(SeverityRoutes(), description=(
        "The grouping and timers of the severity routes (pages repeat hourly, chat every 4h by default)."))
    pagerduty: PagerDutyReceiver | None = Field(None, description=(
        "Pager: PagerDuty's Events API v2 (`pagerduty_configs`); critical alerts page there."))
    opsgenie: OpsgenieReceiver | None = Field(None, description=(
        "Pager: the Opsgenie Alert API (`opsgenie_configs`, priority P1); critical alerts page there."))
    slack: SlackReceiver | None = Field(None, description="Chat: critical and warning alerts go to Slack.")
    msteams: MsTeamsReceiver | None = Field(None, description=(
        "Chat: critical and warning alerts go to Microsoft Teams through a Workflows (Power Automate) webhook "
        "(`msteamsv2_configs`)."))
    webhook: WebhookReceiver | None = Field(None, description=(
        "A generic webhook: every alert but the Watchdog, as Alertmanager's JSON."))
    email: EmailReceiver | None = Field(None, description="E-mail: every alert but the Watchdog.")
    heartbeat: HeartbeatReceiver | None = Field(None, description=(
        "A dead man's switch (Healthchecks.io, a PagerDuty or Opsgenie heartbeat URL): the always-firing "
        "`Watchdog` alert is sent here, and only here, and the switch pages when it stops arriving, since the "
        "whole alerting pipeline is then down."))
    teams: dict[DnsLabel, TeamReceivers] = Field({}, description=(
        "Per team (a `team` of `configs/services.yaml`; a team no job or service names is refused): its own "
        "receivers, which get the team's alerts instead of the stack's (**Routing by team** below). Each team "
        "needs at least one integration."))
    # "" keeps the links relative (a fork without a host); the production rule refuses it in prod.
    runbook_base_url: RunbookBaseUrl = Field(DEFAULT_RUNBOOK_BASE_URL, description=(
        "Where this repository's files open in a browser; the default is this repository on its git host, so a "
        "fork or mirror sets its own. The shipped rules carry their runbook links as "
        "`<runbookBaseUrl>docs/runbooks.md#<alert>` (a missing trailing `/` is added), so `runbook_url` is an "
        "absolute link in Prometheus, Grafana, the webhook's JSON and every notification. `\"\"` keeps the links "
        "repository-relative (PagerDuty then gets no runbook link, only the detail); refused in stack `prod`."),
        examples=["https://git.example.com/ops/quikapp-monitoring/-/blob/main/"])
    resources: Resources = Field(Resources(), description="Alertmanager's requests and limits.")
