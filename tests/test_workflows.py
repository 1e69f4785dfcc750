"""The CI/CD workflows for the infrastructure itself: safe to run on pull-request code, clean for
the field's checkers (actionlint, zizmor), pinned, and documented truthfully.

A pull request's code runs in `preview.yml` with whatever that job holds, so the tests below read
the workflows as GitHub runs them: a caller's `uses:` of pulumi.yml is expanded into the called job
with its inputs (and each matrix leg) substituted, and each resulting job is checked against the
environments docs/OPERATIONS.md tells the maintainers to create.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from guarantees import with_changes

from conftest import stack_run
from mockengine.program import ROOT
from mockengine.run import Run, run_program
from tools import require, run_tool

WORKFLOWS = ROOT / ".github" / "workflows"
CALLED = "./.github/workflows/pulumi.yml"
OPERATIONS = ROOT / "docs" / "OPERATIONS.md"
REQUIREMENTS = ROOT / "requirements.txt"


def load(name: str, text: str | None = None) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(text if text is not None else (WORKFLOWS / name).read_text())
    # YAML 1.1 reads the `on:` key as boolean True.
    data["on"] = data.pop(True, data.get("on"))
    return data


def _section(text: str, heading: str) -> str:
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end != -1 else None]


def _steps_using(job: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [s for s in job["steps"] if str(s.get("uses", "")).startswith(f"{action}@")]


def _expressions(node: Any, context: str) -> set[str]:
    """The names a job reads from `context` (`secrets`, `vars`) in any of its expressions."""
    return set(re.findall(rf"\b{context}\.([A-Za-z_]\w*)", yaml.safe_dump(node)))


# --- Jobs as GitHub runs them ---------------------------------------------------------------------

@dataclass
class JobRun:
    workflow: str
    job: str  # the caller's job id
    condition: str | None  # the caller's `if`
    permissions: dict[str, str]  # the GITHUB_TOKEN's, after the workflow's default
    inputs: dict[str, str]  # what the caller passes to pulumi.yml ({} for a job of its own)
    environment: str | None
    body: dict[str, Any]  # the job that runs the steps (pulumi.yml's for a call)

    @property
    def secrets(self) -> set[str]:
        return _expressions(self.body, "secrets") - {"GITHUB_TOKEN"}

    @property
    def credentials(self) -> bool:
        """Whether the job holds anything beyond a read-only token: a secret or an OIDC token."""
        return bool(self.secrets) or self.permissions.get("id-token") == "write"


def job_runs(name: str) -> list[JobRun]:
    workflow = load(name)
    runs = []
    for job_id, job in workflow["jobs"].items():
        matrix = job.get("strategy", {}).get("matrix", {})
        assert set(matrix) <= {"include"}, f"{name} {job_id}: only `include` matrices are expanded here"
        for leg in matrix.get("include") or [{}]:
            def with_leg(value: str, leg: dict[str, str] = leg) -> str:
                return re.sub(r"\$\{\{\s*matrix\.(\w+)\s*\}\}", lambda m: leg[m.group(1)], value)
            permissions = job.get("permissions", workflow.get("permissions"))
            assert isinstance(permissions, dict), f"{name} {job_id}: permissions must be explicit"
            if "uses" in job:
                assert job["uses"] == CALLED, job["uses"]
                inputs = {k: with_leg(str(v)) for k, v in job.get("with", {}).items()}
                called = load("pulumi.yml")
                (body,) = called["jobs"].values()
                # A called workflow's token is the caller's, at most (GitHub refuses to start a run
                # whose called job asks for more): pulumi.yml asks for nothing of its own.
                assert "permissions" not in called and "permissions" not in body
                environment = re.sub(r"\$\{\{\s*inputs\.(\w+)\s*\}\}",
                                     lambda m, inputs=inputs: inputs[m.group(1)], body["environment"])
            else:
                inputs, body, environment = {}, job, job.get("environment")
            runs.append(JobRun(name, job_id, job.get("if"), permissions, inputs, environment, body))
    return runs


def _workflows_on(event: str) -> list[str]:
    return sorted(p.name for p in WORKFLOWS.glob("*.yml") if event in load(p.name)["on"])


def _triggered() -> list[str]:
    """The workflows GitHub starts itself (not only as a called workflow, which job_runs expands)."""
    return sorted(p.name for p in WORKFLOWS.glob("*.yml") if set(load(p.name)["on"]) - {"workflow_call"})


def documented_environments() -> dict[str, dict[str, str]]:
    """The environments table of docs/OPERATIONS.md: name -> {column: cell}."""
    section = _section(OPERATIONS.read_text(), "Pull-request previews and deployments")
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    header = next(line for line in section.splitlines() if line.startswith("| environment |"))
    columns = [c.strip() for c in header.strip("|").split("|")]
    table = {}
    for row in rows:
        cells = dict(zip(columns, (c.strip() for c in row.strip("|").split("|")), strict=True))
        table[cells["environment"].strip("`")] = cells
    return table


def test_the_workflows_are_these_four() -> None:
    assert sorted(p.name for p in WORKFLOWS.iterdir()) == ["deploy.yml", "preview.yml", "pulumi.yml", "test.yml"]
    assert load("pulumi.yml")["on"].keys() == {"workflow_call"}, "pulumi.yml only runs when called"
    assert _workflows_on("pull_request") == ["preview.yml", "test.yml"]
    assert _workflows_on("push") == ["deploy.yml"]


def test_no_workflow_runs_untrusted_code_with_the_base_repositorys_privileges() -> None:
    """pull_request_target and workflow_run run with the base repository's token and secrets even
    for a fork's pull request: none of that here (zizmor's dangerous-triggers audit, made a rule)."""
    for path in WORKFLOWS.glob("*.yml"):
        assert not set(load(path.name)["on"]) & {"pull_request_target", "workflow_run"}, path.name


# --- Pull-request code and credentials ------------------------------------------------------------

def test_pull_request_code_gets_credentials_only_in_a_documented_preview_environment() -> None:
    """No job that runs on a pull request holds a secret or an OIDC token outside an environment;
    its environment is one of the documented preview environments, of its own stack; prod's is one
    with required reviewers. So no pull request reaches prod's credentials without a maintainer."""
    environments = documented_environments()
    checked = []
    for name in _workflows_on("pull_request"):
        for run in job_runs(name):
            if not run.credentials:
                assert run.environment is None, f"{name} {run.job}"
                continue
            assert run.environment in environments, f"{name} {run.job}: undocumented environment {run.environment}"
            row = environments[run.environment]
            assert "preview.yml" in row["used by"], (run.environment, row)
            assert row["stack"] == run.inputs["stack"], (run.environment, row["stack"], run.inputs)
            if run.inputs["stack"] == "prod":
                assert row["required reviewers"].startswith("**yes**"), row
            checked.append((run.inputs["stack"], run.environment))
    assert sorted(checked) == [("prod", "prod-preview"), ("staging", "staging-preview")]


