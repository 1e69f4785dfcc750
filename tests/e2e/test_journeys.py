"""The operator's journey on staging and prod, on the real engine and a real control plane.

Per stack, in order, on a fresh cluster (tests/e2e/cluster.py): preflight, `up` from empty,
a second `preview` with refresh, the config journeys, an image bump, RBAC as the API server's
authorizer decides it, discovery by the real Prometheus, a preview as the documented preview
identity, and destroy. Each stack is a new stack (no `singleInstanceVolumes`: nothing to carry)
with generated secrets; prod pages through PagerDuty.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from e2e.cluster import TOOLS_BIN, Cluster
from e2e.conftest import build_dir, stack_summary
from e2e.scenario import (
    ROOT,
    Deployment,
    changed_kinds,
    generated_secrets,
    program_tree,
    stack_settings,
)

STACKS = ("staging", "prod")
CONFIG_KINDS = {"kubernetes:core/v1:ConfigMap", "kubernetes:core/v1:Secret"}


def new_stack_settings(tree: Path, stack: str) -> dict[str, Any]:
    """The stack file as a new stack would have it: without the key that only stacks carrying
    the single-instance layout's volumes set."""
    config = stack_settings(tree, stack)
    config.pop("singleInstanceVolumes", None)
    return config


@pytest.fixture(scope="module", params=STACKS)
def deployment(request: pytest.FixtureRequest, summary: dict[str, Any]) -> Iterator[Deployment]:
    stack = request.param
    work = build_dir(f"journey-{stack}")
    cluster = Cluster(work / "cluster")
    tree = program_tree(work / "program")
    started = time.monotonic()
    cluster.up()
    deployment = Deployment(cluster=cluster, tree=tree, stack=stack, work=work,
                            config=new_stack_settings(tree, stack), secrets=generated_secrets(stack))
    deployment.timings["cluster_up"] = round(time.monotonic() - started, 1)
    try:
        yield deployment
    finally:
        stack_summary(summary, stack)["seconds"].update(deployment.timings)
        cluster.down()


def _preflight(deployment: Deployment,
               config_override: dict[str, Any] | None = None) -> subprocess.CompletedProcess[str]:
    """scripts/preflight.py as `make up` runs it, against this cluster (kubectl from .tools/bin)."""
    tree = deployment.tree
    stack_file = tree / f"Pulumi.{deployment.stack}.yaml"
    original = stack_file.read_text()
    if config_override is not None:
        data = yaml.safe_load(original)
        data["config"].update({f"quikapp-monitoring:{k}": v for k, v in config_override.items()})
        stack_file.write_text(yaml.safe_dump(data))
    try:
        env = {**os.environ, "KUBECONFIG": str(deployment.cluster.kubeconfig),
               "PATH": f"{TOOLS_BIN}:{os.environ['PATH']}"}
        return subprocess.run([sys.executable, str(tree / "scripts" / "preflight.py"), deployment.stack],
                              capture_output=True, text=True, env=env, cwd=tree, timeout=120)
    finally:
        stack_file.write_text(original)


