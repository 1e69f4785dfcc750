#!/usr/bin/env python3
"""dev's settings for one run: the tracked stack file with the personal one laid over it.

    scripts/personal-stack.py <tracked Pulumi.dev.yaml> <personal Pulumi.dev.yaml> <merged output>

Used by scripts/stack-setup.sh, which passes the output to every `pulumi` command as
`--config-file`. The personal file (under .pulumi-state, ignored by git) holds what one developer's
stack adds: the encryption salt, secrets (`secure:` values) and local choices. Its keys win,
merged into the tracked settings object by object. A tracked file that still holds a salt or
secrets (written by an earlier `make up`) is not used for those: they move to the personal file
once, and the tracked file can be restored with `git checkout -- Pulumi.dev.yaml`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

# Keys of a stack file that belong to one stack's secrets provider, not to the shared settings.
PROVIDER_KEYS = ("encryptionsalt", "secretsprovider", "encryptedkey")


def _is_secret(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"secure"}


def _merge(base: Any, over: Any) -> Any:
    if isinstance(base, dict) and isinstance(over, dict) and not _is_secret(over):
        merged = dict(base)
        for key, value in over.items():
            merged[key] = _merge(base.get(key), value) if key in base else value
        return merged
    return over


def _secrets_of(value: Any) -> Any:
    """Only the `secure:` leaves of a settings value (None where there is none)."""
    if _is_secret(value):
        return value
    if isinstance(value, dict):
        found = {k: s for k, v in value.items() if (s := _secrets_of(v)) is not None}
        return found or None
    return None


def _load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else None
    return data if isinstance(data, dict) else {}


def main(argv: list[str]) -> int:
    tracked_path, personal_path, out = (Path(a) for a in argv)
    tracked, personal = _load(tracked_path), _load(personal_path)
    leftover = {k: tracked.pop(k) for k in PROVIDER_KEYS if k in tracked}
    tracked_config = tracked.get("config") or {}
    leftover_secrets = {k: s for k, v in tracked_config.items() if (s := _secrets_of(v)) is not None}
    if leftover or leftover_secrets:
        if not any(k in personal for k in PROVIDER_KEYS):
            # An earlier `make up` wrote them into the tracked file: they move, once.
            personal.update(leftover)
            personal["config"] = _merge(leftover_secrets, personal.get("config") or {})
            personal_path.write_text(yaml.safe_dump(personal, sort_keys=True), encoding="utf-8")
        print(f"dev: {tracked_path} holds this machine's encryption salt or secrets from an earlier run; they are "
              f"kept in {personal_path} now: restore the tracked file with `git checkout -- {tracked_path}`",
              file=sys.stderr)
    merged = {k: v for k, v in tracked.items() if k != "config"}
    merged.update({k: personal[k] for k in PROVIDER_KEYS if k in personal})
    merged["config"] = _merge(tracked_config, personal.get("config") or {})
    Path(out).write_text(yaml.safe_dump(merged, sort_keys=True), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
