"""Keep a :class:`~innodb_operator.cache.store.Store` in step with the API server (client-go's Reflector).

The loop, until cancelled:

  1. **List** (a consistent snapshot at resourceVersion R). Each object goes through the
     ``transform`` hook (default :func:`strip_managed_fields`) and is frozen, then the
     store is replaced with :meth:`Store.replace`: an ``ADDED`` change for every new
     key, ``MODIFIED`` for every key whose resourceVersion changed (same resourceVersion:
     nothing), and exactly one ``DELETED``, with the last known object, for every key
     that is no longer listed. This is how deletions missed while disconnected are
     recovered. After the first successful list ``has_synced`` becomes True, once and
     for good (it never flips back, relists included).
  2. **Watch** from R with ``allow_bookmarks=True`` and an explicit server timeout
     (``timeout_seconds``, optionally jittered upwards so many reflectors do not
     reconnect together). ``ADDED``/``MODIFIED`` upsert into the store and emit
     ``ADDED`` (new key) or ``MODIFIED`` (known key; an event carrying the stored
     resourceVersion again is dropped); ``DELETED`` removes the key and emits
     ``DELETED`` with the event's (final) object, or nothing if the key was unknown.
     ``BOOKMARK`` only advances the resourceVersion; it emits nothing. Every event's
     resourceVersion becomes :attr:`last_sync_resource_version`.
  3. A **normal end** of the stream (the server's timeout) re-watches from
     :attr:`last_sync_resource_version`, without relisting (restart reason
     ``timeout``). A stream that ends normally with no event at all within
     ``min_watch_seconds`` is suspicious (a proxy cutting connections): the next watch
     waits for the backoff first, so it cannot spin.
  4. **410 Gone** (raised, or as a raw ``ERROR`` event with code 410; reason ``gone``)
     and **any other watch failure** (raised, or an ``ERROR`` event; reason ``error``)
     go back to step 1 after a backoff. Failed lists are retried with backoff too.

Backoff: consecutive failures wait ``initial`` (0.8 s), doubling up to ``maximum``
(30 s); the count resets after a successful list. All waits use the injected
:class:`~innodb_operator.clock.Clock`.

Ordering and consistency: changes are applied to the store one at a time, in the order
the server sent them (list order for a relist, deletions last), and ``on_change`` is
called synchronously right after each one is applied, so it always sees the store as of
that change. The store is never ahead of what ``on_change`` has been told about.

Metrics: ``watch_restarts_total{resource, reason}`` per restarted stream (``timeout``,
``gone``, ``error``) and ``watch_events_total{resource, type}`` per received event.

Cancellation (``task.cancel()``) stops the loop at its current await, closes the open
watch stream and propagates ``CancelledError``; the store keeps its contents.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from innodb_operator.cache.source import ListWatch, WatchEvent
from innodb_operator.cache.store import (
    Change,
    FrozenDict,
    Store,
    freeze_object,
    resource_version_of,
    same_version,
)
from innodb_operator.clock import Clock, MonotonicClock
from innodb_operator.kube.errors import Gone, KubeError, from_status
from innodb_operator.observability.metrics import WATCH_EVENTS, WATCH_RESTARTS

logger = logging.getLogger(__name__)

Transform = Callable[[dict[str, Any]], dict[str, Any]]


def strip_managed_fields(obj: dict[str, Any]) -> dict[str, Any]:
    """The default transform: drop ``metadata.managedFields`` (large, never read by us).

    Does not modify ``obj``; returns it unchanged when there is nothing to strip.
    """
    metadata = obj.get("metadata")
    if not isinstance(metadata, Mapping) or "managedFields" not in metadata:
        return obj
    return {**obj, "metadata": {k: v for k, v in metadata.items() if k != "managedFields"}}


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff: ``initial * factor**(n-1)`` capped at ``maximum`` for the
    n-th consecutive failure, stretched by up to ``jitter`` (a fraction) at random."""

    initial: float = 0.8
    factor: float = 2.0
    maximum: float = 30.0
    jitter: float = 0.0

    def delay(self, failures: int, rng: random.Random | None = None) -> float:
        if failures <= 0:
            return 0.0
        base = min(self.maximum, self.initial * self.factor ** (failures - 1))
        if self.jitter > 0:
            base *= 1.0 + self.jitter * (rng or random).random()
        return base


def error_from_status(status: Mapping[str, Any]) -> KubeError:
    """The exception for a watch ``ERROR`` event's Status object (code 410: ``Gone``)."""
    code = status.get("code")
    reason = str(status.get("reason") or "")
    message = str(status.get("message") or "watch error event")
    if not isinstance(code, int) or code <= 0:
        code = 410 if reason in ("Expired", "Gone") else 0
    return from_status(code, message, reason)


