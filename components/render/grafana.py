"""Grafana's provisioning files: datasources, the dashboard provider and the dashboards themselves.

Everything here is the same text on both targets: Prometheus, Loki and Jaeger are reached by
their DNS names (`prometheus`, `loki`, `jaeger`), which the Docker network aliases and the
Kubernetes Services of the monitoring namespace both provide.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..catalog import CONFIGS
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

# Stable UIDs: dashboards and cross-datasource links refer to these, never to names or ids.
PROMETHEUS_UID = "prometheus"
LOKI_UID = "loki"
JAEGER_UID = "jaeger"

PROMETHEUS_URL = "http://prometheus:9090"
LOKI_URL = "http://loki:3100"
# Jaeger's query service runs with --query.base-path=/jaeger (the seed's `query.base-path`).
JAEGER_URL = "http://jaeger:16686/jaeger"

# Exemplar label that carries the trace id. OpenTelemetry's Prometheus exporters and the Java,
# Go and Node client libraries' examples use `trace_id` (an assumption about QuikApp's services).
EXEMPLAR_TRACE_LABEL = "trace_id"


def _literal(text: str) -> str:
    """Escape `$` for provisioning files: Grafana expands `$VAR`/`${VAR}` there, `$$` is a literal `$`."""
    return text.replace("$", "$$")


def datasources() -> list[dict[str, Any]]:
    """The three provisioned datasources, cross-linked (metrics → traces, logs ↔ traces)."""
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
                # Span → the logs of every QuikApp service containing the trace id, around the span.
                # Jaeger keeps the service name outside the span's tags, so a tag mapping would
                # find nothing; the query filters by trace id over every stream with a `service`
                # label (set by Promtail from the services' JSON logs).
                "tracesToLogsV2": {
                    "datasourceUid": LOKI_UID,
                    "spanStartTimeShift": "-5m",
                    "spanEndTimeShift": "5m",
                    "filterByTraceID": True,
                    "filterBySpanID": False,
                    "customQuery": True,
                    "query": _literal('{service=~".+"} |= "${__span.traceId}"'),
                },
            },
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
        "updateIntervalSeconds": 30,
        "options": {"path": DASHBOARDS_DIR, "foldersFromFilesStructure": False},
    }
    return dump_yaml({"apiVersion": 1, "providers": [provider]})


def load_dashboards(source: Path = DASHBOARDS_SOURCE) -> dict[str, dict[str, Any]]:
    """File name → dashboard model of every configs/grafana/dashboards/*.json."""
    return {path.name: json.loads(path.read_text(encoding="utf-8")) for path in sorted(source.glob("*.json"))}


def dump_dashboard(dashboard: dict[str, Any]) -> str:
    """Deterministic JSON text: sorted keys, two-space indent, trailing newline."""
    return json.dumps(dashboard, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def grafana_files(source: Path = SOURCE) -> dict[str, str]:
    """In-container path → text of every file Grafana receives (none holds a secret)."""
    files = {
        ENTRYPOINT_FILE: (source / "entrypoint.sh").read_text(encoding="utf-8"),
        DATASOURCES_FILE: render_datasources(),
        DASHBOARD_PROVIDER_FILE: render_dashboard_provider(),
    }
    for name, dashboard in load_dashboards(source / "dashboards").items():
        files[f"{DASHBOARDS_DIR}/{name}"] = dump_dashboard(dashboard)
    return files
