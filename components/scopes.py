"""Where each rule file and dashboard ships: the one manifest `configs/scopes.yaml`, read and checked.

A file ships to a stack when the stack's target is one of the file's `targets`, every one of its
`jobs` is a scrape job of the stack and the stack has every feature it `requires`. Rule files
(components/render/prometheus.py) and dashboards (components/render/grafana.py) are scoped alike.
Every file of the two folders must be named, and every name must be a file: a new rule file or
dashboard does not ship anywhere until its scope is written down. Every problem is reported at
once, one line each, in the service catalog's style.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .catalog import CONFIGS, RESERVED_JOBS
from .settings import Settings, SettingsError, TargetKind
from .yaml_errors import describe_yaml_error

SCOPES_FILE = CONFIGS / "scopes.yaml"

# What some stacks' tools expose and others' do not (`requires`), so that what reads it ships only
# where it exists.
FEATURES: dict[str, str] = {
    # alertmanager_cluster_* exist only when Alertmanager gossips: the replicated layout
    # (components/alertmanager.py; a single one runs with --cluster.listen-address=).
    "alertmanager-cluster": "Alertmanager runs as a cluster (highAvailability)",
    # prometheus_remote_storage_* of the queues exist only with a remote_write endpoint.
    "remote-write": "prometheus.remoteWrite names an endpoint",
}

# The manifest's sections: configs/prometheus/rules/*.yml and configs/grafana/dashboards/*.json.
SECTIONS = ("rules", "dashboards")
_SCOPE_KEYS = ("targets", "jobs", "requires")
_TARGETS = frozenset(kind.value for kind in TargetKind)


class ScopeError(SettingsError):
    """A bad manifest, or a file it does not name. A RunError (through SettingsError), so `pulumi
    preview`/`up` print the message without a traceback."""


def stack_features(settings: Settings) -> frozenset[str]:
    """The FEATURES this stack has."""
    found = {"alertmanager-cluster": settings.ha, "remote-write": bool(settings.prometheus.remote_write)}
    return frozenset(name for name, on in found.items() if on)


@dataclass(frozen=True)
class Scope:
    """Where one file ships."""

    targets: frozenset[TargetKind]
    jobs: frozenset[str]  # the scrape jobs it reads
    requires: frozenset[str] = frozenset()  # FEATURES the stack must have

    def admits(self, target: TargetKind, jobs: Collection[str], features: Collection[str] = ()) -> bool:
        return target in self.targets and self.jobs <= set(jobs) and self.requires <= set(features)

    @property
    def everywhere(self) -> bool:
        """Whether every stack gets it, whatever it scrapes."""
        return self.targets == frozenset(TargetKind) and not self.jobs and not self.requires


@dataclass(frozen=True)
class Section:
    """The scopes of one folder's files (`rules` or `dashboards`)."""

    manifest: str  # the manifest as the repository names it, for messages
    name: str
    scopes: Mapping[str, Scope]

    def shipped(self, folder: Path, pattern: str, target: TargetKind | None, jobs: Collection[str] = (),
                features: Collection[str] = ()) -> list[Path]:
        """The files of `folder` matching `pattern`, in name order, that ship to a stack with this
        target, these scrape jobs and these features (every one without a target). Refused, one line
        per file, when a file is not named or a name has no file."""
        files = sorted(folder.glob(pattern))
        names = {path.name for path in files}
        where = f"{_shown_path(folder)}/{pattern}"
        problems = [f"{self.name}.{path.name}: required, but not set ({_shown_path(path)} ships nowhere until "
                    "its scope is named here)" for path in files if path.name not in self.scopes]
        problems += [f"{self.name}.{name}: names no file (allowed: the files of {where})"
                     for name in self.scopes if name not in names]
        if problems:
            raise ScopeError(_report(self.manifest, problems))
        return [path for path in files if target is None or self.scopes[path.name].admits(target, jobs, features)]


@dataclass(frozen=True)
class Scopes:
    """The manifest: configs/prometheus/rules/*.yml (`rules`) and configs/grafana/dashboards/*.json."""

    rules: Section
    dashboards: Section


def _shown(value: Any) -> str:
    # Never a whole mapping in a one-line message: its kind instead.
    if isinstance(value, (dict, list)):
        kind = "mapping" if isinstance(value, dict) else "list"
        return f"a {kind}" if value else f"an empty {kind}"
    return "an empty value" if value is None else repr(value)


def _shown_path(path: Path) -> str:
    # A file as a reader finds it in the repository.
    try:
        return str(path.resolve().relative_to(CONFIGS.parent))
    except ValueError:
        return str(path)


