"""Moving a running stack from the seed's 2023 versions to the current ones keeps its data.

The upgrade an operator runs is `pulumi up` with the new image table (docs/UPGRADING.md). Under
the mock engine that is two evaluations of the program per stack: with the old images (set
through the `images` config keys) and with the new defaults. Every Docker volume, Kubernetes
PVC and the Namespace must keep its URN and identical inputs (no replacement, no update), and
every tool must keep finding its data where the old version left it: the same volume, mounted at
the same path, holding the same data directories.

The second comparison is against the release that deployed the old versions (the program at
RECORDED_FROM, recorded in tests/fixtures/upgrade/), so code changes made for the new versions
(Loki's schema, Jaeger v2's config file) are held to the same rule. Re-record only for a
deliberate, documented data move:  venv/bin/python tests/test_upgrade.py record <old-checkout>

One deliberate, documented move is held here explicitly instead (HA_MOVES, docs/UPGRADING.md
"High availability"): on a highAvailability stack Prometheus and Alertmanager run as StatefulSets
whose replicas mount a claim of their own from a claim template (same name, same path), and the
single-instance PVC they used to mount stays declared with the same URN and inputs, now retained
on delete so that letting it go later never deletes it.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

if __name__ == "__main__":
    # Run as a file (`record`, below), Python puts tests/ on the path: the packages (components/,
    # mockengine/) are at the repository root.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from guarantees import STATEFUL, changed, run_with, snapshot, tool_of

from components.settings.model import Images
from components.targets.kubernetes import POD_SECURITY_LABELS
from conftest import stack_run
from mockengine.manifests import plain
from mockengine.program import ROOT, STACKS, stack_config
from mockengine.rendered import WORKLOAD_TYPES, workload_files
from mockengine.run import Registered, Run, run_program

# The seed's versions, deployed by every stack before the upgrade (config keys of `images`).
OLD_IMAGES = {
    "prometheus": "prom/prometheus:v2.47.0",
    "alertmanager": "prom/alertmanager:v0.26.0",
    "grafana": "grafana/grafana:10.1.0",
    "loki": "grafana/loki:2.9.0",
    "promtail": "grafana/promtail:2.9.0",
    "jaeger": "jaegertracing/all-in-one:1.50",
    "redisExporter": "oliver006/redis_exporter:v1.55.0",
    "postgresExporter": "quay.io/prometheuscommunity/postgres-exporter:v0.15.0",
    "kafkaExporter": "danielqsj/kafka-exporter:v1.7.0",
    "nginxExporter": "nginx/nginx-prometheus-exporter:0.11.0",
}
# Tools added by the same release (issue 12's collectors): they have no old version to move from.
# The config reloader came with zero-restart config delivery (issue 13).
ADDED_SINCE = {"nodeExporter", "cadvisor", "kubeStateMetrics", "configReloader"}
# The commit that deployed OLD_IMAGES (main before the version upgrade).
RECORDED_FROM = "17af061"
FIXTURES = ROOT / "tests/fixtures/upgrade"
STATE_TYPES = (*STATEFUL, "kubernetes:core/v1:Namespace")
# The highAvailability move (module docstring): tool -> (single-instance claim, claim template).
HA_MOVES = {"prometheus": ("prometheus-data", "template:prometheus-data"),
            "alertmanager": ("alertmanager-data", "template:alertmanager-data")}
HA_RETAINED = ("prometheus-prometheus-data", "alertmanager-alertmanager-data")  # PVC resource names
# QuikApp's namespace, declared since the release that found it missing on a fresh cluster.
APP_NAMESPACE = "app-namespace"

# Where each image keeps its data, unchanged between the old and the new versions (sources in
# docs/UPSTREAM-FACTS.md, "Upgrade from the seed's versions"):
# - prometheus /prometheus (WORKDIR, VOLUME, CMD --storage.tsdb.path); the program passes
#   --storage.tsdb.path itself.
# - alertmanager /alertmanager (VOLUME, --storage.path).
# - grafana /var/lib/grafana: the image's GF_PATHS_DATA, which the program leaves alone.
# - loki /loki (mkdir /loki, uid 10001).
# - jaeger /tmp (Badger): VOLUME /tmp, uid 10001.
DATA_MOUNTS = {
    "prometheus": "/prometheus",
    "alertmanager": "/alertmanager",
    "grafana": "/var/lib/grafana",
    "loki": "/loki",
}
BADGER_MOUNT = "/tmp"
GRAFANA_IMAGE_DATA = "/var/lib/grafana"


# What a run says about state --------------------------------------------------------------

def state(run: Run) -> dict[str, dict[str, Any]]:
    """Every volume, PVC and namespace: URN → inputs (canonical), protect, retain."""
    snap = snapshot(run)
    # Docker config volumes (`<tool>_config`) hold only what the program copies into them: no state.
    return {r.urn: {"snapshot": snap[r.urn], "protect": r.protect, "retain_on_delete": r.retain_on_delete}
            for r in run.resources if r.type in STATE_TYPES and "-config-volume" not in r.name}


def _workloads(run: Run) -> dict[str, dict[str, Any]]:
    """{workload: {"mounts": {volume or claim: path}, "args": [...], "env": {...}}}, either target."""
    found: dict[str, dict[str, Any]] = {}
    for container in run.of_type("docker:index/container:Container"):
        inputs = plain(container.inputs)
        if not inputs.get("networksAdvanced"):
            continue  # a one-shot config copier, not a workload
        found[inputs["networksAdvanced"][0]["aliases"][0]] = {
            # Data volumes (read-only config volumes hold no data).
            "mounts": {v["volumeName"]: v["containerPath"] for v in inputs.get("volumes", [])
                       if v.get("volumeName") and not v.get("readOnly")},
            "args": inputs.get("command", []),
            "env": dict(e.split("=", 1) for e in inputs.get("envs", [])),
        }
    for workload in (r for t in WORKLOAD_TYPES for r in run.of_type(t)):
        body = plain(workload.inputs)
        pod = body["spec"]["template"]["spec"]
        # PVCs, and host directories (Promtail's positions file lives on the node).
        claims = {v["name"]: v["persistentVolumeClaim"]["claimName"] if "persistentVolumeClaim" in v
                  else "hostPath:" + v["hostPath"]["path"]
                  for v in pod.get("volumes", []) if "persistentVolumeClaim" in v or "hostPath" in v}
        # A StatefulSet's per-replica claims, from its claim templates (the volume is named like them).
        claims.update({t["metadata"]["name"]: "template:" + t["metadata"]["name"]
                       for t in body["spec"].get("volumeClaimTemplates", [])})
        main = pod["containers"][0]
        found[body["metadata"]["name"]] = {
            "mounts": {claims[m["name"]]: m["mountPath"] for m in main.get("volumeMounts", []) if m["name"] in claims},
            "args": main.get("args", []),
            "env": {e["name"]: e.get("value") for e in main.get("env", [])},
        }
    return found


def mounts(run: Run) -> dict[str, dict[str, str]]:
    return {name: w["mounts"] for name, w in sorted(_workloads(run).items()) if w["mounts"]}


def _flag(args: list[str], flag: str) -> str | None:
    return next((a.split("=", 1)[1] for a in args if a.startswith(flag + "=")), None)


def _find(node: Any, key: str) -> list[Any]:
    """Every value under `key` anywhere in a parsed YAML document."""
    if isinstance(node, dict):
        return [v for k, v in node.items() if k == key] + [x for v in node.values() for x in _find(v, key)]
    if isinstance(node, list):
        return [x for v in node for x in _find(v, key)]
    return []


def _config_of(run: Run, workload: str, suffix: str) -> Any:
    files = workload_files(run).get(workload, {})
    texts = [text for path, text in files.items() if path.endswith(suffix)]
    assert len(texts) == 1, f"{workload}: {sorted(files)}"
    return yaml.safe_load(texts[0])


def data_dirs(run: Run) -> dict[str, Any]:
    """Where each stateful tool reads and writes its data, from its flags, env and config file."""
    workloads = _workloads(run)
    loki = _config_of(run, "loki", "loki-config.yml")
    dirs: dict[str, Any] = {
        "prometheus": _flag(workloads["prometheus"]["args"], "--storage.tsdb.path"),
        "alertmanager": _flag(workloads["alertmanager"]["args"], "--storage.path"),
        "grafana": workloads["grafana"]["env"].get("GF_PATHS_DATA") or GRAFANA_IMAGE_DATA,
        "loki": {
            "path_prefix": loki["common"]["path_prefix"],
            "wal": loki["ingester"]["wal"]["dir"],
            "tsdb_index": loki["storage_config"]["tsdb_shipper"]["active_index_directory"],
            "tsdb_cache": loki["storage_config"]["tsdb_shipper"]["cache_location"],
            "chunks": loki["storage_config"]["filesystem"]["directory"],
            "compactor": loki["compactor"]["working_directory"],
        },
        "promtail_positions": _find(_config_of(run, "promtail", "promtail-config.yml"), "positions")[0]["filename"],
    }
    jaeger = workloads["jaeger"]
    if "BADGER_DIRECTORY_KEY" in jaeger["env"]:  # Jaeger v1: environment variables
        dirs["jaeger_badger"] = {"keys": jaeger["env"]["BADGER_DIRECTORY_KEY"],
                                 "values": jaeger["env"]["BADGER_DIRECTORY_VALUE"]}
    else:  # Jaeger v2: the badger backend's `directories` in its config file
        found = [d for d in _find(_config_of(run, "jaeger", ".yaml"), "directories") if "keys" in d] \
            if any(p.endswith(".yaml") for p in workload_files(run).get("jaeger", {})) else []
        if found:
            dirs["jaeger_badger"] = {"keys": found[0]["keys"], "values": found[0]["values"]}
    return dirs


def record(program: Path) -> dict[str, dict[str, Any]]:
    """What the fixture holds for each stack: the deployed release's state, mounts and data dirs."""
    recorded = {}
    for stack in STACKS:
        run = run_program(stack, program=program)
        recorded[stack] = {"state": state(run), "mounts": mounts(run), "data_dirs": data_dirs(run)}
    return recorded