def test_deployments_run_only_from_main_and_prod_only_after_approval() -> None:
    environments = documented_environments()
    runs = {run.job: run for run in job_runs("deploy.yml")}
    assert load("deploy.yml")["on"] == {"push": {"branches": ["main"]}}
    assert runs["staging"].inputs == {"command": "up", "stack": "staging", "environment": "staging"}
    assert runs["prod"].inputs == {"command": "up", "stack": "prod", "environment": "prod"}
    for stack in ("staging", "prod"):
        row = environments[stack]
        assert row["stack"] == stack and "deploy.yml" in row["used by"]
        # A pull-request run (ref refs/pull/<n>/merge) is refused by a main-only environment, even
        # when the pull request edits a workflow to name it.
        assert row["deployment branches"] == "`main` only", row
    assert environments["prod"]["required reviewers"].startswith("**yes**")
    deploy = load("deploy.yml")["jobs"]
    assert (deploy["staging"]["needs"], deploy["prod"]["needs"]) == ("test", "staging")
    assert load("deploy.yml")["concurrency"]["cancel-in-progress"] is False
    assert set(environments) == {run.environment for name in ("preview.yml", "deploy.yml")
                                 for run in job_runs(name) if run.environment}


def test_every_secret_is_an_environment_secret() -> None:
    """Workflow-level env and jobs without an environment read no secret (a repository secret is
    readable by any pull request's workflow edits, so none is used)."""
    for path in WORKFLOWS.glob("*.yml"):
        workflow = load(path.name)
        assert not _expressions({k: v for k, v in workflow.items() if k != "jobs"}, "secrets"), path.name
    for name in _triggered():
        for run in job_runs(name):
            assert not run.secrets or run.environment, f"{name} {run.job}: {run.secrets}"


