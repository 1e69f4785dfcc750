"""Settings of Prometheus (`prometheus`): storage, scraping, the highAvailability labels and remote write."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field, model_validator

from .base import Duration, HttpUrl, LabelName, Model, Number, Quantity, Secret, TypeDoc
from .fields import When
from .secrets import RequiredSecret
from .workloads import Resources

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


HeaderName = Annotated[str, AfterValidator(_header_name), TypeDoc(
    "header name", "an HTTP header name (letters, digits and '-', at most 64) that Prometheus does not set itself: "
                   "not Authorization, Host, Content-Type, User-Agent or the other reserved headers")]


class RemoteWriteQueue(Model):
    """queue_config of one remote_write endpoint. An unset key keeps Prometheus' own default
    (prometheus/prometheus@v3.16.0 config/config.go DefaultQueueConfig: capacity 10000, maxShards 50,
    minShards 1, maxSamplesPerSend 2000, batchSendDeadline 5s, minBackoff 30ms, maxBackoff 5s),
    which is sized for about 1M samples/s: raise maxShards only for a larger stack."""

    capacity: Annotated[Number, Field(ge=1)] | None = Field(None, description=(
        "`queue_config.capacity`: samples buffered per shard. Unset: Prometheus' default, 10000."))
    max_shards: Annotated[Number, Field(ge=1)] | None = Field(None, description=(
        "`queue_config.max_shards`: parallel senders. Unset: Prometheus' default, 50."), examples=[100])
    min_shards: Annotated[Number, Field(ge=1)] | None = Field(None, description=(
        "`queue_config.min_shards`, at most `maxShards`. Unset: Prometheus' default, 1."))
    max_samples_per_send: Annotated[Number, Field(ge=1)] | None = Field(None, description=(
        "`queue_config.max_samples_per_send`. Unset: Prometheus' default, 2000."))
    batch_send_deadline: Duration | None = Field(None, description=(
        "`queue_config.batch_send_deadline`. Unset: Prometheus' default, 5s."))
    min_backoff: Duration | None = Field(None, description=(
        "`queue_config.min_backoff`. Unset: Prometheus' default, 30ms."))
    max_backoff: Duration | None = Field(None, description=(
        "`queue_config.max_backoff`. Unset: Prometheus' default, 5s."))

    @model_validator(mode="after")
    def _shards(self) -> RemoteWriteQueue:
        if self.min_shards and self.max_shards and self.min_shards > self.max_shards:
            raise ValueError("a minShards no larger than maxShards")
        return self


class RemoteWriteEndpoint(Model):
    """One long-term store Prometheus sends every sample to (Mimir, Thanos Receive, Cortex, VictoriaMetrics,
    a vendor's remote-write URL). Credentials are secrets, delivered to Prometheus as files."""

    url: HttpUrl = Field(description="`remote_write[].url`: where every sample is sent.",
                         examples=["https://mimir.example/api/v1/push"])
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")] | None = Field(None, description=(
        "`remote_write[].name`, unique among the endpoints: the `remote_name` label of Prometheus' own remote-write "
        "metrics. Unset: a hash Prometheus derives."), examples=["mimir"])
    username: Annotated[str, Field(pattern=r"^\S{1,256}$")] | None = Field(None, description=(
        "HTTP basic auth user; needs `password`. Basic auth or `bearerToken`, not both."), examples=["quikapp"])
    password: Annotated[Secret | None, RequiredSecret(When("username"))] = Field(None, description=(
        "HTTP basic auth password: the secret file `/etc/prometheus/secrets/remote-write-<i>-password`, named by "
        "`basic_auth.password_file`."))
    bearer_token: Secret | None = Field(None, description=(
        "Instead of basic auth: the secret file `/etc/prometheus/secrets/remote-write-<i>-bearer-token`, named by "
        "`authorization.credentials_file` (type `Bearer`)."))
    remote_timeout: Duration | None = Field(None, description=(
        "`remote_timeout`. Unset: Prometheus' default, 30s."), examples=["1m"])
    headers: dict[HeaderName, Annotated[str, Field(pattern=r"^[ -~]{0,256}$")]] = Field({}, description=(
        "`remote_write[].headers`, plain HTTP headers on every request, such as the tenant of a multi-tenant Mimir "
        "or Cortex. Not for credentials: those are secrets (`password`, `bearerToken`)."),
        examples=[{"X-Scope-OrgID": "quikapp"}])
    queue: RemoteWriteQueue = Field(RemoteWriteQueue(), description=(
        "`queue_config`. An unset key is left out of `prometheus.yml`, so Prometheus' own default applies: sized "
        "for about 1M samples/s, so raise `maxShards` only for a larger stack."))

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

    cluster: LabelName = Field("cluster", description=(
        "highAvailability only: the external label both replicas carry with the same value "
        "(`externalLabels.<name>`, else the Pulumi stack's name, such as `prod`), by which a remote-write store "
        "groups a pair."), examples=["prometheus"])
    replica: LabelName = Field("__replica__", description=(
        "highAvailability only: the external label holding each replica's pod name (`prometheus-0`, "
        "`prometheus-1`), other than `cluster`. Dropped from alerts (`alert_relabel_configs`), so Alertmanager "
        "gets one alert from the pair. The defaults are the labels Cortex, Grafana Mimir and Amazon Managed Service "
        "for Prometheus deduplicate on ([OPERATIONS.md](OPERATIONS.md#high-availability))."),
        examples=["prometheus_replica"])

    @model_validator(mode="after")
    def _distinct(self) -> HaLabels:
        if self.cluster == self.replica:
            raise ValueError("two different label names for cluster and replica")
        return self


class PrometheusSettings(Model):
    retention: Duration = Field("15d", description="`--storage.tsdb.retention.time` (the seed's value).",
                                examples=["30d"])
    scrape_interval: Duration = Field("15s", description="`global.scrape_interval` (the seed's value).",
                                      examples=["30s"])
    evaluation_interval: Duration = Field("15s", description="`global.evaluation_interval` (the seed's value).",
                                          examples=["30s"])
    storage_size: Quantity = Field("20Gi", description=(
        "The size of the `prometheus_data` PVC on Kubernetes. On both targets `--storage.tsdb.retention.size` is "
        "85% of it, so the oldest blocks go before the volume fills (a full volume stops ingestion). Sizing: "
        "[CAPACITY.md](CAPACITY.md)."), examples=["200Gi"])
    external_labels: dict[LabelName, str] = Field({}, description=(
        "`global.external_labels`. On a highAvailability stack the label named by `haLabels.cluster` is the pair's "
        "cluster value (unset: the stack's name), and the one named by `haLabels.replica` is refused (each replica "
        "sets its own)."), examples=[{"environment": "prod"}])
    remote_write: Annotated[list[RemoteWriteEndpoint], AfterValidator(_unique_names)] = Field([], description=(
        "Long-term storage: each item becomes one `remote_write` entry, and every sample is also sent there "
        "(**Remote write** below). None by default."))
    ha_labels: HaLabels = Field(HaLabels(), description=(
        "highAvailability: the names of the cluster and replica external labels both replicas carry, by which a "
        "remote-write store keeps one copy of the pair's series."))
    # Above the 2 GiB at which HighMemoryUsage fires: Prometheus must live to report its own use.
    resources: Resources = Field(Resources(memory_request="1Gi", memory_limit="4Gi"), description=(
        "Prometheus' requests and limits. The memory limit is above the 2 GiB at which `HighMemoryUsage` fires, so "
        "Prometheus outlives its own alert."))