# The move from the old images to the new ---------------------------------------------------

_OLD_RUNS: dict[str, Run] = {}


def _old(stack: str) -> Run:
    """The stack deploying OLD_IMAGES (cached: runs are read-only)."""
    if stack not in _OLD_RUNS:
        _OLD_RUNS[stack] = run_with(stack, {"images": OLD_IMAGES})
    return _OLD_RUNS[stack]


def _images_deployed(run: Run) -> set[str]:
    names = {plain(r.inputs)["name"] for r in run.of_type("docker:index/remoteImage:RemoteImage")}
    for workload in (r for t in WORKLOAD_TYPES for r in run.of_type(t)):
        names |= {c["image"] for c in plain(workload.inputs)["spec"]["template"]["spec"]["containers"]}
    return names


def test_every_image_moves() -> None:
    """The comparison below is a real upgrade: each tool's image differs between the two runs."""
    new = Images().model_dump(by_alias=True)
    assert new.keys() == OLD_IMAGES.keys() | ADDED_SINCE, "OLD_IMAGES must name every image of the table"
    assert all(new[key] != OLD_IMAGES[key] for key in OLD_IMAGES)


@pytest.mark.parametrize("stack", STACKS)
def test_the_old_images_are_what_the_old_run_deploys(stack: str) -> None:
    added = {v for k, v in Images().model_dump(by_alias=True).items() if k in ADDED_SINCE}
    old, new = _images_deployed(_old(stack)) - added, _images_deployed(stack_run(stack)) - added
    assert old <= set(OLD_IMAGES.values()) and new <= set(Images().model_dump().values())
    assert old and not old & new