def test_each_job_asks_for_the_least_token_it_uses() -> None:
    """Nothing by default; `id-token: write` only where pulumi.yml configures AWS credentials;
    `pull-requests: write` only for the preview's comment."""
    for name in _triggered():
        top = load(name).get("permissions")
        assert top in ({}, {"contents": "read"}), (name, top)
        for run in job_runs(name):
            calls = bool(run.inputs)
            wanted: dict[str, str] = {}
            if calls:
                wanted = {"contents": "read", "id-token": "write"}
                if run.inputs["command"] == "preview":
                    wanted["pull-requests"] = "write"
                assert _steps_using(run.body, "aws-actions/configure-aws-credentials")
            elif any("actions/checkout@" in str(s.get("uses", "")) for s in run.body["steps"]):
                wanted = {"contents": "read"}
            assert run.permissions == wanted, (name, run.job, run.permissions)


def _evaluate(condition: str, context: dict[str, Any]) -> bool:
    """The two-operand comparisons the workflows use in `if:` (GitHub compares strings ignoring case)."""
    match = re.fullmatch(r"\s*([\w.]+)\s*(==|!=)\s*([\w.]+)\s*", condition)
    assert match, f"not a comparison this test can evaluate: {condition}"

    def value(path: str) -> Any:
        node: Any = context
        for part in path.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        return node.lower() if isinstance(node, str) else node

    left, right = value(match.group(1)), value(match.group(3))
    return (left == right) if match.group(2) == "==" else (left != right)


def _pull_request_from(head_repo: str | None) -> dict[str, Any]:
    repo = None if head_repo is None else {"full_name": head_repo}
    return {"github": {"repository": "QuikApp/quikapp-monitoring",
                       "event": {"pull_request": {"head": {"repo": repo}}}}}


@pytest.mark.parametrize(("head", "jobs"), [
    ("QuikApp/quikapp-monitoring", {"preview"}),
    ("quikapp/QUIKAPP-monitoring", {"preview"}),
    ("someone/quikapp-monitoring", {"fork"}),
    (None, {"fork"}),  # the fork was deleted after the pull request was opened
], ids=["branch", "branch-other-case", "fork", "deleted-fork"])
def test_a_pull_request_from_a_fork_gets_the_notice_job_and_no_preview(head: str | None, jobs: set[str]) -> None:
    workflow = load("preview.yml")
    context = _pull_request_from(head)
    running = {job_id for job_id, job in workflow["jobs"].items() if _evaluate(job["if"], context)}
    assert running == jobs