class TestJourney:
    def test_preflight_refuses_a_storage_class_the_cluster_lacks(self, deployment: Deployment) -> None:
        # Without the check, `up` waits for the claims' binding until the provider's await gives up.
        kube = {**deployment.config["kubernetes"], "storageClass": "premium-rwo"}
        done = _preflight(deployment, {"kubernetes": kube})
        assert done.returncode == 1, done.stdout + done.stderr
        lines = [line for line in done.stderr.splitlines() if "premium-rwo" in line]
        assert len(lines) == 1 and "storage class" in lines[0], done.stderr

    def test_preflight_passes_on_the_cluster(self, deployment: Deployment) -> None:
        done = _preflight(deployment)
        assert done.returncode == 0, done.stdout + done.stderr

    def test_up_from_empty_converges(self, deployment: Deployment, summary: dict[str, Any]) -> None:
        cluster = deployment.cluster
        # A fresh cluster: no application namespace yet, Pod Security `restricted` by default.
        assert cluster.kubectl("get", "namespace", deployment.app_namespace, check=False).returncode != 0
        result = deployment.up("first_up")
        created = result.changes.get("create", 0)
        stack_summary(summary, deployment.stack)["created"] = created
        assert created > 60, result.changes
        snap = deployment.snapshot()
        assert snap.ready and snap.pods
        # Every container of every workload runs: DaemonSets on each node, replicas as declared.
        daemonsets = cluster.get("daemonsets", "-n", deployment.namespace)["items"]
        assert daemonsets and all(d["status"]["numberReady"] == cluster.nodes for d in daemonsets)
        # Only the stack's agents (host access) fall short of `restricted`; the API server warns for
        # those alone, since the namespace enforces the level they need and warns at `restricted`.
        warned = sorted({d["urn"].rsplit("::", 1)[-1] for d in result.diagnostics
                         if d["severity"] == "warning" and "PodSecurity" in d["message"]})
        agents = sorted(d["metadata"]["name"] for d in daemonsets)
        assert [w for w in warned if not any(w.startswith(a) for a in agents)] == [], warned

    def test_a_new_stack_creates_no_unmounted_claims(self, deployment: Deployment) -> None:
        claims = deployment.cluster.get("persistentvolumeclaims", "-n", deployment.namespace)["items"]
        pods = deployment.cluster.get("pods", "-n", deployment.namespace)["items"]
        mounted = {v["persistentVolumeClaim"]["claimName"] for p in pods for v in p["spec"].get("volumes", [])
                   if "persistentVolumeClaim" in v}
        assert sorted(c["metadata"]["name"] for c in claims if c["metadata"]["name"] not in mounted) == []
        assert all(c["status"]["phase"] == "Bound" for c in claims)

    def test_second_preview_changes_nothing(self, deployment: Deployment, summary: dict[str, Any]) -> None:
        result = deployment.run("preview", "second_preview", refresh=True)
        assert result.ok, result.error
        changes = result.changed()
        stack_summary(summary, deployment.stack)["second_preview_changes"] = len(changes)
        assert changes == [], [(s["op"], s["urn"], s["diffs"]) for s in changes]


def _edit_rules(tree: Path) -> None:
    rules = tree / "configs" / "prometheus" / "rules" / "alerts.yml"
    rules.write_text(rules.read_text() + (
        "\n  - name: e2e-journey\n    rules:\n      - alert: E2EJourneyNeverFires\n"
        "        expr: vector(0) > 1\n        labels:\n          severity: info\n"
        "        annotations:\n          summary: \"Added by the e2e rule journey\"\n"
        "          runbook_url: docs/runbooks.md#servicedown\n"))


def _edit_dashboard(tree: Path) -> None:
    path = tree / "configs" / "grafana" / "dashboards" / "services-overview.json"
    dashboard = json.loads(path.read_text())
    dashboard["description"] = "Edited by the e2e dashboard journey"
    path.write_text(json.dumps(dashboard, indent=2) + "\n")


def _set(config: dict[str, Any], path: str, value: Any) -> None:
    keys = path.split(".")
    node = config
    for key in keys[:-1]:
        node = node.setdefault(key, {})
    node[keys[-1]] = value


def _journey(deployment: Deployment, name: str) -> None:
    """Applies one config journey to the deployment's program tree or settings."""
    if name == "rule":
        _edit_rules(deployment.tree)
    elif name == "dashboard":
        _edit_dashboard(deployment.tree)
    elif name == "scrape":
        _set(deployment.config, "prometheus.scrapeInterval", "30s")
    elif name == "route":
        _set(deployment.config, "alertmanager.repeatInterval", "3h")  # the root route: every stack has it
    elif name == "loki-limit":
        _set(deployment.config, "loki.ingestionRateMb", 12)
        _set(deployment.config, "loki.ingestionBurstSizeMb", 24)
    elif name == "secret-receiver":
        key = next(k for k in deployment.secrets if k.startswith("alertmanager."))
        deployment.secrets[key] = deployment.secrets[key] + "-rotated"
    else:
        raise ValueError(name)


JOURNEYS = ("rule", "scrape", "route", "dashboard", "loki-limit", "secret-receiver")

