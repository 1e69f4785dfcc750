#!/usr/bin/env python3
"""Write tests/fixtures/metrics/kubelet.txt: the metric families a kubelet serves on /metrics (the
stack's `kubelet` job), read from the Kubernetes sources at the pinned version.

No kubelet runs here (it needs a node: a container runtime, cgroups, root), so the names come from the
code that registers them, like the other source-read fixtures (kafka.txt, nginx.txt):

- k8s.io/kubernetes: pkg/kubelet/metrics/metrics.go (every metric of the kubelet's own registry),
  pkg/kubelet/metrics/collectors/volume_stats.go and log_metrics.go (the collectors pkg/kubelet/kubelet.go
  registers into the legacy registry, which /metrics serves: pkg/kubelet/server/server.go
  `legacyregistry.Handler()`), pkg/kubelet/certificate/kubelet.go and cmd/kubelet/app/server.go (the
  certificate managers' metrics);
- k8s.io/component-base (cmd/kubelet/kubelet.go imports metrics/prometheus/version and
  metrics/prometheus/clientgo, which load restclient, workqueue, leaderelection and fifo metrics).

Left out: process_* and go_* (client_golang's collectors, which the legacy registry adds to every
component), and anything served on /metrics/cadvisor, /metrics/resource or /metrics/probes.

    venv/bin/python scripts/kubelet-metric-names.py            # rewrite the fixture
    venv/bin/python scripts/kubelet-metric-names.py --check    # exit 1 if it differs

Sources: `go mod download -json` (the Go module proxy, checked against the checksum database).
Exit status: 0 done, 1 --check found a difference, 2 a source could not be had.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "fixtures" / "metrics" / "kubelet.txt"
KUBERNETES = "k8s.io/kubernetes@v1.37.2"
COMPONENT_BASE = "k8s.io/component-base@v0.37.2"
SOURCES = {
    KUBERNETES: ["pkg/kubelet/metrics/metrics.go", "pkg/kubelet/metrics/collectors/volume_stats.go",
                 "pkg/kubelet/metrics/collectors/log_metrics.go", "pkg/kubelet/certificate/kubelet.go",
                 "cmd/kubelet/app/server.go"],
    COMPONENT_BASE: ["metrics/prometheus/version/metrics.go", "metrics/prometheus/restclient/metrics.go",
                     "metrics/prometheus/workqueue/metrics.go", "metrics/prometheus/clientgo/leaderelection/metrics.go",
                     "metrics/prometheus/clientgo/fifo/metrics.go"],
}
# The constants the kubelet's metric names are built from (pkg/kubelet/metrics/metrics.go), used by the others.
CONSTANTS_FROM = (KUBERNETES, "pkg/kubelet/metrics/metrics.go")

OPTS = re.compile(r"metrics\.\w*Opts\{(.*?)\n\s*\}", re.S)
FIELD = r"\b{}:\s*(\"[^\"]*\"|[\w.]+)"
DESC = re.compile(r"metrics\.NewDesc\(\s*(\"[^\"]*\"|metrics\.BuildFQName\(([^)]*)\))", re.S)
CONST = re.compile(r"^\s*(\w+)\s*=\s*\"([^\"]*)\"", re.M)


def download(module: str) -> Path:
    go = shutil.which("go") or ("/usr/local/go/bin/go" if os.access("/usr/local/go/bin/go", os.X_OK) else None)
    if go is None:
        raise SystemExit(2)
    with tempfile.TemporaryDirectory() as workdir:
        result = subprocess.run([go, "mod", "download", "-json", module], capture_output=True, text=True, cwd=workdir,
                                env={**os.environ, "GOTOOLCHAIN": "local", "GOFLAGS": "-mod=mod"}, timeout=900)
    try:
        info = json.loads(result.stdout)
    except json.JSONDecodeError:
        info = {"Error": result.stderr.strip()}
    if "Zip" not in info:
        print(f"kubelet-metric-names: go mod download {module}: {info.get('Error')}", file=sys.stderr)
        raise SystemExit(2)
    return Path(info["Zip"])


def names(text: str, constants: dict[str, str]) -> list[str]:
    def value(token: str | None) -> str:
        if not token:
            return ""
        token = token.strip()
        if token.startswith('"'):
            return token.strip('"')
        return constants[token.rsplit(".", 1)[-1]]

    found = []
    for body in OPTS.findall(text):
        parts = [value(m.group(1) if (m := re.search(FIELD.format(key), body)) else None)
                 for key in ("Namespace", "Subsystem", "Name")]
        found.append("_".join(p for p in parts if p))
    for literal, fq in DESC.findall(text):
        found.append("_".join(p for p in (value(a) for a in fq.split(",")) if p) if fq else literal.strip('"'))
    return found


def render() -> str:
    zips = {module: zipfile.ZipFile(download(module)) for module in SOURCES}
    read = {(m, p): zips[m].read(f"{m}/{p}").decode() for m, paths in SOURCES.items() for p in paths}
    constants = dict(CONST.findall(read[CONSTANTS_FROM]))
    families = set()
    for (_module, _path), text in read.items():
        families.update(names(text, {**constants, **dict(CONST.findall(text))}))
    families.discard("")  # a Desc whose name is built at run time: none the rules read
    bad = sorted(f for f in families if not re.fullmatch(r"[a-z_][a-z0-9_]*", f))
    if bad:
        print(f"kubelet-metric-names: could not read these names: {bad}", file=sys.stderr)
        raise SystemExit(2)
    head = [
        "# The kubelet's /metrics (job kubelet), read from the sources by scripts/kubelet-metric-names.py:",
        f"#   {KUBERNETES} " + ", ".join(SOURCES[KUBERNETES]),
        f"#   {COMPONENT_BASE} " + ", ".join(SOURCES[COMPONENT_BASE]),
        "# (go mod download from the Go module proxy). No kubelet can run without a node; process_* and go_*",
        "# are left out. The script's docstring says why these files.",
    ]
    return "\n".join(head + sorted(families)) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    text = render()
    if args.check:
        same = FIXTURE.exists() and FIXTURE.read_text() == text
        verdict = "matches" if same else "differs from"
        print(f"kubelet-metric-names: {FIXTURE.name} {verdict} the sources", file=sys.stderr)
        return 0 if same else 1
    FIXTURE.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
