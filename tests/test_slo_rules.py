"""The catalog's SLOs as rules: promtool runs the rendered SLO rules on series of both shapes.

Services export either the seed's names (http_requests_total{status}, http_request_duration_seconds)
or OpenTelemetry's (http_server_request_duration_seconds_* with http_response_status_code, mapped by
configs/prometheus/rules/opentelemetry.yml). For an objective of 99.9 % (error budget 0.1 %) the
multiwindow, multi-burn-rate alerts of the Google SRE workbook page above 14.4x in 1h/5m or 6x in
6h/30m and open a ticket above 3x in 1d/2h or 1x in 3d/6h. The expected times below are worked out by
hand from those numbers (noted at each case); the alert texts are written out as a reader sees them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from components.catalog import parse_catalog
from components.render.slo import render_slo_rules
from tools import require, run_tool

ROOT = Path(__file__).resolve().parent.parent
COMPAT_RULES = [ROOT / "configs" / "prometheus" / "rules" / name for name in ("micrometer.yml", "opentelemetry.yml")]

AVAILABILITY = {"availability": 99.9}
LATENCY = {"latency": {"threshold": 0.25, "target": 99}}
CATALOG = {"jobs": {
    "go-services": {"team": "payments", "services": {
        "checkout": {"port": 6010, "slo": AVAILABILITY},  # the seed's names
        "almost": {"port": 6017, "slo": AVAILABILITY},
        "search": {"port": 6011, "slo": LATENCY},
        "spike": {"port": 6012, "slo": AVAILABILITY},
        "steady": {"port": 6013, "slo": AVAILABILITY},
        "slowburn": {"port": 6014, "slo": AVAILABILITY},
        "quiet": {"port": 6015, "slo": AVAILABILITY},
        "untuned": {"port": 6016, "slo": LATENCY},
    }},
    "python-services": {"services": {
        "otel-checkout": {"port": 5010, "slo": AVAILABILITY},  # OpenTelemetry's names
        "otel-search": {"port": 5011, "slo": LATENCY},
    }},
}}
DAY = 1440  # minutes
RUNBOOK = "docs/runbooks.md#errorbudgetburn"
PAGE_BURNS = "the 30d error budget burns at over 14.4x (2% of it in 1h) or over 6x (5% of it in 6h)."
TICKET_BURNS = "the 30d error budget burns at over 3x (10% of it in 1d) or over 1x (10% of it in 3d)."


def counter(*segments: tuple[int, float]) -> str:
    """promtool's expanding notation for a counter growing by `per_minute` for `minutes`, segment after
    segment, sampled every minute from 0 (the first segment also holds the sample at t=0)."""
    def text(number: float) -> str:  # exact: a counter of millions must keep its half requests
        return str(int(number)) if float(number).is_integer() else repr(float(number))

    parts, value = [], 0.0
    for index, (minutes, per_minute) in enumerate(segments):
        if index == 0:
            parts.append(f"0+{text(per_minute)}x{minutes}")
        else:
            parts.append(f"{text(value + per_minute)}+{text(per_minute)}x{minutes - 1}")
        value += minutes * per_minute
    return " ".join(parts)


def requests(service: str, shape: str, ok: list[tuple[int, float]], bad: list[tuple[int, float]]
             ) -> list[dict[str, str]]:
    """A service's request counters: `ok` answered 200, `bad` 500 (per-minute rates by segment)."""
    if shape == "seed":
        name, code = "http_requests_total", "status"
        extra = f'job="go-services", instance="{service}:6010", service="{service}"'
    else:
        name, code = "http_server_request_duration_seconds_count", "http_response_status_code"
        extra = (f'job="python-services", instance="{service}:5010", service="{service}", http_request_method="GET", '
                 'otel_scope_name="opentelemetry.instrumentation.asgi", otel_scope_version="0.66b2"')
    return [{"series": f'{name}{{{extra}, {code}="200"}}', "values": counter(*ok)},
            {"series": f'{name}{{{extra}, {code}="500"}}', "values": counter(*bad)}]


