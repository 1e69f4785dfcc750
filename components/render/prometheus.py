"""prometheus.yml and the alert rule files, rendered from the service catalog and settings.

Docker: every target is a static `<name>:<port>` on the shared network. Kubernetes: every target
is a pod, found through the EndpointSlices of the catalog's Services (one target per replica, each
with its own `instance`, `pod` and `namespace`), and the kubelets are found as nodes.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from pathlib import Path

from ..catalog import CONFIGS, Catalog, ServiceJob
from ..scopes import SCOPES_FILE, load_scopes
from ..services import (
    ALERTMANAGER,
    KUBE_STATE_METRICS,
    KUBELET,
    MONITORED_TOOLS,
    MONITORING_JOB,
    NODE_EXPORTER,
    PROMETHEUS,
    collector_workloads,
    collectors,
    enabled_exporters,
)
from ..settings import Settings, TargetKind
from ..settings.model import unknown_target
from .yamltext import dump_yaml, load_yaml

CONFIG_DIR = "/etc/prometheus"
RULES_DIR = f"{CONFIG_DIR}/rules"
RULES_SOURCE = CONFIGS / "prometheus" / "rules"
# High availability: each replica's own name (env, from the pod's name) as the replica external label
# (`prometheus.haLabels.replica`, `__replica__` by default). Prometheus 3 expands ${VAR} in external
# label values on every load (prometheus/prometheus@v3.16.0 config/config.go Load: os.Expand over
# GlobalConfig.ExternalLabels).
REPLICA_ENV = "POD_NAME"


# The in-cluster credentials every pod with a mounted service account token has.
SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


def _static(address: str, service: str) -> dict[str, object]:
    # Every target carries a `service` label: the alerts and dashboards aggregate `by (service)`,
    # and nothing in the seed attached one, so those expressions could not split per service.
    return {"targets": [address], "labels": {"service": service}}


def scrapes_kubelets(settings: Settings) -> bool:
    """Whether Prometheus reads the kubelets (Kubernetes: the kubelet and cadvisor jobs)."""
    return any(c.workload is None for c in collectors(settings))


def infrastructure_jobs(settings: Settings) -> frozenset[str]:
    """The scrape jobs of prometheus.yml other than the catalog's (whose names the catalog keeps
    clear of these): what rule files and dashboards scoped to a collector or exporter depend on."""
    return frozenset({PROMETHEUS.job, MONITORING_JOB, *(e.job for e in enabled_exporters(settings)),
                      *(c.job for c in collectors(settings))})


def render_prometheus_config(settings: Settings, catalog: Catalog, app_host: Callable[[str], str], *,
                             stack: str | None = None) -> str:
    """The text of /etc/prometheus/prometheus.yml.

    `app_host` maps a catalog service name to the host Prometheus reaches it under on Docker (the
    bare name on the shared network). Kubernetes discovers the pods behind the Services instead.
    `stack` (the Pulumi stack's name) is the value of the cluster label of a highAvailability
    stack that does not set that label in `prometheus.externalLabels`.
    """
    kind = settings.target
    match kind:
        case TargetKind.DOCKER:
            return _render(settings, catalog, _docker_jobs(settings, catalog, app_host), stack)
        case TargetKind.KUBERNETES:
            return _render(settings, catalog, _kubernetes_jobs(settings, catalog), stack)
        case _:
            unknown_target(kind)


def ha_external_labels(settings: Settings, stack: str | None) -> dict[str, str]:
    """The cluster and replica labels of a highAvailability Prometheus pair (none otherwise).

    A remote-write store that deduplicates HA pairs (Cortex, Mimir, Amazon Managed Service for
    Prometheus) accepts the samples of one replica per cluster value, switches to the other when it
    stops sending, and drops the replica label before storing: one series where the two replicas
    would otherwise store two (cortexproject/cortex@v1.21.1 pkg/distributor/distributor.go Push,
    findHALabels, removeLabel). The cluster value must be the same on both replicas and differ
    between stacks writing to the same tenant: the user's own `externalLabels.<cluster>`, else the
    stack's name (stacks are distinct within the project).
    """
    if not settings.ha:
        return {}
    names = settings.prometheus.ha_labels
    cluster = settings.prometheus.external_labels.get(names.cluster, stack)
    if not cluster:
        raise ValueError(f"a highAvailability prometheus.yml needs the stack's name or "
                         f"prometheus.externalLabels.{names.cluster} for its cluster label")
    return {names.cluster: cluster, names.replica: f"${{{REPLICA_ENV}}}"}


def _render(settings: Settings, catalog: Catalog, jobs: list[dict[str, object]], stack: str | None) -> str:
    prom = settings.prometheus
    global_: dict[str, object] = {
        "scrape_interval": prom.scrape_interval,
        "evaluation_interval": prom.evaluation_interval,
    }
    external_labels = {**prom.external_labels, **ha_external_labels(settings, stack)}
    if external_labels:
        global_["external_labels"] = dict(sorted(external_labels.items()))
    config: dict[str, object] = {
        "global": global_,
        "alerting": _alerting(settings, catalog),
        "rule_files": [f"{RULES_DIR}/*.yml"],
        "scrape_configs": jobs,
    }
    config.update(remote_write_section(settings))
    return dump_yaml(config)


# --- remote_write: long-term storage ---------------------------------------------------------------
#
# Keys as read by prometheus/prometheus@v3.16.0 config/config.go (RemoteWriteConfig, QueueConfig) and
# prometheus/common@v0.72.1 config/http_config.go (BasicAuth, Authorization), the common version
# v3.16.0's go.mod pins. Credentials are never in prometheus.yml: `password_file`
# and `credentials_file` name secret files of the workload (a Docker upload / Kubernetes Secret), which
# Prometheus reads again on every request (common FileSecret.Fetch), so prometheus.yml stays plain and
# `pulumi preview` shows its changes.

SECRETS_DIR = f"{CONFIG_DIR}/secrets"

# Settings key -> queue_config key, in Prometheus' order.
_QUEUE_KEYS = (("capacity", "capacity"), ("max_shards", "max_shards"), ("min_shards", "min_shards"),
               ("max_samples_per_send", "max_samples_per_send"), ("batch_send_deadline", "batch_send_deadline"),
               ("min_backoff", "min_backoff"), ("max_backoff", "max_backoff"))


def remote_write_secret_file(index: int, kind: str) -> str:
    """In-container path of the `kind` (password, bearer-token) of remote-write endpoint `index`."""
    return f"{SECRETS_DIR}/remote-write-{index}-{kind}"


def remote_write_secrets(settings: Settings) -> dict[str, str]:
    """{in-container path: secret value} of every remote-write credential (secret files of the workload)."""
    files: dict[str, str] = {}
    for index, endpoint in enumerate(settings.prometheus.remote_write):
        if endpoint.password is not None:
            files[remote_write_secret_file(index, "password")] = endpoint.password.get_secret_value()
        if endpoint.bearer_token is not None:
            files[remote_write_secret_file(index, "bearer-token")] = endpoint.bearer_token.get_secret_value()
    return files


def remote_write_section(settings: Settings) -> dict[str, object]:
    """{"remote_write": [...]} for the configured endpoints, or nothing (the config stays as before)."""
    entries: list[dict[str, object]] = []
    for index, endpoint in enumerate(settings.prometheus.remote_write):
        entry: dict[str, object] = {"url": endpoint.url}
        if endpoint.name is not None:
            entry["name"] = endpoint.name
        if endpoint.remote_timeout is not None:
            entry["remote_timeout"] = endpoint.remote_timeout
        if endpoint.headers:
            entry["headers"] = dict(sorted(endpoint.headers.items()))
        if endpoint.username is not None:
            entry["basic_auth"] = {"username": endpoint.username,
                                   "password_file": remote_write_secret_file(index, "password")}
        if endpoint.bearer_token is not None:
            entry["authorization"] = {"type": "Bearer",
                                      "credentials_file": remote_write_secret_file(index, "bearer-token")}
        queue = {key: getattr(endpoint.queue, field) for field, key in _QUEUE_KEYS
                 if getattr(endpoint.queue, field) is not None}
        if queue:
            entry["queue_config"] = queue
        entries.append(entry)
    return {"remote_write": entries} if entries else {}


# --- ownership: the catalog's `team` on series and on alerts -------------------------------------------


def _team_rules(owners: dict[str, list[str]]) -> list[dict[str, object]]:
    # One rule per team, keyed on the `service` label; relabel regexes are fully anchored and a
    # service name (a DNS label) holds no regex metacharacter, so `a|b` matches exactly those two.
    return [{"source_labels": ["service"], "regex": "|".join(services), "target_label": "team", "replacement": team}
            for team, services in sorted(owners.items())]


def team_relabeling(job: ServiceJob) -> list[dict[str, object]]:
    """Target relabeling that puts the catalog's `team` on every series of the job's owned services.

    It reads the target's `service` label, which exists by then on both targets (a static label on
    Docker, set from the Service's name earlier in the same relabel_configs on Kubernetes), so the
    rules are the same text everywhere."""
    owners: dict[str, list[str]] = {}
    for service, team in job.owners:
        owners.setdefault(team, []).append(service)
    return _team_rules(owners)


def alert_team_relabeling(catalog: Catalog) -> list[dict[str, object]]:
    """The same `team` on every alert about an owned service, applied as Prometheus sends the alert.

    Series carry `team` from the scrape, but a rule that aggregates (`sum(...) by (service)`, as
    HighErrorRate, HighLatency and the SLO alerts do) drops it; routing must not depend on every
    rule keeping it. Alert relabeling runs on each alert sent (after the external labels,
    prometheus/prometheus@v3.16.0 notifier/alert.go relabelAlerts), so Alertmanager's team routes
    see `team` whenever the alert names an owned `service`."""
    return _team_rules({team: list(services) for team, services in catalog.teams().items()})


def _alerting(settings: Settings, catalog: Catalog) -> dict[str, object]:
    """Where alerts go. One Alertmanager: its name. High availability: every member, each by its
    pod address (discovered from the EndpointSlices of the `alertmanager` Service), never through
    the Service's load balancing: "Do not load balance traffic between Prometheus and its
    Alertmanagers, but instead point Prometheus to a list of all Alertmanagers"
    (prometheus/alertmanager@v0.35.0 README.md, High Availability). The replica label is dropped
    from the alerts (external labels are added first, then alert_relabel_configs run:
    prometheus/prometheus@v3.16.0 notifier/alert.go relabelAlerts), so both replicas send the same
    alert and Alertmanager deduplicates it as one. The cluster label, the same on both, stays.
    The team relabeling (alert_team_relabeling) runs before it."""
    teams = alert_team_relabeling(catalog)
    if not settings.ha:
        single: dict[str, object] = {"alert_relabel_configs": teams} if teams else {}
        single["alertmanagers"] = [{"static_configs": [{"targets": [ALERTMANAGER.address]}]}]
        return single
    return {
        # A label name is [a-zA-Z_][a-zA-Z0-9_]* (LabelName): nothing in it is special in a regex.
        "alert_relabel_configs": [*teams, {"action": "labeldrop", "regex": settings.prometheus.ha_labels.replica}],
        "alertmanagers": [{
            "kubernetes_sd_configs": [{"role": "endpointslice",
                                       "namespaces": {"names": [settings.kubernetes.namespace]}}],
            # One target per member pod: the Service's HTTP port only (not the members' cluster port).
            "relabel_configs": [{"source_labels": ["__meta_kubernetes_service_name",
                                                   "__meta_kubernetes_endpointslice_port"],
                                 "regex": f"{ALERTMANAGER.name};{ALERTMANAGER.port}", "action": "keep"}],
        }],
    }


# Prometheus 3 fails a scrape whose Content-Type is missing or unknown, where 2.x read it as text
# (prometheus/prometheus@v3.16.0 docs/migration.md, "Scrape protocols"). QuikApp's own services are
# not ours to check: their jobs parse such a response as 2.x did rather than lose the target.
APP_FALLBACK_PROTOCOL = "PrometheusText0.0.4"
# Prometheus 3 asks targets for UTF-8 names by default (`escaping=allow-utf-8` in the Accept header),
# and an OpenTelemetry exporter that follows the content negotiation may then send
# `http.server.request.duration` instead of `http_server_request_duration_seconds`. The stack's rules,
# alerts and dashboards read the underscore names, so the app jobs ask for those
# (prometheus/prometheus@v3.16.0 scrape/scrape.go acceptHeader, config/config.go; docs/UPSTREAM-FACTS.md).
APP_NAME_ESCAPING = "underscores"


def _docker_jobs(settings: Settings, catalog: Catalog, app_host: Callable[[str], str]) -> list[dict[str, object]]:
    jobs: list[dict[str, object]] = [
        {"job_name": PROMETHEUS.job, "static_configs": [_static(f"localhost:{PROMETHEUS.port}", PROMETHEUS.name)]},
    ]
    for job in catalog.jobs:
        app_job: dict[str, object] = {
            "job_name": job.name,
            "metrics_path": job.metrics_path,
            "fallback_scrape_protocol": APP_FALLBACK_PROTOCOL,
            "metric_name_escaping_scheme": APP_NAME_ESCAPING,
            "static_configs": [_static(f"{app_host(name)}:{port}", name) for name, port in job.services],
        }
        if job.owners:
            app_job["relabel_configs"] = team_relabeling(job)
        jobs.append(app_job)
    for exporter in enabled_exporters(settings):
        jobs.append({
            "job_name": exporter.job,
            "static_configs": [_static(exporter.address, exporter.job)],
        })
    # After the seed's jobs, in the seed's order.
    jobs.append({
        "job_name": MONITORING_JOB,
        "static_configs": [_static(f"{tool.name}:{tool.scrape_port}", tool.name) for tool in MONITORED_TOOLS],
    })
    for collector in collector_workloads(settings):
        jobs.append({
            "job_name": collector.job,
            "static_configs": [_static(collector.address, collector.job)],
        })
    return jobs


# --- Kubernetes: pods behind Services (role endpointslice) and nodes (role node) ------------------
#
# Meta labels as set by prometheus/prometheus discovery/kubernetes/endpointslice.go and node.go,
# the same at v2.47.0 and v3.16.0: __meta_kubernetes_service_name, __meta_kubernetes_namespace,
# __meta_kubernetes_endpointslice_port (the endpoint's port number, i.e. the pod's port),
# __meta_kubernetes_pod_name, __meta_kubernetes_pod_node_name, __meta_kubernetes_node_name.


def _endpointslice_job(job: str, namespace: str, services: list[tuple[str, int]], *,
                       service_label: str | None = None, metrics_path: str | None = None,
                       pod_labels: bool = True, node_label: bool = False,
                       honor_labels: bool = False, fallback_protocol: str | None = None,
                       name_escaping: str | None = None,
                       more_relabeling: list[dict[str, object]] | None = None) -> dict[str, object]:
    """A job whose targets are the pods behind `services` (Service name, pod port) in `namespace`.

    Every endpoint address and port of a listed Service's EndpointSlices is a candidate (one per pod
    and port, plus the pods' other declared container ports, which carry no endpointslice_port);
    the keep rule leaves exactly the listed Service and port pairs, so one target per pod.
    """
    pairs = "|".join(f"{name};{port}" for name, port in services)
    relabel: list[dict[str, object]] = [
        {"source_labels": ["__meta_kubernetes_service_name", "__meta_kubernetes_endpointslice_port"],
         "regex": f"({pairs})", "action": "keep"},
        # The pod's own address:port, so each replica is its own series (Prometheus' default too,
        # written out because the alerts and dashboards rely on it).
        {"source_labels": ["__address__"], "target_label": "instance"},
        {"source_labels": ["__meta_kubernetes_service_name"], "target_label": "service"}
        if service_label is None else {"target_label": "service", "replacement": service_label},
    ]
    if pod_labels:
        relabel += [
            {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
            {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
        ]
    if node_label:
        relabel.append({"source_labels": ["__meta_kubernetes_pod_node_name"], "target_label": "node"})
    relabel += more_relabeling or []
    out: dict[str, object] = {"job_name": job}
    if honor_labels:
        out["honor_labels"] = True
    if metrics_path is not None:
        out["metrics_path"] = metrics_path
    if fallback_protocol is not None:
        out["fallback_scrape_protocol"] = fallback_protocol
    if name_escaping is not None:
        out["metric_name_escaping_scheme"] = name_escaping
    out["kubernetes_sd_configs"] = [{"role": "endpointslice", "namespaces": {"names": [namespace]}}]
    out["relabel_configs"] = relabel
    return out


def _kubelet_job(job: str, metrics_path: str, insecure_skip_verify: bool) -> dict[str, object]:
    """Each node's kubelet at <InternalIP>:<kubelet port> (role node's address), over HTTPS with
    Prometheus' service account token, which the kubelet authorizes as `get nodes/metrics`."""
    tls: dict[str, object] = {"ca_file": f"{SA_DIR}/ca.crt"}
    if insecure_skip_verify:
        tls["insecure_skip_verify"] = True
    return {
        "job_name": job,
        # The kubelet's series carry their own namespace/pod/container labels (cAdvisor's above all).
        "honor_labels": True,
        "metrics_path": metrics_path,
        "scheme": "https",
        "authorization": {"credentials_file": f"{SA_DIR}/token"},
        "tls_config": tls,
        "kubernetes_sd_configs": [{"role": "node"}],
        "relabel_configs": [
            {"source_labels": ["__meta_kubernetes_node_name"], "target_label": "instance"},
            {"source_labels": ["__meta_kubernetes_node_name"], "target_label": "node"},
            {"target_label": "service", "replacement": job},
        ],
    }


