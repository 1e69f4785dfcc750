"""Grafana: provisioning (datasources, links, dashboards), the admin password's handling and its resources."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.render.grafana import (
    DASHBOARD_PROVIDER_FILE,
    DASHBOARDS_DIR,
    DASHBOARDS_SOURCE,
    DATASOURCES_FILE,
    ENTRYPOINT_FILE,
    ENTRYPOINT_SOURCE,
    dump_dashboard,
    load_dashboards,
)
from components.settings import TargetKind, parse_settings
from conftest import stack_run
from mockengine.manifests import plain, without_secrets
from mockengine.program import STACKS, stack_config
from mockengine.rendered import workload_files
from mockengine.run import SECRET_SIG, Run, run_program
from mockengine.stand_ins import SENTINELS, with_secrets
from tools import require, run_tool

PASSWORD = SENTINELS[("grafana", "adminPassword")]
SEED_DASHBOARD = Path(__file__).parent / "fixtures" / "seed" / "services-overview.json"
DOCKER_STACKS = [s for s in STACKS if stack_config(s)["target"] == "docker"]
KUBERNETES_STACKS = [s for s in STACKS if stack_config(s)["target"] == "kubernetes"]
# Grafana's template variables, replaced by plausible values before promtool sees an expression.
VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h", "${service}": "backend",
             "$service": "backend", "$instance": "node-exporter:9100", "$namespace": "quikapp",
             "$name": "quikapp-grafana"}


def grafana_files(stack: str) -> dict[str, str]:
    return workload_files(stack_run(stack))["grafana"]


def provisioned(text: str) -> Any:
    """A provisioning file as Grafana reads it: env expansion first ($$ is a literal $), then YAML."""
    def expand(match: re.Match[str]) -> str:
        return "$" if match.group(0) == "$$" else os.environ.get(match.group(1) or match.group(2) or "", "")

    return yaml.safe_load(re.sub(r"\$\$|\$\{(\w+)\}|\$(\w+)", expand, text))


def datasources(stack: str = "dev") -> dict[str, dict[str, Any]]:
    return {d["uid"]: d for d in provisioned(grafana_files(stack)[DATASOURCES_FILE])["datasources"]}


def dashboards(stack: str = "dev") -> dict[str, dict[str, Any]]:
    return {path: json.loads(text) for path, text in grafana_files(stack).items() if path.endswith(".json")}


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for panel in dashboard.get("panels", []):
        found.append(panel)
        found.extend(panel.get("panels", []))  # collapsed rows hold their panels
    return found


def promql_expressions() -> list[tuple[str, str]]:
    """(where, expr) of every Prometheus query in every dashboard."""
    found = []
    for name, dashboard in load_dashboards().items():
        for panel in panels(dashboard):
            for target in panel.get("targets", []):
                if target.get("datasource", panel.get("datasource", {})).get("type") == "prometheus":
                    found.append((f"{name}: {panel['title']}/{target['refId']}", target["expr"]))
    return found


def substitute(expr: str) -> str:
    for variable, value in VARIABLES.items():
        expr = expr.replace(variable, value)
    assert "$" not in expr, f"unknown template variable in {expr}"
    return expr


def normalise(expr: str) -> str:
    """A dashboard query as the seed wrote it: the service filter dropped, the seed's 5m window, no spaces."""
    expr = expr.replace('{service=~"$service"}', "").replace(', service=~"$service"', "")
    return re.sub(r"\s+", "", expr.replace("$__rate_interval", "5m"))


def run_with(stack: str, **grafana: Any) -> Run:
    values = stack_config(stack)
    values["grafana"] = {**values.get("grafana", {}), **grafana}
    return run_program(stack, *with_secrets(values))


# --- datasources -------------------------------------------------------------------------------------------------


