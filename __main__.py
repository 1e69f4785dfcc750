"""quikapp-monitoring: load the stack's settings, build the monitoring stack, export its outputs."""

import pulumi

from components.catalog import EMPTY_CATALOG_WARNING, load_catalog
from components.settings import load_settings
from components.stack import MonitoringStack

settings = load_settings()  # fails with one line per bad key before any resource is declared
catalog = load_catalog()
if not catalog.jobs:
    pulumi.log.warn(EMPTY_CATALOG_WARNING)
stack = MonitoringStack("quikapp-monitoring", settings, catalog)

for key, value in stack.outputs.items():
    if value is not None:
        pulumi.export(key, value)
