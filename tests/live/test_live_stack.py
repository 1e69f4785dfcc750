"""The rendered Prometheus and Alertmanager configs, run by the real servers against real exporters.

Prometheus, built by scripts/upstream-tools.sh at the deployed version, runs the dev stack's rendered
prometheus.yml and rule files, with only the target addresses rewritten to loopback ports and a 1s
scrape/evaluation interval; Debian's Redis, PostgreSQL and nginx exporters scrape real redis-server,
PostgreSQL and nginx processes; Alertmanager, built the same way, runs the rendered alertmanager.yml.
Everything listens on 127.0.0.1 on free ports, lives in one temp dir and is stopped when the module's
tests end. The alert rules are not changed, so ServiceDown keeps its `for: 1m`: the slowest test waits about 65s for it.
"""

from __future__ import annotations

import copy
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from live_servers import (
    LOOPBACK,
    Server,
    free_ports,
    get_json,
    servers_in_tempdir,
    start_alertmanager,
    start_exporter,
    start_nginx,
    start_postgres,
    start_prometheus,
    start_redis,
    wait_until,
)

from components.catalog import load_catalog
from components.render.prometheus import RULES_DIR, render_prometheus_config, rule_files, scrape_jobs
from components.render.runbooks import absolute_runbooks
from components.settings import Settings, parse_settings
from mockengine.program import stack_config
from mockengine.stand_ins import with_secrets

pytestmark = pytest.mark.live

STACK = "dev"
INTERVAL = "1s"  # scrape and evaluation interval of the test copy (the stack's is 15s)
EXPORTERS = {"redis": "redis-exporter:9121", "postgres": "postgres-exporter:9187", "nginx": "nginx-exporter:9113"}
ALERTMANAGER_ADDRESS = "alertmanager:9093"
PROMETHEUS_SELF = "localhost:9090"
SERVICE_DOWN_HOLD = 60  # ServiceDown's `for: 1m`


def live_settings() -> Settings:
    """The dev stack's settings, with the Postgres exporter enabled (dev leaves it off until a DSN is set)."""
    values = stack_config(STACK)
    values.setdefault("exporters", {}).setdefault("postgres", {})["enabled"] = True
    values, secret_keys = with_secrets(values)
    return parse_settings(values, secret_keys)


def rendered_config(settings: Settings) -> dict[str, Any]:
    text = render_prometheus_config(settings, load_catalog(), lambda service: service)
    return dict(yaml.safe_load(text))


def loopback_copy(config: dict[str, Any], addresses: dict[str, str], rules_dir: Path) -> dict[str, Any]:
    """The rendered config with every target address mapped through `addresses`, the rules read
    from `rules_dir` and a 1s interval. Job names, labels and metrics paths stay as rendered."""
    out = copy.deepcopy(config)
    out["global"]["scrape_interval"] = INTERVAL
    out["global"]["evaluation_interval"] = INTERVAL
    out["rule_files"] = [str(rules_dir / Path(p).name) for p in config["rule_files"]]
    for manager in out["alerting"]["alertmanagers"]:
        for static in manager["static_configs"]:
            static["targets"] = [addresses[t] for t in static["targets"]]
    for job in out["scrape_configs"]:
        for static in job["static_configs"]:
            static["targets"] = [addresses[t] for t in static["targets"]]
    return out


def scrape_targets(config: dict[str, Any]) -> list[str]:
    return [t for j in config["scrape_configs"] for s in j["static_configs"] for t in s["targets"]]


def all_targets(config: dict[str, Any]) -> list[str]:
    managers = [t for m in config["alerting"]["alertmanagers"] for s in m["static_configs"] for t in s["targets"]]
    return managers + scrape_targets(config)


def shipped_rule_files(settings: Settings) -> dict[str, str]:
    """The rule files the stack ships: its own and the mixins of the jobs it scrapes, their runbook
    links behind alertmanager.runbookBaseUrl (as components/prometheus.py delivers them)."""
    text = render_prometheus_config(settings, load_catalog(), lambda service: service)
    return {path: absolute_runbooks(rules, settings.alertmanager.runbook_base_url)
            for path, rules in rule_files(settings.target, scrape_jobs(text)).items()}


