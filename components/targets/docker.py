"""Docker realisation: explicit provider, the shared QuikApp network, named volumes, containers."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_docker as docker

from ..quantities import cpus, memory_mib
from ..settings import Settings, TargetKind
from ..workload import DeployedWorkload, Endpoint, Health, Port, Resources, Sidecar, Workload
from .base import PART_OF
from .docker_config import DockerConfig


def _healthcheck(health: Health | None) -> docker.ContainerHealthcheckArgs | None:
    """Docker's HEALTHCHECK from the workload's (or sidecar's) in-container test, if it has one."""
    if health is None or not health.docker_test:
        return None
    return docker.ContainerHealthcheckArgs(tests=list(health.docker_test), interval="30s", timeout="5s",
                                           retries=3, start_period="30s")


def _limits(res: Resources | None) -> dict[str, Any]:
    """The same limits as on Kubernetes: one runaway container cannot starve the host.

    Docker reads back MemorySwap = 2 x memory when none is given, which would show as a change on
    every preview; equal values also mean no swap, as on Kubernetes.
    """
    if res is None:
        return {"memory": None, "memory_swap": None, "cpus": None}
    return {"memory": memory_mib(res.memory_limit), "memory_swap": memory_mib(res.memory_limit),
            "cpus": cpus(res.cpu_limit)}


class DockerTarget:
    kind = TargetKind.DOCKER

    def __init__(self, settings: Settings, parent: pulumi.Resource) -> None:
        self._settings = settings
        self._protect = settings.protect_data
        self.provider = docker.Provider("docker", docker.ProviderArgs(host=settings.docker.host),
                                        opts=pulumi.ResourceOptions(parent=parent))
        net = settings.docker.network
        self.network_name: pulumi.Input[str]
        if net.external:
            # Adopt the network the QuikApp services already use (the seed's `external: true`).
            self.network_name = net.name
        else:
            network = docker.Network(
                "network",
                docker.NetworkArgs(name=net.name, driver="bridge",
                                   labels=[docker.NetworkLabelArgs(label="part-of", value=PART_OF)]),
                opts=pulumi.ResourceOptions(parent=parent, provider=self.provider),
            )
            self.network_name = network.name

    def app_host(self, service: str) -> str:
        # QuikApp services join the same network under their own names.
        return service

    def stack_outputs(self) -> dict[str, object]:
        return {"network": self.network_name}

    def operator_url(self, port: Port) -> str | None:
        if port.publish is None:
            return None
        host = self._settings.docker.publish_address
        # A wildcard bind is no address a browser can open: the host's own name serves the
        # operator at the Docker host, the usual case for a dev stack.
        if host in ("0.0.0.0", "::"):
            host = "localhost"
        return f"http://{host}:{port.publish}"

    def deploy(self, workload: Workload, parent: pulumi.Resource) -> DeployedWorkload:
        opts = pulumi.ResourceOptions(parent=parent, provider=self.provider)
        name = workload.name
        image = docker.RemoteImage(
            f"{name}-image",
            docker.RemoteImageArgs(name=workload.image, keep_locally=True),
            opts=opts,
        )
        mounts: list[docker.ContainerVolumeArgs] = []
        created: list[pulumi.Resource] = [image]
        for vol in workload.volumes:
            volume = docker.Volume(
                f"{name}-{vol.k8s_name}",
                docker.VolumeArgs(name=vol.name, labels=[docker.VolumeLabelArgs(label="part-of", value=PART_OF)]),
                # State outlives the container: never replaced by a config change, and kept even
                # through `pulumi destroy` when the stack protects its data.
                opts=pulumi.ResourceOptions.merge(
                    opts, pulumi.ResourceOptions(protect=self._protect, retain_on_delete=self._protect)
                ),
            )
            created.append(volume)
            mounts.append(docker.ContainerVolumeArgs(volume_name=volume.name, container_path=vol.mount_path))
        for host in workload.host_mounts:
            mounts.append(docker.ContainerVolumeArgs(host_path=host.host_path, container_path=host.mount_path,
                                                     read_only=host.read_only))

        publish_ip = self._settings.docker.publish_address
        ports = [
            docker.ContainerPortArgs(internal=p.container_port, external=p.publish, ip=publish_ip,
                                     protocol=p.protocol.lower())
            for p in workload.ports if p.publish is not None
        ]
        envs: list[pulumi.Input[str]] = [f"{k}={v}" for k, v in sorted(workload.env)]
        envs += [pulumi.Output.concat(k, "=", pulumi.Output.secret(v)) for k, v in sorted(workload.secret_env)]
        # Live files go to config volumes through a one-shot copier (docker_config.py); the rest
        # stay uploads of the tool's container (a change replaces it: read only at start anyway).
        config = DockerConfig(workload, opts, image)
        created += config.resources
        mounts += config.tool_mounts()
        uploads = config.tool_uploads()
        container = docker.Container(
            name,
            docker.ContainerArgs(
                name=f"quikapp-{name}",
                image=image.image_id,
                # No args means unset, not []: the provider stores the CMD the daemon fills in from the
                # image (Optional+Computed+ForceNew `command`), and an empty list sent against it
                # replaces the container on every `pulumi up` (resource_docker_container*.go at v4.5.0).
                command=list(workload.args) or None,
                entrypoints=list(workload.entrypoint) or None,
                envs=envs,
                ports=ports,
                volumes=mounts,
                uploads=uploads or None,
                networks_advanced=[docker.ContainerNetworksAdvancedArgs(name=self.network_name, aliases=[name])],
                restart="unless-stopped",
                # A workload that exits until its backend answers is left to the restart policy.
                must_run=False if workload.may_wait_for_backend else None,
                # Same non-root user as on Kubernetes (the images' own users; some images set none).
                user=None if workload.user == "root" else str(workload.user),
                healthcheck=_healthcheck(workload.health),
                **_limits(workload.resources),
                labels=[docker.ContainerLabelArgs(label="part-of", value=PART_OF)],
            ),
            opts=pulumi.ResourceOptions.merge(
                opts,
                pulumi.ResourceOptions(
                    # The container has a fixed name and host ports: the old one must go first.
                    delete_before_replace=True,
                    # The provider does not apply healthcheck edits in place.
                    replace_on_changes=["healthcheck"],
                    # Started once the copier has filled the config volume (never replaced with it).
                    depends_on=[config.copier] if config.copier else None,
                ),
            ),
        )
        created.append(container)
        for sidecar in workload.sidecars:
            created += self._sidecar(workload, sidecar, config, opts)
        endpoints = {
            p.name: Endpoint(internal=f"{name}:{p.container_port}",
                             public=f"{publish_ip}:{p.publish}" if p.publish is not None else None)
            for p in workload.ports
        }
        return DeployedWorkload(name=name, endpoints=endpoints, resources=created)

    def _sidecar(self, workload: Workload, sidecar: Sidecar, config: DockerConfig,
                 opts: pulumi.ResourceOptions) -> list[pulumi.Resource]:
        """A sidecar as a container of its own on the stack's network: it reaches the tool by its
        alias and sees the config volumes it watches, read-only, at the tool's paths."""
        name = f"{workload.name}-{sidecar.name}"
        missing = [w for w in sidecar.watches if w not in config.mounts]
        if missing:
            raise ValueError(f"{name} watches {missing}, which are no live config directory")
        image = docker.RemoteImage(f"{name}-image", docker.RemoteImageArgs(name=sidecar.image, keep_locally=True),
                                   opts=opts)
        container = docker.Container(
            name,
            docker.ContainerArgs(
                name=f"quikapp-{name}",
                image=image.image_id,
                command=list(sidecar.args(workload.name)),
                volumes=[config.mounts[w] for w in sidecar.watches],
                networks_advanced=[docker.ContainerNetworksAdvancedArgs(name=self.network_name, aliases=[name])],
                restart="unless-stopped",
                user=str(sidecar.run_as_user),
                healthcheck=_healthcheck(sidecar.health),
                **_limits(sidecar.resources),
                labels=[docker.ContainerLabelArgs(label="part-of", value=PART_OF)],
            ),
            opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(
                delete_before_replace=True, replace_on_changes=["healthcheck"],
                depends_on=[config.copier] if config.copier else None)),
        )
        return [image, container]