def test_datasources_have_stable_uids_and_in_network_urls() -> None:
    ds = datasources()
    assert {uid: (d["type"], d["url"]) for uid, d in ds.items()} == {
        "prometheus": ("prometheus", "http://prometheus:9090"),
        "loki": ("loki", "http://loki:3100"),
        "jaeger": ("jaeger", "http://jaeger:16686/jaeger"),
        "alertmanager": ("alertmanager", "http://alertmanager:9093"),
    }
    assert [uid for uid, d in ds.items() if d.get("isDefault")] == ["prometheus"]
    assert all(d["access"] == "proxy" for d in ds.values())


def test_datasources_are_linked_to_each_other() -> None:
    ds = datasources()
    exemplars = ds["prometheus"]["jsonData"]["exemplarTraceIdDestinations"]
    assert exemplars == [{"name": "trace_id", "datasourceUid": "jaeger"}]
    derived, = ds["loki"]["jsonData"]["derivedFields"]
    assert derived["datasourceUid"] == "jaeger"
    # After Grafana's env expansion the link is Grafana's own variable, not an emptied env var.
    assert derived["url"] == "${__value.raw}"
    pattern = re.compile(derived["matcherRegex"])
    for line in ('{"level":"info","traceId":"4bf92f3577b34da6a3ce929d0e0e4736"}',
                 "GET /x 200 trace_id=4bf92f3577b34da6a3ce929d0e0e4736"):
        match = pattern.search(line)
        assert match and match.group(1) == "4bf92f3577b34da6a3ce929d0e0e4736"
    logs = ds["jaeger"]["jsonData"]["tracesToLogsV2"]
    assert logs["datasourceUid"] == "loki"
    assert logs["customQuery"] is True and "${__span.traceId}" in logs["query"]


# Loki's service-name discovery: a pushed stream without `service_name` gets the value of the first of
# these labels it has, else "unknown_service" (grafana/loki@v3.7.6 pkg/validation/limits.go
# DiscoverServiceName defaults, pkg/loghttp/push/push.go ParseRequest). The stack's Loki config keeps
# the default (no limits_config.discover_service_name).
LOKI_SERVICE_NAME_LABELS = ("service", "app", "application", "app_name", "name", "app_kubernetes_io_name",
                            "container", "container_name", "k8s_container_name", "component", "workload", "job",
                            "k8s_job_name")


def stored_streams(kind: TargetKind) -> list[dict[str, str]]:
    """Label sets of the streams Loki stores from the rendered Promtail config on `kind`: a plain-text
    line (the job's relabelled labels plus `stream`) and a JSON line with a `service` field (plus the
    pipeline's `level` and `service` labels), each with the `service_name` Loki adds."""
    from components.render.promtail import promtail_config

    (job,) = promtail_config(kind)["scrape_configs"]
    names = [r["target_label"] for r in job["relabel_configs"] if not r["target_label"].startswith("__")]
    plain_line = {name: f"{name}-value" for name in {*names, "stream"}}
    json_line = {**plain_line, "level": "info", "service": "auth-service"}
    streams = []
    for labels in (plain_line, json_line):
        found = next((labels[n] for n in LOKI_SERVICE_NAME_LABELS if labels.get(n)), "unknown_service")
        streams.append({**labels, "service_name": found})
    return streams


def selects(query: str, labels: dict[str, str]) -> bool:
    """Whether the stream selector of a LogQL query selects a stream with these labels (RE2 matchers
    are anchored, as Loki's: Python's fullmatch for the simple patterns used here)."""
    selector = re.match(r"\s*\{(.*?)\}", query)
    assert selector, query
    matchers = re.findall(r'(\w+)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"', selector.group(1))
    assert matchers, query
    value = {"=": lambda v, p: v == p, "!=": lambda v, p: v != p,
             "=~": lambda v, p: re.fullmatch(p, v) is not None, "!~": lambda v, p: re.fullmatch(p, v) is None}
    return all(value[op](labels.get(name, ""), pattern) for name, op, pattern in matchers)


