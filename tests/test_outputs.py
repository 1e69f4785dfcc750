"""The stack outputs contract service teams consume (README.md § For service teams)."""

from __future__ import annotations

import pytest
from guarantees import run_with

from conftest import stack_run
from mockengine.program import STACKS

CONTRACT = ["target", "grafanaUrl", "prometheusUrl", "alertmanagerUrl", "lokiPushUrl", "jaegerUiUrl",
            "otlpGrpcEndpoint", "otlpHttpEndpoint", "zipkinEndpoint", "jaegerThriftHttpEndpoint", "instrumentation"]


@pytest.mark.parametrize("stack", STACKS)
def test_every_contract_output_exists_and_none_is_secret(stack: str) -> None:
    run = stack_run(stack)
    missing = [key for key in CONTRACT if key not in run.outputs]
    assert missing == []
    assert ("network" in run.outputs) == (stack == "dev")
    assert ("namespace" in run.outputs) == (stack != "dev")
    assert ("appNamespace" in run.outputs) == (stack != "dev")
    assert run.secret_outputs == set()  # no secret is part of the contract


def test_docker_outputs_split_in_network_and_operator_addresses() -> None:
    out = stack_run("dev").outputs
    assert out["otlpGrpcEndpoint"] == "http://jaeger:4317"  # what a container on QuikApp-network uses
    assert out["lokiPushUrl"] == "http://loki:3100/loki/api/v1/push"
    assert out["grafanaUrl"] == "http://127.0.0.1:3030"  # what an operator opens: published on publishAddress
    assert out["prometheusUrl"] == "http://127.0.0.1:9090"
    assert out["network"] == "QuikApp-network"


def test_kubernetes_outputs_use_cluster_dns_and_port_forwards() -> None:
    out = stack_run("staging").outputs
    assert out["otlpHttpEndpoint"] == "http://jaeger.monitoring.svc.cluster.local:4318"
    assert out["zipkinEndpoint"] == "http://jaeger.monitoring.svc.cluster.local:9411/api/v2/spans"
    assert out["grafanaUrl"] == "http://localhost:3030"
    assert out["portForward"]["grafana"] == (
        "kubectl --context quikapp-staging -n monitoring port-forward svc/grafana 3030:3000")
    assert out["namespace"] == "monitoring"
    assert out["appNamespace"] == "quikapp"  # kubernetes.appNamespace: where the catalog's Services are found


@pytest.mark.parametrize("stack", STACKS)
def test_instrumentation_sends_every_runtime_to_this_stacks_jaeger(stack: str) -> None:
    out = stack_run(stack).outputs
    inst = out["instrumentation"]
    assert set(inst) >= {"node", "python", "java", "go", "elixir", "springBoot", "logs", "metrics"}
    for runtime in ("node", "python"):
        assert inst[runtime]["env"]["OTEL_EXPORTER_OTLP_ENDPOINT"] == out["otlpHttpEndpoint"]
        assert inst[runtime]["env"]["OTEL_EXPORTER_OTLP_PROTOCOL"] == "http/protobuf"
    assert inst["go"]["env"]["OTEL_EXPORTER_OTLP_ENDPOINT"] == out["otlpGrpcEndpoint"]
    assert inst["springBoot"]["env"]["MANAGEMENT_ZIPKIN_TRACING_ENDPOINT"] == out["zipkinEndpoint"]
    # The seed's deprecated Jaeger exporter is gone: nothing points at the thrift collector.
    assert out["jaegerThriftHttpEndpoint"] not in str(inst)


def test_app_namespace_output_follows_the_setting() -> None:
    out = run_with("staging", {"kubernetes": {"appNamespace": "quikapp-apps"}}).outputs
    assert out["appNamespace"] == "quikapp-apps"


def test_kubernetes_cluster_domain_drives_every_in_cluster_address() -> None:
    """A cluster whose DNS domain is not cluster.local (the kubelet's --cluster-domain): every
    in-cluster URL the stack publishes uses it, and no resource or output still says cluster.local
    (Alertmanager's peers use the short form, which needs no domain: tests/live/test_live_cluster_domain.py)."""
    import json

    from guarantees import run_with

    run = run_with("prod", {"kubernetes": {"clusterDomain": "quikapp.internal"}})
    out = run.outputs
    internal = {key: value for key, value in out.items()
                if key.endswith(("InternalUrl", "Endpoint")) or key in ("lokiPushUrl", "jaegerInternalUiUrl")}
    assert set(internal) >= {"grafanaInternalUrl", "prometheusInternalUrl", "alertmanagerInternalUrl", "lokiPushUrl",
                             "jaegerInternalUiUrl", "otlpGrpcEndpoint", "otlpHttpEndpoint", "zipkinEndpoint",
                             "jaegerThriftHttpEndpoint"}
    for key, url in internal.items():
        assert ".monitoring.svc.quikapp.internal:" in str(url), (key, url)
    assert out["lokiPushUrl"] == "http://loki.monitoring.svc.quikapp.internal:3100/loki/api/v1/push"
    assert out["instrumentation"]["node"]["env"]["OTEL_EXPORTER_OTLP_ENDPOINT"] == out["otlpHttpEndpoint"]
    everything = json.dumps([r.inputs for r in run.resources], default=str) + json.dumps(out, default=str)
    assert "cluster.local" not in everything
