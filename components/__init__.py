"""quikapp-monitoring: QuikApp's observability stack as Pulumi components.

Data flows one way: settings → render (pure) → tool components → target (docker | kubernetes)
→ stack outputs.
"""