@pytest.mark.parametrize("stack", STACKS)
def test_traces_to_logs_finds_the_lines_of_every_stream(stack: str) -> None:
    """A span's "logs" link queries Loki with the rendered tracesToLogsV2 query: its selector takes every
    stream Loki stores from this stack's Promtail, plain-text lines too (they have no `service` label:
    only JSON lines with a `service` field get one), and the line filter keeps the span's trace id."""
    logs = datasources(stack)["jaeger"]["jsonData"]["tracesToLogsV2"]
    query = logs["query"]
    assert logs["customQuery"] is True and logs["filterByTraceID"] is True
    assert re.search(r'\|=\s*"\$\{__span\.traceId\}"', query), query
    kind = TargetKind(stack_config(stack)["target"])
    streams = stored_streams(kind)
    assert "service" not in streams[0]  # the plain-text stream
    assert [selects(query, labels) for labels in streams] == [True, True], (query, streams)
    # The selector names Loki's service label only: it finds a stream whatever else it carries.
    assert selects(query, {"service_name": "unknown_service"})


def test_alertmanager_datasource_shows_the_stacks_alertmanager() -> None:
    """Grafana lists the firing alerts of the stack's Alertmanager (the one prometheus.yml sends to)."""
    am = datasources()["alertmanager"]
    assert am["name"] == "Alertmanager" and am["access"] == "proxy" and am["editable"] is False
    # Prometheus' Alertmanager API, not Mimir's (Grafana's default implementation, whose config API differs).
    assert am["jsonData"] == {"implementation": "prometheus", "handleGrafanaManagedAlerts": False}
    prometheus_yml = yaml.safe_load(workload_files(stack_run("dev"))["prometheus"]["/etc/prometheus/prometheus.yml"])
    target, = prometheus_yml["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert am["url"] == f"http://{target}"
    assert not am.get("isDefault")


def test_every_referenced_datasource_uid_is_provisioned() -> None:
    uids = set(datasources())
    for ds in datasources().values():
        links = [*ds["jsonData"].get("exemplarTraceIdDestinations", []), *ds["jsonData"].get("derivedFields", [])]
        if "tracesToLogsV2" in ds["jsonData"]:
            links.append(ds["jsonData"]["tracesToLogsV2"])
        assert {link["datasourceUid"] for link in links} <= uids


def test_provisioning_is_identical_on_every_stack() -> None:
    """Datasources and the provider are one text; only the set of dashboards follows the target."""
    reference = {p: t for p, t in grafana_files(STACKS[0]).items() if not p.endswith(".json")}
    for stack in STACKS[1:]:
        assert {p: t for p, t in grafana_files(stack).items() if not p.endswith(".json")} == reference


# --- dashboards --------------------------------------------------------------------------------------------------


def test_dashboard_provider_loads_the_mounted_dashboards() -> None:
    files = grafana_files("dev")
    provider, = yaml.safe_load(files[DASHBOARD_PROVIDER_FILE])["providers"]
    assert provider["type"] == "file" and provider["options"]["path"] == DASHBOARDS_DIR
    mounted = sorted(Path(p).name for p in files if p.startswith(DASHBOARDS_DIR + "/"))
    assert set(mounted) <= {p.name for p in DASHBOARDS_SOURCE.glob("*.json")}
    assert len(mounted) >= 2  # which ones each target gets: tests/test_dashboards.py


def test_dashboards_are_serialised_deterministically() -> None:
    for path, text in grafana_files("dev").items():
        if path.endswith(".json"):
            assert text == json.dumps(json.loads(text), sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    source = DASHBOARDS_SOURCE / "services-overview.json"
    assert dump_dashboard(json.loads(source.read_text())) == grafana_files("dev")[
        f"{DASHBOARDS_DIR}/services-overview.json"]


def test_dashboards_have_unique_uids_and_current_panel_types() -> None:
    uids = [d["uid"] for d in dashboards().values()]
    assert len(set(uids)) == len(uids) and all(uids)
    for dashboard in dashboards().values():
        assert "id" not in dashboard or dashboard["id"] is None  # ids are per instance
        for panel in panels(dashboard):
            # Never the deprecated graph; logs and table only for Loki's and Jaeger's results.
            assert panel["type"] in {"row", "timeseries", "stat", "logs", "table"}, panel["title"]
            assert {"x", "y", "w", "h"} <= set(panel["gridPos"])


def test_every_panel_and_target_uses_a_provisioned_datasource() -> None:
    uids = set(datasources())
    checked = 0
    for dashboard in dashboards().values():
        for variable in dashboard["templating"]["list"]:
            assert variable["datasource"]["uid"] in uids
        for panel in panels(dashboard):
            if panel["type"] == "row":
                assert not panel.get("targets")
                continue
            assert panel["datasource"]["uid"] in uids, panel["title"]
            assert panel["targets"], panel["title"]
            for target in panel["targets"]:
                assert target["datasource"]["uid"] in uids, panel["title"]
                checked += 1
    assert checked >= 10


def test_overview_has_a_service_variable_from_up() -> None:
    overview = next(d for d in dashboards().values() if d["title"] == "QuikApp Services Overview")
    variable, = overview["templating"]["list"]
    assert variable["name"] == "service" and variable["type"] == "query"
    assert variable["definition"] == "label_values(up, service)"
    assert variable["query"]["query"] == "label_values(up, service)"
    assert variable["multi"] and variable["includeAll"]
    for panel in panels(overview):
        for target in panel.get("targets", []):
            assert 'service=~"$service"' in target["expr"], panel["title"]


def test_the_seeds_overview_panels_are_present() -> None:
    """Pure: the seed's four titles with its queries (scoped by $service, $__rate_interval for 5m)."""
    seed = json.loads(SEED_DASHBOARD.read_text())["dashboard"]
    ours = next(d for d in load_dashboards().values() if d["title"] == seed["title"])
    by_title = {p["title"]: p for p in panels(ours)}
    for seed_panel in seed["panels"]:
        panel = by_title[seed_panel["title"]]
        assert panel["type"] == ("stat" if seed_panel["type"] == "stat" else "timeseries")
        expected = re.sub(r"\s+", "", seed_panel["targets"][0]["expr"])
        assert expected in [normalise(t["expr"]) for t in panel["targets"]], seed_panel["title"]


def test_key_metrics_dashboard_covers_the_seeds_table() -> None:
    metrics = next(d for d in load_dashboards().values() if d["title"] == "QuikApp Key Metrics by Service")
    rows: dict[str, list[dict[str, Any]]] = {}
    current = None
    for panel in metrics["panels"]:
        if panel["type"] == "row":
            current = rows.setdefault(panel["title"], [])
        else:
            assert current is not None
            current.append(panel)
    assert list(rows) == ["Backend Gateway", "Auth Service", "Message Service", "Realtime Service",
                          "Search Service", "Analytics Service"]
    services = {"Backend Gateway": "backend", "Auth Service": "auth-service", "Message Service": "message",
                "Realtime Service": "realtime", "Search Service": "search", "Analytics Service": "analytics"}
    for title, row_panels in rows.items():
        assert len(row_panels) >= 2, title
        for panel in row_panels:
            for target in panel["targets"]:
                assert f'service="{services[title]}"' in target["expr"], panel["title"]


def test_promtool_accepts_every_dashboard_query(tmp_path: Path) -> None:
    promtool = require("promtool")
    expressions = promql_expressions()
    assert len(expressions) >= 15
    rules = {"groups": [{"name": "dashboards", "rules": [
        {"record": f"dashboard:query_{i}:check", "expr": substitute(expr)} for i, (_, expr) in enumerate(expressions)
    ]}]}
    path = tmp_path / "dashboards.rules.yml"
    path.write_text(yaml.safe_dump(rules))
    result = run_tool(promtool, "check", "rules", path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(expressions)} rules found" in result.stdout


def test_promtool_rejects_a_broken_dashboard_query(tmp_path: Path) -> None:
    promtool = require("promtool")
    expr = next(e for _, e in promql_expressions() if "[$__rate_interval]" in e)
    path = tmp_path / "broken.rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "x", "rules": [
        {"record": "x:broken", "expr": substitute(expr).replace("[5m]", "[5m")}]}]}))
    assert run_tool(promtool, "check", "rules", path).returncode != 0


