"""The service catalog (`configs/services.yaml`): which QuikApp services exist, how to scrape them,
which team owns each one and which service level objectives (SLOs) it keeps.

Parsed and validated once per program run. Every problem is reported at once, one line each,
in the settings' style: the file, the entry's path, the bad value and what is allowed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .settings import SettingsError
from .settings.base import DNS_LABEL, DNS_LABEL_RULE

CONFIGS = Path(__file__).resolve().parent.parent / "configs"
CATALOG_FILE = CONFIGS / "services.yaml"

# Job names the monitoring stack itself uses; a catalog job may not take them.
RESERVED_JOBS = frozenset({"prometheus", "redis", "postgres", "kafka", "nginx", "monitoring",
                           "node-exporter", "cadvisor", "kube-state-metrics", "kubelet"})

_METRICS_PATH = re.compile(r"/[\w./-]*")
_JOB_KEYS = ("metrics_path", "team", "services")


class CatalogError(SettingsError):
    """A bad service catalog. A RunError (through SettingsError), so `pulumi preview`/`up` print
    the message without a traceback, like a bad stack setting."""


@dataclass(frozen=True)
class LatencyObjective:
    threshold: float  # seconds: a bucket boundary (`le`) of http_request_duration_seconds
    target: float  # percent of requests answered within `threshold`


@dataclass(frozen=True)
class ServiceSlo:
    """A service's objectives over the SLO period (components/render/slo.py renders them)."""

    availability: float | None = None  # percent of requests not answered with a 5xx
    latency: LatencyObjective | None = None


@dataclass(frozen=True)
class ServiceJob:
    name: str
    metrics_path: str
    services: tuple[tuple[str, int], ...]  # (DNS name, metrics port), in catalog order
    # (service, team) for every service that has an owner: its own `team`, else its job's.
    owners: tuple[tuple[str, str], ...] = ()
    slos: tuple[tuple[str, ServiceSlo], ...] = ()  # (service, objectives) of the services that have some

    def team_of(self, service: str) -> str | None:
        return dict(self.owners).get(service)


@dataclass(frozen=True)
class Catalog:
    jobs: tuple[ServiceJob, ...]

    def teams(self) -> dict[str, tuple[str, ...]]:
        """Team → its services, teams sorted by name, services in catalog order."""
        owned: dict[str, list[str]] = {}
        for job in self.jobs:
            for service, team in job.owners:
                owned.setdefault(team, []).append(service)
        return {team: tuple(owned[team]) for team in sorted(owned)}


def _shown(value: Any) -> str:
    # Never dump a whole mapping into a one-line message: name its kind instead.
    if isinstance(value, (dict, list)):
        kind = "mapping" if isinstance(value, dict) else "list"
        return f"a {kind}" if value else f"an empty {kind}"
    if value is None:
        return "an empty value"
    return repr(value)


