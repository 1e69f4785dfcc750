"""The rendered burn-rate alerts equal Sloth's for the same objective (the oracle).

Sloth (github.com/slok/sloth v0.16.0, Apache-2.0; built by scripts/upstream-tools.sh) generates the rules
for a 99.9 % availability SLO of `checkout` from a spec with the same error and total queries. Both rule
files are read by the deployed Prometheus' own parser (/api/v1/parse_query), and each alert is reduced to
its structure: for each `or` branch, the `and`ed conditions as (window, burn-rate factor, error budget),
the window found by following the recording rule the condition reads to the range of its `rate()`. Names
(alerts, recording rules, labels) may differ; windows, factors and thresholds must not.
"""

from __future__ import annotations

import json
import urllib.parse
from pathlib import Path
from typing import Any

import yaml
from test_dashboards import _get, prometheus  # noqa: F401 (the running Prometheus fixture)

from components.catalog import parse_catalog
from components.render.slo import render_slo_rules
from tools import require, run_tool

ERRORS = 'sum(rate(http_requests_total{service="checkout", status=~"5.."}[{{.window}}]))'
TOTAL = 'sum(rate(http_requests_total{service="checkout"}[{{.window}}]))'
SLOTH_SPEC = {
    "version": "prometheus/v1",
    "service": "checkout",
    "slos": [{
        "name": "availability",
        "objective": 99.9,
        "sli": {"events": {"error_query": ERRORS, "total_query": TOTAL}},
        "alerting": {"name": "CheckoutAvailability",
                     "page_alert": {"labels": {"severity": "critical"}},
                     "ticket_alert": {"labels": {"severity": "warning"}}},
    }],
}
CATALOG = {"jobs": {"go-services": {"services": {"checkout": {"port": 6010, "slo": {"availability": 99.9}}}}}}

Condition = tuple[tuple[str, float, float], ...]  # the `and`ed (window, factor, budget) of one `or` branch


def sloth_rules(tmp_path: Path) -> dict[str, Any]:
    spec = tmp_path / "sloth-spec.yml"
    spec.write_text(yaml.safe_dump(SLOTH_SPEC, sort_keys=False))
    out = tmp_path / "sloth-rules.yml"
    result = run_tool(require("sloth"), "generate", "--no-log", "-i", spec, "-o", out)
    assert result.returncode == 0, result.stdout + result.stderr
    return dict(yaml.safe_load(out.read_text()))


def our_rules(text: str | None = None) -> dict[str, Any]:
    return dict(yaml.safe_load(text or render_slo_rules(parse_catalog(CATALOG)) or ""))


def parse(url: str, expr: str) -> Any:
    body = urllib.parse.urlencode({"query": expr}).encode()
    reply = json.loads(_get(f"{url}/api/v1/parse_query", body))
    assert reply["status"] == "success", (expr, reply)
    return reply["data"]


def _unwrap(node: Any) -> Any:
    """Through parentheses and aggregations (Sloth's `max(...) without (sloth_window)`) to the expression."""
    while node["type"] in {"parenExpr", "aggregation"}:
        node = node["expr"]
    return node


def _branches(node: Any, op: str) -> list[Any]:
    node = _unwrap(node)
    if node["type"] == "binaryExpr" and node["op"] == op:
        return _branches(node["lhs"], op) + _branches(node["rhs"], op)
    return [node]


def _ranges(node: Any) -> set[int]:
    """Every range (milliseconds) of the matrix selectors in a parsed expression."""
    found: set[int] = set()
    if isinstance(node, dict):
        if node.get("type") == "matrixSelector":
            found.add(int(node["range"]))
        for value in node.values():
            found |= _ranges(value)
    elif isinstance(node, list):
        for value in node:
            found |= _ranges(value)
    return found


def _duration(ms: int) -> str:
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000)):
        if ms % size == 0:
            return f"{ms // size}{unit}"
    raise AssertionError(f"unexpected range {ms}ms")


def _record(rules: dict[str, Any], selector: Any) -> str:
    """The expression of the recording rule a vector selector reads (its name and label matchers)."""
    matchers = {m["name"]: m["value"] for m in selector["matchers"] if m["type"] == "=" and m["name"] != "__name__"}
    found = [rule["expr"] for group in rules["groups"] for rule in group["rules"]
             if rule.get("record") == selector["name"]
             and all(rule.get("labels", {}).get(k) == v for k, v in matchers.items())]
    assert len(found) == 1, (selector["name"], matchers, len(found))
    return str(found[0])


