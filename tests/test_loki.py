"""Loki: the rendered config (seed parity, real retention, paths on the volume) and its resources on every stack."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from components.render.loki import (
    CONFIG_FILE,
    RUNTIME_CONFIG_FILE,
    render_loki_config,
    render_loki_runtime_config,
)
from components.settings import Settings, SettingsError, parse_settings
from conftest import stack_run
from mockengine.manifests import manifest, plain
from mockengine.program import STACKS, stack_config
from mockengine.rendered import workload_files
from mockengine.run import Run
from mockengine.stand_ins import with_secrets

SEED = Path(__file__).parent / "fixtures" / "seed" / "loki-config.yml"
BASE = {"target": "docker", "grafana": {"adminPassword": "s3cret-pass"}, "exporters": {"postgres": {"enabled": False}}}

# Seed keys changed on purpose (docs/CONFIGURATION.md § Loki lists why); every other seed leaf is kept.
CHANGED = {
    ("schema_config", "configs", 0, "store"): "tsdb",  # boltdb-shipper is legacy since Loki 2.8
    ("schema_config", "configs", 0, "schema"): "v12",  # the schema 2.9 documents for tsdb
}
# The schema period Loki 2.9 ran with, as deployed: Loki 3 must read the chunks written under it.
DEPLOYED_PERIOD = {"from": date(2024, 1, 1), "store": "tsdb", "object_store": "filesystem", "schema": "v12",
                   "index": {"prefix": "index_", "period": "24h"}}
# The boltdb-shipper directories go with boltdb-shipper; the tsdb shipper's replace them.
REPLACED = {
    ("storage_config", "boltdb_shipper", "active_index_directory"): ("storage_config", "tsdb_shipper",
                                                                     "active_index_directory"),
    ("storage_config", "boltdb_shipper", "cache_location"): ("storage_config", "tsdb_shipper", "cache_location"),
}


def settings_with(**loki: Any) -> Settings:
    return parse_settings({**BASE, "loki": loki}, {"grafana"})


# A stack that ran Loki 2.9 (every stack file here: docs/UPGRADING.md, "Loki").
UPGRADED = {"v12Until": "2027-01-01"}


def config_of(settings: Settings) -> dict[str, Any]:
    return yaml.safe_load(render_loki_config(settings))


def leaves(node: Any, path: tuple[Any, ...] = ()) -> dict[tuple[Any, ...], Any]:
    if isinstance(node, dict):
        return {k: v for key, value in node.items() for k, v in leaves(value, (*path, key)).items()}
    if isinstance(node, list):
        return {k: v for i, value in enumerate(node) for k, v in leaves(value, (*path, i)).items()}
    return {path: node}


def at(node: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        node = node[part]
    return node


DOCKER_STACKS = [s for s in STACKS if stack_config(s)["target"] == "docker"]
KUBERNETES_STACKS = [s for s in STACKS if stack_config(s)["target"] == "kubernetes"]


def stack_settings(stack: str) -> Settings:
    return parse_settings(*with_secrets(stack_config(stack)))


def children(run: Run, type_: str) -> list[Any]:
    component = run.one(type_, "loki")
    return [r for r in run.resources if r.parent == component.urn]


# --- rendering --------------------------------------------------------------------------------


def test_every_seed_key_is_kept_unless_deliberately_changed() -> None:
    seed = leaves(yaml.safe_load(SEED.read_text(encoding="utf-8")))
    rendered = config_of(settings_with(**UPGRADED))  # the seed's deployments run on
    for path, value in seed.items():
        if path in CHANGED:
            assert at(rendered, path) == CHANGED[path], path
        elif path in REPLACED:
            assert "boltdb_shipper" not in rendered["storage_config"]
            assert at(rendered, REPLACED[path]).startswith("/loki/"), path
        else:
            assert at(rendered, path) == value, path


def test_compactor_applies_retention_on_the_volume() -> None:
    compactor = config_of(settings_with())["compactor"]
    assert compactor["retention_enabled"] is True
    assert compactor["working_directory"].startswith("/loki/")
    # Loki 3 requires delete_request_store when retention is on; it removed `shared_store`, and an
    # unknown key stops Loki at start (grafana/loki@v3.7.6 docs/sources/setup/upgrade/_index.md).
    assert compactor["delete_request_store"] == "filesystem"
    assert not [path for path in leaves(config_of(settings_with())) if "shared_store" in path]
    assert compactor["retention_delete_delay"] == "2h"


@pytest.mark.parametrize("retention", ["24h", "7d", "90d", "1w2d", "1y"])
def test_retention_and_ingestion_limits_follow_the_settings(retention: str) -> None:
    # The stack's limits are the single tenant's runtime overrides (re-read without a restart);
    # the main config names that file and keeps limits_config's defaults.
    settings = settings_with(retention=retention, ingestionRateMb=4, ingestionBurstSizeMb=12)
    runtime = yaml.safe_load(render_loki_runtime_config(settings))
    assert runtime == {"overrides": {"fake": {"retention_period": retention, "ingestion_rate_mb": 4,
                                              "ingestion_burst_size_mb": 12}}}
    config = config_of(settings)
    assert config["runtime_config"] == {"file": RUNTIME_CONFIG_FILE, "period": "10s"}
    assert config["compactor"]["retention_enabled"] is True


def test_the_runtime_config_has_only_keys_loki_reads() -> None:
    """Loki decodes the runtime config strictly (grafana/loki@v3.7.6 pkg/loki/runtime_config.go
    loadRuntimeConfig: SetStrict): top-level `overrides`, `configs`, `multi_kv_config`; each tenant's
    overrides are a `Limits` (the keys recorded from the source in tests/fixtures/loki)."""
    import json

    from mockengine.program import ROOT

    limits = set(json.loads((ROOT / "tests/fixtures/loki/config-keys-v3.7.6.json").read_text(encoding="utf-8"))
                 ["sections"]["limits_config"]["keys"])
    runtime = yaml.safe_load(render_loki_runtime_config(settings_with()))
    assert set(runtime) <= {"overrides", "configs", "multi_kv_config"}
    for tenant, overrides in runtime["overrides"].items():
        assert tenant == "fake"  # auth_enabled: false (pkg/loki/modules.go user.InjectOrgID(..., "fake"))
        assert set(overrides) <= limits, set(overrides) - limits


def test_a_limit_change_leaves_the_main_config_alone() -> None:
    """Changing a limit must not touch the file Loki reads only at start (that would restart it)."""
    assert render_loki_config(settings_with(retention="14d")) == render_loki_config(settings_with(retention="90d"))


def test_default_retention_is_the_seeds() -> None:
    assert config_of(settings_with())["limits_config"]["retention_period"] == "30d"


def test_every_directory_is_on_the_volume() -> None:
    config = config_of(settings_with())
    paths = {path: value for path, value in leaves(config).items()
             if isinstance(value, str) and value.startswith("/")}
    assert len(paths) >= 6, paths  # path_prefix, wal, tsdb index and cache, chunks, compactor
    paths.pop(("runtime_config", "file"))  # read, never written
    assert all(value == "/loki" or value.startswith("/loki/") for value in paths.values()), paths
    assert config["common"]["path_prefix"] == "/loki"
    assert config["ingester"]["wal"]["dir"] == "/loki/wal"


def test_single_binary_rings_are_in_memory() -> None:
    config = config_of(settings_with())
    assert config["common"]["ring"]["kvstore"]["store"] == "inmemory"
    assert config["common"]["replication_factor"] == 1
    assert config["auth_enabled"] is False


@pytest.mark.parametrize("loki", [{}, UPGRADED], ids=["new", "upgraded"])
def test_schema_periods_allow_compactor_retention(loki: dict[str, Any]) -> None:
    for period in config_of(settings_with(**loki))["schema_config"]["configs"]:
        assert period["index"]["period"] == "24h"
        assert period["object_store"] == "filesystem"
        assert period["store"] == "tsdb"


def test_a_new_stack_has_one_v13_period_and_structured_metadata_from_its_first_day() -> None:
    """Nothing written before: no v12 period to carry, so v13 (and structured metadata, which needs it)
    from a day before the stack's first (LOKI_FIRST_PERIOD)."""
    from components.settings.model import LOKI_FIRST_PERIOD

    config = config_of(settings_with())
    assert config["schema_config"]["configs"] == [{**DEPLOYED_PERIOD, "schema": "v13",
                                                   "from": date.fromisoformat(LOKI_FIRST_PERIOD)}]
    assert config["limits_config"]["allow_structured_metadata"] is True


