"""The Kubernetes target's layouts (components/targets/kubernetes_layouts.py): chosen in one place,
`layout_for`, for every workload shape the program has; a shape none of them runs stops the program.

What each layout renders is tests/test_ha.py's (replicas), tests/test_platform_fixes.py's and the
stack snapshots'; here only which layout runs what, and that nothing else decides it.
"""

from __future__ import annotations

import ast
import runpy
from dataclasses import replace
from typing import Any

import pytest
from guarantees import with_changes

from components.targets.kubernetes_layouts import (
    PerNode,
    Replicas,
    SingleInstance,
    StatefulReplicas,
    layout_for,
)
from components.workload import Cluster, ClusterAccess, DataVolume, Placement, Port, Replication, Workload
from mockengine.program import ROOT
from mockengine.run import Run, run_program

TOOL = Workload(name="tool", image="example/tool:1", ports=(Port("http", 8080),))
DATA = DataVolume("tool_data", "/data", "1Gi")
CLUSTER = Cluster(Port("cluster", 9094), "--cluster.listen-address", "--cluster.advertise-address",
                  "--cluster.peer")


def shaped(*, volumes: tuple[DataVolume, ...] = (), per_node: bool = False,
           replication: Replication | None = None) -> Workload:
    """TOOL with what its layout is decided on (and its volumes, which some layouts refuse)."""
    return replace(TOOL, volumes=volumes, placement=Placement(per_node=per_node, replication=replication))


@pytest.mark.parametrize(("workload", "layout"), [
    (TOOL, SingleInstance),
    (shaped(volumes=(DATA,)), SingleInstance),
    (shaped(per_node=True), PerNode),
    (shaped(replication=Replication(2, stable_identity=False, retired_volumes=(DATA,))), Replicas),
    (shaped(volumes=(DATA,), replication=Replication(2)), StatefulReplicas),
    (shaped(volumes=(DATA,), replication=Replication(3, cluster=CLUSTER)), StatefulReplicas),
], ids=["single", "single-with-data", "per-node", "replicas", "stateful-replicas", "cluster"])
def test_each_shape_gets_its_layout(workload: Workload, layout: type) -> None:
    assert type(layout_for(workload)) is layout


def test_only_a_cluster_changes_the_workload_as_it_runs() -> None:
    for workload in (TOOL, shaped(volumes=(DATA,)), shaped(per_node=True),
                     shaped(volumes=(DATA,), replication=Replication(2)),
                     shaped(replication=Replication(2, stable_identity=False))):
        assert layout_for(workload).workload == workload
    clustered = shaped(volumes=(DATA,), replication=Replication(2, cluster=CLUSTER))
    running = layout_for(clustered).workload
    assert running.args == ("--cluster.listen-address=[$(POD_IP)]:9094", "--cluster.advertise-address=[$(POD_IP)]:9094",
                            "--cluster.peer=tool-0.tool-headless:9094", "--cluster.peer=tool-1.tool-headless:9094")
    assert running.cluster_access.field_env == (("POD_IP", "status.podIP"),)
    assert replace(running, args=(), cluster_access=ClusterAccess()) == clustered


@pytest.mark.parametrize(("workload", "refused"), [
    (shaped(per_node=True, replication=Replication(2)), "per_node with replication"),
    (shaped(per_node=True, volumes=(DATA,)), "a per-node workload with a data volume"),
    (shaped(volumes=(DATA,), replication=Replication(2, stable_identity=False)),
     "replicas without stable_identity with a data volume"),
    (shaped(replication=Replication(3, stable_identity=False, cluster=CLUSTER)),
     "a cluster of replicas without stable_identity"),
], ids=["per-node-replicas", "per-node-data", "replicas-data", "replicas-cluster"])
def test_a_shape_no_layout_runs_is_refused_in_one_line(workload: Workload, refused: str) -> None:
    """Not run in the nearest layout: each of these would deploy something that cannot work (a
    ReadWriteOnce claim shared across nodes, peers named by names nobody has) or drop a field."""
    with pytest.raises(ValueError, match=r"^tool: no Kubernetes layout runs ") as caught:
        layout_for(workload)
    message = str(caught.value)
    assert refused in message and "\n" not in message


