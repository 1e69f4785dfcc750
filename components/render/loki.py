"""loki-config.yml: the base config in configs/loki/ with the stack's retention and ingestion limits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..catalog import CONFIGS
from ..settings import Settings
from .yamltext import dump_yaml, load_yaml

CONFIG_DIR = "/etc/loki"
CONFIG_FILE = f"{CONFIG_DIR}/loki-config.yml"
DATA_DIR = "/loki"  # the loki_data volume
HTTP_PORT = 3100
PUSH_PATH = "/loki/api/v1/push"
BASE_CONFIG = CONFIGS / "loki" / "loki-config.yml"


def loki_config(settings: Settings, base: Path = BASE_CONFIG) -> dict[str, Any]:
    """The config as data: the base file with the per-stack values set."""
    config: dict[str, Any] = load_yaml(base.read_text(encoding="utf-8"))
    loki = settings.loki
    config["server"]["http_listen_port"] = HTTP_PORT
    limits = config.setdefault("limits_config", {})
    limits["retention_period"] = loki.retention
    limits["ingestion_rate_mb"] = loki.ingestion_rate_mb
    limits["ingestion_burst_size_mb"] = loki.ingestion_burst_size_mb
    # Retention only happens when the compactor applies it: never render one without the other.
    config.setdefault("compactor", {})["retention_enabled"] = True
    return config


def render_loki_config(settings: Settings) -> str:
    """The text of /etc/loki/loki-config.yml."""
    return dump_yaml(loki_config(settings))
