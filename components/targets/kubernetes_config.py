"""Kubernetes config delivery: files to ConfigMap/Secret volumes that a running pod sees change.

- Live files (Workload.File.live, see live_directories): each directory that holds live files is
  one projected volume of the directory's own stable-named ConfigMap `<tool>-live-<directory>`
  (and, for live secret files, the Secret of the same name), projected whole, without `items`:
  the keys are the file names. The set of files therefore lives only in the objects' data, never
  in the pod template, so adding or removing a live file (a rule file, a dashboard) is a patch of
  that object like any content change, and no pod restarts. The provider is told to update
  ConfigMaps and Secrets in place (`enableConfigMapMutable` / `enableSecretMutable`, set by
  KubernetesTarget), so a change is a patch of the object, not a new one. No subPath: the
  kubelet's atomic update of the volume (the `..data` symlink swap) reaches the running container,
  whose own file watching or reloader sidecar picks it up. (subPath mounts are bind mounts of one
  file and never see an update: kubernetes/website content/en/docs/concepts/configuration/
  configmap.md, "mounted ConfigMaps are updated automatically" / subPath note.) The kubelet adds
  and removes a key's file on such an update (k8s.io/kubernetes@v1.34.4 pkg/volume/util/
  atomic_writer.go: Write, pathsToRemove, createUserVisibleFiles).
- Why one volume per directory, and not one per live root: a key cannot hold '/', and a live root
  may have subdirectories (Prometheus: prometheus.yml in /etc/prometheus, rule files in
  /etc/prometheus/rules, remote-write credentials in /etc/prometheus/secrets). Each directory gets
  a volume of its own, mounted inside its parent's. That keeps every in-container path as it is
  (the same on Docker, where the copier fills one volume per live root) instead of moving
  Prometheus' rules out of the directory that holds prometheus.yml. Nested mounts inside a
  ConfigMap/Secret/projected volume, which is read-only, work because the kubelet creates the
  mount points inside the parent volume when it sets that volume up (MakeNestedMountpoints,
  k8s.io/kubernetes@v1.34.4 pkg/volume/util/nested_volumes.go, called by projected.go SetUpAt;
  since kubernetes/kubernetes#60342, 1.10), and the atomic update of the parent removes only paths
  it wrote itself (pathsToRemove walks the old `..data`), never those mount points. What still
  changes the pod template: a directory of live files that appears or goes (the first remote-write
  credential creates /etc/prometheus/secrets), or a directory's first (last) live secret file.
- Every object stays under the API server's 1 MiB (data plus binaryData, k8s.io/kubernetes@v1.34.4
  pkg/apis/core/validation/validation.go ValidateConfigMap / ValidateSecret, core.MaxSecretSize):
  checked here, per object, before anything is declared (object_fits).
- Files the tool reads only at start (not live) are in the ConfigMap `<tool>-config`, mounted one by
  one (subPath, so they hide nothing the image ships next to them), and the pod template carries
  the sha256 of their content (annotation RESTART_ANNOTATION): changing one of those, and only
  those, restarts the pod.
- Secret environment variables and non-live secret files stay in the auto-named, immutable
  `<tool>-secret`: a change replaces it under a new name, which changes the pod template and
  restarts the pod (env vars are read at start), and no hash of a secret is ever written into a pod
  template.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import pulumi
from pulumi_kubernetes.core.v1 import (
    ConfigMap,
    ConfigMapProjectionArgs,
    ConfigMapVolumeSourceArgs,
    ContainerArgs,
    HTTPGetActionArgs,
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

# The most a ConfigMap's or a Secret's data may hold, in bytes (core.MaxSecretSize, see the docstring).
MAX_OBJECT_BYTES = 1024 * 1024

Meta = Callable[[str | None, dict[str, str]], ObjectMetaArgs]


def config_key(path: str) -> str:
    """ConfigMap/Secret key of a file read at start, for its in-container path (keys cannot hold '/')."""
    return path.strip("/").replace("/", "_")


def config_map_name(workload: Workload) -> str:
    """The ConfigMap of the files read only at start."""
    return f"{workload.name}-config"


def _directory(path: str) -> str:
    return path.rsplit("/", 1)[0]


def live_directories(workload: Workload) -> tuple[str, ...]:
    """Every directory that directly holds live files, sorted (a parent before the directories
    nested in it, the order their mounts need): each live root, and its subdirectories with files."""
    return tuple(sorted({_directory(f.path) for f in workload.files if f.live}))


def live_name(workload: Workload, directory: str) -> str:
    """The name of the ConfigMap (and Secret) of one live directory: stable, a DNS subdomain."""
    return f"{workload.name}-live-{re.sub(r'[^a-z0-9]+', '-', directory.lower()).strip('-')}"


def live_volume_name(index: int) -> str:
    return f"config-{index}"


@dataclass
class ConfigDelivery:
    """What the pod needs for the workload's files and secret env."""

    volumes: list[VolumeArgs] = field(default_factory=list)
    mounts: list[VolumeMountArgs] = field(default_factory=list)
    # Live directory -> its volume name (sidecars mount the same volumes read-only).
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


