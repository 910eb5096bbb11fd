"""Every command's ``--help`` reads as a person expects: no shell-completion options on
sub-commands, no ``COMMAND [ARGS]`` on a command that has no sub-commands, no sentence
broken where the source's line ended or cut with an ellipsis."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import typer
from typer._click.core import Command
from typer.testing import CliRunner

from sentinel.cli.main import app


def _walk(command: Command, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], bool]]:
    """(the command's words, whether it has sub-commands) for every command."""
    names = getattr(command, "list_commands", None)
    yield path, names is not None
    if names is not None:
        for name in names(None):
            sub = command.get_command(None, name)  # type: ignore[attr-defined]
            assert sub is not None, name
            yield from _walk(sub, (*path, name))


COMMANDS = list(_walk(typer.main.get_command(app), ()))


def help_of(path: tuple[str, ...], width: int) -> str:
    result = CliRunner(env={"COLUMNS": str(width)}).invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_every_command_is_walked() -> None:
    words = {" ".join(path) for path, _ in COMMANDS}
    assert {"scan", "findings", "discover", "detect", "agents", "probe tls", "lab up",
            "cloud collect"} <= words


@pytest.mark.parametrize(("path", "group"), COMMANDS, ids=[" ".join(p) or "sentinel"
                                                            for p, _ in COMMANDS])
def test_help_text(path: tuple[str, ...], group: bool) -> None:
    text = help_of(path, 80)
    usage = next(line for line in text.splitlines() if "Usage:" in line)
    assert ("COMMAND [ARGS]" in usage) == group, usage
    assert "--install-completion" not in text and "--show-completion" not in text
    assert "…" not in help_of(path, 100)  # nothing cut short with an ellipsis
    # Wide enough for any paragraph: each prose line before the first panel is a whole
    # paragraph, so it ends where a sentence ends.
    wide = help_of(path, 400)
    prose = wide[wide.index("Usage:"):wide.index("╭")].splitlines()[1:]
    for line in (p.strip() for p in prose):
        assert not line or line[-1] in ".):]", f"a sentence cut mid-way: {line!r}"
