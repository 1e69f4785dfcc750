"""alertmanager.yml and its notification template, rendered from settings.

alertmanager.yml holds receiver credentials: deliver it as a secret file. The template holds none.

Routing (docs/OPERATIONS.md "Alert routing" has the table):
- `Watchdog` → `heartbeat` only (a dead man's switch), never to people;
- `severity="critical"` → `pager` (PagerDuty, Opsgenie) and `chat` (Slack, Teams);
- `severity="warning"` → `chat`;
- every alert but the Watchdog → `quikapp` (e-mail, webhook), the root's receiver.
A route is rendered only when its receiver has an integration, so what `amtool config routes test`
prints is who is notified: a critical alert without a pager goes to chat, without chat to `quikapp`.

Teams (`alertmanager.teams.<team>`, docs/SERVICE-TEAMS.md): an alert with `team="<team>"` (the label the
catalog's owned services carry, components/render/prometheus.py) takes the team's route, right after the
Watchdog's, and the same severity routing to the team's own receivers `team.<team>.pager`,
`team.<team>.chat` and `team.<team>`. The team route does not `continue`: the team's alerts reach the
team, not the stack's receivers. Alerts without a team, or of a team without receivers here, fall
through to the severity routes above.
"""

from __future__ import annotations

from typing import Any

from ..catalog import CONFIGS
from ..settings import Settings
from ..settings.model import AlertmanagerSettings, RouteTimings, TeamReceivers
from .yamltext import dump_yaml

CONFIG_DIR = "/etc/alertmanager"
CONFIG_FILE = f"{CONFIG_DIR}/alertmanager.yml"
# Next to alertmanager.yml and named relative to it: Alertmanager resolves `templates` against the
# config file's directory (prometheus/alertmanager@v0.35.0 config/config.go resolveFilepaths), so
# amtool check-config on a rendered copy (make check, the tests) parses this template too.
TEMPLATE_NAME = "quikapp.tmpl"
TEMPLATE_FILE = f"{CONFIG_DIR}/{TEMPLATE_NAME}"
TEMPLATE_SOURCE = CONFIGS / "alertmanager" / TEMPLATE_NAME
DATA_DIR = "/alertmanager"

# Receiver names (docs/OPERATIONS.md). `quikapp` is the root's: every alert no route takes.
RECEIVER = "quikapp"
PAGER_RECEIVER = "pager"
CHAT_RECEIVER = "chat"
# The Watchdog alert always fires (configs/prometheus/rules/alerts.yml): it goes to its own
# receiver, never to the people on call, and proves the pipeline alive to a dead man's switch.
HEARTBEAT_RECEIVER = "heartbeat"

# Whose integrations a receiver gets: the stack's (`alertmanager.*`) or a team's (`alertmanager.teams.<team>`).
Integrations = AlertmanagerSettings | TeamReceivers

# "The whole service is down": every target of a catalog service or exporter is down
# (ServiceAllTargetsDown, configs/prometheus/rules/alerts.yml) or none is discovered at all
# (ServiceHasNoTargets, the rendered catalog rule in render/prometheus.py). Not the per-target
# ServiceDown: with one replica of three down, the error rate and latency come from the two still
# serving and are news. tests/test_alertmanager_routing.py fails if one of these names stops existing.
WHOLE_SERVICE_DOWN_ALERTS = ("ServiceAllTargetsDown", "ServiceHasNoTargets")
# What a whole service down makes meaningless for that service: its rates (aggregated `by
# (service)`, no instance) and each of its targets' own ServiceDown (one page for the outage, not
# one per replica besides it).
SYMPTOM_ALERTS = ("HighErrorRate", "HighLatency")
PER_TARGET_DOWN_ALERT = "ServiceDown"

