"""Settings validation: good stacks load, bad values fail with one line naming key, value and rule."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pulumi
import pytest
from pydantic import ValidationError

from components.settings import Settings, SettingsError, TargetKind, parse_config, parse_settings
from components.settings.model import Source
from conftest import stack_run
from mockengine.program import ROOT, STACKS, program_copy, stack_config
from mockengine.run import run_program
from mockengine.stand_ins import with_secrets

PG = "postgresql://monitor:pw@postgres:5432/postgres"


def valid(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {"target": "docker", "grafana": {"adminPassword": "s3cret-pass"},
                              "exporters": {"postgres": {"dsn": PG}}}
    values.update(overrides)
    return values


SECRET_KEYS = {"grafana", "exporters", "alertmanager", "jaeger"}


def error_for(values: dict[str, Any], secret_keys: set[str] = SECRET_KEYS) -> str:
    with pytest.raises(SettingsError) as caught:
        parse_settings(values, secret_keys)
    return str(caught.value)


@pytest.mark.parametrize("stack", STACKS)
def test_every_stack_file_is_valid(stack: str) -> None:
    values, secret_keys = with_secrets(stack_config(stack))
    settings = parse_settings(values, secret_keys)
    expected = TargetKind.DOCKER if stack == "dev" else TargetKind.KUBERNETES
    assert settings.target is expected


def test_prod_protects_data_and_others_do_not() -> None:
    def protect(stack: str) -> bool:
        return parse_settings(*with_secrets(stack_config(stack))).protect_data

    assert protect("prod") is True
    assert protect("dev") is False


def test_defaults_are_the_seeds() -> None:
    settings = parse_settings(valid(), SECRET_KEYS)
    assert settings.images.prometheus == "prom/prometheus:v3.16.0"
    assert settings.images.grafana == "grafana/grafana:13.2.0"
    assert settings.images.loki == "grafana/loki:3.7.8"
    assert settings.images.promtail == "grafana/promtail:3.6.11"
    assert settings.images.jaeger == "jaegertracing/jaeger:2.20.0"
    assert settings.prometheus.retention == "15d"
    assert settings.docker.network.name == "QuikApp-network"
    assert settings.docker.publish_address == "127.0.0.1"


def test_camel_case_keys_map_to_fields() -> None:
    settings = parse_settings(valid(docker={"publishAddress": "0.0.0.0", "network": {"external": True}},
                                    kubernetes={"appNamespace": "apps", "storageClass": "fast"}), SECRET_KEYS)
    assert settings.docker.publish_address == "0.0.0.0"
    assert settings.docker.network.external is True
    assert settings.kubernetes.app_namespace == "apps"
    assert settings.kubernetes.storage_class == "fast"


def test_every_image_must_be_pinned() -> None:
    for image in Settings.model_fields["images"].default.model_dump().values():
        assert ":" in image.split("/")[-1] and not image.endswith(":latest"), image


# (values, the key named, a fragment of what is allowed)
BAD: list[tuple[dict[str, Any], str, str]] = [
    ({"target": "swarm"}, "quikapp-monitoring:target", "'docker' or 'kubernetes'"),
    ({"prometheus": {"retention": "15 days"}}, "prometheus.retention", "duration"),
    ({"prometheus": {"retention": "15"}}, "prometheus.retention", "duration"),
    ({"prometheus": {"scrapeInterval": "1m30"}}, "prometheus.scrapeInterval", "duration"),
    ({"prometheus": {"storageSize": "20GB"}}, "prometheus.storageSize", "storage size"),
    ({"prometheus": {"externalLabels": {"env-name": "x"}}}, "prometheus.externalLabels.env-name", "label name"),
    ({"prometheus": {"retension": "15d"}}, "prometheus.retension", "retention"),
    ({"images": {"grafana": "grafana/grafana"}}, "images.grafana", "pinned"),
    ({"images": {"grafana": "grafana/grafana:latest"}}, "images.grafana", "latest"),
    ({"images": {"loki": "Grafana/Loki:2.9.0"}}, "images.loki", "image reference"),
    ({"images": {"tempo": "grafana/tempo:2.3.0"}}, "images.tempo", "prometheus"),
    ({"docker": {"publishAddress": "localhost:80"}}, "docker.publishAddress", "IP address"),
    ({"docker": {"host": "/var/run/docker.sock"}}, "docker.host", "unix|tcp|ssh|npipe"),
    ({"docker": {"network": {"name": "bad name"}}}, "docker.network.name", "Docker object name"),
    ({"docker": {"network": {"external": "maybe"}}}, "docker.network.external", "boolean"),
    ({"kubernetes": {"namespace": "Monitoring"}}, "kubernetes.namespace", "DNS label"),
    ({"kubernetes": {"clusterDomain": "Cluster.Local"}}, "kubernetes.clusterDomain", "a DNS domain such as"),
    ({"kubernetes": {"clusterDomain": "cluster.local."}}, "kubernetes.clusterDomain", "a DNS domain such as"),
    ({"kubernetes": {"context": "a", "kubeconfig": "/k"}}, "kubernetes", "not both"),
    ({"protectData": "sometimes"}, "protectData", "boolean"),
    ({"grafana": {"adminPassword": "x", "publishPort": 70000}}, "grafana.publishPort", "65535"),
    ({"exporters": {"kafka": {"brokers": ["kafka"]}, "postgres": {"dsn": PG}}},
     "exporters.kafka.brokers[0]", "host:port"),
    ({"jaeger": {"storage": "cassandra"}}, "jaeger.storage", "'memory', 'badger' or 'elasticsearch'"),
    ({"prometheus": "15d"}, "quikapp-monitoring:prometheus", "an object"),
    ({"loki": {"resources": {"cpuLimit": "0.5m"}}}, "loki.resources.cpuLimit", "CPU quantity"),
    # The Docker provider reads 50m back as "0.1": every `pulumi up` would replace the container.
    ({"exporters": {"redis": {"resources": {"cpuLimit": "50m"}}, "postgres": {"dsn": PG}}},
     "exporters.redis.resources.cpuLimit", "reads back unchanged"),
]


def test_a_docker_only_cpu_limit_rule_leaves_kubernetes_stacks_alone() -> None:
    values = valid(target="kubernetes",
                   exporters={"redis": {"resources": {"cpuLimit": "50m"}}, "postgres": {"dsn": PG}})
    assert parse_settings(values, SECRET_KEYS).exporters.redis.resources.cpu_limit == "50m"


@pytest.mark.parametrize(("override", "key", "allowed"), BAD, ids=[b[1] + ":" + str(i) for i, b in enumerate(BAD)])
def test_bad_value_is_one_clear_line(override: dict[str, Any], key: str, allowed: str) -> None:
    values = valid()
    for name, value in override.items():
        if isinstance(value, dict) and isinstance(values.get(name), dict):
            values[name] = {**copy.deepcopy(values[name]), **value}
        else:
            values[name] = value
    message = error_for(values)
    assert message.count("\n") == 0, message
    assert key in message and allowed in message, message
    assert "Traceback" not in message


def test_bad_value_names_the_value() -> None:
    message = error_for(valid(prometheus={"retention": "fortnight"}))
    assert "'fortnight'" in message


def test_several_problems_are_all_listed() -> None:
    message = error_for(valid(target="swarm", prometheus={"retention": "x"}))
    assert "target" in message and "prometheus.retention" in message


def test_missing_target_is_reported() -> None:
    values = valid()
    del values["target"]
    assert "quikapp-monitoring:target: required" in error_for(values)


def test_grafana_password_is_required() -> None:
    values = valid()
    del values["grafana"]
    assert "grafana.adminPassword: required secret" in error_for(values)


def test_postgres_dsn_required_only_when_exporter_enabled() -> None:
    values = valid(exporters={"postgres": {"enabled": False}})
    parse_settings(values, SECRET_KEYS)
    values = valid(exporters={})
    assert "exporters.postgres.dsn: required secret" in error_for(values)


def test_the_rules_across_settings_are_the_models_own() -> None:
    """The model itself refuses what no single value shows, validated alone as any consumer may validate it:
    each problem on the key it names, in the words the loader prints after that key."""
    values = valid(highAvailability=True, grafana={}, exporters={"postgres": {"enabled": False}})
    with pytest.raises(ValidationError) as caught:
        Settings.model_validate(values, context=Source(stack="dev", secret_keys=frozenset({"grafana"})))
    assert sorted((e["loc"], e["msg"]) for e in caught.value.errors()) == [
        (("grafana", "adminPassword"), "required secret, not set (set it with `pulumi config set --stack dev "
                                       "--secret --path grafana.adminPassword`, which prompts for the value without "
                                       "echo or reads it from stdin)"),
        (("highAvailability",), "true is not valid on a docker stack (allowed: false or unset; Docker runs one "
                                "container per tool, replicas need target kubernetes)"),
    ]


def test_secret_in_plain_text_is_refused_without_echoing_it() -> None:
    message = error_for(valid(), secret_keys={"exporters"})
    assert "grafana.adminPassword" in message and "--secret" in message
    assert "s3cret-pass" not in message


def test_secret_value_is_never_echoed_in_errors() -> None:
    message = error_for(valid(grafana={"adminPassword": 12345678901234567890}))
    assert "grafana.adminPassword" in message and "[secret]" in message
    assert "12345678901234567890" not in message


# --- what a message shows: a non-secret key's value, never a secret key's ----------------------------
# The CLI marks the whole `quikapp-monitoring:grafana` secret once grafana.adminPassword is set with
# --secret (SECRET_KEYS above, as the engine passes it): that must not hide grafana.publishPort.

@pytest.mark.parametrize(("override", "line"), [
    ({"grafana": {"adminPassword": "s3cret-pass", "publishPort": 70000}},
     "quikapp-monitoring:grafana.publishPort: 70000 is not valid (allowed: a port number from 1 to 65535, without "
     "quotes)"),
    ({"grafana": {"adminPassword": "s3cret-pass", "rootUrl": "grafana.example"}},
     "quikapp-monitoring:grafana.rootUrl: 'grafana.example' is not valid (allowed: an http:// or https:// URL)"),
    ({"exporters": {"postgres": {"dsn": PG}, "redis": {"address": "redis"}}},
     "quikapp-monitoring:exporters.redis.address: 'redis' is not valid (allowed: host:port, for example redis:6379)"),
], ids=["grafana.publishPort", "grafana.rootUrl", "exporters.redis.address"])
def test_a_non_secret_key_beside_a_secret_shows_its_value(override: dict[str, Any], line: str) -> None:
    assert error_for(valid(**override)) == f"invalid stack configuration: {line}"


@pytest.mark.parametrize("secret_keys", [SECRET_KEYS, set()], ids=["object-secret", "object-plain"])
@pytest.mark.parametrize(("override", "key", "value"), [
    ({"grafana": {"adminPassword": 12345678901234567890}}, "grafana.adminPassword", "12345678901234567890"),
    ({"exporters": {"postgres": {"dsn": ["postgresql://monitor:pw-in-a-list@pg/db"]}}}, "exporters.postgres.dsn",
     "pw-in-a-list"),
    # A string where the object holding the secret belongs may be the secret itself.
    ({"alertmanager": {"webhook": "https://oncall.example/hook?token=tok-123"}}, "alertmanager.webhook", "tok-123"),
    # A rule across an object's fields fails on the whole object, secret included.
    ({"prometheus": {"remoteWrite": [{"url": "https://mimir.example/push", "password": "pw-456"}]}},
     "prometheus.remoteWrite[0]", "pw-456"),
], ids=["wrong-type", "list", "string-for-object", "object"])
def test_a_secret_key_never_shows_its_value(override: dict[str, Any], key: str, value: str,
                                            secret_keys: set[str]) -> None:
    """Redacted by key, whether or not the stack file's top-level key is marked secret."""
    message = error_for(valid(**override), secret_keys)
    assert f"quikapp-monitoring:{key}: " in message, message
    assert value not in message


