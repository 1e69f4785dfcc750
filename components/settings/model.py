"""The typed model of one stack's configuration (config namespace `quikapp-monitoring`).

Each class maps one config object; field names are snake_case here and camelCase in
`Pulumi.<stack>.yaml`. Defaults are production-sane; docs/CONFIGURATION.md documents
every key and is checked against this model by tests/test_docs.py.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Literal, Never, NoReturn

from pydantic import AfterValidator, Field, model_validator

from .base import (
    CpuQuantity,
    DnsDomain,
    DnsLabel,
    DockerName,
    Duration,
    HostAndPort,
    HttpUrl,
    Image,
    IpAddress,
    LabelName,
    MemoryQuantity,
    Model,
    Number,
    Port,
    Quantity,
    Secret,
)


class TargetKind(StrEnum):
    DOCKER = "docker"
    KUBERNETES = "kubernetes"


def unknown_target(kind: Never) -> NoReturn:
    """The last case of every `match` over TargetKind: mypy refuses the call while some kind has no
    case of its own above it, so a new kind cannot slip into another kind's branch unnoticed
    (docs/ARCHITECTURE.md, "Add a target"). Reached anyway (an unchecked build), it stops the program."""
    raise ValueError(f"target: no case for {str(kind)!r} here; `mypy components` names every match over "
                     "TargetKind that needs one (docs/ARCHITECTURE.md, Add a target)")


class NetworkSettings(Model):
    name: DockerName = "QuikApp-network"
    # True: adopt a network that already exists (the seed's `external: true`); False: create it.
    external: bool = False


class DockerSettings(Model):
    host: Annotated[str, Field(pattern=r"^(unix|tcp|ssh|npipe)://\S+$")] = "unix:///var/run/docker.sock"
    # Host address published ports bind to. Loopback by default: Prometheus, Loki, Jaeger and
    # the exporters have no authentication and must not face the network unless asked.
    publish_address: IpAddress = "127.0.0.1"
    network: NetworkSettings = NetworkSettings()


class KubernetesSettings(Model):
    context: str | None = None
    kubeconfig: str | None = None
    namespace: DnsLabel = "monitoring"
    # False: adopt a namespace that already exists (created by the cluster's owners).
    create_namespace: bool = True
    # NetworkPolicies limiting who reaches each tool's unauthenticated API (enforced where the
    # cluster's network plugin supports them).
    network_policies: bool = True
    app_namespace: DnsLabel = "quikapp"
    # Create appNamespace when the cluster lacks it (adopted unchanged when it exists; never deleted).
    # False: it must exist before `pulumi up` (the preflight checks).
    create_app_namespace: bool = True
    storage_class: DnsLabel | None = None
    # The cluster's DNS domain (the kubelet's --cluster-domain): Services are
    # <name>.<namespace>.svc.<clusterDomain>. Used in the in-cluster URLs the stack publishes.
    cluster_domain: DnsDomain = "cluster.local"

    @model_validator(mode="after")
    def _one_source(self) -> KubernetesSettings:
        if self.context and self.kubeconfig:
            raise ValueError("set either kubernetes.context or kubernetes.kubeconfig, not both")
        return self


class Images(Model):
    """Pinned images. The seed's versions where the seed names one."""

    prometheus: Image = "prom/prometheus:v3.16.0"
    alertmanager: Image = "prom/alertmanager:v0.35.0"
    grafana: Image = "grafana/grafana:13.2.0"
    loki: Image = "grafana/loki:3.7.8"
    promtail: Image = "grafana/promtail:3.6.11"
    jaeger: Image = "jaegertracing/jaeger:2.20.0"
    redis_exporter: Image = "oliver006/redis_exporter:v1.88.0"
    postgres_exporter: Image = "quay.io/prometheuscommunity/postgres-exporter:v0.20.1"
    kafka_exporter: Image = "danielqsj/kafka-exporter:v1.9.0"
    nginx_exporter: Image = "nginx/nginx-prometheus-exporter:1.5.3"
    # The collectors (components/collectors.py); sources in docs/UPSTREAM-FACTS.md.
    node_exporter: Image = "prom/node-exporter:v1.12.1"
    cadvisor: Image = "ghcr.io/google/cadvisor:0.60.6"
    kube_state_metrics: Image = "registry.k8s.io/kube-state-metrics/kube-state-metrics:v2.20.0"
    # Alertmanager's config reloader (it has no file watching of its own), the one the
    # prometheus-community alertmanager chart runs (charts/alertmanager/values.yaml configmapReload);
    # busybox-based, so it also copies Loki's config on Docker (Loki's image has no shell).
    config_reloader: Image = "quay.io/prometheus-operator/prometheus-config-reloader:v0.93.1"