@pytest.mark.parametrize("until", ["2027-01-01", "2026-12-07"])
def test_an_upgraded_stack_keeps_its_v12_period_until_its_day(until: str) -> None:
    """Upgrade safety: the 2.9 period stays byte for byte; v13 starts on the stack's day, a day boundary."""
    old, new = config_of(settings_with(v12Until=until))["schema_config"]["configs"]
    assert old == DEPLOYED_PERIOD
    assert new == {**DEPLOYED_PERIOD, "schema": "v13", "from": date.fromisoformat(until)}
    # Loki wants each period to start on a multiple of its 24h index period: a date, not a time.
    assert not isinstance(new["from"], datetime)


def test_structured_metadata_is_off_while_v12_is_active() -> None:
    """Loki 3 refuses to start with structured metadata allowed under an active schema below v13."""
    config = config_of(settings_with(**UPGRADED))
    # Loki 3 defaults it to true: the rendered config must say false explicitly.
    assert config["limits_config"]["allow_structured_metadata"] is False


@pytest.mark.parametrize("stack", STACKS)
def test_the_stack_files_are_upgraded_stacks(stack: str) -> None:
    """dev, staging and prod are running deployments that hold v12 days: each keeps its v12 period
    until 2027-01-01, the day the previous release rendered for v13 (so their config is unchanged)."""
    config = config_of(stack_settings(stack))
    assert [p["schema"] for p in config["schema_config"]["configs"]] == ["v12", "v13"]
    assert config["schema_config"]["configs"][0] == DEPLOYED_PERIOD
    assert config["schema_config"]["configs"][1]["from"] == date(2027, 1, 1)


