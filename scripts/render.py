#!/usr/bin/env python3
"""`make render STACK=<stack>`: write every file the stack renders, and its resources, for review.

Drives the real program through Pulumi's mock engine (no CLI, no cloud, offline). Output under
build/rendered/<stack>/:
  <workload>/<in-container path>   every config file each workload receives, byte for byte
  manifests/<Kind>-<name>.yaml     every Kubernetes object (Kubernetes stacks)
  resources.json                   every resource: type, name, parent, key inputs; secrets as [secret]
Secrets are never read: placeholder values (`redacted…`) stand in for them. Deterministic, so
reviewers can diff it between branches.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT)]

import yaml  # noqa: E402

from harness import PLACEHOLDERS, STACKS, Run, run_program, stack_config, with_secrets  # noqa: E402
from manifests import is_kubernetes_object, manifest, plain, without_secrets  # noqa: E402
from rendered import workload_files  # noqa: E402

# Inputs too long or too noisy for a review listing: the files themselves are written out.
_BULKY = {"uploads", "data", "stringData"}


def _redact(inputs: dict[str, Any]) -> dict[str, Any]:
    """Inputs for the listing: secrets as [secret], file contents left to the rendered files."""
    shown = plain(without_secrets(inputs))
    return {k: "[see rendered files]" if k in _BULKY else v for k, v in shown.items()}


def _short_urn(urn: str) -> str:
    return urn.split("::", 2)[-1] if urn else ""


def resources_listing(run: Run) -> list[dict[str, Any]]:
    listing = []
    for record in sorted(run.resources, key=lambda r: r.urn):
        entry: dict[str, Any] = {"type": record.type, "name": record.name, "parent": _short_urn(record.parent)}
        if record.custom:
            entry["inputs"] = _redact(record.inputs)
        options = {k: True for k in ("protect", "retain_on_delete", "delete_before_replace") if getattr(record, k)}
        if options:
            entry["options"] = options
        listing.append(entry)
    return listing


def render_stack(stack: str, out_root: Path) -> Path:
    values, secret_keys = with_secrets(stack_config(stack), PLACEHOLDERS)
    run = run_program(stack, values, secret_keys)
    out = out_root / stack
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for workload, files in sorted(workload_files(run).items()):
        for path, text in sorted(files.items()):
            target = out / workload / path.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
    kube = [r for r in run.resources if is_kubernetes_object(r)]
    if kube:
        (out / "manifests").mkdir()
        for record in sorted(kube, key=lambda r: r.urn):
            body = manifest(record)
            if body["kind"] == "Secret":
                keys = sorted({*body.get("stringData", {}), *body.get("data", {})})
                body = {k: v for k, v in body.items() if k not in {"data", "stringData"}}
                body["stringData"] = dict.fromkeys(keys, "[secret]")
            name = f"{body['kind']}-{record.name}.yaml"
            (out / "manifests" / name).write_text(yaml.safe_dump(body, sort_keys=True), encoding="utf-8")
    listing = {"stack": stack, "outputs": {k: ("[secret]" if k in run.secret_outputs else plain(v))
                                           for k, v in sorted(run.outputs.items())},
               "resources": resources_listing(run)}
    (out / "resources.json").write_text(json.dumps(listing, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stacks", nargs="*", default=None,
                        help=f"stacks to render (default: all of {', '.join(STACKS)})")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "rendered")
    args = parser.parse_args()
    for stack in args.stacks or STACKS:
        if stack not in STACKS:
            print(f"unknown stack {stack!r} (allowed: {', '.join(STACKS)})", file=sys.stderr)
            return 2
        print(render_stack(stack, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
