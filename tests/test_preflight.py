"""scripts/preflight.py: what bootstrap.sh checks of the platform before `pulumi up` / `preview`.

The probes are exercised against sockets the tests open themselves: a listener that answers
`GET /_ping` as the Docker engine does (200, "OK"), and plain TCP listeners standing in for an
API server's port. They test the probes, not Docker or Kubernetes.
"""

from __future__ import annotations

import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.settings import Settings, parse_settings
from mockengine.program import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
import preflight


def settings(**values: Any) -> Settings:
    base: dict[str, Any] = {"target": "docker", "grafana": {"adminPassword": "x"},
                            "exporters": {"postgres": {"enabled": False}}}
    return parse_settings({**base, **values}, {"grafana"})


def _serve_once(server: socket.socket, answer: bytes) -> None:
    conn, _ = server.accept()
    with conn:
        conn.recv(1024)
        conn.sendall(answer)


def _answering(path: Path, answer: bytes) -> threading.Thread:
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(1)
    thread = threading.Thread(target=_serve_once, args=(server, answer), daemon=True)
    thread.start()
    return thread


@pytest.fixture
def tcp_listener() -> Iterator[int]:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        yield int(server.getsockname()[1])


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_docker_engine_answering_ping_passes(tmp_path: Path) -> None:
    path = tmp_path / "docker.sock"
    thread = _answering(path, b"HTTP/1.1 200 OK\r\nApi-Version: 1.52\r\nContent-Length: 2\r\n\r\nOK")
    assert preflight.docker_problem(settings(docker={"host": f"unix://{path}"}), "Pulumi.dev.yaml") is None
    thread.join(5)


def test_something_else_on_the_socket_is_not_a_docker_engine(tmp_path: Path) -> None:
    path = tmp_path / "docker.sock"
    thread = _answering(path, b"HTTP/1.1 404 Not Found\r\n\r\n")
    problem = preflight.docker_problem(settings(docker={"host": f"unix://{path}"}), "Pulumi.dev.yaml")
    assert problem and problem.splitlines()[0] == (
        f"missing: a Docker engine at unix://{path} (docker.host of Pulumi.dev.yaml): {path} answered "
        "'HTTP/1.1 404 Not Found', not the Docker API")
    thread.join(5)


def test_a_missing_or_dead_docker_socket_is_named_with_the_fix(tmp_path: Path) -> None:
    missing = tmp_path / "none.sock"
    problem = preflight.docker_problem(settings(docker={"host": f"unix://{missing}"}), "Pulumi.dev.yaml")
    assert problem == "\n".join([
        f"missing: a Docker engine at unix://{missing} (docker.host of Pulumi.dev.yaml): no socket at {missing}",
        "  start Docker Engine there (https://docs.docker.com/engine/install/), or point docker.host at one that "
        "runs:",
        "  `pulumi config set --stack dev --path docker.host <unix:///path/docker.sock|tcp://host:port|"
        "ssh://user@host>`",
    ])
    dead = tmp_path / "dead.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(str(dead))  # bound, never listening: the state a crashed daemon leaves
    problem = preflight.docker_problem(settings(docker={"host": f"unix://{dead}"}), "Pulumi.dev.yaml")
    assert problem and problem.splitlines()[0].endswith(f": nothing listens on {dead}")


def test_a_docker_engine_over_tcp_must_accept_connections(tcp_listener: int) -> None:
    assert preflight.docker_problem(settings(docker={"host": f"tcp://127.0.0.1:{tcp_listener}"}), "P") is None
    port = _closed_port()
    problem = preflight.docker_problem(settings(docker={"host": f"tcp://127.0.0.1:{port}"}), "Pulumi.dev.yaml")
    assert problem and problem.splitlines()[0] == (
        f"missing: a Docker engine at tcp://127.0.0.1:{port} (docker.host of Pulumi.dev.yaml): "
        f"127.0.0.1:{port}: Connection refused")


