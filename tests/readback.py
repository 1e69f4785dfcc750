"""What a real provider stores after `pulumi up`, and what the next `pulumi up` would then do.

The mock engine hands a resource's inputs back as its state. Real providers store what they read
back from the Docker daemon or the Kubernetes API server, in their own normal form, and the next
`up` compares the program's inputs with that. A field that comes back in another form and forces
replacement replaces the resource on every `up` (the Docker `cpus` "1" → "1.0" case).

This module models, per resource type the stacks use:
- `read_back(inputs)`: the state the provider stores after the first `up`;
- `diff(news, old_inputs, state)`: the changes the provider's Diff would report on the next one,
  each an update or a replacement.
Every rule names its upstream source; docs/UPSTREAM-FACTS.md ("Provider read-back (second up)")
lists them in one table. Anything a model does not know (a resource type, a Docker field) is an
error, so a new type or field fails the second-up test until it is modelled.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any


@dataclass(frozen=True)
class Change:
    path: str
    old: Any
    new: Any
    replace: bool

    def __str__(self) -> str:
        kind = "replace" if self.replace else "update"
        return f"{kind} {self.path}: {self.old!r} -> {self.new!r}"


# ---------------------------------------------------------------------------------------------
# Upstream normalisations, each checked against the upstream code at the pinned version
# (the vectors in tests/test_second_up.py were produced by running that code).
# ---------------------------------------------------------------------------------------------

def docker_parse_cpus(text: str) -> int:
    """docker/cli opts.ParseCPUs (used by the provider's create): decimal text → NanoCPUs."""
    nano = Decimal(text).scaleb(9)
    if nano != nano.to_integral_value():
        raise ValueError(f"cpus {text!r}: value is too precise")
    return int(nano)


def docker_nano_cpus_text(nano: int) -> str:
    """kreuzwerker/terraform-provider-docker@v4.5.0 internal/provider/helpers.go nanoInt64ToDecimalString."""
    if nano == 0:
        return "0"
    amount = Decimal(nano).scaleb(-9)
    nine = f"{amount:.9f}"
    if nine.count("0") == 9:
        return f"{amount.quantize(Decimal('0.1'), rounding=ROUND_HALF_UP)}"
    return nine.rstrip("0")


_GO_UNITS = {"ns": 1, "us": 10**3, "µs": 10**3, "μs": 10**3, "ms": 10**6, "s": 10**9, "m": 60 * 10**9,
             "h": 3600 * 10**9}


def go_parse_duration(text: str) -> int:
    """Go time.ParseDuration (the daemon stores health check durations as time.Duration) → nanoseconds."""
    if text in ("0", ""):
        return 0
    parts = re.findall(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"not a Go duration: {text!r}")
    return int(sum(Decimal(n) * _GO_UNITS[u] for n, u in parts))


def go_duration_string(nanos: int) -> str:
    """Go time.Duration.String(): how the provider reads health check durations back ("1m" → "1m0s")."""
    if nanos == 0:
        return "0s"
    if nanos < 10**9:
        for unit, size in (("ms", 10**6), ("µs", 10**3), ("ns", 1)):
            if nanos >= size:
                return _trim(Decimal(nanos) / size) + unit
    hours, rest = divmod(nanos, 3600 * 10**9)
    minutes, rest = divmod(rest, 60 * 10**9)
    seconds = _trim(Decimal(rest) / 10**9) + "s"
    if hours:
        return f"{hours}h{minutes}m{seconds}"
    if minutes:
        return f"{minutes}m{seconds}"
    return seconds


def _trim(number: Decimal) -> str:
    text = f"{number:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


_BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}


def k8s_canonical_quantity(text: str) -> str:
    """k8s.io/apimachinery resource.Quantity canonical form (what the API server stores and returns).

    Binary suffixes stay binary at the largest exact unit ("1024Mi" → "1Gi") unless the amount
    is below 1024 or fractional, then decimal; decimal amounts take the largest exact power of
    1000 ("0.5" → "500m", "1000m" → "1"). Exponent forms (1e3) are not used by this program.
    """
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?", text)
    if match is None:
        raise ValueError(f"quantity not modelled: {text!r}")
    number, suffix = Decimal(match.group(1)), match.group(2) or ""
    if suffix in _BINARY:
        amount = number * (1024 ** _BINARY[suffix])
        if amount == amount.to_integral_value() and amount >= 1024:
            amount_int = int(amount)
            for name, power in sorted(_BINARY.items(), key=lambda kv: -kv[1]):
                if amount_int % (1024**power) == 0:
                    return f"{amount_int // 1024**power}{name}"
        number, suffix = amount, ""
    amount = number.scaleb(_DECIMAL[suffix])
    if amount == 0:
        return "0"
    for name, exponent in sorted(_DECIMAL.items(), key=lambda kv: -kv[1]):
        scaled = amount.scaleb(-exponent)
        if scaled == scaled.to_integral_value() and (exponent <= 0 or scaled >= 1):
            # The API server rounds up to nano units and uses the largest exponent that keeps an integer.
            return f"{int(scaled)}{name}"
    raise ValueError(f"quantity below 1n: {text!r}")