def test_the_fork_notice_says_why_and_succeeds() -> None:
    fork = load("preview.yml")["jobs"]["fork"]
    assert fork["permissions"] == {} and "environment" not in fork and not _expressions(fork, "secrets")
    (step,) = fork["steps"]
    result = subprocess.run(["bash", "-e", "-c", step["run"]], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    (line,) = result.stdout.splitlines()
    assert line.startswith("::notice title=No preview for a pull request from a fork::")
    assert "does not give to runs from forks" in line and "push its branch" in line


def test_no_expression_is_expanded_inside_a_script() -> None:
    """`${{ }}` in a `run:` is pasted into the script before the shell sees it (template
    injection); values reach scripts through `env:` only."""
    for path in WORKFLOWS.glob("*.yml"):
        for job in load(path.name)["jobs"].values():
            for step in job.get("steps", []):
                assert "${{" not in step.get("run", ""), (path.name, step.get("name"))


def test_every_checkout_leaves_no_credentials_behind() -> None:
    for path in WORKFLOWS.glob("*.yml"):
        for job in load(path.name)["jobs"].values():
            for step in _steps_using(job, "actions/checkout") if "steps" in job else []:
                assert step["with"]["persist-credentials"] is False, path.name


# --- The settings a run needs are checked before anything uses them -------------------------------

CHECK = "Check the environment's variables and secrets"
COMPLETE = {"ENVIRONMENT": "staging-preview", "PULUMI_BACKEND_URL": "s3://quikapp-pulumi-state",
            "AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/quikapp-monitoring-staging-preview",
            "AWS_REGION": "eu-west-1", "PASSPHRASE_SET": "true", "KUBECONFIG_SET": "true"}


def _pulumi_job() -> dict[str, Any]:
    (job,) = load("pulumi.yml")["jobs"].values()
    return job


def _check_step() -> dict[str, Any]:
    (step,) = [s for s in _pulumi_job()["steps"] if s.get("name") == CHECK]
    return step


def _run_check(**changes: str) -> subprocess.CompletedProcess[str]:
    # GitHub runs a `run:` with `bash -e {0}` when no shell is given.
    env = {"PATH": os.environ["PATH"], **COMPLETE, **changes}
    return subprocess.run(["bash", "-e", "-c", _check_step()["run"]], env=env, capture_output=True, text=True,
                          timeout=30)


def test_the_check_covers_every_variable_and_secret_the_run_uses_and_comes_first() -> None:
    job = _pulumi_job()
    step = _check_step()
    def checked(pattern: str) -> set[str]:
        return {m.group(1) for value in step["env"].values() if (m := re.fullmatch(pattern, str(value)))}

    checked_vars = checked(r"\$\{\{ vars\.(\w+) \}\}")
    checked_secrets = checked(r"\$\{\{ secrets\.(\w+) != '' \}\}")
    assert checked_vars == _expressions(job, "vars") == {"PULUMI_BACKEND_URL", "AWS_ROLE_ARN", "AWS_REGION"}
    assert checked_secrets == _expressions(job, "secrets") == {"PULUMI_CONFIG_PASSPHRASE", "KUBECONFIG"}
    # Only whether each secret is set reaches the check, never its value.
    assert not any(re.search(r"secrets\.\w+ \}\}", str(v)) for v in step["env"].values())
    steps = job["steps"]
    users = [i for i, s in enumerate(steps)
             if s.get("name") != CHECK and _expressions(s, "vars") | _expressions(s, "secrets")]
    assert [s.get("name") for s in steps].index(CHECK) < min(users)
    (pulumi,) = _steps_using(job, "pulumi/actions")
    assert pulumi["with"]["cloud-url"] == "${{ vars.PULUMI_BACKEND_URL }}"


def test_the_check_passes_a_complete_environment_silently() -> None:
    result = _run_check()
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


@pytest.mark.parametrize(("missing", "named"), [
    ({"PULUMI_BACKEND_URL": ""}, "the variable PULUMI_BACKEND_URL"),
    ({"AWS_ROLE_ARN": ""}, "the variable AWS_ROLE_ARN"),
    ({"AWS_REGION": ""}, "the variable AWS_REGION"),
    ({"PASSPHRASE_SET": "false"}, "the secret PULUMI_CONFIG_PASSPHRASE"),
    ({"KUBECONFIG_SET": "false"}, "the secret KUBECONFIG"),
])
def test_a_missing_setting_fails_the_run_with_one_line_naming_it(missing: dict[str, str], named: str) -> None:
    result = _run_check(**missing)
    assert result.returncode == 1
    (line,) = result.stdout.splitlines()
    assert line.startswith(f"::error title=GitHub environment staging-preview::{named} ")
    assert "is not set in the environment 'staging-preview'" in line
    assert line.endswith("(docs/OPERATIONS.md#pull-request-previews-and-deployments)")


def test_an_empty_environment_lists_everything_missing() -> None:
    result = _run_check(PULUMI_BACKEND_URL="", AWS_ROLE_ARN="", AWS_REGION="", PASSPHRASE_SET="false",
                        KUBECONFIG_SET="false")
    assert result.returncode == 1
    assert len(result.stdout.splitlines()) == 5


@pytest.mark.parametrize("url", ["https://api.pulumi.com", "file:///tmp/state", "s3://"])
def test_a_backend_that_is_not_an_s3_bucket_is_refused(url: str) -> None:
    """Never Pulumi Cloud, never a local directory of the runner."""
    result = _run_check(PULUMI_BACKEND_URL=url)
    assert result.returncode == 1
    (line,) = result.stdout.splitlines()
    assert f"PULUMI_BACKEND_URL '{url}' is not an s3:// URL" in line


# --- Previews, deployments, tests -----------------------------------------------------------------

def test_pull_requests_preview_every_cluster_stack_with_a_pr_comment_and_the_policy_pack() -> None:
    runs = {run.inputs["stack"]: run for run in job_runs("preview.yml") if run.inputs}
    assert set(runs) == {"staging", "prod"}
    assert all(run.inputs["command"] == "preview" for run in runs.values())
    (step,) = _steps_using(_pulumi_job(), "pulumi/actions")
    assert step["with"]["command"] == "${{ inputs.command }}"
    # True exactly for a preview (the deploy's `up` posts no comment).
    assert step["with"]["comment-on-pr"] == "${{ inputs.command == 'preview' }}"
    assert step["with"]["policyPacks"] == "policy"
    assert step["with"]["stack-name"] == "organization/quikapp-monitoring/${{ inputs.stack }}"
    assert step["with"]["secrets-provider"] == "passphrase"
    assert step["env"] == {"PULUMI_CONFIG_PASSPHRASE": "${{ secrets.PULUMI_CONFIG_PASSPHRASE }}"}
    (aws,) = _steps_using(_pulumi_job(), "aws-actions/configure-aws-credentials")
    assert aws["with"] == {"role-to-assume": "${{ vars.AWS_ROLE_ARN }}", "aws-region": "${{ vars.AWS_REGION }}"}


def test_previews_do_not_wait_for_the_tests_and_the_tests_gate_merging() -> None:
    assert all("needs" not in job for job in load("preview.yml")["jobs"].values())
    test = load("test.yml")
    assert test["on"] == {"pull_request": {"branches": ["main"]}}
    assert list(test["jobs"]) == ["test"] and test["jobs"]["test"]["name"] == "test"
    assert [s["run"] for s in test["jobs"]["test"]["steps"] if "run" in s] == ["sudo --preserve-env=PATH bash .ci/run"]
    # The check gates merging only once branch protection requires it: the docs say so.
    section = _section(OPERATIONS.read_text(), "Pull-request previews and deployments")
    assert re.search(r"required status check\*\*? of\s+`main`'s branch protection", section)
    assert "check `test`" in section


# --- One Pulumi CLI version -----------------------------------------------------------------------

def _sdk_pin() -> str:
    found = re.search(r"^pulumi==(\S+)$", REQUIREMENTS.read_text(), re.M)
    assert found
    return found.group(1)


def _tree_with_pin(tmp_path: Path, line: str) -> Path:
    """scripts/ and a requirements.txt whose pulumi line is `line`."""
    tree = tmp_path / re.sub(r"\W", "_", line or "none")
    (tree / "scripts").mkdir(parents=True)
    shutil.copy(ROOT / "scripts" / "pulumi-cli-version.sh", tree / "scripts")
    (tree / "requirements.txt").write_text(REQUIREMENTS.read_text().replace(f"pulumi=={_sdk_pin()}", line))
    return tree


def _version_step() -> dict[str, Any]:
    (pulumi,) = _steps_using(_pulumi_job(), "pulumi/actions")
    assert "pulumi-version-file" not in pulumi["with"]
    ref = re.fullmatch(r"\$\{\{ steps\.([\w-]+)\.outputs\.version \}\}", pulumi["with"]["pulumi-version"])
    assert ref, pulumi["with"]["pulumi-version"]
    (step,) = [s for s in _pulumi_job()["steps"] if s.get("id") == ref.group(1)]
    return step


def _bootstrap_version_line() -> str:
    (line,) = [line for line in (ROOT / "scripts" / "bootstrap.sh").read_text().splitlines()
               if line.startswith("PULUMI_VERSION=")]
    return line


def _workflow_version(tree: Path) -> subprocess.CompletedProcess[str]:
    output = tree / "github_output"
    output.write_text("")
    result = subprocess.run(["bash", "-e", "-c", _version_step()["run"]], cwd=tree, capture_output=True, text=True,
                            env={**os.environ, "GITHUB_OUTPUT": str(output)}, timeout=30)
    result.stdout = output.read_text()
    return result


def _bootstrap_version(tree: Path) -> subprocess.CompletedProcess[str]:
    # The line as bootstrap.sh runs it (set -euo pipefail, $0 the script's path), in another directory.
    script = f'set -euo pipefail\n{_bootstrap_version_line()}\nprintf "%s" "$PULUMI_VERSION"'
    return subprocess.run(["bash", "-c", script, str(tree / "scripts" / "bootstrap.sh")], cwd=tree.parent,
                          capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize("version", ["pin", "3.999.1"])
def test_ci_and_bootstrap_install_the_cli_at_the_sdk_pin(tmp_path: Path, version: str) -> None:
    """The single source: the `pulumi==` line of requirements.txt. Moving it moves the workflows'
    `pulumi-version` and bootstrap.sh's CLI together; neither holds a version of its own."""
    version = _sdk_pin() if version == "pin" else version
    tree = _tree_with_pin(tmp_path, f"pulumi=={version}")
    workflow = _workflow_version(tree)
    assert workflow.returncode == 0 and workflow.stdout == f"version={version}\n", workflow.stderr
    bootstrap = _bootstrap_version(tree)
    assert bootstrap.returncode == 0 and bootstrap.stdout == version, bootstrap.stderr


@pytest.mark.parametrize("line", ["", "pulumi>=3.200.0", "pulumi==3.1.0\npulumi==3.2.0"])
def test_without_one_exact_pin_neither_ci_nor_bootstrap_guesses_a_version(tmp_path: Path, line: str) -> None:
    tree = _tree_with_pin(tmp_path, line)
    for result in (_workflow_version(tree), _bootstrap_version(tree)):
        assert result.returncode != 0
        assert "requirements.txt: expected exactly one line pulumi==X.Y.Z" in result.stderr
    assert (tree / "github_output").read_text() == ""


def test_no_other_file_pins_a_pulumi_cli_version() -> None:
    for path in [ROOT / "scripts" / "bootstrap.sh", *WORKFLOWS.glob("*.yml")]:
        assert not re.search(r"""(PULUMI_VERSION=|pulumi-version:)\s*["']?\d""", path.read_text()), path


# --- Pinned actions -------------------------------------------------------------------------------

USES = re.compile(r"^\s*(?:-\s+)?uses:\s*(\S+)(.*)$")


def _all_uses(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [str(v) for k, v in node.items() if k == "uses"] + [u for v in node.values() for u in _all_uses(v)]
    if isinstance(node, list):
        return [u for v in node for u in _all_uses(v)]
    return []


def test_every_action_is_pinned_to_a_commit_sha_with_its_version_in_a_comment() -> None:
    pins: dict[str, tuple[str, str]] = {}
    for path in sorted(WORKFLOWS.glob("*.yml")):
        found = [m for m in map(USES.match, path.read_text().splitlines()) if m]
        # Every `uses` of the parsed workflow is on a line of its own (none hides in a flow mapping).
        assert sorted(m.group(1) for m in found) == sorted(_all_uses(load(path.name)))
        for match in found:
            ref, comment = match.groups()
            if ref.startswith("./"):
                assert (ROOT / ref).is_file(), ref
                continue
            action, _, sha = ref.partition("@")
            assert re.fullmatch(r"[0-9a-f]{40}", sha), f"{path.name}: {ref} is not pinned to a commit SHA"
            version = re.fullmatch(r"\s+# (v\d+\.\d+\.\d+)", comment)
            assert version, f"{path.name}: {ref} needs its version as `# vX.Y.Z`"
            # One action, one pin across the workflows (Renovate moves them together).
            assert pins.setdefault(action, (sha, version.group(1))) == (sha, version.group(1)), action
    assert set(pins) == {"actions/checkout", "actions/setup-python", "aws-actions/configure-aws-credentials",
                         "pulumi/actions"}


# --- The field's checkers -------------------------------------------------------------------------

def _actionlint(*files: Path) -> subprocess.CompletedProcess[str]:
    # actionlint runs ShellCheck on every `run:` script only when it finds the program; named
    # explicitly so that a missing ShellCheck fails (under CI) instead of silently checking less.
    return run_tool(require("actionlint"), f"-shellcheck={require('shellcheck')}", "-pyflakes=", *files)


def test_actionlint_accepts_every_workflow() -> None:
    result = _actionlint(*sorted(WORKFLOWS.glob("*.yml")))
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_rejects_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text((WORKFLOWS / "test.yml").read_text().replace("runs-on: ubuntu-24.04", "runs-on: [", 1))
    assert _actionlint(broken).returncode != 0


def test_actionlint_runs_shellcheck_on_the_scripts(tmp_path: Path) -> None:
    text = (WORKFLOWS / "test.yml").read_text()
    script = "        run: sudo --preserve-env=PATH bash .ci/run\n"
    assert script in text
    unquoted = tmp_path / "test.yml"
    unquoted.write_text(text.replace(script, "        run: rm -rf $RUNNER_TEMP/build\n"))
    result = _actionlint(unquoted)
    assert result.returncode != 0 and "SC2086" in result.stdout and "[shellcheck]" in result.stdout, result.stdout


def test_actionlint_is_the_version_upstream_tools_pins() -> None:
    pinned = re.search(r'^ACTIONLINT_VERSION="(v[\d.]+)"$', (ROOT / "scripts" / "upstream-tools.sh").read_text(), re.M)
    result = run_tool(require("actionlint"), "-version")
    assert pinned and result.stdout.splitlines()[0] == pinned.group(1), result.stdout


def _zizmor(directory: Path) -> tuple[subprocess.CompletedProcess[str], list[dict[str, Any]]]:
    # --no-config: only the ignore comments in the workflows, each with its reason, can silence a finding.
    result = run_tool(require("zizmor"), "--offline", "--no-config", "--no-progress", "--format", "json",
                      "--min-severity", "medium", directory)
    findings: list[dict[str, Any]] = json.loads(result.stdout)
    return result, findings


def test_zizmor_reports_nothing_of_medium_severity_or_above() -> None:
    result, findings = _zizmor(ROOT / ".github")
    assert findings == [] and result.returncode == 0, json.dumps(findings, indent=1)[:5000] + result.stderr


# Each fix of issue 20, undone on a copy of .github/ ({file: [(pattern, replacement)]}): zizmor
# names what was undone, so the clean report above is not for want of looking.
UNDONE: dict[str, dict[str, list[tuple[str, str]]]] = {
    "unpinned-uses": {"test.yml": [(r"actions/checkout@[0-9a-f]{40} # v[\d.]+", "actions/checkout@v7")]},
    "artipacked": {"test.yml": [(r"\n          persist-credentials: false", "")]},
    # As the old preview.yml had it: a write scope at the workflow level, which reaches every job
    # that does not set its own (here the fork notice).
    "excessive-permissions": {"preview.yml": [
        (r"\npermissions: \{\}\n", "\npermissions:\n  contents: read\n  pull-requests: write\n"),
        (r"(timeout-minutes: 5\n)    permissions: \{\}\n", r"\1")]},
    "template-injection": {"test.yml": [(r"run: sudo --preserve-env=PATH bash \.ci/run",
                                         'run: echo "${{ github.event.pull_request.title }}"')]},
}


@pytest.mark.parametrize("audit", sorted(UNDONE))
def test_zizmor_reports_each_fix_undone(tmp_path: Path, audit: str) -> None:
    shutil.copytree(ROOT / ".github", tmp_path / ".github")
    for name, edits in UNDONE[audit].items():
        path = tmp_path / ".github" / "workflows" / name
        text = path.read_text()
        for pattern, replacement in edits:
            text, count = re.subn(pattern, replacement, text, count=1)
            assert count == 1, pattern
        path.write_text(text)
    result, findings = _zizmor(tmp_path / ".github")
    assert result.returncode != 0
    assert {f["ident"] for f in findings} == {audit}


def test_every_zizmor_ignore_says_why() -> None:
    for path in WORKFLOWS.glob("*.yml"):
        for line in path.read_text().splitlines():
            if "zizmor: ignore" in line:
                reason = re.search(r"# zizmor: ignore\[[\w,-]+\]\s+(.*)$", line)
                assert reason and len(reason.group(1).split()) >= 3, f"{path.name}: {line.strip()}"


def test_zizmor_is_the_pinned_version() -> None:
    pinned = re.search(r"^zizmor==(\S+)$", (ROOT / "requirements-dev.txt").read_text(), re.M)
    result = run_tool(require("zizmor"), "--version")
    assert pinned and result.stdout.strip() == f"zizmor {pinned.group(1)}", result.stdout


# --- What a preview's kubeconfig must be allowed to do -------------------------------------------
# pulumi-kubernetes (server-side apply, its default) previews a create as a dry-run POST and an
# update as a GET plus a dry-run apply PATCH; Kubernetes authorizes a dry-run like the real
# request (sources in docs/OPERATIONS.md § Credentials a preview needs).
PREVIEW_VERBS = {"get", "create", "patch"}
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding"}
OPERATIONS = ROOT / "docs" / "OPERATIONS.md"


def _comment(name: str) -> str:
    """The workflow's comment lines, joined into prose."""
    lines = (WORKFLOWS / name).read_text().splitlines()
    return " ".join(line.lstrip("# ").strip() for line in lines if line.startswith("#"))


def _section(text: str, heading: str) -> str:
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end != -1 else None]


def _documented_rbac() -> tuple[set[tuple[str, str, str]], dict[str, set[tuple[str, str, str]]]]:
    """(rules granted cluster-wide, rules granted per namespace) by the documented RBAC objects."""
    section = _section(OPERATIONS.read_text(), "Credentials a preview needs")
    (block,) = re.findall(r"^```yaml\n(.*?)^```", section, flags=re.M | re.S)
    objects = [o for o in yaml.safe_load_all(block) if o]
    roles = {o["metadata"]["name"]: {(g, r, v) for rule in o["rules"] for g in rule["apiGroups"]
                                     for r in rule["resources"] for v in rule["verbs"]}
             for o in objects if o["kind"] == "ClusterRole"}
    cluster: set[tuple[str, str, str]] = set()
    namespaced: dict[str, set[tuple[str, str, str]]] = {}
    for o in objects:
        if o["kind"] == "ClusterRoleBinding":
            cluster |= roles[o["roleRef"]["name"]]
        elif o["kind"] == "RoleBinding":
            namespaced.setdefault(o["metadata"]["namespace"], set()).update(roles[o["roleRef"]["name"]])
    return cluster, namespaced


def _plural(kind: str) -> str:
    lower = kind.lower()
    return lower[:-1] + "ies" if lower.endswith("y") else lower + ("es" if lower.endswith("s") else "s")


def _cluster_stack_runs() -> list[Run]:
    # Ingress exists only with grafana.ingress: include a run that has one.
    values, secret_keys = with_changes("prod", {"grafana": {"ingress": {"host": "grafana.quikapp.io"}}})
    return [stack_run("staging"), stack_run("prod"), run_program("prod", values, secret_keys)]


def test_preview_workflow_no_longer_claims_read_only_credentials_suffice() -> None:
    comment = _comment("preview.yml")
    assert not re.search(r"read-only[^.]*suffic", comment), comment
    # It names the real requirement and where the RBAC is spelled out.
    for phrase in ("dry-run", "dryRun=All", "PATCH", "get, create and patch"):
        assert phrase in comment, phrase
    links = re.findall(r"docs/OPERATIONS\.md#([\w-]+)", comment)
    assert "credentials-a-preview-needs" in links
    assert "\n## Credentials a preview needs\n" in OPERATIONS.read_text()


def test_documented_preview_rbac_covers_every_kind_the_cluster_stacks_manage() -> None:
    cluster, namespaced = _documented_rbac()
    missing = set()
    for run in _cluster_stack_runs():
        for res in run.resources:
            if not res.type.startswith("kubernetes:") or res.type.startswith("kubernetes:helm"):
                continue
            group_version, kind = res.type.split(":")[1:]
            group = "" if group_version.startswith("core/") else group_version.split("/")[0]
            granted = cluster if kind in CLUSTER_SCOPED else \
                cluster | namespaced.get(res.inputs["metadata"]["namespace"], set())
            for verb in PREVIEW_VERBS:
                if (group, _plural(kind), verb) not in granted:
                    missing.add(f"{verb} {group or 'core'}/{_plural(kind)}"
                                + ("" if kind in CLUSTER_SCOPED else f" in {res.inputs['metadata']['namespace']}"))
    assert sorted(missing) == []


def test_documented_preview_identity_passes_rbacs_escalation_check_for_the_stacks_cluster_roles() -> None:
    """Creating or binding a ClusterRole needs its rules cluster-wide (or `escalate` and `bind`)."""
    cluster, _ = _documented_rbac()
    may_escalate = {("rbac.authorization.k8s.io", "clusterroles", v) for v in ("escalate", "bind")} <= cluster
    for run in _cluster_stack_runs():
        for role in run.of_type("kubernetes:rbac.authorization.k8s.io/v1:ClusterRole"):
            needed = {(g, r, v) for rule in role.inputs["rules"] for g in rule["apiGroups"]
                      for r in rule["resources"] for v in rule["verbs"]}
            assert may_escalate or needed <= cluster, sorted(needed - cluster)
