"""The service catalog reports every problem at once, one line each, in the settings' style."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi
import pytest

from components.catalog import RESERVED_JOBS, CatalogError, load_catalog, parse_catalog
from harness import ROOT

SOURCE = "configs/services.yaml"
PORT = "(allowed: a port number from 1 to 65535, without quotes)"
DNS = "(allowed: a DNS label: lowercase letters, digits and '-', at most 63)"


def problems(data: Any) -> list[str]:
    with pytest.raises(CatalogError) as caught:
        parse_catalog(data)
    message = str(caught.value)
    if "\n" not in message:
        return [message.removeprefix("invalid service catalog: ")]
    heading, *lines = message.splitlines()
    assert heading == "invalid service catalog:"
    return [line.removeprefix("  ") for line in lines]


def test_the_repository_catalog_loads() -> None:
    assert [job.name for job in load_catalog().jobs][:2] == ["nestjs-services", "spring-services"]


@pytest.mark.parametrize(("catalog", "line"), [
    ({"jobs": {"go": {"services": {"a": "6001"}}}}, f"jobs.go.services.a: '6001' is not valid {PORT}"),
    ({"jobs": {"go": {"services": {"a": 70000}}}}, f"jobs.go.services.a: 70000 is not valid {PORT}"),
    ({"jobs": {"go": {"services": {"a": True}}}}, f"jobs.go.services.a: True is not valid {PORT}"),
    ({"jobs": {"go": {"services": {"Bad_Name": 1}}}},
     f"jobs.go.services.Bad_Name: service name 'Bad_Name' is not valid {DNS}"),
    ({"jobs": {"Go": {"services": {"a": 1}}}}, f"jobs.Go: job name 'Go' is not valid {DNS}"),
    ({"jobs": {"go": {"services": {}}}},
     "jobs.go.services: an empty mapping is not valid (allowed: a mapping of service name to metrics port, "
     "at least one service)"),
    ({"jobs": {"go": {"metrics_path": "metrics", "services": {"a": 1}}}},
     "jobs.go.metrics_path: 'metrics' is not valid (allowed: a URL path such as /metrics or /actuator/prometheus)"),
    ({"jobs": {"go": {"services": {"a": 1}}, "py": {"services": {"a": 2}}}},
     "jobs.py.services.a: service 'a' is also listed under jobs.go (allowed: each service under one job)"),
    ({"jobs": {"redis": {"services": {"a": 1}}}},
     "jobs.redis: job name 'redis' is reserved for the monitoring stack (allowed: any other name; reserved: "
     f"{', '.join(sorted(RESERVED_JOBS))})"),
    ({"jobs": {"kubelet": {"services": {"a": 1}}}},
     "jobs.kubelet: job name 'kubelet' is reserved for the monitoring stack (allowed: any other name; reserved: "
     f"{', '.join(sorted(RESERVED_JOBS))})"),
    ({"jobs": {"go": {"services": {"a": 1}, "port": 3}}},
     "jobs.go.port: unknown key (allowed here: metrics_path, team, services)"),
    ({"jobs": {"go": {"metrics_path": "/metrics"}}}, "jobs.go.services: required, but not set"),
    ({"jobs": {"go": None}}, "jobs.go: an empty value is not valid (allowed: a mapping with services and, "
                             "optionally, metrics_path and team)"),
    ({"jobs": {}}, "jobs: an empty mapping is not valid (allowed: a mapping of job name to its services, "
                   "at least one job)"),
    ({"services": []}, "services: unknown key (allowed here: jobs)"),
    ([1], "a list is not valid (allowed: a mapping with the key jobs)"),
])
def test_a_bad_entry_is_one_line_naming_file_key_value_and_rule(catalog: Any, line: str) -> None:
    assert line in [p.removeprefix(f"{SOURCE}: ") for p in problems(catalog)]
    assert all(p.startswith(f"{SOURCE}: ") for p in problems(catalog))


def test_every_problem_is_reported_at_once_in_file_order() -> None:
    catalog = {"jobs": {
        "go": {"metrics_path": "metrics", "services": {"a": 70000, "Bad": 1, "b": 2}},
        "redis": {"services": {"b": 3}},
    }}
    assert [p.removeprefix(f"{SOURCE}: ") for p in problems(catalog)] == [
        "jobs.go.metrics_path: 'metrics' is not valid (allowed: a URL path such as /metrics or /actuator/prometheus)",
        f"jobs.go.services.a: 70000 is not valid {PORT}",
        f"jobs.go.services.Bad: service name 'Bad' is not valid {DNS}",
        "jobs.redis: job name 'redis' is reserved for the monitoring stack (allowed: any other name; reserved: "
        f"{', '.join(sorted(RESERVED_JOBS))})",
        "jobs.redis.services.b: service 'b' is also listed under jobs.go (allowed: each service under one job)",
    ]


def test_a_duplicate_never_dumps_the_catalog() -> None:
    catalog = {"jobs": {f"job-{n}": {"services": {f"svc-{n}-{m}": 8000 + m for m in range(20)}} for n in range(3)}}
    catalog["jobs"]["job-2"]["services"]["svc-0-0"] = 9000
    (line,) = problems(catalog)
    assert len(line) < 160 and "{" not in line, line


def test_a_yaml_error_is_one_line_with_its_position(tmp_path: Path) -> None:
    # (The program's own catalog is named configs/services.yaml: see tests/test_settings.py.)
    other = tmp_path / "services.yaml"
    other.write_text((ROOT / SOURCE).read_text().replace("backend: 3000", "backend: [3000"))
    with pytest.raises(CatalogError) as caught:
        load_catalog(other)
    message = str(caught.value)
    assert message.startswith(f"invalid service catalog: {other}: line ") and "not valid YAML" in message
    assert "\n" not in message


def test_a_service_listed_twice_under_one_job_is_refused(tmp_path: Path) -> None:
    """YAML keeps only the last of two equal keys: the first port would vanish without a word."""
    path = tmp_path / "services.yaml"
    path.write_text((ROOT / SOURCE).read_text().replace("      realtime: 3001\n",
                                                        "      realtime: 3001\n      backend: 3009\n"))
    with pytest.raises(CatalogError) as caught:
        load_catalog(path)
    assert "key 'backend' appears twice in one mapping (allowed: each key once)" in str(caught.value)


def test_a_missing_catalog_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(CatalogError) as caught:
        load_catalog(tmp_path / "services.yaml")
    assert str(caught.value) == f"invalid service catalog: {tmp_path / 'services.yaml'}: cannot be read " \
                                "(No such file or directory)"


def test_catalog_errors_take_pulumis_run_error_route() -> None:
    # The language host prints a RunError without a traceback (see tests/test_settings.py).
    assert issubclass(CatalogError, pulumi.RunError)
