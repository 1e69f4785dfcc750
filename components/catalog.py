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
from .settings.base import DNS_LABEL, DNS_LABEL_RULE, PORT_RULE, is_port
from .yaml_errors import describe_yaml_error

CONFIGS = Path(__file__).resolve().parent.parent / "configs"
CATALOG_FILE = CONFIGS / "services.yaml"

# Job names the monitoring stack itself uses; a catalog job may not take them.
RESERVED_JOBS = frozenset({"prometheus", "redis", "postgres", "kafka", "nginx", "monitoring",
                           "node-exporter", "cadvisor", "kube-state-metrics", "kubelet"})

# Names of the stack's own workloads: their DNS names on both targets (Docker network alias,
# Kubernetes Service, headless Services included) and their Docker containers `quikapp-<name>` (a
# service's container is `quikapp-<service>`, see examples/service-stack). A service of that name
# would share the tool's DNS name on Docker: Prometheus would scrape the tool on the service's port
# and ServiceDown page for it. tests/test_catalog.py fails when a stack deploys a name missing here.
RESERVED_SERVICES = frozenset({
    "prometheus", "prometheus-headless", "prometheus-config",
    "alertmanager", "alertmanager-headless", "alertmanager-config", "alertmanager-config-reloader",
    "grafana", "grafana-config", "loki", "loki-config", "promtail", "jaeger",
    "redis-exporter", "postgres-exporter", "kafka-exporter", "nginx-exporter",
    "node-exporter", "cadvisor", "kube-state-metrics",
})

EMPTY_CATALOG_WARNING = ("configs/services.yaml lists no service: Prometheus scrapes only the monitoring stack "
                         "until a service is added (docs/SERVICE-TEAMS.md)")

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


def _entry_value(value: Any) -> str:
    # The entry as written in the file (`prometheus: 6007`), a mapping or list by its kind.
    return str(value) if isinstance(value, (int, str)) and not isinstance(value, bool) else _shown(value)


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
    elif not is_port(entry["port"]):
        problems.append(f"{where}.port: {_shown(entry['port'])} is not valid (allowed: {PORT_RULE})")
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
        elif name in RESERVED_SERVICES:
            problems.append(f"{where}.{name}: '{name}: {_entry_value(port)}' names a workload of the monitoring "
                            f"stack itself (allowed: any other name; reserved: {', '.join(sorted(RESERVED_SERVICES))})")
        elif name in seen:
            problems.append(f"{where}.{name}: service {name!r} is also listed under jobs.{seen[name]} "
                            "(allowed: each service under one job)")
        else:
            seen[name] = job
        if isinstance(port, dict):
            problems += _check_service_entry(f"{where}.{name}", port)
        elif not is_port(port):  # the stack file's port rule (settings.base.Port): no quoted numbers either
            problems.append(f"{where}.{name}: {_shown(port)} is not valid (allowed: {PORT_RULE})")
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
    if jobs is None:  # `jobs:` with every job removed: an empty catalog (__main__.py warns once)
        return problems
    if not isinstance(jobs, dict):
        return [*problems, f"jobs: {_shown(jobs)} is not valid "
                           "(allowed: a mapping of job name to its services, or empty)"]
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
    return Catalog(jobs=tuple(_job(name, job) for name, job in (data["jobs"] or {}).items()))


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


def _twice(path: tuple[str, ...], key: str, first: yaml.Node, again: yaml.Node) -> str:
    lines = f"on lines {first.start_mark.line + 1} and {again.start_mark.line + 1}"
    if len(path) == 3 and path[0] == "jobs" and path[2] == "services":
        return (f"jobs.{path[1]}.services.{key}: service {key!r} is listed twice under jobs.{path[1]}, {lines} "
                "(allowed: each service once per job)")
    if path == ("jobs",):
        return f"jobs.{key}: job {key!r} is listed twice, {lines} (allowed: each job once)"
    dotted = "".join(part if part.startswith("[") else f".{part}" for part in (*path, key)).lstrip(".")
    return f"{dotted}: key {key!r} is given twice, {lines} (allowed: each key once)"


def _duplicate_keys(node: yaml.Node, path: tuple[str, ...] = (), seen: set[int] | None = None) -> list[str]:
    """A line for every key given twice in one mapping, in file order. PyYAML keeps the last of two
    equal keys without a word: a service listed twice under one job would silently lose its first
    port. Keys are compared as written with their tag (`3000` and `'3000'` differ, as once loaded)."""
    seen = set() if seen is None else seen
    if id(node) in seen:  # an alias of a node already walked (or a recursive one)
        return []
    seen.add(id(node))
    found: list[str] = []
    if isinstance(node, yaml.MappingNode):
        first: dict[tuple[str, str], yaml.Node] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else "?"
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                if (key_node.tag, key) in first:
                    found.append(_twice(path, key, first[(key_node.tag, key)], key_node))
                else:
                    first[(key_node.tag, key)] = key_node
            found += _duplicate_keys(value_node, (*path, key), seen)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            found += _duplicate_keys(item, (*path, f"[{index}]"), seen)
    return found


def _load_yaml(text: str) -> tuple[Any, list[str]]:
    """The document (as yaml.safe_load gives it) and a problem line per duplicate key."""
    loader = yaml.SafeLoader(text)  # safe: no arbitrary objects
    try:
        node = loader.get_single_node()
        if node is None:
            return None, []
        return loader.construct_document(node), _duplicate_keys(node)
    finally:
        loader.dispose()


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
        data, twice = _load_yaml(text)
    except yaml.YAMLError as exc:
        raise CatalogError(f"invalid service catalog: {source}: {describe_yaml_error(exc)}") from None
    if twice:
        raise CatalogError(_report(source, twice + catalog_problems(data)))
    return parse_catalog(data, source=source)
