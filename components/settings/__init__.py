"""Stack settings: the typed model and its loader (the only reader of Pulumi config)."""

from .loader import NAMESPACE, SettingsError, load_settings, parse_config, parse_settings
from .model import Settings, TargetKind
from .secrets import secret_paths

__all__ = ["NAMESPACE", "Settings", "SettingsError", "TargetKind", "load_settings", "parse_config", "parse_settings",
           "secret_paths"]
