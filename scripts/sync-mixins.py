#!/usr/bin/env python3
"""Render the upstream mixins' alerts and recording rules into configs/prometheus/rules/.

    venv/bin/python scripts/sync-mixins.py           # (re)write every <name>-mixin.yml
    venv/bin/python scripts/sync-mixins.py --check   # exit 1 if a committed file differs

What to render, at which pinned version and with which `_config`, is configs/prometheus/rules/
mixins.yaml; the features a `split` file's alerts need (its header names them) are that file's
`requires` in configs/scopes.yaml, where every rule file's scope is. Like kube-prometheus-stack's
hack/sync_prometheus_rules.py, the output is committed and a test (tests/test_mixins.py) re-runs
this script to prove the committed files are exactly what the pinned sources render.

Sources: `go mod download -json MODULE@VERSION` (the Go module proxy; each mixin sits inside its
project's Go module) — the zip's go.sum hash must equal the manifest's `sum`. A mixin that is no Go
module (`git:` in the manifest, e.g. kubernetes-mixin) is read from a git clone given on the command
line, at the manifest's `commit` (which the `tag` must name in that clone):

    venv/bin/python scripts/sync-mixins.py --checkout kubernetes=PATH/TO/kubernetes-mixin

Without its clone such a mixin is checked against its record instead: the manifest's `rendered`, the
sha256 of its output files as last rendered from the pinned commit (the script writes it), so CI,
which has no clone, still catches a hand-edited or stale file. Evaluator: PyPI's `jsonnet` (the C++
evaluator's binding), reading the mixin's files straight from the zip or the commit.
Exit status: 0 done, 1 --check found a difference, 2 the sources or the evaluator could not be had
(one line on stderr naming what and why).
"""

from __future__ import annotations

import argparse
import difflib
import hashlib
import io
import json
import os
import posixpath
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from components.render.yamltext import dump_yaml  # noqa: E402  (the repo's one deterministic YAML writer)
from components.scopes import SCOPES_FILE, ScopeError, Section, load_scopes  # noqa: E402

RULES = ROOT / "configs" / "prometheus" / "rules"
MANIFEST = RULES / "mixins.yaml"
SCRIPT = "scripts/sync-mixins.py"
# Prometheus rule keys in the order people read them (jsonnet emits object keys sorted).
RULE_KEYS = ("alert", "record", "expr", "for", "keep_firing_for", "labels", "annotations")


class SyncError(Exception):
    """A source or tool could not be had; the message is the one line the user sees."""


@dataclass(frozen=True)
class Split:
    """Alerts of a mixin that read series only some stacks have: rendered into a file of their own,
    shipped only where the stack has every feature in `requires` (its scope in configs/scopes.yaml)."""

    output: str
    alerts: frozenset[str]
    requires: tuple[str, ...]


@dataclass(frozen=True)
class Mixin:
    name: str
    output: str
    version: str  # the Go module version, or the git tag
    dir: str
    imports: tuple[str, ...]
    config: dict[str, Any]
    runbook_url: str
    runbook_fallback: str
    runbook_alerts: frozenset[str]
    drop_alerts: frozenset[str]
    drop_groups: frozenset[str]
    split: tuple[Split, ...]
    commit: str | None
    # A Go module (module, sum) or a git repository (git, read from a clone at `commit`, with the
    # `rendered` record CI checks without a clone).
    module: str | None = None
    sum: str | None = None
    git: str | None = None
    rendered: str | None = None
    # Upstream's promtool tests (a folder of the source), synced into tests/rules/<tests_output>/: the
    # cases of what the stack ships, run against the shipped file (tests/test_alert_rules.py).
    tests: str | None = None
    tests_output: str | None = None

    @property
    def outputs(self) -> tuple[str, ...]:
        return (self.output, *(s.output for s in self.split))


# The keys of a manifest entry and of its `split`s. Where a file ships is no key here: configs/scopes.yaml.
MIXIN_KEYS = ("name", "output", "module", "git", "version", "commit", "sum", "dir", "imports", "config", "runbooks",
              "drop_alerts", "drop_groups", "split", "tests", "rendered")
SPLIT_KEYS = ("output", "alerts")