def test_an_unknown_replication_stops_the_program() -> None:
    """mypy proves every value of `replication` has its case; an unchecked build that passes
    another still does not fall into a layout."""
    with pytest.raises(ValueError, match=r"^tool: no Kubernetes layout runs replication 'three replicas': ") as caught:
        layout_for(shaped(replication="three replicas"))  # type: ignore[arg-type]
    assert "\n" not in str(caught.value)


# --- made once, by layout_for only ----------------------------------------------------------------

CONTROLLERS = {"SingleInstance": "Deployment", "Replicas": "Deployment", "PerNode": "DaemonSet",
               "StatefulReplicas": "StatefulSet"}


def _run_recording_layouts(stack: str, changes: dict[str, Any],
                           monkeypatch: pytest.MonkeyPatch) -> tuple[Run, list[tuple[str, str]]]:
    """The real program, with every layout the Kubernetes target chose recorded (workload, layout)."""
    chosen: list[tuple[str, str]] = []

    def main() -> None:
        # Imported here: run_program re-imports `components` before it calls the program.
        from components.targets.kubernetes_layouts import layout_for as choose

        def recording(workload: Workload) -> Any:
            layout = choose(workload)
            chosen.append((workload.name, type(layout).__name__))
            return layout

        # Where deploy() looks it up.
        monkeypatch.setattr("components.targets.kubernetes.layout_for", recording)
        runpy.run_path(str(ROOT / "__main__.py"), run_name="__main__")

    return run_program(stack, *with_changes(stack, changes), main=main), chosen


def test_every_workload_is_laid_out_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """prod with Grafana's replicas has all four layouts: each workload's is chosen once, and its
    controller is that layout's."""
    grafana = {"replicas": 2, "database": {"type": "postgres", "host": "postgres:5432", "name": "grafana",
                                           "user": "grafana"}}
    run, chosen = _run_recording_layouts("prod", {"grafana": grafana}, monkeypatch)
    layouts = dict(chosen)
    assert len(layouts) == len(chosen)  # once per workload
    assert {name: layout for name, layout in layouts.items() if layout != "SingleInstance"} == {
        "prometheus": "StatefulReplicas", "alertmanager": "StatefulReplicas", "grafana": "Replicas",
        "promtail": "PerNode", "node-exporter": "PerNode"}
    controllers = {r.name: r.type.rsplit(":", 1)[1] for r in run.resources
                   if r.type in {"kubernetes:apps/v1:Deployment", "kubernetes:apps/v1:DaemonSet",
                                 "kubernetes:apps/v1:StatefulSet"}}
    assert controllers == {name: CONTROLLERS[layout] for name, layout in layouts.items()}


TARGETS = ROOT / "components" / "targets"
SHAPE = {"per_node", "replication"}  # what a workload's layout is decided on (Workload.placement)


def test_no_other_code_of_the_target_decides_a_layout() -> None:
    """`per_node` and `replication` are read from a workload's placement in `layout_for` only; the
    layouts get what they need from it (`self.replication`), and deploy() asks the layout."""
    found, decided = [], set()
    for path in sorted(TARGETS.glob("kubernetes*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        deciders = [node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef) and node.name == "layout_for"]
        allowed = {id(n) for decider in deciders for n in ast.walk(decider)}
        for node in ast.walk(tree):
            if not isinstance(node, ast.Attribute) or node.attr not in SHAPE:
                continue
            if id(node) in allowed:
                decided.add(node.attr)
            elif not (isinstance(node.value, ast.Name) and node.value.id == "self"):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} .{node.attr}")
    assert decided == SHAPE  # layout_for is where they are read
    assert found == []
