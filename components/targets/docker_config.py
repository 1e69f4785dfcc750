"""Docker config delivery: live files in a named volume refreshed without replacing the tool's container.

For each live directory of a workload (Workload.live_roots) a named volume `<tool>_config` is
mounted read-only into the tool's container at that directory. A one-shot container
`quikapp-<tool>-config` carries the files as uploads (under /staging/<n>/), copies each
file into the volume (/config/<n>/) with a write to a temporary name and a rename (rename(2) is
atomic: the tool never reads half a file), removes files no longer shipped, and exits. A content
change replaces only that container (uploads are ForceNew), which copies the new files; the tool's
container keeps its inputs and its process, and reloads by itself (Prometheus' --config.auto-reload,
Grafana's dashboard polling, Loki's runtime config) or through its reloader.

Provider semantics this relies on (kreuzwerker/terraform-provider-docker@v4.5.0, the provider
pulumi-docker 5.2 bridges; internal/provider/resource_docker_container*.go):
- `attach = true`: Create waits until the container stops (ContainerWait NotRunning) before it
  returns, so the copy has finished before anything that depends on it is created;
- `must_run = false`: Read of the exited container keeps must_run false and stores exit_code, so a
  second `pulumi up` sees no drift (with must_run true, Read would flip it to false and every
  `up` would try to start it again);
- `rm` stays false: an auto-removed container is gone at the next Read, which would recreate it on
  every `up`;
- attach does not fail on a non-zero exit code: the program checks the read-back exit_code itself.
The tool's container depends on the config container only through `depends_on`, so replacing the
config container (delete-before-replace: fixed name) never replaces the tool's
(pulumi/pulumi@v3.259.0 pkg/resource/deploy/step_generator.go calculateDependentReplacements:
dependents are replaced only through property dependencies).
"""

from __future__ import annotations

import pulumi
import pulumi_docker as docker

from ..workload import File, Workload
from .base import PART_OF

STAGING = "/staging"
TARGET = "/config"

# POSIX sh, using only applets every busybox has (the images' own health checks already rely on
# their busybox: quay.io/prometheus/busybox under Prometheus, Alertmanager and the reloader,
# prometheus/prometheus@v3.16.0 and prometheus/alertmanager@v0.35.0 Dockerfile; Alpine's under
# Grafana). For each staged root n: every file copied into /config/n under a temporary name and
# renamed into place (atomic per file), then files no longer shipped removed. Unchanged files are
# rewritten with the same content, which no tool mistakes for a change: Prometheus, the reloader
# and Loki compare content hashes, Grafana checksums.
# The roots are overridable (QUIKAPP_STAGING / QUIKAPP_CONFIG) only so the live test runs this very
# script on a host directory; the container sets neither.
COPY_SCRIPT = """set -eu
for staged in "${QUIKAPP_STAGING:-/staging}"/*; do
  dest="${QUIKAPP_CONFIG:-/config}/${staged##*/}"
  cd "$staged"
  find . -type f | while read -r f; do
    mkdir -p "$dest/${f%/*}"
    cp "$f" "$dest/$f.tmp"
    chmod 0644 "$dest/$f.tmp"
    mv -f "$dest/$f.tmp" "$dest/$f"
    echo "copied ${f#./}"
  done
  cd "$dest"
  find . -type f | while read -r f; do
    [ -e "$staged/$f" ] || { rm -f "$f"; echo "removed ${f#./}"; }
  done
done
"""


def config_volume_name(workload: Workload, index: int) -> str:
    return f"{workload.name}_config" if index == 0 else f"{workload.name}_config_{index}"


def _upload(f: File, path: str) -> docker.ContainerUploadArgs:
    return docker.ContainerUploadArgs(file=path, content=pulumi.Output.secret(f.content) if f.secret else f.content)


class DockerConfig:
    """The config volumes and copier of one workload, and the mounts the tool and its sidecars get."""

    def __init__(self, workload: Workload, opts: pulumi.ResourceOptions, tool_image: docker.RemoteImage) -> None:
        self.workload = workload
        self.resources: list[pulumi.Resource] = []
        self.mounts: dict[str, docker.ContainerVolumeArgs] = {}  # live root -> read-only mount
        self.copier: docker.Container | None = None
        roots = workload.live_roots()
        if not roots:
            return
        name = workload.name
        copier_mounts = []
        uploads = []
        for index, root in enumerate(roots):
            volume = docker.Volume(
                f"{name}-config-volume" if index == 0 else f"{name}-config-volume-{index}",
                docker.VolumeArgs(name=config_volume_name(workload, index),
                                  labels=[docker.VolumeLabelArgs(label="part-of", value=PART_OF)]),
                opts=opts,  # rebuilt from the program on every copy: nothing in it to protect
            )
            self.resources.append(volume)
            self.mounts[root] = docker.ContainerVolumeArgs(volume_name=volume.name, container_path=root,
                                                           read_only=True)
            copier_mounts.append(docker.ContainerVolumeArgs(volume_name=volume.name,
                                                            container_path=f"{TARGET}/{index}"))
            uploads += [_upload(f, f"{STAGING}/{index}/{f.path[len(root) + 1:]}")
                        for f in sorted(workload.files, key=lambda f: f.path) if workload.root_of(f.path) == root]
        image = tool_image
        if workload.config_copier_image and workload.config_copier_image != workload.image:
            image = docker.RemoteImage(f"{name}-config-image",
                                       docker.RemoteImageArgs(name=workload.config_copier_image, keep_locally=True),
                                       opts=opts)
            self.resources.append(image)
        self.copier = docker.Container(
            f"{name}-config",
            docker.ContainerArgs(
                name=f"quikapp-{name}-config",
                image=image.image_id,
                entrypoints=["/bin/sh", "-c", COPY_SCRIPT],
                volumes=copier_mounts,
                uploads=uploads,
                # root: a fresh named volume belongs to root; the files it writes are world-readable.
                user="0",
                # It talks to nobody: no network at all (not even Docker's default bridge).
                network_mode="none",
                must_run=False,
                attach=True,
                labels=[docker.ContainerLabelArgs(label="part-of", value=PART_OF)],
            ),
            opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(delete_before_replace=True)),
        )
        self.resources.append(self.copier)
        # A failed copy must fail `pulumi up`, not leave the tool on old files unnoticed.
        self.copier.exit_code.apply(lambda code: _check_exit(name, code))

    def tool_mounts(self) -> list[docker.ContainerVolumeArgs]:
        return list(self.mounts.values())

    def tool_uploads(self) -> list[docker.ContainerUploadArgs]:
        """Files read only at start (outside every live root): the tool's own uploads, as before."""
        return [_upload(f, f.path) for f in sorted(self.workload.files, key=lambda f: f.path)
                if not self.workload.root_of(f.path)]


def _check_exit(name: str, code: int | None) -> None:
    if code not in (None, 0):
        raise RuntimeError(f"quikapp-{name}-config exited with {code}: the new config did not reach the "
                           f"{name}_config volume (see `docker logs quikapp-{name}-config`)")