def test_rendering_is_deterministic() -> None:
    settings = settings_with(retention="14d")
    assert render_loki_config(settings) == render_loki_config(settings)
    assert render_loki_runtime_config(settings) == render_loki_runtime_config(settings)
    assert render_loki_runtime_config(settings) != render_loki_runtime_config(settings_with(retention="15d"))


@pytest.mark.parametrize(("loki", "words"), [
    ({"retention": "12h"}, "at least 24h"),
    ({"retention": "0s"}, "longer than zero"),
    ({"ingestionRateMb": 32, "ingestionBurstSizeMb": 16}, "ingestionBurstSizeMb"),
    ({"retention": "30 days"}, "duration"),
    ({"v12Until": "2027-1-1"}, "YYYY-MM-DD"),
    ({"v12Until": "2023-12-01"}, "after 2024-01-01"),
])
def test_bad_settings_fail_with_one_line(loki: dict[str, Any], words: str) -> None:
    with pytest.raises(SettingsError) as caught:
        parse_settings({**BASE, "loki": loki}, {"grafana"})
    message = str(caught.value)
    assert "quikapp-monitoring:loki" in message and words in message


# --- resources on every stack -----------------------------------------------------------------


def test_loki_receives_the_rendered_config(run: Run) -> None:
    files = workload_files(run)["loki"]
    settings = stack_settings(run.stack)
    assert files == {CONFIG_FILE: render_loki_config(settings),
                     RUNTIME_CONFIG_FILE: render_loki_runtime_config(settings)}


def test_loki_outputs(run: Run) -> None:
    if run.stack in DOCKER_STACKS:
        assert run.outputs["lokiPushUrl"] == "http://loki:3100/loki/api/v1/push"
        assert run.outputs["lokiUrl"] == "http://127.0.0.1:3100"
    else:
        assert run.outputs["lokiPushUrl"] == "http://loki.monitoring.svc.cluster.local:3100/loki/api/v1/push"
        assert run.outputs["lokiUrl"] == "http://localhost:3100"  # through `kubectl port-forward`


