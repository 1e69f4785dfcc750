#!/usr/bin/env python3
"""The real Pulumi engine on a program tree, through the Automation API's inline program.

Each operation runs in a fresh Python process (`python tests/e2e/engine.py <spec.json>`) that
imports `components` from the given tree and hands `components.program.deploy` to the engine as
an inline program: the code `pulumi up` runs through `__main__.py`, without the Python language
host, which no registry serves. A tree without that entry point (a release older than it) runs
its `__main__.py` instead. A new process per operation means no module state survives between
two `up`s, as with the CLI.

The engine is the Pulumi CLI and the Kubernetes provider built by scripts/e2e-tools.sh; state
lives in a local file backend, secrets are encrypted with a passphrase.
"""

from __future__ import annotations

import json
import os
import runpy
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / ".tools"
PROJECT = "quikapp-monitoring"
PASSPHRASE = "e2e-passphrase-not-a-secret"


@dataclass
class Result:
    """What one operation did: the engine's own summary and every resource step it reported."""
    op: str
    ok: bool
    seconds: float
    changes: dict[str, int] = field(default_factory=dict)  # op -> count, e.g. {"create": 80, "same": 2}
    steps: list[dict[str, Any]] = field(default_factory=list)  # {op, type, urn, diffs}
    diagnostics: list[dict[str, str]] = field(default_factory=list)  # {severity, urn, message}
    outputs: dict[str, Any] = field(default_factory=dict)
    error: str = ""

    def changed(self) -> list[dict[str, Any]]:
        """The steps that change something (not `same`, not reads)."""
        return [s for s in self.steps if s["op"] not in ("same", "read", "refresh")]

    def errors(self) -> list[str]:
        return [d["message"] for d in self.diagnostics if d["severity"] == "error"]


@dataclass
class Engine:
    """One stack of one program tree in one backend."""
    tree: Path
    stack: str
    work: Path  # the workspace: Pulumi.yaml and Pulumi.<stack>.yaml are written here
    backend: Path
    kubeconfig: Path
    config: dict[str, Any]  # the stack's plain settings, keys without the project prefix
    secrets: dict[str, str]  # path -> value, set with `pulumi config set --secret --path`
    log: Path | None = None

    def run(self, op: str, **options: Any) -> Result:
        spec = {"op": op, "tree": str(self.tree), "stack": self.stack, "work": str(self.work),
                "backend": str(self.backend), "kubeconfig": str(self.kubeconfig),
                "config": self.config, "secrets": self.secrets, "options": options}
        self.work.mkdir(parents=True, exist_ok=True)
        spec_file = self.work / f"{op}.spec.json"
        spec_file.write_text(json.dumps(spec, indent=1))
        started = time.monotonic()
        done = subprocess.run([sys.executable, str(Path(__file__).resolve()), str(spec_file)],
                              capture_output=True, text=True, timeout=1800, cwd=self.tree)
        if self.log is not None:
            with self.log.open("a") as log:
                log.write(f"=== {op} {self.stack} ({self.tree.name}) {options}\n{done.stderr}\n")
        lines = done.stdout.strip().splitlines()
        if not lines:
            return Result(op, False, time.monotonic() - started, error=done.stderr[-4000:])
        data = json.loads(lines[-1])
        return Result(**data)


# --- the child process ----------------------------------------------------------------------------

def _program(tree: Path) -> Any:
    sys.path.insert(0, str(tree))
    if (tree / "components" / "program.py").is_file():
        from components.program import deploy  # type: ignore[import-not-found]
        return deploy
    return lambda: runpy.run_path(str(tree / "__main__.py"), run_name="__main__")


def _write_stack_file(path: Path, config: dict[str, Any]) -> None:
    """The workspace's stack file: the settings as given, plus the engine's own keys it wrote
    (encryptionsalt, secrets already set) kept as they are."""
    old = yaml.safe_load(path.read_text()) if path.exists() else {}
    old = old or {}
    data = {k: v for k, v in old.items() if k != "config"}
    data["config"] = {f"{PROJECT}:{k}": v for k, v in config.items()}
    path.write_text(yaml.safe_dump(data, sort_keys=True))


def _child(spec_file: Path) -> dict[str, Any]:
    from pulumi import automation as auto

    spec = json.loads(spec_file.read_text())
    tree, work = Path(spec["tree"]), Path(spec["work"])
    os.environ["KUBECONFIG"] = spec["kubeconfig"]  # read by pulumi_kubernetes.Provider in the program
    env = {
        "PULUMI_BACKEND_URL": f"file://{spec['backend']}",
        "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE,
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        "KUBECONFIG": spec["kubeconfig"],
    }
    Path(spec["backend"]).mkdir(parents=True, exist_ok=True)
    options = auto.LocalWorkspaceOptions(
        work_dir=str(work),
        pulumi_command=auto.PulumiCommand(root=str(TOOLS)),
        env_vars=env,
        secrets_provider="passphrase",
        project_settings=auto.ProjectSettings(name=PROJECT, runtime="python"),
    )
    stack = auto.create_or_select_stack(stack_name=spec["stack"], project_name=PROJECT,
                                        program=_program(tree), opts=options)
    _write_stack_file(work / f"Pulumi.{spec['stack']}.yaml", spec["config"])
    for path, value in sorted(spec["secrets"].items()):
        stack.set_config(f"{PROJECT}:{path}", auto.ConfigValue(value, secret=True), path=True)

    steps: list[dict[str, Any]] = []
    diagnostics: list[dict[str, str]] = []

    def on_event(event: Any) -> None:
        if event.resource_pre_event is not None:
            meta = event.resource_pre_event.metadata
            steps.append({"op": str(meta.op.value), "type": meta.type, "urn": meta.urn,
                          "diffs": sorted(meta.diffs or [])})
        if event.diagnostic_event is not None:
            d = event.diagnostic_event
            diagnostics.append({"severity": d.severity, "urn": d.urn or "", "message": d.message.strip()})

    op, opts = spec["op"], spec["options"]
    started = time.monotonic()
    ok, error, changes, outputs = True, "", {}, {}
    try:
        if op == "up":
            up = stack.up(on_event=on_event, refresh=opts.get("refresh"), color="never")
            changes = dict(up.summary.resource_changes or {})
            outputs = {k: ("[secret]" if v.secret else v.value) for k, v in up.outputs.items()}
        elif op == "preview":
            preview = stack.preview(on_event=on_event, refresh=opts.get("refresh"), color="never")
            changes = {str(k.value if hasattr(k, "value") else k): v for k, v in preview.change_summary.items()}
        elif op == "unprotect":
            # `pulumi state unprotect --all`: the documented way to lift prod's protection.
            stack._run_pulumi_cmd_sync(["state", "unprotect", "--all", "--yes"])
        elif op == "destroy":
            destroy = stack.destroy(on_event=on_event, color="never")
            changes = dict(destroy.summary.resource_changes or {})
        else:
            raise ValueError(f"unknown operation {op}")
    except auto.CommandError as exc:
        ok, error = False, str(exc)[-6000:]
    return {"op": op, "ok": ok, "seconds": round(time.monotonic() - started, 1), "changes": changes,
            "steps": steps, "diagnostics": diagnostics, "outputs": outputs, "error": error}


if __name__ == "__main__":
    result = _child(Path(sys.argv[1]))
    print(json.dumps(result, default=str))
