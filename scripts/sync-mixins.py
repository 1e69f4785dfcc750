#!/usr/bin/env python3
"""Render the upstream mixins' alerts and recording rules into configs/prometheus/rules/.

    venv/bin/python scripts/sync-mixins.py           # (re)write every <name>-mixin.yml
    venv/bin/python scripts/sync-mixins.py --check   # exit 1 if a committed file differs

What to render, at which pinned version and with which `_config`, is configs/prometheus/rules/
mixins.yaml. Like kube-prometheus-stack's hack/sync_prometheus_rules.py, the output is committed
and a test (tests/test_mixins.py) re-runs this script to prove the committed files are exactly
what the pinned sources render.

Sources: `go mod download -json MODULE@VERSION` (the Go module proxy; each mixin sits inside its
project's Go module) — the zip's go.sum hash must equal the manifest's `sum`. Evaluator: PyPI's
`jsonnet` (the C++ evaluator's binding), reading the mixin's files straight from the zip.
Exit status: 0 done, 1 --check found a difference, 2 the sources or the evaluator could not be had
(one line on stderr naming what and why).
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import posixpath
import shutil
import subprocess
import sys
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

RULES = ROOT / "configs" / "prometheus" / "rules"
MANIFEST = RULES / "mixins.yaml"
SCRIPT = "scripts/sync-mixins.py"
# Prometheus rule keys in the order people read them (jsonnet emits object keys sorted).
RULE_KEYS = ("alert", "record", "expr", "for", "keep_firing_for", "labels", "annotations")


class SyncError(Exception):
    """A source or tool could not be had; the message is the one line the user sees."""


@dataclass(frozen=True)
class Mixin:
    name: str
    output: str
    module: str
    version: str
    sum: str
    dir: str
    imports: tuple[str, ...]
    config: dict[str, Any]
    runbook_url: str
    runbook_fallback: str
    runbook_alerts: frozenset[str]
    drop_alerts: frozenset[str]
    commit: str | None


def load_manifest(path: Path = MANIFEST) -> list[Mixin]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        return [_mixin(entry) for entry in data["mixins"]]
    except (OSError, yaml.YAMLError, KeyError, TypeError) as err:
        problem = f"missing key {err}" if isinstance(err, KeyError) else str(err).replace("\n", " ")
        raise SyncError(f"{path}: {problem}") from None


def _mixin(entry: dict[str, Any]) -> Mixin:
    runbooks = entry["runbooks"]
    return Mixin(
        name=entry["name"], output=entry["output"], module=entry["module"], version=entry["version"],
        sum=entry["sum"], dir=entry["dir"], imports=tuple(entry["imports"]), config=dict(entry["config"]),
        runbook_url=runbooks["url"], runbook_fallback=runbooks["fallback"],
        runbook_alerts=frozenset(runbooks["alerts"]), drop_alerts=frozenset(entry["drop_alerts"]),
        commit=entry.get("commit"),
    )


def _jsonnet() -> Any:
    try:
        import _jsonnet  # type: ignore[import-not-found,unused-ignore]
    except ImportError as err:
        raise SyncError(f"the jsonnet evaluator is missing ({err}): pip install -r requirements-dev.txt") from err
    return _jsonnet


def download(mixin: Mixin, workdir: Path) -> Path:
    """The module zip from the Go module proxy, checked against the pinned go.sum hash."""
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
    return Path(info["Zip"])


def evaluate(mixin: Mixin, zip_path: Path) -> list[dict[str, Any]]:
    """The mixin's alert groups then its recording-rule groups, rendered with our `_config`."""
    prefix = f"{mixin.module}@{mixin.version}/{mixin.dir}/"
    with zipfile.ZipFile(zip_path) as archive:
        files = {name[len(prefix):]: archive.read(name) for name in archive.namelist() if name.startswith(prefix)}

    def resolve(base: str, rel: str) -> tuple[str, bytes]:
        # `base` is the importing file's folder inside the mixin ("" for the snippet itself).
        path = posixpath.normpath(posixpath.join(base, rel))
        if path not in files:
            raise RuntimeError(f"{rel} (from {base or '.'}) is not in {prefix}")
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


