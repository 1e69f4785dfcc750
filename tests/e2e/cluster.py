#!/usr/bin/env python3
"""A real Kubernetes control plane on 127.0.0.1 with simulated nodes, for the real-engine tests.

    venv/bin/python tests/e2e/cluster.py up   [--dir build/e2e]   (`make cluster`)
    venv/bin/python tests/e2e/cluster.py down [--dir build/e2e]   (`make cluster-down`)

etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok, as built by
scripts/e2e-tools.sh into .tools/bin. The API server and the controllers are the real ones, so
what the stack meets here is what a cluster answers: validation, defaulting, admission (Pod
Security), RBAC, storage binding, and the controllers' own objects (ReplicaSets, pods,
EndpointSlices). Only the kubelet is simulated: kwok marks the pods of its nodes Running/Ready,
nothing runs in them.

Loopback only. Every process listens on 127.0.0.1 at ports picked free when the cluster starts
(so two clusters run side by side; recorded in <dir>/cluster.json). Addresses that must be
routable in Kubernetes' eyes come from the documentation ranges of RFC 5737, which no network
routes: pod IPs from 198.51.100.0/24 (EndpointSlices refuse loopback addresses:
k8s.io/kubernetes@v1.34.4 pkg/apis/core/validation/validation.go ValidateEndpointIP), Service IPs
from 203.0.113.0/24, nodes at 192.0.2.x. Nothing connects to them: `make e2e` runs in a network
namespace of its own that has only `lo` (scripts/e2e.sh), and the discovery test reaches pods
through a proxy on 127.0.0.1 only.

The cluster starts the way a fresh managed cluster would meet the stack: Pod Security
`restricted` enforced by default on every namespace without a label of its own, storage classes
`standard` (the default) and `ssd` backed by pre-made volumes, and no application namespace.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
TOOLS_BIN = ROOT / ".tools" / "bin"
KWOK_STAGES = ROOT / ".tools" / "share" / "kwok-stages.yaml"
DEFAULT_DIR = ROOT / "build" / "e2e"
# The stack files' contexts (kubernetes.context) plus a neutral one; all reach this cluster as admin.
CONTEXTS = ("local", "quikapp-staging", "quikapp-prod")
SERVICE_CIDR = "203.0.113.0/24"  # TEST-NET-3
POD_CIDR = "198.51.100.0/24"  # TEST-NET-2
ADVERTISE_ADDRESS = "192.0.2.1"  # TEST-NET-1: the API server binds 127.0.0.1 only; see _apiserver
NODE_IP_BASE = "192.0.2."
STORAGE_CLASSES = {"standard": True, "ssd": False}  # name -> the cluster's default class
VOLUMES_PER_CLASS = 16
VOLUME_SIZE = "500Gi"  # larger than any claim the stacks make (prod's Prometheus: 200Gi)
# Processes in start order; stopped in reverse.
PROCESSES = ("etcd", "apiserver", "controller-manager", "scheduler", "kwok")


class ClusterError(RuntimeError):
    pass


def free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@dataclass
class Ports:
    etcd: int
    etcd_peer: int
    apiserver: int
    controller_manager: int
    scheduler: int
    kwok: int

    @classmethod
    def pick(cls) -> Ports:
        return cls(*free_ports(6))


def _binary(name: str) -> str:
    path = TOOLS_BIN / name
    if not os.access(path, os.X_OK):
        raise ClusterError(f"{path} is missing: scripts/e2e-tools.sh builds it")
    return str(path)


def _run(*args: str, cwd: Path | None = None, input: str | None = None) -> str:
    done = subprocess.run(args, cwd=cwd, input=input, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise ClusterError(f"{' '.join(args[:3])}: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout


class Pki:
    """A cluster CA, the serving certificate, client certificates, the service-account key pair
    and the front-proxy CA, made with openssl."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory

    def path(self, name: str) -> Path:
        return self.dir / name

    def make(self) -> None:
        if (self.dir / "front-proxy-client.crt").exists():
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        self._ca("ca", "quikapp-e2e-ca")
        self._ca("front-proxy-ca", "quikapp-e2e-front-proxy-ca")
        (self.dir / "serving.ext").write_text(
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"
            "keyUsage=digitalSignature,keyEncipherment\n")
        self._signed("apiserver", "/CN=kube-apiserver", "serving.ext")
        for name, subject in (("admin", "/O=system:masters/CN=e2e-admin"),
                              ("controller-manager", "/CN=system:kube-controller-manager"),
                              ("scheduler", "/CN=system:kube-scheduler"),
                              ("kwok", "/O=system:masters/CN=kwok")):
            self.client(name, subject)
        self.client("front-proxy-client", "/CN=front-proxy-client", ca="front-proxy-ca")
        _run("openssl", "genrsa", "-out", str(self.dir / "sa.key"), "2048")
        _run("openssl", "rsa", "-in", str(self.dir / "sa.key"), "-pubout", "-out", str(self.dir / "sa.pub"))

    def client(self, name: str, subject: str, ca: str = "ca") -> tuple[Path, Path]:
        """A client certificate: Kubernetes reads the user from CN and the groups from O."""
        ext = self.dir / "client.ext"
        if not ext.exists():
            ext.write_text("extendedKeyUsage=clientAuth\nkeyUsage=digitalSignature,keyEncipherment\n")
        self._signed(name, subject, "client.ext", ca)
        return self.dir / f"{name}.crt", self.dir / f"{name}.key"

    def _ca(self, name: str, cn: str) -> None:
        _run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30", "-subj", f"/CN={cn}",
             "-keyout", str(self.dir / f"{name}.key"), "-out", str(self.dir / f"{name}.crt"))

    def _signed(self, name: str, subject: str, ext: str, ca: str = "ca") -> None:
        key, csr, crt = (str(self.dir / f"{name}.{s}") for s in ("key", "csr", "crt"))
        _run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", subject, "-keyout", key, "-out", csr)
        _run("openssl", "x509", "-req", "-in", csr, "-CA", str(self.dir / f"{ca}.crt"),
             "-CAkey", str(self.dir / f"{ca}.key"), "-CAcreateserial", "-days", "30",
             "-extfile", str(self.dir / ext), "-out", crt)
        os.unlink(csr)


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


