"""The configuration reference, docs/CONFIGURATION.md, written from the settings model.

The model says what each key is: its type (and what the type allows, in the words of its error messages), its
default, whether it is a secret and when it is required, its examples and its description. The template
(docs/CONFIGURATION.md.tmpl) holds the prose that is about no single key; each line `<!-- keys: a b -->` in it
becomes the table of those top-level keys and every key below them, and `<!-- value types -->` the list of the
value types the tables name. Every key is in exactly one table and every key has a description: a key
without one, or in no table, stops the writing with one line naming it.
"""

from __future__ import annotations

import json
import re
import types
from collections.abc import Iterable
from enum import Enum
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo

from .base import TypeDoc
from .fields import ANY, Key, When, keys, types_in
from .secrets import RequiredSecret, set_secret

# How the reference names any key of a map of objects (alertmanager.teams.<team>).
MAP_KEYS = {"teams": "<team>"}
LIST_ITEM = "[<i>]"

_MARKER = re.compile(r"^<!-- (?:keys: (?P<keys>[^>]*?)|(?P<types>value types)) -->$", re.M)
HEADER = ("<!-- Written by scripts/configuration-doc.py (`make config-doc`) from the settings model "
          "(components/settings/) and docs/CONFIGURATION.md.tmpl: edit those, not this file. -->\n")
_COLUMNS = "| key | type | default | example | description |\n|---|---|---|---|---|\n"


class ConfigurationDocError(Exception):
    """The model or the template cannot be written as the reference (a key without a description, ...)."""


def _flat(metadata: Iterable[Any]) -> list[Any]:
    out: list[Any] = []
    for item in metadata:
        out += _flat(item.metadata) if isinstance(item, FieldInfo) else [item]
    return out


def _constraints(metadata: list[Any]) -> str:
    low = next((m.ge for m in metadata if isinstance(m, annotated_types.Ge)), None)
    high = next((m.le for m in metadata if isinstance(m, annotated_types.Le)), None)
    if low is not None and high is not None:
        return f" {low} to {high}"
    return f" ≥ {low}" if low is not None else (f" ≤ {high}" if high is not None else "")


class _Types:
    """Writes a type as the reference names it, collecting the value types it names."""

    def __init__(self) -> None:
        self.named: dict[str, TypeDoc] = {}

    def name(self, annotation: Any, metadata: Iterable[Any] = (), plural: bool = False) -> str:
        metadata = _flat(metadata)
        origin = get_origin(annotation)
        if origin is Annotated:
            inner, *extra = get_args(annotation)
            return self.name(inner, [*metadata, *extra], plural)
        if origin in (Union, types.UnionType):
            members = [a for a in get_args(annotation) if a is not type(None)]
            return " or ".join(self.name(member, metadata, plural) for member in members)
        doc = next((m for m in metadata if isinstance(m, TypeDoc)), None)
        if doc is not None:
            self.named[doc.name] = doc
            return (doc.names if plural else doc.name) + _constraints(metadata)
        if annotation is SecretStr:
            return "**secret**"
        if annotation is bool:
            return "bools" if plural else "bool"
        if origin is Literal:
            return " | ".join(f"`{value}`" for value in get_args(annotation))
        if isinstance(annotation, type) and issubclass(annotation, Enum):
            return " | ".join(f"`{member.value}`" for member in annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            return "objects" if plural else "object"
        if origin is list:
            least = next((m.min_length for m in metadata if isinstance(m, annotated_types.MinLen)), 0)
            items = self.name(get_args(annotation)[0], plural=True)
            return f"list of {items}" + (f", at least {least}" if least else "")
        if origin is dict:
            key, value = get_args(annotation)
            return f"map of {self.name(key)} → {self.name(value)}"
        pattern = next((m.pattern for m in metadata if getattr(m, "pattern", None)), None)
        if annotation is str:
            text = "texts" if plural else "text"
            return f"{text} matching `{pattern}`" if pattern else text
        raise ConfigurationDocError(f"no name for the type {annotation!r}")


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, Enum):
        return f"`{value.value}`"
    if isinstance(value, (list, dict)):
        return f"`{json.dumps(value, ensure_ascii=False)}`"
    return f"`{value}`" if value != "" else '`""`'