def _is_port(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 65535


_SERVICE_KEYS = ("port", "team", "slo")
_SLO_KEYS = ("availability", "latency")
_LATENCY_KEYS = ("threshold", "target")
# The fastest page of the multiwindow, multi-burn-rate alerts fires above 14.4 times the error budget
# (components/render/slo.py): at an objective of 93.06 % or lower that is more than every request failing.
_FASTEST_BURN = 14.4
_OBJECTIVE_RULE = ("a percentage above 93.06 and below 100, such as 99.9, without quotes (a lower objective "
                   "would need more than every request to fail before the fastest burn-rate page fires)")
_THRESHOLD_RULE = ("seconds from 0.001 to 60, such as 0.25, without quotes: a bucket boundary (`le`) of the "
                   "service's http_request_duration_seconds histogram")
TEAM_RULE = "a team name: " + DNS_LABEL_RULE


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_team(where: str, team: Any) -> list[str]:
    if isinstance(team, str) and re.fullmatch(DNS_LABEL, team):
        return []
    return [f"{where}: {_shown(team)} is not valid (allowed: {TEAM_RULE})"]


def _check_objective(where: str, value: Any) -> list[str]:
    if _is_number(value) and 0 < value < 100 and _FASTEST_BURN * (100 - value) < 100:
        return []
    return [f"{where}: {_shown(value)} is not valid (allowed: {_OBJECTIVE_RULE})"]


def _unknown(where: str, entry: dict[Any, Any], allowed: tuple[str, ...]) -> list[str]:
    return [f"{where}.{key}: unknown key (allowed here: {', '.join(allowed)})" for key in entry if key not in allowed]


def _check_latency(where: str, latency: Any) -> list[str]:
    if not isinstance(latency, dict):
        return [f"{where}: {_shown(latency)} is not valid (allowed: a mapping with threshold and target)"]
    problems = _unknown(where, latency, _LATENCY_KEYS)
    for key in _LATENCY_KEYS:
        if key not in latency:
            problems.append(f"{where}.{key}: required, but not set")
    if "threshold" in latency:
        threshold: Any = latency["threshold"]
        if not (_is_number(threshold) and 0.001 <= threshold <= 60):
            problems.append(f"{where}.threshold: {_shown(threshold)} is not valid (allowed: {_THRESHOLD_RULE})")
    if "target" in latency:
        problems += _check_objective(f"{where}.target", latency["target"])
    return problems


def _check_slo(where: str, slo: Any) -> list[str]:
    if not isinstance(slo, dict) or not slo:
        return [f"{where}: {_shown(slo)} is not valid (allowed: a mapping with availability, latency or both)"]
    problems = _unknown(where, slo, _SLO_KEYS)
    if "availability" in slo:
        problems += _check_objective(f"{where}.availability", slo["availability"])
    if "latency" in slo:
        problems += _check_latency(f"{where}.latency", slo["latency"])
    return problems


def _check_service_entry(where: str, entry: dict[Any, Any]) -> list[str]:
    """The long form of a service: a mapping with its port and, optionally, its team and SLOs."""
    problems = _unknown(where, entry, _SERVICE_KEYS)
    if "port" not in entry:
        problems.append(f"{where}.port: required, but not set")
    elif not _is_port(entry["port"]):
        problems.append(f"{where}.port: {_shown(entry['port'])} is not valid "
                        "(allowed: a port number from 1 to 65535, without quotes)")
    if "team" in entry:
        problems += _check_team(f"{where}.team", entry["team"])
    if "slo" in entry:
        problems += _check_slo(f"{where}.slo", entry["slo"])
    return problems


def _check_services(job: str, services: Any, seen: dict[str, str]) -> list[str]:
    where = f"jobs.{job}.services"
    if not isinstance(services, dict) or not services:
        return [f"{where}: {_shown(services)} is not valid "
                "(allowed: a mapping of service name to metrics port, at least one service)"]
    problems = []
    for name, port in services.items():
        if not isinstance(name, str) or not re.fullmatch(DNS_LABEL, name):
            problems.append(f"{where}.{name}: service name {name!r} is not valid (allowed: {DNS_LABEL_RULE})")
        elif name in seen:
            problems.append(f"{where}.{name}: service {name!r} is also listed under jobs.{seen[name]} "
                            "(allowed: each service under one job)")
        else:
            seen[name] = job
        if isinstance(port, dict):
            problems += _check_service_entry(f"{where}.{name}", port)
        elif not _is_port(port):
            problems.append(f"{where}.{name}: {_shown(port)} is not valid "
                            "(allowed: a port number from 1 to 65535, without quotes)")
    return problems


def _check_job(name: Any, job: Any, seen: dict[str, str]) -> list[str]:
    where = f"jobs.{name}"
    problems = []
    if not isinstance(name, str) or not re.fullmatch(DNS_LABEL, name):
        problems.append(f"{where}: job name {name!r} is not valid (allowed: {DNS_LABEL_RULE})")
    elif name in RESERVED_JOBS:
        problems.append(f"{where}: job name {name!r} is reserved for the monitoring stack "
                        f"(allowed: any other name; reserved: {', '.join(sorted(RESERVED_JOBS))})")
    if not isinstance(job, dict):
        return [*problems, f"{where}: {_shown(job)} is not valid "
                           "(allowed: a mapping with services and, optionally, metrics_path and team)"]
    problems += [f"{where}.{key}: unknown key (allowed here: {', '.join(_JOB_KEYS)})"
                 for key in job if key not in _JOB_KEYS]
    path = job.get("metrics_path", "/metrics")
    if not isinstance(path, str) or not _METRICS_PATH.fullmatch(path):
        problems.append(f"{where}.metrics_path: {_shown(path)} is not valid "
                        "(allowed: a URL path such as /metrics or /actuator/prometheus)")
    if "team" in job:
        problems += _check_team(f"{where}.team", job["team"])
    if "services" not in job:
        problems.append(f"{where}.services: required, but not set")
    else:
        problems += _check_services(str(name), job["services"], seen)
    return problems


def catalog_problems(data: Any) -> list[str]:
    """Every problem of a parsed catalog, one line each (without the file name), in file order."""
    if not isinstance(data, dict):
        return [f"{_shown(data)} is not valid (allowed: a mapping with the key jobs)"]
    problems = [f"{key}: unknown key (allowed here: jobs)" for key in data if key != "jobs"]
    jobs = data.get("jobs")
    if "jobs" not in data:
        return [*problems, "jobs: required, but not set"]
    if not isinstance(jobs, dict) or not jobs:
        return [*problems, f"jobs: {_shown(jobs)} is not valid "
                           "(allowed: a mapping of job name to its services, at least one job)"]
    seen: dict[str, str] = {}
    for name, job in jobs.items():
        problems += _check_job(name, job, seen)
    return problems


def _report(source: str, lines: list[str]) -> str:
    lines = [f"{source}: {line}" for line in lines]
    if len(lines) == 1:
        return f"invalid service catalog: {lines[0]}"
    return "invalid service catalog:\n  " + "\n  ".join(lines)


def parse_catalog(data: object, source: str = "configs/services.yaml") -> Catalog:
    problems = catalog_problems(data)
    if problems:
        raise CatalogError(_report(source, problems))
    assert isinstance(data, dict)
    return Catalog(jobs=tuple(_job(name, job) for name, job in data["jobs"].items()))


def _job(name: str, job: dict[str, Any]) -> ServiceJob:
    """A checked job: the long form of a service (a mapping) next to the short one (`name: port`)."""
    entries = {service: entry if isinstance(entry, dict) else {"port": entry}
               for service, entry in job["services"].items()}
    owners = []
    slos = []
    for service, entry in entries.items():
        # The service's own team overrides its job's.
        team = entry.get("team", job.get("team"))
        if team is not None:
            owners.append((service, team))
        if "slo" in entry:
            latency = entry["slo"].get("latency")
            slos.append((service, ServiceSlo(
                availability=entry["slo"].get("availability"),
                latency=None if latency is None else LatencyObjective(latency["threshold"], latency["target"]))))
    return ServiceJob(name=name, metrics_path=job.get("metrics_path", "/metrics"),
                      services=tuple((service, entry["port"]) for service, entry in entries.items()),
                      owners=tuple(owners), slos=tuple(slos))


class _StrictLoader(yaml.SafeLoader):
    """PyYAML keeps the last of two equal keys without a word: a service listed twice under one
    job would silently lose its first port. Refuse duplicate keys instead."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        keys: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in keys:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} appears twice in one mapping (allowed: each key once)",
                    key_node.start_mark)
            keys.add(key)
        return super().construct_mapping(node, deep=deep)


def _source(path: Path) -> str:
    # Name the file as a reader finds it in the repository, not by its bare name.
    try:
        return str(path.resolve().relative_to(CONFIGS.parent))
    except ValueError:
        return str(path)


def load_catalog(path: Path = CATALOG_FILE) -> Catalog:
    source = _source(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CatalogError(f"invalid service catalog: {source}: cannot be read ({exc.strerror})") from None
    try:
        data = yaml.load(text, Loader=_StrictLoader)  # a SafeLoader subclass: no arbitrary objects
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise CatalogError(f"invalid service catalog: {source}: {where}not valid YAML ({problem})") from None
    return parse_catalog(data, source=source)