def structure(url: str, rules: dict[str, Any]) -> dict[str, set[Condition]]:
    """severity → the alert's `or` branches, each as its sorted (window, factor, budget) conditions."""
    out: dict[str, set[Condition]] = {}
    for group in rules["groups"]:
        for rule in group["rules"]:
            if "alert" not in rule:
                continue
            assert "for" not in rule, rule["alert"]  # the short window resets the alert, not a hold
            branches = set()
            for branch in _branches(parse(url, rule["expr"]), "or"):
                conditions = []
                for comparison in _branches(branch, "and"):
                    assert comparison["type"] == "binaryExpr" and comparison["op"] == ">", comparison
                    selector = _unwrap(comparison["lhs"])
                    assert selector["type"] == "vectorSelector", selector
                    (window,) = _ranges(parse(url, _record(rules, selector)))
                    product = _unwrap(comparison["rhs"])
                    assert product["op"] == "*", product
                    factor, budget = float(product["lhs"]["val"]), float(product["rhs"]["val"])
                    conditions.append((_duration(window), factor, budget))
                branches.add(tuple(sorted(conditions)))
            assert rule["labels"]["severity"] not in out, "one alert rule per severity"
            out[rule["labels"]["severity"]] = branches
    return out


def same(ours: dict[str, set[Condition]], theirs: dict[str, set[Condition]]) -> bool:
    """Equal windows and factors; budgets equal up to binary rounding (Sloth writes 1 - 0.999 computed in
    float64, 0.0009999999999999432; we write the decimal 0.001)."""
    def key(structure: dict[str, set[Condition]]) -> dict[str, set[tuple[tuple[str, float, str, str], ...]]]:
        # (window, factor, budget, threshold = factor x budget), the last two to 12 significant digits.
        return {severity: {tuple((w, f, f"{b:.12g}", f"{f * b:.12g}") for w, f, b in branch) for branch in branches}
                for severity, branches in structure.items()}
    return key(ours) == key(theirs)


def test_the_burn_rate_alerts_equal_sloths(tmp_path: Path, prometheus: str) -> None:  # noqa: F811
    theirs = structure(prometheus, sloth_rules(tmp_path))
    ours = structure(prometheus, our_rules())
    # What both say, written out: the workbook's table for a 30-day 99.9 % objective.
    assert {s: sorted(b) for s, b in theirs.items()} == {
        "critical": [(("1h", 14.4, 0.0009999999999999432), ("5m", 14.4, 0.0009999999999999432)),
                     (("30m", 6.0, 0.0009999999999999432), ("6h", 6.0, 0.0009999999999999432))],
        "warning": [(("1d", 3.0, 0.0009999999999999432), ("2h", 3.0, 0.0009999999999999432)),
                    (("3d", 1.0, 0.0009999999999999432), ("6h", 1.0, 0.0009999999999999432))]}
    assert same(ours, theirs), (ours, theirs)


def test_the_sli_windows_equal_sloths(tmp_path: Path, prometheus: str) -> None:  # noqa: F811
    """Every window Sloth records an SLI for (the alerts' and the 30-day period's), we record too."""
    def windows(rules: dict[str, Any]) -> set[str]:
        return {_duration(r) for group in rules["groups"] for rule in group["rules"]
                if rule.get("record", "").startswith("slo:sli_error")
                for r in _ranges(parse(prometheus, rule["expr"]))}
    theirs = windows(sloth_rules(tmp_path))
    assert theirs == {"5m", "30m", "1h", "2h", "6h", "1d", "3d", "30d"}
    assert windows(our_rules()) == theirs


def test_a_different_factor_or_window_is_caught(tmp_path: Path, prometheus: str) -> None:  # noqa: F811
    theirs = structure(prometheus, sloth_rules(tmp_path))
    text = render_slo_rules(parse_catalog(CATALOG)) or ""
    for wrong in (text.replace("(14.4 * 0.001)", "(14 * 0.001)"),
                  text.replace("slo:sli_error:ratio_rate1h{", "slo:sli_error:ratio_rate2h{")):
        assert wrong != text
        assert not same(structure(prometheus, our_rules(wrong)), theirs)


def test_the_oracle_is_the_pinned_sloth() -> None:
    """The binary scripts/upstream-tools.sh built reports the version the script pins."""
    script = (Path(__file__).resolve().parent.parent / "scripts" / "upstream-tools.sh").read_text()
    (pinned,) = [line.split("=", 1)[1].strip('"') for line in script.splitlines() if line.startswith("SLOTH_VERSION=")]
    result = run_tool(require("sloth"), "version")
    assert result.returncode == 0 and result.stdout.strip() == pinned == "v0.16.0", result.stdout + result.stderr
