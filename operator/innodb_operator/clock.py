"""Injectable time.

Production code asks a :class:`Clock` for the time and for sleeps; unit tests hand it
a :class:`FakeClock` and move time forward by hand, so nothing in a unit test waits
on the wall clock.

Contract:
  * ``now()`` is monotonic seconds (not wall time); only differences are meaningful.
  * ``sleep(d)`` returns once ``now()`` has advanced by at least ``d``; ``d <= 0``
    yields to the event loop once and returns.
  * :meth:`FakeClock.advance` wakes, in due order, every sleeper whose deadline has
    passed; the woken coroutines run when the caller next yields to the loop.
  * :func:`wait_for` is ``asyncio.wait_for`` on a clock: the awaitable's result, or
    ``TimeoutError`` (the awaitable cancelled) once ``seconds`` of that clock have passed.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Awaitable
from typing import Protocol, TypeVar

T = TypeVar("T")


class Clock(Protocol):
    def now(self) -> float:
        """Monotonic seconds."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait until ``now()`` has advanced by ``seconds``."""
        ...


class MonotonicClock:
    """The real clock: ``time.monotonic`` and ``asyncio.sleep``."""

    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class FakeClock:
    """A clock that only moves when :meth:`advance` is called."""

    def __init__(self, start: float = 1000.0) -> None:
        self._now = start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def now(self) -> float:
        return self._now

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now + seconds, next(self._seq), future))
        await future

    def advance(self, seconds: float) -> None:
        """Move time forward and wake every sleeper whose deadline is now past."""
        self._now += seconds
        while self._sleepers and self._sleepers[0][0] <= self._now:
            _, _, future = heapq.heappop(self._sleepers)
            if not future.done():
                future.set_result(None)

    @property
    def sleepers(self) -> int:
        """How many sleeps are pending (cancelled ones included until their deadline)."""
        return sum(1 for _, _, f in self._sleepers if not f.done())


async def wait_for(clock: Clock, awaitable: Awaitable[T], seconds: float) -> T:
    """The result of ``awaitable``; ``TimeoutError`` once ``seconds`` of ``clock`` time have passed first.

    On timeout (or when the caller is cancelled) the awaitable is cancelled and awaited
    before this returns, so nothing keeps running in the background.
    """
    task = asyncio.ensure_future(awaitable)
    timer = asyncio.ensure_future(clock.sleep(seconds))
    try:
        await asyncio.wait({task, timer}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        timer.cancel()
        if not task.done():
            task.cancel()
            await asyncio.wait({task})
    if task.cancelled():
        raise TimeoutError(f"no result within {seconds:.3g}s")
    return task.result()
