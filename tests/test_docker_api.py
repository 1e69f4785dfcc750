"""Everything that talks to the Docker engine speaks an API version a current engine accepts.

Docker Engine 29 refuses clients below API 1.44 ("client version 1.42 is too old. Minimum
supported API version is 1.44": docs.docker.com/engine/release-notes/29/, breaking changes).
The Go clients start at their newest API version and only negotiate *down* to the daemon's
(github.com/docker/docker@v28.5.0 client/client.go negotiateAPIVersionPing: `if
versions.LessThan(pingResponse.APIVersion, cli.version)`; github.com/moby/moby/client likewise,
never below its MinAPIVersion). A client whose newest API is below 1.44 can never talk to Engine
29: Promtail 2.9.0 (docker/docker v23.0.3, DefaultVersion 1.42) shipped no logs on dev.

The table pins, per Docker-talking image at its deployed tag (and for the Pulumi Docker provider),
each Docker client module it is built with and that module's newest and oldest API, read at the
tags named. A version bump of any of them fails here until its row is re-checked.
"""

from __future__ import annotations

import re

from conftest import stack_run
from mockengine.manifests import plain
from mockengine.program import ROOT, STACKS, stack_config

ENGINE_29_MIN_API = (1, 44)
SOCKET_PATHS = {"/var/run/docker.sock", "/var/run", "/run"}


# image -> [(client module@version, newest API, oldest API it negotiates down to, where read)]
DOCKER_CLIENTS: dict[str, list[tuple[str, str, str, str]]] = {
    "grafana/promtail:3.6.11": [
        # docker_sd discovery (clients/pkg/promtail/discovery, vendored Prometheus discovery)
        ("github.com/moby/moby/client@v0.3.0", "1.54", "1.40",
         "grafana/loki@v3.6.11 go.mod + vendor/github.com/moby/moby/client/client.go"),
        # the log target (clients/pkg/promtail/targets/docker/target.go ContainerLogs)
        ("github.com/docker/docker@v28.5.0+incompatible", "1.51", "1.24",
         "grafana/loki@v3.6.11 go.mod; docker/docker@v28.5.0 api/common.go DefaultVersion, MinSupportedAPIVersion"),
    ],
    "ghcr.io/google/cadvisor:0.60.6": [
        ("github.com/moby/moby/client@v0.4.0", "1.54", "1.40",
         "google/cadvisor@v0.60.6 go.mod, container/docker/client.go; moby/moby/client@v0.4.0 client.go"),
    ],
}
# Known too old, kept so the reason for the move stays on record (never deployable).
TOO_OLD = {"grafana/promtail:2.9.0": "github.com/docker/docker@v23.0.3+incompatible speaks API 1.42 at most"}
# The Pulumi Docker provider plugin (what `pulumi up` itself uses to reach the engine).
PROVIDER_CLIENTS: dict[str, tuple[str, str, str]] = {
    "pulumi-docker==5.2.0": (
        "github.com/docker/docker@v28.5.2+incompatible", "1.51",
        "pulumi/pulumi-docker provider/go.mod (v5.1.0 and main of 2026-08-14: v28.5.2; 5.2.0 is not in the "
        "stored mirror); docker/docker@v28.5.2 api/common.go DefaultVersion",
    ),
}


def _version(text: str) -> tuple[int, int]:
    major, minor = text.split(".")
    return int(major), int(minor)


def docker_talking_images() -> set[str]:
    """Images of every Docker-stack container that mounts the engine's socket or the folder holding it."""
    images = set()
    for stack in (s for s in STACKS if stack_config(s)["target"] == "docker"):
        run = stack_run(stack)
        for container in run.of_type("docker:index/container:Container"):
            mounts = plain(container.inputs).get("volumes", [])
            # The socket itself, or the run directory holding it (cAdvisor); not a read-only host
            # root mounted for filesystem statistics (node-exporter), which never calls the API.
            if any(m.get("hostPath") in SOCKET_PATHS for m in mounts):
                image = plain(run.one("docker:index/remoteImage:RemoteImage", f"{container.name}-image").inputs)
                images.add(image["name"])
    return images


def test_every_docker_talking_image_is_pinned_with_its_client_api() -> None:
    images = docker_talking_images()
    assert {i.split(":")[0] for i in images} >= {"grafana/promtail", "ghcr.io/google/cadvisor"}
    for image in sorted(images):
        assert image not in TOO_OLD, f"{image}: {TOO_OLD[image]}, Engine 29 refuses it"
        assert image in DOCKER_CLIENTS, f"{image}: check its Docker clients' API versions at this tag, add a row"
        for module, newest, oldest, _source in DOCKER_CLIENTS[image]:
            # Negotiation lands on the daemon's version: it must lie within what the client speaks.
            assert _version(oldest) <= ENGINE_29_MIN_API <= _version(newest), f"{image} ({module})"


def test_the_pulumi_docker_provider_speaks_a_current_api() -> None:
    pinned = re.search(r"^pulumi-docker==(\S+)$", (ROOT / "requirements.txt").read_text(), re.M)
    assert pinned is not None
    key = f"pulumi-docker=={pinned.group(1)}"
    assert key in PROVIDER_CLIENTS, f"{key}: check the provider's docker client version, add a row"
    assert _version(PROVIDER_CLIENTS[key][1]) >= ENGINE_29_MIN_API