# --- numbers: written as numbers, here as in the service catalog (tests/test_catalog.py) -------------

@pytest.mark.parametrize(("override", "line"), [
    ({"grafana": {"adminPassword": "s3cret-pass", "publishPort": "3030"}},
     "quikapp-monitoring:grafana.publishPort: '3030' is not valid (allowed: a port number from 1 to 65535, without "
     "quotes)"),
    ({"grafana": {"adminPassword": "s3cret-pass", "publishPort": True}},
     "quikapp-monitoring:grafana.publishPort: True is not valid (allowed: a port number from 1 to 65535, without "
     "quotes)"),
    ({"grafana": {"adminPassword": "s3cret-pass", "replicas": "2"}},
     "quikapp-monitoring:grafana.replicas: '2' is not valid (allowed: a whole number, without quotes)"),
    ({"loki": {"ingestionRateMb": 8.0}},
     "quikapp-monitoring:loki.ingestionRateMb: 8.0 is not valid (allowed: a whole number, without quotes)"),
    ({"jaeger": {"maxTraces": "50_000"}},
     "quikapp-monitoring:jaeger.maxTraces: '50_000' is not valid (allowed: a whole number, without quotes)"),
], ids=["quoted-port", "bool-port", "quoted-replicas", "float", "underscores"])
def test_a_number_must_be_written_as_a_number(override: dict[str, Any], line: str) -> None:
    assert error_for(valid(**override)) == f"invalid stack configuration: {line}"