def _kubernetes_jobs(settings: Settings, catalog: Catalog) -> list[dict[str, object]]:
    kube = settings.kubernetes
    stack_ns = kube.namespace
    jobs = [_endpointslice_job(PROMETHEUS.job, stack_ns, [(PROMETHEUS.name, PROMETHEUS.port)])]
    for job in catalog.jobs:
        jobs.append(_endpointslice_job(job.name, kube.app_namespace, list(job.services),
                                       metrics_path=job.metrics_path, fallback_protocol=APP_FALLBACK_PROTOCOL,
                                       name_escaping=APP_NAME_ESCAPING, more_relabeling=team_relabeling(job)))
    for exporter in enabled_exporters(settings):
        # `service` stays the job's name, as on Docker (the exporter alerts are written against it).
        jobs.append(_endpointslice_job(exporter.job, stack_ns, [(exporter.name, exporter.port)],
                                       service_label=exporter.job))
    jobs.append(_endpointslice_job(MONITORING_JOB, stack_ns,
                                   [(tool.name, tool.scrape_port) for tool in MONITORED_TOOLS]))
    kubelet = settings.collectors.kubelet
    for name in (c.job for c in collectors(settings)):
        if name == NODE_EXPORTER.job:
            # Host network: the pod's address is the node's; `node` names it.
            jobs.append(_endpointslice_job(name, stack_ns, [(NODE_EXPORTER.name, NODE_EXPORTER.port)],
                                           node_label=True))
        elif name == KUBE_STATE_METRICS.job:
            # Its series describe other objects with their own namespace/pod labels: those win
            # (honor_labels), and the exporter's own pod is not attached to every series.
            jobs.append(_endpointslice_job(name, stack_ns, [(KUBE_STATE_METRICS.name, KUBE_STATE_METRICS.port)],
                                           pod_labels=False, honor_labels=True))
        elif name == KUBELET:
            jobs.append(_kubelet_job(name, "/metrics", kubelet.insecure_skip_verify))
        else:
            jobs.append(_kubelet_job(name, "/metrics/cadvisor", kubelet.insecure_skip_verify))
    return jobs


