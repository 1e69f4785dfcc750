"""The README documents what the code does: every settings key, every output, the two commands."""

from __future__ import annotations

import re
import typing

import pytest
from pydantic import BaseModel

from components.settings.model import Settings
from conftest import stack_run
from harness import ROOT, STACKS

README = (ROOT / "README.md").read_text()


def _leaf_keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    keys = []
    for name, field in model.model_fields.items():
        key = prefix + (field.alias or name)
        nested = next((c for c in (field.annotation, *typing.get_args(field.annotation))
                       if isinstance(c, type) and issubclass(c, BaseModel)), None)
        keys += _leaf_keys(nested, key + ".") if nested else [key]
    return keys


@pytest.mark.parametrize("key", _leaf_keys(Settings))
def test_every_settings_key_is_in_the_config_reference(key: str) -> None:
    assert f"| `{key}` |" in README, f"README's configuration reference lacks a row for `{key}`"


def test_documented_keys_exist() -> None:
    """No stale rows: every key in a reference table is a real settings key."""
    keys = set(_leaf_keys(Settings))
    reference = README[README.index("## Configuration reference"):README.index("## Guarantees")]
    rows = re.findall(r"^\| `([a-zA-Z.]+)` \|", reference, flags=re.M)
    assert rows and sorted(set(rows) - keys) == []


@pytest.mark.parametrize("stack", STACKS)
def test_every_output_is_documented(stack: str) -> None:
    for key in stack_run(stack).outputs:
        assert f"| `{key}` |" in README, key


def test_readme_names_the_two_commands_and_ci_runs_the_test_one() -> None:
    assert "make up " in README and "make test " in README
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    assert "scripts/bootstrap.sh dev up" in (ROOT / "Makefile").read_text().replace("$(STACK)", "dev")
