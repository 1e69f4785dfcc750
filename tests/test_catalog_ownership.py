"""The catalog's `team` and `slo` entries: what they parse to, and one line per mistake."""

from __future__ import annotations

from typing import Any

import pytest

from components.catalog import CatalogError, LatencyObjective, ServiceSlo, load_catalog, parse_catalog

SOURCE = "configs/services.yaml"
DNS = "a team name: a DNS label: lowercase letters, digits and '-', at most 63"
OBJECTIVE = ("a percentage above 93.06 and below 100, such as 99.9, without quotes (a lower objective would "
             "need more than every request to fail before the fastest burn-rate page fires)")
THRESHOLD = ("seconds from 0.001 to 60, such as 0.25, without quotes: a bucket boundary (`le`) of the service's "
             "http_request_duration_seconds histogram")


def problems(data: Any) -> list[str]:
    with pytest.raises(CatalogError) as caught:
        parse_catalog(data)
    lines = str(caught.value).removeprefix("invalid service catalog:").strip().splitlines()
    return [line.strip().removeprefix(f"{SOURCE}: ") for line in lines]


def test_a_service_team_overrides_its_jobs_and_both_forms_mix() -> None:
    catalog = parse_catalog({"jobs": {
        "go": {"team": "core", "services": {
            "bookmark": 6005,
            "checkout": {"port": 6010, "team": "payments",
                         "slo": {"availability": 99.9, "latency": {"threshold": 0.25, "target": 99}}},
            "search": {"port": 6003, "slo": {"latency": {"threshold": 1, "target": 95}}}}},
        "py": {"services": {"ml": 5006, "billing": {"port": 5009, "team": "payments"}}},
    }})
    go, py = catalog.jobs
    assert go.services == (("bookmark", 6005), ("checkout", 6010), ("search", 6003))
    assert go.owners == (("bookmark", "core"), ("checkout", "payments"), ("search", "core"))
    assert py.owners == (("billing", "payments"),) and py.team_of("ml") is None
    assert go.slos == (("checkout", ServiceSlo(99.9, LatencyObjective(0.25, 99))),
                       ("search", ServiceSlo(None, LatencyObjective(1, 95))))
    assert catalog.teams() == {"core": ("bookmark", "search"), "payments": ("checkout", "billing")}


def test_the_repository_catalog_still_parses_without_owners() -> None:
    catalog = load_catalog()
    assert all(job.owners == () and job.slos == () for job in catalog.jobs)
    assert catalog.teams() == {}


@pytest.mark.parametrize(("catalog", "line"), [
    ({"jobs": {"go": {"team": "Payments", "services": {"a": 1}}}},
     f"jobs.go.team: 'Payments' is not valid (allowed: {DNS})"),
    ({"jobs": {"go": {"services": {"a": {"port": 1, "team": ""}}}}},
     f"jobs.go.services.a.team: '' is not valid (allowed: {DNS})"),
    ({"jobs": {"go": {"services": {"a": {"team": "x"}}}}}, "jobs.go.services.a.port: required, but not set"),
    ({"jobs": {"go": {"services": {"a": {"port": "80"}}}}},
     "jobs.go.services.a.port: '80' is not valid (allowed: a port number from 1 to 65535, without quotes)"),
    ({"jobs": {"go": {"services": {"a": {"port": 1, "owner": "x"}}}}},
     "jobs.go.services.a.owner: unknown key (allowed here: port, team, slo)"),
    ({"jobs": {"go": {"services": {"a": {"port": 1, "slo": {}}}}}},
     "jobs.go.services.a.slo: an empty mapping is not valid (allowed: a mapping with availability, latency or both)"),
    ({"jobs": {"go": {"services": {"a": {"port": 1, "slo": {"errors": 1}}}}}},
     "jobs.go.services.a.slo.errors: unknown key (allowed here: availability, latency)"),
    ({"jobs": {"go": {"services": {"a": {"port": 1, "slo": {"availability": 100}}}}}},
     f"jobs.go.services.a.slo.availability: 100 is not valid (allowed: {OBJECTIVE})"),
    ({"jobs": {"go": {"services": {"a": {"port": 1, "slo": {"availability": 93}}}}}},
     f"jobs.go.services.a.slo.availability: 93 is not valid (allowed: {OBJECTIVE})"),
    ({"jobs": {"go": {"services": {"a": {"port": 1, "slo": {"availability": "99.9"}}}}}},
     f"jobs.go.services.a.slo.availability: '99.9' is not valid (allowed: {OBJECTIVE})"),
    ({"jobs": {"go": {"services": {"a": {"port": 1, "slo": {"latency": {"threshold": 0.25}}}}}}},
     "jobs.go.services.a.slo.latency.target: required, but not set"),
    ({"jobs": {"go": {"services": {"a": {"port": 1, "slo": {"latency": {"threshold": "250ms", "target": 99}}}}}}},
     f"jobs.go.services.a.slo.latency.threshold: '250ms' is not valid (allowed: {THRESHOLD})"),
    ({"jobs": {"go": {"services": {"a": {"port": 1, "slo": {"latency": {"threshold": 0.0001, "target": 99}}}}}}},
     f"jobs.go.services.a.slo.latency.threshold: 0.0001 is not valid (allowed: {THRESHOLD})"),
    ({"jobs": {"go": {"services": {"a": {"port": 1, "slo": {"latency": 0.25}}}}}},
     "jobs.go.services.a.slo.latency: 0.25 is not valid (allowed: a mapping with threshold and target)"),
])
def test_a_bad_team_or_slo_is_one_line(catalog: Any, line: str) -> None:
    assert problems(catalog) == [line]


def test_93_06_is_the_lowest_objective_the_fastest_page_can_reach() -> None:
    """14.4 x (100 - objective) % of the requests failing must be possible: 14.4 x 6.94 % < 100 %."""
    ok = {"jobs": {"go": {"services": {"a": {"port": 1, "slo": {"availability": 93.06}}}}}}
    assert parse_catalog(ok).jobs[0].slos[0][1].availability == 93.06
    with pytest.raises(CatalogError):
        parse_catalog({"jobs": {"go": {"services": {"a": {"port": 1, "slo": {"availability": 93.05}}}}}})
