"""The documented way to carry Prometheus' history into a replica works on a running Prometheus.

docs/UPGRADING.md ("High availability: single instance → replicated", step 4) copies the old
volume's blocks into each replica's new data directory with a small shell script while the
replica runs. This runs that very script (taken from the doc, the here-document's `\\$` undone,
`/old` and `/new` pointed at temp dirs) against a real Prometheus at the deployed version: a
block made by promtool from samples six hours old is loaded within the reload interval and its
samples answer queries, without a restart.
"""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

from live_servers import LOOPBACK, free_ports, get_json, http_get, servers_in_tempdir, wait_until

from mockengine.program import ROOT
from tools import require

UPGRADING = ROOT / "docs" / "UPGRADING.md"


def documented_copy_script() -> str:
    text = UPGRADING.read_text(encoding="utf-8")
    match = re.search(r"args:\n\s+- \|\n(?P<body>(?:.*\n)*?)\s+echo copied\n", text)
    assert match, "the copy pod's script is not in docs/UPGRADING.md"
    lines = [line.strip() for line in match.group("body").splitlines()]
    return "\n".join(lines).replace("\\$", "$") + "\necho copied\n"


def blocks_loaded(port: int) -> float:
    _, body = http_get(f"http://{LOOPBACK}:{port}/metrics")
    found = re.search(r"^prometheus_tsdb_blocks_loaded (\S+)$", body, flags=re.M)
    return float(found.group(1)) if found else -1


def test_copied_blocks_are_picked_up_by_a_running_prometheus(tmp_path: Path) -> None:
    promtool, prometheus = require("promtool"), require("prometheus")
    old, source = tmp_path / "old", tmp_path / "samples.om"
    old.mkdir()
    start = int(time.time()) - 6 * 3600
    samples = [f"ha_history_probe{{job=\"old\"}} {i} {start + 60 * i}" for i in range(60)]
    source.write_text("# TYPE ha_history_probe gauge\n" + "\n".join(samples) + "\n# EOF\n")
    made = subprocess.run([promtool, "tsdb", "create-blocks-from", "openmetrics", str(source), str(old)],
                          capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stdout + made.stderr
    blocks = [p.name for p in old.iterdir() if (p / "meta.json").is_file()]
    assert blocks, "promtool made no block"
    (port,) = free_ports(1)
    with servers_in_tempdir("quikapp-ha-history-") as servers:
        new = servers.root / "data"
        new.mkdir()
        config = servers.root / "prometheus.yml"
        config.write_text("global: {scrape_interval: 15s}\n")
        server = servers.start("prometheus", [prometheus, f"--config.file={config}", f"--storage.tsdb.path={new}",
                                              f"--web.listen-address={LOOPBACK}:{port}"])
        servers.wait_http(server, f"http://{LOOPBACK}:{port}/-/ready", timeout=60)
        assert blocks_loaded(port) == 0
        script = documented_copy_script().replace("/old", str(old)).replace("/new", str(new))
        copied = subprocess.run(["/bin/sh", "-c", script], capture_output=True, text=True, timeout=60)
        assert copied.returncode == 0 and copied.stdout.strip() == "copied", copied.stdout + copied.stderr
        assert sorted(p.name for p in new.iterdir() if (p / "meta.json").is_file()) == sorted(blocks)
        # Prometheus reloads blocks every minute (tsdb/db.go BlockReloadInterval).
        wait_until("the copied blocks to be loaded", lambda: blocks_loaded(port) == len(blocks), 90,
                   interval=2, alive=server.check_alive)
        result = get_json(f"http://{LOOPBACK}:{port}/api/v1/query", query="ha_history_probe",
                          time=str(start + 60 * 30))
        (series,) = result["data"]["result"]
        assert series["metric"] == {"__name__": "ha_history_probe", "job": "old"} and series["value"][1] == "30"
        # Run again: nothing to do, nothing broken (the script skips what is there).
        again = subprocess.run(["/bin/sh", "-c", script], capture_output=True, text=True, timeout=60)
        assert again.returncode == 0 and blocks_loaded(port) == len(blocks)
