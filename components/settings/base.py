"""Shared building blocks of the settings model: the base class and the validated scalar types.

Every type here carries its own "what is allowed" text, so a bad value is reported as one
line naming the key, the value and the rule, never as a pydantic dump or a traceback.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, SecretStr, Strict
from pydantic.alias_generators import to_camel


class Model(BaseModel):
    """Base of every settings object: camelCase keys (Pulumi convention), unknown keys rejected."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
    )


@dataclass(frozen=True)
class TypeDoc:
    """How the configuration reference names a settings type, and what the type allows (the words of
    its error messages, so the reference and a refusal say the same)."""

    name: str
    allowed: str
    plural: str = ""  # "list of <plural>"; unset: the name and "s"

    @property
    def names(self) -> str:
        return self.plural or f"{self.name}s"


def _matcher(pattern: str, allowed: str) -> AfterValidator:
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise ValueError(allowed)
        return value

    return AfterValidator(check)


# Prometheus duration syntax (https://prometheus.io/docs/prometheus/latest/configuration/configuration/#duration):
# units in descending order, each at most once, and at least one of them.
_DURATION = r"(?=\d)((\d+)y)?((\d+)w)?((\d+)d)?((\d+)h)?((\d+)m)?((\d+)s)?((\d+)ms)?"
def _nonzero(value: str) -> str:
    # A zero retention, interval or TTL would disable or break the feature it sets.
    if not re.search(r"[1-9]", value):
        raise ValueError("a duration longer than zero")
    return value


DURATION_RULE = "a duration such as 30s, 5m, 12h, 15d or 1w2d (units y w d h m s ms, largest first)"
Duration = Annotated[
    str,
    _matcher(_DURATION, DURATION_RULE),
    AfterValidator(_nonzero),
    TypeDoc("duration", f"{DURATION_RULE}, longer than zero"),
]

# Kubernetes resource quantity for storage sizes; binary or decimal suffix, no negative numbers.
QUANTITY_RULE = "a storage size such as 512Mi, 20Gi or 1Ti"
Quantity = Annotated[
    str,
    _matcher(r"[1-9]\d*(\.\d+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?", QUANTITY_RULE),
    TypeDoc("storage size", f"{QUANTITY_RULE} (a Kubernetes quantity: Ki Mi Gi Ti Pi Ei or k M G T P E)"),
]

CPU_RULE = "a CPU quantity such as 100m, 0.5 or 2"
CpuQuantity = Annotated[str, _matcher(r"\d+m|\d+(\.\d+)?", CPU_RULE),
                        TypeDoc("CPU", f"{CPU_RULE} (m: thousandths of a core)")]
MEMORY_RULE = "a memory size such as 128Mi or 2Gi"
MemoryQuantity = Annotated[
    str, _matcher(r"[1-9]\d*(\.\d+)?(Ki|Mi|Gi|Ti|k|M|G|T)?", MEMORY_RULE),
    TypeDoc("memory", f"{MEMORY_RULE} (Ki Mi Gi Ti or k M G T)"),
]

# RFC 1123 label: what Kubernetes requires of namespace and Service names (also the catalog's
# service and job names, which become Service names and DNS names).
DNS_LABEL = r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?"
DNS_LABEL_RULE = "a DNS label: lowercase letters, digits and '-', at most 63"
DnsLabel = Annotated[str, _matcher(DNS_LABEL, DNS_LABEL_RULE), TypeDoc("DNS label", f"{DNS_LABEL_RULE} characters")]

# A DNS name of one or more RFC 1123 labels (a cluster's DNS domain), at most 253 characters.
DNS_DOMAIN_RULE = "a DNS domain such as cluster.local (lowercase labels separated by dots)"
DnsDomain = Annotated[str, _matcher(r"(?=.{1,253}$)" + DNS_LABEL + r"(\." + DNS_LABEL + r")*", DNS_DOMAIN_RULE),
                      TypeDoc("DNS domain", f"{DNS_DOMAIN_RULE}, at most 253 characters")]