def test_a_number_from_the_cli_is_accepted() -> None:
    # `pulumi config set --path grafana.publishPort 3031` stores a number: the program gets JSON 3031.
    config = {**PROJECT_KEYS, "quikapp-monitoring:grafana": json.dumps(
        {"adminPassword": "s3cret-pass", "publishPort": 3031, "replicas": 1})}
    assert parse_config(config, PROJECT_SECRETS).grafana.publish_port == 3031


# --- suggested commands: they name the stack and take a secret from a prompt or stdin ----------------

PROMPTS = "which prompts for the value without echo or reads it from stdin"


def test_a_missing_secret_names_the_command_with_the_stack_and_no_value() -> None:
    values = valid()
    del values["grafana"]
    with pytest.raises(SettingsError) as caught:
        parse_settings(values, SECRET_KEYS, stack="prod")
    assert str(caught.value) == (
        "invalid stack configuration: quikapp-monitoring:grafana.adminPassword: required secret, not set (set it "
        f"with `pulumi config set --stack prod --secret --path grafana.adminPassword`, {PROMPTS})")


def test_a_plaintext_secret_names_the_command_with_the_stack_and_no_value() -> None:
    with pytest.raises(SettingsError) as caught:
        parse_settings(valid(), {"exporters"}, stack="staging")
    assert str(caught.value) == (
        "invalid stack configuration: quikapp-monitoring:grafana.adminPassword: [secret] is stored in plain text "
        "(allowed: only a secret; set it again with `pulumi config set --stack staging --secret --path "
        f"grafana.adminPassword`, {PROMPTS})")


