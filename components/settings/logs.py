"""Settings of the logs: Loki (`loki`), its schema periods and object storage, and Promtail (`promtail`)."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from .base import Duration, Model, Number, Quantity, Secret, TypeDoc
from .fields import When
from .secrets import RequiredSecret
from .workloads import Resources

# The first schema period of configs/loki/loki-config.yml: a new stack's v13 period, and the v12 period Loki
# 2.9 wrote on an upgraded stack (loki.v12Until); the v13 and object-store periods of such a stack start
# after it. tests/test_loki_storage.py checks this against the base config.
LOKI_FIRST_PERIOD = "2024-01-01"


def _check_day(value: str) -> str:
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise ValueError("a day as YYYY-MM-DD (UTC), such as 2027-02-01") from None
    if value != day.isoformat() or value <= LOKI_FIRST_PERIOD:
        raise ValueError(f"a day as YYYY-MM-DD after {LOKI_FIRST_PERIOD} (Loki's first schema period)")
    return value


Day = Annotated[str, AfterValidator(_check_day), TypeDoc(
    "day", f"a day as YYYY-MM-DD (UTC) after {LOKI_FIRST_PERIOD} (Loki's first schema period), such as 2027-02-01")]


class LokiS3Settings(Model):
    """Chunks and index on an S3-compatible object store (AWS S3, MinIO, Ceph RGW…) from `since` on."""

    since: Day = Field(description=(
        "The first day (UTC) written to the bucket: a new schema period (`v13`, `object_store: s3`). Days before "
        "it stay on the volume, readable until retention deletes them. For an existing stack a day after the "
        "deploy; never changed once deployed ([UPGRADING.md](UPGRADING.md#loki-on-s3))."), examples=["2027-02-01"])
    bucket: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")] = Field(
        description="`storage_config.aws.bucketnames`.", examples=["quikapp-logs"])
    region: Annotated[str, Field(pattern=r"^[a-z0-9-]{1,32}$")] = Field("us-east-1", description=(
        "`storage_config.aws.region` (MinIO accepts any)."), examples=["eu-west-1"])
    endpoint: Annotated[str, Field(
        pattern=r"^(https?://)?[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:\d{1,5})?/?$")] | None = Field(
        None, description=(
            "`storage_config.aws.endpoint`: `host[:port]` (https, or http with `insecure`) or a full http(s):// "
            "URL. Unset: AWS's endpoint for the region."), examples=["minio:9000"])
    access_key_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9/+=._-]{1,128}$")] | None = Field(None, description=(
        "`storage_config.aws.access_key_id`; needs `secretAccessKey`. Neither: the AWS SDK's default credential "
        "chain (env, the node's instance role); IRSA is not wired (Loki's pod has no annotated service account, and "
        "its token is not mounted)."), examples=["AKIA…"])
    secret_access_key: Annotated[Secret | None, RequiredSecret(When("access_key_id"))] = Field(None, description=(
        "8 to 128 letters, digits and `/ + = . _ ~ -`. It reaches Loki as the env var `LOKI_S3_SECRET_ACCESS_KEY` "
        "(a Kubernetes Secret, Docker secret env); the rendered file holds `${LOKI_S3_SECRET_ACCESS_KEY}` and Loki "
        "runs with `-config.expand-env=true`."))
    s3_force_path_style: bool = Field(False, description=(
        "`storage_config.aws.s3forcepathstyle`: path-style URLs (endpoint/bucket/key), as MinIO and most non-AWS "
        "stores need."), examples=[True])
    insecure: bool = Field(False, description=(
        "`storage_config.aws.insecure`: plain http to the endpoint (a MinIO without TLS inside the network)."),
        examples=[True])

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
    retention: Duration = Field("30d", description=(
        "How long logs are kept: Loki's compactor deletes older chunks (`limits_config.retention_period`). At "
        "least `24h` (one index table)."), examples=["14d"])
    storage_size: Quantity = Field("50Gi", description=(
        "The size of the `loki-data` PVC (Kubernetes only; the Docker volume has no size)."), examples=["200Gi"])
    ingestion_rate_mb: Annotated[Number, Field(ge=1, le=1024)] = Field(8, description=(
        "The ingestion rate limit per tenant, MB/s (`limits_config.ingestion_rate_mb`)."), examples=[16])
    ingestion_burst_size_mb: Annotated[Number, Field(ge=1, le=2048)] = Field(16, description=(
        "The ingestion burst size, MB; at least `ingestionRateMb`."), examples=[32])
    resources: Resources = Field(Resources(memory_limit="1Gi"), description="Loki's requests and limits.")
    storage: Literal["filesystem", "s3"] = Field("filesystem", description=(
        "Where chunks and index go: the `loki_data` volume, or an S3-compatible bucket from `loki.s3.since` on "
        "(needs `loki.s3`)."), examples=["s3"])
    s3: LokiS3Settings | None = Field(None, description=(
        "With `storage: s3`, and only then: chunks and index on an S3-compatible object store (AWS S3, MinIO, Ceph "
        "RGW) from `since` on (**Object storage** below)."))
    v12_until: Day | None = Field(None, description=(
        "Only for a stack whose Loki already wrote days with schema `v12` (it ran Loki 2.9, or an earlier release "
        f"of this program): `v12` stays in force from {LOKI_FIRST_PERIOD} until this day (UTC), `v13` from it, and "
        "structured metadata stays off (Loki 3 refuses it while `v12` is active). Unset: a new stack, with one "
        f"`v13` period from {LOKI_FIRST_PERIOD} and structured metadata on. Never change or remove it once Loki "
        "has run past the day ([UPGRADING.md](UPGRADING.md#loki)); the stack files set `2027-01-01`."),
        examples=["2027-01-01"])

    @model_validator(mode="after")
    def _limits(self) -> LokiSettings:
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
    resources: Resources = Field(Resources(memory_limit="256Mi"), description=(
        "Promtail's requests and limits, per node on Kubernetes."))