def alert_rules() -> dict[str, dict[str, Any]]:
    """{alert: rule} of the rule files the live stack runs (mixin twins of one name: the last)."""
    files = shipped_rule_files(live_settings())
    rules = [r for text in files.values() for g in yaml.safe_load(text)["groups"] for r in g["rules"]]
    return {r["alert"]: r for r in rules if "alert" in r}


@dataclass
class Live:
    servers: dict[str, Server]
    prometheus: str  # base URL
    alertmanager: str
    rendered: dict[str, Any]  # prometheus.yml as rendered for the stack
    running: dict[str, Any]  # the loopback copy Prometheus runs
    addresses: dict[str, str]  # rendered address -> loopback address
    alertmanager_config: str
    targets_at_start: list[dict[str, Any]]  # /api/v1/targets once every target was scraped
    exporter_up_at_start: dict[str, dict[str, Any]]  # {redis_up|pg_up|nginx_up: series}

    def query(self, expr: str) -> list[dict[str, Any]]:
        body = get_json(f"{self.prometheus}/api/v1/query", query=expr)
        assert body["status"] == "success", body
        return list(body["data"]["result"])


@pytest.fixture(scope="module")
def live() -> Iterator[Live]:
    settings = live_settings()
    rendered = rendered_config(settings)
    try:
        from components.render.alertmanager import render_alertmanager_config
    except ImportError as exc:
        pytest.fail(f"components/render/alertmanager.py (render_alertmanager_config) is needed: {exc}")
    alertmanager_config = render_alertmanager_config(settings)

    with servers_in_tempdir() as servers:
        addresses_needed = all_targets(rendered)
        ports = free_ports(10 + len(addresses_needed))
        redis_port, pg_port, nginx_port, prom_port, am_port = ports[:5]
        exporter_ports = dict(zip(EXPORTERS, ports[5:8], strict=True))
        # Everything else (application services, kafka-exporter) gets a loopback port nothing listens on.
        spare = iter(ports[10:])
        addresses = {a: f"{LOOPBACK}:{next(spare)}" for a in addresses_needed}
        addresses.update({EXPORTERS[job]: f"{LOOPBACK}:{port}" for job, port in exporter_ports.items()})
        addresses[ALERTMANAGER_ADDRESS] = f"{LOOPBACK}:{am_port}"
        addresses[PROMETHEUS_SELF] = f"{LOOPBACK}:{prom_port}"

        started: dict[str, Server] = {}
        started["redis-server"] = start_redis(servers, redis_port)
        started["postgres"] = start_postgres(servers, pg_port)
        started["nginx"] = start_nginx(servers, nginx_port)
        started["prometheus-redis-exporter"] = start_exporter(servers, "prometheus-redis-exporter", [
            f"-redis.addr=redis://{LOOPBACK}:{redis_port}", f"-web.listen-address={addresses[EXPORTERS['redis']]}",
        ], exporter_ports["redis"])
        started["prometheus-postgres-exporter"] = start_exporter(servers, "prometheus-postgres-exporter", [
            f"--web.listen-address={addresses[EXPORTERS['postgres']]}",
        ], exporter_ports["postgres"], env={
            "DATA_SOURCE_NAME": f"postgresql://postgres@{LOOPBACK}:{pg_port}/postgres?sslmode=disable",
        })
        started["prometheus-nginx-exporter"] = start_exporter(servers, "prometheus-nginx-exporter", [
            f"-nginx.scrape-uri=http://{LOOPBACK}:{nginx_port}/stub_status",
            f"-web.listen-address={addresses[EXPORTERS['nginx']]}",
        ], exporter_ports["nginx"])
        started["alertmanager"] = start_alertmanager(servers, alertmanager_config, am_port)

        rules_dir = servers.root / "rules"
        rules_dir.mkdir()
        for path, text in shipped_rule_files(settings).items():
            assert path.startswith(RULES_DIR + "/")
            (rules_dir / Path(path).name).write_text(text)
        running = loopback_copy(rendered, addresses, rules_dir)
        config_path = servers.root / "prometheus.yml"
        config_path.write_text(yaml.safe_dump(running, sort_keys=False))
        started["prometheus"] = start_prometheus(servers, config_path, prom_port)
        prometheus = f"http://{LOOPBACK}:{prom_port}"

        def every_target_scraped() -> list[dict[str, Any]] | None:
            # The exporters answered before Prometheus started: its first scrape of each is telling.
            targets = get_json(f"{prometheus}/api/v1/targets")["data"]["activeTargets"]
            return targets if targets and all(t["health"] != "unknown" for t in targets) else None

        targets = wait_until("every target scraped once", every_target_scraped, timeout=30,
                             alive=started["prometheus"].check_alive)
        found = get_json(f"{prometheus}/api/v1/query", query='{__name__=~"redis_up|pg_up|nginx_up"}')
        up_series = {s["metric"]["__name__"]: s for s in found["data"]["result"]}
        yield Live(
            servers=started, prometheus=prometheus, alertmanager=f"http://{LOOPBACK}:{am_port}",
            rendered=rendered, running=running, addresses=addresses, alertmanager_config=alertmanager_config,
            targets_at_start=targets, exporter_up_at_start=up_series,
        )


