"""Grafana's provisioning files: datasources, the dashboard provider and the dashboards themselves.

Datasources and the provider are the same text on both targets: Prometheus, Alertmanager, Loki and
Jaeger are reached by their DNS names, which the Docker network aliases and the Kubernetes Services
of the monitoring namespace both provide. Dashboards ship where their data exists (configs/scopes.yaml):
a dashboard over a collector or exporter the stack does not run would only ever say "no data".
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..catalog import CONFIGS
from ..scopes import SCOPES_FILE, load_scopes, stack_features
from ..services import ALERTMANAGER, JAEGER, LOKI, PROMETHEUS
from ..settings import Settings
from .jaeger import BASE_PATH as JAEGER_BASE_PATH
from .prometheus import infrastructure_jobs
from .yamltext import dump_yaml

SOURCE = CONFIGS / "grafana"
DASHBOARDS_SOURCE = SOURCE / "dashboards"
ENTRYPOINT_SOURCE = SOURCE / "entrypoint.sh"

PROVISIONING_DIR = "/etc/grafana/provisioning"
DATASOURCES_FILE = f"{PROVISIONING_DIR}/datasources/quikapp.yml"
DASHBOARD_PROVIDER_FILE = f"{PROVISIONING_DIR}/dashboards/quikapp.yml"
# Outside provisioning/dashboards: Grafana reads every YAML file there as a provider definition.
DASHBOARDS_DIR = "/etc/grafana/dashboards/quikapp"
ENTRYPOINT_FILE = "/etc/grafana/quikapp-entrypoint.sh"
DASHBOARD_POLL_SECONDS = 30

# Stable UIDs: dashboards and cross-datasource links refer to these, never to names or ids.
PROMETHEUS_UID = "prometheus"
LOKI_UID = "loki"
JAEGER_UID = "jaeger"
ALERTMANAGER_UID = "alertmanager"

PROMETHEUS_URL = PROMETHEUS.url
LOKI_URL = LOKI.url
# Jaeger's query service runs with --query.base-path=/jaeger (the seed's `query.base-path`).
JAEGER_URL = f"{JAEGER.url}{JAEGER_BASE_PATH}"
ALERTMANAGER_URL = ALERTMANAGER.url

# The Loki query a Jaeger span opens (Grafana interpolates ${__span.traceId}).
TRACES_TO_LOGS_QUERY = '{service_name=~".+"} |= "${__span.traceId}"'

# Exemplar label that carries the trace id. OpenTelemetry's Prometheus exporters and the Java,
# Go and Node client libraries' examples use `trace_id` (an assumption about QuikApp's services).
EXEMPLAR_TRACE_LABEL = "trace_id"


def _literal(text: str) -> str:
    """Escape `$` for provisioning files: Grafana expands `$VAR`/`${VAR}` there, `$$` is a literal `$`."""
    return text.replace("$", "$$")


def datasources() -> list[dict[str, Any]]:
    """The provisioned datasources, cross-linked (metrics → traces, logs ↔ traces), and Alertmanager."""
    return [
        {
            "name": "Prometheus",
            "uid": PROMETHEUS_UID,
            "type": "prometheus",
            "access": "proxy",
            "url": PROMETHEUS_URL,
            "isDefault": True,
            "editable": False,
            "jsonData": {
                "httpMethod": "POST",
                "prometheusType": "Prometheus",
                # Exemplars on latency histograms link to the trace in Jaeger.
                "exemplarTraceIdDestinations": [{"name": EXEMPLAR_TRACE_LABEL, "datasourceUid": JAEGER_UID}],
            },
        },
        {
            "name": "Loki",
            "uid": LOKI_UID,
            "type": "loki",
            "access": "proxy",
            "url": LOKI_URL,
            "editable": False,
            "jsonData": {
                "maxLines": 1000,
                # A trace id in a log line (JSON `"traceId": "…"`, `trace_id=…`, …) becomes a link
                # to the trace in Jaeger; `url` is the query sent to the Jaeger datasource.
                "derivedFields": [{
                    "name": "TraceID",
                    # Evaluated by the browser (JavaScript RegExp): no inline flags such as (?i).
                    "matcherRegex": r"""[Tt]race[_-]?[Ii][Dd]"?\s*[:=]\s*"?([0-9a-fA-F]{16,32})""",
                    "url": _literal("${__value.raw}"),
                    "datasourceUid": JAEGER_UID,
                }],
            },
        },
        {
            "name": "Jaeger",
            "uid": JAEGER_UID,
            "type": "jaeger",
            "access": "proxy",
            "url": JAEGER_URL,
            "editable": False,
            "jsonData": {
                "nodeGraph": {"enabled": True},
                # Span → the log lines containing its trace id, around the span, in every stream.
                # Loki 3 gives every pushed stream a `service_name` label (the first of service, app,
                # ..., container, ... it has, else "unknown_service": grafana/loki@v3.7.6
                # pkg/loghttp/push/push.go ParseRequest, pkg/validation/limits.go discover_service_name
                # defaults), so `service_name=~".+"` selects them all: plain-text logs as well as
                # JSON logs with a `service` field (the only ones a `service` selector finds).
                # Jaeger keeps a span's service name outside its tags (process.serviceName) and
                # Grafana maps only process and span tags into a query (public/app/features/explore/
                # TraceView/crossSignalConfig.ts getSpanTags, scopedVarsFromSpan), so the query
                # cannot name the span's service: the trace id picks the lines of every service
                # in the trace.
                "tracesToLogsV2": {
                    "datasourceUid": LOKI_UID,
                    "spanStartTimeShift": "-5m",
                    "spanEndTimeShift": "5m",
                    "filterByTraceID": True,
                    "filterBySpanID": False,
                    "customQuery": True,
                    "query": _literal(TRACES_TO_LOGS_QUERY),
                },
            },
        },
        {
            # Grafana's Alerting pages list this Alertmanager's firing alerts and silences. The
            # Prometheus implementation: its API has no config writes, so Grafana shows contact
            # points and policies read-only (grafana.com/docs/grafana/v13.0/datasources/alertmanager).
            # Grafana-managed alerts stay in Grafana: the stack's alerts are all Prometheus rules.
            "name": "Alertmanager",
            "uid": ALERTMANAGER_UID,
            "type": "alertmanager",
            "access": "proxy",
            "url": ALERTMANAGER_URL,
            "editable": False,
            "jsonData": {"implementation": "prometheus", "handleGrafanaManagedAlerts": False},
        },
    ]


def render_datasources() -> str:
    return dump_yaml({"apiVersion": 1, "datasources": datasources()})


def render_dashboard_provider() -> str:
    provider = {
        "name": "quikapp",
        "orgId": 1,
        "folder": "QuikApp",
        "type": "file",
        # Dashboards are code: edits in the UI are refused and deletions come back.
        "disableDeletion": True,
        "allowUiUpdates": False,
        # Polled: a changed, added or removed dashboard file is applied without a restart
        # (grafana/grafana pkg/services/provisioning/dashboards/file_reader.go pollChanges, walkDisk:
        # *.json only, directories starting with "." skipped (Kubernetes' ..data), checksum compare).
        "updateIntervalSeconds": DASHBOARD_POLL_SECONDS,
        "options": {"path": DASHBOARDS_DIR, "foldersFromFilesStructure": False},
    }
    return dump_yaml({"apiVersion": 1, "providers": [provider]})


def shipped_dashboards(settings: Settings | None, source: Path = DASHBOARDS_SOURCE, *,
                       manifest: Path = SCOPES_FILE) -> dict[str, dict[str, Any]]:
    """The dashboards a stack gets: each one whose scope in configs/scopes.yaml admits the stack (its
    target, the scrape jobs and features it has). A dashboard the manifest does not name is refused.

    Without settings, all of them (the dashboards' own checks read every file).
    """
    dashboards = load_scopes(manifest).dashboards
    if settings is None:
        shipped = dashboards.shipped(source, "*.json", None)
    else:
        shipped = dashboards.shipped(source, "*.json", settings.target, infrastructure_jobs(settings),
                                     stack_features(settings))
    return {path.name: json.loads(path.read_text(encoding="utf-8")) for path in shipped}


def load_dashboards(source: Path = DASHBOARDS_SOURCE) -> dict[str, dict[str, Any]]:
    """File name → dashboard model of every configs/grafana/dashboards/*.json."""
    return {path.name: json.loads(path.read_text(encoding="utf-8")) for path in sorted(source.glob("*.json"))}


def dump_dashboard(dashboard: dict[str, Any]) -> str:
    """Deterministic JSON text: sorted keys, two-space indent, trailing newline."""
    return json.dumps(dashboard, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def grafana_files(settings: Settings | None = None, source: Path = SOURCE) -> dict[str, str]:
    """In-container path → text of every file Grafana receives (none holds a secret)."""
    files = {
        ENTRYPOINT_FILE: (source / "entrypoint.sh").read_text(encoding="utf-8"),
        DATASOURCES_FILE: render_datasources(),
        DASHBOARD_PROVIDER_FILE: render_dashboard_provider(),
    }
    for name, dashboard in shipped_dashboards(settings, source / "dashboards").items():
        files[f"{DASHBOARDS_DIR}/{name}"] = dump_dashboard(dashboard)
    return files
