"""The typed model of one stack's configuration (config namespace `quikapp-monitoring`): `Settings`.

Each class maps one config object; field names are snake_case here and camelCase in `Pulumi.<stack>.yaml`.
Defaults are production-sane. Every key's `description` is its entry in docs/CONFIGURATION.md, which
scripts/configuration-doc.py writes from this model (`make config-doc`). The objects live in one module per
part of the stack (targets, workloads, prometheus, alertmanager, grafana, logs, tracing, exporters,
collectors); `Settings` and the rules across them live here.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal, Never, NoReturn

from pydantic import Field, ValidationError, ValidationInfo, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from ..quantities import cpus
from .alertmanager import DEFAULT_RUNBOOK_BASE_URL, AlertmanagerSettings, RouteTimings, TeamReceivers
from .base import Model
from .collectors import CollectorsSettings
from .exporters import ExportersSettings
from .fields import KeyPath, dotted, keys
from .grafana import GrafanaSettings
from .logs import LOKI_FIRST_PERIOD, LokiS3Settings, LokiSettings, PromtailSettings
from .prometheus import PrometheusSettings
from .secrets import missing_secrets, secret_paths, set_secret_command
from .targets import DockerSettings, KubernetesSettings
from .tracing import JaegerSettings
from .workloads import Images, Resources

# What other modules import from here, besides Settings.
__all__ = ["DEFAULT_RUNBOOK_BASE_URL", "LOKI_FIRST_PERIOD", "PRODUCTION_STACKS", "RULE", "AlertmanagerSettings",
           "Images", "LokiS3Settings", "Resources", "RouteTimings", "Settings", "Source", "TargetKind",
           "TeamReceivers", "unknown_target"]


class TargetKind(StrEnum):
    DOCKER = "docker"
    KUBERNETES = "kubernetes"


def unknown_target(kind: Never) -> NoReturn:
    """The last case of every `match` over TargetKind: mypy refuses the call while some kind has no
    case of its own above it, so a new kind cannot slip into another kind's branch unnoticed
    (docs/ARCHITECTURE.md, "Add a target"). Reached anyway (an unchecked build), it stops the program."""
    raise ValueError(f"target: no case for {str(kind)!r} here; `mypy components` names every match over "
                     "TargetKind that needs one (docs/ARCHITECTURE.md, Add a target)")


# The pydantic error type of a rule across settings: its text follows the key it names.
RULE = "settings_rule"

Problem = tuple[KeyPath, str]  # the key a rule names, and what follows it in the message

# Stacks whose alerts reach people on call from anywhere (policy/quikapp_policies.py PROTECTED_STACKS
# names the same one): their runbook links must open from a phone, so they cannot be relative.
PRODUCTION_STACKS = frozenset({"prod"})


@dataclass(frozen=True)
class Source:
    """What validation knows besides the values (the `context` of Settings.model_validate): the stack they are
    for (None: no stack-specific rule applies, and a suggested command names <stack>) and the top-level keys
    the engine passed as secrets (a secret anywhere else is stored in plain text)."""

    stack: str | None = None
    secret_keys: frozenset[str] = frozenset()


class Settings(Model):
    target: TargetKind = Field(description="Where the stack runs.", examples=["docker"])
    protect_data: bool = Field(False, description=(
        "Protect every volume, PVC and the namespace (`protect` and `retain_on_delete`), so their state survives "
        "`pulumi destroy` and cannot be replaced. The prod stack sets it."), examples=[True])
    high_availability: bool | None = Field(None, description=(
        "Kubernetes: Prometheus as 2 replicas and Alertmanager as a 3-member cluster (StatefulSets), "
        "PodDisruptionBudgets, spread across nodes ([OPERATIONS.md](OPERATIONS.md#high-availability)). Docker stays "
        "single-instance: `true` on a Docker stack is refused. Unset: `true` on Kubernetes, `false` on Docker."),
        examples=[False])
    single_instance_volumes: Literal["keep", "release"] = Field("release", description=(
        "highAvailability only: `keep` declares the single-instance layout's PVCs (`prometheus-data`, "
        "`alertmanager-data`, `grafana-data` with `grafana.replicas` > 1) as before, retained on delete, until "
        "their data is moved; `release` declares none, and on a stack that had them lets Pulumi forget them (they "
        "stay in the cluster). A new stack has none, and must not create them (they would bind volumes no pod "
        "mounts); `Pulumi.staging.yaml` and `Pulumi.prod.yaml` set `keep` because those stacks ran the "
        "single-instance layout: release them only after one `up` with `keep` "
        "([UPGRADING.md](UPGRADING.md#high-availability-single-instance--replicated))."), examples=["keep"])
    docker: DockerSettings = Field(DockerSettings(), description="The Docker host (target `docker`).")
    kubernetes: KubernetesSettings = Field(KubernetesSettings(), description=(
        "The Kubernetes cluster (target `kubernetes`)."))
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

    @model_validator(mode="after")
    def _rules(self, info: ValidationInfo) -> Settings:
        """The rules across settings, each problem on the key it names (one line each in the loader's message).
        They run once every value is valid on its own, as pydantic runs an object's validator after its fields."""
        source = info.context if isinstance(info.context, Source) else Source()
        problems = [*self._required_secrets(source), *self.target_conflicts(), *self._ha_conflicts(),
                    *self._production_rules(source), *self._plain_text_secrets(source)]
        if problems:
            raise ValidationError.from_exception_data(type(self).__name__, [
                InitErrorDetails(type=PydanticCustomError(RULE, "{text}", {"text": text}), loc=path, input=None)
                for path, text in problems])
        return self

    def _required_secrets(self, source: Source) -> Iterator[Problem]:
        for path in missing_secrets(Settings, self):
            yield path, f"required secret, not set (set it with {set_secret_command(dotted(path), source.stack)})"

    def _plain_text_secrets(self, source: Source) -> Iterator[Problem]:
        for path in secret_paths(self):
            if path[0] not in source.secret_keys:
                yield path, ("[secret] is stored in plain text (allowed: only a secret; set it again with "
                             f"{set_secret_command(dotted(path), source.stack)})")

    def target_conflicts(self) -> Iterator[Problem]:
        """Settings the stack's target cannot honour."""
        kind = self.target
        match kind:
            case TargetKind.DOCKER:
                yield from self._docker_conflicts()
            case TargetKind.KUBERNETES:
                return
            case _:
                unknown_target(kind)

    def _docker_conflicts(self) -> Iterator[Problem]:
        if self.grafana.ingress is not None:
            yield ("grafana", "ingress"), ("is set on a docker stack (allowed: only with target kubernetes; on Docker "
                                           "Grafana is published on docker.publishAddress:grafana.publishPort)")
        else:
            for key in keys(Settings, self):
                if key.owner is Resources and key.name == "cpu_limit":
                    try:
                        cpus(key.value)
                    except ValueError:
                        # The provider would store another amount than it was sent: a replacement on every up.
                        yield key.path, (f"{key.value!r} is not valid on a docker stack (allowed: a limit the "
                                         "Docker provider reads back unchanged, such as 100m, 250m, 500m, 1 or 2)")
        if self.high_availability:
            yield ("highAvailability",), ("true is not valid on a docker stack (allowed: false or unset; Docker runs "
                                          "one container per tool, replicas need target kubernetes)")

    def _ha_conflicts(self) -> Iterator[Problem]:
        """What Grafana needs to run more than one replica, and the label highAvailability sets."""
        replica_label = self.prometheus.ha_labels.replica
        if self.ha and replica_label in self.prometheus.external_labels:
            yield ("prometheus", "externalLabels", replica_label), (
                f"is set on a highAvailability stack (allowed: any other label; highAvailability sets {replica_label} "
                "to each replica's pod name, prometheus.haLabels.replica)")
        replicas = self.grafana.replicas
        if replicas > 1 and self.grafana.database is None:
            yield ("grafana", "replicas"), (f"{replicas} is not valid without grafana.database (allowed: 1, or more "
                                            "with an external postgres/mysql database: the default SQLite file is one "
                                            "pod's)")
        elif replicas > 1 and not self.ha:
            yield ("grafana", "replicas"), (f"{replicas} is not valid without highAvailability (allowed: 1 on a "
                                            "single-instance stack; Docker runs one container)")

    def _production_rules(self, source: Source) -> Iterator[Problem]:
        if source.stack in PRODUCTION_STACKS and not self.alertmanager.runbook_base_url:
            yield ("alertmanager", "runbookBaseUrl"), (
                f"'' is not valid in stack {source.stack} (allowed: an http:// or https:// URL where this "
                "repository's docs/runbooks.md opens; relative runbook links do not open from a page or a chat "
                "message)")