def test_the_running_config_is_the_rendered_one_with_loopback_addresses(live: Live) -> None:
    """Only target addresses, the rule path and the interval differ from what the stack deploys."""
    assert {EXPORTERS[j] for j in EXPORTERS} <= set(all_targets(live.rendered))
    back = {v: k for k, v in live.addresses.items()}
    assert len(back) == len(live.addresses), "two targets share a loopback address"
    restored = loopback_copy(live.running, back, Path(RULES_DIR))
    restored["global"].update({k: live.rendered["global"][k] for k in ("scrape_interval", "evaluation_interval")})
    assert restored == live.rendered
    assert all(a.startswith(f"{LOOPBACK}:") for a in all_targets(live.running))


def _rendered_job(live: Live, job: str) -> dict[str, Any]:
    return next(j for j in live.rendered["scrape_configs"] if j["job_name"] == job)


def test_exporter_targets_are_up_with_the_rendered_job_and_service_labels(live: Live) -> None:
    by_job: dict[str, list[dict[str, Any]]] = {}
    for target in live.targets_at_start:
        by_job.setdefault(target["labels"]["job"], []).append(target)
    for job, rendered_address in EXPORTERS.items():
        assert len(by_job.get(job, [])) == 1, f"job {job}: {by_job.get(job)}"
        target = by_job[job][0]
        assert target["health"] == "up", f"{job}: {target['lastError']}"
        static = _rendered_job(live, job)["static_configs"][0]
        assert target["labels"]["service"] == static["labels"]["service"] == job
        assert target["labels"]["instance"] == live.addresses[rendered_address]
        assert target["scrapeUrl"] == f"http://{live.addresses[rendered_address]}/metrics"
    prometheus = by_job["prometheus"][0]
    assert prometheus["health"] == "up" and prometheus["labels"]["service"] == "prometheus"


def test_every_rendered_target_is_scraped_with_its_labels_and_metrics_path(live: Live) -> None:
    """Application services are not running (down is expected); their labels and paths are as rendered."""
    expected = {
        (job["job_name"], static["labels"]["service"], live.addresses[address], job.get("metrics_path", "/metrics"))
        for job in live.rendered["scrape_configs"] for static in job["static_configs"] for address in static["targets"]
    }
    seen = {
        (t["labels"]["job"], t["labels"]["service"], t["labels"]["instance"],
         re.sub(r"^http://[^/]+", "", t["scrapeUrl"]))
        for t in live.targets_at_start
    }
    assert seen == expected


