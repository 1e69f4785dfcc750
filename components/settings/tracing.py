"""Settings of Jaeger (`jaeger`), the tracing backend, and of its span stores."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from .base import Duration, HttpUrl, Model, Number, Quantity, Secret
from .fields import When
from .secrets import RequiredSecret
from .workloads import Resources


class ElasticsearchSettings(Model):
    server_urls: Annotated[list[HttpUrl], Field(min_length=1)] = Field(["http://elasticsearch:9200"], description=(
        "The external Elasticsearch cluster."), examples=[["https://es-0:9200", "https://es-1:9200"]])
    index_prefix: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")] = Field("jaeger", description=(
        "The index prefix (`indices.index_prefix`; the same index names as Jaeger v1's `ES_INDEX_PREFIX`)."),
        examples=["quikapp"])
    username: str | None = Field(None, description="The Elasticsearch user; needs the password.",
                                 examples=["jaeger"])
    password: Annotated[Secret | None, RequiredSecret(When("username"))] = Field(None, description=(
        "The Elasticsearch password: a secret env var `ES_PASSWORD`, which the config file references as "
        "`${env:ES_PASSWORD}`."))


class JaegerSettings(Model):
    storage: Literal["memory", "badger", "elasticsearch"] = Field("badger", description=(
        "The span store: `badger` keeps traces on the `jaeger_data` volume, `memory` loses them on restart (dev), "
        "`elasticsearch` writes to an external cluster (`jaeger.elasticsearch`)."), examples=["memory"])
    storage_size: Quantity = Field("10Gi", description=(
        "The size of the `jaeger_data` PVC (Kubernetes, `badger` only)."), examples=["50Gi"])
    # Without a cap the in-memory store grows until the process dies.
    max_traces: Annotated[Number, Field(ge=1000)] = Field(50000, description=(
        "The cap of the in-memory store (`memory` only)."), examples=[20000])
    badger_ttl: Duration = Field("72h", description=(
        "How long Badger keeps spans (`badger` only), as a Go duration: `7d` becomes `168h`."), examples=["7d"])
    elasticsearch: Annotated[ElasticsearchSettings, When("storage", "elasticsearch")] = Field(
        ElasticsearchSettings(), description="The Elasticsearch store (`elasticsearch` only).")
    resources: Resources = Field(Resources(memory_limit="1Gi"), description="Jaeger's requests and limits.")
