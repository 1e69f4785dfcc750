"""Example QuikApp service stack that consumes quikapp-monitoring's outputs.

It runs one service on the monitoring stack's target (the `target` output): a container on the
monitoring network on Docker; on Kubernetes a Deployment and a Service in the app namespace (the
`appNamespace` output), the Service named as the catalog entry and exposing its metrics port, which
is what Prometheus' discovery keeps (`<service>;<port>` of the EndpointSlices in that namespace).
The tracing environment comes from the `instrumentation` output. Nothing else is hard-coded:
endpoints, network and namespace all come from `pulumi.StackReference`.
"""

from __future__ import annotations

from typing import Any

import pulumi

config = pulumi.Config()
service = config.require("service")  # its name in quikapp-monitoring's configs/services.yaml
metrics_port = config.require_int("metricsPort")  # its port there: where it serves /metrics (or its job's path)
image = config.require("image")
runtime = config.get("runtime") or "node"  # an entry of the instrumentation output: node, python, java, go, ...
replicas = config.get_int("replicas") or 1
monitoring = pulumi.StackReference(
    config.get("monitoringStack") or f"organization/quikapp-monitoring/{pulumi.get_stack()}"
)


def service_env(instrumentation: dict[str, Any]) -> dict[str, str]:
    env = dict(instrumentation[runtime]["env"])
    if "OTEL_SERVICE_NAME" in env:
        env["OTEL_SERVICE_NAME"] = service  # traces under the same name as the metrics' `service` label
    return env


env = monitoring.require_output("instrumentation").apply(service_env)


def on_docker() -> None:
    import pulumi_docker as docker

    docker.Container(
        service,
        docker.ContainerArgs(
            name=f"quikapp-{service}",
            image=image,
            envs=env.apply(lambda e: [f"{k}={v}" for k, v in sorted(e.items())]),
            # Same network as Prometheus, Jaeger and Promtail: scraped as `<service>:<metricsPort>`.
            networks_advanced=[docker.ContainerNetworksAdvancedArgs(
                name=monitoring.require_output("network"), aliases=[service])],
            restart="unless-stopped",
        ),
    )


def on_kubernetes() -> None:
    import pulumi_kubernetes as k8s

    namespace = monitoring.require_output("appNamespace")
    labels = {"app.kubernetes.io/name": service}
    k8s.apps.v1.Deployment(
        service,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=service, namespace=namespace, labels=labels),
        spec=k8s.apps.v1.DeploymentSpecArgs(
            replicas=replicas,
            selector=k8s.meta.v1.LabelSelectorArgs(match_labels=labels),
            template=k8s.core.v1.PodTemplateSpecArgs(
                metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels),
                spec=k8s.core.v1.PodSpecArgs(containers=[k8s.core.v1.ContainerArgs(
                    name=service,
                    image=image,
                    # The port the Service's targetPort names: each pod is scraped on it.
                    ports=[k8s.core.v1.ContainerPortArgs(name="metrics", container_port=metrics_port)],
                    env=env.apply(lambda e: [k8s.core.v1.EnvVarArgs(name=k, value=v) for k, v in sorted(e.items())]),
                )]),
            ),
        ),
    )
    # Named as the catalog entry: Prometheus keeps the EndpointSlices of this Service whose port is
    # the catalog's (the pod's port, resolved from targetPort), one target per pod.
    k8s.core.v1.Service(
        service,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=service, namespace=namespace, labels=labels),
        spec=k8s.core.v1.ServiceSpecArgs(
            selector=labels,
            ports=[k8s.core.v1.ServicePortArgs(name="metrics", port=metrics_port, target_port="metrics")],
        ),
    )


# The monitoring stack decides the target. Its outputs are known in a preview too (they come from
# its last update), so the resources below show up in `pulumi preview`.
monitoring.require_output("target").apply(lambda target: on_docker() if target == "docker" else on_kubernetes())

pulumi.export("dashboards", monitoring.require_output("grafanaUrl"))
pulumi.export("traces", monitoring.require_output("jaegerUiUrl"))