# --- the admin password --------------------------------------------------------------------------------------------


def _entrypoint_sandbox(tmp_path: Path, with_db: bool, cli_status: int = 0, env: dict[str, str] | None = None,
                        shell: tuple[str, ...] = ("sh",)) -> subprocess.CompletedProcess[str]:
    """Run the real wrapper with a fake `grafana` CLI and a fake /run.sh that record what they got.

    This shows what the wrapper does (when it resets, with what, what it starts after). What the
    real `grafana cli` then does with the database is Grafana's: docs/CONFIGURATION.md § Grafana
    says what was read in its source and what no test here runs (Grafana cannot be built or
    installed here)."""
    bin_dir, data = tmp_path / "bin", tmp_path / "data"
    bin_dir.mkdir()
    data.mkdir()
    if with_db:
        (data / "grafana.db").write_text("")
    fake_cli = bin_dir / "grafana"
    fake_cli.write_text(f'#!/bin/sh\necho "$@" > {tmp_path}/cli.args\nenv > {tmp_path}/cli.env\n'
                        f'cat > {tmp_path}/cli.stdin\nexit {cli_status}\n')
    fake_run = tmp_path / "run.sh"
    fake_run.write_text(f'#!/bin/sh\necho "$@" > {tmp_path}/run.args\n')
    for script in (fake_cli, fake_run):
        script.chmod(script.stat().st_mode | stat.S_IXUSR)
    script_text = ENTRYPOINT_SOURCE.read_text().replace("exec /run.sh", f"exec {fake_run}")
    assert script_text != ENTRYPOINT_SOURCE.read_text()
    wrapper = tmp_path / "entrypoint.sh"
    wrapper.write_text(script_text)
    env = {**(env or {}), "PATH": f"{bin_dir}:/usr/bin:/bin", "GF_PATHS_DATA": str(data),
           "GF_SECURITY_ADMIN_PASSWORD": PASSWORD}
    return subprocess.run([*shell, str(wrapper), "cfg:x=1"], capture_output=True, text=True, env=env, timeout=30)


