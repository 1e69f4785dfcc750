"""quikapp-monitoring: the Pulumi program (components/program.py), as `pulumi up` runs it."""

from components.program import deploy

deploy()