class Reflector:
    """List, then watch, one resource into a store. See the module docstring."""

    def __init__(
        self,
        list_watch: ListWatch,
        store_sink: Store,
        *,
        clock: Clock | None = None,
        on_change: Callable[[Change], None] | None = None,
        timeout_seconds: int = 300,
        timeout_jitter: float = 0.1,
        backoff: Backoff | None = None,
        min_watch_seconds: float = 1.0,
        transform: Transform | None = strip_managed_fields,
        rng: random.Random | None = None,
    ) -> None:
        if timeout_seconds < 1:
            raise ValueError("timeout_seconds must be at least 1")
        self._lw = list_watch
        self._store = store_sink
        self._clock: Clock = clock or MonotonicClock()
        self._on_change = on_change
        self._timeout_seconds = timeout_seconds
        self._timeout_jitter = timeout_jitter
        self._backoff = backoff or Backoff()
        self._min_watch_seconds = min_watch_seconds
        self._transform = transform
        self._rng = rng or random.Random()
        self._resource_version = ""
        self._synced = asyncio.Event()
        self._running = False

    @property
    def resource(self) -> str:
        return self._lw.resource

    @property
    def has_synced(self) -> bool:
        """True from the end of the first successful list on; never becomes False again."""
        return self._synced.is_set()

    @property
    def last_sync_resource_version(self) -> str:
        """The newest resourceVersion seen: from the last list, event or bookmark."""
        return self._resource_version

    async def wait_for_sync(self) -> None:
        """Return once :attr:`has_synced` is True."""
        await self._synced.wait()

    async def run(self) -> None:
        """List and watch until cancelled. Never returns normally."""
        if self._running:
            raise RuntimeError(f"reflector for {self.resource} is already running")
        self._running = True
        try:
            await self._loop()
        finally:
            self._running = False

    # --- the loop

    async def _loop(self) -> None:
        failures = 0
        while True:
            if failures:
                await self._clock.sleep(self._backoff.delay(failures, self._rng))
            try:
                await self._list_and_sync()
            except Exception as error:
                failures += 1
                logger.warning("list of %s failed (%d in a row): %r", self.resource, failures, error)
                continue
            failures = 0
            await self._watch_until_failure()
            failures += 1

    async def _list_and_sync(self) -> None:
        listed = await self._lw.list()
        objects = [self._prepare(item) for item in listed["items"]]
        self._store.replace(objects, on_change=self._emit)
        self._resource_version = listed["resource_version"]
        if not self._synced.is_set():
            self._synced.set()
            logger.info("%s synced at resourceVersion %s", self.resource, self._resource_version)

    async def _watch_until_failure(self) -> None:
        """Watch, re-watching after normal ends; return on Gone or any other failure."""
        quiet_ends = 0
        while True:
            if quiet_ends:
                await self._clock.sleep(self._backoff.delay(quiet_ends, self._rng))
            started = self._clock.now()
            try:
                received = await self._watch_once()
            except Gone as error:
                self._restarted("gone")
                logger.info("watch of %s expired, relisting: %s", self.resource, error)
                return
            except Exception as error:
                self._restarted("error")
                logger.warning("watch of %s failed, relisting: %r", self.resource, error)
                return
            self._restarted("timeout")
            if received or self._clock.now() - started >= self._min_watch_seconds:
                quiet_ends = 0
            else:
                quiet_ends += 1
                logger.warning("watch of %s ended at once with no events (%d in a row)",
                               self.resource, quiet_ends)

    async def _watch_once(self) -> int:
        """One watch stream to its normal end; returns how many events it carried."""
        timeout = max(1, int(self._timeout_seconds * (1.0 + self._timeout_jitter * self._rng.random())))
        stream = self._lw.watch(self._resource_version, timeout_seconds=timeout, allow_bookmarks=True)
        received = 0
        try:
            async for event in stream:
                received += 1
                self._handle(event)
        finally:
            await _close(stream)
        return received

    def _handle(self, event: WatchEvent) -> None:
        event_type = str(event.get("type", ""))
        raw = event.get("object") or {}
        WATCH_EVENTS.labels(resource=self.resource, type=event_type).inc()
        if event_type == "ERROR":
            raise error_from_status(raw)
        if event_type == "BOOKMARK":
            self._advance(raw)
            return
        if event_type not in ("ADDED", "MODIFIED", "DELETED"):
            logger.warning("watch of %s: ignoring event of unknown type %r", self.resource, event_type)
            return
        obj = self._prepare(raw)
        key = self._store.key_of(obj)
        if event_type == "DELETED":
            if self._store.delete(key) is not None:
                self._emit(Change("DELETED", key, obj))
        else:
            old = self._store.get(key)
            if old is None:
                self._store.add(obj)
                self._emit(Change("ADDED", key, obj))
            elif not same_version(old, obj):
                self._store.add(obj)
                self._emit(Change("MODIFIED", key, obj, old))
        self._advance(obj)

    # --- helpers

    def _prepare(self, raw: dict[str, Any]) -> FrozenDict:
        return freeze_object(self._transform(raw) if self._transform is not None else raw)

    def _advance(self, obj: Mapping[str, Any]) -> None:
        resource_version = resource_version_of(obj)
        if resource_version:
            self._resource_version = resource_version

    def _emit(self, change: Change) -> None:
        if self._on_change is None:
            return
        try:
            self._on_change(change)
        except Exception:
            logger.exception("%s: change handler failed for %s %s", self.resource, change.type, change.key)

    def _restarted(self, reason: str) -> None:
        WATCH_RESTARTS.labels(resource=self.resource, reason=reason).inc()


async def _close(stream: AsyncIterator[WatchEvent]) -> None:
    aclose = getattr(stream, "aclose", None)
    if aclose is None:
        return
    try:
        await aclose()
    except Exception as error:
        logger.debug("closing a watch stream failed: %r", error)
