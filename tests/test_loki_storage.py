"""Loki on S3-compatible object storage (loki.storage: s3): the rendered config, checked key by key
against Loki's own config structs at the pinned tag, the schema periods an existing stack moves
through, the secret key's path (env var + -config.expand-env) and the one-line errors.

The project runs no Loki binary (github.com/grafana/loki/v3 is AGPL-3.0-only and nothing AGPL is
built or linked here, scripts/upstream-tools.sh; no package registry ships the binary):
docs/TESTING.md says so. The key check is what stands in for `loki -verify-config`: every key the
renderer writes must be one Loki's strict YAML decoding accepts.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.render.loki import BASE_CONFIG, SECRET_KEY_ENV, render_loki_config
from components.settings import Settings, SettingsError, parse_settings
from components.settings.model import LOKI_FIRST_PERIOD
from mockengine.manifests import manifest, without_secrets
from mockengine.program import ROOT, STACKS, stack_config
from mockengine.rendered import workload_files
from mockengine.run import SECRET_SIG, run_program
from mockengine.stand_ins import SENTINELS, with_secrets

KEYS_FILE = ROOT / "tests" / "fixtures" / "loki" / "config-keys-v3.7.6.json"
MIRROR = Path("/work/.mirror/grafana+loki/repo")
BASE = {"target": "docker", "grafana": {"adminPassword": "s3cret-pass"}, "exporters": {"postgres": {"enabled": False}}}
KEY = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"  # AWS's documented example secret key
MINIO = {"since": "2027-02-01", "bucket": "quikapp-logs", "endpoint": "minio:9000",
         "accessKeyId": "AKIAIOSFODNN7EXAMPLE", "secretAccessKey": KEY, "s3ForcePathStyle": True, "insecure": True}
S3_SENTINEL = SENTINELS[("loki", "s3", "secretAccessKey")]


def settings_with(**loki: Any) -> Settings:
    return parse_settings({**BASE, "loki": loki}, {"grafana", "loki"})


def config_of(settings: Settings) -> dict[str, Any]:
    return dict(yaml.safe_load(render_loki_config(settings)))


UPGRADED = {"v12Until": "2027-01-01"}  # a stack that ran Loki 2.9 (docs/UPGRADING.md, "Loki")
VARIANTS = {
    "filesystem": {},
    "filesystem-upgraded": UPGRADED,
    "minio": {"storage": "s3", "s3": MINIO},
    "minio-upgraded": {**UPGRADED, "storage": "s3", "s3": MINIO},
    "aws-iam-role": {"storage": "s3", "s3": {"since": "2027-03-01", "bucket": "quikapp-logs", "region": "eu-west-1"}},
}


# --- every rendered key is one Loki v3.7.6 accepts ----------------------------------------------------


def unknown_keys(config: dict[str, Any], sections: dict[str, Any]) -> list[str]:
    """Keys of `config` that Loki's config struct for their section does not have, and sections
    with no struct on record (both would make Loki's strict YAML decoding refuse the file)."""
    problems: list[str] = []

    def walk(node: Any, section: str) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item, f"{section}[]")
            return
        if not isinstance(node, dict):
            return
        if section not in sections:
            problems.append(f"{section or '(top)'}: no Loki struct on record")
            return
        allowed = set(sections[section]["keys"])
        for key, value in node.items():
            if key not in allowed:
                problems.append(f"{section + '.' if section else ''}{key}: not a key of {sections[section]['source']}")
            else:
                walk(value, f"{section}.{key}" if section else key)

    walk(config, "")
    return problems


def loki_sections() -> dict[str, Any]:
    return dict(json.loads(KEYS_FILE.read_text(encoding="utf-8"))["sections"])


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_rendered_key_is_a_key_of_lokis_config_structs(variant: str) -> None:
    assert unknown_keys(config_of(settings_with(**VARIANTS[variant])), loki_sections()) == []


