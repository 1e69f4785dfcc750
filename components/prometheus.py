"""Prometheus: metrics store and alert evaluator, scraping the QuikApp service catalog."""

from __future__ import annotations

import pulumi

from .catalog import Catalog
from .quantities import quantity_bytes
from .render.prometheus import (
    CATALOG_RULES_FILE,
    CONFIG_DIR,
    REPLICA_ENV,
    RULES_DIR,
    infrastructure_jobs,
    remote_write_secrets,
    render_catalog_rules,
    render_prometheus_config,
    rule_files,
    scrapes_kubelets,
)
from .render.runbooks import absolute_runbooks
from .render.slo import SLO_RULES_PATH, render_slo_rules
from .scopes import stack_features
from .services import PROMETHEUS
from .settings import Settings
from .targets import Target
from .tool import ToolComponent
from .workload import (
    ClusterAccess,
    ClusterRule,
    DataVolume,
    File,
    Health,
    NamespacedRule,
    Placement,
    Port,
    Replication,
    Resources,
    Workload,
)

# High availability: two identical replicas, each scraping every target and evaluating every rule
# into its own TSDB. They differ only in the replica external label (render/prometheus.py), which
# Alertmanager never sees (dropped from alerts) and Grafana ignores (it queries the Service).
REPLICAS = 2

DATA_DIR = "/prometheus"
AUTO_RELOAD_INTERVAL = "30s"

# kubernetes_sd_configs role endpointslice runs informers (List + Watch, never Get) on
# EndpointSlices, Services and Pods of each listed namespace (prometheus/prometheus@v3.16.0
# discovery/kubernetes/kubernetes.go Run, case RoleEndpointSlice; the same at the seed's v2.47.0, whose
# server-version check reads /version, which every authenticated client may).
DISCOVERY_RULES = (
    (("discovery.k8s.io",), ("endpointslices",)),
    (("",), ("pods", "services")),
)


def discovery_rules(settings: Settings) -> tuple[NamespacedRule, ...]:
    """Read-only discovery in QuikApp's namespace and in the stack's own (exporters, tools)."""
    kube = settings.kubernetes
    namespaces = sorted({kube.app_namespace, kube.namespace})
    return tuple(NamespacedRule(namespace=ns, api_groups=groups, resources=resources, verbs=("list", "watch"))
                 for ns in namespaces for groups, resources in DISCOVERY_RULES)


def kubelet_rules(settings: Settings) -> tuple[ClusterRule, ...]:
    """Role node lists and watches Nodes; the kubelet authorizes GET /metrics and /metrics/cadvisor
    as `get nodes/metrics` (kubernetes/website content/en/docs/reference/access-authn-authz/
    kubelet-authn-authz.md). Not nodes/proxy: that is the kubelet's catch-all subresource."""
    if not scrapes_kubelets(settings):
        return ()
    return (ClusterRule(api_groups=("",), resources=("nodes",), verbs=("list", "watch")),
            ClusterRule(api_groups=("",), resources=("nodes/metrics",), verbs=("get",)))


def retention_size(storage_size: str) -> str:
    """85% of the data volume, in the base-2 units Prometheus' --storage.tsdb.retention.size reads
    ("MB" = MiB: prometheus/prometheus cmd/prometheus/main.go, units.Base2Bytes). The rest leaves
    room for the WAL, the head's chunks on disk and a compaction's temporary block."""
    return f"{quantity_bytes(storage_size) * 85 // 100 // 2**20}MB"