def _kubeconfig(path: Path, server: str, contexts: tuple[str, ...] = ("quikapp-prod",)) -> Path:
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": contexts[0],
        "clusters": [{"name": "c", "cluster": {"server": server}}],
        "contexts": [{"name": name, "context": {"cluster": "c", "user": "u"}} for name in contexts],
        "users": [{"name": "u", "user": {"token": "t"}}],
    }))
    return path


def kube(**values: Any) -> Settings:
    return settings(target="kubernetes", kubernetes={"context": "quikapp-prod", **values})


@pytest.fixture(autouse=True)
def _no_ambient_kubeconfig(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("KUBECONFIG", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def test_no_kubeconfig_names_where_it_was_looked_for(tmp_path: Path) -> None:
    problem = preflight.kubernetes_problem(kube(), "Pulumi.prod.yaml")
    assert problem and problem.splitlines()[0] == (
        "missing: a kubeconfig for Pulumi.prod.yaml (kubernetes.context quikapp-prod): none readable at "
        f"{tmp_path / 'home' / '.kube' / 'config'}")


def test_a_context_the_kubeconfig_lacks_lists_those_it_has(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           tcp_listener: int) -> None:
    path = _kubeconfig(tmp_path / "kc", f"https://127.0.0.1:{tcp_listener}", ("kind-dev", "minikube"))
    monkeypatch.setenv("KUBECONFIG", str(path))
    problem = preflight.kubernetes_problem(kube(), "Pulumi.prod.yaml")
    assert problem and problem.splitlines()[0] == (
        f"missing: context quikapp-prod in {path} (kubernetes.context quikapp-prod of Pulumi.prod.yaml; "
        "it has: kind-dev, minikube)")


def test_an_unreachable_api_server_is_named(tmp_path: Path) -> None:
    port = _closed_port()
    path = _kubeconfig(tmp_path / "kc", f"https://127.0.0.1:{port}")
    problem = preflight.kubernetes_problem(kube(kubeconfig=str(path), context=None), "Pulumi.prod.yaml")
    assert problem and problem.splitlines()[0] == (
        f"missing: the API server of context quikapp-prod (https://127.0.0.1:{port}): "
        f"127.0.0.1:{port}: Connection refused")


def test_a_reachable_cluster_passes_from_a_file_or_inline_contents(tmp_path: Path, tcp_listener: int) -> None:
    path = _kubeconfig(tmp_path / "kc", f"https://127.0.0.1:{tcp_listener}")
    (tmp_path / "home" / ".kube").mkdir(parents=True)
    (tmp_path / "home" / ".kube" / "config").write_text(path.read_text())
    assert preflight.kubernetes_problem(kube(), "Pulumi.prod.yaml") is None
    inline = settings(target="kubernetes", kubernetes={"kubeconfig": path.read_text()})
    assert preflight.kubernetes_problem(inline, "Pulumi.prod.yaml") is None


def test_a_bad_stack_file_is_reported_by_the_preflight(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.x.yaml").write_text("config:\n  quikapp-monitoring:target: swarm\n")
    (problem,) = preflight.problems("x", tmp_path)
    assert problem.startswith("Pulumi.x.yaml: invalid stack configuration: quikapp-monitoring:target: 'swarm' "
                              "is not valid")


def test_a_stack_file_that_is_not_yaml_is_named_once_with_line_and_column(tmp_path: Path) -> None:
    # The key without its ':' is on line 5; the parser notices on line 6 and names both.
    (tmp_path / "Pulumi.x.yaml").write_text("config:\n  quikapp-monitoring:target: docker\n  quikapp-monitoring:loki:\n"
                                            "    storageSize: 9Gi\n    retention 30d\n    ingestionRateMb: 4\n")
    assert preflight.problems("x", tmp_path) == [
        "Pulumi.x.yaml: line 6, column 5: not valid YAML (could not find expected ':', while scanning a simple key "
        "at line 5, column 5)"]


def test_a_suggested_command_names_the_stack_checked(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.x.yaml").write_text("config:\n  quikapp-monitoring:target: docker\n  aws:region: eu-west-1\n")
    (problem,) = preflight.problems("x", tmp_path)
    assert problem.endswith("remove it from the stack file (`pulumi config rm --stack x aws:region`)"), problem