def durations(service: str, shape: str, fast: list[tuple[int, float]], total: list[tuple[int, float]],
              le: str = "0.25") -> list[dict[str, str]]:
    """A service's latency histogram: `fast` requests within `le`, `total` in all."""
    if shape == "seed":
        name, extra = "http_request_duration_seconds_bucket", f'job="go-services", service="{service}", status="200"'
    else:
        name = "http_server_request_duration_seconds_bucket"
        extra = f'job="python-services", service="{service}", http_response_status_code="200"'
    return [{"series": f'{name}{{{extra}, le="{le}"}}', "values": counter(*fast)},
            {"series": f'{name}{{{extra}, le="+Inf"}}', "values": counter(*total)}]


def burn(service: str, slo: str, severity: str, share: str) -> dict[str, Any]:
    """An expected ErrorBudgetBurn alert of `service`; `share` is the failing share as the text shows it."""
    if slo == "availability":
        what = "availability objective (99.9% of requests without a 5xx)"
    else:
        what = "latency objective (99% of requests within 0.25s)"
    name = "page" if severity == "critical" else "ticket"
    return {"exp_labels": {"severity": severity, "service": service, "slo": slo},
            "exp_annotations": {
                "summary": f"Service {service} burns its {slo} error budget too fast ({name})",
                "description": f"{share} of requests miss the {what}: "
                               + (PAGE_BURNS if severity == "critical" else TICKET_BURNS),
                "runbook_url": RUNBOOK}}


def promtool_test(tmp_path: Path, tests: list[dict[str, Any]], evaluation_interval: str = "1m") -> str:
    rules = render_slo_rules(parse_catalog(CATALOG))
    assert rules is not None
    (tmp_path / "slo.yml").write_text(rules)
    # promtool evaluates the groups of one step in an unspecified order unless told; the compat series
    # are recorded before the SLO rules read them, as Prometheus' own schedule does at 15s on average.
    texts = [*(path.read_text() for path in COMPAT_RULES), rules]
    order = [group["name"] for text in texts for group in yaml.safe_load(text)["groups"]]
    spec = {"rule_files": [*map(str, COMPAT_RULES), "slo.yml"], "evaluation_interval": evaluation_interval,
            "group_eval_order": order, "tests": tests}
    (tmp_path / "slo.test.yml").write_text(yaml.safe_dump(spec, sort_keys=False))
    result = run_tool(require("promtool"), "test", "rules", "slo.test.yml", cwd=tmp_path)
    return result.stdout + result.stderr if result.returncode else ""


# A day of healthy traffic first (1000 requests a minute), so the 1d window is full of good minutes.
HEALTHY = (DAY, 1000.0)


def fast_burn_tests() -> list[dict[str, Any]]:
    """15x the budget (1.5 % errors; 15 % slow for the 99 % latency objective) from minute 1440 on, on
    both shapes. The 1h window passes 14.4x after 57.6 minutes of burn (15 x d/60 > 14.4): silent at
    +55, paging at +62 (the 5m window is at 15x all along). The ticket waits: 3x over 1d needs
    d > 288, and 1x over the data's 1d+d needs d > 103. `almost` burns at 14x, just under the page's
    14.4x: even with the whole hour at 14x (+70) it does not page."""
    series = [
        *requests("checkout", "seed", [HEALTHY, (70, 985)], [(DAY, 0), (70, 15)]),
        *requests("otel-checkout", "otel", [HEALTHY, (70, 985)], [(DAY, 0), (70, 15)]),
        *durations("search", "seed", [HEALTHY, (70, 850)], [HEALTHY, (70, 1000)]),
        *durations("otel-search", "otel", [HEALTHY, (70, 850)], [HEALTHY, (70, 1000)]),
        *requests("almost", "seed", [HEALTHY, (70, 986)], [(DAY, 0), (70, 14)]),
    ]
    pages = [burn("checkout", "availability", "critical", "1.5%"),
             burn("otel-checkout", "availability", "critical", "1.5%"),
             burn("search", "latency", "critical", "15%"),
             burn("otel-search", "latency", "critical", "15%")]
    return [{"name": "15x burn: silent until the 1h window confirms, then a page on both shapes; 14x never",
             "interval": "1m", "input_series": series, "alert_rule_test": [
                 {"eval_time": f"{DAY + 55}m", "alertname": "ErrorBudgetBurn", "exp_alerts": []},
                 {"eval_time": f"{DAY + 62}m", "alertname": "ErrorBudgetBurn", "exp_alerts": pages},
                 {"eval_time": f"{DAY + 70}m", "alertname": "ErrorBudgetBurn", "exp_alerts": pages},
             ]}]


