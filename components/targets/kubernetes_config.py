"""Kubernetes config delivery: files to ConfigMap/Secret volumes that a running pod sees change.

- Plain files: one ConfigMap named `<tool>-config` (a stable name). The provider is told to update
  ConfigMaps and Secrets in place (`enableConfigMapMutable` / `enableSecretMutable`, set by
  KubernetesTarget), so a content change is a patch of that object, not a new one, and the pod
  template does not change with it.
- Live files (Workload.File.live, see live_roots): their directory is one projected volume with an
  item per file and no subPath, so the kubelet's atomic update of the volume (the `..data` symlink
  swap) reaches the running container, whose own file watching or reloader sidecar picks it up.
  (subPath mounts are bind mounts of one file and never see an update:
  kubernetes/website content/en/docs/concepts/configuration/configmap.md, "mounted ConfigMaps are
  updated automatically" / subPath note.) Live secret files come from a stable-named Secret
  `<tool>-config-secret` in the same projected volume.
- Files the tool reads only at start (not live) are mounted one by one (subPath, so they hide
  nothing the image ships next to them) and the pod template carries the sha256 of their content
  (annotation RESTART_ANNOTATION): changing one of those, and only those, restarts the pod.
- Secret environment variables and non-live secret files stay in the auto-named, immutable
  `<tool>-secret`: a change replaces it under a new name, which changes the pod template and
  restarts the pod (env vars are read at start), and no hash of a secret is ever written into a pod
  template.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

import pulumi
from pulumi_kubernetes.core.v1 import (
    ConfigMap,
    ConfigMapProjectionArgs,
    ConfigMapVolumeSourceArgs,
    ContainerArgs,
    HTTPGetActionArgs,
    KeyToPathArgs,
    ProbeArgs,
    ProjectedVolumeSourceArgs,
    Secret,
    SecretProjectionArgs,
    SecretVolumeSourceArgs,
    VolumeArgs,
    VolumeMountArgs,
    VolumeProjectionArgs,
)
from pulumi_kubernetes.meta.v1 import ObjectMetaArgs

from ..workload import File, Workload
from .kubernetes_container import hardened, resource_requirements

# Pod-template annotation holding the hash of the files read only at start.
RESTART_ANNOTATION = "checksum/restart-files"

Meta = Callable[[str | None, dict[str, str]], ObjectMetaArgs]


def config_key(path: str) -> str:
    """ConfigMap/Secret key for an in-container path (keys cannot hold '/')."""
    return path.strip("/").replace("/", "_")


def config_map_name(workload: Workload) -> str:
    return f"{workload.name}-config"


def live_secret_name(workload: Workload) -> str:
    return f"{workload.name}-config-secret"


def live_volume_name(index: int) -> str:
    return f"config-{index}"


@dataclass
class ConfigDelivery:
    """What the pod needs for the workload's files and secret env."""

    volumes: list[VolumeArgs] = field(default_factory=list)
    mounts: list[VolumeMountArgs] = field(default_factory=list)
    # Live root path -> its volume name (sidecars mount the same volumes read-only).
    live_volumes: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, pulumi.Input[str]] = field(default_factory=dict)
    resources: list[pulumi.Resource] = field(default_factory=list)
    env_secret: Secret | None = None  # holds the secret env vars under env_<NAME>


def restart_hash(files: list[File]) -> pulumi.Output[str]:
    """sha256 over the paths and contents of the files read only at start (plain ones only)."""
    def digest(contents: list[str]) -> str:
        sha = hashlib.sha256()
        for f, text in zip(files, contents, strict=True):
            sha.update(f.path.encode() + b"\0" + text.encode() + b"\0")
        return sha.hexdigest()

    return pulumi.Output.all(*[f.content for f in files]).apply(lambda contents: digest(list(contents)))


