"""The service dashboard (configs/grafana/dashboards/service.json): its logs and traces panels ask Loki
and Jaeger for the same service its metrics show. (Its Prometheus queries: tests/test_dashboards.py,
and with data on the real Prometheus, tests/live/test_live_service_dashboard.py.)"""

from __future__ import annotations

import json
import re
from typing import Any

import yaml

from components.render.grafana import DASHBOARDS_SOURCE, JAEGER_UID, LOKI_UID
from mockengine.program import ROOT


def dashboard() -> dict[str, Any]:
    return dict(json.loads((DASHBOARDS_SOURCE / "service.json").read_text()))


def panel(kind: str) -> dict[str, Any]:
    (found,) = [p for p in dashboard()["panels"] if p["type"] == kind]
    return found


def test_the_logs_panel_selects_the_label_promtail_sets_from_the_services_logs() -> None:
    stages = yaml.safe_load((ROOT / "configs" / "promtail" / "pipeline-stages.yml").read_text())
    labels = next(stage["labels"] for stage in stages if "labels" in stage)
    json_fields = next(stage["json"]["expressions"] for stage in stages if "json" in stage)
    assert "service" in labels and json_fields["service"] == "service"  # the JSON field `service` → label
    (target,) = panel("logs")["targets"]
    assert target["datasource"] == {"type": "loki", "uid": LOKI_UID}
    assert re.fullmatch(r'\{service="\$service"\}', target["expr"])


def test_the_traces_panel_searches_jaeger_for_the_service() -> None:
    """Grafana's Jaeger query model: queryType `search` with `service` (grafana/grafana
    public/app/plugins/datasource/jaeger/types.ts JaegerQuery), the service as OTEL_SERVICE_NAME set it."""
    (target,) = panel("table")["targets"]
    assert target["datasource"] == {"type": "jaeger", "uid": JAEGER_UID}
    assert (target["queryType"], target["service"]) == ("search", "$service") and target["limit"] > 0


def test_every_slo_panel_reads_the_service_and_says_when_it_has_no_slo() -> None:
    slo = [p for p in dashboard()["panels"] if p["type"] == "stat" and "slo:" in json.dumps(p["targets"])]
    assert len(slo) == 4
    for stat in slo:
        assert all('service="$service"' in t["expr"] for t in stat["targets"]), stat["title"]
        assert "configs/services.yaml" in stat["fieldConfig"]["defaults"]["noValue"], stat["title"]