class Resources(Model):
    """Kubernetes requests/limits of one workload."""

    cpu_request: CpuQuantity = "100m"
    memory_request: MemoryQuantity = "128Mi"
    cpu_limit: CpuQuantity = "1"
    memory_limit: MemoryQuantity = "512Mi"


# Headers Prometheus refuses in remote_write.headers (prometheus/prometheus@v3.16.0 config/config.go
# reservedHeaders, validateHeaders: authorization only through basic_auth/authorization).
RESERVED_HEADERS = frozenset({
    "authorization", "host", "content-encoding", "content-length", "content-type", "user-agent", "connection",
    "keep-alive", "proxy-authenticate", "proxy-authorization", "www-authenticate", "accept-encoding",
    "x-prometheus-remote-write-version", "x-prometheus-remote-read-version", "x-amz-date", "x-amz-security-token",
    "x-amz-content-sha256"})


def _header_name(name: str) -> str:
    # Checked on the name alone, so a value (perhaps a pasted credential) is never repeated in the error.
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9-]{0,63}", name):
        raise ValueError("an HTTP header name (letters, digits and '-')")
    if name.lower() in RESERVED_HEADERS:
        raise ValueError("a header Prometheus does not set itself (credentials go in username/password or "
                         "bearerToken)")
    return name


HeaderName = Annotated[str, AfterValidator(_header_name)]


class RemoteWriteQueue(Model):
    """queue_config of one remote_write endpoint. An unset key keeps Prometheus' own default
    (prometheus/prometheus@v3.16.0 config/config.go DefaultQueueConfig: capacity 10000, maxShards 50,
    minShards 1, maxSamplesPerSend 2000, batchSendDeadline 5s, minBackoff 30ms, maxBackoff 5s),
    which is sized for about 1M samples/s: raise maxShards only for a larger stack."""

    capacity: Annotated[Number, Field(ge=1)] | None = None
    max_shards: Annotated[Number, Field(ge=1)] | None = None
    min_shards: Annotated[Number, Field(ge=1)] | None = None
    max_samples_per_send: Annotated[Number, Field(ge=1)] | None = None
    batch_send_deadline: Duration | None = None
    min_backoff: Duration | None = None
    max_backoff: Duration | None = None

    @model_validator(mode="after")
    def _shards(self) -> RemoteWriteQueue:
        if self.min_shards and self.max_shards and self.min_shards > self.max_shards:
            raise ValueError("a minShards no larger than maxShards")
        return self


class RemoteWriteEndpoint(Model):
    """One long-term store Prometheus sends every sample to (Mimir, Thanos Receive, Cortex, VictoriaMetrics,
    a vendor's remote-write URL). Credentials are secrets, delivered to Prometheus as files."""

    url: HttpUrl
    # Shown as `remote_name` on Prometheus' own remote-write metrics; unset: a hash Prometheus derives.
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")] | None = None
    # HTTP basic auth (both or neither) or a bearer token, not both.
    username: Annotated[str, Field(pattern=r"^\S{1,256}$")] | None = None
    password: Secret | None = None
    bearer_token: Secret | None = None
    remote_timeout: Duration | None = None
    # Plain HTTP headers on every request, e.g. X-Scope-OrgID (the tenant of a multi-tenant Mimir, Cortex
    # or Loki-style receiver). Not for credentials: those are secrets (password, bearerToken).
    headers: dict[HeaderName, Annotated[str, Field(pattern=r"^[ -~]{0,256}$")]] = {}
    queue: RemoteWriteQueue = RemoteWriteQueue()

    @model_validator(mode="after")
    def _one_auth(self) -> RemoteWriteEndpoint:
        if self.bearer_token is not None and (self.username is not None or self.password is not None):
            raise ValueError("either username + password (basic auth) or bearerToken, not both")
        if self.password is not None and self.username is None:
            raise ValueError("a username with the password (basic auth needs both)")
        return self


