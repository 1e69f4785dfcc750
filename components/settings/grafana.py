"""Settings of Grafana (`grafana`): the admin, how it is reached, its replicas and their shared database."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from .base import DnsLabel, HostAndPort, HttpUrl, Model, Number, Port, Quantity, Secret
from .secrets import RequiredSecret
from .workloads import Resources


class IngressSettings(Model):
    """A Kubernetes Ingress for Grafana, the one UI with its own login (Kubernetes only)."""

    host: Annotated[str, Field(pattern=r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)+[a-z]{2,}$")] = Field(
        description="The DNS name Grafana is served at.", examples=["grafana.quikapp.io"])
    class_name: DnsLabel | None = Field(None, description="The IngressClass. Unset: the cluster's default.",
                                        examples=["nginx"])
    tls_secret_name: DnsLabel | None = Field(None, description=(
        "The TLS Secret for the host: `https://` when set. Unset: plain http."), examples=["grafana-tls"])


class GrafanaDatabase(Model):
    """An external SQL database for Grafana (users, dashboards saved in the UI, sessions,
    alerting state): what lets more than one Grafana replica share one state (GF_DATABASE_*)."""

    type: Literal["postgres", "mysql"] = Field(description="`GF_DATABASE_TYPE`.", examples=["postgres"])
    host: HostAndPort = Field(description="`GF_DATABASE_HOST`.", examples=["postgres.quikapp.svc:5432"])
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,63}$")] = Field(description="`GF_DATABASE_NAME`.",
                                                                        examples=["grafana"])
    user: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.@-]{1,63}$")] = Field(description="`GF_DATABASE_USER`.",
                                                                          examples=["grafana"])
    password: Annotated[Secret | None, RequiredSecret()] = Field(None, description=(
        "`GF_DATABASE_PASSWORD`, as secret env (a Kubernetes Secret, Docker secret env)."))
    ssl_mode: Literal["disable", "require", "verify-full"] = Field("require", description=(
        "Grafana's `ssl_mode` (`GF_DATABASE_SSL_MODE`): as is for postgres; for mysql `disable`, `require` and "
        "`verify-full` become `false`, `skip-verify` and `true`."), examples=["verify-full"])


class GrafanaSettings(Model):
    admin_user: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.@-]{1,64}$")] = Field("admin", description=(
        "`GF_SECURITY_ADMIN_USER`: the login of the admin user created on first start."), examples=["quikapp-admin"])
    # Required: the seed's `admin` is exactly what must never ship.
    admin_password: Annotated[Secret | None, RequiredSecret()] = Field(None, description=(
        "The admin password (`GF_SECURITY_ADMIN_PASSWORD`, secret env), applied again on every start "
        "(**Admin password** below)."))
    publish_port: Port = Field(3030, description=(
        "The Docker host port for Grafana's HTTP port, bound to `docker.publishAddress`."), examples=[3300])
    root_url: HttpUrl | None = Field(None, description=(
        "`GF_SERVER_ROOT_URL`, the public URL behind a proxy or an ingress; also the `grafanaUrl` output."),
        examples=["https://grafana.quikapp.io/"])
    ingress: IngressSettings | None = Field(None, description=(
        "Kubernetes only: an Ingress for Grafana, the one UI with its own login; `grafanaUrl` and the root URL "
        "follow its host."))
    storage_size: Quantity = Field("5Gi", description=(
        "The size of the `grafana_data` PVC on Kubernetes (`/var/lib/grafana`: the SQLite database, plugins)."),
        examples=["10Gi"])
    resources: Resources = Field(Resources(), description="Grafana's requests and limits.")
    replicas: Annotated[Number, Field(ge=1, le=10)] = Field(1, description=(
        "More than one only on Kubernetes with `highAvailability`, and only with `grafana.database`: Grafana's "
        "default SQLite file lives on one pod's volume. Replicas run as a Deployment (rolling update with a surge, "
        "never fewer Ready), without a PVC, with a PodDisruptionBudget. With more than one replica, "
        "Grafana-managed alert rules are not evaluated (`GF_UNIFIED_ALERTING_EXECUTE_ALERTS=false`, "
        "**Grafana-managed alerting with replicas** below)."), examples=[2])
    database: GrafanaDatabase | None = Field(None, description=(
        "An external SQL database for Grafana's state (users, dashboards saved in the UI, annotations, sessions, "
        "alerting state), which lets replicas share it. Unset: SQLite on the volume."))
