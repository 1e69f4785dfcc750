"""The docs say what the code does: every settings key, every output, the two commands, live links.

The README is the newcomer's page (what it is, the two commands, the outputs); the reference
lives in docs/ (docs/CONFIGURATION.md for the settings).
"""

from __future__ import annotations

import re
import typing
from pathlib import Path

import pytest
from pydantic import BaseModel

from components.settings.model import Settings
from conftest import stack_run
from mockengine.program import ROOT, STACKS

README = (ROOT / "README.md").read_text()
CONFIGURATION = (ROOT / "docs" / "CONFIGURATION.md").read_text()
# Room for what the README still has to say, but no return to the 48 KB reference in one page.
README_BUDGET = 10_000


# A map of objects keyed by a name the operator picks: its rows name the key as a placeholder.
MAP_KEYS = {"teams": "<team>"}


def _leaf_keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    keys = []
    for name, field in model.model_fields.items():
        key = prefix + (field.alias or name)
        nested = next((c for c in (field.annotation, *typing.get_args(field.annotation))
                       if isinstance(c, type) and issubclass(c, BaseModel)), None)
        if nested and typing.get_origin(field.annotation) is dict:
            key += "." + MAP_KEYS[name]
        keys += _leaf_keys(nested, key + ".") if nested else [key]
    return keys


@pytest.mark.parametrize("key", _leaf_keys(Settings))
def test_every_settings_key_is_in_the_config_reference(key: str) -> None:
    assert f"| `{key}` |" in CONFIGURATION, f"docs/CONFIGURATION.md lacks a row for `{key}`"


def test_documented_keys_exist() -> None:
    """No stale rows: every key in a reference table is a real settings key."""
    keys = set(_leaf_keys(Settings))
    rows = re.findall(r"^\| `([a-zA-Z.<>]+)` \|", CONFIGURATION, flags=re.M)
    assert rows and sorted(set(rows) - keys) == []


@pytest.mark.parametrize("stack", STACKS)
def test_every_output_is_documented_in_the_readme(stack: str) -> None:
    for key in stack_run(stack).outputs:
        assert f"| `{key}` |" in README, key


def test_readme_names_the_two_commands_and_ci_runs_the_test_one() -> None:
    assert "make up " in README and "make test " in README
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    assert "scripts/bootstrap.sh dev up" in (ROOT / "Makefile").read_text().replace("$(STACK)", "dev")


def test_readme_stays_a_short_newcomer_page() -> None:
    size = len(README.encode())
    assert size < README_BUDGET, f"README.md is {size} bytes (budget {README_BUDGET}): move reference text to docs/"
    # What a newcomer needs stays in it: the measured CI time, the outputs, the way on.
    assert re.search(r"`\.ci/run` installs .*?Measured .*?\*\*\d+ minutes\*\*", README, re.S), \
        "README lost the measured `.ci/run` time"
    assert "## For service teams" in README and "## Versions" in README
    for page in ("CONFIGURATION", "OPERATIONS", "GUARANTEES", "SEED-DEVIATIONS"):
        assert f"(docs/{page}.md)" in README, f"README does not point to docs/{page}.md"


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    text = re.sub(r"^```.*?^```", "", page.read_text(), flags=re.M | re.S)
    return {_slug(h) for h in re.findall(r"^#+ (.+)$", text, flags=re.M)}


MARKDOWN = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


@pytest.mark.parametrize("page", MARKDOWN, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_and_anchor_resolves(page: Path) -> None:
    """Moving text between pages must not leave links to old places (`docs/docs/…`, lost anchors)."""
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
        if re.match(r"[a-z]+:", target):
            continue  # external URL
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        if not resolved.exists() or (anchor and (resolved.suffix != ".md" or anchor not in _anchors(resolved))):
            broken.append(target)
    assert broken == [], f"{page.relative_to(ROOT)}: broken links {broken}"


def test_upgrading_lists_every_restart_of_this_release() -> None:
    """The one-time restarts the real-cluster upgrade journey measures (tests/e2e/test_upgrade.py)
    are the ones docs/UPGRADING.md tells operators to expect, and no other."""
    from e2e.releases import UPGRADE_RESTARTS

    text = (ROOT / "docs" / "UPGRADING.md").read_text()
    section = text[text.index("## This release"):]
    section = section[:section.find("\n## ", 1)] if "\n## " in section[1:] else section
    listed = set(re.findall(r"`((?:Deployment|StatefulSet|DaemonSet)/[a-z0-9-]+)`", section))
    for stack, restarts in UPGRADE_RESTARTS.items():
        assert listed == set(restarts), (stack, listed ^ set(restarts))
