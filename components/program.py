"""The Pulumi program: one entry point for `pulumi up` (`__main__.py`) and the Automation API.

`__main__.py` calls `deploy()`; the real-engine tests (tests/e2e/) hand the same function to the
Automation API as an inline program, so both run exactly this code.
"""

from __future__ import annotations

import pulumi

from .catalog import EMPTY_CATALOG_WARNING, load_catalog
from .ownership import check_team_receivers
from .settings import load_settings
from .stack import MonitoringStack


def deploy() -> None:
    """Load the stack's settings and the service catalog, build the stack, export its outputs."""
    settings = load_settings()  # fails with one line per bad key before any resource is declared
    catalog = load_catalog()
    if not catalog.jobs:
        pulumi.log.warn(EMPTY_CATALOG_WARNING)
    check_team_receivers(settings, catalog)  # receivers for a team the catalog does not name
    stack = MonitoringStack("quikapp-monitoring", settings, catalog)
    for key, value in stack.outputs.items():
        if value is not None:
            pulumi.export(key, value)