def test_entrypoint_resets_the_admin_password_when_the_database_exists(tmp_path: Path) -> None:
    result = _entrypoint_sandbox(tmp_path, with_db=True)
    assert result.returncode == 0, result.stderr
    args = (tmp_path / "cli.args").read_text().split()
    assert args[0] == "cli" and args[-3:] == ["admin", "reset-admin-password", "--password-from-stdin"]
    assert PASSWORD not in " ".join(args)  # over stdin, never on the command line
    assert (tmp_path / "cli.stdin").read_text() == PASSWORD
    assert (tmp_path / "run.args").read_text().split() == ["cfg:x=1"]  # then the image's entrypoint
    assert PASSWORD not in result.stdout + result.stderr


def test_entrypoint_leaves_a_first_start_to_grafana(tmp_path: Path) -> None:
    result = _entrypoint_sandbox(tmp_path, with_db=False)
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "cli.args").exists()  # Grafana creates the admin from the env itself
    assert (tmp_path / "run.args").exists()


GRAFANA_DB = {"type": "postgres", "host": "postgres.quikapp.svc:5432", "name": "grafana", "user": "grafana"}


def _deployed_grafana_env(run: Run) -> dict[str, str]:
    """The Grafana container's plain env as the Deployment gives it (secret env left out)."""
    from mockengine.manifests import k8s_workload

    (container,) = [c for c in k8s_workload(run, "grafana")["spec"]["template"]["spec"]["containers"]
                    if c["name"] == "grafana"]
    return {e["name"]: e["value"] for e in container["env"] if "value" in e}


