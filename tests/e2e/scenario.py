"""A stack deployed by the real engine on a real control plane, and what the API says about it."""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import tarfile
import time
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from typing import Any

import yaml

from e2e.cluster import Cluster
from e2e.engine import PROJECT, Engine, Result

ROOT = Path(__file__).resolve().parents[2]
# What a program tree needs to run: the program and its data, and the preflight `make up` runs
# before it (scripts/preflight.py reads stack files through scripts/render.py, which imports the
# offline harness, the mockengine package).
PROGRAM_PATHS = ("__main__.py", "Pulumi.yaml", "components", "configs", "scripts/preflight.py",
                 "scripts/render.py", "mockengine")
WORKLOAD_KINDS = ("deployments", "statefulsets", "daemonsets")


def program_tree(dest: Path, commit: str | None = None) -> Path:
    """A copy of the program to deploy: the working tree's, or `commit`'s (git archive), plus the
    stack files. Journeys edit the copy, never the checkout."""
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    if commit is None:
        for rel in PROGRAM_PATHS + tuple(p.name for p in ROOT.glob("Pulumi.*.yaml")):
            src = ROOT / rel
            if src.is_dir():
                shutil.copytree(src, dest / rel, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                (dest / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dest / rel)
    else:
        archive = subprocess.run(["git", "archive", "--format=tar", commit], cwd=ROOT, capture_output=True,
                                 check=True).stdout
        with tarfile.open(fileobj=BytesIO(archive)) as tar:
            tar.extractall(dest, filter="data")
    return dest


def stack_settings(tree: Path, stack: str) -> dict[str, Any]:
    data = yaml.safe_load((tree / f"Pulumi.{stack}.yaml").read_text()) or {}
    prefix = f"{PROJECT}:"
    return {k[len(prefix):]: v for k, v in (data.get("config") or {}).items() if k.startswith(prefix)}


def generated_secrets(stack: str) -> dict[str, str]:
    """The secrets an operator sets once per stack (the stack files' comments), freshly generated;
    prod also pages (a PagerDuty integration), staging posts to a webhook."""
    values = {"grafana.adminPassword": secrets.token_urlsafe(18),
              "exporters.postgres.dsn": f"postgresql://monitor:{secrets.token_hex(12)}@postgres.quikapp.svc:5432/"
                                        "postgres?sslmode=require"}
    if stack == "prod":
        values["alertmanager.pagerduty.routingKey"] = secrets.token_hex(16)
    else:
        values["alertmanager.webhook.url"] = f"https://hooks.example.invalid/{secrets.token_hex(8)}"
    return values


@dataclass
class Snapshot:
    """What the API server holds in a namespace: pod and claim UIDs, workload generations."""
    pods: dict[str, str]  # uid -> name
    generations: dict[str, int]  # kind/name -> metadata.generation
    claims: dict[str, str]  # name -> uid
    ready: bool

    def restarts(self, after: Snapshot) -> dict[str, list[str]]:
        """Pods of this snapshot that are gone in `after` (replaced: a new UID) and workloads whose
        generation moved (their pod template or spec changed)."""
        return {
            "pods": sorted(name for uid, name in self.pods.items() if uid not in after.pods),
            "workloads": sorted(k for k, g in self.generations.items() if after.generations.get(k, g) != g),
        }


@dataclass
class Deployment:
    """One stack of one program tree on one cluster."""
    cluster: Cluster
    tree: Path
    stack: str
    work: Path
    config: dict[str, Any]
    secrets: dict[str, str]
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def namespace(self) -> str:
        return str(self.config.get("kubernetes", {}).get("namespace", "monitoring"))

    @property
    def app_namespace(self) -> str:
        return str(self.config.get("kubernetes", {}).get("appNamespace", "quikapp"))

    def engine(self, tree: Path | None = None, kubeconfig: Path | None = None) -> Engine:
        return Engine(tree=tree or self.tree, stack=self.stack, work=self.work / "workspace",
                      backend=self.work / "state", kubeconfig=kubeconfig or self.cluster.kubeconfig,
                      config=self.config, secrets=self.secrets, log=self.work / "engine.log")

    def run(self, op: str, step: str, tree: Path | None = None, kubeconfig: Path | None = None,
            **options: Any) -> Result:
        result = self.engine(tree, kubeconfig).run(op, **options)
        self.timings[step] = round(result.seconds, 1)
        return result

    def up(self, step: str, tree: Path | None = None) -> Result:
        result = self.run("up", step, tree)
        assert result.ok, f"{step}: pulumi up failed:\n{result.error}\n" + "\n".join(result.errors())
        self.wait_settled(step)
        return result

    def snapshot(self) -> Snapshot:
        pods = self.cluster.get("pods", "-n", self.namespace)["items"]
        workloads = self.cluster.get(",".join(WORKLOAD_KINDS), "-n", self.namespace)["items"]
        claims = self.cluster.get("persistentvolumeclaims", "-n", self.namespace)["items"]
        return Snapshot(
            pods={p["metadata"]["uid"]: p["metadata"]["name"] for p in pods},
            generations={f"{w['kind']}/{w['metadata']['name']}": w["metadata"]["generation"] for w in workloads},
            claims={c["metadata"]["name"]: c["metadata"]["uid"] for c in claims},
            ready=_settled(pods, workloads),
        )

    def wait_settled(self, step: str, timeout: float = 180) -> Snapshot:
        """Until every workload has rolled out (observed generation, updated and ready replicas)
        and every pod is Ready with none terminating."""
        deadline = time.monotonic() + timeout
        while True:
            snap = self.snapshot()
            if snap.ready:
                return snap
            if time.monotonic() > deadline:
                pods = self.cluster.kubectl("get", "pods", "-n", self.namespace, "-o", "wide").stdout
                raise AssertionError(f"{step}: the namespace did not settle in {timeout:.0f}s:\n{pods}")
            time.sleep(1)


def _settled(pods: list[dict[str, Any]], workloads: list[dict[str, Any]]) -> bool:
    for pod in pods:
        if pod["metadata"].get("deletionTimestamp"):
            return False
        conditions = {c["type"]: c["status"] for c in pod.get("status", {}).get("conditions", [])}
        if conditions.get("Ready") != "True":
            return False
    for w in workloads:
        status, spec = w.get("status", {}), w.get("spec", {})
        if status.get("observedGeneration") != w["metadata"]["generation"]:
            return False
        if w["kind"] == "DaemonSet":
            want = status.get("desiredNumberScheduled", 0)
            if not want or status.get("numberReady") != want or status.get("updatedNumberScheduled") != want:
                return False
        else:
            want = spec.get("replicas", 1)
            if status.get("readyReplicas", 0) != want or status.get("updatedReplicas", 0) != want:
                return False
            if w["kind"] == "StatefulSet" and status.get("currentRevision") != status.get("updateRevision"):
                return False
    return True


def changed_kinds(result: Result) -> dict[str, int]:
    """Resource type -> number of steps that change it (update, replace, create, delete)."""
    kinds: dict[str, int] = {}
    for step in result.changed():
        kinds[step["type"]] = kinds.get(step["type"], 0) + 1
    return kinds


def write_summary(path: Path, summary: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