def _condition(when: When, owner: type[BaseModel]) -> str:
    field = owner.model_fields[when.field]
    name = f"`{field.alias or when.field}`"
    if when.equals is not None:
        return f"{name} is {_value(when.equals)}"
    return f"{name} is true" if field.annotation is bool else f"{name} is set"


def _display(key: Key, containers: dict[tuple[str | int, ...], type | None]) -> str:
    """The key as the reference writes it: `alertmanager.teams.<team>.slack.apiUrl`,
    `prometheus.remoteWrite[<i>].url`."""
    out = ""
    for at, part in enumerate(key.path):
        if part == ANY:
            parent = key.path[at - 1]
            out += LIST_ITEM if containers.get(key.path[:at]) is list else f".{MAP_KEYS[str(parent)]}"
        else:
            out += f".{part}" if out else str(part)
    return out


def _default(key: Key) -> str:
    field = key.field
    marker = next((m for m in field.metadata if isinstance(m, RequiredSecret)), None)
    used_when = [f"used when {_condition(c, key.owner)}" for c in field.metadata if isinstance(c, When)]
    if field.is_required() or (marker is not None and marker.when is None):
        shown = "required"
    elif marker is not None and marker.when is not None:
        shown = f"required when {_condition(marker.when, key.owner)}"
    elif key.value is None:
        shown = "unset"
    elif isinstance(key.value, BaseModel):
        shown = ""
    else:
        shown = _value(key.value)
    return "; ".join(part for part in (shown, *used_when) if part)


def _cell(text: str) -> str:
    # GitHub's tables end a cell at any unescaped `|`, in code spans too.
    return text.replace("|", "\\|")


def _rows(model: type[BaseModel], top: list[str], namer: _Types) -> tuple[str, set[str]]:
    containers: dict[tuple[str | int, ...], type | None] = {}
    rows: list[str] = []
    placed: set[str] = set()
    for key in keys(model):
        containers[key.path] = key.container
        if str(key.path[0]) not in top:
            continue
        placed.add(str(key.path[0]))
        shown = _display(key, containers)
        description = key.field.description
        if not description:
            if key.nested is not None:
                continue  # an object without a description of its own: its keys have theirs
            raise ConfigurationDocError(f"{model.__name__}: {shown} has no description (Field(description=...))")
        kind = namer.name(key.field.annotation, key.field.metadata)
        if SecretStr in types_in(key.field.annotation):
            example = f"`{set_secret(shown, None)}`"
        else:
            example = ", ".join(_value(e) for e in key.field.examples or [])
        cells = [f"`{shown}`", kind, _default(key), example, description]
        rows.append("| " + " | ".join(_cell(cell) for cell in cells) + " |\n")
    return _COLUMNS + "".join(rows), placed


def write(template: str, model: type[BaseModel]) -> str:
    """docs/CONFIGURATION.md from its template and the settings model."""
    namer = _Types()
    placed: list[str] = []

    def table(match: re.Match[str]) -> str:
        if match.group("types"):
            return match.group(0)
        top = match.group("keys").split()
        text, found = _rows(model, top, namer)
        missing = sorted(set(top) - found)
        if missing:
            raise ConfigurationDocError(f"docs/CONFIGURATION.md.tmpl: {', '.join(missing)}: not a key of the settings")
        placed.extend(top)
        return text.rstrip("\n")

    # The template's own leading comment (what the template is) stays in the template.
    own = re.match(r"<!--.*?-->\n", template, flags=re.S)
    if own and not _MARKER.match(own.group(0)):
        template = template[own.end():]
    text = _MARKER.sub(table, template)
    every = [field.alias or name for name, field in model.model_fields.items()]
    twice = sorted({k for k in placed if placed.count(k) > 1})
    absent = [k for k in every if k not in placed]
    if twice or absent:
        raise ConfigurationDocError(f"docs/CONFIGURATION.md.tmpl: every top-level key in one table (in two: "
                                    f"{', '.join(twice) or 'none'}; in none: {', '.join(absent) or 'none'})")
    legend = "\n".join(f"- **{name}**: {doc.allowed}" for name, doc in sorted(namer.named.items(),
                                                                              key=lambda item: item[0].lower()))
    return HEADER + _MARKER.sub(lambda _: legend, text)
