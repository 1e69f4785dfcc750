"""The one walk over the settings model: every key of the stack file, with its field and its value.

`keys(model)` walks the model alone: every key, `*` standing for any item of a list and any key of a
map, each with its default where the enclosing object is at its default (the configuration reference,
the list of secret keys). `keys(model, values)` walks one stack's values, a validated model or the raw
values as the stack file holds them (camelCase keys; an absent key has its default): the keys that stack
has, each with its value and whether it is in use (see `When`). The secret settings
(components/settings/secrets.py) and the rules across settings are answered from this walk.
"""

from __future__ import annotations

import types
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Final, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo

ANY: Final = "*"  # in a path of the model alone: any item of a list, any key of a map


class _Schema:
    """The model alone (no stack's values): its fields' defaults."""

    def __repr__(self) -> str:
        return "SCHEMA"


SCHEMA: Final = _Schema()

KeyPath = tuple[str | int, ...]


def value_of(owner: type[BaseModel], node: object, name: str) -> Any:
    """The value of field `name` of `owner` in `node`: a validated model, raw values (camelCase keys, snake_case
    accepted too) or SCHEMA; an absent key has the field's default (None for a required field)."""
    if isinstance(node, BaseModel):
        return getattr(node, name)
    field = owner.model_fields[name]
    if isinstance(node, Mapping):
        for key in (field.alias or name, name):
            if key in node:
                return node[key]
    return None if field.is_required() else field.get_default(call_default_factory=True)


@dataclass(frozen=True)
class When:
    """A condition on another field of the same object: that it equals `equals`, or (without `equals`) that it
    is set (true, or any value but null). On an object field (`Annotated[..., When(...)]`) it says that the
    object's settings are used only while it holds (jaeger.elasticsearch, with jaeger.storage elasticsearch)."""

    field: str  # the snake_case name of the other field
    equals: object = None

    def holds(self, owner: type[BaseModel], node: object) -> bool:
        value = value_of(owner, node, self.field)
        return bool(value) if self.equals is None else bool(value == self.equals)


@dataclass(frozen=True)
class Key:
    """One key of the stack file, found by the walk."""

    path: KeyPath  # camelCase keys and list indexes (ANY in the model alone)
    name: str  # the field's snake_case name
    field: FieldInfo
    owner: type[BaseModel]  # the object it belongs to
    node: object  # the owner's values (a model, raw values, SCHEMA)
    value: Any  # its value (its default in the model alone; None: unset)
    used: bool  # every `When` on it and on its enclosing objects holds (always, in the model alone)

    @property
    def nested(self) -> type[BaseModel] | None:
        """The settings object it holds (itself, or as the items of a list or map), if any."""
        return next((t for t in types_in(self.field.annotation) if isinstance(t, type) and issubclass(t, BaseModel)),
                    None)

    @property
    def container(self) -> type | None:
        """list or dict when the key holds a list or map of values, else None."""
        return container_of(self.field.annotation)


def types_in(annotation: Any) -> Iterator[Any]:
    """Every type named in an annotation (`list[X] | None` gives the union, list[X], X and None)."""
    yield annotation
    for arg in get_args(annotation):
        yield from types_in(arg)


def _unwrapped(annotation: Any) -> Any:
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    return annotation


def container_of(annotation: Any) -> type | None:
    """list or dict when the annotation is a list or a map (optional or not), else None."""
    annotation = _unwrapped(annotation)
    members = get_args(annotation) if get_origin(annotation) in (Union, types.UnionType) else (annotation,)
    for member in members:
        origin = get_origin(_unwrapped(member))
        if origin in (list, dict):
            return origin  # type: ignore[no-any-return]
    return None


def conditions(field: FieldInfo) -> list[When]:
    """The `When`s on an object field: its settings are used only while all of them hold."""
    return [m for m in field.metadata if isinstance(m, When)]


def _is_object(value: object) -> bool:
    return value is SCHEMA or isinstance(value, (BaseModel, Mapping))


def _items(key: Key, schema: bool) -> list[tuple[KeyPath, object]]:
    """(path below the key, values) of each settings object the key holds."""
    value = key.value
    found: list[tuple[KeyPath, object]]
    if schema:
        # One item stands for all of a list's or map's; an unset (optional) object has its own defaults.
        found = [((ANY,), SCHEMA)] if key.container else [((), SCHEMA if value is None else value)]
    elif key.container is list:
        found = [((i,), item) for i, item in enumerate(value)] if isinstance(value, list) else []
    elif key.container is dict:
        found = [((k,), item) for k, item in value.items()] if isinstance(value, Mapping) else []
    else:
        found = [((), value)]
    return [(below, item) for below, item in found if _is_object(item)]


def _walk(owner: type[BaseModel], node: object, path: KeyPath, used: bool, schema: bool) -> Iterator[Key]:
    for name, field in owner.model_fields.items():
        in_use = used and (schema or all(c.holds(owner, node) for c in conditions(field)))
        key = Key((*path, field.alias or name), name, field, owner, node, value_of(owner, node, name), in_use)
        yield key
        nested = key.nested
        if nested is not None:
            for below, item in _items(key, schema):
                yield from _walk(nested, item, (*key.path, *below), in_use, schema)


def keys(model: type[BaseModel], values: object = SCHEMA) -> Iterator[Key]:
    """Every key of `model`, depth first in field order, an object before its keys: of the model alone, or of
    `values` (an instance of `model`, or raw values as the stack file holds them)."""
    return _walk(model, values, (), True, values is SCHEMA)


def dotted(path: KeyPath) -> str:
    """A path as the stack file's `--path` syntax writes it: `prometheus.remoteWrite[0].password`."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out
