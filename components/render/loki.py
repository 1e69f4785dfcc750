"""Loki's two files: loki-config.yml (the base config in configs/loki/, read at start) and the
runtime config with the stack's retention and ingestion limits (re-read while Loki runs).

Loki re-reads `runtime_config.file` every `runtime_config.period` and applies its per-tenant
`overrides` (grafana/loki@v3.7.6 pkg/loki/runtime_config.go runtimeConfigValues;
vendor/github.com/grafana/dskit/runtimeconfig/manager.go: -runtime-config.file,
-runtime-config.reload-period, reloads when the file's sha256 changed). A tenant's override starts
from limits_config and replaces only what it names (pkg/validation/limits.go Limits.UnmarshalYAML).
With auth_enabled: false every request belongs to the tenant "fake" (pkg/loki/modules.go
user.InjectOrgID(..., "fake")), so the stack's limits are that tenant's overrides and change
without a restart; limits_config keeps the base file's (the seed's) values as the defaults.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from ..catalog import CONFIGS
from ..services import LOKI
from ..settings import Settings
from ..settings.model import LokiS3Settings
from .yamltext import dump_yaml, load_yaml

CONFIG_DIR = "/etc/loki"
CONFIG_FILE = f"{CONFIG_DIR}/loki-config.yml"
# In a directory of its own: it is delivered as a live directory, loki-config.yml is not.
RUNTIME_CONFIG_DIR = f"{CONFIG_DIR}/runtime-config"
RUNTIME_CONFIG_FILE = f"{RUNTIME_CONFIG_DIR}/runtime-config.yml"
RUNTIME_CONFIG_PERIOD = "10s"  # dskit's default, stated so docs/OPERATIONS.md can quote it
SINGLE_TENANT = "fake"
DATA_DIR = "/loki"  # the loki_data volume
PUSH_PATH = "/loki/api/v1/push"
BASE_CONFIG = CONFIGS / "loki" / "loki-config.yml"


def loki_config(settings: Settings, base: Path = BASE_CONFIG) -> dict[str, Any]:
    """The config as data: the base file with the per-stack values set."""
    config: dict[str, Any] = load_yaml(base.read_text(encoding="utf-8"))
    config["server"]["http_listen_port"] = LOKI.port
    # The stack's limits live in the runtime config (tenant_limits), re-read without a restart.
    config["runtime_config"] = {"file": RUNTIME_CONFIG_FILE, "period": RUNTIME_CONFIG_PERIOD}
    # Retention only happens when the compactor applies it: never render one without the other.
    config.setdefault("compactor", {})["retention_enabled"] = True
    if settings.loki.v12_until is not None:
        _keep_v12(config, settings.loki.v12_until)
    if settings.loki.s3 is not None:
        _object_storage(config, settings.loki.s3)
    return config


# --- a stack that ran Loki 2.9: v12 until its day -----------------------------------------------------------
#
# The base file's period is a new stack's: v13 from LOKI_FIRST_PERIOD. A stack that holds what Loki 2.9 wrote
# (schema v12 from that same day) must go on reading those days as v12: the same entry with schema v12 stays
# first, and v13 starts on `loki.v12Until` (a day after the upgrade reached every such stack). Until that day
# the active period is v12, under which Loki 3 refuses structured metadata (pkg/loki/validation.go
# validateSchemaRequirements checks the period active at start), so it stays off for such a stack.


def _keep_v12(config: dict[str, Any], until: str) -> None:
    (v13,) = config["schema_config"]["configs"]
    config["schema_config"]["configs"] = [{**v13, "schema": "v12"}, {**v13, "from": date.fromisoformat(until)}]
    config["limits_config"]["allow_structured_metadata"] = False


# --- S3-compatible object storage -------------------------------------------------------------------
#
# Keys as read by grafana/loki@v3.7.6: pkg/storage/factory.go Config (`aws`), pkg/storage/chunk/client/
# aws/dynamodb_storage_client.go StorageConfig (S3Config inline), aws/s3_storage_client.go S3Config
# (`s3forcepathstyle` has no yaml tag: yaml.v2 lowercases the field name), pkg/compactor/config.go.
# tests/test_loki_storage.py checks every key against those structs.

# The secret access key reaches Loki as this env var (a Kubernetes Secret / Docker secret env) and
# `-config.expand-env=true` substitutes it (grafana/loki@v3.7.6 pkg/util/cfg/files.go: drone/envsubst
# over the whole file before parsing), so the rendered file holds only the reference.
SECRET_KEY_ENV = "LOKI_S3_SECRET_ACCESS_KEY"
OBJECT_STORE = "s3"  # types.StorageTypeS3 (pkg/storage/types/types.go); "aws" names the same client


def _object_storage(config: dict[str, Any], s3: LokiS3Settings) -> None:
    """A new schema period on s3 from `s3.since`, the bucket, and the compactor's delete requests there.

    Periods that start before `since` stay as deployed, so the days already written stay readable
    from the volume until retention deletes them (the compactor applies retention to every period,
    each through its own object store: pkg/loki/modules.go initCompactor). A base period starting on
    or after `since` was never in force (its day lies after the switch) and gives way to the s3 one.
    """
    since = date.fromisoformat(s3.since)
    periods = config["schema_config"]["configs"]
    kept = [p for p in periods if _day(p["from"]) < since]
    latest = kept[-1]
    kept.append({"from": since, "store": latest["store"], "object_store": OBJECT_STORE, "schema": "v13",
                 "index": dict(latest["index"])})
    config["schema_config"]["configs"] = kept
    aws: dict[str, Any] = {"bucketnames": s3.bucket, "region": s3.region}
    if s3.endpoint is not None:
        aws["endpoint"] = s3.endpoint
    if s3.access_key_id is not None:
        aws["access_key_id"] = s3.access_key_id
        aws["secret_access_key"] = f"${{{SECRET_KEY_ENV}}}"
    aws["s3forcepathstyle"] = s3.s3_force_path_style
    aws["insecure"] = s3.insecure
    config["storage_config"]["aws"] = aws
    # The delete-requests DB goes to the bucket with the chunks (Loki requires a store whenever
    # retention is on: pkg/compactor/config.go Validate; any configured store: modules.go).
    config["compactor"]["delete_request_store"] = OBJECT_STORE


def _day(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def expands_env(settings: Settings) -> bool:
    """Whether Loki must substitute env vars into its config (an S3 secret key is set)."""
    s3 = settings.loki.s3
    return s3 is not None and s3.secret_access_key is not None


def render_loki_config(settings: Settings) -> str:
    """The text of /etc/loki/loki-config.yml."""
    return dump_yaml(loki_config(settings))


def tenant_limits(settings: Settings) -> dict[str, Any]:
    """The single tenant's overrides: the stack's retention and ingestion limits."""
    loki = settings.loki
    return {"retention_period": loki.retention, "ingestion_rate_mb": loki.ingestion_rate_mb,
            "ingestion_burst_size_mb": loki.ingestion_burst_size_mb}


def render_loki_runtime_config(settings: Settings) -> str:
    """The text of the runtime config file (RUNTIME_CONFIG_FILE)."""
    return dump_yaml({"overrides": {SINGLE_TENANT: tenant_limits(settings)}})