def state_changes(old: Run, new: Run) -> list[str]:
    """Why `pulumi up` from `old` to `new` would touch a volume, PVC or namespace (empty: it would not)."""
    before, after = state(old), state(new)
    problems = [f"{urn}: {'only before' if urn not in after else 'only after'} (replaced)"
                for urn in sorted(before.keys() ^ after.keys())]
    problems += [f"{urn}: inputs or options differ (updated or replaced)"
                 for urn in sorted(before.keys() & after.keys()) if before[urn] != after[urn]]
    return problems


@pytest.mark.parametrize("stack", STACKS)
def test_the_upgrade_keeps_every_volume_pvc_and_the_namespace(stack: str) -> None:
    old, new = _old(stack), stack_run(stack)
    assert state(old), "no stateful resources: nothing was compared"
    assert state_changes(old, new) == []
    # The images do change something (containers, deployments): the comparison is not vacuous.
    moved = changed(old, new)
    assert moved and not moved & set(state(old))


def _volumes_follow_their_image(run: Run) -> Run:
    """`run` as if the program had put each tool's image into its volumes' and claims' labels: a
    classic slip (Docker volume labels are ForceNew, so the volume would be replaced; a PVC's labels
    are updated in place)."""
    images = {tool_of(r.urn): plain(r.inputs)["name"] for r in run.of_type("docker:index/remoteImage:RemoteImage")}
    images |= {tool_of(r.urn): plain(r.inputs)["spec"]["template"]["spec"]["containers"][0]["image"]
               for t in WORKLOAD_TYPES for r in run.of_type(t)}

    def labelled(record: Registered) -> Registered:
        image = images.get(tool_of(record.urn))
        if record.type not in STATEFUL or image is None:
            return record
        inputs = plain(record.inputs)
        if record.type == "docker:index/volume:Volume":
            inputs["labels"] = [*inputs.get("labels", []), {"label": "version", "value": image}]
        else:
            inputs["metadata"].setdefault("labels", {})["version"] = image.rsplit(":", 1)[1]
        return dataclasses.replace(record, inputs=inputs)

    slipped = dataclasses.replace(run, resources=[labelled(r) for r in run.resources])
    assert state(slipped) != state(run), "no volume or claim of a tool with an image: nothing was labelled"
    return slipped


