"""Run programs in a network namespace of their own whose DNS is a small zone answered here.

A pod resolves names through the resolv.conf the kubelet writes for it and the cluster's DNS
server. This script recreates that for programs started on loopback: it runs inside
`unshare --user --map-root-user --net --mount` (started by `run_in_sandbox`), so the loopback
interface, port 53 and /etc/resolv.conf are private to it and nothing outside changes. There it

1. brings the namespace's loopback up (`ip link set lo up`),
2. bind-mounts the given resolv.conf over /etc/resolv.conf (visible in this mount namespace only),
3. answers DNS on 127.0.0.1:53 (UDP) from `zone` (name -> IPv4 address; anything else NXDOMAIN),
   recording every question,
4. starts the given commands, polls their `status` URLs (Alertmanager's /api/v2/status) until each
   reports `expect_peers` cluster peers or `timeout` passes, and
5. prints a JSON report (peers seen per command, the DNS questions, each command's log tail) and
   stops everything it started.

Used by tests/live/test_live_cluster_domain.py. Messages are parsed and built with dnspython.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset


def serve_dns(zone: dict[str, str], questions: list[str], ready: threading.Event) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 53))
    ready.set()
    while True:
        wire, client = sock.recvfrom(4096)
        query = dns.message.from_wire(wire)
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        for question in query.question:
            name = question.name.to_text()
            questions.append(f"{dns.rdatatype.to_text(question.rdtype)} {name}")
            address = zone.get(name.rstrip(".").lower())
            if address is None:
                response.set_rcode(dns.rcode.NXDOMAIN)
            elif question.rdtype == dns.rdatatype.A:
                response.answer.append(dns.rrset.from_text(question.name, 5, "IN", "A", address))
            # A served name asked for another type (AAAA): NOERROR without answers.
        sock.sendto(response.to_wire(), client)


def peers(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            status = json.load(answer)
    except OSError:
        return 0
    cluster = status.get("cluster") or {}
    return len(cluster.get("peers") or []) if cluster.get("status") == "ready" else 0


def main(spec_path: str) -> None:
    spec: dict[str, Any] = json.loads(Path(spec_path).read_text())
    work = Path(spec["workdir"])
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    resolv = work / "resolv.conf"
    resolv.write_text(spec["resolv_conf"])
    subprocess.run(["mount", "--bind", str(resolv), "/etc/resolv.conf"], check=True)
    questions: list[str] = []
    ready = threading.Event()
    threading.Thread(target=serve_dns, args=(spec["zone"], questions, ready), daemon=True).start()
    ready.wait(5)
    processes = []
    try:
        for command in spec["commands"]:
            log = (work / f"{command['name']}.log").open("wb")
            processes.append((command, subprocess.Popen(command["argv"], cwd=command["cwd"], stdout=log,
                                                        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)))
        deadline = time.monotonic() + spec["timeout"]
        seen = [0] * len(processes)
        while time.monotonic() < deadline:
            seen = [peers(command["status"]) for command, _ in processes]
            if all(count >= spec["expect_peers"] for count in seen):
                break
            time.sleep(0.5)
    finally:
        for _, process in processes:
            process.terminate()
        for _, process in processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
    logs = {command["name"]: (work / f"{command['name']}.log").read_text(errors="replace")[-2000:]
            for command, _ in processes}
    print(json.dumps({"peers": seen, "questions": questions, "logs": logs}))


if __name__ == "__main__":
    main(sys.argv[1])