# ---------------------------------------------------------------------------------------------
# Docker: pulumi-docker bridges kreuzwerker/terraform-provider-docker (SDKv2). The bridge's Diff
# plans the change from the stored state (what Create's closing Read stored) to the new inputs
# and reports a change when the planned state differs from the stored one
# (pulumi/pulumi-terraform-bridge@v3.136.0 pkg/tfshim/sdk-v2/provider2.go Diff); an attribute that
# differs and is ForceNew in the schema, or lies under `replace_on_changes`, means replacement.
# ---------------------------------------------------------------------------------------------

Suppress = Callable[[Any, Any], bool]


@dataclass(frozen=True)
class TfField:
    """One attribute of a Terraform schema as far as the diff cares."""

    force_new: bool = False
    # Optional+Computed: unset in the config, the stored value stands (never a diff).
    computed: bool = False
    default: Any = None  # schema Default, used when the config leaves it unset
    kind: str = "scalar"  # scalar | list | set (order-insensitive) | block (MaxItems 1)
    zero: Any = None  # the type's zero value: unset and not computed compares as this
    suppress: Suppress | None = None  # the schema's DiffSuppressFunc
    elem_defaults: tuple[tuple[str, Any], ...] = ()  # defaults inside list/set/block elements


def _empty_new_means_old(old: Any, new: Any) -> bool:
    # resource_docker_container.go `user`, `working_dir`: `if newV == "" { newV = oldV }`.
    return new in (None, "")


def _ports_same(old: Any, new: Any) -> bool:
    # resource_docker_container.go suppressIfPortsDidNotChangeForMigrationV0ToV1: same count and
    # each old port found by `internal` in the new list with the same protocol, external and ip.
    old, new = old or [], new or []
    if len(old) != len(new):
        return False
    by_internal = {p["internal"]: p for p in new}
    return all(
        p["internal"] in by_internal
        and all(by_internal[p["internal"]].get(k) == p.get(k) for k in ("protocol", "external", "ip"))
        for p in old
    )


