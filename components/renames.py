"""Former logical names of the tool components, so a rename keeps their resources.

A resource's URN holds its parents' *types*, not their names, and every target derives child
names from the workload's DNS name: renaming a tool component changes only the component's own
URN. Listing the old name here gives the component a Pulumi alias, so `pulumi up` treats the
renamed component as the same resource instead of deleting one and creating another.
Example: {"metrics": ("prometheus",)} after renaming Prometheus("prometheus") to "metrics".
"""

from __future__ import annotations

FORMER_NAMES: dict[str, tuple[str, ...]] = {}
