"""A work queue that can also add a key later.

Contract (client-go's ``DelayingInterface``, on an injected clock):

  * :meth:`DelayingQueue.add_after` with ``delay <= 0`` is exactly :meth:`WorkQueue.add`.
  * Otherwise the key waits, outside the ready queue, until ``clock.now()`` reaches its
    due time; then it is added as by :meth:`WorkQueue.add` (so it folds with a copy
    already queued, or is deferred if a worker holds it).
  * One waiting entry per key, due at the EARLIEST time asked for: a later
    ``add_after`` never postpones an earlier one, an earlier one brings it forward.
    A plain :meth:`WorkQueue.add` does not cancel a pending ``add_after``.
  * Due keys are moved by one background asyncio task per queue, started on the first
    delayed add (from inside a running loop). It sleeps on the clock until the
    earliest due time and wakes early when an earlier key arrives, so with a
    :class:`~innodb_operator.clock.FakeClock` a key becomes gettable once the test has
    advanced the clock past its due time and yielded to the loop a few times.
  * Shutdown (either kind) drops keys that are still waiting, ignores further
    ``add_after`` calls and ends the background task; its pending clock sleep is
    cancelled, so no timer outlives the queue.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math

from innodb_operator.clock import Clock
from innodb_operator.workqueue.metrics import QueueMetricsProvider
from innodb_operator.workqueue.queue import K, WorkQueue


class DelayingQueue(WorkQueue[K]):
    """A :class:`WorkQueue` with :meth:`add_after` (see the module docstring)."""

    def __init__(self, name: str, *, clock: Clock | None = None,
                 metrics: QueueMetricsProvider | None = None) -> None:
        super().__init__(name, clock=clock, metrics=metrics)
        # Min-heap of (due, seq, key); an entry is live only if _waiting[key] == (due, seq).
        self._heap: list[tuple[float, int, K]] = []
        self._waiting: dict[K, tuple[float, int]] = {}
        self._seq = itertools.count()
        self._task: asyncio.Task[None] | None = None
        self._wakeup: asyncio.Future[None] | None = None

    def add_after(self, key: K, delay: float) -> None:
        """Add ``key`` once ``delay`` seconds have passed on the clock (now if ``delay <= 0``).

        Folds with a pending delayed add of the same key to the earliest due time.
        Ignored once the queue is shutting down.
        """
        if self._shutting_down:
            return
        if delay <= 0 or math.isnan(delay):
            self.add(key)
            return
        due = self._clock.now() + delay
        current = self._waiting.get(key)
        if current is not None and current[0] <= due:
            return
        seq = next(self._seq)
        self._waiting[key] = (due, seq)
        heapq.heappush(self._heap, (due, seq, key))
        self._ensure_loop()
        if self._heap[0][1] == seq:
            self._wake_loop()  # new earliest due time: re-arm the timer

    @property
    def waiting(self) -> int:
        """Number of keys waiting for their due time."""
        return len(self._waiting)

    async def get(self) -> K:
        """As :meth:`WorkQueue.get`; also starts the delay task if it could not start yet."""
        if self._waiting:
            self._ensure_loop()
        return await super().get()

    def shutdown(self) -> None:
        """As :meth:`WorkQueue.shutdown`; drops waiting keys and stops the delay task."""
        super().shutdown()
        self._stop_loop()

    async def shutdown_with_drain(self) -> None:
        """As :meth:`WorkQueue.shutdown_with_drain`; drops waiting keys and stops the delay task."""
        self._stop_loop()
        await super().shutdown_with_drain()  # sets shutting_down before its first await

    # --- internals ----------------------------------------------------------------

    def _ensure_loop(self) -> None:
        if self._task is not None or self._shutting_down:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop yet: started by the next add_after or get inside one
        self._task = loop.create_task(self._waiting_loop(), name=f"workqueue-delay-{self._name}")

    def _wake_loop(self) -> None:
        if self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)

    def _stop_loop(self) -> None:
        self._heap.clear()
        self._waiting.clear()
        self._wake_loop()

    def _release_due(self, now: float) -> None:
        while self._heap and self._heap[0][0] <= now:
            due, seq, key = heapq.heappop(self._heap)
            if self._waiting.get(key) == (due, seq):
                del self._waiting[key]
                self.add(key)

    def _next_due(self) -> float | None:
        while self._heap:
            due, seq, key = self._heap[0]
            if self._waiting.get(key) == (due, seq):
                return due
            heapq.heappop(self._heap)  # superseded by an earlier add_after
        return None

    async def _waiting_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._shutting_down:
            now = self._clock.now()
            self._release_due(now)
            next_due = self._next_due()
            self._wakeup = loop.create_future()
            if next_due is None:
                await self._wakeup
                continue
            sleeper = loop.create_task(self._clock.sleep(next_due - now))
            try:
                await asyncio.wait({sleeper, self._wakeup}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                sleeper.cancel()
        self._wakeup = None