def finish(mixin: Mixin, groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Drop the alerts the manifest drops; give every alert a runbook_url; fixed key order."""
    out = []
    for group in groups:
        rules = []
        for rule in group["rules"]:
            name = rule.get("alert")
            if name in mixin.drop_alerts:
                continue
            if name is not None:
                if not rule.get("labels", {}).get("severity"):
                    raise SyncError(f"{mixin.name} mixin: alert {name} has no severity label")
                annotations = dict(rule.get("annotations", {}))
                annotations.setdefault("runbook_url", runbook(mixin, name))
                rule = {**rule, "annotations": dict(sorted(annotations.items()))}
            unknown = set(rule) - set(RULE_KEYS)
            if unknown:
                what = name or rule.get("record")
                raise SyncError(f"{mixin.name} mixin: rule {what} has unknown keys {sorted(unknown)}")
            rules.append({key: rule[key] for key in RULE_KEYS if key in rule})
        if rules:
            out.append({key: value for key, value in group.items() if key != "rules"} | {"rules": rules})
    return out


def header(mixin: Mixin) -> str:
    config = ", ".join(f"{key}: {value}" for key, value in sorted(mixin.config.items()))
    commit = f" (commit {mixin.commit})" if mixin.commit else ""
    lines = [
        f"# The {mixin.name} mixin's alerts and recording rules, rendered by {SCRIPT}: do not edit by hand;",
        "# change configs/prometheus/rules/mixins.yaml and re-run the script.",
        f"# Source: {mixin.module}@{mixin.version}{commit} {mixin.dir}/",
        f"#   (Go module zip {mixin.sum}), evaluated: {' + '.join(mixin.imports)}",
        f"# _config: {config}",
    ]
    if mixin.drop_alerts:
        lines.append(f"# Left out (see mixins.yaml): {', '.join(sorted(mixin.drop_alerts))}")
    return "\n".join(lines) + "\n"


def render(mixin: Mixin, workdir: Path) -> str:
    groups = finish(mixin, evaluate(mixin, download(mixin, workdir)))
    return header(mixin) + dump_yaml({"groups": groups})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="compare with the committed files instead of writing")
    parser.add_argument("--rules-dir", type=Path, default=RULES, help="where the rendered files go (tests)")
    parser.add_argument("--manifest", type=Path, default=MANIFEST, help="the mixin list (tests)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        mixins = load_manifest(args.manifest.resolve())
        with tempfile.TemporaryDirectory() as workdir:
            rendered = {mixin.output: render(mixin, Path(workdir)) for mixin in mixins}
    except SyncError as err:
        print(f"sync-mixins: {err}", file=sys.stderr)
        return 2
    stale = sorted(p.name for p in args.rules_dir.glob("*-mixin.yml") if p.name not in rendered)
    differ = []
    for name, text in rendered.items():
        path = args.rules_dir / name
        old = path.read_text(encoding="utf-8") if path.exists() else ""
        if old == text:
            continue
        differ.append(name)
        if args.check:
            diff = difflib.unified_diff(old.splitlines(True), text.splitlines(True),
                                        f"committed/{name}", f"rendered/{name}")
            sys.stdout.writelines(list(diff)[:60])
        else:
            path.write_text(text, encoding="utf-8")
    if not args.check:
        for name in stale:
            (args.rules_dir / name).unlink()
    elapsed = time.monotonic() - started
    print(f"sync-mixins: {len(rendered)} mixins rendered in {elapsed:.1f}s; "
          f"{'differ' if args.check else 'rewritten'}: {', '.join(differ) or 'none'}; "
          f"{'stale' if args.check else 'removed'}: {', '.join(stale) or 'none'}", file=sys.stderr)
    return 1 if args.check and (differ or stale) else 0


if __name__ == "__main__":
    sys.exit(main())