# The labels that tell two series of one alert apart, so a critical mutes its warning twin only for
# the same thing: the same `alertname` (not every warning of a service or node) and the same target
# and object. kube-prometheus-stack compares only `namespace` and `alertname`
# (prometheus-community/helm-charts kube-prometheus-stack-88.5.3 charts/kube-prometheus-stack/
# values.yaml alertmanager.config.inhibit_rules); that would let a critical disk alert of one node
# mute the warning of another node or another mount. Each alert that exists in both severities
# (tests/test_alertmanager_routing.py lists them and fails on a new one) is told apart by these:
# node-mixin's filesystem alerts by instance + mountpoint + device, its file-descriptor alert by
# instance; KubePersistentVolumeFillingUp by namespace + persistentvolumeclaim (instance is the
# node's kubelet); AlertmanagerClusterFailedToSendAlerts by integration; the catalog's ErrorBudgetBurn
# (render/slo.py) by service + slo, so one objective's page does not mute another objective's ticket
# (availability and latency of one service). namespace/pod/container name
# a Kubernetes object, `cluster` the cluster (kubernetes-mixin's clusterLabel). A label absent on
# both sides compares equal (prometheus/alertmanager@v0.35.0 inhibit/cache.go fingerprintEquals), which is
# right here: both sides are the same rule.
SAME_ALERT_LABELS = ("alertname", "service", "job", "instance", "namespace", "pod", "container", "node", "cluster",
                     "persistentvolumeclaim", "mountpoint", "device", "integration", "slo")


def _tmpl(name: str, arg: str = ".") -> str:
    return f'{{{{ template "quikapp.{name}" {arg} }}}}'


# Links every notification carries (configs/alertmanager/quikapp.tmpl). The rules' runbook links are
# absolute as shipped (alertmanager.runbookBaseUrl, render/runbooks.py).
RUNBOOK = "{{ (index .Alerts 0).Annotations.runbook_url }}"
RUNBOOK_ABSOLUTE = _tmpl("runbook.absolute", "(index .Alerts 0).Annotations.runbook_url")
GRAFANA = _tmpl("grafana", ".CommonLabels.service")
SERVICE = _tmpl("service", ".CommonLabels")
TITLE = _tmpl("title")
TEXT = _tmpl("text")
# What machine-read integrations (PagerDuty custom details, Opsgenie details) get as fields.
DETAILS = {"service": SERVICE, "runbook": RUNBOOK, "grafana": GRAFANA}


def _slack(settings: Settings, of: Integrations | None = None) -> list[dict[str, Any]]:
    slack = (of or settings.alertmanager).slack
    if slack is None:
        return []
    return [{"api_url": slack.api_url.get_secret_value(), "channel": slack.channel, "send_resolved": True,
             "title": TITLE, "title_link": GRAFANA, "text": TEXT}]


def _msteams(settings: Settings, of: Integrations | None = None) -> list[dict[str, Any]]:
    teams = (of or settings.alertmanager).msteams
    if teams is None:
        return []
    # msteamsv2_configs: webhook_url, title, text (prometheus/alertmanager@v0.35.0 notify/msteamsv2/config.go).
    return [{"webhook_url": teams.webhook_url.get_secret_value(), "send_resolved": True,
             "title": TITLE, "text": TEXT}]


def _pagerduty(settings: Settings, of: Integrations | None = None) -> list[dict[str, Any]]:
    pd = (of or settings.alertmanager).pagerduty
    if pd is None:
        return []
    # prometheus/alertmanager@v0.35.0 notify/pagerduty/config.go: routing_key (Events API v2), url,
    # description (the v2 summary), severity, class, component, details (merged with the default
    # firing/resolved ones), links (href and text templated; an empty href is dropped).
    config: dict[str, Any] = {"routing_key": pd.routing_key.get_secret_value()}
    if pd.url is not None:
        config["url"] = pd.url
    config.update({
        "send_resolved": True,
        "description": _tmpl("pagerduty.summary"),
        "severity": _tmpl("pagerduty.severity"),
        "class": "{{ .CommonLabels.alertname }}",
        "component": SERVICE,
        "details": dict(DETAILS),
        "links": [
            # A relative runbook (runbookBaseUrl "") is no link: PagerDuty drops an empty href, details keep it.
            {"href": RUNBOOK_ABSOLUTE, "text": "Runbook"},
            {"href": GRAFANA, "text": "Grafana"},
        ],
    })
    return [config]


