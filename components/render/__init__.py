"""Pure renderers: settings + configs/ in, exact file text out. No Pulumi here."""
