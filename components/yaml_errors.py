"""One line for a YAML file that does not parse: the stack files (scripts/render.py) and the service
catalog (components/catalog.py) report it the same way, after the file's name."""

from __future__ import annotations

import yaml


def _at(mark: yaml.Mark) -> str:
    # PyYAML counts lines and columns from 0; editors and `grep -n` from 1.
    return f"line {mark.line + 1}, column {mark.column + 1}"


def describe_yaml_error(exc: yaml.YAMLError) -> str:
    """`line L, column C: not valid YAML (<problem>[, <context> at line L, column C])`.

    The problem's position is where the parser gave up, which can be a line after the fault (a key
    without its ':' is noticed on the next line); PyYAML's context then names where the construct it
    was reading starts (the key, an unclosed '[' or quote), so both positions are given.
    """
    problem_mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).replace("\n", " ")
    context, context_mark = getattr(exc, "context", None), getattr(exc, "context_mark", None)
    where = f"{_at(problem_mark)}: " if problem_mark is not None else ""
    beside = f", {context} at {_at(context_mark)}" if context and context_mark is not None else ""
    return f"{where}not valid YAML ({problem}{beside})"
