"""Every ``sentinel`` command (Typer): the only code that prints for people or exits.

``main`` is the console-script entry point; each command group lives in its own module and is
imported only when it runs (see :data:`sentinel.cli.main.LAZY_COMMANDS`).
"""

from sentinel.cli.main import app, main

__all__ = ["app", "main"]
