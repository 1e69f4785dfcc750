"""What stands in for a stack's secrets, which nothing here can decrypt.

SENTINELS: distinctive values the tests feed where a stack needs a secret, then look for in every
place that must not show it. PLACEHOLDERS: what `make render` (scripts/render.py) puts there
instead, valid for every checker and obviously not a secret. secret_needed() says where the
program requires one, as its settings loader decides.
"""

from __future__ import annotations

import json
from typing import Any

# A key's path in the stack's values, namespace left out: keys, and list indexes as ints.
KeyPath = tuple[str | int, ...]

# Stand-ins for the secrets a real stack holds as `secure:` values (which cannot be decrypted
# here). Distinctive so tests can search every non-secret place for them.
SENTINELS: dict[KeyPath, str] = {
    ("grafana", "adminPassword"): "sentinel-grafana-admin-Zq7",
    ("exporters", "postgres", "dsn"): "postgresql://monitor:sentinel-pg-Xk4@postgres:5432/postgres?sslmode=disable",
    ("alertmanager", "slack", "apiUrl"): "https://hooks.slack.test/sentinel-slack-Wm2",
    ("alertmanager", "webhook", "url"): "https://hooks.test/sentinel-webhook-Pq9",
    ("alertmanager", "heartbeat", "url"): "https://hc.test/sentinel-heartbeat-Hb3",
    ("alertmanager", "email", "authPassword"): "sentinel-smtp-Jr5",
    ("alertmanager", "pagerduty", "routingKey"): "sentinel-pagerduty-Rk6",
    ("alertmanager", "opsgenie", "apiKey"): "sentinel-opsgenie-Ak2",
    ("alertmanager", "msteams", "webhookUrl"): "https://teams.test/sentinel-msteams-Tw4",
    ("jaeger", "elasticsearch", "password"): "sentinel-es-Tn8",
    # Remote write: endpoint 0 with basic auth, endpoint 1 with a bearer token (see secret_needed).
    ("prometheus", "remoteWrite", 0, "password"): "sentinel-rw-basic-Rv6",
    ("prometheus", "remoteWrite", 1, "bearerToken"): "sentinel-rw-token-Bt1",
    ("loki", "s3", "secretAccessKey"): "sentinel-s3-key-Sk2",
    ("grafana", "database", "password"): "sentinel-grafana-db-Gd6",
}


# What `make render` puts where a secret goes: valid for every checker, obviously not a secret.
PLACEHOLDERS: dict[KeyPath, str] = {
    ("grafana", "adminPassword"): "redacted-grafana-admin-password",
    ("exporters", "postgres", "dsn"): "postgresql://redacted:redacted@postgres:5432/postgres?sslmode=disable",
    ("alertmanager", "slack", "apiUrl"): "https://redacted.invalid/alertmanager/slack/apiUrl",
    ("alertmanager", "webhook", "url"): "https://redacted.invalid/alertmanager/webhook/url",
    ("alertmanager", "heartbeat", "url"): "https://redacted.invalid/alertmanager/heartbeat/url",
    ("alertmanager", "email", "authPassword"): "redacted-smtp-password",
    ("alertmanager", "pagerduty", "routingKey"): "redacted-pagerduty-routing-key",
    ("alertmanager", "opsgenie", "apiKey"): "redacted-opsgenie-api-key",
    ("alertmanager", "msteams", "webhookUrl"): "https://redacted.invalid/alertmanager/msteams/webhookUrl",
    ("jaeger", "elasticsearch", "password"): "redacted-elasticsearch-password",
    ("prometheus", "remoteWrite", 0, "password"): "redacted-remote-write-password",
    ("prometheus", "remoteWrite", 1, "bearerToken"): "redacted-remote-write-bearer-token",
    ("loki", "s3", "secretAccessKey"): "redacted-s3-secret-access-key",
    ("grafana", "database", "password"): "redacted-grafana-database-password",
    # A team's receivers (alertmanager.teams.<team>): ANY_KEY stands for the team's name.
    ("alertmanager", "teams", "*", "slack", "apiUrl"): "https://redacted.invalid/alertmanager/teams/slack/apiUrl",
    ("alertmanager", "teams", "*", "webhook", "url"): "https://redacted.invalid/alertmanager/teams/webhook/url",
    ("alertmanager", "teams", "*", "email", "authPassword"): "redacted-team-smtp-password",
    ("alertmanager", "teams", "*", "pagerduty", "routingKey"): "redacted-team-pagerduty-routing-key",
    ("alertmanager", "teams", "*", "opsgenie", "apiKey"): "redacted-team-opsgenie-api-key",
    ("alertmanager", "teams", "*", "msteams", "webhookUrl"):
        "https://redacted.invalid/alertmanager/teams/msteams/webhookUrl",
}
ANY_KEY = "*"  # in a PLACEHOLDERS path: any key of a map of objects (a team's name)


def placeholder(path: KeyPath) -> str | None:
    """The placeholder for the secret at `path` (keys without the namespace), ANY_KEY matching any map key."""
    for known, value in PLACEHOLDERS.items():
        if len(known) == len(path) and all(k in (p, ANY_KEY) for k, p in zip(known, path, strict=True)):
            return value
    return None


def node_at(values: dict[str, Any], path: KeyPath) -> tuple[bool, Any]:
    """(found, value) at `path` of nested config values (an int steps into a list); (False, None)
    where any step is missing."""
    node: Any = values
    for part in path:
        if isinstance(part, int):
            if not isinstance(node, list) or not 0 <= part < len(node):
                return False, None
        elif not isinstance(node, dict) or part not in node:
            return False, None
        node = node[part]
    return True, node


def secret_needed(values: dict[str, Any], path: KeyPath) -> bool:
    """Whether the tests fill a stand-in for the secret at `path`: wherever the program requires one (the
    settings decide: components/settings/secrets.py), and, so that every secret is exercised, wherever an
    object the values configure takes an optional one (an SMTP password, a remote-write bearer token)."""
    # Imported here, not at the top: run_program re-imports `components` for every run.
    from components.settings.model import Settings
    from components.settings.secrets import secret_slots

    slot = next((s for s in secret_slots(Settings, values) if s.path == path), None)
    if slot is None or not slot.optional:
        return slot is not None and slot.required
    found, parent = node_at(values, path[:-1])
    if path[:2] == ("prometheus", "remoteWrite") and isinstance(parent, dict):
        return "username" not in parent  # basic auth or a bearer token, never both
    return found and isinstance(parent, dict)


def with_secrets(values: dict[str, Any], secrets: dict[KeyPath, str] = SENTINELS
                 ) -> tuple[dict[str, Any], set[str]]:
    """Add stand-in secrets where the stack needs them; returns the values and the secret top-level keys."""
    values = json.loads(json.dumps(values))
    secret_keys: set[str] = set()
    for path, sentinel in secrets.items():
        parent_path, leaf = path[:-1], path[-1]
        if not secret_needed(values, path):
            continue
        node: Any = values
        for part in parent_path:
            node = node[part] if isinstance(part, int) else node.setdefault(part, {})
        node.setdefault(leaf, sentinel)
        secret_keys.add(str(path[0]))
    return values, secret_keys