def _opsgenie(settings: Settings, of: Integrations | None = None) -> list[dict[str, Any]]:
    og = (of or settings.alertmanager).opsgenie
    if og is None:
        return []
    # prometheus/alertmanager@v0.35.0 notify/opsgenie/config.go: api_key, api_url (the notifier
    # appends "v2/alerts" to its path, so it must end in "/"), message (cut at 130 runes),
    # description, details (templated strings), tags (comma-separated), priority.
    config: dict[str, Any] = {"api_key": og.api_key.get_secret_value()}
    if og.api_url is not None:
        config["api_url"] = og.api_url if og.api_url.endswith("/") else og.api_url + "/"
    config.update({
        "send_resolved": True,
        "message": TITLE,
        "description": TEXT,
        "details": dict(DETAILS),
        "tags": "{{ .CommonLabels.severity }},service={{ .CommonLabels.service }}",
        "priority": _tmpl("opsgenie.priority"),
    })
    return [config]


def _email(settings: Settings, of: Integrations | None = None) -> list[dict[str, Any]]:
    em = (of or settings.alertmanager).email
    if em is None:
        return []
    email: dict[str, Any] = {"to": em.to, "from": em.sender, "smarthost": em.smarthost,
                             "require_tls": em.require_tls, "send_resolved": True}
    if em.auth_username is not None:
        email["auth_username"] = em.auth_username
    if em.auth_password is not None:
        email["auth_password"] = em.auth_password.get_secret_value()
    email.update({"headers": {"Subject": TITLE}, "html": _tmpl("email.html"), "text": TEXT})
    return [email]


def _webhook(settings: Settings, of: Integrations | None = None) -> list[dict[str, Any]]:
    hook = (of or settings.alertmanager).webhook
    # The JSON payload carries every label and annotation (service, runbook_url) and the externalURL.
    return [] if hook is None else [{"url": hook.url.get_secret_value(), "send_resolved": True}]


def _receiver(name: str, **integrations: list[dict[str, Any]]) -> dict[str, Any]:
    """A receiver with its configured integrations (`<kind>_configs`), or none."""
    return {"name": name, **{f"{kind}_configs": configs for kind, configs in integrations.items() if configs}}


def _receivers(settings: Settings) -> list[dict[str, Any]]:
    """Every receiver, including those without integrations (the root's and the heartbeat always exist),
    then each team's three."""
    receivers = [
        _receiver(RECEIVER, email=_email(settings), webhook=_webhook(settings)),
        _receiver(PAGER_RECEIVER, pagerduty=_pagerduty(settings), opsgenie=_opsgenie(settings)),
        _receiver(CHAT_RECEIVER, slack=_slack(settings), msteamsv2=_msteams(settings)),
        _heartbeat_receiver(settings),
    ]
    for team, of in sorted(settings.alertmanager.teams.items()):
        default, pager, chat = team_receivers(team)
        receivers += [
            _receiver(default, email=_email(settings, of), webhook=_webhook(settings, of)),
            _receiver(pager, pagerduty=_pagerduty(settings, of), opsgenie=_opsgenie(settings, of)),
            _receiver(chat, slack=_slack(settings, of), msteamsv2=_msteams(settings, of)),
        ]
    return receivers


def team_receivers(team: str) -> tuple[str, str, str]:
    """A team's (default, pager, chat) receiver names. A team name is a DNS label, without dots, so these
    never equal another team's or the stack's own names."""
    return f"team.{team}", f"team.{team}.pager", f"team.{team}.chat"


def _timings(timings: RouteTimings) -> dict[str, Any]:
    route: dict[str, Any] = {} if timings.group_by is None else {"group_by": list(timings.group_by)}
    route.update({"group_wait": timings.group_wait, "group_interval": timings.group_interval,
                  "repeat_interval": timings.repeat_interval})
    return route


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


def _severity_routes(settings: Settings, notifies: set[str], default: str, pager: str,
                     chat: str) -> list[dict[str, Any]]:
    """Pager, chat, then the default receiver, each only when its receiver has an integration.
    `continue: true` lets a critical alert reach the pager, then chat, then the default; each route
    keeps its own groups and timers (pages repeat sooner)."""
    severities = settings.alertmanager.routes
    routes: list[dict[str, Any]] = []
    if pager in notifies:
        routes.append({"matchers": ['severity="critical"'], "receiver": pager,
                       **_timings(severities.pager), "continue": True})
    if chat in notifies:
        routes.append({"matchers": ['severity=~"critical|warning"'], "receiver": chat,
                       **_timings(severities.chat), "continue": True})
    if default in notifies and routes:
        # A route above matched, so the parent's receiver would no longer be chosen by itself
        # (prometheus/alertmanager@v0.35.0 dispatch/route.go Match: the node itself matches only
        # when no child did): e-mail and webhook get every alert, as before severity routing.
        routes.append({"receiver": default})
    return routes


