"""Ownership: the teams of the service catalog and the receivers the stack's settings give them."""

from __future__ import annotations

from .catalog import Catalog
from .settings import NAMESPACE, Settings, SettingsError


def team_receiver_problems(settings: Settings, catalog: Catalog) -> list[str]:
    """One line per `alertmanager.teams.<team>` that no service of the catalog belongs to.

    Such receivers would never get an alert: a misspelt team on either side would leave the team's
    alerts on the stack's own receivers without a word. (A catalog team without receivers is fine:
    its alerts carry `team` and go through the stack's severity routes.)"""
    known = catalog.teams()
    allowed = ", ".join(known) or "none: no job or service of configs/services.yaml has a team"
    return [f"{NAMESPACE}:alertmanager.teams.{team}: no service of configs/services.yaml belongs to team "
            f"{team!r} (allowed: a team the catalog names: {allowed})"
            for team in sorted(settings.alertmanager.teams) if team not in known]


def check_team_receivers(settings: Settings, catalog: Catalog) -> None:
    problems = team_receiver_problems(settings, catalog)
    if len(problems) == 1:
        raise SettingsError(f"invalid stack configuration: {problems[0]}")
    if problems:
        raise SettingsError("invalid stack configuration:\n  " + "\n  ".join(problems))
