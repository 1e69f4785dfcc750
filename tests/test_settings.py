"""Settings validation: good stacks load, bad values fail with one line naming key, value and rule."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from components.settings import Settings, SettingsError, TargetKind, parse_settings
from harness import STACKS, stack_config, with_secrets

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
    assert settings.images.prometheus == "prom/prometheus:v2.47.0"
    assert settings.images.grafana == "grafana/grafana:10.1.0"
    assert settings.images.loki == "grafana/loki:2.9.0"
    assert settings.images.promtail == "grafana/promtail:2.9.0"
    assert settings.images.jaeger == "jaegertracing/all-in-one:1.50"
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
    ({"kubernetes": {"context": "a", "kubeconfig": "/k"}}, "kubernetes", "not both"),
    ({"protectData": "sometimes"}, "protectData", "boolean"),
    ({"grafana": {"adminPassword": "x", "publishPort": 70000}}, "grafana.publishPort", "65535"),
    ({"exporters": {"kafka": {"brokers": ["kafka"]}, "postgres": {"dsn": PG}}},
     "exporters.kafka.brokers[0]", "host:port"),
    ({"jaeger": {"storage": "cassandra"}}, "jaeger.storage", "'memory', 'badger' or 'elasticsearch'"),
    ({"prometheus": "15d"}, "quikapp-monitoring:prometheus", "an object"),
]


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


def test_secret_in_plain_text_is_refused_without_echoing_it() -> None:
    message = error_for(valid(), secret_keys={"exporters"})
    assert "grafana.adminPassword" in message and "--secret" in message
    assert "s3cret-pass" not in message


def test_secret_value_is_never_echoed_in_errors() -> None:
    message = error_for(valid(grafana={"adminPassword": 12345678901234567890}))
    assert "grafana.adminPassword" in message and "[secret]" in message
    assert "12345678901234567890" not in message


def test_settings_are_immutable() -> None:
    settings = parse_settings(valid(), SECRET_KEYS)
    with pytest.raises(Exception, match="frozen"):
        settings.prometheus.retention = "1d"  # type: ignore[misc]
