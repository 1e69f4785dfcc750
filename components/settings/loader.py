"""Reads the stack's config once and turns it into a validated `Settings`, or one clear error.

Every rule is the model's (components/settings/model.py, the rules across settings included); the loader
decodes what the engine passes, tells the model the stack and the keys that arrived as secrets, and words
each of pydantic's errors as one line naming the key, the value and what is allowed. `parse_settings` is
pure (raw values in, model out) so tests can drive it without an engine; `load_settings` is the only place
in the program that reads Pulumi config.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable
from typing import Any, get_origin

import pulumi
import pulumi.runtime.config as runtime_config
from pydantic import BaseModel, SecretStr, ValidationError

from .base import NUMBER_RULE
from .fields import dotted, types_in
from .model import RULE, Settings, Source
from .secrets import ANY_STACK, secret_names

NAMESPACE = "quikapp-monitoring"

# Config namespaces the program accepts without reading them: the engine's own settings
# (`pulumi:disable-default-providers`, ...). Every other namespace is refused: the CLI hands the
# program every key of the stack file (pulumi/pulumi@v3.259.0 pkg/resource/deploy/source_eval.go,
# `Target.Config.Decrypt`), so `prometheus:retension` or `quikapp-monitor:prometheus` arrives here
# and would otherwise be ignored without a word.
_ENGINE_NAMESPACES = frozenset({"pulumi"})

# Provider packages this program configures through explicit providers (components/targets/):
# the engine applies `docker:*` / `kubernetes:*` stack config only to *default* providers
# (pulumi/pulumi@v3.259.0 pkg/resource/deploy/default_providers.go, `GetPackageConfig`), so
# such keys would have no effect at all.
_PROVIDER_NAMESPACES = frozenset({"docker", "kubernetes"})


class SettingsError(pulumi.RunError):
    """A bad stack configuration. RunError makes Pulumi print the message without a traceback."""


def _decode(raw: Any) -> Any:
    # The CLI hands object, list and bool values to the program as JSON text and plain strings
    # as they are; try JSON first and fall back to the string, but keep numbers-as-text as text
    # so a string setting such as "15" is not turned into an int.
    if not isinstance(raw, str):
        return raw
    try:
        value = json.loads(raw)
    except ValueError:
        return raw
    return value if isinstance(value, (dict, list, bool)) or value is None else raw


def _read_config() -> tuple[dict[str, Any], set[str]]:
    """Every config value the engine passed (fully-qualified keys) and the keys set as secrets."""
    # The engine passes config in PULUMI_CONFIG; tests and the mock engine use set_all_config
    # (runtime_config.CONFIG). Public accessors only answer for a known key, and unknown keys
    # must be reported, so both sources are listed here.
    merged: dict[str, Any] = dict(runtime_config.get_config_env())
    merged.update(runtime_config.CONFIG.get())
    secret_keys = set(runtime_config.get_config_secret_keys_env())
    secret_keys |= {k for k in merged if runtime_config.is_config_secret(k)}
    return merged, secret_keys


def _allowed_keys(model: type[BaseModel], loc: tuple[int | str, ...]) -> list[str]:
    """The camelCase keys allowed at `loc` (for 'unknown key' messages)."""
    current: Any = model
    for part in loc:
        field = next((f for n, f in current.model_fields.items() if part in (n, f.alias)), None)
        if field is None:
            break
        annotation = field.annotation
        candidates = [annotation, *getattr(annotation, "__args__", ())]
        current = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)
        if current is None:
            return []
    return sorted(f.alias or n for n, f in current.model_fields.items())


def _mentions(value: Any, keys: set[str]) -> bool:
    if isinstance(value, dict):
        return any(k in keys or _mentions(v, keys) for k, v in value.items())
    return isinstance(value, list) and any(_mentions(v, keys) for v in value)


def _kinds_at(loc: tuple[int | str, ...]) -> list[Any]:
    """Every type the field at `loc` may hold (`[Settings]` for the whole config); an index steps
    into a list's items, a key of a plain dict (`externalLabels.<name>`) ends the walk at the dict."""
    kinds: list[Any] = [Settings]
    for part in loc:
        model = next((k for k in kinds if isinstance(k, type) and issubclass(k, BaseModel)), None)
        if isinstance(part, int) or model is None:
            continue
        field = next((f for n, f in model.model_fields.items() if part in (n, f.alias)), None)
        if field is None:
            return []
        kinds = list(types_in(field.annotation))
    return kinds