# A live file a release adds and later removes: journey -> (path in the program tree, the ConfigMap
# of its directory, its text). Each is added with a scope of every stack (configs/scopes.yaml names
# every rule file and dashboard) and removed with it.
LIVE_FILES = {
    "rule-file": ("configs/prometheus/rules/e2e-journey.yml", "prometheus-live-etc-prometheus-rules",
                  "groups:\n  - name: e2e-journey-file\n    rules:\n      - alert: E2EJourneyFileNeverFires\n"
                  "        expr: vector(0) > 1\n        labels:\n          severity: info\n"
                  "        annotations:\n          summary: \"Added by the e2e rule-file journey\"\n"
                  "          runbook_url: docs/runbooks.md#servicedown\n"),
    "dashboard-file": ("configs/grafana/dashboards/e2e-journey.json", "grafana-live-etc-grafana-dashboards-quikapp",
                       json.dumps({"panels": [], "title": "E2E journey", "uid": "quikapp-e2e-journey"}) + "\n"),
}


class TestConfigJourneys:
    @pytest.mark.parametrize("journey", JOURNEYS)
    def test_config_change_restarts_nothing(self, deployment: Deployment, journey: str,
                                            summary: dict[str, Any]) -> None:
        before = deployment.wait_settled(journey)
        _journey(deployment, journey)
        result = deployment.up(f"journey_{journey}")
        after = deployment.wait_settled(journey)
        restarts = before.restarts(after)
        stack_summary(summary, deployment.stack)["restarts"][journey] = (
            len(restarts["pods"]) + len(restarts["workloads"]))
        kinds = changed_kinds(result)
        assert kinds and set(kinds) <= CONFIG_KINDS, (journey, kinds)
        assert all(s["op"] == "update" for s in result.changed()), result.changed()
        assert restarts == {"pods": [], "workloads": []}, (journey, restarts)

    @pytest.mark.parametrize("live_file", LIVE_FILES)
    def test_a_live_file_added_and_removed_restarts_nothing(self, deployment: Deployment, live_file: str,
                                                            summary: dict[str, Any]) -> None:
        """A new rule file / dashboard file, then the same file removed: each `up` patches the
        directory's ConfigMap (a key added, then dropped) and no pod template changes."""
        rel, config_map, text = LIVE_FILES[live_file]
        path = deployment.tree / rel
        key = path.name
        scopes = deployment.tree / "configs" / "scopes.yaml"
        unscoped = scopes.read_text()
        section = "rules:\n" if "/rules/" in rel else "dashboards:\n"
        before = deployment.wait_settled(live_file)
        for step in ("added", "removed"):
            if step == "added":
                path.write_text(text)
                scopes.write_text(unscoped.replace(
                    section, f"{section}  {key}: {{targets: [docker, kubernetes], jobs: []}}\n", 1))
            else:
                path.unlink()
                scopes.write_text(unscoped)
            result = deployment.up(f"journey_{live_file}_{step}")
            after = deployment.wait_settled(f"{live_file} {step}")
            restarts = before.restarts(after)
            stack_summary(summary, deployment.stack)["restarts"][f"{live_file}-{step}"] = (
                len(restarts["pods"]) + len(restarts["workloads"]))
            assert [(s["op"], s["type"], s["urn"].rsplit("::", 1)[-1]) for s in result.changed()] == [
                ("update", "kubernetes:core/v1:ConfigMap", config_map)], (live_file, step, result.changed())
            assert restarts == {"pods": [], "workloads": []}, (live_file, step, restarts)
            data = deployment.cluster.get("configmap", config_map, "-n", deployment.namespace)["data"]
            assert (key in data) == (step == "added"), (live_file, step, sorted(data))

    def test_image_bump_rolls_that_workload_only(self, deployment: Deployment, summary: dict[str, Any]) -> None:
        before = deployment.wait_settled("image")
        image = "jaegertracing/jaeger:2.20.1"
        _set(deployment.config, "images.jaeger", image)
        result = deployment.up("image_bump")
        after = deployment.wait_settled("image")
        restarts = before.restarts(after)
        stack_summary(summary, deployment.stack)["restarts"]["image-bump"] = (
            len(restarts["pods"]) + len(restarts["workloads"]))
        assert [(s["op"], s["type"]) for s in result.changed()] == [("update", "kubernetes:apps/v1:Deployment")]
        assert restarts["workloads"] == ["Deployment/jaeger"]
        assert restarts["pods"] and all(p.startswith("jaeger-") for p in restarts["pods"])
        jaeger = deployment.cluster.get("deployment", "jaeger", "-n", deployment.namespace)
        assert jaeger["spec"]["template"]["spec"]["containers"][0]["image"] == image


# --- RBAC, as the API server's authorizer decides it ------------------------------------------------

