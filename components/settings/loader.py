"""Reads the stack's config once and turns it into a validated `Settings`, or one clear error.

`parse_settings` is pure (raw values in, model out) so tests can drive it without an engine;
`load_settings` is the only place in the program that reads Pulumi config.
"""

from __future__ import annotations

import difflib
import json
import shlex
from collections.abc import Iterable, Iterator
from typing import Any, get_origin

import pulumi
import pulumi.runtime.config as runtime_config
from pydantic import BaseModel, SecretStr, ValidationError

from ..docker_units import cpus
from .base import NUMBER_RULE
from .model import Resources, Settings

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


def _models_in(annotation: Any) -> Iterator[Any]:
    """Every type named in an annotation (`list[X] | None` gives list, X, None)."""
    yield annotation
    for arg in getattr(annotation, "__args__", ()):
        yield from _models_in(arg)


def _secret_keys_of(model: Any) -> set[str]:
    """camelCase names of the secret fields of a settings model, at any depth."""
    names: set[str] = set()
    for name, field in model.model_fields.items():
        for kind in _models_in(field.annotation):
            if kind is SecretStr:
                names.add(field.alias or name)
            elif isinstance(kind, type) and issubclass(kind, BaseModel):
                names |= _secret_keys_of(kind)
    return names


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
        kinds = list(_models_in(field.annotation))
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
    secrets = _secret_keys_of(model) if model is not None else set()
    if not secrets:
        return False
    # An object holding a secret (a rule across its fields, such as "username with password", fails on
    # the whole object) is shown only when none of its keys is a secret one; anything else in its place
    # (a string where `alertmanager.webhook: {url: …}` belongs) may be the secret itself.
    if isinstance(value, dict) or (isinstance(value, list) and any(get_origin(k) is list for k in kinds)):
        return _mentions(value, secrets)
    return True


def _dotted(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


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
    loc = _key_path(tuple(error["loc"]), values)
    key = f"{NAMESPACE}:{_dotted(loc)}" if loc else NAMESPACE
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


def _values(model: BaseModel, path: tuple[str | int, ...] = ()) -> Iterator[tuple[tuple[str | int, ...], Any]]:
    """(camelCase path, value) of every field, nested models first as a whole, then their fields;
    a list of models (prometheus.remoteWrite) as its items, by index; a map of models
    (alertmanager.teams) as its values, by key."""
    for name, field in type(model).model_fields.items():
        value = getattr(model, name)
        here = (*path, field.alias or name)
        yield here, value
        if isinstance(value, BaseModel):
            yield from _values(value, here)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, BaseModel):
                    yield from _values(item, (*here, index))
        elif isinstance(value, dict):
            for key, item in value.items():
                if isinstance(item, BaseModel):
                    yield from _values(item, (*here, key))


def secret_paths(model: BaseModel) -> list[tuple[str | int, ...]]:
    """Paths (camelCase) of every secret value that is set."""
    return [path for path, value in _values(model) if isinstance(value, SecretStr)]


def _cpu_limits(settings: Settings) -> list[tuple[str, str]]:
    """(dotted camelCase key, value) of every `cpuLimit` in the settings."""
    return [(_dotted((*path, "cpuLimit")), value.cpu_limit)
            for path, value in _values(settings) if isinstance(value, Resources)]


def _conflicts(settings: Settings) -> list[str]:
    if settings.grafana.ingress is not None and settings.target.value == "docker":
        return [f"{NAMESPACE}:grafana.ingress: is set on a docker stack (allowed: only with target kubernetes; "
                "on Docker Grafana is published on docker.publishAddress:grafana.publishPort)"]
    problems = []
    if settings.target.value == "docker":
        for key, limit in _cpu_limits(settings):
            try:
                cpus(limit)
            except ValueError:
                # The provider would store another amount than it was sent: a replacement on every up.
                problems.append(f"{NAMESPACE}:{key}: {limit!r} is not valid on a docker stack (allowed: a limit "
                                "the Docker provider reads back unchanged, such as 100m, 250m, 500m, 1 or 2)")
    return problems