def scrape_jobs(prometheus_yml: str) -> frozenset[str]:
    """The job names of a rendered prometheus.yml."""
    return frozenset(job["job_name"] for job in load_yaml(prometheus_yml)["scrape_configs"])


def rule_files(target: TargetKind, jobs: Collection[str], source: Path = RULES_SOURCE, *,
               features: Collection[str] = (), manifest: Path = SCOPES_FILE) -> dict[str, str]:
    """In-container path → text of the rule files a stack ships (kept verbatim, comments too).

    Each file only where its scope in configs/scopes.yaml admits the stack: on its targets, when
    every job its selectors read is scraped and the stack has every feature it requires (`features`,
    see scopes.stack_features): its alerts could never fire otherwise (and `absent()` ones always
    would). A file the manifest does not name is refused.
    """
    shipped = load_scopes(manifest).rules.shipped(source, "*.yml", target, jobs, features)
    return {f"{RULES_DIR}/{path.name}": path.read_text(encoding="utf-8") for path in shipped}


CATALOG_RULES_FILE = f"{RULES_DIR}/catalog.yml"


def render_catalog_rules(catalog: Catalog) -> str:
    """An alert for every catalog service that has no scrape target at all.

    ServiceDown needs an `up` series. On Kubernetes targets are discovered pods: a service scaled
    to zero, or whose pods never became endpoints, has no target, hence no `up`, and nothing
    would fire. `absent()` with the job and service as equality matchers yields exactly those two
    labels for the missing one. (On Docker the targets are static and always present.)
    """
    header = "# Rendered from configs/services.yaml by components/render/prometheus.py: one absence per service.\n"
    if not catalog.jobs:
        # An empty catalog: no service can be missing. The group stays, without rules.
        return header + dump_yaml({"groups": [{"name": "catalog", "rules": []}]})
    presence = " or\n".join(f'absent(up{{job="{job.name}", service="{service}"}})'
                            for job in catalog.jobs for service, _port in job.services)
    group = {"name": "catalog", "rules": [{
        "alert": "ServiceHasNoTargets",
        "expr": presence + "\n",
        "for": "5m",
        "labels": {"severity": "critical"},
        "annotations": {
            "summary": "Service {{ $labels.service }} has no scrape target",
            "description": "Nothing of {{ $labels.service }} (job {{ $labels.job }}) has been discovered for 5 "
                           "minutes: no pod behind its Service, or none exposing the catalog's port.",
            "runbook_url": "docs/runbooks.md#servicehasnotargets",
        },
    }]}
    return header + dump_yaml({"groups": [group]})