def test_entrypoint_resets_the_password_in_an_external_database(tmp_path: Path) -> None:
    """Replicas on `grafana.database` never have grafana.db (their data directory is scratch): with the
    env the Deployment gives them, the wrapper still resets the admin password, in that database, before
    every start, so a rotated `grafana.adminPassword` is the one that logs in. Run by busybox sh, the
    shell of the Alpine-based image."""
    from guarantees import run_with

    env = _deployed_grafana_env(run_with("prod", {"grafana": {"replicas": 2, "database": GRAFANA_DB}}))
    assert env["GF_DATABASE_TYPE"] == "postgres"
    result = _entrypoint_sandbox(tmp_path, with_db=False, env={**env, "GF_DATABASE_PASSWORD": "db-pw"},
                                 shell=(require("busybox"), "sh"))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "cli.args").read_text().split()[-3:] == ["admin", "reset-admin-password",
                                                               "--password-from-stdin"]
    assert (tmp_path / "cli.stdin").read_text() == PASSWORD
    # The CLI gets the database the server uses (Grafana reads GF_DATABASE_* overrides in both).
    cli_env = dict(line.split("=", 1) for line in (tmp_path / "cli.env").read_text().splitlines() if "=" in line)
    assert {k: cli_env[k] for k in ("GF_DATABASE_TYPE", "GF_DATABASE_HOST", "GF_DATABASE_NAME")} == {
        "GF_DATABASE_TYPE": "postgres", "GF_DATABASE_HOST": "postgres.quikapp.svc:5432", "GF_DATABASE_NAME": "grafana"}
    assert (tmp_path / "run.args").read_text().split() == ["cfg:x=1"]


def test_entrypoint_stops_when_the_reset_fails(tmp_path: Path) -> None:
    result = _entrypoint_sandbox(tmp_path, with_db=True, cli_status=1)
    assert result.returncode != 0
    assert not (tmp_path / "run.args").exists()


# --- resources ---------------------------------------------------------------------------------------------------


def grafana_image(stack: str) -> str:
    image = parse_settings(*with_secrets(stack_config(stack))).images.grafana
    # A supported series (Grafana 10 is out of support): 12 or later, the default (Alpine) variant
    # that has /bin/sh for the wrapper and busybox wget for the health check.
    assert re.fullmatch(r"grafana/grafana:(1[2-9]|[2-9]\d)\.\d+\.\d+", image), image
    return image


@pytest.mark.parametrize("stack", DOCKER_STACKS)
def test_docker_grafana_container(stack: str) -> None:
    run = stack_run(stack)
    component = run.one("quikapp:monitoring:Grafana", "grafana")
    record = run.one("docker:index/container:Container", "grafana")
    assert record.parent == component.urn
    assert plain(run.one("docker:index/remoteImage:RemoteImage", "grafana-image").inputs)["name"] == (
        grafana_image(stack))
    assert plain(run.one("docker:index/volume:Volume", "grafana-grafana-data").inputs)["name"] == "grafana_data"
    container = plain(record.inputs)
    assert container["name"] == "quikapp-grafana"
    assert container["entrypoints"] == ["/bin/sh", ENTRYPOINT_FILE]
    # The data volume, and the dashboards' config volume (refreshed in place, polled by Grafana).
    assert container["volumes"] == [{"volumeName": "grafana_data", "containerPath": "/var/lib/grafana"},
                                    {"volumeName": "grafana_config", "containerPath": DASHBOARDS_DIR,
                                     "readOnly": True}]
    publish = stack_config(stack).get("docker", {}).get("publishAddress", "127.0.0.1")
    assert container["ports"] == [{"internal": 3000, "external": 3030, "ip": publish, "protocol": "tcp"}]
    assert container["networksAdvanced"][0]["aliases"] == ["grafana"]
    assert "http://127.0.0.1:3000/api/health" in container["healthcheck"]["tests"]
    envs = dict(e.split("=", 1) for e in container["envs"])
    assert envs["GF_USERS_ALLOW_SIGN_UP"] == "false"
    assert envs["GF_SECURITY_ADMIN_USER"] == "admin"
    assert envs["GF_SECURITY_ADMIN_PASSWORD"] == PASSWORD != "admin"
    assert "GF_SERVER_ROOT_URL" not in envs
    assert SECRET_SIG in record.inputs["envs"]  # the password makes the env list a secret
    # Read at start: uploads of the container. Dashboards go through the copier instead.
    uploads = {u["file"] for u in container["uploads"]}
    assert uploads == {ENTRYPOINT_FILE, DATASOURCES_FILE, DASHBOARD_PROVIDER_FILE}


