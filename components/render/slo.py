"""Service level objectives from the catalog: recording rules and multiwindow, multi-burn-rate alerts.

Each objective of a service (`slo:` in configs/services.yaml) becomes one rule group with
- the SLI as an error ratio over every window the alerts read and over the whole SLO period
  (`slo:sli_error:ratio_rate<window>`),
- the objective, its error budget, the current and period burn rates and the remaining budget,
- `ErrorBudgetBurn`: a page (critical) and a ticket (warning) when the budget burns too fast.

The windows and burn-rate factors are the Google SRE workbook's recommended parameters ("Alerting on
SLOs", sre.google/workbook/alerting-on-slos/#recommended_parameters_for_an_slo_based_a, as Sloth's
google-30d.yaml cites them): 2 % of a 30-day budget in 1 h or 5 % in 6 h pages, 10 % in 1 day or 3 days
opens a ticket, each long window confirmed by a short one of 1/12 of it. The rule shapes and names follow Sloth
(github.com/slok/sloth@v0.16.0: internal/alert/windows/google-30d.yaml,
internal/plugin/slo/core/{sli_rules_v1,metadata_rules_v1,alert_rules_v1}/plugin.go), the oracle
tests/test_slo_sloth.py compares these alerts with; the labels are this stack's (`service`, `slo`)
instead of Sloth's `sloth_*`. Two differences, both on purpose: no `sloth_window` label (so the alert's
windows match without `max() without (sloth_window)`), and an error count that is 0 rather than absent
while a service has not failed yet (`or vector(0)`, availability only): many clients create the 5xx
series only on the first error, and an absent error series would leave the SLI, the budget and the
dashboard empty. (A latency SLI's two buckets exist together, or the threshold is no bucket boundary:
`SLOLatencyBucketMissing` says so rather than a silent 0.)
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from ..catalog import Catalog, ServiceSlo
from .yamltext import dump_yaml

SLO_RULES_PATH = "slo.yml"  # under the rules directory (components/render/prometheus.py RULES_DIR)

PERIOD = "30d"
PERIOD_DAYS = 30
ALERT = "ErrorBudgetBurn"
BUCKET_ALERT = "SLOLatencyBucketMissing"
RUNBOOK = "docs/runbooks.md#errorbudgetburn"
BUCKET_RUNBOOK = "docs/runbooks.md#slolatencybucketmissing"

# The seed's metric names (the Micrometer and OpenTelemetry rules map other names onto these).
REQUESTS = "http_requests_total"
DURATION_BUCKETS = "http_request_duration_seconds_bucket"

_HOURS = {"m": Decimal(1) / 60, "h": Decimal(1), "d": Decimal(24)}


def _hours(window: str) -> Decimal:
    return Decimal(window[:-1]) * _HOURS[window[-1]]


@dataclass(frozen=True)
class BurnWindow:
    """One multiwindow condition: `budget_percent` of the period's budget spent within `long`."""

    long: str
    short: str
    budget_percent: int

    @property
    def factor(self) -> Decimal:
        """The burn rate that spends `budget_percent` of the budget in `long` (2 % in 1 h of 30 d: 14.4)."""
        return (Decimal(self.budget_percent) / 100 * _hours(PERIOD) / _hours(self.long)).normalize()


@dataclass(frozen=True)
class Severity:
    name: str  # page or ticket
    label: str  # the `severity` label: the stack's routes page on critical, chat takes warning
    windows: tuple[BurnWindow, BurnWindow]  # quick, slow


SEVERITIES = (
    Severity("page", "critical", (BurnWindow("1h", "5m", 2), BurnWindow("6h", "30m", 5))),
    Severity("ticket", "warning", (BurnWindow("1d", "2h", 10), BurnWindow("3d", "6h", 10))),
)
# Every window a rule reads, shortest first, then the whole period.
WINDOWS = tuple(sorted({w for s in SEVERITIES for b in s.windows for w in (b.long, b.short)}, key=_hours))
SHORTEST = WINDOWS[0]