def test_a_foreign_key_names_the_stack_to_remove_it_from() -> None:
    with pytest.raises(SettingsError) as caught:
        parse_config({**PROJECT_KEYS, "aws:region": "eu-west-1"}, PROJECT_SECRETS, stack="prod")
    assert str(caught.value).endswith("remove it from the stack file (`pulumi config rm --stack prod aws:region`)")


def test_settings_are_immutable() -> None:
    settings = parse_settings(valid(), SECRET_KEYS)
    with pytest.raises(Exception, match="frozen"):
        settings.prometheus.retention = "1d"  # type: ignore[misc]


# --- keys outside the project's namespace (the CLI passes every key of the stack file) ----------

PROJECT_KEYS = {"quikapp-monitoring:target": "docker",
                "quikapp-monitoring:grafana": json.dumps({"adminPassword": "s3cret-pass"}),
                "quikapp-monitoring:exporters": json.dumps({"postgres": {"dsn": PG}})}
PROJECT_SECRETS = ["quikapp-monitoring:grafana", "quikapp-monitoring:exporters"]
NOT_OURS = "not a key of this project (allowed: quikapp-monitoring:<key>, or pulumi:<key> for the engine)"


@pytest.mark.parametrize(("key", "line"), [
    ("prometheus:retension", f"prometheus:retension: {NOT_OURS}; did you mean quikapp-monitoring:prometheus.retention? "
                             "(move the value there in the stack file)"),
    ("quikapp-monitor:prometheus", f"quikapp-monitor:prometheus: {NOT_OURS}; did you mean "
                                   "quikapp-monitoring:prometheus? (move the value there in the stack file)"),
    ("grafana:adminpasword", f"grafana:adminpasword: {NOT_OURS}; did you mean "
                             "quikapp-monitoring:grafana.adminPassword? (move the value there in the stack file)"),
    ("docker:host", "docker:host: this program configures its own docker provider and never reads docker:* keys; "
                    "did you mean quikapp-monitoring:docker.host? (move the value there in the stack file)"),
    ("kubernetes:kubeconfig", "kubernetes:kubeconfig: this program configures its own kubernetes provider and never "
                              "reads kubernetes:* keys; did you mean quikapp-monitoring:kubernetes.kubeconfig? "
                              "(move the value there in the stack file)"),
    ("aws:region", f"aws:region: {NOT_OURS}; remove it from the stack file (`pulumi config rm --stack <stack> "
                   "aws:region`)"),
])
def test_a_key_outside_the_project_namespace_is_refused_with_its_fix(key: str, line: str) -> None:
    with pytest.raises(SettingsError) as caught:
        parse_config({**PROJECT_KEYS, key: "30d"}, PROJECT_SECRETS)
    assert str(caught.value) == f"invalid stack configuration: {line}"


