"""`Workload` (components/workload.py): each target reads only the fields it realises.

The table below says which target reads which field; the Kubernetes-only groups (and Docker's own
field) are then handed to the other target as stand-ins that fail on any use, and the stack it
deploys must be the very one it deploys from the real workloads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields, replace
from typing import Any, NoReturn

import pytest

from components.workload import Placement, Replication, Workload
from conftest import stack_run
from mockengine.run import run_program

BOTH = {"name", "image", "args", "entrypoint", "env", "secret_env", "ports", "files", "volumes", "host_mounts",
        "health", "resources", "user", "may_wait_for_backend", "sidecars"}
DOCKER_ONLY = {"config_copier_image"}
KUBERNETES_ONLY = {"root_filesystem", "placement", "cluster_access", "ingress"}


def test_every_field_says_which_target_reads_it() -> None:
    # A new field is added to one of the sets above: both targets realise it, or only one does and
    # the other must not read it (a group of that target's, with its docstring saying so).
    assert {f.name for f in fields(Workload)} == BOTH | DOCKER_ONLY | KUBERNETES_ONLY
    assert not (BOTH & DOCKER_ONLY or BOTH & KUBERNETES_ONLY or DOCKER_ONLY & KUBERNETES_ONLY)


class _Unread:
    """Stands in for a field the target must not read: any use of it stops the run."""

    def __init__(self, field: str) -> None:
        self.field = field

    def _read(self, *_: Any) -> NoReturn:
        raise AssertionError(f"the target read Workload.{self.field}")

    def __getattr__(self, name: str) -> NoReturn:  # the group's fields: placement.per_node, ...
        self._read()

    __bool__ = __iter__ = __len__ = __eq__ = __str__ = __getitem__ = __contains__ = _read
    __hash__ = None  # type: ignore[assignment]


def _unread(fields_: set[str]) -> Callable[[], None]:
    """The real program, its target handed every workload with `fields_` replaced by stand-ins."""
    def main() -> None:
        # Imported here: run_program re-imports `components` before it calls the program.
        from components import program, stack
        from components.targets import make_target

        def blind_target(settings: Any, parent: Any) -> Any:
            target = make_target(settings, parent)
            deploy = target.deploy

            def blind_deploy(workload: Workload, parent: Any) -> Any:
                stand_ins: dict[str, Any] = {f: _Unread(f) for f in fields_}
                return deploy(replace(workload, **stand_ins), parent)

            target.deploy = blind_deploy  # type: ignore[method-assign]
            return target

        # The freshly imported module of this run only (run_program re-imports `components` each time).
        stack.make_target = blind_target  # type: ignore[attr-defined]
        program.deploy()

    return main


@pytest.mark.parametrize(("stack", "unread"), [("dev", KUBERNETES_ONLY), ("staging", DOCKER_ONLY)],
                         ids=["docker", "kubernetes"])
def test_a_target_reads_none_of_the_other_targets_fields(stack: str, unread: set[str]) -> None:
    blind = run_program(stack, main=_unread(unread))
    real = stack_run(stack)
    # By URN: the engine registers independent resources in no fixed order.
    assert {r.urn: r for r in blind.resources} == {r.urn: r for r in real.resources}
    assert len(blind.resources) == len(real.resources)
    assert blind.outputs == real.outputs


def test_root_is_spelled_one_way() -> None:
    # A uid of 0 would be enforced as non-root on Kubernetes: the pod would never start.
    with pytest.raises(ValueError, match='tool: user 0 is root: say user="root"'):
        Workload(name="tool", image="image", user=0)
    assert Workload(name="tool", image="image", user="root").user == "root"


def test_replicas_come_from_the_placement() -> None:
    assert Workload(name="tool", image="image").replicas == 1
    assert Workload(name="tool", image="image", placement=Placement(replication=Replication(3))).replicas == 3
