"""The release the upgrade journey starts from, and what upgrading from it restarts (docs/UPGRADING.md)."""

from __future__ import annotations

# main as it landed before this release (issue 13: zero-restart config, high availability).
PREVIOUS_RELEASE = "89a4a8b"

# The workloads whose pod template this release changes, with why: each restarts once on the first
# `pulumi up` after the upgrade, and nothing else does (tests/e2e/test_upgrade.py, on staging and
# prod). docs/UPGRADING.md lists the same (tests/test_docs.py).
_RESTARTS = {
    "StatefulSet/alertmanager": "the cluster peers use the short names alertmanager-<i>.alertmanager-headless; "
                                "its live directory is a projected volume of its own ConfigMap, without items",
    "StatefulSet/prometheus": "rule files were added and removed (kubernetes-mixin, per-exporter files); its live "
                              "directories (/etc/prometheus, rules/) are projected volumes of their own "
                              "ConfigMaps, without items",
    "Deployment/grafana": "the Jaeger datasource's logs query selects service_name (datasources are read at start); "
                          "its dashboards directory is a projected volume of its own ConfigMap, without items",
    "Deployment/loki": "its runtime-config directory is a projected volume of its own ConfigMap, without items",
    "Deployment/kube-state-metrics": "--metric-labels-allowlist for the claims' excluded-from-alerts label",
    "Deployment/redis-exporter": "--include-system-metrics (RedisOutOfMemory)",
}
UPGRADE_RESTARTS = {"staging": _RESTARTS, "prod": _RESTARTS}