def test_engine_keys_are_accepted() -> None:
    parse_config({**PROJECT_KEYS, "pulumi:disable-default-providers": '["*"]'}, PROJECT_SECRETS)


def test_foreign_keys_and_bad_values_are_listed_together() -> None:
    with pytest.raises(SettingsError) as caught:
        parse_config({**PROJECT_KEYS, "prometheus:retension": "30d",
                      "quikapp-monitoring:prometheus": json.dumps({"retention": "fortnight"})}, PROJECT_SECRETS)
    lines = str(caught.value).splitlines()
    assert lines[0] == "invalid stack configuration:" and len(lines) == 3
    assert lines[1].startswith("  prometheus:retension: ")
    assert lines[2].startswith("  quikapp-monitoring:prometheus.retention: 'fortnight' is not valid")


def test_provider_config_would_be_dead_config_every_resource_has_an_explicit_provider() -> None:
    """Why docker:* and kubernetes:* keys are refused: the engine applies them only to default
    providers (pulumi/pulumi@v3.259.0 pkg/resource/deploy/default_providers.go), and the
    program never uses one."""
    for stack in STACKS:
        for record in stack_run(stack).resources:
            if record.custom and not record.type.startswith("pulumi:providers:"):
                assert record.provider and "pulumi:providers:" in record.provider, (stack, record.type, record.name)


# --- the route a settings or catalog error takes in `pulumi preview` / `pulumi up` ---------------
# The CLI's Python language host runs __main__.py and prints a pulumi.RunError as one error
# message, anything else as "Program failed with an unhandled exception" plus the traceback
# (pulumi/pulumi@v3.259.0 sdk/python/cmd/pulumi-language-python-exec, `except pulumi.RunError`;
# pulumi 3.272.0 pulumi/errors.py: RunError exits "rather than the usual verbose unhandled error
# logic"). So every settings and catalog error must be a RunError.

def _program_error(program: Path, config: dict[str, str], secret_keys: set[str]) -> pulumi.RunError:
    with pytest.raises(pulumi.RunError) as caught:
        run_program("dev", program=program, config=config, secret_keys=secret_keys)
    return caught.value


def _dev_config(**extra: str) -> tuple[dict[str, str], set[str]]:
    config = {f"quikapp-monitoring:{k}": v if isinstance(v, str) else json.dumps(v)
              for k, v in stack_config("dev").items()}
    config["quikapp-monitoring:grafana"] = json.dumps({"adminPassword": "s3cret-pass"})
    config.update(extra)
    return config, {"quikapp-monitoring:grafana"}


@pytest.mark.parametrize(("extra", "fragment"), [
    ({"quikapp-monitoring:loki": '{"retention": "forever"}'}, "quikapp-monitoring:loki.retention: 'forever'"),
    ({"quikapp-monitor:prometheus": "{}"}, "quikapp-monitor:prometheus: not a key of this project"),
    ({"prometheus:retension": "30d"}, "did you mean quikapp-monitoring:prometheus.retention?"),
], ids=["bad-value", "misspelt-project", "namespace-as-object"])
def test_the_program_refuses_bad_settings_with_a_run_error(extra: dict[str, str], fragment: str) -> None:
    config, secrets = _dev_config(**extra)
    assert fragment in str(_program_error(ROOT, config, secrets))


def test_the_program_refuses_a_plaintext_secret_with_a_run_error() -> None:
    config, _ = _dev_config()
    message = str(_program_error(ROOT, config, set()))
    assert "quikapp-monitoring:grafana.adminPassword: [secret] is stored in plain text" in message
    # The stack the engine runs (pulumi.get_stack()) is the one the suggested command names.
    assert "`pulumi config set --stack dev --secret --path grafana.adminPassword`" in message
    assert "s3cret-pass" not in message


@pytest.mark.parametrize("breakage", ["bad-port", "not-yaml", "missing"])
def test_the_program_refuses_a_broken_catalog_with_a_run_error(tmp_path: Path, breakage: str) -> None:
    program = program_copy(tmp_path, {})
    catalog = program / "configs" / "services.yaml"
    if breakage == "bad-port":
        catalog.write_text(catalog.read_text().replace("backend: 3000", "backend: '3000'"))
    elif breakage == "not-yaml":
        catalog.write_text(catalog.read_text().replace("backend: 3000", "backend: [3000"))
    else:
        catalog.unlink()
    message = str(_program_error(program, *_dev_config()))
    assert message.startswith("invalid service catalog: configs/services.yaml: "), message
    assert "\n" not in message