@pytest.mark.parametrize("stack", DOCKER_STACKS)
def test_docker_loki_container(stack: str) -> None:
    run = stack_run(stack)
    mine = children(run, "quikapp:monitoring:Loki")
    # Loki, its image and data volume; the runtime config's volume, and its copier with the busybox
    # image that copies it (Loki's image has no shell).
    assert sorted((r.type, r.name) for r in mine) == [
        ("docker:index/container:Container", "loki"), ("docker:index/container:Container", "loki-config"),
        ("docker:index/remoteImage:RemoteImage", "loki-config-image"),
        ("docker:index/remoteImage:RemoteImage", "loki-image"),
        ("docker:index/volume:Volume", "loki-config-volume"), ("docker:index/volume:Volume", "loki-loki-data")]
    image = plain(run.one("docker:index/remoteImage:RemoteImage", "loki-image").inputs)
    assert image["name"] == stack_settings(stack).images.loki
    copier_image = plain(run.one("docker:index/remoteImage:RemoteImage", "loki-config-image").inputs)
    assert copier_image["name"] == stack_settings(stack).images.config_reloader
    volume = plain(run.one("docker:index/volume:Volume", "loki-loki-data").inputs)
    assert volume["name"] == "loki_data"
    container = plain(run.one("docker:index/container:Container", "loki").inputs)
    assert container["name"] == "quikapp-loki"
    assert container["command"] == ["-config.file=/etc/loki/loki-config.yml"]
    assert container["ports"] == [{"internal": 3100, "external": 3100, "ip": "127.0.0.1", "protocol": "tcp"}]
    assert container["volumes"] == [{"volumeName": "loki_data", "containerPath": "/loki"},
                                    {"volumeName": "loki_config", "containerPath": "/etc/loki/runtime-config",
                                     "readOnly": True}]
    assert [u["file"] for u in container["uploads"]] == [CONFIG_FILE]  # read at start: an upload
    # Distroless since 3.5.8 (no shell, no wget): the binary's own `-health` asks /ready.
    assert container["healthcheck"]["tests"] == ["CMD", "/usr/bin/loki", "-health",
                                                 "-health.url=http://127.0.0.1:3100/ready"]
    assert container["networksAdvanced"][0]["aliases"] == ["loki"]


@pytest.mark.parametrize("stack", KUBERNETES_STACKS)
def test_kubernetes_loki_objects(stack: str) -> None:
    run = stack_run(stack)
    objects = {(m["kind"], m["metadata"].get("name", "")): m
               for m in (manifest(r) for r in children(run, "quikapp:monitoring:Loki"))}
    kinds = sorted(kind for kind, _ in objects)
    # Two ConfigMaps: loki-config (read at start) and the runtime-config directory's (live).
    assert kinds == ["ConfigMap", "ConfigMap", "Deployment", "NetworkPolicy", "PersistentVolumeClaim", "Service"]
    assert sorted(objects[("ConfigMap", "loki-config")]["data"]) == ["etc_loki_loki-config.yml"]
    assert sorted(objects[("ConfigMap", "loki-live-etc-loki-runtime-config")]["data"]) == ["runtime-config.yml"]
    for obj in objects.values():
        kubernetes_validate.validate(obj, "1.30", strict=True)
    deployment = objects[("Deployment", "loki")]
    assert deployment["spec"]["strategy"]["type"] == "Recreate"
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsUser"] == 10001
    assert pod["securityContext"]["fsGroup"] == 10001
    assert pod["securityContext"]["runAsNonRoot"] is True
    (container,) = pod["containers"]
    assert container["image"] == stack_settings(stack).images.loki
    assert container["args"] == ["-config.file=/etc/loki/loki-config.yml"]
    assert container["readinessProbe"]["httpGet"] == {"path": "/ready", "port": 3100}
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    claims = {v["name"]: v["persistentVolumeClaim"]["claimName"]
              for v in pod["volumes"] if "persistentVolumeClaim" in v}
    assert claims[mounts["/loki"]] == "loki-data"
    settings = stack_settings(run.stack)
    pvc = objects[("PersistentVolumeClaim", "loki-data")]
    assert pvc["spec"]["resources"]["requests"]["storage"] == settings.loki.storage_size
    service = objects[("Service", "loki")]
    assert service["spec"]["type"] == "ClusterIP"
    assert [(p["name"], p["port"]) for p in service["spec"]["ports"]] == [("http", 3100)]


@pytest.mark.parametrize("stack", STACKS)
def test_data_protection_follows_the_stack(stack: str) -> None:
    run = stack_run(stack)
    kind = "docker:index/volume:Volume" if stack == "dev" else "kubernetes:core/v1:PersistentVolumeClaim"
    (data,) = [r for r in children(run, "quikapp:monitoring:Loki") if r.type == kind and "config" not in r.name]
    assert data.protect is stack_settings(stack).protect_data
