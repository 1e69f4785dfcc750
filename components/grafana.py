"""Grafana: dashboards over Prometheus, Loki and Jaeger, provisioned from configs/grafana."""

from __future__ import annotations

import pulumi

from .render.grafana import DASHBOARDS_DIR, ENTRYPOINT_FILE, grafana_files
from .services import GRAFANA
from .settings import Settings
from .targets import Target
from .tool import ToolComponent
from .workload import (
    DataVolume,
    File,
    Health,
    Ingress,
    Placement,
    Port,
    Replication,
    Resources,
    RootFilesystem,
    Workload,
)

DATA_DIR = "/var/lib/grafana"
# The image's `grafana` user (ARG GF_UID="472"). The default tag is the Alpine variant (/bin/sh for
# the entrypoint wrapper, busybox wget for the health check, /run.sh as ENTRYPOINT); the Ubuntu and
# distroless variants are other tags. grafana/grafana Dockerfile (final-alpine is the default stage),
# read on main, not at the 13.2.0 tag (docs/UPSTREAM-FACTS.md, Versions read).
GRAFANA_UID = 472


def grafana_workload(settings: Settings, target: Target) -> Workload:
    gf = settings.grafana
    if gf.admin_password is None:  # the loader already refuses this; keeps the type narrow
        raise ValueError("grafana.adminPassword is required")
    env = [
        ("GF_SECURITY_ADMIN_USER", gf.admin_user),
        ("GF_USERS_ALLOW_SIGN_UP", "false"),
        ("GF_ANALYTICS_REPORTING_ENABLED", "false"),
    ]
    root_url = grafana_root_url(settings)
    if root_url:
        env.append(("GF_SERVER_ROOT_URL", root_url))
    secret_env: list[tuple[str, pulumi.Input[str]]] = [
        ("GF_SECURITY_ADMIN_PASSWORD", gf.admin_password.get_secret_value())]
    env += database_env(settings)
    if gf.database is not None and gf.database.password is not None:
        secret_env.append(("GF_DATABASE_PASSWORD", gf.database.password.get_secret_value()))
    data = DataVolume("grafana_data", DATA_DIR, gf.storage_size)
    # Replicas share their state through the external database; each keeps only a scratch data
    # directory (plugins, rendered images). The loader allows replicas > 1 only with a database.
    replicated = gf.replicas > 1
    if replicated:
        # Grafana-managed alert rules off: every replica would evaluate each rule and, not forming an
        # alerting cluster ([unified_alerting] ha_peers unset), notify once per replica. The stack's
        # alerts are Prometheus rules; the Alerting pages stay (Alertmanager datasource). The key:
        # grafana/grafana pkg/setting/setting_unified_alerting.go ReadUnifiedAlertingSettings
        # (`execute_alerts`, default true: "Enable or disable alerting rule execution. The alerting UI
        # remains visible", conf/defaults.ini), read on main at 0253a221, not at the 13.2.0 tag.
        env.append(("GF_UNIFIED_ALERTING_EXECUTE_ALERTS", "false"))
    return Workload(
        name=GRAFANA.name,
        image=settings.images.grafana,
        # The wrapper re-applies GF_SECURITY_ADMIN_PASSWORD on every start, then runs /run.sh.
        entrypoint=("/bin/sh", ENTRYPOINT_FILE),
        env=tuple(env),
        secret_env=tuple(secret_env),
        ports=(Port("http", GRAFANA.port, publish=gf.publish_port, clients="any"),),
        # Dashboards are live (the file provider polls their directory); datasources, the provider
        # file and the entrypoint are read at start (docs/OPERATIONS.md, "What reloads").
        files=tuple(File(path, text, live=path.startswith(DASHBOARDS_DIR + "/"))
                    for path, text in grafana_files(settings).items()),
        volumes=() if replicated else (data,),
        health=Health("/api/health", GRAFANA.port,
                      docker_test=("CMD", "wget", "-q", "--spider", f"http://127.0.0.1:{GRAFANA.port}/api/health")),
        resources=Resources(**gf.resources.model_dump()),
        user=GRAFANA_UID,
        # Everything Grafana writes (DB, plugins, sessions) is under the data volume; logs go to
        # the console. /tmp and the log directory stay writable for what remains.
        root_filesystem=RootFilesystem(scratch_dirs=("/tmp", "/var/log/grafana", *((DATA_DIR,) if replicated else ()))),
        placement=Placement(replication=Replication(gf.replicas, stable_identity=False, retired_volumes=(data,))
                            if replicated else None),
        ingress=Ingress(gf.ingress.host, "http", gf.ingress.class_name, gf.ingress.tls_secret_name)
        if gf.ingress else None,
    )


# Grafana's `ssl_mode` per database type: postgres takes libpq's modes, mysql true/false/skip-verify
# (grafana/grafana docs/sources/setup-grafana/configure-grafana/_index.md, [database] ssl_mode).
_SSL_MODES = {
    "postgres": {"disable": "disable", "require": "require", "verify-full": "verify-full"},
    "mysql": {"disable": "false", "require": "skip-verify", "verify-full": "true"},
}


def database_env(settings: Settings) -> list[tuple[str, str]]:
    """GF_DATABASE_* for an external database (the password goes as secret env)."""
    db = settings.grafana.database
    if db is None:
        return []
    return [("GF_DATABASE_TYPE", db.type), ("GF_DATABASE_HOST", db.host), ("GF_DATABASE_NAME", db.name),
            ("GF_DATABASE_USER", db.user), ("GF_DATABASE_SSL_MODE", _SSL_MODES[db.type][db.ssl_mode])]


def grafana_root_url(settings: Settings) -> str | None:
    """The URL users open: rootUrl if set, else the ingress host (links in alerts and emails use it)."""
    gf = settings.grafana
    if gf.root_url:
        return gf.root_url
    if gf.ingress:
        return f"{'https' if gf.ingress.tls_secret_name else 'http'}://{gf.ingress.host}"
    return None


class Grafana(ToolComponent):
    TYPE = "quikapp:monitoring:Grafana"

    def __init__(self, name: str, settings: Settings, target: Target,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        self.root_url = grafana_root_url(settings)
        super().__init__(name, grafana_workload(settings, target), target, opts)

    def public_url(self) -> str | None:
        """Where operators open Grafana: its root URL when set, else the published port."""
        return self.root_url or self.url("http", public=True)