def test_the_page_fires_on_a_fast_burn_of_either_shape_once_the_long_window_confirms(tmp_path: Path) -> None:
    assert promtool_test(tmp_path, fast_burn_tests()) == ""


def test_slow_burns_open_a_ticket_a_spike_pages_briefly_and_1x_stays_silent(tmp_path: Path) -> None:
    """Three days and 22 hours of data, rules evaluated every 2.5 minutes (the OpenTelemetry series are
    recorded once per evaluation, and a 5m rate needs two of them).
    - `steady` fails 1 request in 1000 (1x) from the start: nothing fires, ever (both tickets need
      more than 1x); its budget is spent exactly at the period's pace.
    - `slowburn` (OpenTelemetry names) is healthy for 3 days, then at 3.5x: 3x over 1d needs
      d > 1440 x 3/3.5 = 1234 minutes, 1x over 3d the same; the page never (3.5x < 6x).
    - `spike` fails half its requests for 6 minutes after 3 days: the 1h window reads
      0.5 x 5/60 = 4.2 % (> 14.4 x 0.1 %) at +5, a page; the 3d window 0.5 x 6/4320 = 0.07 %, no ticket.
      At +40 the 30m and 5m windows hold no error and the page is over, while the 6h window still
      reads 0.5 x 6/360 = 0.83 % (> 6 x 0.1 %): the short window is what ends it.
    - `quiet` has no 5xx series at all: its SLI is 0, not absent, and its budget reads 100 %."""
    start, long = 3 * DAY, 3 * DAY + 1320
    series = [
        *requests("steady", "seed", [(long, 999)], [(long, 1)]),
        *requests("slowburn", "otel", [(start, 1000), (1320, 996.5)], [(start, 0), (1320, 3.5)]),
        *requests("spike", "seed", [(start, 1000), (6, 500), (1314, 1000)], [(start, 0), (6, 500), (1314, 0)]),
        {"series": 'http_requests_total{job="go-services", service="quiet", status="200"}',
         "values": counter((long, 100))},
    ]
    tests = [{"name": "slow burns and a spike", "interval": "1m", "input_series": series, "alert_rule_test": [
        {"eval_time": f"{start + 5}m", "alertname": "ErrorBudgetBurn",
         "exp_alerts": [burn("spike", "availability", "critical", "50%")]},
        {"eval_time": f"{start + 40}m", "alertname": "ErrorBudgetBurn", "exp_alerts": []},
        {"eval_time": f"{start + 1140}m", "alertname": "ErrorBudgetBurn", "exp_alerts": []},
        {"eval_time": f"{long}m", "alertname": "ErrorBudgetBurn",
         "exp_alerts": [burn("slowburn", "availability", "warning", "0.35%")]},
    ], "promql_expr_test": [
        {"expr": 'count(slo:sli_error:ratio_rate6h{service="spike"} > 6 * 0.001)', "eval_time": f"{start + 40}m",
         "exp_samples": [{"labels": "{}", "value": 1}]},
        # Rounded to 0.1 %: the 1x service has spent its budget at exactly the period's pace, the quiet one nothing.
        {"expr": 'round(slo:period_error_budget_remaining:ratio{service=~"steady|quiet"}, 0.001)',
         "eval_time": f"{long}m", "exp_samples": [
             {"labels": '{service="steady", slo="availability"}', "value": 0},
             {"labels": '{service="quiet", slo="availability"}', "value": 1}]},
        {"expr": 'round(slo:current_burn_rate:ratio{service="slowburn"}, 0.01)', "eval_time": f"{long}m",
         "exp_samples": [{"labels": '{service="slowburn", slo="availability"}', "value": 3.5}]},
    ]}]
    assert promtool_test(tmp_path, tests, evaluation_interval="150s") == ""