def _can(deployment: Deployment, account: str, verb: str, resource: str, namespace: str | None) -> bool:
    resource, _, subresource = resource.partition("/")
    args = ["auth", "can-i", verb, resource, f"--as=system:serviceaccount:{deployment.namespace}:{account}"]
    args += [f"--subresource={subresource}"] if subresource else []
    args += ["-n", namespace] if namespace else ["--all-namespaces"]
    done = deployment.cluster.kubectl(*args, check=False)
    assert done.stdout.strip() in ("yes", "no"), done.stderr
    return done.stdout.strip() == "yes"


class TestRbac:
    def test_prometheus_discovers_and_reads_nothing_else(self, deployment: Deployment) -> None:
        ns, app = deployment.namespace, deployment.app_namespace
        for namespace in (ns, app):
            for resource in ("endpointslices.discovery.k8s.io", "services", "pods"):
                for verb in ("list", "watch"):
                    assert _can(deployment, "prometheus", verb, resource, namespace), (verb, resource, namespace)
        assert _can(deployment, "prometheus", "list", "nodes", None)
        assert _can(deployment, "prometheus", "get", "nodes/metrics", None)
        for namespace in (ns, app, "kube-system"):
            assert not _can(deployment, "prometheus", "get", "secrets", namespace)
            assert not _can(deployment, "prometheus", "list", "secrets", namespace)
            assert not _can(deployment, "prometheus", "create", "pods", namespace)
        assert not _can(deployment, "prometheus", "list", "pods", "kube-system")

    def test_promtail_lists_pods_and_reads_no_secret(self, deployment: Deployment) -> None:
        assert _can(deployment, "promtail", "list", "pods", None)
        assert _can(deployment, "promtail", "watch", "pods", None)
        for namespace in (deployment.namespace, deployment.app_namespace, "kube-system"):
            assert not _can(deployment, "promtail", "get", "secrets", namespace)
            assert not _can(deployment, "promtail", "list", "secrets", namespace)
        assert not _can(deployment, "promtail", "delete", "pods", deployment.app_namespace)

    def test_kube_state_metrics_lists_objects_and_reads_no_secret(self, deployment: Deployment) -> None:
        for resource in ("pods", "deployments.apps", "nodes", "persistentvolumeclaims"):
            assert _can(deployment, "kube-state-metrics", "list", resource, None), resource
        for resource in ("secrets", "configmaps"):
            assert not _can(deployment, "kube-state-metrics", "list", resource, None), resource
            assert not _can(deployment, "kube-state-metrics", "get", resource, deployment.namespace), resource

    def test_workloads_without_api_access_get_no_token(self, deployment: Deployment) -> None:
        pods = deployment.cluster.get("pods", "-n", deployment.namespace)["items"]
        with_token = sorted({p["spec"].get("serviceAccountName", "default") for p in pods
                             if p["spec"].get("automountServiceAccountToken", True)})
        assert with_token == ["kube-state-metrics", "prometheus", "promtail"]


# --- a preview as the identity docs/OPERATIONS.md documents ------------------------------------------

PREVIEW_USER = "quikapp-monitoring-preview"


def documented_preview_rbac() -> list[dict[str, Any]]:
    """The RBAC of docs/OPERATIONS.md "Credentials a preview needs", exactly as written there."""
    text = (ROOT / "docs" / "OPERATIONS.md").read_text()
    for block in re.findall(r"```yaml\n(.*?)```", text, flags=re.S):
        objects = [o for o in yaml.safe_load_all(block) if o]
        if any(o.get("kind") == "ClusterRoleBinding" and
               any(s.get("name") == PREVIEW_USER for s in o.get("subjects", [])) for o in objects):
            return objects
    raise AssertionError(f"docs/OPERATIONS.md documents no RBAC for {PREVIEW_USER}")


