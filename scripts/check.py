#!/usr/bin/env python3
"""`make check STACK=<stack>`: run the upstream checkers on what `make render` wrote.

- promtool check config   on prometheus.yml (its rule_files pointed at the rendered rules)
- promtool check rules    on every rendered rule file
- amtool check-config     on the rendered alertmanager.yml
- kubernetes-validate     --strict, Kubernetes 1.30, on every rendered manifest
promtool and amtool are the ones scripts/upstream-tools.sh built at the versions the stack deploys.
Exits non-zero with the rejecting tool's own message.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
KUBERNETES_VERSION = "1.30"


def _tool(name: str) -> str:
    # The checkers at the deployed versions, built by scripts/upstream-tools.sh; never a distribution's
    # older promtool/amtool from PATH, which would judge the config by another version's rules.
    path = ROOT / ".tools" / "bin" / name
    if not path.is_file():
        raise SystemExit(f"{name} not found at {path}: run scripts/upstream-tools.sh")
    return str(path)


def _run(label: str, *cmd: str | Path) -> bool:
    result = subprocess.run([str(c) for c in cmd], capture_output=True, text=True)
    status = "ok" if result.returncode == 0 else "FAILED"
    print(f"{status:6} {label}")
    if result.returncode != 0:
        print((result.stdout + result.stderr).rstrip(), file=sys.stderr)
    return result.returncode == 0


def check_prometheus(out: Path, scratch: Path) -> bool:
    config_path = out / "prometheus" / "etc" / "prometheus" / "prometheus.yml"
    if not config_path.exists():
        print(f"FAILED no rendered prometheus.yml under {out}", file=sys.stderr)
        return False
    config = yaml.safe_load(config_path.read_text())
    # Rule paths are in-container paths; point them at the rendered copies.
    config["rule_files"] = [str(out / "prometheus" / p.lstrip("/")) for p in config.get("rule_files", [])]
    # The service account token Kubernetes mounts for the kubelet jobs: promtool wants the file.
    for job in config.get("scrape_configs", []):
        if "credentials_file" in job.get("authorization", {}):
            token = scratch / "serviceaccount-token"
            token.write_text("placeholder\n")
            job["authorization"]["credentials_file"] = str(token)
    # Remote-write credentials are secret files of the workload, rendered (as placeholders) beside it.
    for remote in config.get("remote_write", []):
        for block, key in (("basic_auth", "password_file"), ("authorization", "credentials_file")):
            if key in remote.get(block, {}):
                remote[block][key] = str(out / "prometheus" / remote[block][key].lstrip("/"))
    local = scratch / "prometheus.yml"
    local.write_text(yaml.safe_dump(config))
    promtool = _tool("promtool")
    ok = _run("promtool check config prometheus.yml", promtool, "check", "config", local)
    rules = sorted((out / "prometheus" / "etc" / "prometheus" / "rules").glob("*.yml"))
    return ok and _run(f"promtool check rules ({len(rules)} files)", promtool, "check", "rules", *rules)


def check_alertmanager(out: Path) -> bool:
    configs = sorted((out / "alertmanager").rglob("alertmanager.yml")) if (out / "alertmanager").exists() else []
    ok = True
    for config in configs:
        ok &= _run(f"amtool check-config {config.relative_to(out)}", _tool("amtool"), "check-config", config)
    return ok


def check_manifests(out: Path) -> bool:
    folder = out / "manifests"
    if not folder.exists():
        return True
    import kubernetes_validate

    ok = True
    files = sorted(folder.glob("*.yaml"))
    for path in files:
        try:
            kubernetes_validate.validate(yaml.safe_load(path.read_text()), KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            # str(exc) is jsonschema's multi-line dump of the whole schema and instance: one line instead.
            where = ".".join(str(p) for p in exc.absolute_path) or "(top level)"
            print(f"FAILED kubernetes-validate {path.name}: {where}: {exc.message}", file=sys.stderr)
            ok = False
        except (kubernetes_validate.utils.SchemaNotFoundError, kubernetes_validate.utils.InvalidSchemaError) as exc:
            print(f"FAILED kubernetes-validate {path.name}: {exc.message}", file=sys.stderr)
            ok = False
    print(f"{'ok' if ok else 'FAILED':6} kubernetes-validate --strict {KUBERNETES_VERSION} ({len(files)} manifests)")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stack")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "rendered")
    args = parser.parse_args()
    out = args.out / args.stack
    if not out.exists():
        print(f"nothing rendered for {args.stack!r}: run `make render STACK={args.stack}` first", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as scratch:
        results = [check_prometheus(out, Path(scratch)), check_alertmanager(out), check_manifests(out)]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
