"""Runs the real program under Pulumi's mock engine and records every resource it registers.

Used by the tests, `make render` and the benchmarks. One process can run several stacks: the root
stack resource is reset and the `components` package re-imported before each run.

The seams a caller has, instead of reaching into the mock engine: `prior` (the state an earlier
`up` left, as a table or a function of what the program sends), `on_register` (each registration
as the SDK sent it over the wire) and `main` (a program given as a function instead of
`__main__.py`, as the Automation API takes an inline program).
"""

from __future__ import annotations

import hashlib
import json
import runpy
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pulumi.runtime.settings as runtime_settings
from pulumi.runtime.mocks import MockCallArgs, MockMonitor, MockResourceArgs, Mocks
from pulumi.runtime.stack import wait_for_rpcs
from pulumi.runtime.sync_await import _sync_await

from .program import PROJECT, ROOT, stack_config
from .stand_ins import with_secrets

# The key of the SDK's special values (pulumi.runtime.rpc `_special_sig_key`): in recorded inputs a
# secret is {SECRET_SIG: <the secret signature>, "value": ...}.
SECRET_SIG = "4dabf18193072939515e22adb298388d"


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


Key = tuple[str, str]  # (type, name) of a resource
# The state the engine holds for a resource from an earlier `up`, given (type, name, the inputs the
# program sends now); None: the engine holds none (a resource the earlier `up` did not create).
PriorState = Callable[[str, str, dict[str, Any]], dict[str, Any] | None]


class _RecordingMocks(Mocks):
    def __init__(self, stack_references: dict[str, dict[str, Any]] | None, prior: PriorState) -> None:
        self.stack_references = stack_references or {}
        self.prior = prior
        self.sent: dict[Key, dict[str, Any]] = {}

    def new_resource(self, args: MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        self.sent[(args.typ, args.name)] = dict(args.inputs)
        stored = self.prior(args.typ, args.name, dict(args.inputs))
        if stored is not None:
            # A resource whose diff is empty keeps its id and stored state: the engine hands those
            # back to the program, as on a real second `pulumi up`.
            return f"{args.name}-id", stored
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
    def __init__(self, mocks: _RecordingMocks, on_register: Callable[[Any], None] | None) -> None:
        super().__init__(mocks)
        self.recording = mocks
        self.on_register = on_register
        self.registered: list[Registered] = []

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        response = super().RegisterResource(request)  # type: ignore[no-untyped-call]  # the SDK's mock is untyped
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
            if self.on_register is not None:
                self.on_register(request)
        return response


def _prior_state(prior: Mapping[Key, dict[str, Any]] | PriorState | None) -> PriorState:
    if prior is None:
        return lambda type_, name, inputs: None
    if isinstance(prior, Mapping):
        table = prior
        return lambda type_, name, inputs: table.get((type_, name))
    return prior


def run_program(stack: str, values: dict[str, Any] | None = None, secret_keys: set[str] | None = None, *,
                program: Path = ROOT, project: str = PROJECT,
                stack_references: dict[str, dict[str, Any]] | None = None,
                prior: Mapping[Key, dict[str, Any]] | PriorState | None = None,
                config: dict[str, str] | None = None,
                on_register: Callable[[Any], None] | None = None,
                main: Callable[[], None] | None = None) -> Run:
    """Evaluate `<program>/__main__.py` for `stack` (its stack file + sentinel secrets unless `values` given).

    `prior`: the state the engine holds from an earlier `up`, by (type, name) or as a PriorState
    function; those resources get that state back instead of their inputs.
    `config` passes fully-qualified keys of any namespace instead, as the CLI does (`secret_keys`
    then holds fully-qualified keys too).
    `on_register` is called with every resource registration the program makes, as the SDK sent
    it (a RegisterResourceRequest: secret markers where the program put them, before the mock
    engine's deserialisation lifts them to the enclosing list or object).
    `main`, when given, is run as the program instead of `<program>/__main__.py` (with `program`
    still first on the import path): it imports `components` itself, after the re-import.
    """
    if config is None:
        if values is None:
            values, secret_keys = with_secrets(stack_config(stack))
        config = {f"{project}:{k}": v if isinstance(v, str) else json.dumps(v) for k, v in values.items()}
        secret_keys = {f"{project}:{k}" for k in secret_keys or set()}
    runtime_settings.ROOT.set(None)
    pulumi.runtime.set_all_config(config, sorted(secret_keys or set()))
    mocks = _RecordingMocks(stack_references, _prior_state(prior))
    monitor = _RecordingMonitor(mocks, on_register)
    pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=False, monitor=monitor)
    # A previous run that failed half-way may have left RPCs or outputs pending: start clean.
    runtime_settings.SETTINGS.rpc_manager.clear()
    runtime_settings.SETTINGS.outputs.clear()
    for name in [m for m in sys.modules if m == "components" or m.startswith("components.")]:
        del sys.modules[name]
    sys.path.insert(0, str(program))
    try:
        if main is None:
            runpy.run_path(str(program / "__main__.py"), run_name="__main__")
        else:
            main()
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