def _report(source: str, lines: list[str]) -> str:
    lines = [f"{source}: {line}" for line in lines]
    if len(lines) == 1:
        return f"invalid scopes manifest: {lines[0]}"
    return "invalid scopes manifest:\n  " + "\n  ".join(lines)


def _check_list(where: str, value: Any, allowed: Collection[str], *, what: str = "", empty: bool) -> list[str]:
    names = f"{what}{', '.join(sorted(allowed))}"
    if not isinstance(value, list) or (not value and not empty):
        return [f"{where}: {_shown(value)} is not valid (allowed: a list of {names}; "
                f"{'[] for none' if empty else 'at least one'})"]
    return [f"{where}: {_shown(item)} is not valid (allowed: {names})" for item in value
            if not isinstance(item, str) or item not in allowed]


def _check_scope(where: str, entry: Any) -> list[str]:
    if not isinstance(entry, dict):
        return [f"{where}: {_shown(entry)} is not valid (allowed: a mapping with targets, jobs and, optionally, "
                "requires)"]
    problems = [f"{where}.{key}: unknown key (allowed here: {', '.join(_SCOPE_KEYS)})"
                for key in entry if key not in _SCOPE_KEYS]
    problems += [f"{where}.{key}: required, but not set" for key in ("targets", "jobs") if key not in entry]
    if "targets" in entry:
        problems += _check_list(f"{where}.targets", entry["targets"], _TARGETS, empty=False)
    if "jobs" in entry:
        problems += _check_list(f"{where}.jobs", entry["jobs"], RESERVED_JOBS, what="the stack's own scrape jobs: ",
                                empty=True)
    if "requires" in entry:
        problems += _check_list(f"{where}.requires", entry["requires"], FEATURES, empty=True)
    return problems


def scope_problems(data: Any) -> list[str]:
    """Every problem of a parsed manifest, one line each (without the file name), in file order."""
    if not isinstance(data, dict):
        return [f"{_shown(data)} is not valid (allowed: a mapping with the keys {' and '.join(SECTIONS)})"]
    problems = [f"{key}: unknown key (allowed here: {', '.join(SECTIONS)})" for key in data if key not in SECTIONS]
    for section in SECTIONS:
        if section not in data:
            problems.append(f"{section}: required, but not set")
        elif not isinstance(data[section], dict):
            problems.append(f"{section}: {_shown(data[section])} is not valid (allowed: a mapping of file name to "
                            "its scope)")
        else:
            for name, entry in data[section].items():
                problems += _check_scope(f"{section}.{name}", entry)
    return problems


def _twice(node: yaml.Node, path: str = "", seen: set[int] | None = None) -> list[str]:
    """A line for every key given twice in one mapping: PyYAML keeps the last of two without a word,
    so a file named twice would silently lose its first scope."""
    seen = set() if seen is None else seen
    if id(node) in seen or not isinstance(node, yaml.MappingNode):  # an alias walked already, or no mapping
        return []
    seen.add(id(node))
    found: list[str] = []
    lines: dict[str, int] = {}
    for key_node, value_node in node.value:
        key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else "?"
        where, line = f"{path}.{key}" if path else key, key_node.start_mark.line + 1
        if key in lines:
            found.append(f"{where}: given twice, on lines {lines[key]} and {line} (allowed: each key once)")
        lines.setdefault(key, line)
        found += _twice(value_node, where, seen)
    return found


def _scope(entry: dict[str, Any]) -> Scope:
    return Scope(targets=frozenset(TargetKind(t) for t in entry["targets"]), jobs=frozenset(entry["jobs"]),
                 requires=frozenset(entry.get("requires", [])))


def load_scopes(path: Path = SCOPES_FILE) -> Scopes:
    """The checked manifest, or a ScopeError with one line per problem."""
    source = _shown_path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScopeError(f"invalid scopes manifest: {source}: cannot be read ({exc.strerror})") from None
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = None if node is None else loader.construct_document(node)
    except yaml.YAMLError as exc:
        raise ScopeError(f"invalid scopes manifest: {source}: {describe_yaml_error(exc)}") from None
    finally:
        loader.dispose()
    problems = (_twice(node) if node is not None else []) + scope_problems(data)
    if problems:
        raise ScopeError(_report(source, problems))
    assert isinstance(data, dict)
    sections = {name: Section(source, name, {str(file): _scope(entry) for file, entry in data[name].items()})
                for name in SECTIONS}
    return Scopes(rules=sections["rules"], dashboards=sections["dashboards"])
