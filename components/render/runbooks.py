"""Runbook links that open from wherever an alert is read.

The rule files name the project's runbooks relative to this repository (`runbook_url:
docs/runbooks.md#servicedown`, and the mixins' fallback sections), which is what a reviewer reads
next to the rules but opens nowhere else. The shipped copies carry them behind
`alertmanager.runbookBaseUrl` (the repository on its git host), so Prometheus' UI, Grafana, the
webhook's JSON and every notification show an absolute link. Links that are already absolute
(runbooks.prometheus-operator.dev) stay as they are.
"""

from __future__ import annotations

import re

from .yamltext import load_yaml

RUNBOOKS = "docs/runbooks.md"

# A `runbook_url:` value that starts with the repository path, plain or quoted, as the rule files and
# the YAML serializer (render/yamltext.py) write it.
_RELATIVE = re.compile(r"^(?P<key>\s*runbook_url:\s*)(?P<quote>['\"]?)" + re.escape(RUNBOOKS + "#"), re.M)


def base_with_slash(base: str) -> str:
    """`base` ending in "/", so the repository path joins it as a path (or "" for none)."""
    return base if not base or base.endswith("/") else base + "/"


def absolute_runbooks(text: str, base: str) -> str:
    """A rule file's text with every repository-relative runbook link behind `base` (no change when
    `base` is ""). The text is kept otherwise, comments included."""
    if not base:
        return text
    prefix = base_with_slash(base)
    out = _RELATIVE.sub(lambda m: f"{m['key']}{m['quote']}{prefix}{RUNBOOKS}#", text)
    left = [url for url in runbook_urls(out) if url.startswith(RUNBOOKS)]
    if left:  # a form the pattern does not know (a block scalar, a flow mapping): refuse, never ship it
        raise ValueError(f"runbook_url {left[0]!r} is relative after adding {prefix!r}")
    return out


def runbook_urls(text: str) -> list[str]:
    """The `runbook_url` of every alert of a rule file's text."""
    return [rule["annotations"]["runbook_url"] for group in load_yaml(text)["groups"] for rule in group["rules"]
            if "runbook_url" in rule.get("annotations", {})]
