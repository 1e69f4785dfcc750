"""quikapp-monitoring: load the stack's settings, build the monitoring stack, export its outputs."""

import pulumi

from components.catalog import load_catalog
from components.ownership import check_team_receivers
from components.settings import load_settings
from components.stack import MonitoringStack

settings = load_settings()  # fails with one line per bad key before any resource is declared
catalog = load_catalog()
check_team_receivers(settings, catalog)  # receivers for a team the catalog does not name
stack = MonitoringStack("quikapp-monitoring", settings, catalog)

for key, value in stack.outputs.items():
    if value is not None:
        pulumi.export(key, value)
