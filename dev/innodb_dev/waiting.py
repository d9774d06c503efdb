"""Waiting in tests: poll a condition until a deadline, never a fixed sleep.

    wait_until(lambda: ready(), 30, message="ready")            # sync condition
    value = await eventually(fetch, timeout=30, what="primary")  # sync or async check; returns its truthy answer
    hold_for(60, lambda: no_writes(), message="no writes")       # a condition that must stay true for a window

Every helper fails with what it waited for and, where there is one, the last answer.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any


def wait_until(condition: Callable[[], Any], timeout: float, interval: float = 0.1, message: str = "") -> float:
    """Poll ``condition()`` until truthy; return seconds waited; AssertionError at the deadline."""
    started = time.monotonic()
    deadline = started + timeout
    while True:
        if condition():
            return time.monotonic() - started
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message or condition}")
        time.sleep(interval)


async def eventually(check: Callable[[], Any | Awaitable[Any]], *, timeout: float = 60.0, what: str,
                     interval: float = 0.1) -> Any:
    """Poll ``check`` (sync or async) until it answers something truthy, and return that answer."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = check()
        if inspect.isawaitable(last):
            last = await last
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what} not reached within {timeout}s; last: {last!r}")
        await asyncio.sleep(interval)


def hold_for(seconds: float, condition: Callable[[], Any], *, message: str, interval: float = 1.0) -> None:
    """Check ``condition()`` throughout a window of ``seconds``; fail at the first time it is false."""
    deadline = time.monotonic() + seconds
    while True:
        assert condition(), message
        if time.monotonic() >= deadline:
            return
        time.sleep(min(interval, max(0.0, deadline - time.monotonic())))