class Cluster:
    def __init__(self, directory: Path = DEFAULT_DIR, nodes: int = 2,
                 pod_security_default: str | None = "restricted") -> None:
        self.dir = directory.resolve()
        self.nodes = nodes
        # The Pod Security level enforced on namespaces without a label of their own (None: none,
        # as on a cluster that never configured it).
        self.pod_security_default = pod_security_default
        self.pki = Pki(self.dir / "pki")
        self.logs = self.dir / "logs"
        self.run_dir = self.dir / "run"
        self.kubeconfig = self.dir / "kubeconfig"
        self._children: dict[str, subprocess.Popen[bytes]] = {}
        self.ports: Ports | None = None
        state = self.dir / "cluster.json"
        if state.exists():
            self.ports = Ports(**json.loads(state.read_text())["ports"])

    # --- lifecycle ---------------------------------------------------------------------------
    def up(self) -> None:
        if self.running():
            raise ClusterError(f"a cluster already runs from {self.dir} (pids in {self.run_dir}): "
                               "`make cluster-down` first")
        for name in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "kubectl"):
            _binary(name)
        if not KWOK_STAGES.is_file():
            raise ClusterError(f"{KWOK_STAGES} is missing: scripts/e2e-tools.sh writes it")
        for sub in ("data", "pv", "logs", "run"):
            shutil.rmtree(self.dir / sub, ignore_errors=True)
        for sub in (self.logs, self.run_dir):
            sub.mkdir(parents=True, exist_ok=True)
        self.pki.make()
        self.ports = Ports.pick()
        (self.dir / "cluster.json").write_text(json.dumps({"ports": asdict(self.ports)}, indent=2) + "\n")
        try:
            self._start("etcd", self._etcd())
            self._wait(lambda: self._http(f"http://127.0.0.1:{self._p.etcd}/health"), "etcd /health")
            self._start("apiserver", self._apiserver())
            self._wait(lambda: self._https("/readyz"), "kube-apiserver /readyz", timeout=120)
            self._write_kubeconfigs()
            self._start("controller-manager", self._controller_manager())
            self._start("scheduler", self._scheduler())
            self._start("kwok", self._kwok())
            self._seed()
        except BaseException:
            self.down()
            raise

    def down(self) -> None:
        """Stops every process of this cluster by its PID and checks that its ports are free."""
        for name in reversed(PROCESSES):
            pidfile = self.run_dir / f"{name}.pid"
            if not pidfile.exists():
                continue
            pid = int(pidfile.read_text())
            child = self._children.pop(name, None)
            _stop(pid, child)
            pidfile.unlink()
        if self.ports is not None:
            busy = [p for p in asdict(self.ports).values() if not port_is_free(p)]
            if busy:
                raise ClusterError(f"ports still in use after stopping the cluster: {busy}")

    def running(self) -> bool:
        for name in PROCESSES:
            pidfile = self.run_dir / f"{name}.pid"
            if pidfile.exists() and _alive(int(pidfile.read_text())):
                return True
        return False

    def pids(self) -> dict[str, int]:
        return {name: int((self.run_dir / f"{name}.pid").read_text())
                for name in PROCESSES if (self.run_dir / f"{name}.pid").exists()}

    # --- clients -------------------------------------------------------------------------------
    def kubectl(self, *args: str, input: str | None = None, check: bool = True,
                kubeconfig: Path | None = None) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([_binary("kubectl"), "--kubeconfig", str(kubeconfig or self.kubeconfig), *args],
                              input=input, capture_output=True, text=True, timeout=120)
        if check and done.returncode != 0:
            raise ClusterError(f"kubectl {' '.join(args)}: {done.stderr.strip()}")
        return done

    def get(self, *args: str) -> Any:
        return json.loads(self.kubectl("get", *args, "-o", "json").stdout)

    def apply(self, objects: list[dict[str, Any]]) -> None:
        self.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(objects))

    def identity(self, user: str, groups: tuple[str, ...] = ()) -> Path:
        """A kubeconfig for a client certificate of `user` (and `groups`), with the stack files'
        contexts: RBAC then decides what it may do."""
        subject = "".join(f"/O={g}" for g in groups) + f"/CN={user}"
        crt, key = self.pki.client(f"user-{user}", subject)
        path = self.dir / f"kubeconfig-{user}"
        path.write_text(yaml.safe_dump(self._kubeconfig_doc(user, crt, key)))
        path.chmod(0o600)
        return path

    # --- internals -----------------------------------------------------------------------------
    @property
    def _p(self) -> Ports:
        assert self.ports is not None
        return self.ports

    def _start(self, name: str, argv: list[str]) -> None:
        log = (self.logs / f"{name}.log").open("wb")
        child = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                 start_new_session=True, cwd=self.dir)
        log.close()
        self._children[name] = child
        (self.run_dir / f"{name}.pid").write_text(str(child.pid))

    def _wait(self, probe: Any, what: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, child in self._children.items():
                if child.poll() is not None:
                    tail = (self.logs / f"{name}.log").read_text(errors="replace").splitlines()[-15:]
                    raise ClusterError(f"{name} exited with {child.returncode} while waiting for {what}:\n"
                                       + "\n".join(tail))
            if probe():
                return
            time.sleep(0.3)
        raise ClusterError(f"timed out after {timeout:.0f}s waiting for {what} (logs in {self.logs})")

    @staticmethod
    def _http(url: str) -> bool:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def _https(self, path: str) -> bool:
        context = ssl.create_default_context(cafile=str(self.pki.path("ca.crt")))
        context.load_cert_chain(str(self.pki.path("admin.crt")), str(self.pki.path("admin.key")))
        try:
            with urllib.request.urlopen(f"https://127.0.0.1:{self._p.apiserver}{path}", timeout=2,
                                        context=context) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def _etcd(self) -> list[str]:
        p = self._p
        client, peer = f"http://127.0.0.1:{p.etcd}", f"http://127.0.0.1:{p.etcd_peer}"
        return [_binary("etcd"), "--name", "e2e", "--data-dir", str(self.dir / "data" / "etcd"),
                "--listen-client-urls", client, "--advertise-client-urls", client,
                "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                "--initial-cluster", f"e2e={peer}", "--listen-metrics-urls", "",
                "--log-level", "warn", "--unsafe-no-fsync"]

    def _apiserver(self) -> list[str]:
        pki = self.pki.path
        # Pod Security admission enforces `restricted` wherever a namespace does not set a level
        # itself, as a hardened managed cluster does (k8s.io/pod-security-admission@v0.34.4
        # admission/api/v1 PodSecurityDefaults).
        admission: list[str] = []
        if self.pod_security_default:
            level = self.pod_security_default
            path = self.dir / "admission.yaml"
            path.write_text(yaml.safe_dump({
                "apiVersion": "apiserver.config.k8s.io/v1", "kind": "AdmissionConfiguration",
                "plugins": [{"name": "PodSecurity", "configuration": {
                    "apiVersion": "pod-security.admission.config.k8s.io/v1", "kind": "PodSecurityConfiguration",
                    "defaults": {"enforce": level, "enforce-version": "latest", "audit": level,
                                 "audit-version": "latest", "warn": level, "warn-version": "latest"},
                    "exemptions": {"usernames": [], "runtimeClasses": [], "namespaces": ["kube-system"]}}}],
            }))
            admission = [f"--admission-control-config-file={path}"]
        return [
            _binary("kube-apiserver"), f"--etcd-servers=http://127.0.0.1:{self._p.etcd}",
            "--bind-address=127.0.0.1", f"--secure-port={self._p.apiserver}",
            # Never bound or dialled: the API server only records it as the `kubernetes` Service's
            # endpoint, which the reconciler `none` does not write (a loopback address is refused there).
            f"--advertise-address={ADVERTISE_ADDRESS}", "--endpoint-reconciler-type=none",
            f"--tls-cert-file={pki('apiserver.crt')}", f"--tls-private-key-file={pki('apiserver.key')}",
            f"--client-ca-file={pki('ca.crt')}",
            f"--service-account-key-file={pki('sa.pub')}", f"--service-account-signing-key-file={pki('sa.key')}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-cluster-ip-range={SERVICE_CIDR}", "--authorization-mode=Node,RBAC",
            # Without the front-proxy flags the controllers log a missing CA bundle every few seconds.
            f"--requestheader-client-ca-file={pki('front-proxy-ca.crt')}",
            "--requestheader-allowed-names=front-proxy-client",
            "--requestheader-username-headers=X-Remote-User", "--requestheader-group-headers=X-Remote-Group",
            "--requestheader-extra-headers-prefix=X-Remote-Extra-",
            f"--proxy-client-cert-file={pki('front-proxy-client.crt')}",
            f"--proxy-client-key-file={pki('front-proxy-client.key')}",
            *admission,
            "--allow-privileged=true", "--profiling=false", f"--cert-dir={self.run_dir / 'apiserver-certs'}",
        ]

    def _controller_manager(self) -> list[str]:
        kc, pki = str(self.run_dir / "controller-manager.kubeconfig"), self.pki.path
        return [_binary("kube-controller-manager"), f"--kubeconfig={kc}", f"--authentication-kubeconfig={kc}",
                f"--authorization-kubeconfig={kc}", "--bind-address=127.0.0.1",
                f"--secure-port={self._p.controller_manager}", "--leader-elect=false",
                "--use-service-account-credentials=true", f"--service-account-private-key-file={pki('sa.key')}",
                f"--root-ca-file={pki('ca.crt')}", f"--cluster-signing-cert-file={pki('ca.crt')}",
                f"--cluster-signing-key-file={pki('ca.key')}", f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--profiling=false"]

    def _scheduler(self) -> list[str]:
        kc = str(self.run_dir / "scheduler.kubeconfig")
        return [_binary("kube-scheduler"), f"--kubeconfig={kc}", f"--authentication-kubeconfig={kc}",
                f"--authorization-kubeconfig={kc}", "--bind-address=127.0.0.1",
                f"--secure-port={self._p.scheduler}", "--leader-elect=false", "--profiling=false"]

    def _kwok(self) -> list[str]:
        return [_binary("kwok"), f"--kubeconfig={self.run_dir / 'kwok.kubeconfig'}", f"--config={KWOK_STAGES}",
                "--manage-all-nodes=false", "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
                f"--cidr={POD_CIDR}", f"--node-ip={NODE_IP_BASE}10",
                f"--server-address=127.0.0.1:{self._p.kwok}", "--node-lease-duration-seconds=40"]

    def _kubeconfig_doc(self, user: str, crt: Path, key: Path) -> dict[str, Any]:
        return {
            "apiVersion": "v1", "kind": "Config", "current-context": "local", "preferences": {},
            "clusters": [{"name": "e2e", "cluster": {"server": f"https://127.0.0.1:{self._p.apiserver}",
                                                     "certificate-authority-data": _b64(self.pki.path("ca.crt"))}}],
            "users": [{"name": user, "user": {"client-certificate-data": _b64(crt), "client-key-data": _b64(key)}}],
            "contexts": [{"name": c, "context": {"cluster": "e2e", "user": user}} for c in CONTEXTS],
        }

    def _write_kubeconfigs(self) -> None:
        pki = self.pki.path
        for name in ("controller-manager", "scheduler", "kwok"):
            path = self.run_dir / f"{name}.kubeconfig"
            path.write_text(yaml.safe_dump(self._kubeconfig_doc(name, pki(f"{name}.crt"), pki(f"{name}.key"))))
        self.kubeconfig.write_text(yaml.safe_dump(self._kubeconfig_doc("admin", pki("admin.crt"), pki("admin.key"))))
        self.kubeconfig.chmod(0o600)

    def _seed(self) -> None:
        """Nodes for kwok, storage classes with pre-made volumes; then waits until the nodes are
        Ready and the controllers made the default service account (pods need it)."""
        objects: list[dict[str, Any]] = []
        for i in range(self.nodes):
            name = f"node-{i}"
            objects.append({
                "apiVersion": "v1", "kind": "Node",
                "metadata": {"name": name, "annotations": {"kwok.x-k8s.io/node": "fake",
                                                           "node.alpha.kubernetes.io/ttl": "0"},
                             "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                                        "kubernetes.io/arch": "amd64", "type": "kwok",
                                        "topology.kubernetes.io/zone": f"zone-{i}"}},
                "status": {"allocatable": {"cpu": "32", "memory": "256Gi", "pods": "110"},
                           "capacity": {"cpu": "32", "memory": "256Gi", "pods": "110"},
                           "nodeInfo": {"architecture": "amd64", "operatingSystem": "linux",
                                        "kubeletVersion": "fake"}},
            })
        for storage_class, default in STORAGE_CLASSES.items():
            objects.append({
                "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
                "metadata": {"name": storage_class, "annotations": {
                    "storageclass.kubernetes.io/is-default-class": "true" if default else "false"}},
                # Pre-made volumes, bound by the controller-manager's PV binder as soon as a claim asks.
                "provisioner": "kubernetes.io/no-provisioner", "volumeBindingMode": "Immediate",
                "reclaimPolicy": "Retain",
            })
            for i in range(VOLUMES_PER_CLASS):
                objects.append({
                    "apiVersion": "v1", "kind": "PersistentVolume",
                    "metadata": {"name": f"{storage_class}-{i:02d}", "labels": {"e2e/storage": storage_class}},
                    "spec": {"capacity": {"storage": VOLUME_SIZE}, "accessModes": ["ReadWriteOnce"],
                             "persistentVolumeReclaimPolicy": "Retain", "storageClassName": storage_class,
                             "hostPath": {"path": str(self.dir / "pv" / storage_class / f"{i:02d}")}},
                })
        self.apply(objects)
        self._wait(self._nodes_ready, f"{self.nodes} Ready nodes (kwok)")
        self._wait(lambda: self.kubectl("get", "serviceaccount", "default", "-n", "default",
                                        check=False).returncode == 0,
                   "the default service account (kube-controller-manager)")

    def _nodes_ready(self) -> bool:
        nodes = self.get("nodes")["items"]
        ready = [n for n in nodes if any(c["type"] == "Ready" and c["status"] == "True"
                                         for c in n.get("status", {}).get("conditions", []))]
        return len(ready) == self.nodes


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A child of ours that exited stays a zombie until reaped; /proc says so.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def _stop(pid: int, child: subprocess.Popen[bytes] | None) -> None:
    """SIGTERM to the process group, SIGKILL after 20 s; reaps it when it is our child."""
    for sig, grace in ((signal.SIGTERM, 20.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if child is not None and child.poll() is not None:
                return
            if child is None and not _alive(pid):
                return
            time.sleep(0.1)
    if child is not None:
        child.wait(timeout=5)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=("up", "down", "status"))
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--nodes", type=int, default=2)
    args = parser.parse_args(argv)
    cluster = Cluster(args.dir, nodes=args.nodes)
    try:
        if args.action == "up":
            started = time.monotonic()
            cluster.up()
            print(f"cluster up in {time.monotonic() - started:.0f}s: kubeconfig {cluster.kubeconfig} "
                  f"(contexts {', '.join(CONTEXTS)}), API server https://127.0.0.1:{cluster._p.apiserver}")
        elif args.action == "down":
            cluster.down()
            print(f"cluster in {cluster.dir} stopped")
        else:
            print(json.dumps({"running": cluster.running(), "pids": cluster.pids(),
                              "ports": asdict(cluster.ports) if cluster.ports else None}, indent=2))
    except ClusterError as exc:
        print(f"cluster {args.action}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
