"""The event loop for commands that open many short connections.

uvloop (libuv) runs the same asyncio code with about a quarter less CPU per connection than
the standard selector loop (measured on ``probe tls``: 0.18-0.20 ms against 0.26-0.33 ms
per TLS hello, bench/README.md); where it is not installed, asyncio's own loop runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)``, on uvloop's loop when it is available."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)
