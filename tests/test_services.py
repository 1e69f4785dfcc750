"""components/services.py is the one table of the stack's addresses: no port of it is written
anywhere else in components/, and every port a workload listens on is in it."""

from __future__ import annotations

import io
import re
import tokenize
from typing import Any

import pytest

from components import services
from components.services import Service
from conftest import stack_run
from mockengine.manifests import manifests
from mockengine.program import ROOT, STACKS, stack_config

COMPONENTS = ROOT / "components"
TABLE = COMPONENTS / "services.py"
KUBERNETES_STACKS = [s for s in STACKS if stack_config(s)["target"] == "kubernetes"]


def table() -> list[Service]:
    return [value for value in vars(services).values() if isinstance(value, Service)] + list(services.EXPORTERS)


def table_ports() -> set[int]:
    ports = {port for s in table() for port in (s.port, s.metrics_port) if port is not None}
    ports |= {value for name, value in vars(services).items() if name.endswith("_PORT") and isinstance(value, int)}
    return ports


def _address(names: set[str]) -> re.Pattern[str]:
    # `<host>:<port>` with a host of the stack (or the container itself), or a bare `:<port>` listen
    # address; QuikApp's own hosts (`nginx:8080`) are not the stack's.
    hosts = "|".join(re.escape(h) for h in sorted(names | {"localhost", "127.0.0.1", "0.0.0.0"}))
    return re.compile(rf"(?<![\w.-])(?:{hosts})?:(\d+)\b")


def port_literals(text: str, ports: set[int], names: set[str]) -> list[str]:
    """`line: token` of every number token that is one of `ports`, and every string naming one in an address."""
    address = _address(names)
    found = []
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        if token.type == tokenize.NUMBER:
            try:
                value = int(token.string, 0)
            except ValueError:
                continue  # a float
            if value in ports:
                found.append(f"{token.start[0]}: {token.string}")
        elif token.type == tokenize.STRING and any(int(m.group(1)) in ports for m in address.finditer(token.string)):
            found.append(f"{token.start[0]}: {token.string}")
    return found


def test_the_check_finds_what_it_looks_for() -> None:
    ports, names = {9090}, {"prometheus"}
    assert port_literals('http = Port("http", 9090)\n', ports, names) == ['1: 9090']
    assert port_literals('URL = "http://prometheus:9090"\n', ports, names) == ['1: "http://prometheus:9090"']
    assert port_literals('T = ("CMD", "wget", "http://127.0.0.1:9090/-/ready")\n', ports, names) != []
    assert port_literals('ARG = "--web.listen-address=:9090"\n', ports, names) != []
    # Not the stack's: a port of QuikApp's, a number that is no port, a comment.
    assert port_literals('URI = "http://nginx:9090/stub_status"\nN = 90900  # prometheus:9090\n',
                         ports, names) == []


def test_no_port_of_the_table_is_written_outside_it() -> None:
    ports, names = table_ports(), {s.name for s in table()}
    found = {str(path.relative_to(ROOT)): hits for path in sorted(COMPONENTS.rglob("*.py")) if path != TABLE
             if (hits := port_literals(path.read_text(encoding="utf-8"), ports, names))}
    assert found == {}


def test_names_are_unique() -> None:
    names = [s.name for s in table()]
    assert len(names) == len(set(names))


def _containers(stack: str) -> list[dict[str, Any]]:
    kinds = ("Deployment", "StatefulSet", "DaemonSet")
    workloads = [obj for obj in manifests(stack_run(stack)) if obj["kind"] in kinds]
    return [container for obj in workloads for container in obj["spec"]["template"]["spec"]["containers"]]


@pytest.mark.parametrize("stack", KUBERNETES_STACKS)
def test_every_port_a_workload_listens_on_is_in_the_table(stack: str) -> None:
    listened = {port["containerPort"] for container in _containers(stack) for port in container.get("ports", [])}
    assert listened
    assert listened - table_ports() == set()