@pytest.mark.parametrize("stack", ["dev", "staging"])
def test_a_volume_that_follows_the_image_is_caught(stack: str) -> None:
    assert state_changes(_volumes_follow_their_image(_old(stack)), _volumes_follow_their_image(stack_run(stack)))


@pytest.mark.parametrize("stack", STACKS)
def test_every_tool_finds_its_data_where_the_old_version_left_it(stack: str) -> None:
    old, new = _old(stack), stack_run(stack)
    assert mounts(old) == mounts(new)
    assert data_dirs(old) == data_dirs(new)
    _data_is_on_its_volume(new)


def _data_is_on_its_volume(run: Run) -> None:
    """Each data directory lies on the tool's volume, at the path the upstream images use."""
    on_volume = {tool: set(paths.values()) for tool, paths in mounts(run).items()}
    dirs = data_dirs(run)
    for tool, path in DATA_MOUNTS.items():
        assert path in on_volume[tool], f"{tool}: its volume is not mounted at {path}"
    assert dirs["prometheus"] == DATA_MOUNTS["prometheus"]
    assert dirs["alertmanager"] == DATA_MOUNTS["alertmanager"]
    assert dirs["grafana"] == DATA_MOUNTS["grafana"]
    assert all(d == "/loki" or d.startswith("/loki/") for d in dirs["loki"].values()), dirs["loki"]
    if "jaeger_badger" in dirs:
        assert BADGER_MOUNT in on_volume["jaeger"]
        assert all(d.startswith(BADGER_MOUNT + "/") for d in dirs["jaeger_badger"].values())


# Against the release that deployed the old versions ----------------------------------------

def _recorded(stack: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"deployed-{stack}.json").read_text(encoding="utf-8"))
    return data


def _ha(stack: str) -> bool:
    from components.settings import parse_settings
    from mockengine.stand_ins import with_secrets

    return parse_settings(*with_secrets(stack_config(stack))).ha


def _expected_state(stack: str, ha: bool | None = None) -> dict[str, Any]:
    """The recorded state, with the documented changes since: on highAvailability stacks the
    single-instance PVCs of Prometheus and Alertmanager are retained on delete (same URN, same
    inputs); on Kubernetes the stack's namespace carries Pod Security labels (an update of its
    labels, never a replacement: docs/UPGRADING.md), and QuikApp's namespace is declared
    (APP_NAMESPACE: a new resource, adopted where it exists, left out here)."""
    expected: dict[str, Any] = json.loads(json.dumps(_recorded(stack)["state"]))
    for urn, entry in expected.items():
        if (_ha(stack) if ha is None else ha) and urn.rsplit("::", 1)[1] in HA_RETAINED:
            entry["retain_on_delete"] = True
        if urn.endswith("kubernetes:core/v1:Namespace::namespace"):
            snap = json.loads(entry["snapshot"])
            snap["inputs"]["metadata"]["labels"].update(POD_SECURITY_LABELS)
            entry["snapshot"] = json.dumps(snap, sort_keys=True, default=str)
    return expected


def _state_since(stack: str, run: Run) -> dict[str, Any]:
    """The run's state without what this release adds (APP_NAMESPACE), to compare with the record."""
    return {urn: entry for urn, entry in state(run).items() if urn.rsplit("::", 1)[1] != APP_NAMESPACE}


