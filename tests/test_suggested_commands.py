"""Every `pulumi config set` / `rm` the project suggests (docs, stack-file comments, messages) names the
stack and never puts a secret on the command line.

Without `--stack` the command changes whichever stack is selected, which may be another one; a secret
given as an argument lands in the shell's history and the process list. Without a value the CLI prompts
for it (without echo for --secret) or reads stdin (pulumi/pulumi@v3.259.0 pkg/cmd/pulumi/config/config.go,
configSetCmd.Run).
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from components.settings import SettingsError, parse_config
from mockengine.program import ROOT

FLAGS_WITH_VALUE = {"--stack", "-s", "--type", "--config-file"}
COMMAND = re.compile(r"pulumi config (set|rm)\b")


def _markdown_snippets(text: str) -> list[str]:
    """Lines of fenced code blocks, and inline code spans (which may wrap a line) outside them."""
    snippets: list[str] = []
    prose: list[str] = []
    fenced = False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif fenced:
            snippets.append(line)
        else:
            prose.append(line)
    snippets += [span.replace("\n", " ") for span in re.findall(r"`([^`]+)`", "\n".join(prose))]
    return snippets


def _yaml_comment_snippets(text: str) -> list[str]:
    """Comments: their code spans where they have some, else the whole comment."""
    comments = [line.split("#", 1)[1] for line in text.splitlines() if "#" in line]
    return [snippet for comment in comments for snippet in (re.findall(r"`([^`]+)`", comment) or [comment])]


def suggested_commands() -> list[tuple[str, str]]:
    """(where, command) for every pulumi config set/rm in the docs and the stack files' comments."""
    sources = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *sorted(ROOT.glob("examples/**/*.md"))]
    found: list[tuple[str, str]] = []
    for path in [*sources, *sorted(ROOT.glob("Pulumi.*.yaml")), *sorted((ROOT / "configs").glob("*.yaml"))]:
        text = path.read_text(encoding="utf-8")
        snippets = _markdown_snippets(text) if path.suffix == ".md" else _yaml_comment_snippets(text)
        for snippet in snippets:
            for match in COMMAND.finditer(snippet):
                found.append((str(path.relative_to(ROOT)), snippet[match.start():]))
    return found


def problem(command: str) -> str | None:
    """Why a suggested command is not safe to copy, or None."""
    try:
        words = shlex.split(command, comments=True)
    except ValueError:
        return "not a shell command"
    words = words[3:]  # after `pulumi config set|rm`
    if "<" in words:
        words = words[:words.index("<")]  # the value comes from a file on stdin
    positional, named = [], set()
    index = 0
    while index < len(words):
        word = words[index]
        if word in FLAGS_WITH_VALUE:
            named.add(word)
            index += 2
            continue
        if word.startswith("-"):
            named.add(word)
        else:
            positional.append(word)
        index += 1
    if not positional:
        return None  # a mention of the command (`set with pulumi config set --secret`), no suggestion
    if not named & {"--stack", "-s"}:
        return "does not name the stack (--stack <stack>)"
    if "--secret" in named and len(positional) > 1:
        return f"puts the secret {positional[1]!r} on the command line (leave it off: the CLI prompts or reads stdin)"
    return None


def test_the_checker_tells_a_safe_command_from_an_unsafe_one() -> None:
    assert problem("pulumi config set --stack prod --secret --path grafana.adminPassword") is None
    assert problem("pulumi config set --stack prod --secret --path grafana.adminPassword < pw.txt") is None
    assert problem("pulumi config set -s dev --path 'prometheus.remoteWrite[0].url' https://a  # note") is None
    assert problem("pulumi config set --secret") is None
    assert problem("pulumi config set --path prometheus.retention 30d") == "does not name the stack (--stack <stack>)"
    assert problem("pulumi config set --stack prod --secret --path grafana.adminPassword '<password>'") == (
        "puts the secret '<password>' on the command line (leave it off: the CLI prompts or reads stdin)")


def test_the_docs_and_stack_files_suggest_commands() -> None:
    # The scan finds what it checks: a test of nothing would pass.
    places = {where for where, _ in suggested_commands()}
    assert {"docs/CONFIGURATION.md", "docs/OPERATIONS.md", "Pulumi.prod.yaml", "Pulumi.staging.yaml"} <= places


@pytest.mark.parametrize(("where", "command"), suggested_commands())
def test_a_suggested_command_names_the_stack_and_keeps_secrets_off_the_command_line(where: str, command: str) -> None:
    assert problem(command) is None, f"{where}: {command}: {problem(command)}"


def test_the_programs_own_suggestions_are_safe() -> None:
    config = {"quikapp-monitoring:target": "docker",
              "quikapp-monitoring:exporters": '{"postgres": {"enabled": false}}',
              "quikapp-monitoring:prometheus": '{"remoteWrite": [{"url": "https://m.example/push", "username": "u"}]}',
              "aws:region": "eu-west-1"}
    with pytest.raises(SettingsError) as caught:
        parse_config(config, ["quikapp-monitoring:prometheus"], stack="prod")
    commands = re.findall(r"`(pulumi config [^`]+)`", str(caught.value))
    # aws:region's `rm`, grafana.adminPassword's and remoteWrite[0].password's `set`
    assert len(commands) == 3, str(caught.value)
    for command in commands:
        assert "--stack prod" in command and problem(command) is None, command


def test_the_scan_reads_this_file_layout(tmp_path: Path) -> None:
    text = "text `pulumi config set --path a\nb 1` more\n```bash\npulumi config set --stack x --path a 1\n```\n"
    assert _markdown_snippets(text) == ["pulumi config set --stack x --path a 1", "pulumi config set --path a b 1"]