@pytest.mark.parametrize("stack", STACKS)
def test_every_stacks_loki_config_has_only_known_keys(stack: str) -> None:
    settings = parse_settings(*with_secrets(stack_config(stack)))
    assert unknown_keys(config_of(settings), loki_sections()) == []


def test_the_key_check_catches_a_misspelt_or_unmapped_key() -> None:
    """The check can fail: Loki spells it `s3forcepathstyle` (no yaml tag, yaml.v2 lowercases)."""
    config = config_of(settings_with(**VARIANTS["minio"]))
    config["storage_config"]["aws"]["s3_force_path_style"] = True
    config["compactor"]["delete_request_stor"] = "s3"
    config["storage_config"]["aws"]["http_config"] = {"timeout": "1m"}  # a section with no struct on record
    assert unknown_keys(config, loki_sections()) == [
        "storage_config.aws.s3_force_path_style: not a key of grafana/loki@v3.7.6 "
        "pkg/storage/chunk/client/aws/dynamodb_storage_client.go StorageConfig",
        "storage_config.aws.http_config: no Loki struct on record",
        "compactor.delete_request_stor: not a key of grafana/loki@v3.7.6 pkg/compactor/config.go Config",
    ]


def test_the_recorded_keys_are_what_the_loki_source_says() -> None:
    """tests/fixtures/loki/config-keys-v3.7.6.json is regenerated from a grafana/loki clone and
    compared (where one is at MIRROR; CI has none and relies on the committed file)."""
    if not (MIRROR / "HEAD").exists():
        pytest.skip(f"no grafana/loki mirror at {MIRROR} (a bare clone of grafana/loki)")
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "loki-config-keys.py"), "--check",
                             "--repo", str(MIRROR)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


# --- schema periods: the days already written stay where they are --------------------------------------


def base_periods() -> list[dict[str, Any]]:
    return list(yaml.safe_load(BASE_CONFIG.read_text(encoding="utf-8"))["schema_config"]["configs"])


def upgraded_periods() -> list[dict[str, Any]]:
    """What an upgraded stack (UPGRADED) has on the volume: v12 as Loki 2.9 wrote, then v13."""
    (v13,) = base_periods()
    return [{**v13, "schema": "v12"}, {**v13, "from": date(2027, 1, 1)}]


def test_the_first_period_constant_is_the_base_configs_first_period() -> None:
    assert str(base_periods()[0]["from"]) == LOKI_FIRST_PERIOD


@pytest.mark.parametrize(("since", "kept"), [
    ("2026-12-15", 1),  # before the v13 filesystem day: that period was never in force and gives way
    ("2027-01-01", 1),  # on it: same
    ("2027-02-01", 2),  # after it: v12 and v13 on the volume stay, the bucket follows
])
def test_an_s3_period_follows_the_periods_already_in_force(since: str, kept: int) -> None:
    periods = config_of(settings_with(**UPGRADED, storage="s3", s3={**MINIO, "since": since})
                        )["schema_config"]["configs"]
    assert periods[:kept] == upgraded_periods()[:kept]  # entry for entry as deployed
    assert periods[kept:] == [{"from": date.fromisoformat(since), "store": "tsdb", "object_store": "s3",
                               "schema": "v13", "index": {"prefix": "index_", "period": "24h"}}]
    assert all(p["object_store"] == "filesystem" for p in periods[:kept])


def test_a_new_stack_on_s3_keeps_its_volume_period_until_since() -> None:
    """A new stack's one v13 period on the volume, then the bucket from `since` (with `since` on or
    before the first deploy day nothing is ever written to the volume's period)."""
    periods = config_of(settings_with(**VARIANTS["minio"]))["schema_config"]["configs"]
    assert periods == [*base_periods(), {"from": date(2027, 2, 1), "store": "tsdb", "object_store": "s3",
                                         "schema": "v13", "index": {"prefix": "index_", "period": "24h"}}]