def _is_secret(loc: tuple[int | str, ...], value: Any) -> bool:
    """Whether a bad value must be shown as [secret]: the value of a secret key, or of an object that
    holds one. Decided by key, not by the stack file's top-level key: the CLI marks the whole
    `quikapp-monitoring:grafana` secret once grafana.adminPassword is (pulumi/pulumi@v3.259.0
    sdk/go/common/resource/config/object.go, `MarshalString`: an object with a secure value is secure),
    and grafana.publishPort is no secret for that."""
    kinds = _kinds_at(loc)
    if isinstance(value, SecretStr) or SecretStr in kinds:
        return True
    model = next((k for k in kinds if isinstance(k, type) and issubclass(k, BaseModel)), None)
    secrets = secret_names(model) if model is not None else set()
    if not secrets:
        return False
    # An object holding a secret (a rule across its fields, such as "username with password", fails on
    # the whole object) is shown only when none of its keys is a secret one; anything else in its place
    # (a string where `alertmanager.webhook: {url: …}` belongs) may be the secret itself.
    if isinstance(value, dict) or (isinstance(value, list) and any(get_origin(k) is list for k in kinds)):
        return _mentions(value, secrets)
    return True


def _not_a_key(part: int | str) -> bool:
    # pydantic names validators and union members in the location ('function-after[...]', 'str',
    # 'SecretStr'); they are not keys of the stack file.
    return isinstance(part, str) and (part.startswith("function-after") or part[:1].isupper()
                                      or part in {"str", "none", "[key]"})


def _key_path(loc: tuple[int | str, ...], values: Any) -> tuple[int | str, ...]:
    """The parts of an error location that name the key in the stack file.

    A part found in the input is a key even when it looks like a type name (a header such as
    X-Scope-OrgID); a part not in the input is kept unless it is a validator or union member (a
    required key that is missing is named too).
    """
    kept: list[int | str] = []
    node = values
    for part in loc:
        found = (isinstance(node, dict) and part in node) or (
            isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node))
        if found:
            kept.append(part)
            node = node[part]
        elif not _not_a_key(part):
            kept.append(part)
            node = None
    return tuple(kept)


