"""The ConfigMaps and Secrets that carry each tool's files on Kubernetes (components/targets/
kubernetes_config.py): one per directory of live files, whose keys are the file names, and the API
server's 1 MiB limit per object, refused by the program in one line before anything is declared."""

from __future__ import annotations

from pathlib import Path

import pulumi
import pytest
from guarantees import with_changes

from mockengine.manifests import plain
from mockengine.program import program_copy
from mockengine.rendered import WORKLOAD_TYPES, workload_files
from mockengine.run import run_program

MIB = 1024 * 1024


# configs/scopes.yaml names every rule file: the padded one ships on every stack.
_PADDED_SCOPE = {"configs/scopes.yaml": (
    "rules:\n", "rules:\n  padded.yml: {targets: [docker, kubernetes], jobs: []}\n")}


def _padded_rule_file(size: int) -> str:
    """A valid rule file of `size` bytes: one group, the rest YAML comments."""
    head = "groups:\n  - name: padded\n    rules:\n      - record: padded:vector\n        expr: vector(1)\n"
    line = "# " + "x" * 97 + "\n"
    body = line * ((size - len(head) - 1) // len(line))
    return head + body + "#" * (size - len(head) - len(body) - 1) + "\n"


def test_live_files_are_keys_of_their_directory_objects_not_items() -> None:
    """Every live directory's volume projects its objects whole: no pod template lists a file."""
    run = run_program("staging", *with_changes("staging", {}))
    files = workload_files(run)
    config_maps = {plain(c.inputs)["metadata"]["name"]: plain(c.inputs)["data"]
                   for c in run.of_type("kubernetes:core/v1:ConfigMap")}
    rules = config_maps["prometheus-live-etc-prometheus-rules"]
    assert sorted(rules) == sorted(p.rsplit("/", 1)[1] for p in files["prometheus"]
                                   if p.startswith("/etc/prometheus/rules/"))
    assert sorted(config_maps["prometheus-live-etc-prometheus"]) == ["prometheus.yml"]
    for workload in (r for t in WORKLOAD_TYPES for r in run.of_type(t)):
        for volume in plain(workload.inputs)["spec"]["template"]["spec"].get("volumes", []):
            for source in volume.get("projected", {}).get("sources", []):
                ref = source.get("configMap") or source.get("secret")
                assert "items" not in ref, (workload.name, volume)


def test_nested_live_directories_each_get_a_volume_inside_their_parent() -> None:
    run = run_program("staging", *with_changes("staging", {}))
    (prometheus,) = [r for r in run.of_type("kubernetes:apps/v1:StatefulSet") if r.name == "prometheus"]
    mounts = plain(prometheus.inputs)["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]
    live = [(m["mountPath"], m["name"]) for m in mounts if m["name"].startswith("config-")]
    # Parent first: the kubelet creates the nested mount points in it (docs/UPSTREAM-FACTS.md).
    assert live == [("/etc/prometheus", "config-0"), ("/etc/prometheus/rules", "config-1")]


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_a_directory_over_one_mib_is_refused_in_one_line(stack: str, tmp_path: Path) -> None:
    program = program_copy(tmp_path, _PADDED_SCOPE)
    (program / "configs" / "prometheus" / "rules" / "padded.yml").write_text(_padded_rule_file(MIB + 1))
    with pytest.raises(pulumi.RunError) as caught:
        run_program(stack, *with_changes(stack, {}), program=program)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("ConfigMap prometheus-live-etc-prometheus-rules would hold "), message
    assert "/etc/prometheus/rules" in message and "1048576" in message, message


def test_a_directory_just_under_one_mib_is_declared(tmp_path: Path) -> None:
    """The limit is the API server's, not lower: the rule files plus the padding up to 1 MiB pass."""
    program = program_copy(tmp_path, _PADDED_SCOPE)
    run = run_program("staging", *with_changes("staging", {}))
    shipped = sum(len(v.encode()) for k, v in workload_files(run)["prometheus"].items()
                  if k.startswith("/etc/prometheus/rules/"))
    (program / "configs" / "prometheus" / "rules" / "padded.yml").write_text(_padded_rule_file(MIB - shipped))
    padded = run_program("staging", *with_changes("staging", {}), program=program)
    rules = next(plain(c.inputs)["data"] for c in padded.of_type("kubernetes:core/v1:ConfigMap")
                 if plain(c.inputs)["metadata"]["name"] == "prometheus-live-etc-prometheus-rules")
    assert sum(len(v.encode()) for v in rules.values()) == MIB