def test_filesystem_stays_exactly_as_before() -> None:
    """The default renders no object store, no env reference and the filesystem delete-request store."""
    config = config_of(settings_with())
    assert "aws" not in config["storage_config"]
    assert config["schema_config"]["configs"] == base_periods()
    assert config["compactor"]["delete_request_store"] == "filesystem"
    assert "$" not in render_loki_config(settings_with())


def test_s3_storage_and_the_compactors_stores() -> None:
    config = config_of(settings_with(**VARIANTS["minio"]))
    assert config["storage_config"]["aws"] == {
        "bucketnames": "quikapp-logs", "region": "us-east-1", "endpoint": "minio:9000",
        "access_key_id": "AKIAIOSFODNN7EXAMPLE", "secret_access_key": f"${{{SECRET_KEY_ENV}}}",
        "s3forcepathstyle": True, "insecure": True}
    # The old days are still read from (and expired on) the volume.
    assert config["storage_config"]["filesystem"] == {"directory": "/loki/chunks"}
    # Retention needs a delete-request store; it lives with the chunks.
    assert config["compactor"]["delete_request_store"] == "s3"
    assert config["compactor"]["retention_enabled"] is True
    assert config["limits_config"]["retention_period"] == "30d"


def test_without_keys_no_credentials_are_rendered() -> None:
    aws = config_of(settings_with(**VARIANTS["aws-iam-role"]))["storage_config"]["aws"]
    assert "access_key_id" not in aws and "secret_access_key" not in aws
    assert aws["region"] == "eu-west-1" and "endpoint" not in aws


# --- the secret key: a reference in the file, the value in a secret env var --------------------------


def envsubst(text: str, env: dict[str, str]) -> str:
    """What -config.expand-env does to the file (drone/envsubst: `${VAR}` and `$VAR`, unset = empty)."""
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: env.get(m.group(1) or m.group(2), ""), text)


@pytest.mark.parametrize("key", [KEY, "minioadmin", "a-b_c.d~e=f+g/h", "-starts-with-dash", "12345678"])
def test_the_substituted_key_reads_back_unchanged(key: str) -> None:
    settings = settings_with(storage="s3", s3={**MINIO, "secretAccessKey": key})
    text = render_loki_config(settings)
    assert text.count("$") == 1  # nothing else in the file is touched by the substitution
    expanded = yaml.safe_load(envsubst(text, {SECRET_KEY_ENV: key}))
    assert str(expanded["storage_config"]["aws"]["secret_access_key"]) == key
    assert key not in text


def loki_container_env(stack: str, loki: dict[str, Any]) -> tuple[list[str], Any, dict[str, str]]:
    """(args, the secret env as sent, rendered files) of Loki on `stack` with `loki` settings."""
    values = stack_config(stack)
    values["loki"] = {**values.get("loki", {}), **loki}
    run = run_program(stack, *with_secrets(values))
    files = workload_files(run)["loki"]
    if stack_config(stack)["target"] == "docker":
        container = run.one("docker:index/container:Container", "loki")
        return list(container.inputs["command"]), container.inputs.get("envs"), files
    deployment = manifest(run.one("kubernetes:apps/v1:Deployment", "loki"))
    spec = deployment["spec"]["template"]["spec"]["containers"][0]
    return list(spec["args"]), spec.get("env"), files


@pytest.mark.parametrize("stack", STACKS)
def test_the_key_reaches_loki_as_a_secret_env_var_and_never_the_file(stack: str) -> None:
    s3 = {k: v for k, v in MINIO.items() if k != "secretAccessKey"}
    args, env, files = loki_container_env(stack, {"storage": "s3", "s3": s3})
    assert "-config.expand-env=true" in args
    config = files["/etc/loki/loki-config.yml"]
    assert f"secret_access_key: ${{{SECRET_KEY_ENV}}}" in config and S3_SENTINEL not in config
    sent = json.dumps(env)
    if stack_config(stack)["target"] == "docker":
        # Docker: the envs as one secret list (NAME=value), never plain.
        assert S3_SENTINEL in sent and SECRET_SIG in sent and S3_SENTINEL not in json.dumps(without_secrets(env))
    else:
        ref = next(e for e in env if e["name"] == SECRET_KEY_ENV)
        assert "secretKeyRef" in ref["valueFrom"] and S3_SENTINEL not in sent


