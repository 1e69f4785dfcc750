#!/usr/bin/env python3
"""`scripts/bootstrap.sh` step: before Pulumi runs, check what the stack needs from this machine.

- the stack file and the service catalog are valid (what the program would refuse, one line per
  problem), and
- its platform answers: a Docker engine at `docker.host` (Docker stacks; the docker CLI is not
  needed, the provider talks to the engine's API itself) or, for Kubernetes stacks, a kubeconfig
  with `kubernetes.context` whose API server accepts connections.
Prints what is missing and how to get it (stderr) and exits 1; exits 0 when all is there.
Secrets are not read: placeholders stand in for them, as in `make render`.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

ROOT = Path(__file__).resolve().parent.parent
if __name__ == "__main__":
    # Run as a file (`python scripts/preflight.py`, as bootstrap.sh does), Python puts scripts/ (for
    # render.py) on the path: the packages (components/, mockengine/) are at the repository root.
    sys.path.insert(0, str(ROOT))

from render import StackFileError, stack_file_config  # noqa: E402

from components.catalog import load_catalog  # noqa: E402
from components.settings import Settings, SettingsError, TargetKind, parse_config  # noqa: E402
from components.settings.model import unknown_target  # noqa: E402

TIMEOUT = 5.0
DOCKER_INSTALL = "https://docs.docker.com/engine/install/"


def _missing(what: str, *how: str) -> str:
    return "\n".join([f"missing: {what}", *(f"  {line}" for line in how)])


def _ping_unix(path: str) -> str | None:
    """Why the Docker engine at a unix socket does not answer `GET /_ping`, or None if it does."""
    # The engine answers 200 "OK" (moby/moby@docker-v29.7.2 daemon/server/router/system/system_routes.go,
    # pingHandler).
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(TIMEOUT)
            sock.connect(path)
            sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            status = sock.recv(64).split(b"\r\n", 1)[0].decode(errors="replace")
    except FileNotFoundError:
        return f"no socket at {path}"
    except PermissionError:
        return (f"permission denied on {path} (add your user to the docker group: "
                "`sudo usermod -aG docker $USER`, then log in again)")
    except ConnectionRefusedError:
        return f"nothing listens on {path}"
    except OSError as exc:
        return f"{path}: {exc.strerror or exc}"
    if status.split(" ")[1:2] != ["200"]:
        return f"{path} answered {status!r}, not the Docker API"
    return None


def _connect(host: str, port: int) -> str | None:
    try:
        with socket.create_connection((host, port), timeout=TIMEOUT):
            return None
    except OSError as exc:
        return f"{host}:{port}: {exc.strerror or exc}"


def docker_problem(settings: Settings, stack_file: str) -> str | None:
    host = settings.docker.host
    url = urlsplit(host)
    if url.scheme == "unix":
        reason = _ping_unix(url.path)
    elif url.scheme == "tcp":
        # Plain TCP: the engine may speak TLS there, which only the provider's client sets up.
        reason = _connect(url.hostname or "", url.port or 2375)
    else:
        return None  # ssh:// and npipe:// need the platform's own clients: left to the provider
    if reason is None:
        return None
    return _missing(
        f"a Docker engine at {host} (docker.host of {stack_file}): {reason}",
        f"start Docker Engine there ({DOCKER_INSTALL}), or point docker.host at one that runs:",
        f"`pulumi config set --stack {stack_file.split('.')[1]} --path docker.host "
        "<unix:///path/docker.sock|tcp://host:port|ssh://user@host>`",
    )


def _kubeconfig(settings: Settings) -> tuple[str, dict[str, Any] | None]:
    """Where pulumi-kubernetes takes its kubeconfig from, and its contents (None if absent).

    kubernetes.kubeconfig, else $KUBECONFIG (the Python SDK passes it as the provider's
    `kubeconfig`), else client-go's default ~/.kube/config; a value naming an existing file is
    read, any other is taken as the contents (pulumi/pulumi-kubernetes@v4.32.0, the newest tag mirrored
    here, provider/pkg/provider/util.go parseKubeconfigString, unchanged up to 2026-07 master;
    pulumi_kubernetes 4.34.2 provider.py `get_env('KUBECONFIG')`, read in ./venv).
    """
    given = settings.kubernetes.kubeconfig or os.environ.get("KUBECONFIG")
    source = given or "~/.kube/config"
    path = Path(source).expanduser()
    try:
        if path.is_file():
            return str(path), yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return str(path), None
    if given and "\n" in given:
        try:
            data = yaml.safe_load(given)
        except yaml.YAMLError:
            return "kubernetes.kubeconfig (inline)", None
        return "kubernetes.kubeconfig (inline)", data if isinstance(data, dict) else None
    return str(path), None


def _named(items: Any, name: str, key: str) -> dict[str, Any] | None:
    for item in items or []:
        if isinstance(item, dict) and item.get("name") == name and isinstance(item.get(key), dict):
            return item[key]  # type: ignore[no-any-return]
    return None


def kubernetes_problem(settings: Settings, stack_file: str) -> str | None:
    wanted = settings.kubernetes.context
    source, config = _kubeconfig(settings)
    label = f"kubernetes.context {wanted}" if wanted else "the kubeconfig's current context"
    if not isinstance(config, dict):
        return _missing(
            f"a kubeconfig for {stack_file} ({label}): none readable at {source}",
            "get the cluster's kubeconfig from its administrator or cloud CLI (aws eks update-kubeconfig, "
            "gcloud container clusters get-credentials, az aks get-credentials), or set kubernetes.kubeconfig",
        )
    name = wanted or config.get("current-context")
    contexts = sorted(str(c.get("name")) for c in config.get("contexts") or [] if isinstance(c, dict))
    context = _named(config.get("contexts"), str(name), "context") if name else None
    if context is None:
        return _missing(
            f"context {name or '(no current-context)'} in {source} ({label} of {stack_file}; "
            f"it has: {', '.join(contexts) or 'none'})",
            "add it to the kubeconfig, or set kubernetes.context to one of those",
        )
    cluster = _named(config.get("clusters"), str(context.get("cluster")), "cluster") or {}
    server = urlsplit(str(cluster.get("server", "")))
    if not server.hostname:
        return _missing(f"an API server for context {name} in {source}: its cluster has no server URL")
    if cluster.get("proxy-url") or os.environ.get("HTTPS_PROXY") or os.environ.get("https_proxy"):
        return None  # reached through a proxy: only the client can tell
    reason = _connect(server.hostname, server.port or 443)
    if reason is None:
        return None
    return _missing(
        f"the API server of context {name} ({server.geturl()}): {reason}",
        "connect to the cluster's network (VPN?) or check the kubeconfig",
    )


def _kubectl(settings: Settings, *args: str) -> subprocess.CompletedProcess[str] | None:
    """kubectl against the stack's cluster (its context or kubeconfig), or None without kubectl."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        return None
    kube = settings.kubernetes
    command = [kubectl, *(["--context", kube.context] if kube.context else [])]
    if kube.kubeconfig and Path(kube.kubeconfig).expanduser().is_file():
        command += ["--kubeconfig", str(Path(kube.kubeconfig).expanduser())]
    try:
        return subprocess.run([*command, *args], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None


def cluster_problems(settings: Settings, stack_file: str) -> tuple[list[str], list[str]]:
    """What the cluster must already have, which `pulumi up` would otherwise only find by waiting
    or failing half-way: the storage class the claims ask for (a claim of a class that does not
    exist stays Pending, and the provider waits 5 minutes for it to bind: pulumi/pulumi-kubernetes
    provider/pkg/await/awaiters.go untilCoreV1PersistentVolumeClaimReady), the application
    namespace when the stack does not create it, and an adopted namespace whose Pod Security level
    refuses the per-node agents. Returns (problems, notes); read with kubectl, skipped without it."""
    kube = settings.kubernetes
    stack = stack_file.split(".")[1]
    found: list[str] = []
    notes: list[str] = []
    classes = _kubectl(settings, "get", "storageclasses", "-o", "json")
    if classes is None:
        return [], ["not checked: storage classes and namespaces of the cluster (kubectl is not on PATH)"]
    if classes.returncode != 0:
        notes.append(f"not checked: storage classes ({classes.stderr.strip().splitlines()[-1:] or ['kubectl failed']})")
    else:
        items = json.loads(classes.stdout).get("items", [])
        names = sorted(i["metadata"]["name"] for i in items)
        if kube.storage_class and kube.storage_class not in names:
            found.append(f"missing: storage class {kube.storage_class} (kubernetes.storageClass of {stack_file}) "
                         f"in the cluster, which has: {', '.join(names) or 'none'}; its claims would never bind. "
                         f"Set another: "
                         f"`pulumi config set --stack {stack} --path kubernetes.storageClass <name>`")
        default = [i["metadata"]["name"] for i in items if (i["metadata"].get("annotations") or {}).get(
            "storageclass.kubernetes.io/is-default-class") == "true"]
        if not kube.storage_class and not default:
            found.append(f"missing: a default storage class in the cluster for {stack_file}, which names none "
                         f"(it has: {', '.join(names) or 'none'}); its claims would never bind. Name one: "
                         f"`pulumi config set --stack {stack} --path kubernetes.storageClass <name>`")
    if not kube.create_app_namespace:
        app = _kubectl(settings, "get", "namespace", kube.app_namespace, "-o", "name")
        if app is not None and app.returncode != 0 and "NotFound" in app.stderr:
            found.append(f"missing: namespace {kube.app_namespace} (kubernetes.appNamespace of {stack_file}, not "
                         f"created by the stack: kubernetes.createAppNamespace is false); Prometheus' discovery Role "
                         f"goes there. Create it, or set kubernetes.createAppNamespace to true")
    if not kube.create_namespace:
        ns = _kubectl(settings, "get", "namespace", kube.namespace, "-o", "json")
        if ns is not None and ns.returncode == 0:
            labels = json.loads(ns.stdout)["metadata"].get("labels") or {}
            level = labels.get("pod-security.kubernetes.io/enforce")
            if level not in (None, "privileged"):
                found.append(f"namespace {kube.namespace} (adopted: kubernetes.createNamespace is false) enforces Pod "
                             f"Security {level}; node-exporter, Promtail and cAdvisor need privileged (host "
                             f"namespaces and hostPath): `kubectl label --overwrite namespace {kube.namespace} "
                             f"pod-security.kubernetes.io/enforce=privileged`")
    return found, notes


def platform_problems(settings: Settings, stack_file: str) -> list[str]:
    """What stops `pulumi up` on the stack's target: its Docker daemon, or its cluster and what the cluster lacks."""
    kind = settings.target
    match kind:
        case TargetKind.DOCKER:
            problem = docker_problem(settings, stack_file)
            return [problem] if problem else []
        case TargetKind.KUBERNETES:
            problem = kubernetes_problem(settings, stack_file)
            if problem:
                return [problem]
            cluster, notes = cluster_problems(settings, stack_file)
            for note in notes:
                print(note, file=sys.stderr)
            return cluster
        case _:
            unknown_target(kind)


def problems(stack: str, root: Path = ROOT) -> list[str]:
    stack_file = f"Pulumi.{stack}.yaml"
    try:
        config, secret_keys, _ = stack_file_config(stack, root)
    except StackFileError as exc:
        return [str(exc)]  # it names the file itself
    try:
        settings = parse_config(config, secret_keys, stack)
    except SettingsError as exc:
        return [f"{stack_file}: {exc}"]
    found: list[str] = []
    try:
        load_catalog(root / "configs" / "services.yaml")
    except SettingsError as exc:  # CatalogError
        found.append(str(exc))
    return [*found, *platform_problems(settings, stack_file)]


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: preflight.py <stack>", file=sys.stderr)
        return 2
    found = problems(argv[0])
    for problem in found:
        print(problem, file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
