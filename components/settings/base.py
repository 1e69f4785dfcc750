"""Shared building blocks of the settings model: the base class and the validated scalar types.

Every type here carries its own "what is allowed" text, so a bad value is reported as one
line naming the key, the value and the rule, never as a pydantic dump or a traceback.
"""

from __future__ import annotations

import ipaddress
import re
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


Duration = Annotated[
    str,
    _matcher(_DURATION, "a duration such as 30s, 5m, 12h, 15d or 1w2d (units y w d h m s ms, largest first)"),
    AfterValidator(_nonzero),
]

# Kubernetes resource quantity for storage sizes; binary or decimal suffix, no negative numbers.
Quantity = Annotated[
    str,
    _matcher(r"[1-9]\d*(\.\d+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?", "a storage size such as 512Mi, 20Gi or 1Ti"),
]

CpuQuantity = Annotated[str, _matcher(r"\d+m|\d+(\.\d+)?", "a CPU quantity such as 100m, 0.5 or 2")]
MemoryQuantity = Annotated[
    str, _matcher(r"[1-9]\d*(\.\d+)?(Ki|Mi|Gi|Ti|k|M|G|T)?", "a memory size such as 128Mi or 2Gi")
]

# RFC 1123 label: what Kubernetes requires of namespace and Service names (also the catalog's
# service and job names, which become Service names and DNS names).
DNS_LABEL = r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?"
DNS_LABEL_RULE = "a DNS label: lowercase letters, digits and '-', at most 63"
DnsLabel = Annotated[str, _matcher(DNS_LABEL, DNS_LABEL_RULE)]

# A DNS name of one or more RFC 1123 labels (a cluster's DNS domain), at most 253 characters.
DnsDomain = Annotated[str, _matcher(r"(?=.{1,253}$)" + DNS_LABEL + r"(\." + DNS_LABEL + r")*",
                                    "a DNS domain such as cluster.local (lowercase labels separated by dots)")]

LabelName = Annotated[str, _matcher(r"[a-zA-Z_][a-zA-Z0-9_]*", "a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*)")]

DockerName = Annotated[
    str, _matcher(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*", "a Docker object name ([a-zA-Z0-9][a-zA-Z0-9_.-]*)")
]

HostAndPort = Annotated[
    str,
    _matcher(r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?:\d{1,5}", "host:port, for example redis:6379"),
]

HttpUrl = Annotated[str, _matcher(r"https?://[^\s/]+(/\S*)?", "an http:// or https:// URL")]

# Numbers are written as YAML numbers, in the stack file as in the service catalog (components/catalog.py
# uses the port rule below): `publishPort: 3030`, never `"3030"`. A quoted number is a string in YAML and
# in the JSON the CLI hands the program, and pydantic's lax reading of one guesses: it takes "3_030",
# " 3030", "3030.0", 3030.0, and `true` as the port 1. `pulumi config set --path` writes a number unquoted
# (pulumi/pulumi sdk/v3@v3.272.0 go/common/resource/config/object.go, `coerce`), so only a hand edit or
# `--type string` makes a quoted one. (Top-level keys always reach the program as text; none is a number.)
Number = Annotated[int, Strict()]
NUMBER_RULE = "a whole number, without quotes"

PORT_RULE = "a port number from 1 to 65535, without quotes"


def is_port(value: object) -> bool:
    """The one port rule of the stack file and the service catalog."""
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 65535


def _check_port(value: object) -> object:
    if not is_port(value):
        raise ValueError(PORT_RULE)
    return value


Port = Annotated[int, BeforeValidator(_check_port)]


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


Image = Annotated[str, AfterValidator(_check_image)]


def _check_ip(value: str) -> str:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise ValueError("an IP address such as 127.0.0.1 (loopback) or 0.0.0.0 (all interfaces)") from None
    return value


IpAddress = Annotated[str, AfterValidator(_check_ip)]

# Secrets are pydantic SecretStr so they never show up in a repr or an error message; the loader
# also insists that the Pulumi config key holding them was set with `--secret`.
Secret = SecretStr