def _expected_mounts(stack: str) -> dict[str, dict[str, str]]:
    """The recorded mounts, with the highAvailability move: the same path on each replica's own claim."""
    expected: dict[str, dict[str, str]] = json.loads(json.dumps(_recorded(stack)["mounts"]))
    if _ha(stack):
        for tool, (claim, template) in HA_MOVES.items():
            expected[tool] = {template if k == claim else k: v for k, v in expected[tool].items()}
    return expected


@pytest.mark.parametrize("stack", STACKS)
def test_the_new_release_keeps_the_deployed_releases_volumes(stack: str) -> None:
    recorded = _recorded(stack)
    assert recorded["recorded_from"] == RECORDED_FROM
    assert recorded["state"] and _state_since(stack, stack_run(stack)) == _expected_state(stack)
    if stack != "dev":
        assert APP_NAMESPACE in {urn.rsplit("::", 1)[1] for urn in state(stack_run(stack))}
    # The single-instance layout (highAvailability off) is still exactly the recorded one.
    if _ha(stack):
        single = run_with(stack, {"highAvailability": False})
        assert _state_since(stack, single) == _expected_state(stack, ha=False)


@pytest.mark.parametrize("stack", STACKS)
def test_the_new_release_reads_the_deployed_releases_data_dirs(stack: str) -> None:
    recorded, run = _recorded(stack), stack_run(stack)
    # Tools added since (the collectors) have nothing to find; every recorded one must match.
    expected = _expected_mounts(stack)
    assert {k: v for k, v in mounts(run).items() if k in expected} == expected
    assert data_dirs(run) == recorded["data_dirs"]
    if _ha(stack):
        single = run_with(stack, {"highAvailability": False})
        assert {k: v for k, v in mounts(single).items() if k in recorded["mounts"]} == recorded["mounts"]


def test_the_ha_move_is_only_the_documented_one() -> None:
    """HA_MOVES and HA_RETAINED name exactly what differs, and only on highAvailability stacks."""
    assert not _ha("dev") and _ha("staging") and _ha("prod")
    for stack in ("staging", "prod"):
        recorded = _recorded(stack)
        moved = {tool for tool, paths in mounts(stack_run(stack)).items() if paths != recorded["mounts"].get(tool)}
        assert moved & set(recorded["mounts"]) == set(HA_MOVES)
        differs = {urn.rsplit("::", 1)[1] for urn, entry in _state_since(stack, stack_run(stack)).items()
                   if entry != recorded["state"][urn]}
        # prod retained them already; the namespace's Pod Security labels are the other documented change.
        assert differs == {"namespace"} | (set() if stack == "prod" else set(HA_RETAINED))


def _data_moved(run: Run, workload: str, flag: str, new: str) -> Run:
    """`run` (a Kubernetes stack) as if `workload` kept its data at `new`: the flag naming its data
    directory and the data volume's mount say so, as a changed data directory in its component would."""
    def moved(record: Registered) -> Registered:
        if record.type not in WORKLOAD_TYPES or record.name != workload:
            return record
        body = plain(record.inputs)
        main = body["spec"]["template"]["spec"]["containers"][0]
        old = _flag(main["args"], flag)
        assert old is not None, f"{workload}: no {flag}"
        main["args"] = [f"{flag}={new}" if a == f"{flag}={old}" else a for a in main["args"]]
        for mount in main.get("volumeMounts", []):
            mount["mountPath"] = new if mount["mountPath"] == old else mount["mountPath"]
        return dataclasses.replace(record, inputs=body)

    return dataclasses.replace(run, resources=[moved(r) for r in run.resources])


def test_a_moved_data_dir_is_caught() -> None:
    """The comparisons above fail when a tool's data moves (here Prometheus' TSDB path)."""
    run = _data_moved(stack_run("staging"), "prometheus", "--storage.tsdb.path", "/prometheus/data")
    assert data_dirs(run) != _recorded("staging")["data_dirs"]
    assert mounts(run) != _recorded("staging")["mounts"]


def _write_fixtures(program: Path) -> None:
    FIXTURES.mkdir(parents=True, exist_ok=True)
    for stack, recorded in record(program).items():
        path = FIXTURES / f"deployed-{stack}.json"
        path.write_text(json.dumps({"recorded_from": RECORDED_FROM, **recorded}, indent=1, sort_keys=True) + "\n",
                        encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "record":
        sys.exit(f"usage: {sys.argv[0]} record <checkout of {RECORDED_FROM}>")
    _write_fixtures(Path(sys.argv[2]).resolve())
