"""A scripted fake of ``innodb_operator.cache.source.ListWatch`` for unit tests.

The test decides, step by step, what each ``list()`` returns and what each watch
stream yields:

  * ``lw.push_list(items, rv)`` / ``lw.fail_list(exc)`` queue the result of the next
    ``list()`` call; ``list()`` waits until one is queued.
  * ``lw.stream(i)`` is the i-th watch stream (0-based), created on demand so a test can
    script it before or after the reflector opens it; ``lw.current`` is the newest one
    opened. A stream records the ``resource_version``/``timeout_seconds``/
    ``allow_bookmarks`` it was opened with, and yields what the test feeds it:
    ``added``/``modified``/``deleted``/``bookmark``/``error_event`` events,
    ``fail(exc)`` (raise from the iterator) and ``end()`` (normal end, as on the server
    timeout). Until fed, the stream waits.

Nothing here sleeps; helpers :func:`until` and :func:`settle` only yield to the loop.
"""

from __future__ import annotations

import asyncio
import builtins
import copy
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from innodb_operator.cache.source import ObjectList, WatchEvent

_END = object()


def obj(
    name: str,
    rv: str,
    *,
    namespace: str | None = "ns1",
    uid: str | None = None,
    labels: dict[str, str] | None = None,
    owners: Iterable[str] = (),
    managed_fields: bool = False,
    spec: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A minimal object as the API server would send it."""
    metadata: dict[str, Any] = {"name": name, "uid": uid or f"uid-{name}", "resourceVersion": rv}
    if namespace:
        metadata["namespace"] = namespace
    if labels:
        metadata["labels"] = dict(labels)
    owner_list = [{"apiVersion": "v1", "kind": "Thing", "name": f"owner-{o}", "uid": o} for o in owners]
    if owner_list:
        metadata["ownerReferences"] = owner_list
    if managed_fields:
        metadata["managedFields"] = [{"manager": "kubectl", "operation": "Apply", "fieldsV1": {"f:spec": {}}}]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec or {}}


class ScriptedStream:
    """One watch stream; an async iterator of what the test feeds it."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self.opened = False
        self.closed = False
        self.resource_version: str | None = None
        self.timeout_seconds: int | None = None
        self.allow_bookmarks: bool | None = None

    # --- scripting

    def event(self, event_type: str, object_: dict[str, Any]) -> ScriptedStream:
        self._queue.put_nowait({"type": event_type, "object": copy.deepcopy(object_)})
        return self

    def added(self, object_: dict[str, Any]) -> ScriptedStream:
        return self.event("ADDED", object_)

    def modified(self, object_: dict[str, Any]) -> ScriptedStream:
        return self.event("MODIFIED", object_)

    def deleted(self, object_: dict[str, Any]) -> ScriptedStream:
        return self.event("DELETED", object_)

    def bookmark(self, rv: str) -> ScriptedStream:
        return self.event("BOOKMARK", {"kind": "Pod", "apiVersion": "v1", "metadata": {"resourceVersion": rv}})

    def error_event(self, code: int, reason: str = "", message: str = "scripted") -> ScriptedStream:
        status = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code,
                  "reason": reason, "message": message}
        return self.event("ERROR", status)

    def fail(self, error: BaseException) -> ScriptedStream:
        self._queue.put_nowait(error)
        return self

    def end(self) -> ScriptedStream:
        self._queue.put_nowait(_END)
        return self

    @property
    def pending(self) -> int:
        """Scripted items the consumer has not taken yet."""
        return self._queue.qsize()

    # --- the iterator the reflector consumes

    def __aiter__(self) -> ScriptedStream:
        return self

    async def __anext__(self) -> WatchEvent:
        if self.closed:
            raise StopAsyncIteration
        item = await self._queue.get()
        if item is _END:
            raise StopAsyncIteration
        if isinstance(item, BaseException):
            raise item
        event: WatchEvent = item
        return event

    async def aclose(self) -> None:
        self.closed = True


@dataclass
class ScriptedListWatch:
    """Implements the ``ListWatch`` protocol from a script."""

    resource_name: str = "pods"
    list_calls: int = 0
    lists_served: int = 0
    streams: builtins.list[ScriptedStream] = field(default_factory=list)
    watches_opened: int = 0

    def __post_init__(self) -> None:
        self._lists: asyncio.Queue[ObjectList | BaseException] = asyncio.Queue()

    @property
    def resource(self) -> str:
        return self.resource_name

    # --- scripting

    def push_list(self, items: Iterable[dict[str, Any]], rv: str) -> None:
        self._lists.put_nowait({"items": [copy.deepcopy(i) for i in items], "resource_version": rv})

    def fail_list(self, error: BaseException) -> None:
        self._lists.put_nowait(error)

    def stream(self, index: int) -> ScriptedStream:
        while len(self.streams) <= index:
            self.streams.append(ScriptedStream())
        return self.streams[index]

    @property
    def current(self) -> ScriptedStream:
        """The newest stream the consumer has opened."""
        assert self.watches_opened, "no watch opened yet"
        return self.streams[self.watches_opened - 1]

    @property
    def watch_resource_versions(self) -> builtins.list[str | None]:
        return [s.resource_version for s in self.streams[: self.watches_opened]]

    # --- ListWatch

    async def list(self) -> ObjectList:
        self.list_calls += 1
        result = await self._lists.get()
        if isinstance(result, BaseException):
            raise result
        self.lists_served += 1
        return result

    def watch(self, resource_version: str, *, timeout_seconds: int, allow_bookmarks: bool) -> ScriptedStream:
        stream = self.stream(self.watches_opened)
        self.watches_opened += 1
        stream.opened = True
        stream.resource_version = resource_version
        stream.timeout_seconds = timeout_seconds
        stream.allow_bookmarks = allow_bookmarks
        return stream


async def until(condition: Callable[[], bool], *, spins: int = 500) -> None:
    """Yield to the loop until ``condition()`` holds (fails after ``spins`` yields)."""
    for _ in range(spins):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition not reached")


async def settle(spins: int = 30) -> None:
    """Yield to the loop a few times so every runnable task gets to its next await."""
    for _ in range(spins):
        await asyncio.sleep(0)
