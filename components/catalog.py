"""The service catalog (`configs/services.yaml`): which QuikApp services exist and how to scrape them.

Parsed and validated once per program run; an invalid entry fails like a bad config key,
naming the file, the entry and what is allowed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .settings import SettingsError

CONFIGS = Path(__file__).resolve().parent.parent / "configs"
CATALOG_FILE = CONFIGS / "services.yaml"

_Name = Annotated[str, Field(pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")]
_Port = Annotated[int, Field(ge=1, le=65535, strict=True)]


class _Job(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    metrics_path: Annotated[str, Field(pattern=r"^/[\w./-]*$")] = "/metrics"
    services: Annotated[dict[_Name, _Port], Field(min_length=1)]


class _Catalog(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    jobs: Annotated[dict[_Name, _Job], Field(min_length=1)]

    @model_validator(mode="after")
    def _unique_services(self) -> _Catalog:
        seen: dict[str, str] = {}
        for job_name, job in self.jobs.items():
            for service in job.services:
                if service in seen:
                    raise ValueError(f"service {service!r} is listed under both {seen[service]!r} and {job_name!r}")
                seen[service] = job_name
        return self


@dataclass(frozen=True)
class ServiceJob:
    name: str
    metrics_path: str
    services: tuple[tuple[str, int], ...]  # (DNS name, metrics port), in catalog order


@dataclass(frozen=True)
class Catalog:
    jobs: tuple[ServiceJob, ...]


# Job names the monitoring stack itself uses; a catalog job may not take them.
RESERVED_JOBS = frozenset({"prometheus", "redis", "postgres", "kafka", "nginx", "monitoring"})


def parse_catalog(data: object, source: str = "configs/services.yaml") -> Catalog:
    try:
        model = _Catalog.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        where = f"{source}: {loc}" if loc else source
        value = "" if err["type"] in {"missing", "extra_forbidden"} else f" {err.get('input')!r} is not valid:"
        raise SettingsError(f"invalid service catalog: {where}:{value} {err['msg']}") from None
    clash = sorted(RESERVED_JOBS & model.jobs.keys())
    if clash:
        raise SettingsError(
            f"invalid service catalog: {source}: jobs.{clash[0]}: job name is reserved for the monitoring stack "
            f"(reserved: {', '.join(sorted(RESERVED_JOBS))})"
        )
    return Catalog(jobs=tuple(
        ServiceJob(name=name, metrics_path=job.metrics_path, services=tuple(job.services.items()))
        for name, job in model.jobs.items()
    ))


def load_catalog(path: Path = CATALOG_FILE) -> Catalog:
    with path.open(encoding="utf-8") as handle:
        try:
            data = yaml.safe_load(handle)
        except yaml.YAMLError as exc:
            raise SettingsError(f"invalid service catalog: {path.name}: not YAML ({exc})") from None
    return parse_catalog(data, source=f"configs/{path.name}")
