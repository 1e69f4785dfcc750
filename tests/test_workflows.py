"""The CI/CD workflows for the infrastructure itself: actionlint-clean, wired and documented truthfully."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from guarantees import with_changes

from conftest import stack_run
from harness import ROOT, Run, run_program
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
    link = re.search(r"docs/OPERATIONS\.md#([\w-]+)", comment)
    assert link and link.group(1) == "credentials-a-preview-needs"
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
