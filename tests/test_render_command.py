"""`make render` / `make check`: deterministic review output, checked by the upstream tools."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import typing
from pathlib import Path

import pytest
from checkout import checkout, make
from pydantic import BaseModel, SecretStr

from conftest import stack_run
from mockengine.program import ROOT, STACKS
from mockengine.stand_ins import ANY_KEY, PLACEHOLDERS, SENTINELS
from sd_fixture import promtool_with_kubernetes_sd
from tools import require

sys.path.insert(0, str(ROOT / "scripts"))
import render


def _render(out: Path, hash_seed: str) -> None:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    subprocess.run([sys.executable, str(ROOT / "scripts" / "render.py"), "--out", str(out)], check=True, env=env,
                   capture_output=True, text=True, timeout=300)


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    first, second = tmp_path_factory.mktemp("render-a"), tmp_path_factory.mktemp("render-b")
    _render(first, "1")
    _render(second, "4242")
    return first, second


def test_render_is_byte_identical_across_runs_and_hash_seeds(rendered: tuple[Path, Path]) -> None:
    first, second = rendered
    a, b = _tree(first), _tree(second)
    assert a.keys() == b.keys()
    differing = [name for name in a if a[name] != b[name]]
    assert not differing


@pytest.mark.parametrize("stack", STACKS)
def test_render_writes_files_manifests_and_resources(rendered: tuple[Path, Path], stack: str) -> None:
    out = rendered[0] / stack
    assert (out / "prometheus" / "etc" / "prometheus" / "prometheus.yml").is_file()
    assert (out / "prometheus" / "etc" / "prometheus" / "rules" / "alerts.yml").is_file()
    listing = json.loads((out / "resources.json").read_text())
    types = {r["type"] for r in listing["resources"]}
    assert "quikapp:monitoring:Prometheus" in types
    assert all({"type", "name", "parent"} <= r.keys() for r in listing["resources"])
    assert (out / "manifests").is_dir() == (stack != "dev")


def test_render_never_contains_a_real_secret(rendered: tuple[Path, Path]) -> None:
    """make render never reads secrets: placeholders stand in, and no test sentinel leaks in."""
    for content in _tree(rendered[0]).values():
        text = content.decode()
        for sentinel in SENTINELS.values():
            assert sentinel not in text


@pytest.mark.parametrize("stack", STACKS)
def test_check_passes_on_every_stack(rendered: tuple[Path, Path], stack: str, tmp_path: Path) -> None:
    if stack_run(stack).of_type("pulumi:providers:kubernetes"):
        # check.py takes the same upstream build first; Debian's promtool lacks Kubernetes discovery.
        promtool_with_kubernetes_sd(tmp_path)
    require("promtool")
    require("amtool")
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "check.py"), stack, "--out", str(rendered[0])],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "promtool check config" in result.stdout


def test_check_fails_with_the_tools_message(tmp_path: Path, rendered: tuple[Path, Path]) -> None:
    require("promtool")
    broken = tmp_path / "dev"
    for name, content in _tree(rendered[0] / "dev").items():
        (broken / name).parent.mkdir(parents=True, exist_ok=True)
        (broken / name).write_bytes(content)
    rules = broken / "prometheus" / "etc" / "prometheus" / "rules" / "alerts.yml"
    rules.write_text(rules.read_text().replace("expr: up == 0", "expr: up ==== 0"))
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "check.py"), "dev", "--out", str(tmp_path)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    assert "FAILED" in result.stdout and "parse error" in result.stderr


# --- what a newcomer hits: the stack file as `make up` leaves it, and mistakes in it -----------

# Shaped like what `pulumi config set --secret` writes (passphrase provider); never decrypted.
CIPHERTEXT = "v1:Zmk6MkVUQ2U4aHdAUXc=:v1:k0nV9Xq2b3Rt/Lw1:Y2lwaGVydGV4dC1ub3QtYS1zZWNyZXQ="
SALT = "encryptionsalt: v1:9e4XkTfJz0c=:v1:Bz1m0fT5s2Ew7oJq:Ak9rZ3N0dWZmLXNhbHQ=\n"


def _append(tree: Path, stack: str, text: str, *, salt: bool = False) -> None:
    path = tree / f"Pulumi.{stack}.yaml"
    path.write_text((SALT if salt else "") + path.read_text() + text)


def _no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stdout + result.stderr, result.stderr


def test_make_render_and_check_accept_the_secure_values_make_up_writes(tmp_path: Path) -> None:
    """`make up` puts grafana.adminPassword in Pulumi.dev.yaml as `secure:`; render must still work."""
    require("promtool")
    require("amtool")
    tree = checkout(tmp_path)
    _append(tree, "dev", "  quikapp-monitoring:grafana:\n"
                         f"    adminPassword:\n      secure: {CIPHERTEXT}\n"
                         "  quikapp-monitoring:alertmanager:\n    slack:\n      channel: '#alerts'\n"
                         f"      apiUrl:\n        secure: {CIPHERTEXT}\n", salt=True)
    result = make(tree, "check", "STACK=dev")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr.splitlines() == [
        "render dev: quikapp-monitoring:grafana.adminPassword: secure value (not decrypted) rendered as a placeholder",
        "render dev: quikapp-monitoring:alertmanager.slack.apiUrl: secure value (not decrypted) rendered as a "
        "placeholder",
    ]
    out = tree / "build" / "rendered" / "dev"
    alertmanager = (out / "alertmanager" / "etc" / "alertmanager" / "alertmanager.yml").read_text()
    assert "https://redacted.invalid/alertmanager/slack/apiUrl" in alertmanager
    assert all(CIPHERTEXT not in text.decode(errors="replace") for text in _tree(out).values())


@pytest.mark.parametrize("salt", [True, False], ids=["with-encryptionsalt", "without"])
def test_every_secure_value_at_any_depth_becomes_a_placeholder(tmp_path: Path, salt: bool) -> None:
    stack_file = tmp_path / "Pulumi.x.yaml"
    stack_file.write_text((SALT if salt else "") + "config:\n"
                          f"  quikapp-monitoring:target: docker\n"
                          f"  quikapp-monitoring:grafana:\n    adminPassword:\n      secure: {CIPHERTEXT}\n"
                          f"  quikapp-monitoring:jaeger:\n    elasticsearch:\n      password:\n"
                          f"        secure: {CIPHERTEXT}\n"
                          f"  quikapp-monitoring:exporters:\n    kafka:\n      brokers:\n"
                          f"        - secure: {CIPHERTEXT}\n"
                          f"  quikapp-monitoring:topLevel:\n    secure: {CIPHERTEXT}\n"
                          f"  other:token:\n    secure: {CIPHERTEXT}\n")
    config, secret_keys, notes = render.stack_file_config("x", tmp_path)
    assert CIPHERTEXT not in json.dumps(config)
    assert json.loads(config["quikapp-monitoring:grafana"]) == {"adminPassword": "redacted-grafana-admin-password"}
    assert json.loads(config["quikapp-monitoring:jaeger"])["elasticsearch"]["password"] == \
        "redacted-elasticsearch-password"
    assert json.loads(config["quikapp-monitoring:exporters"])["kafka"]["brokers"] == \
        ["redacted-quikapp-monitoring-exporters-kafka-brokers-0"]
    assert config["quikapp-monitoring:topLevel"] == "redacted-quikapp-monitoring-topLevel"
    assert config["other:token"] == "redacted-other-token"
    # As the CLI does: a top-level key holding any secure value is a secret key.
    assert {"quikapp-monitoring:grafana", "quikapp-monitoring:jaeger", "quikapp-monitoring:exporters",
            "quikapp-monitoring:topLevel", "other:token"} <= secret_keys
    said = "secure value (not decrypted) rendered as a placeholder"
    assert [n for n in notes if said in n] == [
        f"quikapp-monitoring:grafana.adminPassword: {said}",
        f"quikapp-monitoring:jaeger.elasticsearch.password: {said}",
        f"quikapp-monitoring:exporters.kafka.brokers[0]: {said}",
        f"quikapp-monitoring:topLevel: {said}",
        f"other:token: {said}",
    ]


def _secret_fields(model: type[BaseModel], path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found: list[tuple[str, ...]] = []
    for name, field in model.model_fields.items():
        here = (*path, field.alias or name)
        if typing.get_origin(field.annotation) is dict:
            here = (*here, ANY_KEY)  # a map of objects (alertmanager.teams): any key
        kinds = (field.annotation, *typing.get_args(field.annotation))
        if SecretStr in kinds:
            found.append(here)
        for kind in kinds:
            if isinstance(kind, type) and issubclass(kind, BaseModel):
                found += _secret_fields(kind, here)
    return found


def test_every_secret_setting_has_a_render_placeholder() -> None:
    """A secure value wherever a secret belongs renders as a value its checker accepts."""
    from components.settings import Settings
    from components.settings.secrets import secret_slots

    # A list's items (prometheus.remoteWrite[i]) have one field per secret: the index is not part of it.
    assert sorted(_secret_fields(Settings)) == sorted({tuple(p for p in k if isinstance(p, str)) for k in PLACEHOLDERS})
    # The walk the loader and `make render` use finds the same secrets (an index there is any item, as a team is).
    assert sorted(slot.path for slot in secret_slots(Settings)) == \
        sorted({tuple(ANY_KEY if isinstance(p, int) else p for p in k) for k in PLACEHOLDERS})


def test_render_fills_exactly_the_secrets_the_settings_require(tmp_path: Path) -> None:
    """`make render` stands in for every secret the stack must hold and its file lacks, by the settings' own
    rule (the one behind "required secret, not set"), and for no other: not an optional one (a bearer token,
    an SMTP password), not one whose condition does not hold (Elasticsearch's password while storage is badger)."""
    from components.settings import parse_config

    (tmp_path / "Pulumi.x.yaml").write_text(
        "config:\n  quikapp-monitoring:target: kubernetes\n"
        "  quikapp-monitoring:prometheus:\n    remoteWrite:\n"
        + "".join(f"      - url: https://rw{i}.example/push\n        username: u{i}\n" for i in range(3))
        + "      - url: https://rw3.example/push\n"
        "  quikapp-monitoring:grafana:\n    database: {type: postgres, host: 'pg:5432', name: g, user: g}\n"
        "  quikapp-monitoring:alertmanager:\n    email: {to: a@b.c, from: d@e.f, smarthost: 'smtp:25'}\n"
        "    teams:\n      payments:\n        webhook: {}\n"
        "  quikapp-monitoring:jaeger:\n    elasticsearch: {username: jaeger}\n"
        "  quikapp-monitoring:loki:\n    storage: s3\n    s3: {since: '2027-02-01', bucket: logs, accessKeyId: AKIA}\n")
    config, secret_keys, notes = render.stack_file_config("x", tmp_path)
    said = "secret not set in Pulumi.x.yaml, rendered as a placeholder"
    assert notes == [f"quikapp-monitoring:{key}: {said}" for key in [
        "alertmanager.teams.payments.webhook.url",
        "exporters.postgres.dsn",
        "grafana.adminPassword",
        "grafana.database.password",
        "loki.s3.secretAccessKey",
        "prometheus.remoteWrite[0].password",
        "prometheus.remoteWrite[1].password",
        "prometheus.remoteWrite[2].password",
    ]]
    # Nothing more is needed: the stack loads as preview would load it with those secrets set.
    settings = parse_config(config, secret_keys, stack="x")
    assert settings.prometheus.remote_write[2].password is not None
    assert settings.prometheus.remote_write[3].bearer_token is None and settings.alertmanager.email is not None
    assert settings.alertmanager.email.auth_password is None and settings.jaeger.elasticsearch.password is None


@pytest.mark.parametrize(("stanza", "lines"), [
    ("  quikapp-monitoring:grafana:\n    adminPassword: hunter2\n",
     ["quikapp-monitoring:grafana.adminPassword: [secret] is stored in plain text (allowed: only a secret; "
      "set it again with `pulumi config set --stack dev --secret --path grafana.adminPassword`, which prompts for "
      "the value without echo or reads it from stdin)"]),
    ("  prometheus:retension: 30d\n  quikapp-monitor:prometheus:\n    retention: 30d\n",
     ["prometheus:retension: not a key of this project (allowed: quikapp-monitoring:<key>, or pulumi:<key> for "
      "the engine); did you mean quikapp-monitoring:prometheus.retention? (move the value there in the stack file)",
      "quikapp-monitor:prometheus: not a key of this project (allowed: quikapp-monitoring:<key>, or pulumi:<key> "
      "for the engine); did you mean quikapp-monitoring:prometheus? (move the value there in the stack file)"]),
], ids=["plaintext-secret", "foreign-namespaces"])
def test_make_render_and_check_refuse_what_preview_refuses(tmp_path: Path, stanza: str, lines: list[str]) -> None:
    tree = checkout(tmp_path)
    _append(tree, "dev", stanza)
    for target in ("render", "check"):
        result = make(tree, target, "STACK=dev")
        assert result.returncode != 0
        _no_traceback(result)
        # One line per problem under one heading; make adds its own last line.
        expected = [f"render dev: invalid stack configuration: {lines[0]}"] if len(lines) == 1 else \
            ["render dev: invalid stack configuration:", *[f"  {line}" for line in lines]]
        stderr = [line for line in result.stderr.splitlines() if "secret not set" not in line]
        assert stderr[:-1] == expected
        assert stderr[-1].startswith("make: *** [Makefile:") and stderr[-1].endswith("render] Error 1")
        assert not (tree / "build" / "rendered" / "dev" / "resources.json").exists()


def test_render_reports_every_settings_problem_in_one_line_each(tmp_path: Path) -> None:
    tree = checkout(tmp_path)
    _append(tree, "dev", "  quikapp-monitoring:loki:\n    retention: forever\n    colour: blue\n")
    result = subprocess.run([sys.executable, "scripts/render.py", "dev"], cwd=tree, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 1
    _no_traceback(result)
    lines = [line for line in result.stderr.splitlines() if "secret not set" not in line]
    assert lines[0] == "render dev: invalid stack configuration:"
    problems = [line.removeprefix("  ") for line in lines[1:]]
    assert len(problems) == 2, result.stderr
    assert problems[0].startswith("quikapp-monitoring:loki.colour: unknown key (allowed here: ")
    assert problems[1].startswith("quikapp-monitoring:loki.retention: 'forever' is not valid (allowed: a duration")


def test_render_reports_a_broken_catalog_without_a_traceback(tmp_path: Path) -> None:
    tree = checkout(tmp_path)
    catalog = tree / "configs" / "services.yaml"
    catalog.write_text(catalog.read_text().replace("backend: 3000", "backend: 300000"))
    result = make(tree, "render", "STACK=dev")
    assert result.returncode != 0
    _no_traceback(result)
    assert "render dev: invalid service catalog: configs/services.yaml: jobs.nestjs-services.services.backend: " \
           "300000 is not valid (allowed: a port number from 1 to 65535, without quotes)" in result.stderr.splitlines()


def test_render_reports_a_stack_file_that_is_not_yaml(tmp_path: Path) -> None:
    tree = checkout(tmp_path)
    _append(tree, "dev", "  quikapp-monitoring:loki: [unclosed\n")
    result = subprocess.run([sys.executable, "scripts/render.py", "dev"], cwd=tree, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 1
    _no_traceback(result)
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith("render dev: Pulumi.dev.yaml: line ")
    assert ", column " in result.stderr and "not valid YAML" in result.stderr
    assert result.stderr.count("Pulumi.dev.yaml") == 1


def test_check_reports_a_rejected_manifest_in_one_line(tmp_path: Path, rendered: tuple[Path, Path]) -> None:
    promtool_with_kubernetes_sd(tmp_path)  # prod's prometheus.yml must pass, so only the manifests fail
    require("promtool")
    require("amtool")
    broken = tmp_path / "prod"
    for name, content in _tree(rendered[0] / "prod").items():
        (broken / name).parent.mkdir(parents=True, exist_ok=True)
        (broken / name).write_bytes(content)
    manifest = sorted((broken / "manifests").glob("Service-*.yaml"))[0]
    manifest.write_text(manifest.read_text().replace("port: ", "port: not-a-number-", 1))
    (broken / "manifests" / "Widget-x.yaml").write_text("apiVersion: example.com/v9\nkind: Widget\nmetadata:\n"
                                                         "  name: x\n")
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "check.py"), "prod", "--out", str(tmp_path)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    _no_traceback(result)
    first, second = result.stderr.splitlines()
    assert re.fullmatch(rf"FAILED kubernetes-validate {manifest.name}: spec\.ports\.0\.port: "
                        r"'not-a-number-\d+' is not of type 'integer'", first), first
    assert second == (
        "FAILED kubernetes-validate Widget-x.yaml: Couldn't find schema for kind Widget with api version "
        "example.com/v9 for kubernetes version 1.30")
