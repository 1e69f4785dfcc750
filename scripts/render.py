#!/usr/bin/env python3
"""`make render STACK=<stack>`: write every file the stack renders, and its resources, for review.

Drives the real program through Pulumi's mock engine (no CLI, no cloud, offline). Output under
build/rendered/<stack>/:
  <workload>/<in-container path>   every config file each workload receives, byte for byte
  manifests/<Kind>-<name>.yaml     every Kubernetes object (Kubernetes stacks)
  resources.json                   every resource: type, name, parent, key inputs; secrets as [secret]
Secrets are never read: placeholder values (`redacted…`) stand in for every `secure:` value of
the stack file (which `make up` writes there and only the Pulumi CLI can decrypt) and for every
required secret the file does not hold; each substitution is reported on stderr. Everything else
is fed to the program as the CLI would feed it (every key of every namespace, secrets marked as
secrets), so render refuses exactly what `pulumi preview` refuses: one line per problem, exit 1.
Deterministic, so reviewers can diff it between branches.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if __name__ == "__main__":
    # Run as a file (`python scripts/render.py`), Python puts scripts/ on the path: the packages
    # (components/, mockengine/) are at the repository root.
    sys.path.insert(0, str(ROOT))

import pulumi  # noqa: E402
import yaml  # noqa: E402

from components.settings.model import Settings  # noqa: E402
from components.settings.secrets import missing_secrets  # noqa: E402
from components.yaml_errors import describe_yaml_error  # noqa: E402
from mockengine.manifests import is_kubernetes_object, manifest, plain, without_secrets  # noqa: E402
from mockengine.program import PROJECT, STACKS  # noqa: E402
from mockengine.rendered import workload_files  # noqa: E402
from mockengine.run import Run, run_program  # noqa: E402
from mockengine.stand_ins import node_at, placeholder  # noqa: E402

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


class StackFileError(Exception):
    """A stack file that is not a Pulumi stack file at all (not YAML, `config` not a mapping)."""


def _dotted(path: tuple[str | int, ...]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _is_secure(node: Any) -> bool:
    # How the CLI stores a secret in a stack file, at any depth: `{secure: <ciphertext>}`.
    return isinstance(node, dict) and list(node) == ["secure"] and isinstance(node["secure"], str)


def _placeholder(path: tuple[str | int, ...]) -> str:
    """What stands in for the secret at `path` (namespace first): mockengine/stand_ins.py PLACEHOLDERS has one its
    checker accepts for each secret of this project."""
    return (placeholder(tuple(path[1:])) if path[0] == PROJECT else None) or \
        f"redacted-{'-'.join(str(p) for p in path)}"


def _replace_secure(node: Any, path: tuple[str | int, ...], found: list[tuple[str | int, ...]]) -> Any:
    if _is_secure(node):
        found.append(path)
        return _placeholder(path)
    if isinstance(node, dict):
        return {k: _replace_secure(v, (*path, k), found) for k, v in node.items()}
    if isinstance(node, list):
        return [_replace_secure(v, (*path, i), found) for i, v in enumerate(node)]
    return node


def stack_file_config(stack: str, root: Path = ROOT) -> tuple[dict[str, str], set[str], list[str]]:
    """What the Pulumi CLI would pass the program for `stack`, with placeholders for its secrets.

    Returns the config (every namespace, fully-qualified keys, string values), the keys holding a
    secret, and one note per placeholder put in.
    """
    name = f"Pulumi.{stack}.yaml"
    try:
        data = yaml.safe_load((root / name).read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise StackFileError(f"{name}: {describe_yaml_error(exc)}") from None
    # `encryptionsalt`, `secretsprovider`, `encryptedkey` sit beside `config`: only the CLI uses them.
    if not isinstance(data, dict):
        raise StackFileError(f"{name}: not a stack file (allowed: a mapping with the key config)")
    raw = data.get("config") or {}
    if not isinstance(raw, dict):
        raise StackFileError(f"{name}: config: not valid (allowed: a mapping of <namespace>:<key> to values)")
    config: dict[str, Any] = {}
    secret_keys: set[str] = set()
    notes: list[str] = []
    for key, value in raw.items():
        found: list[tuple[str | int, ...]] = []
        namespace, _, top = str(key).partition(":")
        config[str(key)] = _replace_secure(value, (namespace, top), found)
        if found:
            # The CLI marks the whole top-level key secret when any value inside it is.
            secret_keys.add(str(key))
        notes += [f"{namespace}:{_dotted(p[1:])}: secure value (not decrypted) rendered as a placeholder"
                  for p in found]
    # Required secrets the file does not hold (the repository's stack files hold none), as the settings
    # find them (components/settings/secrets.py).
    prefix = PROJECT + ":"
    ours = {k[len(prefix):]: v for k, v in config.items() if k.startswith(prefix)}
    for path in sorted(missing_secrets(Settings, ours), key=_dotted):
        if node_at(ours, path)[0]:
            continue  # set to null in the file: refused as preview refuses it
        node: Any = ours
        for part in path[:-1]:
            # An int steps into a list item (prometheus.remoteWrite[0]), which the settings found.
            node = node[part] if isinstance(part, int) else node.setdefault(part, {})
            if not isinstance(node, (dict, list)):
                break  # a malformed stack value: the settings will name it
        else:
            node[path[-1]] = _placeholder((PROJECT, *path))
            config[prefix + path[0]] = ours[path[0]]
            secret_keys.add(prefix + path[0])
            notes.append(f"{prefix}{_dotted(path)}: secret not set in {name}, rendered as a placeholder")
    encoded = {k: v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}
    return encoded, secret_keys, notes


def render_stack(stack: str, out_root: Path) -> Path:
    config, secret_keys, notes = stack_file_config(stack)
    for note in notes:
        print(f"render {stack}: {note}", file=sys.stderr)
    run = run_program(stack, secret_keys=secret_keys, config=config)
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
    stacks = args.stacks or list(STACKS)
    unknown = [s for s in stacks if s not in STACKS]
    if unknown:
        print(f"unknown stack {unknown[0]!r} (allowed: {', '.join(STACKS)})", file=sys.stderr)
        return 2
    status = 0
    for stack in stacks:
        try:
            print(render_stack(stack, args.out))
        except (StackFileError, pulumi.RunError) as exc:
            # Settings and catalog errors are RunErrors, which the CLI also prints without a
            # traceback; anything else is a bug in the program and keeps its traceback.
            print(f"render {stack}: {exc}", file=sys.stderr)
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