def _unique_names(endpoints: list[RemoteWriteEndpoint]) -> list[RemoteWriteEndpoint]:
    names = [e.name for e in endpoints if e.name is not None]
    if len(names) != len(set(names)):
        # Prometheus refuses the config ("found multiple remote write configs with job name").
        raise ValueError("endpoints with distinct names")
    return endpoints


class HaLabels(Model):
    """The names of the two external labels by which a remote-write store recognises the replicas of
    one Prometheus pair (highAvailability) and keeps one copy of their series. The defaults are the
    labels Cortex, Grafana Mimir and Amazon Managed Service for Prometheus deduplicate on
    (cortexproject/cortex@v1.21.1 pkg/util/validation/limits.go: -distributor.ha-tracker.cluster
    defaults to `cluster`, -distributor.ha-tracker.replica to `__replica__`)."""

    # Same value on both replicas: `prometheus.externalLabels.<this name>` when set, else the stack's name.
    cluster: LabelName = "cluster"
    # Each replica's own pod name; never sent with alerts (Alertmanager must see one alert from both).
    replica: LabelName = "__replica__"

    @model_validator(mode="after")
    def _distinct(self) -> HaLabels:
        if self.cluster == self.replica:
            raise ValueError("two different label names for cluster and replica")
        return self


class PrometheusSettings(Model):
    retention: Duration = "15d"
    scrape_interval: Duration = "15s"
    evaluation_interval: Duration = "15s"
    storage_size: Quantity = "20Gi"
    external_labels: dict[LabelName, str] = {}
    # Long-term storage: every sample is also sent to these endpoints (none by default).
    remote_write: Annotated[list[RemoteWriteEndpoint], AfterValidator(_unique_names)] = []
    # highAvailability: the cluster and replica external labels both replicas carry.
    ha_labels: HaLabels = HaLabels()
    # Above the 2 GiB at which HighMemoryUsage fires: Prometheus must live to report its own use.
    resources: Resources = Resources(memory_request="1Gi", memory_limit="4Gi")


class SlackReceiver(Model):
    channel: Annotated[str, Field(pattern=r"^[#@]?[\w.-]+$")]
    api_url: Secret


class WebhookReceiver(Model):
    url: Secret


class HeartbeatReceiver(Model):
    """A dead man's switch (Healthchecks.io, a PagerDuty/Opsgenie heartbeat URL…) that pages when
    the always-firing Watchdog alert stops arriving: the whole alerting pipeline is then down."""

    url: Secret
    # How often the still-firing Watchdog is re-sent: shorter than the switch's grace period.
    interval: Duration = "5m"


class EmailReceiver(Model):
    to: Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$")]
    sender: Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$", alias="from")]
    smarthost: HostAndPort
    auth_username: str | None = None
    auth_password: Secret | None = None
    require_tls: bool = True


class PagerDutyReceiver(Model):
    """PagerDuty Events API v2 (`pagerduty_configs`): critical alerts page."""

    # The integration ("routing") key of a PagerDuty service's Events API v2 integration.
    routing_key: Secret
    # Events API endpoint; unset: Alertmanager's default https://events.pagerduty.com/v2/enqueue.
    url: HttpUrl | None = None


class OpsgenieReceiver(Model):
    """Opsgenie Alert API (`opsgenie_configs`): critical alerts page."""

    api_key: Secret
    # Unset: Alertmanager's default https://api.opsgenie.com/ (EU accounts: https://api.eu.opsgenie.com/).
    api_url: HttpUrl | None = None


class MsTeamsReceiver(Model):
    """Microsoft Teams through a Workflows (Power Automate) webhook (`msteamsv2_configs`): chat."""

    webhook_url: Secret