def test_a_latency_threshold_that_is_no_bucket_says_so(tmp_path: Path) -> None:
    """`untuned` has 0.1 and 0.5 buckets but the SLO reads 0.25: its SLI is empty, and after 15 minutes
    SLOLatencyBucketMissing names it; `search`, whose histogram has 0.25, stays silent."""
    series = [
        *durations("untuned", "seed", [(30, 900)], [(30, 1000)], le="0.1"),
        *durations("untuned", "seed", [(30, 950)], [(30, 1000)], le="0.5")[:1],
        *durations("search", "seed", [(30, 990)], [(30, 1000)]),
    ]
    expected = {"exp_labels": {"severity": "warning", "service": "untuned", "slo": "latency"},
                "exp_annotations": {
                    "summary": "Service untuned has no latency bucket at its SLO threshold 0.25s",
                    "description": 'http_request_duration_seconds_bucket of untuned has no le="0.25" bucket, so its '
                                   "latency SLO and error budget cannot be computed: make the threshold one of its "
                                   "bucket boundaries (configs/services.yaml) or add that boundary to the service's "
                                   "histogram.",
                    "runbook_url": "docs/runbooks.md#slolatencybucketmissing"}}
    tests = [{"name": "threshold without a bucket", "interval": "1m", "input_series": series, "alert_rule_test": [
        {"eval_time": "10m", "alertname": "SLOLatencyBucketMissing", "exp_alerts": []},
        {"eval_time": "20m", "alertname": "SLOLatencyBucketMissing", "exp_alerts": [expected]},
    ], "promql_expr_test": [
        {"expr": 'slo:sli_error:ratio_rate5m{service="untuned"}', "eval_time": "20m", "exp_samples": []},
    ]}]
    assert promtool_test(tmp_path, tests) == ""


def test_a_wrong_expectation_fails(tmp_path: Path) -> None:
    """The checks above can fail: the fast burn expected 5 minutes early is reported."""
    tests = fast_burn_tests()
    tests[0]["alert_rule_test"][0]["eval_time"] = f"{DAY + 57}m"
    tests[0]["alert_rule_test"][1]["eval_time"] = f"{DAY + 57}m"
    assert "FAILED" in promtool_test(tmp_path, tests)


@pytest.mark.parametrize(("slo", "rendered"), [(99.9, "0.001"), (99.95, "0.0005"), (99, "0.01"), (95.5, "0.045")])
def test_the_error_budget_is_written_exactly(slo: float, rendered: str) -> None:
    """1 - objective in decimal, not binary floating point (1 - 0.999 is 0.0010000000000000009 in binary)."""
    catalog = parse_catalog({"jobs": {"go": {"services": {"a": {"port": 1, "slo": {"availability": slo}}}}}})
    text = render_slo_rules(catalog)
    assert text is not None and f"vector({rendered})" in text and f"(14.4 * {rendered})" in text


def test_no_objective_no_rule_file() -> None:
    assert render_slo_rules(parse_catalog({"jobs": {"go": {"services": {"a": 1}}}})) is None


def test_the_rendered_rules_pass_promtool_check(tmp_path: Path) -> None:
    rules = render_slo_rules(parse_catalog(CATALOG))
    assert rules is not None
    (tmp_path / "slo.yml").write_text(rules)
    result = run_tool(require("promtool"), "check", "rules", tmp_path / "slo.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert render_slo_rules(parse_catalog(CATALOG)) == rules  # deterministic


def test_every_slo_alert_links_a_runbook_section_that_exists() -> None:
    runbooks = (ROOT / "docs" / "runbooks.md").read_text()
    anchors = {line[3:].strip().lower() for line in runbooks.splitlines() if line.startswith("## ")}
    rules = yaml.safe_load(render_slo_rules(parse_catalog(CATALOG)) or "")
    alerts = [rule for group in rules["groups"] for rule in group["rules"] if "alert" in rule]
    assert {rule["alert"] for rule in alerts} == {"ErrorBudgetBurn", "SLOLatencyBucketMissing"}
    for rule in alerts:
        path, _, anchor = rule["annotations"]["runbook_url"].partition("#")
        assert path == "docs/runbooks.md" and anchor in anchors, rule["alert"]


@pytest.mark.parametrize(("seconds", "stored"), [(1, "1.0"), (0.25, "0.25"), (60, "60.0"), (0.001, "0.001"),
                                                 (2.5, "2.5"), (0.1, "0.1")])
def test_the_threshold_is_written_as_prometheus_3_stores_le(seconds: float, stored: str) -> None:
    """Prometheus 3 stores le="1" as le="1.0" (docs/UPSTREAM-FACTS.md): the SLI must select that text."""
    catalog = parse_catalog({"jobs": {"go": {"services": {"a": {"port": 1, "slo": {
        "latency": {"threshold": seconds, "target": 99}}}}}}})
    assert f'le="{stored}"' in (render_slo_rules(catalog) or "")
