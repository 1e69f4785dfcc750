"""The docs say what the code does: every settings key, every output, the two commands, live links.

The README is the newcomer's page (what it is, the two commands, the outputs); the reference
lives in docs/ (docs/CONFIGURATION.md for the settings).
"""

from __future__ import annotations

import re
import subprocess
import sys
import typing
from pathlib import Path

import pytest
from pydantic import BaseModel, Field

from components.settings.base import Number
from components.settings.model import Settings
from components.settings.reference import ConfigurationDocError, write
from conftest import stack_run
from mockengine.program import ROOT, STACKS

README = (ROOT / "README.md").read_text()
CONFIGURATION = (ROOT / "docs" / "CONFIGURATION.md").read_text()
# Room for what the README still has to say, but no return to the 48 KB reference in one page.
README_BUDGET = 10_000


# A map of objects keyed by a name the operator picks: its rows name the key as a placeholder; a list of
# objects names its items [<i>].
MAP_KEYS = {"teams": "<team>"}


def _keys(model: type[BaseModel], prefix: str = "") -> tuple[list[str], list[str]]:
    """(leaf keys, object keys) of the model, as the reference names them."""
    leaves: list[str] = []
    objects: list[str] = []
    for name, field in model.model_fields.items():
        key = prefix + (field.alias or name)
        nested = next((c for c in (field.annotation, *typing.get_args(field.annotation))
                       if isinstance(c, type) and issubclass(c, BaseModel)), None)
        if nested is None:
            leaves.append(key)
            continue
        objects.append(key)
        if typing.get_origin(field.annotation) is dict:
            key += "." + MAP_KEYS[name]
        elif typing.get_origin(field.annotation) is list:
            key += "[<i>]"
        inner_leaves, inner_objects = _keys(nested, key + ".")
        leaves += inner_leaves
        objects += inner_objects
    return leaves, objects


@pytest.mark.parametrize("key", _keys(Settings)[0])
def test_every_settings_key_is_in_the_config_reference(key: str) -> None:
    assert f"| `{key}` |" in CONFIGURATION, f"docs/CONFIGURATION.md lacks a row for `{key}`"


def test_documented_keys_exist() -> None:
    """No stale rows: every key in a reference table is a real settings key."""
    leaves, objects = _keys(Settings)
    rows = re.findall(r"^\| `([a-zA-Z.<>\[\]]+)` \|", CONFIGURATION, flags=re.M)
    assert rows and sorted(set(rows) - {*leaves, *objects}) == []


def test_the_config_reference_is_written_from_the_settings_model() -> None:
    """docs/CONFIGURATION.md is what scripts/configuration-doc.py writes from the model and the template:
    a description changed in the model, or a key added, without `make config-doc` fails here."""
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "configuration-doc.py"), "--check"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr


class _Described(BaseModel):
    size: Number = Field(1, description="How many.")
    colour: str = Field("blue", description="Which.")


class _Undescribed(BaseModel):
    size: Number = Field(1, description="How many.")
    colour: str = "blue"


def test_the_config_reference_needs_a_description_and_a_table_for_every_key() -> None:
    text = write("intro\n<!-- keys: size colour -->\n<!-- value types -->\n", _Described)
    assert "| `size` | number | `1` |  | How many. |\n| `colour` | text | `blue` |  | Which. |\n" in text
    assert text.endswith("- **number**: a whole number, without quotes\n")
    with pytest.raises(ConfigurationDocError, match="colour has no description"):
        write("<!-- keys: size colour -->\n", _Undescribed)
    with pytest.raises(ConfigurationDocError, match="in none: colour"):
        write("<!-- keys: size -->\n", _Described)
    with pytest.raises(ConfigurationDocError, match="in two: size"):
        write("<!-- keys: size colour -->\n<!-- keys: size -->\n", _Described)


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
    # Code spans hold no links (a pattern such as `([-a-z0-9]*[a-z0-9])` only looks like one).
    for target in re.findall(r"\]\(([^)\s]+)\)", re.sub(r"`[^`]*`", "", page.read_text())):
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