class TestPreviewIdentity:
    def test_preview_as_the_documented_identity_dry_runs_everything(self, deployment: Deployment) -> None:
        cluster = deployment.cluster
        cluster.apply(documented_preview_rbac())
        identity = cluster.identity(PREVIEW_USER)
        # A change to preview, so that objects are dry-run and not only read.
        before = deployment.config["prometheus"]["evaluationInterval"]
        _set(deployment.config, "prometheus.evaluationInterval", "20s")
        # CI's preview job has its own credentials at the usual place: the same kubeconfig path as a
        # deploy (the provider's `kubeconfig` input, a path, is unchanged), another identity in it.
        admin = cluster.kubeconfig.read_bytes()
        cluster.kubeconfig.write_bytes(identity.read_bytes())
        try:
            result = deployment.run("preview", "preview_as_ci", refresh=True)
        finally:
            cluster.kubeconfig.write_bytes(admin)
            deployment.config["prometheus"]["evaluationInterval"] = before
        assert result.ok, result.error
        # The provider does not fail on a 403 during preview: it falls back to the program's inputs
        # and says so (pulumi-kubernetes provider.go "unable to compute Server-side dry-run").
        refused = [d["message"] for d in result.diagnostics
                   if re.search(r"(?i)forbidden|server-side dry-run|dry-run", d["message"])]
        assert refused == []
        assert {s["type"] for s in result.changed()} <= CONFIG_KINDS, result.changed()
        assert result.changed(), "the preview saw no change to dry-run"


# --- discovery by the real Prometheus ----------------------------------------------------------------

# Sample QuikApp services: three from the catalog (configs/services.yaml) with their metrics ports,
# and one the catalog does not list. name -> (port, replicas)
SAMPLE_APPS = {"backend": (3000, 3), "auth-service": (8001, 2), "presence": (4001, 1), "not-in-catalog": (9000, 1)}
CATALOG_APPS = ("backend", "auth-service", "presence")


def _sample_app(name: str, namespace: str, port: int, replicas: int) -> list[dict[str, Any]]:
    labels = {"app.kubernetes.io/name": name}
    container = {
        # Never pulled: the simulated kubelet runs nothing.
        "name": name, "image": f"registry.example.invalid/quikapp/{name}:e2e",
        "ports": [{"name": "metrics", "containerPort": port}],
        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
    }
    return [
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": namespace},
         "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                  "template": {"metadata": {"labels": labels}, "spec": {
                      "securityContext": {"runAsNonRoot": True, "runAsUser": 65534,
                                          "seccompProfile": {"type": "RuntimeDefault"}},
                      "containers": [container]}}}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": namespace},
         "spec": {"selector": labels, "ports": [{"name": "metrics", "port": port, "targetPort": port}]}},
    ]


def _ready_endpoints(deployment: Deployment, service: str) -> list[str]:
    slices = deployment.cluster.get("endpointslices", "-n", deployment.app_namespace,
                                    "-l", f"kubernetes.io/service-name={service}")["items"]
    return sorted(address for s in slices for e in s.get("endpoints") or []
                  if e.get("conditions", {}).get("ready") for address in e["addresses"])