def prometheus_workload(settings: Settings, catalog: Catalog, target: Target) -> Workload:
    prom = settings.prometheus
    # Live: --config.auto-reload re-reads prometheus.yml and every rule file it names.
    # The stack's name is the default value of a highAvailability pair's cluster label.
    prometheus_yml = render_prometheus_config(settings, catalog, target.app_host, stack=pulumi.get_stack())
    files = [File(f"{CONFIG_DIR}/prometheus.yml", prometheus_yml, live=True)]
    # The runbook links as absolute URLs behind alertmanager.runbookBaseUrl (render/runbooks.py).
    runbook_base = settings.alertmanager.runbook_base_url
    files += [File(path, absolute_runbooks(text, runbook_base), live=True)
              for path, text in rule_files(target.kind, infrastructure_jobs(settings),
                                           features=stack_features(settings)).items()]
    files.append(File(CATALOG_RULES_FILE, absolute_runbooks(render_catalog_rules(catalog), runbook_base), live=True))
    # The catalog's service level objectives: only when some service has one.
    slo_rules = render_slo_rules(catalog)
    if slo_rules is not None:
        files.append(File(f"{RULES_DIR}/{SLO_RULES_PATH}", absolute_runbooks(slo_rules, runbook_base), live=True))
    # Remote-write credentials: secret files prometheus.yml points at (password_file, credentials_file).
    # Live too: Prometheus reads them at each request, so a rotated one is used without a restart
    # (they sit in the live /etc/prometheus, from the fixed-name Secret on Kubernetes).
    files += [File(path, value, secret=True, live=True) for path, value in remote_write_secrets(settings).items()]
    http = Port("http", PROMETHEUS.port, publish=PROMETHEUS.port)
    return Workload(
        name=PROMETHEUS.name,
        image=settings.images.prometheus,
        args=(
            f"--config.file={CONFIG_DIR}/prometheus.yml",
            f"--storage.tsdb.path={DATA_DIR}",
            f"--storage.tsdb.retention.time={prom.retention}",
            # A full volume stops ingestion; a size cap below it drops the oldest blocks instead
            # (docs/CAPACITY.md: the default 20Gi holds ~130 services for 15 days).
            f"--storage.tsdb.retention.size={retention_size(prom.storage_size)}",
            # Lets `curl -X POST /-/reload` pick up a config change without losing the WAL replay time.
            "--web.enable-lifecycle",
            # Zero-restart config changes: every interval Prometheus hashes prometheus.yml and the
            # files its rule_files/scrape_config_files globs match, and reloads when the hash
            # changed (a failed reload keeps the old hash, so it is retried).
            # prometheus/prometheus@v3.16.0 cmd/prometheus/main.go (--config.auto-reload,
            # --config.auto-reload-interval) and config/reload.go GenerateChecksum.
            "--config.auto-reload",
            f"--config.auto-reload-interval={AUTO_RELOAD_INTERVAL}",
            *external_url_args(target.operator_url(http)),
            # Keeps exemplars (trace ids next to samples) so Grafana's exemplar -> trace links
            # have something to open; without it Prometheus drops them at scrape time.
            "--enable-feature=exemplar-storage",
        ),
        ports=(http,),
        files=tuple(files),
        volumes=(DataVolume("prometheus_data", DATA_DIR, prom.storage_size),),
        health=Health("/-/ready", PROMETHEUS.port, live_path="/-/healthy",
                      docker_test=("CMD", "wget", "-q", "--spider", f"http://127.0.0.1:{PROMETHEUS.port}/-/ready")),
        resources=Resources(**prom.resources.model_dump()),
        user=65534,  # `nobody`, the image's user
        cluster_access=ClusterAccess(
            # Kubernetes: discovery of every target (pods behind Services, nodes). Docker has no RBAC and
            # ignores these (its prometheus.yml names static targets).
            namespace_rules=discovery_rules(settings),
            cluster_rules=kubelet_rules(settings),
            # The replica's pod name, expanded by Prometheus into the replica external label.
            field_env=((REPLICA_ENV, "metadata.name"),) if settings.ha else (),
        ),
        placement=Placement(replication=Replication(
            REPLICAS, retired_volumes=(DataVolume("prometheus_data", DATA_DIR, prom.storage_size),),
        ) if settings.ha else None),
    )


def external_url_args(url: str | None) -> tuple[str, ...]:
    """`--web.external-url` so links in alerts and the UI open for an operator.

    The route prefix stays `/`: an external URL with a path (a proxy in front) would otherwise
    move every endpoint, health checks and in-network clients included, under that path.
    Alertmanager takes the same two flags.
    """
    return () if url is None else (f"--web.external-url={url}", "--web.route-prefix=/")


class Prometheus(ToolComponent):
    TYPE = "quikapp:monitoring:Prometheus"

    def __init__(self, name: str, settings: Settings, catalog: Catalog, target: Target,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(name, prometheus_workload(settings, catalog, target), target, opts)
