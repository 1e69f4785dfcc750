"""Prometheus remote_write (prometheus.remoteWrite): rendered entries, credentials as secret files on
both targets, promtool on what a container reads, one-line errors. The live half (a real Prometheus
sending to a receiver in the test) is tests/live/test_live_remote_write.py."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from checkout import checkout, make
from google.protobuf import json_format

from components.catalog import load_catalog
from components.render.prometheus import remote_write_secret_file, render_prometheus_config
from components.settings import Settings, SettingsError, parse_settings
from conftest import stack_run
from mockengine.manifests import plain, without_secrets
from mockengine.program import STACKS, stack_config
from mockengine.rendered import workload_files
from mockengine.run import SECRET_SIG, Run, run_program
from mockengine.stand_ins import SENTINELS, with_secrets
from tools import require, run_tool

CONFIG = "/etc/prometheus/prometheus.yml"
BASE = {"target": "docker", "grafana": {"adminPassword": "s3cret-pass"}, "exporters": {"postgres": {"enabled": False}}}
PASSWORD = SENTINELS[("prometheus", "remoteWrite", 0, "password")]
TOKEN = SENTINELS[("prometheus", "remoteWrite", 1, "bearerToken")]
# Endpoint 0: basic auth and queue tuning; endpoint 1: a bearer token (secrets filled in by with_secrets).
ENDPOINTS = [
    {"url": "https://mimir.quikapp.test/api/v1/push", "name": "mimir", "username": "quikapp",
     "remoteTimeout": "1m", "headers": {"X-Scope-OrgID": "quikapp", "A-First": "sorted"},
     "queue": {"maxShards": 100, "minShards": 2, "capacity": 20000, "maxSamplesPerSend": 5000,
               "batchSendDeadline": "10s", "minBackoff": "100ms", "maxBackoff": "30s"}},
    {"url": "https://vm.quikapp.test/api/v1/write"},
]


def settings_with(endpoints: list[dict[str, Any]], secret: bool = True) -> Settings:
    return parse_settings({**BASE, "prometheus": {"remoteWrite": endpoints}}, {"grafana", "prometheus"} if secret
                          else {"grafana"})


def rendered(settings: Settings) -> dict[str, Any]:
    return dict(yaml.safe_load(render_prometheus_config(settings, load_catalog(), lambda s: s)))


def run_with_remote_write(stack: str, endpoints: list[dict[str, Any]] = ENDPOINTS,
                          on_register: Callable[[Any], None] | None = None) -> Run:
    values = stack_config(stack)
    values.setdefault("prometheus", {})["remoteWrite"] = endpoints
    return run_program(stack, *with_secrets(values), on_register=on_register)


# --- rendering ------------------------------------------------------------------------------------------


def test_entries_name_secret_files_and_only_the_queue_keys_that_are_set() -> None:
    config = rendered(settings_with([{**ENDPOINTS[0], "password": "pw-0123"}, {**ENDPOINTS[1], "bearerToken": "tk"}]))
    assert config["remote_write"] == [
        {"url": "https://mimir.quikapp.test/api/v1/push", "name": "mimir", "remote_timeout": "1m",
         "headers": {"A-First": "sorted", "X-Scope-OrgID": "quikapp"},
         "basic_auth": {"username": "quikapp", "password_file": "/etc/prometheus/secrets/remote-write-0-password"},
         "queue_config": {"capacity": 20000, "max_shards": 100, "min_shards": 2, "max_samples_per_send": 5000,
                          "batch_send_deadline": "10s", "min_backoff": "100ms", "max_backoff": "30s"}},
        {"url": "https://vm.quikapp.test/api/v1/write",
         "authorization": {"type": "Bearer",
                           "credentials_file": "/etc/prometheus/secrets/remote-write-1-bearer-token"}},
    ]


def test_an_endpoint_without_credentials_or_tuning_is_just_its_url() -> None:
    assert rendered(settings_with([{"url": "http://receiver:9201/write"}], secret=False))["remote_write"] == [
        {"url": "http://receiver:9201/write"}]


@pytest.mark.parametrize("stack", STACKS)
def test_without_remote_write_prometheus_yml_has_no_remote_write(stack: str) -> None:
    text = workload_files(stack_run(stack))["prometheus"][CONFIG]
    assert "remote_write" not in yaml.safe_load(text)
    assert not [p for p in workload_files(stack_run(stack))["prometheus"] if "/secrets/" in p]


# --- both targets: the credentials are secret files, prometheus.yml stays plain ---------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_credentials_reach_prometheus_as_secret_files_only(stack: str) -> None:
    run = run_with_remote_write(stack)
    files = workload_files(run)["prometheus"]
    assert files[remote_write_secret_file(0, "password")] == PASSWORD
    assert files[remote_write_secret_file(1, "bearer-token")] == TOKEN
    config = yaml.safe_load(files[CONFIG])
    assert [e.get("basic_auth", e.get("authorization")) for e in config["remote_write"]] == [
        {"username": "quikapp", "password_file": remote_write_secret_file(0, "password")},
        {"type": "Bearer", "credentials_file": remote_write_secret_file(1, "bearer-token")}]
    assert PASSWORD not in files[CONFIG] and TOKEN not in files[CONFIG]
    kubernetes = stack_config(stack)["target"] == "kubernetes"
    for record in run.resources:
        # Outside a Kubernetes Secret nothing may hold them, wrapped or not; elsewhere only wrapped.
        shown = without_secrets(record.inputs) if (not kubernetes or record.type == "kubernetes:core/v1:Secret") \
            else record.inputs
        for sentinel in (PASSWORD, TOKEN):
            assert sentinel not in json.dumps(shown), f"{record.type} {record.name}"
    if kubernetes:
        # prometheus.yml stays in the (plain, previewable) ConfigMap; the credentials are Secret keys.
        config_maps = [plain(c.inputs) for c in run.of_type("kubernetes:core/v1:ConfigMap")
                       if c.name.startswith("prometheus")]
        assert any("remote_write" in "".join(c.get("data", {}).values()) for c in config_maps)
        secret = next(s for s in run.of_type("kubernetes:core/v1:Secret") if s.name.startswith("prometheus"))
        assert SECRET_SIG in json.dumps(secret.inputs)


def test_on_docker_only_the_credential_uploads_are_secret() -> None:
    """What the SDK sends the engine: the secret marker sits on the two credential files' content,
    prometheus.yml and the rules stay plain, so `pulumi preview` still diffs them. (The mock monitor's
    recorded state lifts the marker to the whole `uploads` list; the request itself does not.)"""
    sent: dict[str, Any] = {}

    def record(request: Any) -> None:
        # Prometheus' files (live: re-read without a restart) travel with its config copier, staged
        # under /staging/0/ for /etc/prometheus/ (components/targets/docker_config.py).
        if request.type == "docker:index/container:Container" and request.name == "prometheus-config":
            sent.update(json_format.MessageToDict(request.object))

    def staged(path: str) -> str:
        return "/staging/0/" + path.removeprefix("/etc/prometheus/")

    run_with_remote_write("dev", on_register=record)
    secret = {u["file"] for u in sent["uploads"] if isinstance(u["content"], dict)}
    assert secret == {staged(remote_write_secret_file(0, "password")),
                      staged(remote_write_secret_file(1, "bearer-token"))}
    assert all(SECRET_SIG in json.dumps(u["content"]) for u in sent["uploads"] if u["file"] in secret)
    config = next(u["content"] for u in sent["uploads"] if u["file"] == staged(CONFIG))
    assert isinstance(config, str) and "password_file" in config


@pytest.mark.parametrize("stack", STACKS)
def test_remote_write_touches_only_prometheus(stack: str) -> None:
    before, after = stack_run(stack), run_with_remote_write(stack)
    changed = {r.urn for r in after.resources} ^ {r.urn for r in before.resources}
    changed |= {a.urn for a in after.resources for b in before.resources
                if a.urn == b.urn and json.dumps(plain(a.inputs), sort_keys=True, default=str)
                != json.dumps(plain(b.inputs), sort_keys=True, default=str)}
    assert changed and all("Prometheus" in urn for urn in changed), sorted(changed)


# --- promtool on what the container reads -----------------------------------------------------------------


def promtool_check(config: dict[str, Any], tmp_path: Path) -> Any:
    config = {**config, "rule_files": []}
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    return run_tool(require("promtool"), "check", "config", path)


@pytest.mark.parametrize("stack", STACKS)
def test_promtool_accepts_the_rendered_remote_write(stack: str, tmp_path: Path) -> None:
    files = workload_files(run_with_remote_write(stack))["prometheus"]
    config = yaml.safe_load(files[CONFIG])
    for job in config["scrape_configs"]:  # the service account token the kubelet jobs read
        if "credentials_file" in job.get("authorization", {}):
            (tmp_path / "token").write_text("placeholder\n")
            job["authorization"]["credentials_file"] = str(tmp_path / "token")
    for entry in config["remote_write"]:  # the secret files, as the container has them
        for block, key in (("basic_auth", "password_file"), ("authorization", "credentials_file")):
            if key in entry.get(block, {}):
                local = tmp_path / Path(entry[block][key]).name
                local.write_text(files[entry[block][key]])
                entry[block][key] = str(local)
    result = promtool_check(config, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda e: e["basic_auth"].update(passwd_file=e["basic_auth"].pop("password_file")), "field passwd_file not found"),
    (lambda e: e["queue_config"].update(max_shards=0), "max_shards must be positive"),
    (lambda e: e.update(authorization={"type": "Bearer", "credentials_file": "/x"}), "at most one of basic_auth"),
], ids=["misspelt-key", "zero-shards", "two-auths"])
def test_promtool_refuses_a_broken_remote_write(mutate: Any, message: str, tmp_path: Path) -> None:
    """promtool really checks remote_write (so the acceptance above means something)."""
    config = rendered(settings_with([{**ENDPOINTS[0], "password": "pw-0123"}]))
    config["scrape_configs"] = []
    mutate(config["remote_write"][0])
    result = promtool_check(config, tmp_path)
    assert result.returncode != 0 and message in result.stdout + result.stderr, result.stdout + result.stderr


# --- one-line errors ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("endpoints", "secret", "line"), [
    ([{"url": "ftp://mimir"}], False,
     "quikapp-monitoring:prometheus.remoteWrite[0].url: 'ftp://mimir' is not valid "
     "(allowed: an http:// or https:// URL)"),
    ([{"url": "https://a"}, {"username": "u"}], False,
     "quikapp-monitoring:prometheus.remoteWrite[1].url: required, but not set"),
    ([{"url": "https://a", "username": "u"}], False,
     "quikapp-monitoring:prometheus.remoteWrite[0].password: required secret, not set (set it with "
     "`pulumi config set --stack <stack> --secret --path 'prometheus.remoteWrite[0].password'`, which prompts "
     "for the value without echo or reads it from stdin)"),
    ([{"url": "https://a", "username": "u", "password": "pw"}], False,
     "quikapp-monitoring:prometheus.remoteWrite[0].password: [secret] is stored in plain text (allowed: only a "
     "secret; set it again with `pulumi config set --stack <stack> --secret --path "
     "'prometheus.remoteWrite[0].password'`, which prompts for the value without echo or reads it from stdin)"),
    ([{"url": "https://a", "password": "pw"}], True,
     "quikapp-monitoring:prometheus.remoteWrite[0]: [secret] is not valid "
     "(allowed: a username with the password (basic auth needs both))"),
    ([{"url": "https://a", "username": "u", "password": "pw", "bearerToken": "t"}], True,
     "quikapp-monitoring:prometheus.remoteWrite[0]: [secret] is not valid (allowed: either username + password "
     "(basic auth) or "
     "bearerToken, not both)"),
    ([{"url": "https://a", "queue": {"minShards": 8, "maxShards": 4}}], False,
     "quikapp-monitoring:prometheus.remoteWrite[0].queue: {'minShards': 8, 'maxShards': 4} is not valid "
     "(allowed: a minShards no larger than maxShards)"),
    ([{"url": "https://a", "queue": {"maxShards": 0}}], False,
     "quikapp-monitoring:prometheus.remoteWrite[0].queue.maxShards: 0 is not valid "
     "(allowed: greater than or equal to 1)"),
    ([{"url": "https://a", "name": "x"}, {"url": "https://b", "name": "x"}], False,
     "quikapp-monitoring:prometheus.remoteWrite: [{'url': 'https://a', 'name': 'x'}, {'url': 'https://b', 'name': "
     "'x'}] is not valid (allowed: endpoints with distinct names)"),
    ({"url": "https://a"}, False,
     "quikapp-monitoring:prometheus.remoteWrite: {'url': 'https://a'} is not valid (allowed: a valid list)"),
    ([{"url": "https://a", "headers": {"Authorization": "Bearer pasted-token"}}], False,
     "quikapp-monitoring:prometheus.remoteWrite[0].headers.Authorization: 'Authorization' is not valid (allowed: "
     "a header Prometheus does not set itself (credentials go in username/password or bearerToken))"),
    # A header name starting with a capital is a key of the stack file, not a type pydantic names.
    ([{"url": "https://a", "headers": {"X-Scope-OrgID": "a\nb"}}], False,
     "quikapp-monitoring:prometheus.remoteWrite[0].headers.X-Scope-OrgID: 'a\\nb' is not valid (allowed: text "
     "matching ^[ -~]{0,256}$)"),
    ([{"url": "https://a", "headers": {"x tenant": "q"}}], False,
     "quikapp-monitoring:prometheus.remoteWrite[0].headers.x tenant: 'x tenant' is not valid (allowed: an HTTP "
     "header name (letters, digits and '-'))"),
], ids=["url", "url-missing", "password-missing", "password-plaintext", "password-without-user", "two-auths",
        "shards", "zero-shards", "duplicate-names", "not-a-list", "reserved-header", "header-value",
        "header-name"])
def test_bad_remote_write_settings_are_one_line(endpoints: Any, secret: bool, line: str) -> None:
    with pytest.raises(SettingsError) as info:
        parse_settings({**BASE, "prometheus": {"remoteWrite": endpoints}}, {"grafana", "prometheus"} if secret
                       else {"grafana"})
    assert str(info.value) == f"invalid stack configuration: {line}"


# --- make render / make check with the secrets as `make up` stores them ------------------------------------

CIPHERTEXT = "v1:Zmk6MkVUQ2U4aHdAUXc=:v1:k0nV9Xq2b3Rt/Lw1:Y2lwaGVydGV4dC1ub3QtYS1zZWNyZXQ="


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_make_check_renders_placeholders_for_storage_secrets_and_passes(stack: str, tmp_path: Path) -> None:
    """The stack file holds `secure:` values inside a list item (remoteWrite[0].password) and in loki.s3;
    `make check` renders placeholders into the secret files and promtool reads the config with them."""
    require("promtool")
    require("amtool")
    tree = checkout(tmp_path)
    path = tree / f"Pulumi.{stack}.yaml"
    data = yaml.safe_load(path.read_text())
    config = data["config"]
    config["quikapp-monitoring:prometheus"]["remoteWrite"] = [
        {"url": "https://mimir.quikapp.test/api/v1/push", "username": "quikapp", "password": {"secure": CIPHERTEXT}},
        {"url": "https://vm.quikapp.test/api/v1/write", "bearerToken": {"secure": CIPHERTEXT}}]
    config["quikapp-monitoring:loki"] = {"storage": "s3", "s3": {
        "since": "2027-02-01", "bucket": "quikapp-logs", "accessKeyId": "AKIAEXAMPLE",
        "secretAccessKey": {"secure": CIPHERTEXT}}}
    path.write_text(yaml.safe_dump(data))
    result = make(tree, "check", f"STACK={stack}")
    assert result.returncode == 0, result.stdout + result.stderr
    said = "secure value (not decrypted) rendered as a placeholder"
    assert sorted(line for line in result.stderr.splitlines() if said in line) == [
        f"render {stack}: quikapp-monitoring:loki.s3.secretAccessKey: {said}",
        f"render {stack}: quikapp-monitoring:prometheus.remoteWrite[0].password: {said}",
        f"render {stack}: quikapp-monitoring:prometheus.remoteWrite[1].bearerToken: {said}"]
    out = tree / "build" / "rendered" / stack
    secrets = out / "prometheus" / "etc" / "prometheus" / "secrets"
    assert (secrets / "remote-write-0-password").read_text() == "redacted-remote-write-password"
    assert (secrets / "remote-write-1-bearer-token").read_text() == "redacted-remote-write-bearer-token"
    assert "remote_write" in (out / "prometheus" / "etc" / "prometheus" / "prometheus.yml").read_text()
    assert all(CIPHERTEXT not in p.read_text(errors="replace") for p in out.rglob("*") if p.is_file())