class RouteTimings(Model):
    """Grouping and timing of the chat route; `groupBy` unset: the root's `alertmanager.groupBy`."""

    group_by: list[LabelName] | None = None
    group_wait: Duration = "30s"
    group_interval: Duration = "5m"
    repeat_interval: Duration = "4h"


class PagerRouteTimings(RouteTimings):
    """The pager route's: a page goes out and is re-sent sooner than a chat message. Own defaults,
    so setting one key (repeatInterval) keeps the others' pager defaults."""

    group_wait: Duration = "10s"
    repeat_interval: Duration = "1h"


class SeverityRoutes(Model):
    """The pager route (severity critical) and the chat route (critical and warning)."""

    pager: PagerRouteTimings = PagerRouteTimings()
    chat: RouteTimings = RouteTimings()


class TeamReceivers(Model):
    """A team's own receivers (`alertmanager.teams.<team>`): the same integrations as the stack's, for
    the alerts of the services configs/services.yaml gives that team (`team` label, render/alertmanager.py)."""

    # Pager (severity critical).
    pagerduty: PagerDutyReceiver | None = None
    opsgenie: OpsgenieReceiver | None = None
    # Chat (severity critical and warning).
    slack: SlackReceiver | None = None
    msteams: MsTeamsReceiver | None = None
    # Every alert of the team.
    webhook: WebhookReceiver | None = None
    email: EmailReceiver | None = None

    @model_validator(mode="after")
    def _some_integration(self) -> TeamReceivers:
        if not any((self.pagerduty, self.opsgenie, self.slack, self.msteams, self.webhook, self.email)):
            # The team's route takes its alerts away from the stack's receivers: with nothing here
            # they would reach nobody.
            raise ValueError("at least one of pagerduty, opsgenie, slack, msteams, webhook, email")
        return self


# The repository on its git host (GitHub's blob view renders docs/runbooks.md with its heading
# anchors). A fork or mirror sets alertmanager.runbookBaseUrl to its own.
DEFAULT_RUNBOOK_BASE_URL = "https://github.com/quikapp/quikapp-monitoring/blob/main/"


def _runbook_base(value: str) -> str:
    if value and not re.fullmatch(r"https?://[^\s/]+(/\S*)?", value):
        raise ValueError('an http:// or https:// URL, or "" for links relative to the repository')
    return value


RunbookBaseUrl = Annotated[str, AfterValidator(_runbook_base)]


class AlertmanagerSettings(Model):
    storage_size: Quantity = "1Gi"
    # The root route: the default receiver (`quikapp`: e-mail, webhook) and what the routes inherit.
    # One notification per alert name, service and target or Kubernetes object: `instance` keeps one
    # node's (node-exporter, cAdvisor, kubelet) or one pod's alerts apart, `namespace`/`pod`/`container`
    # one pod's or container's where the target is a whole node (the kubelet's cAdvisor) or a
    # cluster-wide exporter (kube-state-metrics). With only alertname and service, every container
    # alert of the cluster (`service="cadvisor"`) went out as one notification. A missing label
    # groups as empty, so service-level alerts (HighErrorRate) still group per service.
    group_by: list[LabelName] = ["alertname", "service", "instance", "namespace", "pod", "container"]
    group_wait: Duration = "30s"
    group_interval: Duration = "5m"
    repeat_interval: Duration = "4h"
    routes: SeverityRoutes = SeverityRoutes()
    # Pager (severity critical).
    pagerduty: PagerDutyReceiver | None = None
    opsgenie: OpsgenieReceiver | None = None
    # Chat (severity critical and warning).
    slack: SlackReceiver | None = None
    msteams: MsTeamsReceiver | None = None
    # Every alert but the Watchdog.
    webhook: WebhookReceiver | None = None
    email: EmailReceiver | None = None
    heartbeat: HeartbeatReceiver | None = None
    # Per team (a `team` of configs/services.yaml): its own receivers, which get the team's alerts
    # instead of the ones above.
    teams: dict[DnsLabel, TeamReceivers] = {}
    # Where this repository's files open in a browser: the rules' repository-relative runbook links
    # (docs/runbooks.md#servicedown) are shipped as <runbookBaseUrl>docs/runbooks.md#servicedown, so
    # they open from Slack, PagerDuty, e-mail, the webhook's JSON and Prometheus' UI alike. "" keeps
    # them relative (a fork without a host); the loader refuses "" in prod.
    runbook_base_url: RunbookBaseUrl = DEFAULT_RUNBOOK_BASE_URL
    resources: Resources = Resources()