def _ha_conflicts(settings: Settings) -> list[str]:
    """High availability: what Docker cannot do, and what Grafana needs to run more than one replica."""
    problems = []
    if settings.target.value == "docker" and settings.high_availability:
        problems.append(f"{NAMESPACE}:highAvailability: true is not valid on a docker stack (allowed: false or "
                        "unset; Docker runs one container per tool, replicas need target kubernetes)")
    replica_label = settings.prometheus.ha_labels.replica
    if settings.ha and replica_label in settings.prometheus.external_labels:
        problems.append(f"{NAMESPACE}:prometheus.externalLabels.{replica_label}: is set on a highAvailability stack "
                        f"(allowed: any other label; highAvailability sets {replica_label} to each replica's pod "
                        "name, prometheus.haLabels.replica)")
    replicas = settings.grafana.replicas
    if replicas > 1 and settings.grafana.database is None:
        problems.append(f"{NAMESPACE}:grafana.replicas: {replicas} is not valid without grafana.database (allowed: 1, "
                        "or more with an external postgres/mysql database: the default SQLite file is one pod's)")
    elif replicas > 1 and not settings.ha:
        problems.append(f"{NAMESPACE}:grafana.replicas: {replicas} is not valid without highAvailability (allowed: 1 "
                        "on a single-instance stack; Docker runs one container)")
    return problems


# What a suggested command names when the stack is not known (parse_settings without one).
ANY_STACK = "<stack>"


def set_secret_command(path: str, stack: str | None) -> str:
    """The command that sets the secret at `path`, for a message: it names the stack (the selected one
    may be another) and takes no value, so the secret never lands in the shell's history or the
    process list. Without a value the CLI reads stdin when it is not a terminal (`< file`, a pipe) and
    otherwise prompts for it, without echo for --secret (pulumi/pulumi@v3.259.0
    pkg/cmd/pulumi/config/config.go, configSetCmd.Run; the same in pkg/v3@v3.274.0: docs/UPSTREAM-FACTS.md)."""
    return (f"`pulumi config set --stack {stack or ANY_STACK} --secret --path {shlex.quote(path)}`, "
            "which prompts for the value without echo or reads it from stdin")


def _required_secrets(settings: Settings, stack: str | None) -> list[str]:
    missing = []
    if settings.grafana.admin_password is None:
        missing.append("grafana.adminPassword")
    if settings.exporters.postgres.enabled and settings.exporters.postgres.dsn is None:
        missing.append("exporters.postgres.dsn")
    if settings.grafana.database is not None and settings.grafana.database.password is None:
        missing.append("grafana.database.password")
    if settings.jaeger.storage == "elasticsearch" and settings.jaeger.elasticsearch.username and (
        settings.jaeger.elasticsearch.password is None
    ):
        missing.append("jaeger.elasticsearch.password")
    # Basic auth to a remote-write endpoint: the username says a password is meant.
    missing += [f"prometheus.remoteWrite[{i}].password" for i, endpoint in enumerate(settings.prometheus.remote_write)
                if endpoint.username is not None and endpoint.password is None]
    s3 = settings.loki.s3
    if s3 is not None and s3.access_key_id is not None and s3.secret_access_key is None:
        missing.append("loki.s3.secretAccessKey")
    return [f"{NAMESPACE}:{path}: required secret, not set (set it with {set_secret_command(path, stack)})"
            for path in missing]


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


# Stacks whose alerts reach people on call from anywhere (policy/quikapp_policies.py PROTECTED_STACKS
# names the same one): their runbook links must open from a phone, so they cannot be relative.
PRODUCTION_STACKS = frozenset({"prod"})


def _production_rules(settings: Settings, stack: str | None) -> list[str]:
    if stack in PRODUCTION_STACKS and not settings.alertmanager.runbook_base_url:
        return [f"{NAMESPACE}:alertmanager.runbookBaseUrl: '' is not valid in stack {stack} (allowed: an http:// or "
                "https:// URL where this repository's docs/runbooks.md opens; relative runbook links do not open "
                "from a page or a chat message)"]
    return []


def _problems(values: dict[str, Any], secret_keys: set[str] | frozenset[str],
              stack: str | None) -> tuple[Settings | None, list[str]]:
    try:
        settings = Settings.model_validate(values)
    except ValidationError as exc:
        return None, sorted({_describe(dict(e), values) for e in exc.errors()})
    problems = (_required_secrets(settings, stack) + _conflicts(settings) + _ha_conflicts(settings)
                + _production_rules(settings, stack))
    for path in secret_paths(settings):
        if path[0] not in secret_keys:
            dotted = _dotted(path)
            problems.append(f"{NAMESPACE}:{dotted}: [secret] is stored in plain text (allowed: only a secret; "
                            f"set it again with {set_secret_command(dotted, stack)})")
    return settings, sorted(problems)


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
