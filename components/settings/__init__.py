"""Stack settings: the typed model and its loader (the only reader of Pulumi config)."""

from .loader import NAMESPACE, SettingsError, load_settings, parse_config, parse_settings, secret_paths
from .model import Settings, TargetKind

__all__ = ["NAMESPACE", "Settings", "SettingsError", "TargetKind", "load_settings", "parse_config", "parse_settings",
           "secret_paths"]