def test_the_exporters_read_the_real_servers(live: Live) -> None:
    for metric, job in (("redis_up", "redis"), ("pg_up", "postgres"), ("nginx_up", "nginx")):
        assert metric in live.exporter_up_at_start, f"{metric} not scraped"
        series = live.exporter_up_at_start[metric]
        assert series["value"][1] == "1", f"{metric}: {series}"
        assert series["metric"]["job"] == series["metric"]["service"] == job
    # The metrics the fixed alert expressions read exist under these names and labels.
    activity = live.query("pg_stat_activity_count")
    assert activity and all({"datname", "state", "service"} <= s["metric"].keys() for s in activity)
    assert live.query("sum by (instance, service) (pg_stat_activity_count)")
    assert live.query("redis_memory_used_bytes") and live.query("redis_memory_max_bytes == 0")
    # No maxmemory: the seed's ratio is +Inf (it would alert forever), the fixed one has no result.
    assert [s["value"][1] for s in live.query("redis_memory_used_bytes / redis_memory_max_bytes")] == ["+Inf"]
    assert live.query("redis_memory_used_bytes / (redis_memory_max_bytes > 0)") == []


def test_every_alert_rule_is_loaded_and_evaluates(live: Live) -> None:
    def evaluated() -> dict[str, dict[str, Any]] | None:
        groups = get_json(f"{live.prometheus}/api/v1/rules", type="alert")["data"]["groups"]
        rules = {r["name"]: r for g in groups for r in g["rules"]}
        done = all(not r["lastEvaluation"].startswith("0001-") for r in rules.values())
        return rules if rules and done else None

    rules = wait_until("every alert rule evaluated once", evaluated, timeout=15)
    expected = alert_rules()
    assert sorted(rules) == sorted(expected)  # every alert of the shipped rule files
    for name, rule in rules.items():
        assert rule["health"] == "ok", f"{name}: {rule.get('lastError')}"
        assert rule["duration"] == _seconds(expected[name].get("for", "0s"))


