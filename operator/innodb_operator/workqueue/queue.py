"""The basic work queue: fair, stingy, many producers and many consumers.

Semantics follow client-go's ``util/workqueue`` (our own asyncio code, same contract):

  * Keys are hashable (``"namespace/name"`` strings in practice). A key is in at most
    one of three states: *queued* (ready, in FIFO order, also *dirty*), *processing*
    (handed to exactly one worker by :meth:`WorkQueue.get`), or *processing and dirty*
    (re-added while a worker holds it).
  * Stingy: adding a key that is already queued folds into the existing entry, so a
    burst of adds is processed once. A key is never handed to two workers at once.
  * Re-add while processing: the key is only marked dirty; :meth:`WorkQueue.done`
    puts it back at the tail of the queue, so the newer state is processed again,
    after (never during) the current pass.
  * Fair: ready keys are handed out in the order they first became ready.
  * Every key returned by :meth:`WorkQueue.get` must be passed to
    :meth:`WorkQueue.done` exactly once, whatever the outcome of the work.
  * Shutdown: after :meth:`WorkQueue.shutdown` adds are ignored and every pending and
    future :meth:`WorkQueue.get` raises :class:`ShutDown` at once, even if keys are
    still queued (the operator stops work immediately, e.g. on losing its lease; this
    is stricter than client-go, whose ``ShutDown`` lets ``Get`` drain the queue).
    :meth:`WorkQueue.shutdown_with_drain` is client-go's ``ShutDownWithDrain``: adds
    are ignored, getters keep receiving keys that are already queued and raise
    :class:`ShutDown` once the queue is empty, and the call returns when no key is
    being processed any more.
  * Single event loop: all methods must be called from the loop the queue is used on;
    nothing here is thread-safe, and nothing needs to be.
  * Time comes from an injected :class:`~innodb_operator.clock.Clock`, so metrics and
    tests never depend on the wall clock.

Metrics go to the injected :class:`~innodb_operator.workqueue.metrics.QueueMetricsProvider`
(none by default), under the queue's name: depth (ready keys), adds (every accepted add,
folded ones included), queue duration (first add until a worker takes the key), work
duration (get until done), and the in-flight figures (unfinished work, longest running
processor) as callables the provider reads when it is scraped.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Hashable
from typing import Generic, TypeVar

from innodb_operator.clock import Clock, MonotonicClock
from innodb_operator.workqueue.metrics import NoMetrics, QueueMetricsProvider

K = TypeVar("K", bound=Hashable)


class ShutDown(Exception):
    """Raised by :meth:`WorkQueue.get` once the queue is shut down: the worker should exit."""


class WorkQueue(Generic[K]):
    """A FIFO of ready keys with a dirty set and a processing set (see the module docstring)."""

    def __init__(self, name: str, *, clock: Clock | None = None,
                 metrics: QueueMetricsProvider | None = None) -> None:
        self._name = name
        self._clock: Clock = clock if clock is not None else MonotonicClock()
        self._queue: deque[K] = deque()
        self._dirty: set[K] = set()
        # Processing keys mapped to the clock time their worker took them.
        self._processing: dict[K, float] = {}
        # Dirty keys mapped to the clock time they became dirty (for queue duration).
        self._added_at: dict[K, float] = {}
        self._getters: deque[asyncio.Future[None]] = deque()
        self._drain_waiters: list[asyncio.Future[None]] = []
        self._shutting_down = False
        self._draining = False

        provider: QueueMetricsProvider = metrics if metrics is not None else NoMetrics()
        self._m_depth = provider.depth(name)
        self._m_adds = provider.adds(name)
        self._m_queue_duration = provider.queue_duration(name)
        self._m_work_duration = provider.work_duration(name)
        self._m_retries = provider.retries(name)
        self._m_depth.set(0)
        provider.in_flight(name, self._unfinished_work_seconds, self._longest_running_processor_seconds)

    # --- public API ---------------------------------------------------------------

    @property
    def name(self) -> str:
        """The queue's name; labels its metrics."""
        return self._name

    @property
    def shutting_down(self) -> bool:
        """True once :meth:`shutdown` or :meth:`shutdown_with_drain` has been called."""
        return self._shutting_down

    def __len__(self) -> int:
        """Number of ready keys (queued, not processing)."""
        return len(self._queue)

    def add(self, key: K) -> None:
        """Mark ``key`` as needing work; folded if already queued, deferred if processing.

        Ignored once the queue is shutting down.
        """
        if self._shutting_down:
            return
        self._m_adds.inc()
        if key in self._dirty:
            return
        self._dirty.add(key)
        self._added_at[key] = self._clock.now()
        if key in self._processing:
            return  # done() re-queues it
        self._push(key)

    async def get(self) -> K:
        """Wait for a ready key and hand it to the caller, who must later call :meth:`done`.

        Raises :class:`ShutDown` at once after :meth:`shutdown`, or, after
        :meth:`shutdown_with_drain`, as soon as no ready key is left.
        """
        loop = asyncio.get_running_loop()
        while not self._queue or (self._shutting_down and not self._draining):
            if self._shutting_down:
                raise ShutDown(self._name)
            waiter: asyncio.Future[None] = loop.create_future()
            self._getters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    self._wake_one_getter()  # pass the wake-up on to someone who still wants it
                else:
                    self._remove_getter(waiter)
                raise
        key = self._queue.popleft()
        now = self._clock.now()
        self._dirty.discard(key)
        added_at = self._added_at.pop(key, now)
        self._m_queue_duration.observe(max(0.0, now - added_at))
        self._processing[key] = now
        self._m_depth.set(len(self._queue))
        return key

    def done(self, key: K) -> None:
        """Finish the pass on ``key``; if it was re-added meanwhile, queue it again now.

        Calling it for a key that is not being processed is a no-op.
        """
        started = self._processing.pop(key, None)
        if started is None:
            return
        self._m_work_duration.observe(max(0.0, self._clock.now() - started))
        if key in self._dirty:
            self._push(key)
        elif not self._processing:
            self._release_drain_waiters()

    def shutdown(self) -> None:
        """Stop accepting adds; every waiting and future :meth:`get` raises :class:`ShutDown`.

        Also releases a pending :meth:`shutdown_with_drain` without waiting for work.
        Idempotent.
        """
        self._shutting_down = True
        self._draining = False
        self._wake_all_getters()
        self._release_drain_waiters()

    async def shutdown_with_drain(self) -> None:
        """Stop accepting adds and wait until no key is being processed.

        Getters keep receiving the keys that are already queued and raise
        :class:`ShutDown` once the queue is empty; a key re-added while processing is
        re-queued by :meth:`done` and counts as in flight until a worker finishes it.
        A concurrent :meth:`shutdown` ends the wait early.
        """
        if not self._shutting_down:
            self._shutting_down = True
            self._draining = True
            # Waiting getters re-check: take a queued key if any is left, else ShutDown.
            self._wake_all_getters()
        loop = asyncio.get_running_loop()
        while self._draining and self._processing:
            waiter: asyncio.Future[None] = loop.create_future()
            self._drain_waiters.append(waiter)
            await waiter

    # --- internals ----------------------------------------------------------------

    def _push(self, key: K) -> None:
        self._queue.append(key)
        self._m_depth.set(len(self._queue))
        self._wake_one_getter()

    def _wake_one_getter(self) -> None:
        while self._getters:
            waiter = self._getters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _wake_all_getters(self) -> None:
        while self._getters:
            waiter = self._getters.popleft()
            if not waiter.done():
                waiter.set_result(None)

    def _remove_getter(self, waiter: asyncio.Future[None]) -> None:
        with contextlib.suppress(ValueError):
            self._getters.remove(waiter)

    def _release_drain_waiters(self) -> None:
        waiters, self._drain_waiters = self._drain_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def _unfinished_work_seconds(self) -> float:
        now = self._clock.now()
        return sum(max(0.0, now - started) for started in self._processing.values())

    def _longest_running_processor_seconds(self) -> float:
        if not self._processing:
            return 0.0
        now = self._clock.now()
        return max(0.0, now - min(self._processing.values()))
