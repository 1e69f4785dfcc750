"""The secret settings: which keys hold one, when a stack must hold each, and where a stack holds them.

A secret is a field typed `Secret` (pydantic's SecretStr: never in a repr or an error message). One the stack
must hold is either required by its object (a receiver's URL: pydantic refuses the object without it) or
optional in its type and marked `RequiredSecret`, because the model decides when it is required and names
it with the command that sets it (grafana.adminPassword always; exporters.postgres.dsn while the exporter is
enabled). `secret_slots` finds them all with the one walk of the model (components/settings/fields.py), for
the rules of the settings (a required secret not set, a secret stored in plain text), for the messages
(which values are shown as [secret]), for `make render` (where a placeholder stands in for a secret the stack
file cannot hold in clear) and for the configuration reference.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, SecretStr

from .fields import SCHEMA, KeyPath, When, keys, types_in


@dataclass(frozen=True)
class RequiredSecret:
    """Marks an optional secret field the stack must hold wherever its object is in use, or only while `when`
    holds (`Annotated[Secret | None, RequiredSecret(When("enabled"))]`)."""

    when: When | None = None


@dataclass(frozen=True)
class SecretSlot:
    """A place a secret goes: its path, its value there, and whether the stack must hold one there."""

    path: KeyPath  # camelCase keys and list indexes (fields.ANY in the model alone)
    value: Any  # SecretStr (validated), the raw value, or None: not set
    required: bool  # the stack must hold it (in the model alone: it may have to)
    optional: bool  # no value of the stack ever requires it (an SMTP password, a bearer token)


def secret_slots(model: type[BaseModel], values: object = SCHEMA) -> Iterator[SecretSlot]:
    """Every place of `model` a secret goes, in the model alone or in `values` (a validated model or raw values,
    as for fields.keys); in `values` only where its object is set (or, for an object with defaults, not unset)."""
    schema = values is SCHEMA
    for key in keys(model, values):
        if SecretStr not in types_in(key.field.annotation):
            continue
        marker = next((m for m in key.field.metadata if isinstance(m, RequiredSecret)), None)
        by_marker = marker is not None and (schema or marker.when is None or marker.when.holds(key.owner, key.node))
        by_object = key.field.is_required()
        yield SecretSlot(key.path, None if schema else key.value, key.used and (by_object or by_marker),
                         optional=not by_object and marker is None)


def missing_secrets(model: type[BaseModel], values: object) -> list[KeyPath]:
    """The paths where `values` lack a secret the stack must hold."""
    return [slot.path for slot in secret_slots(model, values) if slot.required and slot.value is None]


def secret_paths(settings: BaseModel) -> list[KeyPath]:
    """Paths (camelCase) of every secret value that is set."""
    return [slot.path for slot in secret_slots(type(settings), settings) if slot.value is not None]


def secret_names(model: type[BaseModel]) -> set[str]:
    """The camelCase names of the secret keys of `model`, at any depth."""
    return {str(slot.path[-1]) for slot in secret_slots(model)}


# What a suggested command names when the stack is not known (parse_settings without one).
ANY_STACK = "<stack>"


def set_secret_command(path: str, stack: str | None) -> str:
    """The command that sets the secret at `path`, for a message: it names the stack (the selected one
    may be another) and takes no value, so the secret never lands in the shell's history or the
    process list. Without a value the CLI reads stdin when it is not a terminal (`< file`, a pipe) and
    otherwise prompts for it, without echo for --secret (pulumi/pulumi@v3.259.0
    pkg/cmd/pulumi/config/config.go, configSetCmd.Run; the same in pkg/v3@v3.274.0: docs/UPSTREAM-FACTS.md)."""
    return f"`{set_secret(path, stack)}`, which prompts for the value without echo or reads it from stdin"


def set_secret(path: str, stack: str | None) -> str:
    """`pulumi config set` for the secret at `path` (see set_secret_command)."""
    return f"pulumi config set --stack {stack or ANY_STACK} --secret --path {shlex.quote(path)}"