def _seconds(duration: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    return sum(int(n) * units[u] for n, u in re.findall(r"(\d+)(ms|s|m|h)", duration))


def _timestamp(text: str) -> float:
    # Prometheus reports nanoseconds; Python parses up to microseconds.
    return datetime.fromisoformat(re.sub(r"(\.\d{6})\d+", r"\1", text)).timestamp()


@dataclass
class Outage:
    nginx_exporter: str  # the stopped target's address
    stopped_at: float
    states: list[tuple[float, str]]  # (time seen, state) of ServiceDown{job="nginx"}, on each change
    firing: dict[str, Any]  # the alert as /api/v1/alerts reports it once firing


@pytest.fixture(scope="module")
def nginx_exporter_outage(live: Live) -> Outage:
    """Stop the nginx exporter and watch ServiceDown for it until it fires (bounded: hold + 30s)."""
    address = live.addresses[EXPORTERS["nginx"]]
    live.servers["prometheus-nginx-exporter"].stop()
    stopped_at = time.time()
    states: list[tuple[float, str]] = []

    def firing() -> dict[str, Any] | None:
        alerts = get_json(f"{live.prometheus}/api/v1/alerts")["data"]["alerts"]
        mine = [a for a in alerts if a["labels"].get("alertname") == "ServiceDown" and a["labels"]["job"] == "nginx"]
        assert len(mine) <= 1, mine
        if mine and (not states or states[-1][1] != mine[0]["state"]):
            states.append((time.time(), mine[0]["state"]))
        return mine[0] if mine and mine[0]["state"] == "firing" else None

    alert = wait_until('ServiceDown{job="nginx"} firing', firing, timeout=SERVICE_DOWN_HOLD + 30, interval=0.5,
                       alive=live.servers["prometheus"].check_alive)
    return Outage(nginx_exporter=address, stopped_at=stopped_at, states=states, firing=alert)


def test_service_down_goes_pending_then_firing_for_a_stopped_exporter(
    live: Live, nginx_exporter_outage: Outage,
) -> None:
    outage = nginx_exporter_outage
    states = [state for _, state in outage.states]
    assert states == ["pending", "firing"], outage.states
    active_at = _timestamp(outage.firing["activeAt"])
    pending_seen, firing_seen = outage.states[0][0], outage.states[1][0]
    assert active_at >= outage.stopped_at - 1  # it went down when the exporter stopped, not before
    assert pending_seen < active_at + SERVICE_DOWN_HOLD  # pending during the hold...
    assert firing_seen >= active_at + SERVICE_DOWN_HOLD  # ...and firing only after it
    assert outage.firing["labels"] == {
        "alertname": "ServiceDown", "severity": "critical",
        "job": "nginx", "service": "nginx", "instance": outage.nginx_exporter,
    }
    assert outage.firing["annotations"] == {
        "summary": f"Service nginx: {outage.nginx_exporter} is down",
        "description": f"{outage.nginx_exporter} of service nginx (job nginx) has been down for more than 1 minute",
        "runbook_url": live_settings().alertmanager.runbook_base_url + "docs/runbooks.md#servicedown",
    }
    # The exporters that still run raise nothing.
    alerts = get_json(f"{live.prometheus}/api/v1/alerts")["data"]["alerts"]
    down_jobs = {a["labels"].get("job") for a in alerts if a["labels"]["alertname"] == "ServiceDown"}
    assert not down_jobs & {"redis", "postgres", "prometheus"}, down_jobs


def test_prometheus_delivers_the_firing_alert_to_alertmanager(live: Live, nginx_exporter_outage: Outage) -> None:
    def delivered() -> list[dict[str, Any]] | None:
        found = get_json(f"{live.alertmanager}/api/v2/alerts", filter=['alertname="ServiceDown"', 'job="nginx"'])
        return found or None

    alerts = wait_until('ServiceDown{job="nginx"} in Alertmanager', delivered, timeout=30)
    assert len(alerts) == 1, alerts
    alert = alerts[0]
    external = live.rendered["global"].get("external_labels", {})
    assert alert["labels"] == {
        "alertname": "ServiceDown", "severity": "critical", "job": "nginx", "service": "nginx",
        "instance": nginx_exporter_outage.nginx_exporter, **external,
    }
    assert external == {"environment": STACK}
    assert alert["annotations"] == nginx_exporter_outage.firing["annotations"]
    receivers = [r["name"] for r in yaml.safe_load(live.alertmanager_config)["receivers"]]
    assert [r["name"] for r in alert["receivers"]] == [yaml.safe_load(live.alertmanager_config)["route"]["receiver"]]
    assert alert["receivers"][0]["name"] in receivers
    assert alert["generatorURL"] == f"{live.prometheus}/graph?g0.expr=up+%3D%3D+0&g0.tab=1"


def test_the_whole_service_down_pages_once(live: Live, nginx_exporter_outage: Outage) -> None:
    """nginx's one target down is the whole service down: ServiceAllTargetsDown fires with ServiceDown
    (both `for: 1m`) and the rendered inhibit rules mute ServiceDown by it in Alertmanager, so the
    outage notifies once (tests/live/test_live_alert_routing.py covers a service with replicas)."""
    def both() -> dict[str, dict[str, Any]] | None:
        found = {a["labels"]["alertname"]: a for a in get_json(f"{live.alertmanager}/api/v2/alerts",
                                                                 filter=['service="nginx"'])}
        muted = found.get("ServiceDown", {}).get("status", {}).get("state") == "suppressed"
        return found if muted and "ServiceAllTargetsDown" in found else None

    found = wait_until("ServiceDown{job=\"nginx\"} muted by ServiceAllTargetsDown", both, timeout=30)
    whole = found["ServiceAllTargetsDown"]
    assert whole["labels"] == {"alertname": "ServiceAllTargetsDown", "severity": "critical", "job": "nginx",
                               "service": "nginx", **live.rendered["global"].get("external_labels", {})}
    assert whole["status"]["state"] == "active", whole["status"]
    assert found["ServiceDown"]["status"]["inhibitedBy"] == [whole["fingerprint"]]
