"""A catalog service with no scrape target at all still alerts (ServiceHasNoTargets).

On Kubernetes targets are discovered pods: a Service with no ready pod yields no target and no
`up` series, so ServiceDown (`up == 0`) cannot fire. The rendered catalog rules fill that gap.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from components.catalog import load_catalog
from components.render.prometheus import CATALOG_RULES_FILE, render_catalog_rules
from conftest import stack_run
from mockengine.rendered import workload_files
from tools import require, run_tool


def test_every_stack_ships_one_absence_per_catalog_service() -> None:
    catalog = load_catalog()
    services = {(job.name, name) for job in catalog.jobs for name, _ in job.services}
    for stack in ("dev", "staging", "prod"):
        text = workload_files(stack_run(stack))["prometheus"][CATALOG_RULES_FILE]
        (rule,) = yaml.safe_load(text)["groups"][0]["rules"]
        assert rule["expr"].count("absent(up{") == len(services)
        for job, name in services:
            assert f'absent(up{{job="{job}", service="{name}"}})' in rule["expr"]


def test_a_service_without_targets_fires_and_a_scraped_one_does_not(tmp_path: Path) -> None:
    catalog = load_catalog()
    (job, (first, second)) = next((j.name, [s for s, _ in j.services[:2]]) for j in catalog.jobs
                                  if len(j.services) >= 2)
    rules = tmp_path / "catalog.yml"
    rules.write_text(render_catalog_rules(catalog))
    everyone = [{"series": f'up{{job="{j.name}", service="{s}", instance="10.0.0.{i}:1"}}', "values": "1x10"}
                for j in catalog.jobs for i, (s, _) in enumerate(j.services) if s != first]
    tests = {"rule_files": [rules.name], "evaluation_interval": "1m", "tests": [
        {"interval": "1m", "input_series": everyone, "alert_rule_test": [
            # Absent for 4 minutes: still pending; from 5 minutes on: firing for exactly that one.
            {"eval_time": "4m", "alertname": "ServiceHasNoTargets", "exp_alerts": []},
            {"eval_time": "6m", "alertname": "ServiceHasNoTargets", "exp_alerts": [{
                "exp_labels": {"job": job, "service": first, "severity": "critical"},
                "exp_annotations": {
                    "summary": f"Service {first} has no scrape target",
                    "description": f"Nothing of {first} (job {job}) has been discovered for 5 minutes: no pod "
                                   "behind its Service, or none exposing the catalog's port.",
                    "runbook_url": "docs/runbooks.md#servicehasnotargets"}}]},
        ]},
        # Every service scraped (even if down: up == 0 is ServiceDown's): silent.
        {"interval": "1m", "input_series": [*everyone, {
            "series": f'up{{job="{job}", service="{first}", instance="10.0.1.1:1"}}', "values": "0x10"}],
         "alert_rule_test": [{"eval_time": "9m", "alertname": "ServiceHasNoTargets", "exp_alerts": []}]},
    ]}
    assert second  # the job has another service, which must stay silent in the first case
    (tmp_path / "catalog.test.yml").write_text(yaml.safe_dump(tests, sort_keys=False))
    result = run_tool(require("promtool"), "test", "rules", "catalog.test.yml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
