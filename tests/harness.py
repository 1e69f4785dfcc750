"""Runs the real `__main__.py` under Pulumi's mock engine and records what it registers.

Used by the tests and by `make render`. One process can run several stacks: the root stack
resource is reset and the `components` package re-imported before each run.
"""

from __future__ import annotations

import hashlib
import json
import runpy
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pulumi.runtime.settings as runtime_settings
import yaml
from pulumi.runtime.mocks import MockCallArgs, MockMonitor, MockResourceArgs, Mocks
from pulumi.runtime.stack import wait_for_rpcs
from pulumi.runtime.sync_await import _sync_await

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "quikapp-monitoring"
STACKS = tuple(sorted(p.name.split(".")[1] for p in ROOT.glob("Pulumi.*.yaml")))
SECRET_SIG = "4dabf18193072939515e22adb298388d"

# Stand-ins for the secrets a real stack holds as `secure:` values (which cannot be decrypted
# here). Distinctive so tests can search every non-secret place for them.
SENTINELS = {
    ("grafana", "adminPassword"): "sentinel-grafana-admin-Zq7",
    ("exporters", "postgres", "dsn"): "postgresql://monitor:sentinel-pg-Xk4@postgres:5432/postgres?sslmode=disable",
    ("alertmanager", "slack", "apiUrl"): "https://hooks.slack.test/sentinel-slack-Wm2",
    ("alertmanager", "webhook", "url"): "https://hooks.test/sentinel-webhook-Pq9",
    ("alertmanager", "heartbeat", "url"): "https://hc.test/sentinel-heartbeat-Hb3",
    ("alertmanager", "email", "authPassword"): "sentinel-smtp-Jr5",
    ("alertmanager", "pagerduty", "routingKey"): "sentinel-pagerduty-Rk6",
    ("alertmanager", "opsgenie", "apiKey"): "sentinel-opsgenie-Ak2",
    ("alertmanager", "msteams", "webhookUrl"): "https://teams.test/sentinel-msteams-Tw4",
    ("jaeger", "elasticsearch", "password"): "sentinel-es-Tn8",
    # Remote write: endpoint 0 with basic auth, endpoint 1 with a bearer token (see secret_needed).
    ("prometheus", "remoteWrite", 0, "password"): "sentinel-rw-basic-Rv6",
    ("prometheus", "remoteWrite", 1, "bearerToken"): "sentinel-rw-token-Bt1",
    ("loki", "s3", "secretAccessKey"): "sentinel-s3-key-Sk2",
    ("grafana", "database", "password"): "sentinel-grafana-db-Gd6",
}


def stack_config(stack: str) -> dict[str, Any]:
    """The stack file's `quikapp-monitoring:*` values (namespace stripped)."""
    data = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text(encoding="utf-8"))
    prefix = PROJECT + ":"
    return {k[len(prefix):]: v for k, v in (data.get("config") or {}).items() if k.startswith(prefix)}


# What `make render` puts where a secret goes: valid for every checker, obviously not a secret.
PLACEHOLDERS = {
    ("grafana", "adminPassword"): "redacted-grafana-admin-password",
    ("exporters", "postgres", "dsn"): "postgresql://redacted:redacted@postgres:5432/postgres?sslmode=disable",
    ("alertmanager", "slack", "apiUrl"): "https://redacted.invalid/alertmanager/slack/apiUrl",
    ("alertmanager", "webhook", "url"): "https://redacted.invalid/alertmanager/webhook/url",
    ("alertmanager", "heartbeat", "url"): "https://redacted.invalid/alertmanager/heartbeat/url",
    ("alertmanager", "email", "authPassword"): "redacted-smtp-password",
    ("alertmanager", "pagerduty", "routingKey"): "redacted-pagerduty-routing-key",
    ("alertmanager", "opsgenie", "apiKey"): "redacted-opsgenie-api-key",
    ("alertmanager", "msteams", "webhookUrl"): "https://redacted.invalid/alertmanager/msteams/webhookUrl",
    ("jaeger", "elasticsearch", "password"): "redacted-elasticsearch-password",
    ("prometheus", "remoteWrite", 0, "password"): "redacted-remote-write-password",
    ("prometheus", "remoteWrite", 1, "bearerToken"): "redacted-remote-write-bearer-token",
    ("loki", "s3", "secretAccessKey"): "redacted-s3-secret-access-key",
    ("grafana", "database", "password"): "redacted-grafana-database-password",
    # A team's receivers (alertmanager.teams.<team>): ANY_KEY stands for the team's name.
    ("alertmanager", "teams", "*", "slack", "apiUrl"): "https://redacted.invalid/alertmanager/teams/slack/apiUrl",
    ("alertmanager", "teams", "*", "webhook", "url"): "https://redacted.invalid/alertmanager/teams/webhook/url",
    ("alertmanager", "teams", "*", "email", "authPassword"): "redacted-team-smtp-password",
    ("alertmanager", "teams", "*", "pagerduty", "routingKey"): "redacted-team-pagerduty-routing-key",
    ("alertmanager", "teams", "*", "opsgenie", "apiKey"): "redacted-team-opsgenie-api-key",
    ("alertmanager", "teams", "*", "msteams", "webhookUrl"):
        "https://redacted.invalid/alertmanager/teams/msteams/webhookUrl",
}
ANY_KEY = "*"  # in a PLACEHOLDERS path: any key of a map of objects (a team's name)


