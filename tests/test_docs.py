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


# --- Upstream citations: one page, at the deployed versions (issue 21) ------------------------------

UPSTREAM_FACTS = ROOT / "docs" / "UPSTREAM-FACTS.md"
# `owner/repo@ref` (optionally `github.com/…` and a sub-path: `github.com/google/cadvisor/lib@v0.60.6`;
# or a bare `repo@ref`), or a bare `@ref` right after one (`grafana/loki@v3.6.11 and @v3.6.12`), which
# names the same repository.
CITATION = re.compile(
    r"(?:(?:github\.com/)?(?P<repo>[\w.-]+(?:/[\w.-]+)?)(?:/[\w.-]+)*|(?<=\s))@(?P<ref>v?\d[\w.+-]*\w)")
# An upstream file named after its repository without a version: grafana/grafana `pkg/api/x.go`.
UNVERSIONED_SOURCE = re.compile(
    r"\b[a-z][\w-]*/[\w.-]+ `(?:[\w./-]+\.(?:go|md|ya?ml|ts|tsx|js|libsonnet|jsonnet|json)|Dockerfile)`")
SCRIPT_PINS = ROOT / "scripts" / "upstream-tools.sh"


def _version(text: str) -> tuple[int, ...]:
    """`v3.16.0`, `3.16.0` and the seed's `1.50` (= 1.50.0) as comparable numbers."""
    numbers = [int(n) for n in re.findall(r"\d+", text.split("-")[0].split("+")[0])]
    while len(numbers) < 3:
        numbers.append(0)
    return tuple(numbers)


def _deployed(source: str) -> str:
    """The version the code pins: `Images.<field>`'s tag, or a pin of scripts/upstream-tools.sh."""
    from components.settings.model import Images

    if source.startswith("Images."):
        image = getattr(Images(), source.removeprefix("Images."))
        return image.split("@", 1)[0].rsplit(":", 1)[1].removeprefix("v")
    found = re.search(rf'^{source}="?v?([\d.]+)"?$', SCRIPT_PINS.read_text(), flags=re.M)
    assert found, f"scripts/upstream-tools.sh has no {source}"
    return found.group(1)


def _versions_read() -> list[dict[str, str]]:
    """The rows of UPSTREAM-FACTS.md's 'Versions read' table."""
    text = UPSTREAM_FACTS.read_text()
    section = text[text.index("## Versions read"):]
    section = section[:section.index("\n## ", 1)]
    header, *rows = [line for line in section.splitlines() if line.startswith("| ") and "---" not in line]
    names = [cell.strip() for cell in header.strip("|").split("|")]
    return [dict(zip(names, (cell.strip().strip("`") for cell in row.strip("|").split("|")), strict=True))
            for row in rows]


def _other_known_versions(source: str) -> set[tuple[int, ...]]:
    """Versions of a tool the code itself names besides the deployed one: the seed's (the upgrade
    starts there) and the one the tests build where the module proxy refuses the deployed tag."""
    from pydantic.alias_generators import to_camel
    from test_upgrade import OLD_IMAGES
    from test_upstream_tools import KNOWN_SKEW

    from tools import GO_BUILT

    if not source.startswith("Images."):
        return set()
    field = source.removeprefix("Images.")
    known = set()
    if to_camel(field) in OLD_IMAGES:
        known.add(_version(OLD_IMAGES[to_camel(field)].rsplit(":", 1)[1]))
    for binary, (_, built) in KNOWN_SKEW.items():
        if GO_BUILT.get(binary, binary) == field:
            known.add(_version(built))
    return known


def _citations(text: str) -> list[tuple[str, str]]:
    """(repository, ref) of every `owner/repo@ref` outside fenced code, bare `@ref`s given the
    repository named before them on the same line."""
    found = []
    for line in re.sub(r"^```.*?^```", "", text, flags=re.M | re.S).splitlines():
        repo = ""
        for match in CITATION.finditer(line):
            repo = match["repo"] or repo
            found.append((repo, match["ref"]))
    return found