def _team_route(settings: Settings, team: str, notifies: set[str]) -> dict[str, Any]:
    """The team's alerts, routed by severity to its own receivers. No `continue`: a matching team
    route ends the search (dispatch/route.go Match), so the stack's pager, chat and e-mail never get
    them; the node's own receiver takes what no child does (an `info` alert, or everything when the
    team has only e-mail or a webhook)."""
    default, pager, chat = team_receivers(team)
    route: dict[str, Any] = {"matchers": [f'team="{team}"'], "receiver": default}
    children = _severity_routes(settings, notifies, default, pager, chat)
    if children:
        route["routes"] = children
    return route


def _routes(settings: Settings, receivers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The child routes, first match first: the Watchdog, each team's, then the stack's severity routes."""
    notifies = {r["name"] for r in receivers if len(r) > 1}
    routes = [_heartbeat_route(settings)]  # first and final: the Watchdog reaches nobody else
    routes += [_team_route(settings, team, notifies) for team in sorted(settings.alertmanager.teams)]
    return routes + _severity_routes(settings, notifies, RECEIVER, PAGER_RECEIVER, CHAT_RECEIVER)


def _alternatives(names: tuple[str, ...]) -> str:
    return "|".join(names)


def _inhibit_rules() -> list[dict[str, Any]]:
    return [
        {
            # The critical variant of an alert mutes its warning and info variants for the same
            # target and object (a disk at 2% free pages; its "below 5%" twin on that mount does not
            # also notify). Like kube-prometheus-stack's first two rules, with SAME_ALERT_LABELS.
            "source_matchers": ['severity="critical"'],
            "target_matchers": ['severity=~"warning|info"'],
            "equal": list(SAME_ALERT_LABELS),
        },
        {
            "source_matchers": ['severity="warning"'],
            "target_matchers": ['severity="info"'],
            "equal": list(SAME_ALERT_LABELS),
        },
        {
            # A whole service down mutes its rates and its per-target ServiceDown. `service` must be
            # set on the source (it always is on these two): `equal` treats a missing label as equal,
            # so a service-less source would mute every service-less target.
            "source_matchers": [f'alertname=~"{_alternatives(WHOLE_SERVICE_DOWN_ALERTS)}"', 'service=~".+"'],
            "target_matchers": [f'alertname=~"{_alternatives((*SYMPTOM_ALERTS, PER_TARGET_DOWN_ALERT))}"'],
            "equal": ["service"],
        },
    ]


def render_alertmanager_config(settings: Settings) -> str:
    """The text of /etc/alertmanager/alertmanager.yml, secrets in clear (a secret file's content).

    With no receiver configured, alerts are still grouped, kept and shown in the UI/API: the
    route ends in a receiver without integrations, which Alertmanager accepts.
    """
    am = settings.alertmanager
    receivers = _receivers(settings)
    config = {
        "templates": [TEMPLATE_NAME],
        "route": {
            "receiver": RECEIVER,
            "group_by": list(am.group_by),
            "group_wait": am.group_wait,
            "group_interval": am.group_interval,
            "repeat_interval": am.repeat_interval,
            "routes": _routes(settings, receivers),
        },
        "receivers": receivers,
        "inhibit_rules": _inhibit_rules(),
    }
    return dump_yaml(config)


def render_alertmanager_template(settings: Settings, grafana_url: str | None) -> str:
    """The text of /etc/alertmanager/quikapp.tmpl: the settings-dependent definition, then
    configs/alertmanager/quikapp.tmpl as it is."""
    header = (
        "{{/* Rendered by components/render/alertmanager.py from settings. */}}\n"
        f'{{{{ define "quikapp.grafana_url" }}}}{(grafana_url or "").rstrip("/")}{{{{ end }}}}\n'
    )
    return header + TEMPLATE_SOURCE.read_text(encoding="utf-8")