def deliver_config(workload: Workload, meta: Meta, labels: dict[str, str],
                   opts: pulumi.ResourceOptions) -> ConfigDelivery:
    name = workload.name
    out = ConfigDelivery()
    files = sorted(workload.files, key=lambda f: f.path)
    plain = [f for f in files if not f.secret]
    live_secret = [f for f in files if f.secret and workload.root_of(f.path)]
    start_secret = [f for f in files if f.secret and not workload.root_of(f.path)]
    secret_env = sorted(workload.secret_env)
    if plain:
        cm = ConfigMap(config_map_name(workload), metadata=meta(config_map_name(workload), labels),
                       data={config_key(f.path): f.content for f in plain}, opts=opts)
        out.resources.append(cm)
    if live_secret:
        live_sec = Secret(live_secret_name(workload), metadata=meta(live_secret_name(workload), labels),
                          string_data={config_key(f.path): pulumi.Output.secret(f.content) for f in live_secret},
                          opts=opts)
        out.resources.append(live_sec)
    if start_secret or secret_env:
        string_data: dict[str, pulumi.Input[str]] = {config_key(f.path): f.content for f in start_secret}
        string_data.update({f"env_{k}": v for k, v in secret_env})
        # Auto-named and immutable: a change replaces it under a new name, which changes the pod
        # template and rolls the pod (see the module docstring). `immutable` matters: the provider
        # patches Secrets in place (enableSecretMutable) unless the object is immutable
        # (pulumi/pulumi-kubernetes@v4.32.0 provider/pkg/provider/diff.go forceNewProperties,
        # clients/clients.go IsImmutable); patched in place, the running pod would keep old env vars.
        out.env_secret = Secret(f"{name}-secret", metadata=meta(None, labels), immutable=True,
                                string_data={k: pulumi.Output.secret(v) for k, v in string_data.items()}, opts=opts)
        out.resources.append(out.env_secret)

    # Live roots: one projected volume each, every file under it an item (path relative to it).
    for index, root in enumerate(workload.live_roots()):
        volume = live_volume_name(index)
        under = [f for f in files if workload.root_of(f.path) == root]
        sources = []
        cm_items = [KeyToPathArgs(key=config_key(f.path), path=f.path[len(root) + 1:]) for f in under if not f.secret]
        if cm_items:
            sources.append(VolumeProjectionArgs(config_map=ConfigMapProjectionArgs(
                name=config_map_name(workload), items=cm_items)))
        secret_items = [KeyToPathArgs(key=config_key(f.path), path=f.path[len(root) + 1:]) for f in under if f.secret]
        if secret_items:
            sources.append(VolumeProjectionArgs(secret=SecretProjectionArgs(
                name=live_secret_name(workload), items=secret_items)))
        out.volumes.append(VolumeArgs(name=volume, projected=ProjectedVolumeSourceArgs(sources=sources)))
        out.mounts.append(VolumeMountArgs(name=volume, mount_path=root, read_only=True))
        out.live_volumes[root] = volume

    # Files read at start, outside every live root: one subPath mount each.
    single_plain = [f for f in plain if not workload.root_of(f.path)]
    if single_plain:
        out.volumes.append(VolumeArgs(name="config", config_map=ConfigMapVolumeSourceArgs(
            name=config_map_name(workload))))
        out.mounts += _file_mounts("config", single_plain)
    if start_secret:
        assert out.env_secret is not None
        out.volumes.append(VolumeArgs(name="secret", secret=SecretVolumeSourceArgs(
            secret_name=out.env_secret.metadata.name)))
        out.mounts += _file_mounts("secret", start_secret)

    # Every plain file not live is read at start: its content hash restarts the pod on change.
    start_plain = [f for f in plain if not f.live]
    if start_plain:
        out.annotations[RESTART_ANNOTATION] = restart_hash(start_plain)
    return out


def _file_mounts(volume: str, files: list[File]) -> list[VolumeMountArgs]:
    # One subPath mount per file: files may live in several directories and must not hide what the
    # image ships next to them. Only for files read at start (a subPath mount never sees updates).
    return [VolumeMountArgs(name=volume, mount_path=f.path, sub_path=config_key(f.path), read_only=True)
            for f in files]


def sidecar_containers(workload: Workload, delivery: ConfigDelivery) -> list[ContainerArgs]:
    """The workload's sidecars as containers of its pod: they reach the tool on 127.0.0.1 (one network
    namespace per pod) and see the live directories they watch through the same volumes, read-only."""
    containers = []
    for sidecar in workload.sidecars:
        missing = [w for w in sidecar.watches if w not in delivery.live_volumes]
        if missing:
            raise ValueError(f"{workload.name}/{sidecar.name} watches {missing}, which are no live config directory")
        probe = None
        if sidecar.health:
            probe = ProbeArgs(http_get=HTTPGetActionArgs(path=sidecar.health.http_path, port=sidecar.health.port),
                              period_seconds=30, timeout_seconds=5, failure_threshold=3)
        containers.append(ContainerArgs(
            name=sidecar.name,
            image=sidecar.image,
            args=list(sidecar.args("127.0.0.1")),
            volume_mounts=[VolumeMountArgs(name=delivery.live_volumes[w], mount_path=w, read_only=True)
                           for w in sidecar.watches],
            resources=resource_requirements(sidecar.resources),
            security_context=hardened(read_only_root_filesystem=True, run_as_user=sidecar.run_as_user),
            readiness_probe=probe,
            liveness_probe=probe,
        ))
    return containers
