"""How every command speaks to people: messages on stderr, external text escaped, and one
exit status per error type.

The exit status of an error is its class's ``exit_status`` (:mod:`sentinel.errors`): 2 for
bad input and scope refusals, 1 for runtime faults; the same error reads the same way from
every command. Text that came from outside (playbook values, targets, server banners) is
escaped before rich sees it, so a ``[/]`` in it can neither crash the command nor hide the
real message.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, NoReturn

import typer

from sentinel.errors import SentinelError

if TYPE_CHECKING:
    from rich.console import Console


@functools.cache
def console() -> Console:
    """The console for messages (rich is imported only when there is something to say)."""
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


def escaped(text: object) -> str:
    """``text`` safe to hand to rich: its square brackets are printed, not interpreted."""
    from rich.markup import escape

    return escape(str(text))


def say(text: object) -> None:
    """One line for people on stderr, printed exactly as given (no markup)."""
    console().print(str(text), markup=False)


def exit_status(exc: SentinelError) -> int:
    """The exit status of an error: its class decides (2 bad input or refused, 1 fault)."""
    return exc.exit_status


def fail(exc: SentinelError, prefix: str = "") -> NoReturn:
    """Print ``error: <message>`` and leave with the error's exit status."""
    console().print(f"[bold red]error:[/] {escaped(prefix)}{escaped(exc)}")
    raise typer.Exit(exit_status(exc))


@contextmanager
def reported(prefix: str = "") -> Iterator[None]:
    """Run a command's work; a SentinelError becomes its message and exit status."""
    try:
        yield
    except SentinelError as exc:
        fail(exc, prefix)


def finite(value: float | None) -> float | None:
    """Option callback: a number must be finite (click's ranges let ``nan`` through, and a
    NaN rate or timeout switches the limit off)."""
    if value is not None and not math.isfinite(value):
        raise typer.BadParameter(f"{value!r} is not a finite number")
    return value