def placeholder(path: tuple[str | int, ...]) -> str | None:
    """The placeholder for the secret at `path` (keys without the namespace), ANY_KEY matching any map key."""
    for known, value in PLACEHOLDERS.items():
        if len(known) == len(path) and all(k in (p, ANY_KEY) for k, p in zip(known, path, strict=True)):
            return value
    return None


def node_at(values: dict[str, Any], path: tuple[str | int, ...]) -> tuple[bool, Any]:
    """(found, value) at `path` of nested config values (an int steps into a list); (False, None)
    where any step is missing."""
    node: Any = values
    for part in path:
        if isinstance(part, int):
            if not isinstance(node, list) or not 0 <= part < len(node):
                return False, None
        elif not isinstance(node, dict) or part not in node:
            return False, None
        node = node[part]
    return True, node


def secret_needed(values: dict[str, Any], path: tuple[str | int, ...]) -> bool:
    """Whether the tests fill a stand-in for the secret at `path`: wherever the program requires one (the
    settings decide: components/settings/secrets.py), and, so that every secret is exercised, wherever an
    object the values configure takes an optional one (an SMTP password, a remote-write bearer token)."""
    # Imported here, not at the top: run_program re-imports `components` for every run.
    from components.settings.model import Settings
    from components.settings.secrets import secret_slots

    slot = next((s for s in secret_slots(Settings, values) if s.path == path), None)
    if slot is None or not slot.optional:
        return slot is not None and slot.required
    found, parent = node_at(values, path[:-1])
    if path[:2] == ("prometheus", "remoteWrite") and isinstance(parent, dict):
        return "username" not in parent  # basic auth or a bearer token, never both
    return found and isinstance(parent, dict)


def with_secrets(values: dict[str, Any], secrets: dict[tuple[str | int, ...], str] = SENTINELS
                 ) -> tuple[dict[str, Any], set[str]]:
    """Add stand-in secrets where the stack needs them; returns the values and the secret top-level keys."""
    values = json.loads(json.dumps(values))
    secret_keys: set[str] = set()
    for path, sentinel in secrets.items():
        parent_path, leaf = path[:-1], path[-1]
        if not secret_needed(values, path):
            continue
        node: Any = values
        for part in parent_path:
            node = node[part] if isinstance(part, int) else node.setdefault(part, {})
        node.setdefault(leaf, sentinel)
        secret_keys.add(str(path[0]))
    return values, secret_keys


@dataclass
class Registered:
    type: str
    name: str
    urn: str
    parent: str
    custom: bool
    inputs: dict[str, Any]
    protect: bool
    retain_on_delete: bool
    delete_before_replace: bool
    dependencies: list[str]
    replace_on_changes: list[str]
    provider: str
    alias_names: list[str] = field(default_factory=list)
    # What the program sent (before the mock's state was returned): differs from `inputs` only
    # when a run is given `prior` states (the second-up test).
    sent: dict[str, Any] = field(default_factory=dict)


@dataclass
class Run:
    stack: str
    resources: list[Registered]
    outputs: dict[str, Any]
    secret_outputs: set[str] = field(default_factory=set)

    def of_type(self, type_: str) -> list[Registered]:
        return [r for r in self.resources if r.type == type_]

    def one(self, type_: str, name: str) -> Registered:
        found = [r for r in self.resources if r.type == type_ and r.name == name]
        assert len(found) == 1, f"{type_} {name}: {len(found)} registered"
        return found[0]


