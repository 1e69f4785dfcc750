"""Policy pack entry point: `pulumi preview --policy-pack policy`."""

from pulumi_policy import EnforcementLevel, PolicyPack
from quikapp_policies import POLICIES

PolicyPack(name="quikapp-monitoring", enforcement_level=EnforcementLevel.MANDATORY, policies=POLICIES)