class IngressSettings(Model):
    """A Kubernetes Ingress for Grafana, the one UI with its own login (Kubernetes only)."""

    host: Annotated[str, Field(pattern=r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)+[a-z]{2,}$")]
    class_name: DnsLabel | None = None
    tls_secret_name: DnsLabel | None = None


class GrafanaDatabase(Model):
    """An external SQL database for Grafana (users, dashboards saved in the UI, sessions,
    alerting state): what lets more than one Grafana replica share one state (GF_DATABASE_*)."""

    type: Literal["postgres", "mysql"]
    host: HostAndPort
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,63}$")]
    user: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.@-]{1,63}$")]
    # Required with a database: the loader asks for it as a secret.
    password: Secret | None = None
    # Grafana's `ssl_mode`: disable, require or verify-full (postgres); for mysql these map to
    # false, skip-verify and true.
    ssl_mode: Literal["disable", "require", "verify-full"] = "require"


class GrafanaSettings(Model):
    admin_user: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.@-]{1,64}$")] = "admin"
    # Required: the seed's `admin` is exactly what must never ship.
    admin_password: Secret | None = None
    publish_port: Port = 3030
    root_url: HttpUrl | None = None
    ingress: IngressSettings | None = None
    storage_size: Quantity = "5Gi"
    resources: Resources = Resources()
    # More than one only with `database` (the default SQLite file lives on one pod's volume) and
    # only on Kubernetes with highAvailability; checked by the loader.
    replicas: Annotated[Number, Field(ge=1, le=10)] = 1
    database: GrafanaDatabase | None = None


# The first schema period of configs/loki/loki-config.yml: a new stack's v13 period, and the v12 period Loki
# 2.9 wrote on an upgraded stack (loki.v12Until); the v13 and object-store periods of such a stack start
# after it. tests/test_loki_storage.py checks this against the base config.
LOKI_FIRST_PERIOD = "2024-01-01"


def _check_day(value: str) -> str:
    from datetime import date

    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise ValueError("a day as YYYY-MM-DD (UTC), such as 2027-02-01") from None
    if value != day.isoformat() or value <= LOKI_FIRST_PERIOD:
        raise ValueError(f"a day as YYYY-MM-DD after {LOKI_FIRST_PERIOD} (Loki's first schema period)")
    return value


class LokiS3Settings(Model):
    """Chunks and index on an S3-compatible object store (AWS S3, MinIO, Ceph RGW…) from `since` on."""

    # The first day (UTC) written to the bucket: a new schema period. Days before it stay on the volume
    # (readable until retention deletes them). For an existing stack a day after the deploy
    # (docs/UPGRADING.md, "Loki on S3"); never changed once deployed.
    since: Annotated[str, AfterValidator(_check_day)]
    bucket: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")]
    region: Annotated[str, Field(pattern=r"^[a-z0-9-]{1,32}$")] = "us-east-1"
    # host[:port] (https, or http with insecure) or a full http(s):// URL; unset: AWS's endpoint for the region.
    endpoint: Annotated[str, Field(
        pattern=r"^(https?://)?[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:\d{1,5})?/?$")] | None = None
    # Both or neither; neither: the AWS SDK's default credential chain (e.g. the node's instance role).
    access_key_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9/+=._-]{1,128}$")] | None = None
    secret_access_key: Secret | None = None
    # Path-style URLs (endpoint/bucket/key): what MinIO and most non-AWS stores need.
    s3_force_path_style: bool = False
    # Plain http to the endpoint (a MinIO inside the network without TLS).
    insecure: bool = False

    @model_validator(mode="after")
    def _keys(self) -> LokiS3Settings:
        secret = self.secret_access_key
        if secret is not None and self.access_key_id is None:
            raise ValueError("an accessKeyId with the secretAccessKey (both or neither)")
        # Loki substitutes it into its YAML (-config.expand-env): characters YAML or envsubst would
        # read differently would change the key Loki uses (and yaml.v2 reads `null` or `~` as empty).
        # AWS keys (40 characters) and MinIO keys (at least 8) fit this.
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9/+=._~-]{8,128}", secret.get_secret_value()):
            raise ValueError("a secretAccessKey of 8 to 128 letters, digits and / + = . _ ~ -")
        return self