def test_settings_drive_port_user_and_root_url() -> None:
    run = run_with("dev", publishPort=3999, adminUser="quikapp-admin", rootUrl="https://grafana.quikapp.test/")
    container = plain(run.one("docker:index/container:Container", "grafana").inputs)
    assert container["ports"][0]["external"] == 3999
    envs = dict(e.split("=", 1) for e in container["envs"])
    assert envs["GF_SECURITY_ADMIN_USER"] == "quikapp-admin"
    assert envs["GF_SERVER_ROOT_URL"] == "https://grafana.quikapp.test/"
    assert run.outputs["grafanaUrl"] == "https://grafana.quikapp.test/"


@pytest.mark.parametrize("stack", KUBERNETES_STACKS)
def test_kubernetes_grafana_objects(stack: str) -> None:
    run = stack_run(stack)
    deployment = plain(run.one("kubernetes:apps/v1:Deployment", "grafana").inputs)
    assert deployment["spec"]["strategy"]["type"] == "Recreate"
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsUser"] == 472 and pod["securityContext"]["fsGroup"] == 472
    assert pod["securityContext"]["runAsNonRoot"] is True
    container, = pod["containers"]
    assert container["image"] == grafana_image(stack)
    assert container["command"] == ["/bin/sh", ENTRYPOINT_FILE]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["readinessProbe"]["httpGet"] == {"path": "/api/health", "port": 3000}
    assert container["resources"]["limits"] == {"cpu": "1", "memory": "512Mi"}
    env = {e["name"]: e for e in container["env"]}
    assert env["GF_USERS_ALLOW_SIGN_UP"]["value"] == "false"
    password_ref = env["GF_SECURITY_ADMIN_PASSWORD"]["valueFrom"]["secretKeyRef"]
    assert "value" not in env["GF_SECURITY_ADMIN_PASSWORD"]
    secret = next(plain(s.inputs) for s in run.of_type("kubernetes:core/v1:Secret")
                  if plain(s.inputs)["metadata"]["name"] == password_ref["name"])
    assert secret["stringData"][password_ref["key"]] == PASSWORD
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert mounts["/var/lib/grafana"]["name"] == "grafana-data"
    assert {"/tmp", "/var/log/grafana"} <= set(mounts)
    scratch = {v["name"] for v in pod["volumes"] if "emptyDir" in v}
    assert {mounts["/tmp"]["name"], mounts["/var/log/grafana"]["name"]} <= scratch
    assert mounts[DATASOURCES_FILE]["name"] == "config"  # provisioning holds no secret: a ConfigMap
    pvc = plain(run.one("kubernetes:core/v1:PersistentVolumeClaim", "grafana-grafana-data").inputs)
    assert pvc["metadata"]["name"] == "grafana-data" and pvc["spec"]["resources"]["requests"]["storage"] == "5Gi"
    service = plain(run.one("kubernetes:core/v1:Service", "grafana-service").inputs)
    assert service["metadata"]["name"] == "grafana"
    assert service["spec"]["ports"] == [{"name": "http", "port": 3000, "targetPort": 3000, "protocol": "TCP"}]