class _RecordingMocks(Mocks):
    def __init__(self, stack_references: dict[str, dict[str, Any]] | None = None,
                 prior: dict[tuple[str, str], dict[str, Any]] | None = None) -> None:
        self.stack_references = stack_references or {}
        self.prior = prior or {}
        self.sent: dict[tuple[str, str], dict[str, Any]] = {}

    def new_resource(self, args: MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        self.sent[(args.typ, args.name)] = dict(args.inputs)
        if (args.typ, args.name) in self.prior:
            # A resource whose diff is empty keeps its id and stored state: the engine hands those
            # back to the program, as on a real second `pulumi up`.
            return f"{args.name}-id", self.prior[(args.typ, args.name)]
        state = dict(args.inputs)
        if args.typ == "pulumi:pulumi:StackReference":
            name = state["name"]
            return name, {"name": name, "outputs": self.stack_references[name], "secretOutputNames": []}
        digest = hashlib.sha256(args.name.encode()).hexdigest()[:8]
        if args.typ.startswith("kubernetes:") and isinstance(state.get("metadata"), dict):
            # Kubernetes auto-names objects without metadata.name; the mock engine does not.
            meta = dict(state["metadata"])
            meta.setdefault("name", f"{args.name}-{digest}")
            state["metadata"] = meta
        if args.typ == "docker:index/remoteImage:RemoteImage":
            state["imageId"] = f"sha256:{hashlib.sha256(str(state.get('name')).encode()).hexdigest()}"
            state["repoDigest"] = f"{state.get('name')}@sha256:{digest}"
        return f"{args.name}-id", state

    def call(self, args: MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        return {}, None


class _RecordingMonitor(MockMonitor):
    def __init__(self, mocks: _RecordingMocks) -> None:
        super().__init__(mocks)
        self.recording = mocks
        self.registered: list[Registered] = []

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            self.registered.append(Registered(
                type=request.type,
                name=request.name,
                urn=response.urn,
                parent=request.parent,
                custom=request.custom,
                inputs=self.resources[response.urn].state if request.custom else {},
                protect=request.protect,
                retain_on_delete=request.retainOnDelete,
                delete_before_replace=request.deleteBeforeReplace,
                dependencies=sorted(request.dependencies),
                replace_on_changes=list(request.replaceOnChanges),
                provider=request.provider,
                alias_names=[a.spec.name for a in request.aliases if a.HasField("spec")],
                sent=self.recording.sent.get((request.type, request.name), {}) if request.custom else {},
            ))
        return response



def run_program(stack: str, values: dict[str, Any] | None = None, secret_keys: set[str] | None = None, *,
                program: Path = ROOT, project: str = PROJECT,
                stack_references: dict[str, dict[str, Any]] | None = None,
                prior: dict[tuple[str, str], dict[str, Any]] | None = None,
                config: dict[str, str] | None = None) -> Run:
    """Evaluate `<program>/__main__.py` for `stack` (its stack file + sentinel secrets unless `values` given).

    `prior` maps (type, name) to the state the engine holds from an earlier `up`: those resources
    get that state back instead of their inputs.
    `config` passes fully-qualified keys of any namespace instead, as the CLI does (`secret_keys`
    then holds fully-qualified keys too).
    """
    if config is None:
        if values is None:
            values, secret_keys = with_secrets(stack_config(stack))
        config = {f"{project}:{k}": v if isinstance(v, str) else json.dumps(v) for k, v in values.items()}
        secret_keys = {f"{project}:{k}" for k in secret_keys or set()}
    runtime_settings.ROOT.set(None)
    pulumi.runtime.set_all_config(config, sorted(secret_keys or set()))
    mocks = _RecordingMocks(stack_references, prior)
    monitor = _RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=False, monitor=monitor)
    # A previous run that failed half-way may have left RPCs or outputs pending: start clean.
    runtime_settings.SETTINGS.rpc_manager.clear()
    runtime_settings.SETTINGS.outputs.clear()
    for name in [m for m in sys.modules if m == "components" or m.startswith("components.")]:
        del sys.modules[name]
    sys.path.insert(0, str(program))
    try:
        runpy.run_path(str(program / "__main__.py"), run_name="__main__")
        _sync_await(wait_for_rpcs())
        root = runtime_settings.get_root_resource()
        assert root is not None
        outputs: dict[str, Any] = {}
        secret_outputs: set[str] = set()
        for key, value in getattr(root, "outputs", {}).items():
            out = pulumi.Output.from_input(value)
            outputs[key] = _sync_await(out.future())
            if _sync_await(out.is_secret()):
                secret_outputs.add(key)
    finally:
        sys.path.remove(str(program))
    return Run(stack=stack, resources=monitor.registered, outputs=outputs, secret_outputs=secret_outputs)