def _sorted_ports(ports: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # resource_docker_container_structures.go flattenContainerPorts: sorted by internal port.
    return sorted(ports, key=lambda p: p["internal"])


_LABELS = TfField(force_new=True, kind="set", zero=[])

# kreuzwerker/terraform-provider-docker@v4.5.0 internal/provider/resource_docker_container.go
# (pulumi names: the bridge camel-cases them and pluralises lists; pulumi-docker provider/resources.go
# keeps `command` and `networksAdvanced`).
CONTAINER_FIELDS: dict[str, TfField] = {
    "name": TfField(force_new=True),
    "image": TfField(force_new=True),
    "command": TfField(force_new=True, computed=True, kind="list"),
    "entrypoints": TfField(force_new=True, computed=True, kind="list"),
    "envs": TfField(force_new=True, computed=True, kind="set"),
    "labels": TfField(force_new=True, computed=True, kind="set"),
    "user": TfField(force_new=True, zero="", suppress=_empty_new_means_old),
    "workingDir": TfField(force_new=True, zero="", suppress=_empty_new_means_old),
    "restart": TfField(default="no"),
    "mustRun": TfField(default=True),
    # attach: Create waits for the container to stop; not read back ("attach" is left as configured).
    "attach": TfField(default=False),
    "memory": TfField(zero=0),
    "memorySwap": TfField(zero=0),
    "cpus": TfField(force_new=True, zero=""),
    "ports": TfField(force_new=True, kind="list", zero=[], suppress=_ports_same,
                     elem_defaults=(("ip", "0.0.0.0"), ("protocol", "tcp"))),
    "volumes": TfField(force_new=True, kind="set", zero=[]),
    "uploads": TfField(force_new=True, kind="set", zero=[], elem_defaults=(("executable", False),)),
    "networksAdvanced": TfField(force_new=True, kind="set", zero=[]),
    "healthcheck": TfField(computed=True, kind="block",
                           elem_defaults=(("interval", "0s"), ("timeout", "0s"), ("startPeriod", "0s"),
                                          ("startInterval", "0s"), ("retries", 0))),
    "networkMode": TfField(force_new=True, default="bridge"),
}

# resource_docker_image.go (pulumi RemoteImage)
REMOTE_IMAGE_FIELDS: dict[str, TfField] = {
    "name": TfField(force_new=True),
    "keepLocally": TfField(zero=False),
    "forceRemove": TfField(zero=False),
    "platform": TfField(force_new=True, default=""),
    "pullTriggers": TfField(force_new=True, kind="set", zero=[]),
    "triggers": TfField(force_new=True, zero={}),
    "imageId": TfField(computed=True),
    "repoDigest": TfField(computed=True),
}

# resource_docker_volume.go
VOLUME_FIELDS: dict[str, TfField] = {
    "name": TfField(force_new=True, computed=True),
    "labels": _LABELS,
    "driver": TfField(force_new=True, computed=True),
    "driverOpts": TfField(force_new=True, zero={}),
}

# resource_docker_network.go
NETWORK_FIELDS: dict[str, TfField] = {
    "name": TfField(force_new=True),
    "labels": _LABELS,
    "driver": TfField(force_new=True, computed=True),
    "options": TfField(force_new=True, computed=True),
    "internal": TfField(force_new=True, computed=True),
    "attachable": TfField(force_new=True, zero=False),
    "ingress": TfField(force_new=True, zero=False),
    "ipv6": TfField(force_new=True, zero=False),
    "ipamDriver": TfField(force_new=True, default="default"),
}

IMAGE_CMD = ["<CMD of the image>"]  # what the daemon fills in for an empty command (unknown here)


def _container_read_back(inputs: dict[str, Any]) -> dict[str, Any]:
    """resource_docker_container_funcs.go resourceDockerContainerRead, as Create's closing Read stores it."""
    state = dict(inputs)
    state["name"] = inputs["name"].lstrip("/")
    if inputs.get("cpus"):
        # Create: opts.ParseCPUs; Read: d.Set("cpus", nanoInt64ToDecimalString(HostConfig.NanoCPUs)).
        state["cpus"] = docker_nano_cpus_text(docker_parse_cpus(inputs["cpus"]))
    if inputs.get("memory") is not None:
        state["memory"] = inputs["memory"] * 2**20 // 2**20  # set in MiB, read as bytes / 1024 / 1024
    if inputs.get("memorySwap") is not None:
        swap = inputs["memorySwap"]
        state["memorySwap"] = swap * 2**20 // 2**20 if swap > 0 else swap
    elif inputs.get("memory"):
        state["memorySwap"] = 2 * inputs["memory"]  # the daemon's default: swap limit twice the memory
    if not inputs.get("command"):
        # Create leaves Cmd unset for an empty list (GetOk); the daemon fills in the image's CMD
        # unless the entrypoint is replaced, and Read stores Config.Cmd.
        state["command"] = [] if inputs.get("entrypoints") else IMAGE_CMD
    if inputs.get("ports"):
        # Read sets ports only where the config has some, from NetworkSettings.Ports (running container).
        defaults = dict(CONTAINER_FIELDS["ports"].elem_defaults)
        state["ports"] = _sorted_ports([{**defaults, **{k: v for k, v in p.items() if v not in (None, "")}}
                                        for p in inputs["ports"]])
    if inputs.get("healthcheck"):
        check = {**dict(CONTAINER_FIELDS["healthcheck"].elem_defaults), **inputs["healthcheck"]}
        for key in ("interval", "timeout", "startPeriod", "startInterval"):
            # Read: Config.Healthcheck.Interval.String() and so on (Go time.Duration).
            check[key] = go_duration_string(go_parse_duration(check[key]))
        state["healthcheck"] = check
    state["restart"] = inputs.get("restart") or "no"
    # Read: d.Set("network_mode", HostConfig.NetworkMode): "bridge" (the default) stays "bridge" after the
    # networks_advanced connects; "none" (the config copiers) reads back as "none".
    state["networkMode"] = inputs.get("networkMode") or "bridge"
    state["workingDir"] = "<WORKDIR of the image>"
    # envs, labels, volumes, uploads, networks_advanced: Read leaves them as created ("We decided not to
    # set the environment variables and labels", "upload can't be imported", networks_advanced only on import).
    return state


def _remote_image_read_back(inputs: dict[str, Any]) -> dict[str, Any]:
    # resource_docker_image_funcs.go resourceDockerImageRead: image_id and repo_digest from the daemon,
    # name as configured. The mock's stand-ins for the two computed values are kept.
    return dict(inputs)


def _volume_read_back(inputs: dict[str, Any]) -> dict[str, Any]:
    # resource_docker_volume.go resourceDockerVolumeRead: name, labels (all of the volume's), driver.
    return {**inputs, "driver": inputs.get("driver") or "local"}


def _network_read_back(inputs: dict[str, Any]) -> dict[str, Any]:
    # resource_docker_network_funcs.go resourceDockerNetworkReadRefreshFunc.
    return {"internal": False, "attachable": False, "ingress": False, "ipv6": False, "ipamDriver": "default",
            "options": {}, **inputs, "driver": inputs.get("driver") or "bridge"}


def _canon(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def _fill(elem: Any, defaults: tuple[tuple[str, Any], ...]) -> Any:
    if not isinstance(elem, dict):
        return elem
    return {**dict(defaults), **{k: v for k, v in elem.items() if v is not None}}


def tf_diff(fields: dict[str, TfField], news: dict[str, Any], state: dict[str, Any],
            replace_on_changes: list[str]) -> list[Change]:
    """The SDKv2 attribute diff (terraform-plugin-sdk helper/schema/schema.go diffString/diffList/diffSet)."""
    unknown = sorted(set(news) - set(fields))
    if unknown:
        raise KeyError(f"Docker fields not modelled: {unknown}")
    changes = []
    for key, spec in fields.items():
        new, old = news.get(key), state.get(key)
        if new is None or (spec.kind == "block" and new == []):
            # An unset MaxItems-1 block reaches the provider as an empty list (pulumi-terraform-bridge
            # pkg/tfbridge/schema.go makeTerraformInput "null maxItemsOne values as empty arrays").
            if spec.computed:
                continue
            new = spec.default if spec.default is not None else spec.zero
        if old is None:
            old = spec.default if spec.default is not None else spec.zero
        if spec.kind in ("list", "set", "block"):
            new = [_fill(e, spec.elem_defaults) for e in (new if isinstance(new, list) else [new])]
            old = [_fill(e, spec.elem_defaults) for e in (old if isinstance(old, list) else [old])]
        if spec.suppress is not None and spec.suppress(old, new):
            continue
        if spec.kind == "set":
            same = sorted(map(_canon, old)) == sorted(map(_canon, new))
        else:
            same = _canon(old) == _canon(new)
        if not same:
            replace = spec.force_new or key in replace_on_changes
            changes.append(Change(key, old, new, replace))
    return changes


# ---------------------------------------------------------------------------------------------
# Kubernetes: pulumi-kubernetes (pulumi/pulumi-kubernetes@v4.32.0-27-g94977969d, the newest
# available; provider/pkg/provider/provider.go Diff) diffs the *pruned live object* against the
# new inputs: live is pruned to the shape of the old inputs (util.go pruneMap/pruneSlice), both
# input sets are normalised through the typed object (clients/unstructured.go Normalize, which
# also turns a Secret's stringData into data), and a JSON merge patch between the two is the
# diff. Paths in diff.go forceNew mean replacement.
# ---------------------------------------------------------------------------------------------

_QUANTITY_PARENTS = ("limits", "requests")
# Non-pointer booleans tagged omitempty in k8s.io/api that this program sets: false is dropped
# by the typed round trip and by the API server alike.
_OMITEMPTY_FALSE = {"readOnly"}
_NAMESPACED = {"ConfigMap", "Secret", "PersistentVolumeClaim", "Deployment", "DaemonSet", "Service",
               "ServiceAccount", "NetworkPolicy", "Ingress", "Role", "RoleBinding", "StatefulSet",
               "PodDisruptionBudget"}


def k8s_typed(value: Any, key: str = "", parent: str = "") -> Any:
    """The typed round trip (FromUnstructured → ToUnstructured): empties dropped, quantities canonical."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            typed = k8s_typed(v, k, key)
            if typed is None or typed == [] or (typed == {} and k not in ("emptyDir",)):
                continue  # omitempty (emptyDir is a pointer: {} is kept)
            if typed is False and k in _OMITEMPTY_FALSE:
                continue
            out[k] = typed
        return out
    if isinstance(value, list):
        return [k8s_typed(v, "", key) for v in value]
    if parent in _QUANTITY_PARENTS:
        return k8s_canonical_quantity(str(value))
    return value


def _secret_normalized(obj: dict[str, Any]) -> dict[str, Any]:
    # clients/unstructured.go normalizeSecret: stringData merged into base64 data, stringData dropped;
    # the API server does the same on write.
    string_data = obj.get("stringData") or {}
    if not string_data:
        return obj
    data = dict(obj.get("data") or {})
    for k, v in string_data.items():
        data[k] = base64.b64encode(str(v).encode()).decode()
    out = {k: v for k, v in obj.items() if k != "stringData"}
    out["data"] = data
    return out


def k8s_normalize(obj: dict[str, Any]) -> dict[str, Any]:
    """provider.go normalizeInputs: the typed round trip pruned back to the input's shape."""
    kind = obj.get("kind", "")
    typed = k8s_typed(_secret_normalized(obj) if kind == "Secret" else obj)
    shape = _secret_normalized(obj) if kind == "Secret" else obj
    return prune_map(typed, shape) or {}


def prune_map(source: Any, target: Any) -> Any:
    """pulumi-kubernetes provider/pkg/provider/util.go pruneMap."""
    if source is None or target is None:
        return None
    result = {}
    for key, value in source.items():
        if key not in target:
            continue
        t = target[key]
        if value is None or t is None or type(value) is not type(t):
            result[key] = value
        elif isinstance(value, dict):
            result[key] = prune_map(value, t)
        elif isinstance(value, list):
            result[key] = prune_slice(value, t)
        else:
            result[key] = value
    return result


def prune_slice(source: list[Any], target: list[Any]) -> list[Any]:
    """util.go pruneSlice: element by element, up to the target's length."""
    if not source or not target:
        return []
    if type(source[0]) is not type(target[0]):
        return list(source)
    result = []
    for i, t in enumerate(target):
        if i >= len(source):
            break
        value = source[i]
        if value is None or t is None:
            result.append(value)
        elif isinstance(value, dict):
            pruned = prune_map(value, t)
            if pruned is not None:
                result.append(pruned)
        elif isinstance(value, list):
            result.append(prune_slice(value, t))
        else:
            result.append(value)
    return result


def merge_patch_paths(old: Any, new: Any, path: str = "") -> list[tuple[str, Any, Any]]:
    """The paths a JSON merge patch (evanphx/json-patch CreateMergePatch) from old to new touches."""
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for key in sorted(set(old) | set(new)):
            if key not in new:
                out.append((f"{path}.{key}", old[key], None))
            elif key not in old:
                out.append((f"{path}.{key}", None, new[key]))
            else:
                out += merge_patch_paths(old[key], new[key], f"{path}.{key}")
        return out
    return [] if old == new else [(path, old, new)]


def _force_new(kind: str, mutable: bool = False, immutable: bool = False) -> tuple[str, ...]:
    """provider/pkg/provider/diff.go forceNewProperties for the kinds this program uses.

    `mutable`: the provider has enableConfigMapMutable and enableSecretMutable set (this program's
    does): a ConfigMap's data is then patched in place and a Secret keeps only `.type` ForceNew
    (diff.go: the Secret/ConfigMap branches apply only when the flag is off or the object is immutable:
    `immutable` = the new object sets `immutable: true`, clients.go IsImmutable).
    """
    mutable = mutable and not immutable
    selector = (".spec.selector",)
    table = {
        "Deployment": selector,
        "DaemonSet": selector,
        # diff.go statefulSet (policy/v1 PodDisruptionBudget has no entry: only v1beta1's `.spec`).
        "StatefulSet": (".spec.podManagementPolicy", ".spec.revisionHistoryLimit", ".spec.selector",
                        ".spec.serviceName", ".spec.volumeClaimTemplates"),
        "PersistentVolumeClaim": (".spec.accessModes", ".spec.selector", ".spec.storageClassName",
                                  ".spec.volumeName"),
        "Service": (".spec.clusterIP",),
        "ClusterRoleBinding": (".roleRef",),
        "RoleBinding": (".roleRef",),  # diff.go roleBinding, for both binding kinds
        # Secrets and ConfigMaps are immutable unless the provider sets enableSecretMutable /
        # enableConfigMapMutable (this program does not): data changes replace them.
        "Secret": (".type",) if mutable else (".type", ".stringData", ".data"),
        "ConfigMap": () if mutable else (".binaryData", ".data"),
    }
    return (".metadata.name", ".metadata.namespace", *table.get(kind, ()))


def k8s_diff(news: dict[str, Any], old_inputs: dict[str, Any], live: dict[str, Any],
             mutable: bool = False) -> list[Change]:
    """provider.go Diff: merge patch from the pruned live object to the normalised new inputs."""
    kind = news.get("kind", "")
    new_n, old_n = k8s_normalize(news), k8s_normalize(old_inputs)
    pruned = prune_map(live, old_n) or {}
    for obj in (new_n, pruned):
        meta = obj.setdefault("metadata", {})
        if kind in _NAMESPACED:
            meta["namespace"] = meta.get("namespace") or "default"
        else:
            meta.pop("namespace", None)
    force = _force_new(kind, mutable, news.get("immutable") is True)
    changes = []
    for path, old, new in merge_patch_paths(pruned, new_n):
        replace = any(path == f or path.startswith(f + ".") for f in force)
        changes.append(Change(path, old, new, replace))
    return changes


def _server_defaults(obj: dict[str, Any]) -> dict[str, Any]:
    """What the API server adds (defaulting, registry strategies): all of it lies outside the inputs'
    shape, so pruning drops it; modelled so the pruning is exercised."""
    kind = obj.get("kind")
    out = json.loads(json.dumps(obj))
    meta = out.setdefault("metadata", {})
    meta.update({"uid": "00000000-0000-0000-0000-000000000000", "resourceVersion": "1", "generation": 1,
                 "creationTimestamp": "2026-01-01T00:00:00Z", "managedFields": [{"manager": "pulumi"}]})
    if kind == "Namespace":
        # The NamespaceDefaultLabelName admission: every namespace carries its own name as a label.
        meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = meta["name"]
        out["spec"] = {"finalizers": ["kubernetes"]}
        out["status"] = {"phase": "Active"}
    if kind == "Service":
        spec = out["spec"]
        spec.setdefault("type", "ClusterIP")
        # A headless Service keeps clusterIP None; with a selector it is still given SingleStack and
        # the first range's family (kubernetes/website content/en/docs/concepts/services-networking/
        # dual-stack.md, "headless Services with selectors will behave in this same way").
        ip = "None" if spec.get("clusterIP") == "None" else "10.0.0.10"
        spec.update({"clusterIP": ip, "clusterIPs": [ip], "ipFamilies": ["IPv4"],
                     "ipFamilyPolicy": "SingleStack", "sessionAffinity": "None", "internalTrafficPolicy": "Cluster"})
        for port in spec.get("ports", []):
            port.setdefault("protocol", "TCP")
            port.setdefault("targetPort", port["port"])
    if kind in ("Deployment", "DaemonSet", "StatefulSet"):
        spec = out["spec"]
        spec.setdefault("revisionHistoryLimit", 10)
        if kind == "StatefulSet":
            _statefulset_defaults(spec)
        elif kind == "Deployment":
            spec.setdefault("progressDeadlineSeconds", 600)
            strategy = spec.setdefault("strategy", {"type": "RollingUpdate"})
            if strategy.get("type") == "RollingUpdate":
                strategy.setdefault("rollingUpdate", {"maxSurge": "25%", "maxUnavailable": "25%"})
        else:
            spec.setdefault("updateStrategy", {"type": "RollingUpdate",
                                               "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}})
        pod = spec["template"]["spec"]
        pod.update({k: v for k, v in {"dnsPolicy": "ClusterFirst", "restartPolicy": "Always",
                                      "schedulerName": "default-scheduler", "terminationGracePeriodSeconds": 30}.items()
                    if k not in pod})
        if "serviceAccountName" in pod:
            pod["serviceAccount"] = pod["serviceAccountName"]
        for container in pod.get("containers", []):
            container.setdefault("imagePullPolicy", "IfNotPresent")
            container.setdefault("terminationMessagePath", "/dev/termination-log")
            container.setdefault("terminationMessagePolicy", "File")
            for port in container.get("ports", []):
                port.setdefault("protocol", "TCP")
                # hostNetwork: hostPort = containerPort is defaulted on Pods only (SetDefaults_Pod),
                # no longer on pod templates (kubernetes/kubernetes pkg/apis/core/v1/defaults.go).
            for probe_key in ("livenessProbe", "readinessProbe", "startupProbe"):
                probe = container.get(probe_key)
                if probe:
                    probe.setdefault("successThreshold", 1)
                    if "httpGet" in probe:
                        probe["httpGet"].setdefault("scheme", "HTTP")
            for env in container.get("env", []):
                ref = (env.get("valueFrom") or {}).get("fieldRef")
                if ref is not None:
                    ref.setdefault("apiVersion", "v1")
        for volume in pod.get("volumes", []):
            if "configMap" in volume:
                volume["configMap"].setdefault("defaultMode", 420)
            if "secret" in volume:
                volume["secret"].setdefault("defaultMode", 420)
            if "projected" in volume:
                volume["projected"].setdefault("defaultMode", 420)  # SetDefaults_ProjectedVolumeSource
    if kind == "PodDisruptionBudget":
        # policy/v1 has no defaulting (no pkg/apis/policy/v1/defaults.go); the disruption controller
        # writes the status.
        out["status"] = {"currentHealthy": 0, "desiredHealthy": 0, "disruptionsAllowed": 0, "expectedPods": 0,
                         "observedGeneration": 1}
    if kind == "PersistentVolumeClaim":
        out["spec"].setdefault("volumeMode", "Filesystem")
        out["spec"].setdefault("storageClassName", "standard")
        out["spec"]["volumeName"] = "pvc-00000000"
    if kind == "NetworkPolicy":
        out["spec"].setdefault("policyTypes", ["Ingress"])
        for rule in out["spec"].get("ingress", []):
            for port in rule.get("ports", []):
                port.setdefault("protocol", "TCP")
    if kind == "Secret":
        out.setdefault("type", "Opaque")
    if kind == "Ingress":
        for rule in out["spec"].get("rules", []):
            for path in rule.get("http", {}).get("paths", []):
                path.setdefault("pathType", "ImplementationSpecific")
    return out


def _statefulset_defaults(spec: dict[str, Any]) -> None:
    """kubernetes/kubernetes pkg/apis/apps/v1/defaults.go SetDefaults_StatefulSet, and the generated
    SetObjectDefaults_StatefulSet calling core/v1 SetDefaults_PersistentVolumeClaim (status.phase
    Pending) and SetDefaults_PersistentVolumeClaimSpec (volumeMode Filesystem) on every claim template."""
    spec.setdefault("replicas", 1)
    spec.setdefault("podManagementPolicy", "OrderedReady")
    if not spec.get("updateStrategy", {}).get("type"):
        spec["updateStrategy"] = {"type": "RollingUpdate", "rollingUpdate": {}}
    strategy = spec["updateStrategy"]
    if strategy["type"] == "RollingUpdate" and "rollingUpdate" in strategy:
        strategy["rollingUpdate"].setdefault("partition", 0)
    # Feature StatefulSetAutoDeletePVC (beta, on by default since 1.27).
    policy = spec.setdefault("persistentVolumeClaimRetentionPolicy", {})
    policy.setdefault("whenDeleted", "Retain")
    policy.setdefault("whenScaled", "Retain")
    for template in spec.get("volumeClaimTemplates", []):
        template.setdefault("spec", {}).setdefault("volumeMode", "Filesystem")
        template.setdefault("status", {})["phase"] = "Pending"


def k8s_read_back(inputs: dict[str, Any]) -> dict[str, Any]:
    """The live object after the first `up`: the API server's typed form of the inputs plus its defaults."""
    obj = _secret_normalized(inputs) if inputs.get("kind") == "Secret" else inputs
    return _server_defaults(k8s_typed(obj))


# ---------------------------------------------------------------------------------------------
# Explicit providers: the engine asks DiffConfig, which compares old and new *inputs*
# (pulumi-terraform-bridge pkg/tfbridge/provider.go DiffConfig; pulumi-kubernetes provider.go
# DiffConfig: a change of kubeconfig, context or cluster replaces the provider and so everything).
# ---------------------------------------------------------------------------------------------

def inputs_diff(news: dict[str, Any], old_inputs: dict[str, Any], replacing: tuple[str, ...]) -> list[Change]:
    return [Change(key, old_inputs.get(key), news.get(key), key in replacing)
            for key in sorted(set(news) | set(old_inputs)) if news.get(key) != old_inputs.get(key)]


def k8s_check(sent: dict[str, Any], old_checked: dict[str, Any] | None, first_state: dict[str, Any]) -> dict[str, Any]:
    """provider.go Check: an unnamed object gets a name and `pulumi.com/autonamed` (metadata/naming.go
    AssignNameIfAutonamable on create; AdoptOldAutonameIfUnnamed keeps the old name afterwards)."""
    obj = json.loads(json.dumps(sent))
    meta = obj.setdefault("metadata", {})
    if meta.get("name"):
        return obj
    if old_checked is None:
        name = first_state["metadata"]["name"]  # the mock engine's stand-in for the random suffix
    elif (old_checked["metadata"].get("annotations") or {}).get("pulumi.com/autonamed") == "true":
        name = old_checked["metadata"]["name"]
    else:
        return obj
    meta["name"] = name
    meta.setdefault("annotations", {})["pulumi.com/autonamed"] = "true"
    return obj


Check = Callable[[dict[str, Any], "dict[str, Any] | None", dict[str, Any]], dict[str, Any]]
ReadBack = Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]]
Diff = Callable[[dict[str, Any], dict[str, Any], dict[str, Any], list[str]], list[Change]]


def _unchecked(sent: dict[str, Any], old_checked: dict[str, Any] | None, first_state: dict[str, Any]) -> dict[str, Any]:
    return sent


@dataclass(frozen=True)
class Model:
    """How one resource type goes through `up` on a real provider."""

    check: Check  # the provider's Check: inputs as stored (old inputs next time)
    read_back: ReadBack  # (checked inputs, the mock's state) -> state the provider stores
    diff: Diff  # (checked new inputs, old checked inputs, stored state, replace_on_changes) -> changes
    source: str


def _tf(fields: dict[str, TfField], read: Callable[[dict[str, Any]], dict[str, Any]], source: str) -> Model:
    # Docker models read back from the mock's state: the inputs plus the computed values others consume.
    return Model(_unchecked, lambda checked, state: read(state),
                 lambda news, olds, state, roc: tf_diff(fields, news, state, roc), source)


def _provider(replacing: tuple[str, ...], source: str) -> Model:
    return Model(_unchecked, lambda checked, state: dict(checked),
                 lambda news, olds, state, roc: inputs_diff(news, olds, replacing), source)


_K8S = Model(k8s_check, lambda checked, state: k8s_read_back(checked),
             lambda news, olds, state, roc: k8s_diff(news, olds, state),
             "pulumi/pulumi-kubernetes provider/pkg/provider/provider.go Check, Diff")

_TPD = "kreuzwerker/terraform-provider-docker@v4.5.0 internal/provider/"
MODELS: dict[str, Model] = {
    "docker:index/container:Container": _tf(CONTAINER_FIELDS, _container_read_back,
                                            _TPD + "resource_docker_container*.go"),
    "docker:index/remoteImage:RemoteImage": _tf(REMOTE_IMAGE_FIELDS, _remote_image_read_back,
                                                _TPD + "resource_docker_image*.go"),
    "docker:index/volume:Volume": _tf(VOLUME_FIELDS, _volume_read_back, _TPD + "resource_docker_volume.go"),
    "docker:index/network:Network": _tf(NETWORK_FIELDS, _network_read_back, _TPD + "resource_docker_network*.go"),
    "pulumi:providers:docker": _provider((), "pulumi/pulumi-terraform-bridge@v3.136.0 pkg/tfbridge/provider.go "
                                             "DiffConfig"),
    "pulumi:providers:kubernetes": _provider(("kubeconfig", "context", "cluster"),
                                             "pulumi/pulumi-kubernetes provider/pkg/provider/provider.go DiffConfig"),
}
for _kind in ("core/v1:Namespace", "core/v1:ConfigMap", "core/v1:Secret", "core/v1:PersistentVolumeClaim",
              "core/v1:Service", "core/v1:ServiceAccount", "apps/v1:Deployment", "apps/v1:DaemonSet",
              "rbac.authorization.k8s.io/v1:ClusterRole", "rbac.authorization.k8s.io/v1:ClusterRoleBinding",
              "rbac.authorization.k8s.io/v1:Role", "rbac.authorization.k8s.io/v1:RoleBinding",
              "networking.k8s.io/v1:NetworkPolicy", "networking.k8s.io/v1:Ingress", "apps/v1:StatefulSet",
              "policy/v1:PodDisruptionBudget"):
    MODELS[f"kubernetes:{_kind}"] = _K8S
