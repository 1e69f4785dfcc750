"""prometheus.yml rendered from the catalog: seed parity, the `service` label, determinism."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from components.catalog import load_catalog
from components.render.prometheus import render_prometheus_config, rule_files, scrape_jobs
from components.settings import TargetKind, parse_settings
from mockengine.program import ROOT

SEED = Path(__file__).parent / "fixtures" / "seed"
SECRETS = {"grafana": {"adminPassword": "pw-123456"}}


def settings(**values: Any):  # type: ignore[no-untyped-def]
    base: dict[str, Any] = {"target": "docker", **SECRETS, "exporters": {"postgres": {"dsn": "postgresql://a:b@c/d"}}}
    base.update(values)
    return parse_settings(base, {"grafana", "exporters"})


def render(app_host=lambda name: name, **values: Any) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    # A highAvailability (Kubernetes) stack's cluster label defaults to the stack's name.
    return yaml.safe_load(render_prometheus_config(settings(**values), load_catalog(), app_host, stack="test"))


def jobs_of(config: dict[str, Any]) -> dict[str, tuple[str, list[str]]]:
    """job → (metrics_path, targets in order)."""
    return {
        job["job_name"]: (job.get("metrics_path", "/metrics"),
                          [t for sc in job["static_configs"] for t in sc["targets"]])
        for job in config["scrape_configs"]
    }


def test_docker_target_reproduces_every_seed_job_target_and_path() -> None:
    seed = yaml.safe_load((SEED / "prometheus.yml").read_text())
    ours = jobs_of(render())
    # The seed's jobs in the seed's order, then the additions: the stack's own tools, the collectors.
    assert list(ours)[:-3] == list(jobs_of(seed))
    assert list(ours)[-3:] == ["monitoring", "node-exporter", "cadvisor"]
    assert {job: ours[job] for job in jobs_of(seed)} == jobs_of(seed)
    assert ours["monitoring"] == ("/metrics", ["alertmanager:9093", "grafana:3000", "loki:3100", "jaeger:8888",
                                               "promtail:9080"])
    assert ours["node-exporter"] == ("/metrics", ["node-exporter:9100"])
    assert ours["cadvisor"] == ("/metrics", ["cadvisor:8080"])


def test_global_alerting_and_rule_files_match_the_seed() -> None:
    seed = yaml.safe_load((SEED / "prometheus.yml").read_text())
    ours = render()
    assert ours["global"] == seed["global"]
    assert ours["alerting"] == seed["alerting"]
    assert ours["rule_files"] == ["/etc/prometheus/rules/*.yml"]


@pytest.mark.parametrize("target", ["docker", "kubernetes"])
def test_application_jobs_fall_back_to_the_text_format(target: str) -> None:
    """Prometheus 3 fails scrapes without a valid Content-Type; 2.x parsed them as text 0.0.4."""
    config = render(target=target)
    apps = {job.name for job in load_catalog().jobs}
    assert apps
    for job in config["scrape_configs"]:
        expected = "PrometheusText0.0.4" if job["job_name"] in apps else None
        assert job.get("fallback_scrape_protocol") == expected, job["job_name"]


@pytest.mark.parametrize("target", ["docker", "kubernetes"])
def test_application_jobs_ask_for_underscore_names(target: str) -> None:
    """Prometheus 3 invites UTF-8 names; the rules and dashboards read the underscore ones
    (what Prometheus then stores: tests/live/test_live_service_dashboard.py)."""
    config = render(target=target)
    apps = {job.name for job in load_catalog().jobs}
    for job in config["scrape_configs"]:
        expected = "underscores" if job["job_name"] in apps else None
        assert job.get("metric_name_escaping_scheme") == expected, job["job_name"]


def test_every_target_carries_its_service_label() -> None:
    config = render()
    for job in config["scrape_configs"]:
        for static in job["static_configs"]:
            host = static["targets"][0].split(":")[0]
            expected = {"localhost": "prometheus"}.get(host, host)
            if host.endswith("-exporter") or host == "cadvisor":
                expected = job["job_name"]
            assert static["labels"] == {"service": expected}, (job["job_name"], static)


def test_docker_app_targets_use_the_host_the_target_names() -> None:
    config = render(app_host=lambda name: f"{name}.example")
    jobs = jobs_of(config)
    assert jobs["nestjs-services"][1] == ["backend.example:3000", "realtime.example:3001", "notification.example:3002"]
    # The exporters run with the monitoring stack: their own names.
    assert jobs["redis"][1] == ["redis-exporter:9121"]
    assert jobs["prometheus"][1] == ["localhost:9090"]
    labels = [sc["labels"]["service"] for job in config["scrape_configs"] if job["job_name"] == "go-services"
              for sc in job["static_configs"]]
    assert labels == ["workspace", "channel", "search", "thread", "bookmark"]


def test_settings_drive_intervals_and_external_labels() -> None:
    config = render(prometheus={"scrapeInterval": "30s", "evaluationInterval": "1m",
                                "externalLabels": {"env": "prod", "cluster": "eu-1"}})
    assert config["global"] == {"scrape_interval": "30s", "evaluation_interval": "1m",
                                 "external_labels": {"cluster": "eu-1", "env": "prod"}}


def test_disabled_exporter_has_no_scrape_job() -> None:
    config = render(exporters={"postgres": {"enabled": False}, "kafka": {"enabled": False}})
    assert [j for j in jobs_of(config) if j in {"redis", "postgres", "kafka", "nginx"}] == ["redis", "nginx"]


def test_disabled_collector_has_no_scrape_job() -> None:
    config = render(collectors={"nodeExporter": {"enabled": False}})
    assert [j for j in jobs_of(config) if j in {"node-exporter", "cadvisor"}] == ["cadvisor"]
    config = render(collectors={"cadvisor": {"enabled": False}})
    assert [j for j in jobs_of(config) if j in {"node-exporter", "cadvisor"}] == ["node-exporter"]


def test_onboarding_a_service_is_one_catalog_line(tmp_path: Path) -> None:
    text = (ROOT / "configs" / "services.yaml").read_text()
    tmp = tmp_path / "services.yaml"
    tmp.write_text(text.replace("      bookmark: 6005\n", "      bookmark: 6005\n      reactions: 6006\n"))
    config = yaml.safe_load(render_prometheus_config(settings(), load_catalog(tmp), lambda n: n))
    go = next(j for j in config["scrape_configs"] if j["job_name"] == "go-services")
    assert go["static_configs"][-1] == {"targets": ["reactions:6006"], "labels": {"service": "reactions"}}


def test_rendering_is_byte_identical() -> None:
    first = render_prometheus_config(settings(), load_catalog(), lambda n: n)
    second = render_prometheus_config(settings(), load_catalog(), lambda n: n)
    assert first == second


def test_rule_files_are_mounted_under_etc_prometheus_rules() -> None:
    config = render_prometheus_config(settings(), load_catalog(), lambda n: n)
    files = rule_files(TargetKind.DOCKER, scrape_jobs(config))
    # The project's own files, and the upstream mixins whose jobs this stack scrapes (tests/test_mixins.py):
    # node-exporter and cadvisor bring the node mixin and the container rules, each exporter its alerts.
    assert list(files) == [f"/etc/prometheus/rules/{name}" for name in (
        "alertmanager-mixin.yml", "alerts.yml", "containers.yml", "kafka.yml", "micrometer.yml", "nginx.yml",
        "node-mixin.yml", "opentelemetry.yml", "postgres.yml", "prometheus-mixin.yml", "redis-mixin.yml", "redis.yml")]


def test_the_seeds_seven_alerts_are_present_with_their_labels() -> None:
    seed = {r["alert"]: r for g in yaml.safe_load((SEED / "alerts.yml").read_text())["groups"] for r in g["rules"]}
    exporters = {"redis", "postgres", "kafka", "nginx"}  # their alerts ship with their jobs
    ours = {r["alert"]: r for path, text in rule_files(TargetKind.DOCKER, exporters).items()
            if not path.endswith("-mixin.yml")
            for g in yaml.safe_load(text)["groups"] for r in g["rules"] if "alert" in r}
    # The seed's seven, plus backend-down alerts the seed lacked, the whole-service alert and the Watchdog.
    assert set(seed) <= set(ours) and set(ours) - set(seed) == {"RedisDown", "PostgresDown", "NginxDown",
                                                                "ServiceAllTargetsDown", "Watchdog"}
    # Their summaries named the job ("Service nestjs-services is down"): docs/SEED-DEVIATIONS.md.
    named_by_service = {"ServiceDown", "HighMemoryUsage"}
    for name, rule in seed.items():
        assert ours[name]["for"] == rule["for"]
        assert ours[name]["labels"] == rule["labels"]
        summary = ours[name]["annotations"]["summary"]
        if name in named_by_service:
            assert "$labels.job" in rule["annotations"]["summary"] and "$labels.service" in summary, name
        else:
            assert summary == rule["annotations"]["summary"]