def load_manifest(path: Path = MANIFEST, scopes: Path = SCOPES_FILE) -> list[Mixin]:
    try:
        rules = load_scopes(scopes).rules
    except ScopeError as err:
        raise SyncError(str(err)) from None
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        return [_mixin(entry, rules) for entry in data["mixins"]]
    except SyncError as err:
        raise SyncError(f"{path}: {err}") from None
    except (OSError, yaml.YAMLError, KeyError, TypeError) as err:
        problem = f"missing key {err}" if isinstance(err, KeyError) else str(err).replace("\n", " ")
        raise SyncError(f"{path}: {problem}") from None


def _unknown(entry: dict[str, Any], allowed: tuple[str, ...], where: str) -> None:
    for key in entry:
        if key not in allowed:
            raise SyncError(f"{where}: unknown key {key!r} (allowed here: {', '.join(allowed)}; "
                            f"where a file ships is {SCOPES_FILE.relative_to(ROOT)})")


def _requires(split: dict[str, Any], rules: Section, mixin: str) -> tuple[str, ...]:
    """What the split file's alerts need: its scope's `requires`, which its header names."""
    scope = rules.scopes.get(split["output"])
    if scope is None or not scope.requires:
        raise SyncError(f"the {mixin} mixin's split file {split['output']} has no `requires` in "
                        f"{rules.manifest} `rules` (allowed: its scope, naming the features its alerts need)")
    return tuple(sorted(scope.requires))


def _mixin(entry: dict[str, Any], rules: Section) -> Mixin:
    _unknown(entry, MIXIN_KEYS, f"mixin {entry.get('name')}")
    for split in entry.get("split", []):
        _unknown(split, SPLIT_KEYS, f"mixin {entry.get('name')} split {split.get('output')}")
    runbooks = entry["runbooks"]
    if "git" in entry:  # a git repository: the clone must hold `commit`, and `rendered` records the output
        tests = entry.get("tests", {})
        source: dict[str, Any] = {"git": entry["git"], "commit": entry["commit"], "rendered": entry["rendered"] or None,
                                  "tests": tests.get("from"), "tests_output": tests.get("to")}
    else:
        source = {"module": entry["module"], "sum": entry["sum"], "commit": entry.get("commit")}
    return Mixin(
        name=entry["name"], output=entry["output"], version=entry["version"],
        dir=entry["dir"], imports=tuple(entry["imports"]), config=dict(entry["config"]),
        runbook_url=runbooks["url"], runbook_fallback=runbooks["fallback"],
        runbook_alerts=frozenset(runbooks["alerts"]), drop_alerts=frozenset(entry["drop_alerts"]),
        drop_groups=frozenset(entry.get("drop_groups", [])),
        split=tuple(Split(s["output"], frozenset(s["alerts"]), _requires(s, rules, entry["name"]))
                    for s in entry.get("split", [])),
        **source,
    )


def _jsonnet() -> Any:
    try:
        import _jsonnet  # type: ignore[import-not-found,unused-ignore]
    except ImportError as err:
        raise SyncError(f"the jsonnet evaluator is missing ({err}): pip install -r requirements-dev.txt") from err
    return _jsonnet


def download(mixin: Mixin, workdir: Path) -> dict[str, bytes]:
    """The mixin's files from the Go module zip, checked against the pinned go.sum hash."""
    # The Go toolchain's own place on these machines, for a PATH without it (scripts/upstream-tools.sh too).
    go = shutil.which("go") or next((p for p in ("/usr/local/go/bin/go",) if os.access(p, os.X_OK)), None)
    if go is None:
        raise SyncError("go not found: the mixin sources come from the Go module proxy (`go mod download`)")
    ref = f"{mixin.module}@{mixin.version}"
    # Outside any module (workdir), on the machine's own Go: never fetch a toolchain.
    env = {**os.environ, "GOTOOLCHAIN": "local", "GOFLAGS": "-mod=mod"}
    result = subprocess.run([go, "mod", "download", "-json", ref], capture_output=True, text=True,
                            cwd=workdir, env=env, timeout=600)
    try:
        info = json.loads(result.stdout)
    except json.JSONDecodeError:
        raise SyncError(f"go mod download {ref}: {(result.stderr or result.stdout).strip()}") from None
    if info.get("Error") or result.returncode != 0:
        raise SyncError(f"go mod download {ref}: {info.get('Error') or result.stderr.strip()}")
    if info["Sum"] != mixin.sum:
        raise SyncError(f"{ref}: the module zip hashes to {info['Sum']}, mixins.yaml pins {mixin.sum}")
    prefix = f"{ref}/{mixin.dir}/"
    with zipfile.ZipFile(info["Zip"]) as archive:
        return {name[len(prefix):]: archive.read(name) for name in archive.namelist() if name.startswith(prefix)}


