"""Alertmanager members find each other by the rendered peer names in a cluster whose DNS domain is
not `cluster.local`.

A pod resolves a name with the search list the kubelet writes into its resolv.conf
(`<namespace>.svc.<domain> svc.<domain> <domain>`, `options ndots:5`: kubernetes/kubernetes
pkg/kubelet/network/dns/dns.go, indexed at 04791b49) and asks the cluster's DNS server, which knows
each StatefulSet pod as `<pod>.<headless Service>.<namespace>.svc.<domain>`. Here three real
Alertmanagers (the deployed version) run with the `--cluster.peer` flags a highAvailability stack
renders, in a network namespace of their own whose resolv.conf is exactly that for the domain
`quikapp.internal` and whose DNS server (tests/live/dns_sandbox.py) serves exactly those pod names,
all on 127.0.0.1. Only the ports are mapped (three members on one loopback address), and each
member listens and advertises on its own port instead of the pod IP; the peer host names stay as
rendered. The second test shows the check can fail: the fully qualified names the stack rendered
before (`….svc.cluster.local`) do not resolve in that cluster, and each member stays alone.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from live_servers import LOOPBACK, servers_in_tempdir

from components.settings import Settings, TargetKind, parse_settings
from components.workload import Port
from tools import require

pytestmark = pytest.mark.live

DOMAIN = "quikapp.internal"
NAMESPACE = "monitoring"
MEMBERS = 3
SANDBOX = Path(__file__).with_name("dns_sandbox.py")


def settings() -> Settings:
    return parse_settings({"target": "kubernetes", "grafana": {"adminPassword": "live-test-only"},
                           "exporters": {"postgres": {"enabled": False}},
                           "kubernetes": {"namespace": NAMESPACE, "clusterDomain": DOMAIN}}, {"grafana"})


class _Target:
    kind = TargetKind.KUBERNETES

    def operator_url(self, port: Port) -> str:
        return f"http://{LOOPBACK}:{port.container_port}"


def rendered_args(values: Settings) -> list[str]:
    """The Alertmanager args the Kubernetes target deploys (cluster flags completed)."""
    from components.alertmanager import alertmanager_workload
    from components.targets.kubernetes_layouts import layout_for

    return list(layout_for(alertmanager_workload(values, _Target())).workload.args)  # type: ignore[arg-type]


def http_port(member: int) -> int:
    return 9093 + 100 * member  # inside the sandbox's own network namespace: nothing else listens there


def gossip_port(member: int) -> int:
    return 9094 + 100 * member


def member_argv(args: list[str], member: int, base: Path, peer_host: Any) -> list[str]:
    """Member `member`'s command line: the rendered flags with the peers' host names kept (or
    rewritten by `peer_host`) and every address moved to its own port on 127.0.0.1."""
    out = [require("alertmanager")]
    for arg in args:
        flag, _, value = arg.partition("=")
        if flag == "--cluster.peer":
            host, port = value.rsplit(":", 1)
            ordinal = int(re.match(r"alertmanager-(\d+)\.", host).group(1))  # type: ignore[union-attr]
            assert port == "9094", arg
            out.append(f"{flag}={peer_host(host)}:{gossip_port(ordinal)}")
        elif flag in ("--cluster.listen-address", "--cluster.advertise-address"):
            out.append(f"{flag}={LOOPBACK}:{gossip_port(member)}")
        elif flag == "--config.file":
            out.append(f"{flag}={base / 'alertmanager.yml'}")
        elif flag == "--storage.path":
            out.append(f"{flag}={base / 'data'}")
        elif flag == "--web.external-url":
            out.append(f"{flag}=http://{LOOPBACK}:{http_port(member)}")
        else:
            out.append(arg)
    return [*out, f"--web.listen-address={LOOPBACK}:{http_port(member)}", "--cluster.peer-timeout=2s"]


def run_in_sandbox(peer_host: Any, timeout: float) -> dict[str, Any]:
    """Three members started by tests/live/dns_sandbox.py in a private network and mount namespace."""
    from components.render.alertmanager import render_alertmanager_config

    values = settings()
    args = rendered_args(values)
    assert sum(a.startswith("--cluster.peer=") for a in args) == MEMBERS
    zone = {f"alertmanager-{i}.alertmanager-headless.{NAMESPACE}.svc.{DOMAIN}": LOOPBACK for i in range(MEMBERS)}
    # What the kubelet writes for a pod of `monitoring` with dnsPolicy ClusterFirst (its default).
    resolv = (f"search {NAMESPACE}.svc.{DOMAIN} svc.{DOMAIN} {DOMAIN}\n"
              f"nameserver {LOOPBACK}\noptions ndots:5\n")
    with servers_in_tempdir("quikapp-cluster-domain-") as servers:
        commands = []
        for member in range(MEMBERS):
            base = servers.root / f"alertmanager-{member}"
            (base / "data").mkdir(parents=True)
            (base / "alertmanager.yml").write_text(render_alertmanager_config(values))
            commands.append({"name": f"alertmanager-{member}", "cwd": str(base),
                             "argv": member_argv(args, member, base, peer_host),
                             "status": f"http://{LOOPBACK}:{http_port(member)}/api/v2/status"})
        spec = servers.root / "spec.json"
        spec.write_text(json.dumps({"workdir": str(servers.root), "zone": zone, "resolv_conf": resolv,
                                    "commands": commands, "expect_peers": MEMBERS, "timeout": timeout}))
        result = subprocess.run(
            [require("unshare"), "--user", "--map-root-user", "--net", "--mount", "--",
             sys.executable, str(SANDBOX), str(spec)],
            capture_output=True, text=True, timeout=timeout + 60, cwd=Path(__file__).parent)
        assert result.returncode == 0, result.stdout + result.stderr
        report: dict[str, Any] = json.loads(result.stdout.splitlines()[-1])
        return report


@pytest.fixture(autouse=True)
def _tools() -> None:
    require("alertmanager")
    require("unshare")
    require("ip")


def test_members_join_through_the_search_list_of_a_non_default_domain() -> None:
    report = run_in_sandbox(lambda host: host, timeout=60)
    assert report["peers"] == [MEMBERS] * MEMBERS, json.dumps(report)[:3000]
    # Resolved the way a pod resolves them: the short name completed with namespace and domain.
    assert f"A alertmanager-1.alertmanager-headless.{NAMESPACE}.svc.{DOMAIN}." in report["questions"]


def test_the_former_cluster_local_names_leave_each_member_alone() -> None:
    """The check can fail: the fully qualified names the stack rendered before this setting
    (`<pod>.alertmanager-headless.monitoring.svc.cluster.local`) are unknown in a cluster whose
    domain is quikapp.internal, so no member finds another and each notifies on its own."""
    report = run_in_sandbox(lambda host: f"{host}.{NAMESPACE}.svc.cluster.local", timeout=20)
    assert report["peers"] == [1] * MEMBERS, json.dumps(report)[:3000]
    assert f"A alertmanager-1.alertmanager-headless.{NAMESPACE}.svc.cluster.local." in report["questions"]
