"""Upgrading a running stack from the previous release: no claim replaced, only documented restarts.

Per stack: a cluster like those the previous release ran on (QuikApp's namespace exists, no Pod
Security level enforced by default), `up` with the previous release's program and stack file
(`git archive` of PREVIOUS_RELEASE), then `up` with this checkout's. Every PersistentVolumeClaim
keeps its UID; the workloads that roll are exactly the one-time restarts docs/UPGRADING.md lists
for this release (UPGRADE_RESTARTS, checked against the doc by tests/test_docs.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from e2e.cluster import Cluster
from e2e.conftest import build_dir, stack_summary
from e2e.scenario import Deployment, generated_secrets, program_tree, stack_settings

# The release this one upgrades: main as it landed before (stop 15, issue 13).
PREVIOUS_RELEASE = "89a4a8b"
# Workloads whose pod template this release changes (kind/name -> why), per stack.
UPGRADE_RESTARTS: dict[str, dict[str, str]] = {"staging": {}, "prod": {}}


@pytest.fixture(scope="module", params=("staging", "prod"))
def upgraded(request: pytest.FixtureRequest) -> Iterator[tuple[Deployment, dict[str, Any]]]:
    stack = request.param
    work = build_dir(f"upgrade-{stack}")
    cluster = Cluster(work / "cluster", pod_security_default=None)
    old_tree = program_tree(work / "previous", commit=PREVIOUS_RELEASE)
    new_tree = program_tree(work / "program")
    cluster.up()
    try:
        deployment = Deployment(cluster=cluster, tree=old_tree, stack=stack, work=work,
                                config=stack_settings(old_tree, stack), secrets=generated_secrets(stack))
        # The previous release needs QuikApp's namespace to exist, as it did where it ran.
        cluster.kubectl("create", "namespace", deployment.app_namespace)
        deployment.up("previous_release_up")
        before = deployment.wait_settled("previous release")
        deployment.tree, deployment.config = new_tree, stack_settings(new_tree, stack)
        result = deployment.up("upgrade_up")
        after = deployment.wait_settled("upgrade")
        yield deployment, {"before": before, "after": after, "result": result}
    finally:
        cluster.down()


def test_upgrade_replaces_no_claim(upgraded: tuple[Deployment, dict[str, Any]], summary: dict[str, Any]) -> None:
    deployment, run = upgraded
    before, after = run["before"], run["after"]
    replaced = sorted(name for name, uid in before.claims.items() if after.claims.get(name) != uid)
    stack_summary(summary, deployment.stack)["pvcs_replaced_on_upgrade"] = len(replaced)
    stack_summary(summary, deployment.stack)["seconds"].update(
        {k: v for k, v in deployment.timings.items() if k in ("previous_release_up", "upgrade_up")})
    assert before.claims
    assert replaced == []
    claim_steps = [s for s in run["result"].changed() if s["type"] == "kubernetes:core/v1:PersistentVolumeClaim"]
    assert claim_steps == []


def test_upgrade_restarts_only_what_the_release_documents(upgraded: tuple[Deployment, dict[str, Any]]) -> None:
    deployment, run = upgraded
    restarted = run["before"].restarts(run["after"])["workloads"]
    assert sorted(restarted) == sorted(UPGRADE_RESTARTS[deployment.stack])