@dataclass(frozen=True)
class Objective:
    """One SLO of one service: `ratio` of the requests are good (the SLI's events)."""

    service: str
    slo: str  # availability or latency
    percent: float
    threshold: float | None = None  # latency only, seconds

    @property
    def ratio(self) -> Decimal:
        return (Decimal(str(self.percent)) / 100).normalize()

    @property
    def budget(self) -> Decimal:
        return (1 - self.ratio).normalize()

    @property
    def selector(self) -> str:
        return f'{{service="{self.service}", slo="{self.slo}"}}'


def objectives(catalog: Catalog) -> list[Objective]:
    """Every objective of the catalog, in catalog order (availability before latency)."""
    found = []
    for job in catalog.jobs:
        for service, slo in job.slos:
            found += _service_objectives(service, slo)
    return found


def _service_objectives(service: str, slo: ServiceSlo) -> list[Objective]:
    found = []
    if slo.availability is not None:
        found.append(Objective(service, "availability", slo.availability))
    if slo.latency is not None:
        found.append(Objective(service, "latency", slo.latency.target, slo.latency.threshold))
    return found


def le_value(seconds: float) -> str:
    """The `le` label value Prometheus stores for a bucket boundary: Prometheus 3 normalises classic
    histogram `le` values to Go's shortest float text with `.0` for whole numbers ("1" and "1.0" become
    "1.0"; prometheus/prometheus@v3.16.0 docs/migration.md "le and quantile label values",
    model/labels/float.go FormatOpenMetricsFloat). Python's repr is the same shortest text for the
    catalog's 0.001 to 60 s (Go's shortest 'g' switches to exponents below 1e-4 and from 1e6, Go
    src/internal/strconv/ftoa.go; Python's repr below 1e-4 and from 1e16)."""
    text = repr(float(seconds))
    if "e" in text:  # the catalog keeps thresholds between 0.001 and 60, which never print so
        raise ValueError(f"threshold {seconds!r} has no plain decimal form")
    return text


def _number(value: Decimal) -> str:
    return format(value.normalize(), "f")


def _errors_and_total(objective: Objective, window: str) -> tuple[str, str]:
    """(bad events, all events) per second over `window`, each a PromQL expression."""
    service = f'service="{objective.service}"'
    if objective.slo == "availability":
        return (f'sum(rate({REQUESTS}{{{service}, status=~"5.."}}[{window}]))',
                f"sum(rate({REQUESTS}{{{service}}}[{window}]))")
    assert objective.threshold is not None
    everything = f'sum(rate({DURATION_BUCKETS}{{{service}, le="+Inf"}}[{window}]))'
    fast = f'sum(rate({DURATION_BUCKETS}{{{service}, le="{le_value(objective.threshold)}"}}[{window}]))'
    return f"{everything}\n  -\n  {fast}", everything


def _sli(objective: Objective, window: str) -> dict[str, object]:
    labels = {"service": objective.service, "slo": objective.slo}
    if window == PERIOD:
        # Sloth's optimisation for the period: the 5m ratio averaged over 30 days (a ratio of sums, as
        # every 5m sample weighs the same), instead of a 30-day rate over every raw series.
        metric = f"slo:sli_error:ratio_rate{SHORTEST}{objective.selector}"
        return {"record": f"slo:sli_error:ratio_rate{window}",
                "expr": f"sum_over_time({metric}[{window}])\n/\ncount_over_time({metric}[{window}])\n",
                "labels": labels}
    errors, total = _errors_and_total(objective, window)
    if objective.slo == "availability":
        # No 5xx series yet counts as no errors (the module's docstring).
        errors = f"{errors}\n  or\n  vector(0)"
    return {"record": f"slo:sli_error:ratio_rate{window}", "expr": f"(\n  {errors}\n)\n/\n({total})\n",
            "labels": labels}