def test_every_deployed_tool_has_its_deployed_version_in_upstream_facts() -> None:
    """The table's 'deployed' column is the code's pin, and every image of the table has a row."""
    from components.settings.model import Images

    rows = _versions_read()
    stale = {row["tool"]: (row["deployed"], _deployed(row["version of"])) for row in rows
             if row["deployed"] != _deployed(row["version of"])}
    assert stale == {}, f"docs/UPSTREAM-FACTS.md 'Versions read': (documented, pinned) {stale}: read the rows again"
    listed = {row["version of"] for row in rows}
    assert sorted(f"Images.{field}" for field in Images.model_fields if f"Images.{field}" not in listed) == []


def test_upstream_facts_cite_deployed_tools_at_the_deployed_version() -> None:
    """A cited version of a deployed tool's repository is the deployed one, the seed's, the one the
    tests build, or one the 'Versions read' table lists with its reason; a stale citation (Alertmanager
    v0.34.0 read while 0.35.0 is deployed) fails."""
    allowed: dict[str, set[tuple[int, ...]]] = {}
    for row in _versions_read():
        versions = allowed.setdefault(row["repository"], set())
        versions.add(_version(row["deployed"]))
        versions |= _other_known_versions(row["version of"])
        versions |= {_version(v) for v in re.findall(r"v[\d.]+\d", row["also cited"])}
    # Prometheus' Go module publishes v3.X.Y as v0.3XX.Y.
    allowed["prometheus/prometheus"] |= {(0, 300 + minor, patch) for major, minor, patch in
                                         set(allowed["prometheus/prometheus"]) if major == 3}
    # A Go pseudo-version (v1.76.1-0.<time>-<commit>) names a commit, not a release: not a version here.
    wrong = sorted({f"{repo}@{ref}" for repo, ref in _citations(UPSTREAM_FACTS.read_text())
                    if repo in allowed and re.match(r"v?\d+\.\d+", ref) and not re.search(r"-0\.\d{14}-", ref)
                    and _version(ref) not in allowed[repo]})
    assert wrong == [], f"docs/UPSTREAM-FACTS.md cites versions that are not deployed: {wrong}"


# docs/CONFIGURATION.md included: it is generated from its template and the settings model's field
# descriptions, which link to UPSTREAM-FACTS.md like any page.
CITING_PAGES = [p for p in MARKDOWN if p.name != "UPSTREAM-FACTS.md"]


@pytest.mark.parametrize("page", CITING_PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_only_upstream_facts_cites_upstream_sources(page: Path) -> None:
    """Other pages link to UPSTREAM-FACTS.md's sections instead of repeating a source, so a version
    bump has one page to update."""
    text = re.sub(r"^```.*?^```", "", page.read_text(), flags=re.M | re.S)
    cited = [f"{repo}@{ref}" for repo, ref in _citations(text)] + UNVERSIONED_SOURCE.findall(text)
    assert cited == [], f"{page.relative_to(ROOT)} cites upstream sources: move them to docs/UPSTREAM-FACTS.md: {cited}"


def test_architecture_names_only_files_that_exist() -> None:
    """The 'Add a tool' recipe's file list (and every other path docs/ARCHITECTURE.md names) is
    the current code's: a renamed or removed file fails here."""
    text = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
    named = {path for path in re.findall(r"`([\w./-]+)`", text)
             if "/" in path and path.split("/", 1)[0] in {"components", "configs", "tests", "scripts", "docs"}}
    named |= {path for path in re.findall(r"`([\w.-]+\.(?:py|json|yaml|sh))`", text) if path in {
        "renovate.json", "__main__.py"}}
    assert len(named) > 20
    # `components/render/yamltext.dump_yaml` names a function of a module.
    missing = sorted(path for path in named
                     if not (ROOT / path).exists() and not (ROOT / f"{path.rsplit('.', 1)[0]}.py").exists())
    assert missing == [], f"docs/ARCHITECTURE.md names files that do not exist: {missing}"
