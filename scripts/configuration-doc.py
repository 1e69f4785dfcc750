#!/usr/bin/env python3
"""`make config-doc`: write docs/CONFIGURATION.md from the settings model and docs/CONFIGURATION.md.tmpl.

The tables of keys come from the model (components/settings/reference.py says how); the prose about no single
key comes from the template. Deterministic: the same model and template give the same bytes.
--check writes nothing and exits 1 with a diff when docs/CONFIGURATION.md is not what they give.
"""

from __future__ import annotations

import argparse
import difflib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a file: the project's packages are beside scripts/

from components.settings.model import Settings  # noqa: E402
from components.settings.reference import ConfigurationDocError, write  # noqa: E402

TEMPLATE = ROOT / "docs" / "CONFIGURATION.md.tmpl"
OUTPUT = ROOT / "docs" / "CONFIGURATION.md"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="compare with docs/CONFIGURATION.md, write nothing")
    args = parser.parse_args()
    try:
        text = write(TEMPLATE.read_text(encoding="utf-8"), Settings)
    except ConfigurationDocError as exc:
        print(f"configuration-doc: {exc}", file=sys.stderr)
        return 1
    if not args.check:
        OUTPUT.write_text(text, encoding="utf-8")
        return 0
    current = OUTPUT.read_text(encoding="utf-8") if OUTPUT.exists() else ""
    if current == text:
        return 0
    sys.stdout.writelines(difflib.unified_diff(current.splitlines(keepends=True), text.splitlines(keepends=True),
                                               "docs/CONFIGURATION.md", "written from the model"))
    print("configuration-doc: docs/CONFIGURATION.md is stale: run `make config-doc`", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
