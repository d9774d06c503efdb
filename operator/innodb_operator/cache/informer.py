"""A shared informer: one list/watch, one cache, many event handlers (client-go's SharedIndexInformer).

Contract:
  * One :class:`Informer` per resource (and scope) owns a
    :class:`~innodb_operator.cache.store.Store` and the
    :class:`~innodb_operator.cache.reflector.Reflector` that fills it; controllers read
    through :attr:`Informer.lister` and react through handlers.
  * Handlers are plain synchronous callables: ``on_add(obj)``, ``on_update(old, new)``,
    ``on_delete(obj)``; any of them may be omitted. They should be quick (typically:
    enqueue a key) and must not block the loop.
  * Ordering: handlers see events in the order the store applied them, each one right
    after it was applied, so during a handler the store (and lister) reflects exactly
    that event and everything before it. Handlers run in registration order.
  * Relists: after a relist, a new key is delivered as ``on_add``, a changed
    resourceVersion as ``on_update``, an unchanged one not at all, and every object that
    vanished while the watch was down as exactly one ``on_delete`` with its last known
    state. Deletions are therefore never lost, but intermediate states may be (the cache
    is level-based: handlers must read the lister, not rely on seeing every version).
  * Objects handed to handlers and returned by the lister are the cached, deep-frozen
    objects (``FrozenDict``): mutating them raises ``TypeError``. Use
    :func:`~innodb_operator.cache.store.thaw` for a mutable copy.
  * Errors: an exception in one handler is logged and does not stop the other handlers,
    the remaining events, or the informer.
  * Handlers added after objects are cached first receive an ``on_add`` for every cached
    object (only the new handler does), then the live events.
  * Resync: with ``resync_period``, every period (on the injected clock, once synced)
    ``on_update(obj, obj)`` is delivered for every cached object; consumers that skip
    updates with the same resourceVersion ignore it, others use it as a periodic nudge.
  * :attr:`has_synced` becomes True after the first list has been applied and its
    events delivered, and stays True.
  * :meth:`run` runs until cancelled; cancelling it stops the watch cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from innodb_operator.cache.lister import Lister
from innodb_operator.cache.reflector import Backoff, Reflector, Transform, strip_managed_fields
from innodb_operator.cache.source import ListWatch
from innodb_operator.cache.store import (
    NAMESPACE_INDEX,
    OWNER_UID_INDEX,
    Change,
    FrozenDict,
    IndexFunc,
    Store,
    by_namespace,
    by_owner_uid,
)
from innodb_operator.clock import Clock, MonotonicClock

logger = logging.getLogger(__name__)

OnAdd = Callable[[FrozenDict], None]
OnUpdate = Callable[[FrozenDict, FrozenDict], None]
OnDelete = Callable[[FrozenDict], None]

DEFAULT_INDEXERS: Mapping[str, IndexFunc] = {NAMESPACE_INDEX: by_namespace, OWNER_UID_INDEX: by_owner_uid}


@dataclass(frozen=True, eq=False, slots=True)
class EventHandler:
    """A registered set of callbacks (returned by :meth:`Informer.add_handler`)."""

    on_add: OnAdd | None = None
    on_update: OnUpdate | None = None
    on_delete: OnDelete | None = None


class Informer:
    """Cache and event source for one resource. See the module docstring."""

    def __init__(
        self,
        list_watch: ListWatch,
        *,
        clock: Clock | None = None,
        resync_period: float | None = None,
        indexers: Mapping[str, IndexFunc] | None = None,
        transform: Transform | None = strip_managed_fields,
        timeout_seconds: int = 300,
        timeout_jitter: float = 0.1,
        backoff: Backoff | None = None,
        min_watch_seconds: float = 1.0,
        rng: random.Random | None = None,
    ) -> None:
        if resync_period is not None and resync_period <= 0:
            raise ValueError("resync_period must be positive (or None for no resync)")
        self._clock: Clock = clock or MonotonicClock()
        self._resync_period = resync_period
        self._store = Store(DEFAULT_INDEXERS if indexers is None else indexers)
        self._lister = Lister(self._store)
        self._handlers: list[EventHandler] = []
        self._reflector = Reflector(
            list_watch,
            self._store,
            clock=self._clock,
            on_change=self._dispatch,
            timeout_seconds=timeout_seconds,
            timeout_jitter=timeout_jitter,
            backoff=backoff,
            min_watch_seconds=min_watch_seconds,
            transform=transform,
            rng=rng,
        )
        self._running = False

    @property
    def resource(self) -> str:
        return self._reflector.resource

    @property
    def lister(self) -> Lister:
        return self._lister

    @property
    def has_synced(self) -> bool:
        return self._reflector.has_synced

    @property
    def last_sync_resource_version(self) -> str:
        return self._reflector.last_sync_resource_version

    def add_handler(
        self,
        on_add: OnAdd | None = None,
        on_update: OnUpdate | None = None,
        on_delete: OnDelete | None = None,
    ) -> EventHandler:
        """Register callbacks; objects already cached are replayed to them as ``on_add``."""
        handler = EventHandler(on_add, on_update, on_delete)
        self._handlers.append(handler)
        if handler.on_add is not None:
            for obj in self._store.list():
                self._call(handler.on_add, "add", obj)
        return handler

    def remove_handler(self, handler: EventHandler) -> None:
        """Stop delivering events to ``handler`` (no-op if it is not registered)."""
        with contextlib.suppress(ValueError):
            self._handlers.remove(handler)

    async def run(self) -> None:
        """List, watch and (optionally) resync until cancelled."""
        if self._running:
            raise RuntimeError(f"informer for {self.resource} is already running")
        self._running = True
        try:
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(self._reflector.run(), name=f"reflector:{self.resource}")
                if self._resync_period is not None:
                    tasks.create_task(self._resync_loop(self._resync_period), name=f"resync:{self.resource}")
        finally:
            self._running = False

    # The timeout runs on the injected clock, which asyncio.timeout() cannot do.
    async def wait_for_sync(self, timeout: float | None = None) -> bool:
        """Wait (at most ``timeout`` seconds on the informer's clock) for :attr:`has_synced`."""
        if self.has_synced:
            return True
        if timeout is None:
            await self._reflector.wait_for_sync()
            return True
        synced = asyncio.ensure_future(self._reflector.wait_for_sync())
        timer = asyncio.ensure_future(self._clock.sleep(timeout))
        try:
            await asyncio.wait({synced, timer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            synced.cancel()
            timer.cancel()
            await asyncio.gather(synced, timer, return_exceptions=True)
        return self.has_synced

    def resync(self) -> None:
        """Deliver ``on_update(obj, obj)`` for every cached object now (if synced)."""
        if not self.has_synced:
            return
        for obj in self._store.list():
            for handler in list(self._handlers):
                if handler.on_update is not None:
                    self._call(handler.on_update, "update", obj, obj)

    # --- internals

    async def _resync_loop(self, period: float) -> None:
        while True:
            await self._clock.sleep(period)
            self.resync()

    def _dispatch(self, change: Change) -> None:
        for handler in list(self._handlers):
            if change.type == "ADDED":
                if handler.on_add is not None:
                    self._call(handler.on_add, "add", change.object)
            elif change.type == "MODIFIED":
                if handler.on_update is not None:
                    assert change.old is not None
                    self._call(handler.on_update, "update", change.old, change.object)
            elif handler.on_delete is not None:
                self._call(handler.on_delete, "delete", change.object)

    def _call(self, callback: Callable[..., None], kind: str, *objects: FrozenDict) -> None:
        try:
            callback(*objects)
        except Exception:
            key = self._store.key_of(objects[-1])
            logger.exception("%s: %s handler %r failed for %s", self.resource, kind, callback, key)
