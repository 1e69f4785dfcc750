"""The CI/CD workflows for the infrastructure itself: actionlint-clean and wired as documented."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from harness import ROOT
from tools import require, run_tool

WORKFLOWS = ROOT / ".github" / "workflows"


def load(name: str) -> dict[str, Any]:
    data = yaml.safe_load((WORKFLOWS / name).read_text())
    # YAML 1.1 reads the `on:` key as boolean True.
    data["on"] = data.pop(True, data.get("on"))
    return data


def _pulumi_steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in job["steps"] if str(s.get("uses", "")).startswith("pulumi/actions@")]


def test_actionlint_accepts_every_workflow() -> None:
    actionlint = require("actionlint")
    files = sorted(WORKFLOWS.glob("*.yml"))
    assert len(files) == 2
    result = run_tool(actionlint, *files)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_rejects_a_broken_workflow(tmp_path: Path) -> None:
    actionlint = require("actionlint")
    broken = tmp_path / "broken.yml"
    broken.write_text((WORKFLOWS / "preview.yml").read_text().replace("runs-on: ubuntu-24.04", "runs-on: [", 1))
    assert run_tool(actionlint, broken).returncode != 0


def test_pull_requests_preview_every_cluster_stack_with_a_pr_comment_and_the_policy_pack() -> None:
    workflow = load("preview.yml")
    assert "pull_request" in workflow["on"]
    preview = workflow["jobs"]["preview"]
    assert preview["needs"] == "test"
    assert preview["strategy"]["matrix"]["stack"] == ["staging", "prod"]
    (step,) = _pulumi_steps(preview)
    assert step["with"]["command"] == "preview"
    assert step["with"]["comment-on-pr"] is True
    assert step["with"]["policyPacks"] == "policy"
    assert step["with"]["stack-name"] == "organization/quikapp-monitoring/${{ matrix.stack }}"
    assert step["with"]["cloud-url"] == "${{ secrets.PULUMI_BACKEND_URL }}"
    assert step["env"]["PULUMI_CONFIG_PASSPHRASE"] == "${{ secrets.PULUMI_CONFIG_PASSPHRASE }}"
    assert workflow["permissions"]["pull-requests"] == "write"


def test_merge_deploys_staging_then_prod_behind_its_environment() -> None:
    workflow = load("deploy.yml")
    assert workflow["on"]["push"]["branches"] == ["main"]
    jobs = workflow["jobs"]
    assert jobs["staging"]["needs"] == "test" and jobs["staging"]["environment"] == "staging"
    assert jobs["prod"]["needs"] == "staging" and jobs["prod"]["environment"] == "prod"
    for stack in ("staging", "prod"):
        (step,) = _pulumi_steps(jobs[stack])
        assert step["with"]["command"] == "up"
        assert step["with"]["stack-name"] == f"organization/quikapp-monitoring/{stack}"
        assert step["with"]["policyPacks"] == "policy"
    assert workflow["concurrency"]["cancel-in-progress"] is False