def _metadata(objective: Objective) -> list[dict[str, object]]:
    labels = {"service": objective.service, "slo": objective.slo}
    sel = objective.selector
    budget = f"slo:error_budget:ratio{sel}"
    return [
        {"record": "slo:objective:ratio", "expr": f"vector({_number(objective.ratio)})", "labels": labels},
        {"record": "slo:error_budget:ratio", "expr": f"vector({_number(objective.budget)})", "labels": labels},
        {"record": "slo:time_period:days", "expr": f"vector({PERIOD_DAYS})", "labels": labels},
        {"record": "slo:current_burn_rate:ratio",
         "expr": f"slo:sli_error:ratio_rate{SHORTEST}{sel}\n/ on (service, slo) group_left\n{budget}\n",
         "labels": labels},
        {"record": "slo:period_burn_rate:ratio",
         "expr": f"slo:sli_error:ratio_rate{PERIOD}{sel}\n/ on (service, slo) group_left\n{budget}\n",
         "labels": labels},
        {"record": "slo:period_error_budget_remaining:ratio", "expr": f"1 - slo:period_burn_rate:ratio{sel}",
         "labels": labels},
    ]


def _condition(objective: Objective, burn: BurnWindow) -> str:
    threshold = f"({_number(burn.factor)} * {_number(objective.budget)})"
    return "\n".join([
        "(",
        f"  slo:sli_error:ratio_rate{burn.short}{objective.selector} > {threshold}",
        "  and",
        f"  slo:sli_error:ratio_rate{burn.long}{objective.selector} > {threshold}",
        ")",
    ])


def _what(objective: Objective) -> str:
    if objective.slo == "availability":
        return f"{_number(objective.ratio * 100)}% of requests without a 5xx"
    assert objective.threshold is not None
    return f"{_number(objective.ratio * 100)}% of requests within {le_value(objective.threshold)}s"


def _alert(objective: Objective, severity: Severity) -> dict[str, object]:
    quick, slow = severity.windows
    burns = (f"over {_number(quick.factor)}x ({quick.budget_percent}% of it in {quick.long}) or over "
             f"{_number(slow.factor)}x ({slow.budget_percent}% of it in {slow.long})")
    return {
        "alert": ALERT,
        "expr": f"{_condition(objective, quick)}\nor\n{_condition(objective, slow)}\n",
        "labels": {"severity": severity.label},
        "annotations": {
            "summary": f"Service {{{{ $labels.service }}}} burns its {objective.slo} error budget too fast "
                       f"({severity.name})",
            "description": f"{{{{ $value | humanizePercentage }}}} of requests miss the {objective.slo} objective "
                           f"({_what(objective)}): the {PERIOD} error budget burns at {burns}.",
            "runbook_url": RUNBOOK,
        },
    }


def _bucket_alert(objective: Objective) -> dict[str, object]:
    """The latency SLI reads the bucket at the threshold: without one the SLI is empty and never alerts."""
    assert objective.threshold is not None
    le = le_value(objective.threshold)
    service = f'service="{objective.service}"'
    return {
        "alert": BUCKET_ALERT,
        "expr": f'count({DURATION_BUCKETS}{{{service}, le="+Inf"}})\nunless\n'
                f'count({DURATION_BUCKETS}{{{service}, le="{le}"}})\n',
        "for": "15m",
        "labels": {"severity": "warning", "service": objective.service, "slo": objective.slo},
        "annotations": {
            "summary": f"Service {objective.service} has no latency bucket at its SLO threshold {le}s",
            "description": f"{DURATION_BUCKETS} of {objective.service} has no le=\"{le}\" bucket, so its latency "
                           "SLO and error budget cannot be computed: make the threshold one of its bucket "
                           "boundaries (configs/services.yaml) or add that boundary to the service's histogram.",
            "runbook_url": BUCKET_RUNBOOK,
        },
    }


def slo_group(objective: Objective) -> dict[str, object]:
    """The rule group of one objective: SLIs first, then metadata, then alerts (evaluated in order)."""
    rules: list[dict[str, object]] = [_sli(objective, w) for w in (*WINDOWS, PERIOD)]
    rules += _metadata(objective)
    rules += [_alert(objective, severity) for severity in SEVERITIES]
    if objective.threshold is not None:
        rules.append(_bucket_alert(objective))
    return {"name": f"slo-{objective.service}-{objective.slo}", "rules": rules}


def render_slo_rules(catalog: Catalog) -> str | None:
    """The text of the SLO rule file, or None when no service of the catalog has an objective."""
    found = objectives(catalog)
    if not found:
        return None
    return ("# Rendered from the `slo` entries of configs/services.yaml by components/render/slo.py.\n"
            + dump_yaml({"groups": [slo_group(o) for o in found]}))