class LokiSettings(Model):
    # Enforced by Loki's compactor (limits_config.retention_period); at least 24h (one index table).
    retention: Duration = "30d"
    storage_size: Quantity = "50Gi"
    ingestion_rate_mb: Annotated[Number, Field(ge=1, le=1024)] = 8
    ingestion_burst_size_mb: Annotated[Number, Field(ge=1, le=2048)] = 16
    resources: Resources = Resources(memory_limit="1Gi")
    # Where chunks and index go: the loki_data volume, or an S3-compatible bucket (`s3`) from loki.s3.since on.
    storage: Literal["filesystem", "s3"] = "filesystem"
    s3: LokiS3Settings | None = None
    # Only for a stack that holds days written with schema v12 (it ran Loki 2.9, or an earlier release of this
    # program): the day (UTC) v13 takes over; v12 stays in force before it. Unset: a new stack, whose one
    # period is v13 from its first day. Never changed once that day has been reached.
    v12_until: Annotated[str, AfterValidator(_check_day)] | None = None

    @model_validator(mode="after")
    def _limits(self) -> LokiSettings:
        import re

        units = {"y": 365 * 86400, "w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1, "ms": 0.001}
        seconds = sum(int(n) * units[u] for n, u in re.findall(r"(\d+)(ms|[ywdhms])", self.retention))
        if seconds < 86400:
            raise ValueError("a retention of at least 24h, Loki's minimum")
        if self.ingestion_burst_size_mb < self.ingestion_rate_mb:
            raise ValueError("an ingestionBurstSizeMb of at least ingestionRateMb")
        if (self.storage == "s3") != (self.s3 is not None):
            raise ValueError("loki.s3 set exactly when loki.storage is s3")
        return self


class PromtailSettings(Model):
    resources: Resources = Resources(memory_limit="256Mi")


class ElasticsearchSettings(Model):
    server_urls: Annotated[list[HttpUrl], Field(min_length=1)] = ["http://elasticsearch:9200"]
    index_prefix: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")] = "jaeger"
    username: str | None = None
    password: Secret | None = None


class JaegerSettings(Model):
    storage: Literal["memory", "badger", "elasticsearch"] = "badger"
    storage_size: Quantity = "10Gi"
    # Only for storage=memory: the in-memory store grows until the process dies without a cap.
    max_traces: Annotated[Number, Field(ge=1000)] = 50000
    badger_ttl: Duration = "72h"
    elasticsearch: ElasticsearchSettings = ElasticsearchSettings()
    resources: Resources = Resources(memory_limit="1Gi")


class RedisExporterSettings(Model):
    enabled: bool = True
    address: HostAndPort = "redis:6379"
    resources: Resources = Resources(cpu_request="50m", memory_request="32Mi", cpu_limit="250m", memory_limit="128Mi")


class PostgresExporterSettings(Model):
    enabled: bool = True
    # postgresql://user:password@host:5432/db?sslmode=... : holds a password, so secret only.
    dsn: Secret | None = None
    resources: Resources = Resources(cpu_request="50m", memory_request="32Mi", cpu_limit="250m", memory_limit="128Mi")


class KafkaExporterSettings(Model):
    enabled: bool = True
    brokers: Annotated[list[HostAndPort], Field(min_length=1)] = ["kafka:9092"]
    # Holds every topic's partition offsets: grows with the cluster.
    resources: Resources = Resources(cpu_request="50m", memory_request="64Mi", cpu_limit="500m",
                                     memory_limit="256Mi")


class NginxExporterSettings(Model):
    enabled: bool = True
    scrape_uri: HttpUrl = "http://nginx:8080/stub_status"
    resources: Resources = Resources(cpu_request="50m", memory_request="32Mi", cpu_limit="250m", memory_limit="128Mi")


class ExportersSettings(Model):
    redis: RedisExporterSettings = RedisExporterSettings()
    postgres: PostgresExporterSettings = PostgresExporterSettings()
    kafka: KafkaExporterSettings = KafkaExporterSettings()
    nginx: NginxExporterSettings = NginxExporterSettings()


class NodeExporterSettings(Model):
    """Host metrics: a DaemonSet on Kubernetes, one container on the Docker host."""

    enabled: bool = True
    resources: Resources = Resources(cpu_request="50m", memory_request="32Mi", cpu_limit="250m", memory_limit="180Mi")


class CadvisorSettings(Model):
    """Container metrics: a cAdvisor container on Docker; on Kubernetes the kubelet's built-in
    cAdvisor (`/metrics/cadvisor`) is scraped instead, and `resources` does not apply."""

    enabled: bool = True
    # Grows with the number of containers on the host.
    resources: Resources = Resources(cpu_request="100m", memory_request="128Mi", cpu_limit="1", memory_limit="512Mi")


class KubeStateMetricsSettings(Model):
    """Cluster object state (Kubernetes only)."""

    enabled: bool = True
    # Grows with the number of objects in the cluster.
    resources: Resources = Resources(cpu_request="50m", memory_request="128Mi", cpu_limit="500m",
                                     memory_limit="512Mi")


class KubeletSettings(Model):
    """The kubelets' own metrics (Kubernetes only), scraped from each node's kubelet port."""

    enabled: bool = True
    # Kubelet serving certificates are self-signed unless the cluster bootstraps them
    # (serverTLSBootstrap): verification then fails. Also used by the `cadvisor` job on Kubernetes.
    insecure_skip_verify: bool = True


class CollectorsSettings(Model):
    node_exporter: NodeExporterSettings = NodeExporterSettings()
    cadvisor: CadvisorSettings = CadvisorSettings()
    kube_state_metrics: KubeStateMetricsSettings = KubeStateMetricsSettings()
    kubelet: KubeletSettings = KubeletSettings()


class Settings(Model):
    target: TargetKind
    protect_data: bool = False
    # Replicated Prometheus (2), Alertmanager (3-member cluster), PodDisruptionBudgets and spread
    # across nodes. Unset: on for Kubernetes stacks, off for Docker (which stays single-instance).
    high_availability: bool | None = None
    # On a highAvailability stack: whether the single-instance layout's volumes (the PVCs the
    # StatefulSets replace) stay declared, retained and protected like before ("keep", until their
    # data is moved: docs/UPGRADING.md) or are let go ("release": Pulumi forgets them, retained).
    # A new stack has none to keep and must not create them (`release`, the default); a stack that
    # ran the single-instance layout sets `keep` in its stack file until its data is moved.
    single_instance_volumes: Literal["keep", "release"] = "release"
    docker: DockerSettings = DockerSettings()
    kubernetes: KubernetesSettings = KubernetesSettings()
    images: Images = Images()
    prometheus: PrometheusSettings = PrometheusSettings()
    alertmanager: AlertmanagerSettings = AlertmanagerSettings()
    grafana: GrafanaSettings = GrafanaSettings()
    loki: LokiSettings = LokiSettings()
    promtail: PromtailSettings = PromtailSettings()
    jaeger: JaegerSettings = JaegerSettings()
    exporters: ExportersSettings = ExportersSettings()
    collectors: CollectorsSettings = CollectorsSettings()

    @property
    def ha(self) -> bool:
        """Whether this stack runs the highly available layout (highAvailability, or its default)."""
        if self.high_availability is not None:
            return self.high_availability
        kind = self.target
        match kind:  # the default: replicated where the target can run replicas (Docker: one container)
            case TargetKind.DOCKER:
                return False
            case TargetKind.KUBERNETES:
                return True
            case _:
                unknown_target(kind)
