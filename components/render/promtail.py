"""promtail-config.yml: the base config in configs/promtail/ plus the scrape job of the target."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..catalog import CONFIGS
from ..services import LOKI, PROMTAIL
from ..settings import TargetKind
from ..settings.model import unknown_target
from .loki import PUSH_PATH
from .yamltext import dump_yaml, load_yaml

CONFIG_DIR = "/etc/promtail"
CONFIG_FILE = f"{CONFIG_DIR}/promtail-config.yml"
POSITIONS_DIR = "/var/lib/promtail"
POSITIONS_FILE = f"{POSITIONS_DIR}/positions.yaml"
# Same name on both targets: the Docker network alias and the Service in Promtail's namespace.
LOKI_PUSH_URL = f"{LOKI.url}{PUSH_PATH}"
SOURCE = CONFIGS / "promtail"


def scrape_file(kind: TargetKind) -> str:
    """The file of configs/promtail/ with Promtail's scrape job on a target of this kind."""
    match kind:
        case TargetKind.DOCKER:
            return "docker-scrape.yml"  # docker_sd_configs: the containers' logs through the Docker API
        case TargetKind.KUBERNETES:
            return "kubernetes-scrape.yml"  # kubernetes_sd_configs: the node's pod log files
        case _:
            unknown_target(kind)


def _load(path: Path) -> Any:
    return load_yaml(path.read_text(encoding="utf-8"))


def promtail_config(kind: TargetKind, source: Path = SOURCE) -> dict[str, Any]:
    """The config as data for a target kind: base file, that target's job, the shared stages."""
    config: dict[str, Any] = _load(source / "promtail-config.yml")
    config["server"]["http_listen_port"] = PROMTAIL.port
    config["positions"] = {"filename": POSITIONS_FILE}
    config["clients"] = [{"url": LOKI_PUSH_URL}]
    job: dict[str, Any] = _load(source / scrape_file(kind))
    # The target's own decoding stage (Kubernetes: cri) first, then the application-log stages.
    job["pipeline_stages"] = list(job.get("pipeline_stages") or []) + list(_load(source / "pipeline-stages.yml"))
    config["scrape_configs"] = [job]
    return config


def render_promtail_config(kind: TargetKind) -> str:
    """The text of /etc/promtail/promtail-config.yml on a target of this kind."""
    return dump_yaml(promtail_config(kind))