def test_outputs_per_target() -> None:
    dev = stack_run("dev").outputs
    assert dev["grafanaUrl"] == "http://127.0.0.1:3030"
    assert dev["grafanaInternalUrl"] == "http://grafana:3000"
    prod = stack_run("prod").outputs
    assert prod["grafanaInternalUrl"] == "http://grafana.monitoring.svc.cluster.local:3000"
    assert prod["grafanaUrl"] == "http://localhost:3030"  # via the port-forward below
    assert prod["portForward"]["grafana"] == (
        "kubectl --context quikapp-prod -n monitoring port-forward svc/grafana 3030:3000")


@pytest.mark.parametrize("stack", STACKS)
def test_admin_password_only_in_secrets(stack: str) -> None:
    run = stack_run(stack)
    kubernetes = stack_config(stack)["target"] == "kubernetes"
    holders = []
    for record in run.resources:
        if PASSWORD in repr(record.inputs):
            holders.append(record.type)
        shown = record.inputs if kubernetes and record.type != "kubernetes:core/v1:Secret" else without_secrets(
            record.inputs)
        assert PASSWORD not in repr(shown), f"{record.type} {record.name}"
    assert holders == ["kubernetes:core/v1:Secret" if kubernetes else "docker:index/container:Container"]
    assert PASSWORD not in repr(run.outputs)
    assert PASSWORD not in json.dumps(grafana_files(stack))  # no provisioning file holds it


def test_kubernetes_ingress_exposes_only_grafana_with_tls() -> None:
    import kubernetes_validate
    from guarantees import with_changes

    from mockengine.manifests import manifest
    from mockengine.run import run_program

    values, secret_keys = with_changes("prod", {"grafana": {"ingress": {
        "host": "grafana.quikapp.example", "className": "nginx", "tlsSecretName": "grafana-tls"}}})
    run = run_program("prod", values, secret_keys)
    (ingress,) = run.of_type("kubernetes:networking.k8s.io/v1:Ingress")
    body = manifest(ingress)
    kubernetes_validate.validate(body, "1.30", strict=True)
    assert body["spec"]["ingressClassName"] == "nginx"
    assert body["spec"]["tls"] == [{"hosts": ["grafana.quikapp.example"], "secretName": "grafana-tls"}]
    backend = body["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": "grafana", "port": {"number": 3000}}
    assert run.outputs["grafanaUrl"] == "https://grafana.quikapp.example"
    container = plain(run.one("kubernetes:apps/v1:Deployment", "grafana").inputs)["spec"]["template"]["spec"][
        "containers"][0]
    assert {"name": "GF_SERVER_ROOT_URL", "value": "https://grafana.quikapp.example"} in container["env"]


def test_ingress_on_a_docker_stack_is_refused() -> None:
    import pulumi
    from guarantees import with_changes

    from mockengine.run import run_program

    values, secret_keys = with_changes("dev", {"grafana": {"ingress": {"host": "grafana.quikapp.example"}}})
    with pytest.raises(pulumi.RunError, match=r"grafana\.ingress: is set on a docker stack"):
        run_program("dev", values, secret_keys)


# --- replicas and Grafana-managed alerting ---------------------------------------------------------------------


def test_replicas_do_not_evaluate_grafana_managed_alert_rules() -> None:
    """Replicas on a shared database that form no alerting cluster would each evaluate every
    Grafana-managed rule and each notify: rule execution is off there (the UI stays)."""
    from guarantees import run_with

    replicated = _deployed_grafana_env(run_with("prod", {"grafana": {"replicas": 2, "database": GRAFANA_DB}}))
    assert replicated["GF_UNIFIED_ALERTING_EXECUTE_ALERTS"] == "false"
    assert "GF_UNIFIED_ALERTING_HA_PEERS" not in replicated
    # One Grafana (on its volume or on the database) notifies once: left as Grafana ships it.
    single = _deployed_grafana_env(run_with("prod", {"grafana": {"database": GRAFANA_DB}}))
    assert "GF_UNIFIED_ALERTING_EXECUTE_ALERTS" not in single
    assert "GF_UNIFIED_ALERTING_EXECUTE_ALERTS" not in _deployed_grafana_env(stack_run("prod"))