def _describe(error: dict[str, Any], values: Any = None) -> str:
    if error["type"] == RULE:
        # A rule across settings (components/settings/model.py) names its key and says the rest itself.
        return f"{NAMESPACE}:{dotted(tuple(error['loc']))}: {error['ctx']['text']}"
    loc = _key_path(tuple(error["loc"]), values)
    key = f"{NAMESPACE}:{dotted(loc)}" if loc else NAMESPACE
    kind = error["type"]
    if kind == "extra_forbidden":
        allowed = ", ".join(_allowed_keys(Settings, loc[:-1]))
        return f"{key}: unknown key (allowed here: {allowed})"
    if kind == "missing":
        return f"{key}: required, but not set"
    value = error.get("input")
    shown = "[secret]" if _is_secret(loc, value) else repr(value)
    ctx = error.get("ctx", {})
    if kind == "value_error" or kind == "assertion_error":
        rule = str(error["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
    elif kind == "enum" or kind.startswith("literal"):
        rule = str(ctx.get("expected", ""))
    elif kind == "string_pattern_mismatch":
        rule = f"text matching {ctx.get('pattern')}"
    elif kind in {"model_type", "model_attributes_type", "dict_type"}:
        rule = "an object (key: value pairs)"
    elif kind == "int_type":
        rule = NUMBER_RULE  # a quoted number included: see base.Number
    else:
        # pydantic phrases most rules as "Input should be <rule>".
        rule = str(error["msg"]).removeprefix("Input should be ").removeprefix("Value should have ")
    message = f"allowed: {rule}"
    return f"{key}: {shown} is not valid ({message})"


def _suggest(word: str, choices: Iterable[str]) -> str | None:
    found = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return found[0] if found else None


def _foreign_key(key: str, stack: str | None) -> str:
    """The problem line for a config key outside this project's namespace, with the likely fix."""
    namespace, _, name = key.partition(":")
    top_keys = _allowed_keys(Settings, ())
    if namespace in top_keys:
        # `prometheus:retension`: meant as prometheus.retention under this project.
        inner = _allowed_keys(Settings, (namespace,))
        leaf = _suggest(name, inner)
        path = f"{namespace}.{leaf}" if leaf else namespace
    elif _suggest(namespace, [NAMESPACE]):
        # `quikapp-monitor:prometheus`: the project name misspelt.
        path = _suggest(name, top_keys) or name
    else:
        path = ""
    if namespace in _PROVIDER_NAMESPACES:
        why = f"this program configures its own {namespace} provider and never reads {namespace}:* keys"
    else:
        why = f"not a key of this project (allowed: {NAMESPACE}:<key>, or pulumi:<key> for the engine)"
    if path:
        return f"{key}: {why}; did you mean {NAMESPACE}:{path}? (move the value there in the stack file)"
    return f"{key}: {why}; remove it from the stack file (`pulumi config rm --stack {stack or ANY_STACK} {key}`)"


def foreign_keys(keys: Iterable[str], stack: str | None = None) -> list[str]:
    """Problem lines for every config key in a namespace this program neither reads nor allows."""
    return sorted(
        _foreign_key(key, stack) for key in keys
        if key.partition(":")[0] not in {NAMESPACE, *_ENGINE_NAMESPACES}
    )


def _report(lines: list[str]) -> str:
    if len(lines) == 1:
        return f"invalid stack configuration: {lines[0]}"
    return "invalid stack configuration:\n  " + "\n  ".join(lines)


def _problems(values: dict[str, Any], secret_keys: set[str] | frozenset[str],
              stack: str | None) -> tuple[Settings | None, list[str]]:
    try:
        settings = Settings.model_validate(values, context=Source(stack, frozenset(secret_keys)))
    except ValidationError as exc:
        return None, sorted({_describe(dict(e), values) for e in exc.errors()})
    return settings, []


def parse_settings(values: dict[str, Any], secret_keys: set[str] | frozenset[str] = frozenset(),
                   stack: str | None = None) -> Settings:
    """Validate raw config values (keys without the namespace) into `Settings` for stack `stack`
    (None: no stack-specific rule applies).

    Raises SettingsError with one line per problem, each naming key, value and what is allowed;
    suggested commands name `stack` (or <stack>).
    """
    settings, problems = _problems(values, secret_keys, stack)
    if problems or settings is None:
        raise SettingsError(_report(problems))
    return settings


def parse_config(config: dict[str, Any], secret_keys: Iterable[str] = (), stack: str | None = None) -> Settings:
    """Validate the whole stack config as the engine passes it (fully-qualified keys, any namespace).

    Like `parse_settings`, plus one line for every key outside this project's namespace.
    """
    prefix = NAMESPACE + ":"
    values = {k[len(prefix):]: _decode(v) for k, v in config.items() if k.startswith(prefix)}
    ours = {k[len(prefix):] for k in secret_keys if k.startswith(prefix)}
    settings, problems = _problems(values, ours, stack)
    problems = foreign_keys(config, stack) + problems
    if problems or settings is None:
        raise SettingsError(_report(problems))
    return settings


def load_settings() -> Settings:
    """Read this stack's config and validate it (the program's only config read)."""
    config, secret_keys = _read_config()
    return parse_config(config, secret_keys, pulumi.get_stack())