LABEL_NAME_RULE = "a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*)"
LabelName = Annotated[str, _matcher(r"[a-zA-Z_][a-zA-Z0-9_]*", LABEL_NAME_RULE), TypeDoc("label name", LABEL_NAME_RULE)]

DOCKER_NAME_RULE = "a Docker object name ([a-zA-Z0-9][a-zA-Z0-9_.-]*)"
DockerName = Annotated[
    str, _matcher(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*", DOCKER_NAME_RULE), TypeDoc("Docker name", DOCKER_NAME_RULE)
]

HOST_AND_PORT_RULE = "host:port, for example redis:6379"
HostAndPort = Annotated[
    str,
    _matcher(r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?:\d{1,5}", HOST_AND_PORT_RULE),
    TypeDoc("host:port", HOST_AND_PORT_RULE, plural="host:port pairs"),
]

URL_RULE = "an http:// or https:// URL"
HttpUrl = Annotated[str, _matcher(r"https?://[^\s/]+(/\S*)?", URL_RULE), TypeDoc("URL", URL_RULE)]

# Numbers are written as YAML numbers, in the stack file as in the service catalog (components/catalog.py
# uses the port rule below): `publishPort: 3030`, never `"3030"`. A quoted number is a string in YAML and
# in the JSON the CLI hands the program, and pydantic's lax reading of one guesses: it takes "3_030",
# " 3030", "3030.0", 3030.0, and `true` as the port 1. `pulumi config set --path` writes a number unquoted
# (pulumi/pulumi sdk/v3@v3.272.0 go/common/resource/config/object.go, `coerce`), so only a hand edit or
# `--type string` makes a quoted one. (Top-level keys always reach the program as text; none is a number.)
NUMBER_RULE = "a whole number, without quotes"
Number = Annotated[int, Strict(), TypeDoc("number", NUMBER_RULE)]

PORT_RULE = "a port number from 1 to 65535, without quotes"


def is_port(value: object) -> bool:
    """The one port rule of the stack file and the service catalog."""
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 65535


def _check_port(value: object) -> object:
    if not is_port(value):
        raise ValueError(PORT_RULE)
    return value


Port = Annotated[int, BeforeValidator(_check_port), TypeDoc("port", PORT_RULE)]


def _check_image(value: str) -> str:
    # repository[:tag][@sha256:digest]; a tag or a digest is required and `latest` is refused,
    # because an unpinned image changes under a redeploy without any diff in `pulumi preview`.
    match = re.fullmatch(
        r"(?P<repo>[a-z0-9]+([._-][a-z0-9]+)*(\.[a-z0-9-]+)*(:\d+)?(/[a-z0-9]+([._-]+[a-z0-9]+)*)*)"
        r"(:(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?(@(?P<digest>sha256:[a-f0-9]{64}))?",
        value,
    )
    if not match:
        raise ValueError("an image reference such as grafana/grafana:10.1.0 (repository:tag or @sha256 digest)")
    if not match.group("tag") and not match.group("digest"):
        raise ValueError("a pinned image: add a version tag or an @sha256 digest")
    if match.group("tag") == "latest" and not match.group("digest"):
        raise ValueError("a pinned image: ':latest' is not allowed, name a version")
    return value


Image = Annotated[str, AfterValidator(_check_image), TypeDoc(
    "image", "an image reference such as grafana/grafana:10.1.0, pinned: a version tag or an @sha256 digest, "
             "never :latest")]


IP_RULE = "an IP address such as 127.0.0.1 (loopback) or 0.0.0.0 (all interfaces)"


def _check_ip(value: str) -> str:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise ValueError(IP_RULE) from None
    return value


IpAddress = Annotated[str, AfterValidator(_check_ip), TypeDoc("IP address", IP_RULE)]

# Secrets are pydantic SecretStr so they never show up in a repr or an error message; the loader
# also insists that the Pulumi config key holding them was set with `--secret`.
Secret = SecretStr