class _Proxy(http.server.BaseHTTPRequestHandler):
    """Stands in for the pods: Prometheus sends each scrape here (proxy_url), absolute-form."""
    seen: list[str] = []

    def do_GET(self) -> None:
        type(self).seen.append(self.path)
        body = b"# TYPE quikapp_e2e_up gauge\nquikapp_e2e_up 1\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class TestDiscovery:
    def test_real_prometheus_finds_exactly_the_catalog_pods(self, deployment: Deployment, tmp_path: Path) -> None:
        cluster, app_ns = deployment.cluster, deployment.app_namespace
        cluster.apply([o for name, (port, n) in SAMPLE_APPS.items() for o in _sample_app(name, app_ns, port, n)])
        deadline = time.monotonic() + 90
        while any(len(_ready_endpoints(deployment, n)) != r for n, (_, r) in SAMPLE_APPS.items()):
            assert time.monotonic() < deadline, {n: _ready_endpoints(deployment, n) for n in SAMPLE_APPS}
            time.sleep(1)
        expected = {(name, f"{ip}:{SAMPLE_APPS[name][0]}") for name in CATALOG_APPS
                    for ip in _ready_endpoints(deployment, name)}

        # The scrape config the stack deployed, read back from the cluster; Prometheus discovers
        # with the token of its own service account, so its RBAC is what lets it see anything.
        data = cluster.get("configmap", "prometheus-live-etc-prometheus", "-n", deployment.namespace)["data"]
        live = data["prometheus.yml"]
        token = cluster.kubectl("create", "token", "prometheus", "-n", deployment.namespace).stdout.strip()
        server = yaml.safe_load(cluster.kubeconfig.read_text())["clusters"][0]["cluster"]
        sd_kubeconfig = tmp_path / "prometheus-sa.kubeconfig"
        sd_kubeconfig.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "sa",
            "clusters": [{"name": "e2e", "cluster": server}],
            "users": [{"name": "prometheus", "user": {"token": token}}],
            "contexts": [{"name": "sa", "context": {"cluster": "e2e", "user": "prometheus"}}]}))
        proxy = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Proxy)
        _Proxy.seen = []
        threading.Thread(target=proxy.serve_forever, daemon=True).start()
        config = yaml.safe_load(live)
        jobs = []
        for job in config["scrape_configs"]:
            sds = job.get("kubernetes_sd_configs") or []
            if not sds or any(sd["role"] != "endpointslice" for sd in sds):
                continue  # the kubelet jobs (role node) reach nodes, which are simulated
            for sd in sds:
                sd["kubeconfig_file"] = str(sd_kubeconfig)
            job["proxy_url"] = f"http://127.0.0.1:{proxy.server_address[1]}"
            jobs.append(job)
        config = {"global": {**config.get("global", {}), "scrape_interval": "2s", "scrape_timeout": "1s"},
                  "scrape_configs": jobs}
        (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
        port = _free_port()
        prometheus = subprocess.Popen(
            [str(ROOT / ".tools" / "bin" / "prometheus"), f"--config.file={tmp_path / 'prometheus.yml'}",
             f"--storage.tsdb.path={tmp_path / 'data'}", f"--web.listen-address=127.0.0.1:{port}"],
            stdout=subprocess.DEVNULL, stderr=(tmp_path / "prometheus.log").open("wb"))
        try:
            found: set[tuple[str, str]] = set()
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/targets?state=active",
                                                timeout=2) as response:
                        targets = json.load(response)["data"]["activeTargets"]
                except OSError:
                    targets = []
                app = [t for t in targets if t["labels"].get("namespace") == app_ns]
                found = {(t["labels"]["service"], t["labels"]["instance"]) for t in app if t["health"] == "up"}
                if found == expected:
                    break
                time.sleep(1)
            assert found == expected
            pods = {t["labels"]["pod"] for t in app}
            assert len(pods) == sum(SAMPLE_APPS[n][1] for n in CATALOG_APPS)
            assert all(t["labels"]["job"] in {"nestjs-services", "spring-services", "elixir-services"} for t in app)
            # Scraped at the pods' own addresses and the catalog's paths, and nothing outside it.
            scraped = {u.split("/")[2] for u in _Proxy.seen if app_ns and u.startswith("http://")}
            assert {addr for _, addr in expected} <= scraped
            assert not any(f":{SAMPLE_APPS['not-in-catalog'][0]}" in u for u in _Proxy.seen)
        finally:
            prometheus.terminate()
            prometheus.wait(timeout=30)
            proxy.shutdown()
            proxy.server_close()


# --- destroy -----------------------------------------------------------------------------------------

class TestDestroy:
    def test_destroy_keeps_the_data(self, deployment: Deployment) -> None:
        cluster, ns = deployment.cluster, deployment.namespace
        claims = {c["metadata"]["name"]: c["metadata"]["uid"]
                  for c in cluster.get("persistentvolumeclaims", "-n", ns)["items"]}
        assert claims
        if deployment.config.get("protectData"):
            refused = deployment.run("destroy", "destroy_protected")
            assert not refused.ok
            assert "protected" in refused.error
            assert cluster.kubectl("get", "namespace", ns, check=False).returncode == 0
            unprotect = deployment.run("unprotect", "unprotect")
            assert unprotect.ok, unprotect.error
        result = deployment.run("destroy", "destroy")
        assert result.ok, result.error
        left = {c["metadata"]["name"]: c["metadata"]["uid"]
                for c in cluster.get("persistentvolumeclaims", "-n", ns)["items"]}
        if deployment.config.get("protectData"):
            # Retained on delete: the namespace and every claim, the same objects as before.
            assert left == claims
            assert cluster.kubectl("get", "namespace", ns, check=False).returncode == 0
        else:
            # Nothing protected: the namespace goes, and its claims with it.
            namespace = cluster.kubectl("get", "namespace", ns, "-o", "json", check=False)
            assert namespace.returncode != 0 or json.loads(namespace.stdout)["status"]["phase"] == "Terminating"
