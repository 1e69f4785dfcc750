"""Example QuikApp service stack that consumes quikapp-monitoring's outputs.

It runs one service (a container on Docker, a Deployment on Kubernetes — whichever target the
monitoring stack uses) on the monitoring stack's network or cluster, with the tracing
environment taken from the `instrumentation` output. Nothing is hard-coded: endpoints, network
and namespace all come from `pulumi.StackReference`.
"""

from __future__ import annotations

from typing import Any

import pulumi

config = pulumi.Config()
service = config.require("service")  # its name in quikapp-monitoring's configs/services.yaml
image = config.require("image")
runtime = config.get("runtime") or "node"  # node | python | go | springBoot
monitoring = pulumi.StackReference(
    config.get("monitoringStack") or f"organization/quikapp-monitoring/{pulumi.get_stack()}"
)


def service_env(instrumentation: dict[str, Any]) -> dict[str, str]:
    env = dict(instrumentation[runtime]["env"])
    if "OTEL_SERVICE_NAME" in env:
        env["OTEL_SERVICE_NAME"] = service
    return env


env = monitoring.require_output("instrumentation").apply(service_env)
target = config.get("target") or "docker"

if target == "docker":
    import pulumi_docker as docker

    container = docker.Container(
        service,
        docker.ContainerArgs(
            name=f"quikapp-{service}",
            image=image,
            envs=env.apply(lambda e: [f"{k}={v}" for k, v in sorted(e.items())]),
            # Same network as Prometheus, Jaeger and Promtail: reachable as `<service>:<port>`.
            networks_advanced=[docker.ContainerNetworksAdvancedArgs(
                name=monitoring.require_output("network"), aliases=[service])],
            restart="unless-stopped",
        ),
    )
else:
    import pulumi_kubernetes as k8s

    labels = {"app.kubernetes.io/name": service}
    k8s.apps.v1.Deployment(
        service,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=service, namespace=config.get("namespace") or "quikapp"),
        spec=k8s.apps.v1.DeploymentSpecArgs(
            selector=k8s.meta.v1.LabelSelectorArgs(match_labels=labels),
            template=k8s.core.v1.PodTemplateSpecArgs(
                metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels),
                spec=k8s.core.v1.PodSpecArgs(containers=[k8s.core.v1.ContainerArgs(
                    name=service,
                    image=image,
                    env=env.apply(lambda e: [k8s.core.v1.EnvVarArgs(name=k, value=v) for k, v in sorted(e.items())]),
                )]),
            ),
        ),
    )

pulumi.export("dashboards", monitoring.require_output("grafanaUrl"))
pulumi.export("traces", monitoring.require_output("jaegerUiUrl"))