def from_checkout(mixin: Mixin, checkout: Path) -> dict[str, bytes]:
    """The mixin's files at the pinned commit of a git clone (bare or not), whose tag must name it."""
    def git(*args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(["git", "-C", str(checkout), *args], capture_output=True, timeout=120)

    tagged = git("rev-parse", "--verify", "--quiet", f"refs/tags/{mixin.version}^{{commit}}")
    if tagged.returncode != 0:
        raise SyncError(f"{checkout}: no tag {mixin.version} (a clone of {mixin.git} is needed)")
    if tagged.stdout.decode().strip() != mixin.commit:
        raise SyncError(f"{checkout}: tag {mixin.version} is commit {tagged.stdout.decode().strip()}, "
                        f"mixins.yaml pins {mixin.commit}")
    archive = git("archive", "--format=tar", str(mixin.commit), *([mixin.dir] if mixin.dir else []))
    if archive.returncode != 0:
        raise SyncError(f"{checkout}: git archive {mixin.commit}: {archive.stderr.decode().strip()}")
    prefix = f"{mixin.dir}/" if mixin.dir else ""
    files = {}
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        for member in tar.getmembers():
            handle = tar.extractfile(member) if member.isfile() else None
            if handle is not None:
                files[member.name[len(prefix):]] = handle.read()
    return files


def evaluate(mixin: Mixin, files: dict[str, bytes]) -> list[dict[str, Any]]:
    """The mixin's alert groups then its recording-rule groups, rendered with our `_config`."""
    def resolve(base: str, rel: str) -> tuple[str, bytes]:
        # `base` is the importing file's folder inside the mixin ("" for the snippet itself).
        path = posixpath.normpath(posixpath.join(base, rel))
        if path not in files:
            raise RuntimeError(f"{rel} (from {base or '.'}) is not in {mixin.dir or 'the repository root'}")
        return path, files[path]

    parts = " + ".join(f"(import {json.dumps(name)})" for name in mixin.imports)
    snippet = (
        f"local mixin = {parts} + {{ _config+:: {json.dumps(mixin.config, sort_keys=True)} }};\n"
        "local groups(field) = if std.objectHasAll(mixin, field) then mixin[field].groups else [];\n"
        "groups('prometheusAlerts') + groups('prometheusRules')\n"
    )
    try:
        text = _jsonnet().evaluate_snippet(f"{mixin.name}-mixin-rules.jsonnet", snippet, import_callback=resolve)
    except RuntimeError as err:
        raise SyncError(f"jsonnet could not render the {mixin.name} mixin: {str(err).splitlines()[0]}") from None
    groups: list[dict[str, Any]] = json.loads(text)
    return groups


def runbook(mixin: Mixin, alert: str) -> str:
    if alert in mixin.runbook_alerts:
        return mixin.runbook_url.format(alert=alert.lower())
    return mixin.runbook_fallback


def finish(mixin: Mixin, groups: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Output file -> its groups: the groups and alerts the manifest drops left out, the `split`
    alerts moved to their own files, every alert with a runbook_url (the manifest's page for the
    alerts it lists, else upstream's own, else the fallback), fixed key order."""
    names = {group["name"] for group in groups}
    alerts = {rule["alert"] for group in groups for rule in group["rules"] if "alert" in rule}
    for kind, wanted, have in (("group", mixin.drop_groups, names), ("alert", mixin.drop_alerts, alerts),
                               ("alert", {a for s in mixin.split for a in s.alerts}, alerts),
                               ("runbook alert", mixin.runbook_alerts, alerts)):
        if wanted - have:
            raise SyncError(f"{mixin.name} mixin: no {kind} {', '.join(sorted(wanted - have))} "
                            f"at {mixin.version} (mixins.yaml names it)")
    home = {alert: split.output for split in mixin.split for alert in split.alerts}
    out: dict[str, list[dict[str, Any]]] = {output: [] for output in mixin.outputs}
    for group in groups:
        if group["name"] in mixin.drop_groups:
            continue
        rules: dict[str, list[dict[str, Any]]] = {output: [] for output in mixin.outputs}
        for rule in group["rules"]:
            name = rule.get("alert")
            if name in mixin.drop_alerts:
                continue
            if name is not None:
                if not rule.get("labels", {}).get("severity"):
                    raise SyncError(f"{mixin.name} mixin: alert {name} has no severity label")
                annotations = dict(rule.get("annotations", {}))
                if name in mixin.runbook_alerts:
                    annotations["runbook_url"] = runbook(mixin, name)
                annotations.setdefault("runbook_url", runbook(mixin, name))
                rule = {**rule, "annotations": dict(sorted(annotations.items()))}
            unknown = set(rule) - set(RULE_KEYS)
            if unknown:
                what = name or rule.get("record")
                raise SyncError(f"{mixin.name} mixin: rule {what} has unknown keys {sorted(unknown)}")
            rules[home.get(name or "", mixin.output)].append({key: rule[key] for key in RULE_KEYS if key in rule})
        for output, kept in rules.items():
            if kept:
                out[output].append({key: value for key, value in group.items() if key != "rules"} | {"rules": kept})
    return out


def header(mixin: Mixin, output: str) -> str:
    config = ", ".join(f"{key}: {value}" for key, value in sorted(mixin.config.items()))
    commit = f" (commit {mixin.commit})" if mixin.commit else ""
    if mixin.git:
        source = [f"# Source: {mixin.git} tag {mixin.version}{commit} {mixin.dir or '.'}/",
                  f"#   (git clone), evaluated: {' + '.join(mixin.imports)}"]
    else:
        source = [f"# Source: {mixin.module}@{mixin.version}{commit} {mixin.dir}/",
                  f"#   (Go module zip {mixin.sum}), evaluated: {' + '.join(mixin.imports)}"]
    lines = [
        f"# The {mixin.name} mixin's alerts and recording rules, rendered by {SCRIPT}: do not edit by hand;",
        "# change configs/prometheus/rules/mixins.yaml and re-run the script.",
        *source,
        f"# _config: {config}",
    ]
    if mixin.drop_groups:
        lines.append(f"# Groups left out (see mixins.yaml): {', '.join(sorted(mixin.drop_groups))}")
    if mixin.drop_alerts:
        lines.append(f"# Left out (see mixins.yaml): {', '.join(sorted(mixin.drop_alerts))}")
    for split in mixin.split:
        needs = ", ".join(split.requires)
        if output == split.output:
            lines.append(f"# Only the alerts that need {needs}: shipped where the stack has it (mixins.yaml `split`).")
        elif output == mixin.output:
            lines.append(f"# In {split.output} (they need {needs}): {', '.join(sorted(split.alerts))}")
    return "\n".join(lines) + "\n"


def render(mixin: Mixin, files: dict[str, bytes]) -> dict[str, str]:
    """Output -> text: the rule files (by name, in the rules folder) and the synced upstream tests
    ("<folder>/<name>", in tests/rules/)."""
    rendered = finish(mixin, evaluate(mixin, files))
    texts = {output: header(mixin, output) + dump_yaml({"groups": groups}) for output, groups in rendered.items()}
    return texts | upstream_tests(mixin, files, texts)


TESTS = ROOT / "tests" / "rules"
RECORD_NAME = re.compile(r"\b[a-zA-Z_][a-zA-Z0-9_]*:[a-zA-Z0-9_:]*")  # recording rules: a colon in the name


def upstream_tests(mixin: Mixin, files: dict[str, bytes], texts: dict[str, str]) -> dict[str, str]:
    """"<tests_output>/<file>" -> text: each of upstream's promtool test files keeping only the cases
    of the alerts and recording rules the mixin's outputs (`texts`) hold, run against those files.

    An alert case is kept when its alert is shipped; an expression case when every recording rule it
    reads is shipped or an input series of its group. The expected runbook_url is the shipped one
    (upstream's points at its own runbook.md; which page to link is configuration, `runbooks`);
    every other expectation is upstream's, unchanged."""
    if not mixin.tests or not mixin.tests_output:
        return {}
    rules = [rule for text in texts.values() for group in yaml.safe_load(text)["groups"] for rule in group["rules"]]
    runbooks = {rule["alert"]: rule["annotations"]["runbook_url"] for rule in rules if "alert" in rule}
    records = {rule["record"] for rule in rules if "record" in rule}
    rule_files = [os.path.relpath(RULES / name, TESTS / mixin.tests_output) for name in sorted(texts)]
    out: dict[str, str] = {}
    prefix = f"{mixin.tests}/"
    for name in sorted(n for n in files if n.startswith(prefix) and n.endswith((".yaml", ".yml"))):
        data = yaml.safe_load(files[name])
        groups = []
        for group in data.get("tests", []):
            inputs = {series["series"].split("{")[0].strip() for series in group.get("input_series", [])}
            alert_cases = []
            for case in group.get("alert_rule_test", []):
                if case["alertname"] not in runbooks:
                    continue
                for alert in case.get("exp_alerts") or []:
                    if "runbook_url" in alert.get("exp_annotations", {}):
                        alert["exp_annotations"]["runbook_url"] = runbooks[case["alertname"]]
                alert_cases.append(case)
            expr_cases = [case for case in group.get("promql_expr_test", [])
                          if set(RECORD_NAME.findall(case["expr"])) <= records | inputs]
            if alert_cases or expr_cases:
                kept = {k: v for k, v in group.items() if k not in {"alert_rule_test", "promql_expr_test"}}
                if alert_cases:
                    kept["alert_rule_test"] = alert_cases
                if expr_cases:
                    kept["promql_expr_test"] = expr_cases
                groups.append(kept)
        if not groups:
            continue
        body = {key: value for key, value in data.items() if key not in {"rule_files", "tests"}}
        # Upstream's own leading comment (its licence notice), then where this copy comes from.
        head = (f"{_leading_comment(files[name])}"
                f"# From {mixin.git} {name} at tag {mixin.version} (commit {mixin.commit}), synced by {SCRIPT}:\n"
                "# only the cases of the rules this stack ships, run against the shipped file; the expected\n"
                "# runbook_url is the shipped one (mixins.yaml `runbooks`), every other expectation upstream's.\n"
                "# Do not edit by hand.\n")
        out[f"{mixin.tests_output}/{name[len(prefix):]}"] = head + dump_yaml(
            {"rule_files": rule_files, **body, "tests": groups})
    return out


def _leading_comment(text: bytes) -> str:
    """The comment lines a file starts with (a licence notice), up to the first other line."""
    lines = []
    for line in text.decode().splitlines():
        if not line.startswith("#"):
            break
        lines.append(line + "\n")
    return "".join(lines)


def record(texts: dict[str, str]) -> str:
    """The `rendered` record of a git-sourced mixin: one sha256 over its output files, by name."""
    digest = hashlib.sha256()
    for name in sorted(texts):
        digest.update(name.encode() + b"\0" + texts[name].encode() + b"\0")
    return f"sha256:{digest.hexdigest()}"


def write_record(manifest: Path, mixin: Mixin, value: str) -> None:
    """Set the `rendered:` line of `mixin`'s manifest entry (the one line; comments stay)."""
    text = manifest.read_text(encoding="utf-8")
    entry = re.search(rf"(?m)^  - name: {re.escape(mixin.name)}\n(?:    .*\n|\s*\n|\s*#.*\n)*?    rendered: .*$", text)
    if entry is None:
        raise SyncError(f"{manifest}: no `rendered:` line in the {mixin.name} entry")
    start = entry.end() - len(entry.group(0).rsplit("\n", 1)[-1])
    manifest.write_text(text[:start] + f"    rendered: {value}" + text[entry.end():], encoding="utf-8")


def _checkouts(pairs: list[str]) -> dict[str, Path]:
    out = {}
    for pair in pairs:
        name, sep, path = pair.partition("=")
        if not sep or not name or not path:
            raise SyncError(f"--checkout {pair}: expected NAME=DIR (e.g. kubernetes=../kubernetes-mixin)")
        out[name] = Path(path)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="compare with the committed files instead of writing")
    parser.add_argument("--rules-dir", type=Path, default=RULES, help="where the rendered files go (tests)")
    parser.add_argument("--tests-dir", type=Path, default=TESTS, help="where synced upstream tests go (tests)")
    parser.add_argument("--manifest", type=Path, default=MANIFEST, help="the mixin list (tests)")
    parser.add_argument("--checkout", action="append", default=[], metavar="NAME=DIR",
                        help="a git clone holding the pinned commit of mixin NAME (a `git:` entry)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    manifest_path = args.manifest.resolve()

    def where(output: str) -> Path:
        """A rule file's path, or a synced test's ("<folder>/<name>")."""
        return args.tests_dir / output if "/" in output else args.rules_dir / output

    def committed(mixin: Mixin) -> dict[str, str]:
        """The files of a mixin as they are now (a missing rule file reads as empty)."""
        names = set(mixin.outputs)
        if mixin.tests_output:
            names |= {f"{mixin.tests_output}/{p.name}" for p in (args.tests_dir / mixin.tests_output).glob("*.y*ml")}
        return {n: where(n).read_text(encoding="utf-8") if where(n).exists() else "" for n in names}

    rendered: dict[str, str] = {}
    recorded: list[str] = []  # git mixins checked against their record only (no clone given)
    records: dict[str, tuple[Mixin, str]] = {}  # git mixins rendered: their new record
    try:
        mixins = load_manifest(manifest_path)
        checkouts = _checkouts(args.checkout)
        unknown = set(checkouts) - {m.name for m in mixins if m.git}
        if unknown:
            raise SyncError(f"--checkout {', '.join(sorted(unknown))}: no such git mixin in {manifest_path}")
        with tempfile.TemporaryDirectory() as workdir:
            for mixin in mixins:
                if mixin.git and mixin.name not in checkouts:
                    recorded.append(mixin.name)
                    continue
                files = from_checkout(mixin, checkouts[mixin.name]) if mixin.git else download(mixin, Path(workdir))
                texts = render(mixin, files)
                rendered |= texts
                if mixin.git:
                    records[mixin.name] = (mixin, record(texts))
    except SyncError as err:
        print(f"sync-mixins: {err}", file=sys.stderr)
        return 2
    outputs = {output for mixin in mixins for output in mixin.outputs}
    stale = sorted(p.name for p in args.rules_dir.glob("*-mixin.yml") if p.name not in outputs)
    stale += sorted(name for mixin in mixins if mixin.tests_output and mixin.name not in recorded
                    for name in committed(mixin) if "/" in name and name not in rendered)
    differ = []
    for mixin in (m for m in mixins if m.name in recorded):
        if record(committed(mixin)) != mixin.rendered:
            differ.extend(sorted(committed(mixin)))
            if not args.check:
                print(f"sync-mixins: the {mixin.name} mixin's files differ from its record (mixins.yaml `rendered`): "
                      f"re-render with --checkout {mixin.name}=<a clone of {mixin.git}>", file=sys.stderr)
                return 2
    for name, text in rendered.items():
        path = where(name)
        old = path.read_text(encoding="utf-8") if path.exists() else ""
        if old == text:
            continue
        differ.append(name)
        if args.check:
            diff = difflib.unified_diff(old.splitlines(True), text.splitlines(True),
                                        f"committed/{name}", f"rendered/{name}")
            sys.stdout.writelines(list(diff)[:60])
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    for mixin, value in records.values():
        if value != mixin.rendered:
            if args.check:
                differ.append(f"{mixin.name} record")
                print(f"mixins.yaml: the {mixin.name} entry records {mixin.rendered}, the clone renders {value}")
            else:
                write_record(manifest_path, mixin, value)
    if not args.check:
        for name in stale:
            where(name).unlink()
    elapsed = time.monotonic() - started
    print(f"sync-mixins: {len(mixins) - len(recorded)} mixins rendered in {elapsed:.1f}s"
          f"{'; checked against their record (no clone given): ' + ', '.join(recorded) if recorded else ''}; "
          f"{'differ' if args.check else 'rewritten'}: {', '.join(differ) or 'none'}; "
          f"{'stale' if args.check else 'removed'}: {', '.join(stale) or 'none'}", file=sys.stderr)
    return 1 if args.check and (differ or stale) else 0


if __name__ == "__main__":
    sys.exit(main())