@pytest.mark.parametrize("stack", STACKS)
def test_without_a_secret_key_loki_args_stay_as_before(stack: str) -> None:
    args, _, _ = loki_container_env(stack, {"storage": "s3", "s3": VARIANTS["aws-iam-role"]["s3"]})
    assert args == ["-config.file=/etc/loki/loki-config.yml"]


# --- one-line errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("loki", "secret", "line"), [
    ({"storage": "s3"}, False,
     "quikapp-monitoring:loki: {'storage': 's3'} is not valid "
     "(allowed: loki.s3 set exactly when loki.storage is s3)"),
    ({"storage": "glacier"}, False,
     "quikapp-monitoring:loki.storage: 'glacier' is not valid (allowed: 'filesystem' or 's3')"),
    ({"storage": "s3", "s3": {**MINIO, "since": "2027-2-1"}}, True,
     "quikapp-monitoring:loki.s3.since: '2027-2-1' is not valid "
     "(allowed: a day as YYYY-MM-DD (UTC), such as 2027-02-01)"),
    ({"storage": "s3", "s3": {**MINIO, "since": "2023-06-01"}}, True,
     "quikapp-monitoring:loki.s3.since: '2023-06-01' is not valid (allowed: a day as YYYY-MM-DD after 2024-01-01 "
     "(Loki's first schema period))"),
    ({"storage": "s3", "s3": {**MINIO, "bucket": "Quikapp_Logs"}}, True,
     "quikapp-monitoring:loki.s3.bucket: 'Quikapp_Logs' is not valid "
     "(allowed: text matching ^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$)"),
    ({"storage": "s3", "s3": {**MINIO, "secretAccessKey": "has: colon"}}, True,
     "quikapp-monitoring:loki.s3: [secret] is not valid (allowed: a secretAccessKey of 8 to 128 letters, digits and "
     "/ + = . _ ~ -)"),
    ({"storage": "s3", "s3": {k: v for k, v in MINIO.items() if k != "accessKeyId"}}, True,
     "quikapp-monitoring:loki.s3: [secret] is not valid "
     "(allowed: an accessKeyId with the secretAccessKey (both or neither))"),
    ({"storage": "s3", "s3": {k: v for k, v in MINIO.items() if k != "secretAccessKey"}}, False,
     "quikapp-monitoring:loki.s3.secretAccessKey: required secret, not set (set it with "
     "`pulumi config set --stack <stack> --secret --path loki.s3.secretAccessKey`, which prompts for the value "
     "without echo or reads it from stdin)"),
    ({"storage": "s3", "s3": MINIO}, False,
     "quikapp-monitoring:loki.s3.secretAccessKey: [secret] is stored in plain text (allowed: only a secret; set it "
     "again with `pulumi config set --stack <stack> --secret --path loki.s3.secretAccessKey`, which prompts for "
     "the value without echo or reads it from stdin)"),
], ids=["s3-missing", "unknown-storage", "since-format", "since-too-early", "bucket", "key-charset", "key-without-id",
        "key-missing", "key-plaintext"])
def test_bad_storage_settings_are_one_line(loki: dict[str, Any], secret: bool, line: str) -> None:
    with pytest.raises(SettingsError) as info:
        parse_settings({**BASE, "loki": loki}, {"grafana", "loki"} if secret else {"grafana"})
    assert str(info.value) == f"invalid stack configuration: {line}"


def test_a_plaintext_key_in_a_bad_object_is_not_repeated() -> None:
    """A rule across fields fails on the whole object: a key stored in plain text is not echoed."""
    with pytest.raises(SettingsError) as info:
        parse_settings({**BASE, "loki": {"storage": "s3", "s3": {**MINIO, "accessKeyId": None}}}, {"grafana"})
    assert KEY not in str(info.value) and "[secret]" in str(info.value)