def object_fits(kind: str, name: str, files: list[File]) -> None:
    """Refuses, in one line, a ConfigMap or Secret the API server would refuse: more than
    MAX_OBJECT_BYTES of data. Contents known only at deployment (Outputs) are left to the API server."""
    texts = [f.content for f in files]
    if not all(isinstance(t, str) for t in texts):
        return
    size = sum(len(t.encode()) for t in texts if isinstance(t, str))
    if size > MAX_OBJECT_BYTES:
        where = sorted({_directory(f.path) for f in files})
        raise pulumi.RunError(
            f"{kind} {name} would hold {size} bytes ({len(files)} files in {', '.join(where)}); "
            f"a {kind} holds at most {MAX_OBJECT_BYTES} bytes (1 MiB): ship fewer or smaller files there")


def deliver_config(workload: Workload, meta: Meta, labels: dict[str, str],
                   opts: pulumi.ResourceOptions) -> ConfigDelivery:
    name = workload.name
    out = ConfigDelivery()
    files = sorted(workload.files, key=lambda f: f.path)
    start_plain = [f for f in files if not f.secret and not f.live]
    start_secret = [f for f in files if f.secret and not f.live]
    secret_env = sorted(workload.secret_env)
    directories = live_directories(workload)
    names = [live_name(workload, d) for d in directories]
    if len(set(names)) != len(names):
        raise ValueError(f"{name}: live directories {list(directories)} give the same object names {names}")

    # Every object checked before any is declared: a refusal leaves nothing half-declared.
    in_directory = {d: [f for f in files if f.live and _directory(f.path) == d] for d in directories}
    for directory, object_name in zip(directories, names, strict=True):
        object_fits("ConfigMap", object_name, [f for f in in_directory[directory] if not f.secret])
        object_fits("Secret", object_name, [f for f in in_directory[directory] if f.secret])
    object_fits("ConfigMap", config_map_name(workload), start_plain)
    object_fits("Secret", f"{name}-secret", start_secret)

    if start_plain:
        cm = ConfigMap(config_map_name(workload), metadata=meta(config_map_name(workload), labels),
                       data={config_key(f.path): f.content for f in start_plain}, opts=opts)
        out.resources.append(cm)
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

    # Live directories: one projected volume each, of the directory's ConfigMap and Secret as a
    # whole (no items: the file names are the keys, and only the objects' data lists them).
    for index, (directory, object_name) in enumerate(zip(directories, names, strict=True)):
        volume = live_volume_name(index)
        sources = []
        plain_here = [f for f in in_directory[directory] if not f.secret]
        if plain_here:
            out.resources.append(ConfigMap(object_name, metadata=meta(object_name, labels), opts=opts,
                                           data={f.path[len(directory) + 1:]: f.content for f in plain_here}))
            sources.append(VolumeProjectionArgs(config_map=ConfigMapProjectionArgs(name=object_name)))
        secret_here = [f for f in in_directory[directory] if f.secret]
        if secret_here:
            out.resources.append(Secret(object_name, metadata=meta(object_name, labels), opts=opts,
                                        string_data={f.path[len(directory) + 1:]: pulumi.Output.secret(f.content)
                                                     for f in secret_here}))
            sources.append(VolumeProjectionArgs(secret=SecretProjectionArgs(name=object_name)))
        out.volumes.append(VolumeArgs(name=volume, projected=ProjectedVolumeSourceArgs(sources=sources)))
        out.mounts.append(VolumeMountArgs(name=volume, mount_path=directory, read_only=True))
        out.live_volumes[directory] = volume

    # Files read at start: one subPath mount each.
    if start_plain:
        out.volumes.append(VolumeArgs(name="config", config_map=ConfigMapVolumeSourceArgs(
            name=config_map_name(workload))))
        out.mounts += _file_mounts("config", start_plain)
    if start_secret:
        assert out.env_secret is not None
        out.volumes.append(VolumeArgs(name="secret", secret=SecretVolumeSourceArgs(
            secret_name=out.env_secret.metadata.name)))
        out.mounts += _file_mounts("secret", start_secret)

    # Every plain file read at start: its content hash restarts the pod on change.
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
        missing = [w for w in sidecar.watches if w not in workload.live_roots()]
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
            # The watched directory and the live directories nested in it, each its own volume.
            volume_mounts=[VolumeMountArgs(name=volume, mount_path=directory, read_only=True)
                           for directory, volume in delivery.live_volumes.items()
                           if any(directory == w or directory.startswith(w + "/") for w in sidecar.watches)],
            resources=resource_requirements(sidecar.resources),
            security_context=hardened(read_only_root_filesystem=True, run_as_user=sidecar.run_as_user),
            readiness_probe=probe,
            liveness_probe=probe,
        ))
    return containers
