#!/usr/bin/env python3
"""Write tests/fixtures/loki/config-keys-<tag>.json: the YAML keys Loki accepts in each config section
the rendered loki-config.yml uses, read from Loki's Go config structs at the pinned tag.

The project builds and runs no Loki binary (github.com/grafana/loki/v3 is AGPL-3.0-only, and no AGPL
code is built or linked here: scripts/upstream-tools.sh), so `tests/test_loki_storage.py` checks the
rendered config against these keys instead: a misspelt or removed key fails it. Only key names are
recorded, no source.

Usage: scripts/loki-config-keys.py [--repo <bare git clone of grafana/loki>] [--tag v3.7.6] [--check]
Without a clone (CI) the committed file is used. `--check` exits 1 when the committed file differs
from what the clone gives.

How a key is named follows gopkg.in/yaml.v2 (what Loki's pkg/util/cfg/files.go unmarshals with,
strictly): the `yaml:"name"` tag, else the field name in lower case; `yaml:"-"` and unexported
fields are not keys; `yaml:",inline"` merges the embedded struct's keys.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_REPO = Path("/work/.mirror/grafana+loki/repo")
DEFAULT_TAG = "v3.7.6"
DSKIT = "vendor/github.com/grafana/dskit"

# Config section (dotted path; `[]` = an item of a list) -> (file, struct) that unmarshals it.
# A section the renderer writes but that is missing here fails the test: add its struct.
SECTIONS: dict[str, tuple[str, str]] = {
    "": ("pkg/loki/loki.go", "Config"),
    "server": (f"{DSKIT}/server/server.go", "Config"),
    "common": ("pkg/loki/common/common.go", "Config"),
    "common.ring": ("pkg/util/ring/ring_config.go", "RingConfig"),
    "common.ring.kvstore": (f"{DSKIT}/kv/client.go", "Config"),
    "ingester": ("pkg/ingester/ingester.go", "Config"),
    "ingester.lifecycler": (f"{DSKIT}/ring/lifecycler.go", "LifecyclerConfig"),
    "ingester.lifecycler.ring": (f"{DSKIT}/ring/ring.go", "Config"),
    "ingester.lifecycler.ring.kvstore": (f"{DSKIT}/kv/client.go", "Config"),
    "ingester.wal": ("pkg/ingester/wal.go", "WALConfig"),
    "schema_config": ("pkg/storage/config/schema_config.go", "SchemaConfig"),
    "schema_config.configs[]": ("pkg/storage/config/schema_config.go", "PeriodConfig"),
    "schema_config.configs[].index": ("pkg/storage/config/schema_config.go", "IndexPeriodicTableConfig"),
    "storage_config": ("pkg/storage/factory.go", "Config"),
    "storage_config.tsdb_shipper": ("pkg/storage/stores/shipper/indexshipper/shipper.go", "Config"),
    "storage_config.filesystem": ("pkg/storage/chunk/client/local/fs_object_client.go", "FSConfig"),
    "storage_config.aws": ("pkg/storage/chunk/client/aws/dynamodb_storage_client.go", "StorageConfig"),
    "compactor": ("pkg/compactor/config.go", "Config"),
    "limits_config": ("pkg/validation/limits.go", "Limits"),
    "analytics": ("pkg/analytics/reporter.go", "Config"),
    # The runtime config file's location and period (components/render/loki.py, issue 13 zero-restart).
    "runtime_config": (f"{DSKIT}/runtimeconfig/manager.go", "Config"),
}

_FIELD = re.compile(r"^\s*(?P<decl>[^`/]*?)\s*`(?P<tag>[^`]*)`")
_YAML = re.compile(r'yaml:"(?P<value>[^"]*)"')


def _show(repo: Path, tag: str, path: str) -> str:
    return subprocess.run(["git", "--git-dir", str(repo), "show", f"{tag}:{path}"], check=True,
                          capture_output=True, text=True).stdout


def _ls(repo: Path, tag: str, folder: str) -> list[str]:
    out = subprocess.run(["git", "--git-dir", str(repo), "ls-tree", "--name-only", f"{tag}:{folder}"], check=True,
                         capture_output=True, text=True).stdout
    return [f"{folder}/{n}" for n in out.split() if n.endswith(".go") and not n.endswith("_test.go")]


def _struct_body(source: str, name: str) -> list[str] | None:
    start = re.search(rf"^type {name} struct \{{", source, flags=re.M)
    if start is None:
        return None
    lines, depth = [], 1
    for line in source[start.end():].splitlines()[1:]:
        depth += line.count("{") - line.count("}")
        if depth <= 0:
            break
        if depth == 1 and not line.rstrip().endswith("{"):
            lines.append(line)
    return lines


def struct_keys(repo: Path, tag: str, path: str, name: str) -> list[str]:
    """The YAML keys of struct `name` in `path` (embedded `,inline` structs of the same package merged)."""
    body = _struct_body(_show(repo, tag, path), name)
    if body is None:
        raise SystemExit(f"{tag}:{path}: no `type {name} struct`")
    keys: list[str] = []
    for line in body:
        match = _FIELD.match(line)
        decl = (match.group("decl") if match else line.split("//")[0]).split()
        if not decl:
            continue
        tag_text = match.group("tag") if match else ""
        yaml_tag = _YAML.search(tag_text)
        value = yaml_tag.group("value") if yaml_tag else None
        key, _, options = (value or "").partition(",")
        if value == "-" or key == "-":
            continue
        if len(decl) == 1:  # an embedded struct
            embedded = decl[0].lstrip("*")
            if "inline" in options.split(",") and "." not in embedded:
                keys += _same_package_struct(repo, tag, path, embedded)
            elif key:
                keys.append(key)
            continue
        field = decl[0]
        if not field[0].isupper():
            continue  # unexported: yaml.v2 ignores it
        if "inline" in options.split(","):
            keys += _same_package_struct(repo, tag, path, decl[1].lstrip("*"))
        else:
            keys.append(key or field.lower())
    return keys


def _same_package_struct(repo: Path, tag: str, path: str, name: str) -> list[str]:
    folder = path.rsplit("/", 1)[0]
    for candidate in _ls(repo, tag, folder):
        if _struct_body(_show(repo, tag, candidate), name) is not None:
            return struct_keys(repo, tag, candidate, name)
    raise SystemExit(f"{tag}:{folder}: no `type {name} struct` for an inline field")


def collect(repo: Path, tag: str) -> dict[str, object]:
    sections = {section: {"source": f"grafana/loki@{tag} {path} {name}",
                          "keys": sorted(set(struct_keys(repo, tag, path, name)))}
                for section, (path, name) in SECTIONS.items()}
    return {"tag": tag, "sections": sections}


def fixture_path(tag: str) -> Path:
    return ROOT / "tests" / "fixtures" / "loki" / f"config-keys-{tag}.json"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repo", type=Path, default=DEFAULT_REPO)
    parser.add_argument("--tag", default=DEFAULT_TAG)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    text = json.dumps(collect(args.repo, args.tag), indent=1, sort_keys=True) + "\n"
    out = fixture_path(args.tag)
    if args.check:
        same = out.exists() and out.read_text(encoding="utf-8") == text
        print(f"{out.relative_to(ROOT)}: {'up to date' if same else 'differs from the clone'}")
        return 0 if same else 1
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    print(out.relative_to(ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
