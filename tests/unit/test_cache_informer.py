"""Reflector and informer behaviour against a scripted list/watch, on a fake clock."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pytest
from scripted_watch import ScriptedListWatch, obj, settle, until

from innodb_operator.cache import Backoff, Change, FrozenDict, Informer, Reflector, Store, key_of
from innodb_operator.clock import FakeClock
from innodb_operator.kube.errors import Gone, ServerError, TransportError
from innodb_operator.observability.metrics import REGISTRY

_resources = itertools.count()


def rv(o: Mapping[str, Any]) -> str:
    return str(o["metadata"]["resourceVersion"])


def opened(lw: ScriptedListWatch, watches: int) -> Callable[[], bool]:
    return lambda: lw.watches_opened == watches


def metric(name: str, **labels: str) -> float:
    value = REGISTRY.get_sample_value(f"innodb_operator_{name}", labels)
    return 0.0 if value is None else float(value)


class Recorder:
    """Handler that records ("add", key, rv), ("update", key, old_rv, new_rv), ("delete", key, rv)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, ...]] = []
        self.objects: list[FrozenDict] = []

    def on_add(self, o: FrozenDict) -> None:
        self.events.append(("add", key_of(o), rv(o)))
        self.objects.append(o)

    def on_update(self, old: FrozenDict, new: FrozenDict) -> None:
        self.events.append(("update", key_of(new), rv(old), rv(new)))
        self.objects.append(new)

    def on_delete(self, o: FrozenDict) -> None:
        self.events.append(("delete", key_of(o), rv(o)))
        self.objects.append(o)

    def take(self) -> list[tuple[str, ...]]:
        events, self.events = self.events, []
        return events


@dataclass
class Harness:
    lw: ScriptedListWatch
    clock: FakeClock
    informer: Informer
    rec: Recorder
    task: asyncio.Task[None]

    @property
    def resource(self) -> str:
        return self.lw.resource

    async def sync(self, items: list[dict[str, Any]], list_rv: str) -> None:
        """Serve the next list and wait until the watch after it is open."""
        watches = self.lw.watches_opened
        self.lw.push_list(items, list_rv)
        await until(lambda: self.lw.watches_opened > watches)

    async def backoff(self, seconds: float) -> None:
        """Wait for the reflector's backoff sleep, check it is not shorter, then let it pass."""
        await until(lambda: self.clock.sleepers == 1)
        self.clock.advance(seconds * 0.99)
        await settle()
        assert self.clock.sleepers == 1, "backoff ended early"
        self.clock.advance(seconds * 0.02)
        await settle()


@contextlib.asynccontextmanager
async def running(**kwargs: Any) -> AsyncIterator[Harness]:
    lw = ScriptedListWatch(resource_name=f"things-{next(_resources)}.test")
    clock = FakeClock()
    informer = Informer(lw, clock=clock, timeout_jitter=0.0, **kwargs)
    rec = Recorder()
    informer.add_handler(rec.on_add, rec.on_update, rec.on_delete)
    task = asyncio.create_task(informer.run())
    try:
        yield Harness(lw, clock, informer, rec, task)
    finally:
        assert not task.done(), "the informer stopped on its own"
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_initial_list_delivers_adds_then_watches_from_list_rv() -> None:
    async with running() as h:
        synced_during_handler = []
        h.informer.add_handler(on_add=lambda o: synced_during_handler.append(h.informer.has_synced))
        await h.sync([obj("a", "3"), obj("b", "5")], "10")
        assert h.rec.take() == [("add", "ns1/a", "3"), ("add", "ns1/b", "5")]
        assert synced_during_handler == [False, False]  # synced only after the list's events
        assert h.informer.has_synced
        stream = h.lw.stream(0)
        assert (stream.resource_version, stream.timeout_seconds, stream.allow_bookmarks) == ("10", 300, True)
        assert h.informer.last_sync_resource_version == "10"


async def test_has_synced_flips_exactly_once_after_first_list_and_stays_true_across_relists() -> None:
    async with running() as h:
        observed: list[bool] = []

        def sample() -> None:
            if not observed or observed[-1] != h.informer.has_synced:
                observed.append(h.informer.has_synced)

        sample()
        # wait_for_sync times out on the injected clock.
        waiter = asyncio.create_task(h.informer.wait_for_sync(timeout=5))
        await until(lambda: h.clock.sleepers == 1)
        h.clock.advance(5)
        assert await waiter is False
        sample()
        # A failed first list does not sync.
        h.lw.fail_list(TransportError("connection refused"))
        await h.backoff(0.8)
        sample()
        waiter = asyncio.create_task(h.informer.wait_for_sync(timeout=60))
        await h.sync([obj("a", "1")], "10")
        assert await waiter is True
        sample()
        # Relist: has_synced stays True while the relist is pending and after it.
        h.lw.current.fail(Gone("too old", status=410))
        await h.backoff(0.8)
        await until(lambda: h.lw.list_calls == 3)
        sample()
        assert h.informer.has_synced
        await h.sync([obj("a", "1")], "20")
        sample()
        assert await h.informer.wait_for_sync(timeout=0) is True
        assert observed == [False, True]


async def test_gone_exception_relists() -> None:
    async with running() as h:
        await h.sync([obj("a", "1")], "10")
        h.rec.take()
        h.lw.current.fail(Gone("resourceVersion too old", status=410))
        await settle()
        assert h.lw.stream(0).closed
        assert h.lw.list_calls == 1  # relist waits for the backoff
        await h.backoff(0.8)
        assert h.lw.list_calls == 2
        await h.sync([obj("a", "1")], "30")
        assert h.lw.watch_resource_versions == ["10", "30"]
        assert h.rec.take() == []  # same resourceVersion: nothing delivered
        assert metric("watch_restarts_total", resource=h.resource, reason="gone") == 1


async def test_gone_error_event_relists() -> None:
    async with running() as h:
        await h.sync([obj("a", "1")], "10")
        h.lw.current.error_event(410, reason="Expired", message="too old resource version: 10 (25)")
        await h.backoff(0.8)
        assert h.lw.list_calls == 2
        await h.sync([obj("a", "26")], "30")
        assert h.lw.watch_resource_versions == ["10", "30"]
        assert h.rec.take()[-1] == ("update", "ns1/a", "1", "26")
        assert metric("watch_restarts_total", resource=h.resource, reason="gone") == 1
        assert metric("watch_events_total", resource=h.resource, type="ERROR") == 1


async def test_other_watch_errors_relist_and_list_failures_back_off_doubling_then_reset() -> None:
    async with running() as h:
        await h.sync([], "10")
        # An ERROR event that is not 410 is an error, and relists.
        h.lw.current.error_event(500, reason="InternalError")
        await h.backoff(0.8)
        assert h.lw.list_calls == 2
        # Repeated list failures double the wait: 0.8 (already waited), 1.6, 3.2.
        h.lw.fail_list(ServerError("etcd timeout", status=500))
        await h.backoff(1.6)
        h.lw.fail_list(TransportError("reset"))
        await h.backoff(3.2)
        assert h.lw.list_calls == 4
        await h.sync([], "20")
        # A successful list resets the backoff: a raised watch error waits 0.8 again.
        h.lw.current.fail(ServerError("stream broke", status=500))
        await h.backoff(0.8)
        assert h.lw.list_calls == 5
        await h.sync([], "30")
        assert h.lw.watch_resource_versions == ["10", "20", "30"]
        assert metric("watch_restarts_total", resource=h.resource, reason="error") == 2
        assert metric("watch_restarts_total", resource=h.resource, reason="gone") == 0


async def test_relist_recovers_missed_delete_exactly_once_updates_changed_and_skips_unchanged() -> None:
    async with running() as h:
        await h.sync([obj("keep", "1"), obj("change", "2"), obj("vanish", "3")], "10")
        h.rec.take()
        h.lw.current.modified(obj("vanish", "12", labels={"last": "known"}))
        await until(lambda: len(h.rec.events) == 1)
        h.rec.take()
        # Disconnected: "vanish" is deleted and "change" modified, "new" created; we miss it all.
        h.lw.current.fail(Gone("expired", status=410))
        await h.backoff(0.8)
        await h.sync([obj("keep", "1"), obj("change", "15"), obj("new", "14")], "20")
        events = h.rec.take()
        assert events == [
            ("update", "ns1/change", "2", "15"),
            ("add", "ns1/new", "14"),
            ("delete", "ns1/vanish", "12"),
        ]
        deleted = h.rec.objects[-1]
        assert deleted["metadata"]["labels"] == {"last": "known"}  # the last known object
        assert h.informer.lister.get("ns1", "vanish") is None
        # Another relist with the same content delivers nothing: the delete is not repeated.
        h.lw.current.error_event(410)
        await h.backoff(0.8)
        await h.sync([obj("keep", "1"), obj("change", "15"), obj("new", "14")], "25")
        assert h.rec.take() == []
        assert sorted(h.informer.lister.keys()) == ["ns1/change", "ns1/keep", "ns1/new"]


async def test_bookmark_advances_resource_version_for_next_watch_without_event() -> None:
    async with running() as h:
        await h.sync([obj("a", "1")], "10")
        h.rec.take()
        h.lw.current.bookmark("15")
        await until(lambda: h.informer.last_sync_resource_version == "15")
        assert h.rec.take() == []
        h.lw.current.end()
        await until(lambda: h.lw.watches_opened == 2)
        assert h.lw.watch_resource_versions == ["10", "15"]
        assert h.lw.list_calls == 1
        assert h.rec.take() == []
        assert metric("watch_events_total", resource=h.resource, type="BOOKMARK") == 1


async def test_normal_watch_end_rewatches_from_last_rv_without_relisting() -> None:
    async with running() as h:
        await h.sync([], "10")
        h.lw.current.added(obj("a", "11")).modified(obj("a", "12")).end()
        await until(lambda: h.lw.watches_opened == 2)
        assert h.lw.watch_resource_versions == ["10", "12"]
        # An empty stream that lasted its time also re-watches at once.
        h.clock.advance(300)
        h.lw.current.end()
        await until(lambda: h.lw.watches_opened == 3)
        assert h.lw.watch_resource_versions == ["10", "12", "12"]
        assert h.lw.list_calls == 1
        assert h.rec.take() == [("add", "ns1/a", "11"), ("update", "ns1/a", "11", "12")]
        assert metric("watch_restarts_total", resource=h.resource, reason="timeout") == 2
        assert metric("watch_events_total", resource=h.resource, type="ADDED") == 1
        assert metric("watch_events_total", resource=h.resource, type="MODIFIED") == 1


async def test_watch_ending_at_once_without_events_backs_off_before_rewatching() -> None:
    async with running() as h:
        await h.sync([], "10")
        h.lw.current.end()
        await h.backoff(0.8)
        await until(lambda: h.lw.watches_opened == 2)
        h.lw.current.end()
        await h.backoff(1.6)
        await until(lambda: h.lw.watches_opened == 3)
        assert h.lw.watch_resource_versions == ["10", "10", "10"]
        assert h.lw.list_calls == 1


async def test_watch_events_update_store_before_handlers_run() -> None:
    async with running() as h:
        seen_in_store: list[str | None] = []

        def check(*objects: FrozenDict) -> None:
            cached = h.informer.lister.get_by_key(key_of(objects[-1]))
            seen_in_store.append(None if cached is None else rv(cached))

        h.informer.add_handler(check, check, check)
        await h.sync([obj("a", "1")], "10")
        h.rec.take()
        (
            h.lw.current.added(obj("b", "11"))
            .modified(obj("b", "11"))  # same resourceVersion again: dropped
            .added(obj("a", "12"))  # ADDED for a known key: an update
            .modified(obj("c", "13"))  # MODIFIED for an unknown key: an add
            .deleted(obj("b", "14", labels={"final": "state"}))
            .deleted(obj("zzz", "15"))  # unknown key: nothing
            .added(obj("node-1", "16", namespace=None))
        )
        await until(lambda: h.informer.last_sync_resource_version == "16")
        assert h.rec.take() == [
            ("add", "ns1/b", "11"),
            ("update", "ns1/a", "1", "12"),
            ("add", "ns1/c", "13"),
            ("delete", "ns1/b", "14"),
            ("add", "node-1", "16"),
        ]
        assert h.rec.objects[-2]["metadata"]["labels"] == {"final": "state"}
        # Each handler saw the store with its own event applied, and nothing newer.
        assert seen_in_store == ["1", "11", "12", "13", None, "16"]
        assert sorted(h.informer.lister.keys()) == ["node-1", "ns1/a", "ns1/c"]


async def test_managed_fields_are_stripped_before_storing() -> None:
    async with running() as h:
        listed = obj("a", "1", managed_fields=True)
        await h.sync([listed], "10")
        h.lw.current.added(obj("b", "11", managed_fields=True))
        await until(lambda: h.informer.lister.get("ns1", "b") is not None)
        for cached in h.informer.lister.list():
            assert "managedFields" not in cached["metadata"]
            assert cached["metadata"]["uid"]  # the rest of metadata is kept
        assert all("managedFields" not in o["metadata"] for o in h.rec.objects)
        assert "managedFields" in listed["metadata"]  # the source's dict is not modified


async def test_transform_none_keeps_objects_whole() -> None:
    async with running(transform=None) as h:
        await h.sync([obj("a", "1", managed_fields=True)], "10")
        cached = h.informer.lister.get("ns1", "a")
        assert cached is not None and "managedFields" in cached["metadata"]


async def test_handler_objects_are_read_only() -> None:
    async with running() as h:
        def mutate(o: FrozenDict) -> None:
            o["metadata"]["labels"] = {"mutated": "yes"}

        h.informer.add_handler(on_add=mutate)
        await h.sync([obj("a", "1")], "10")
        cached = h.informer.lister.get("ns1", "a")
        assert cached is not None and "labels" not in cached["metadata"]


async def test_raising_handler_does_not_stop_other_handlers_or_the_informer(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with running() as h:
        def boom(*objects: FrozenDict) -> None:
            raise RuntimeError("handler bug")

        first = Recorder()
        h.informer.remove_handler(h.informer.add_handler(h.rec.on_add))  # remove is supported
        broken = h.informer.add_handler(boom, boom, boom)
        h.informer.remove_handler(broken)
        h.informer.add_handler(first.on_add, first.on_update, first.on_delete)
        h.informer.add_handler(boom, boom, boom)
        last = Recorder()
        h.informer.add_handler(last.on_add, last.on_update, last.on_delete)
        with caplog.at_level(logging.ERROR, logger="innodb_operator.cache"):
            await h.sync([obj("a", "1")], "10")
            h.lw.current.modified(obj("a", "2")).deleted(obj("a", "3")).added(obj("b", "4"))
            await until(lambda: h.informer.last_sync_resource_version == "4")
        expected = [("add", "ns1/a", "1"), ("update", "ns1/a", "1", "2"), ("delete", "ns1/a", "3"),
                    ("add", "ns1/b", "4")]
        assert h.rec.take() == expected
        assert first.take() == expected
        assert last.take() == expected
        failures = [r for r in caplog.records if "handler" in r.getMessage() and r.exc_info]
        assert len(failures) == 4
        assert not h.task.done()


async def test_periodic_resync_delivers_update_with_the_same_object() -> None:
    async with running(resync_period=30) as h:
        # Not synced yet: a resync period passing delivers nothing.
        await until(lambda: h.clock.sleepers == 1)
        h.clock.advance(30)
        await settle()
        assert h.rec.take() == []
        await h.sync([obj("a", "1"), obj("b", "2")], "10")
        h.rec.take()
        updates: list[tuple[FrozenDict, FrozenDict]] = []
        h.informer.add_handler(on_update=lambda old, new: updates.append((old, new)))
        h.clock.advance(29)
        await settle()
        assert h.rec.take() == []
        h.clock.advance(1)
        await until(lambda: len(h.rec.events) == 2)
        assert h.rec.take() == [("update", "ns1/a", "1", "1"), ("update", "ns1/b", "2", "2")]
        assert all(old is new for old, new in updates) and len(updates) == 2
        h.clock.advance(30)
        await until(lambda: len(h.rec.events) == 2)
        assert h.lw.list_calls == 1  # a resync is not a relist


async def test_late_handler_receives_cached_objects_as_adds() -> None:
    async with running() as h:
        await h.sync([obj("a", "1"), obj("b", "2")], "10")
        late = Recorder()
        h.informer.add_handler(late.on_add, late.on_update, late.on_delete)
        assert late.take() == [("add", "ns1/a", "1"), ("add", "ns1/b", "2")]
        assert len(h.rec.take()) == 2  # the first handler got no replay


async def test_cancel_stops_cleanly_and_closes_the_stream() -> None:
    lw = ScriptedListWatch(resource_name=f"things-{next(_resources)}.test")
    informer = Informer(lw, clock=FakeClock(), resync_period=60)
    task = asyncio.create_task(informer.run())
    lw.push_list([obj("a", "1")], "10")
    await until(lambda: lw.watches_opened == 1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert lw.stream(0).closed
    assert informer.lister.get("ns1", "a") is not None  # the cache keeps its contents
    assert informer.has_synced
    # It can run again after being stopped.
    task = asyncio.create_task(informer.run())
    lw.push_list([], "20")
    await until(lambda: lw.watches_opened == 2)
    assert informer.lister.list() == []
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_informer_refuses_to_run_twice() -> None:
    async with running() as h:
        await until(lambda: h.lw.list_calls == 1)
        with pytest.raises(RuntimeError):
            await h.informer.run()


async def test_reflector_explicit_jittered_timeout_and_change_sink() -> None:
    lw = ScriptedListWatch(resource_name=f"things-{next(_resources)}.test")
    store = Store()
    changes: list[Change] = []
    reflector = Reflector(
        lw, store, clock=FakeClock(), on_change=changes.append,
        timeout_seconds=300, timeout_jitter=0.1, backoff=Backoff(initial=1, maximum=4), rng=random.Random(7),
    )
    assert not reflector.has_synced and reflector.last_sync_resource_version == ""
    task = asyncio.create_task(reflector.run())
    lw.push_list([obj("a", "1")], "10")
    for i in range(5):
        await until(opened(lw, i + 1))
        stream = lw.stream(i)
        assert stream.timeout_seconds is not None and 300 <= stream.timeout_seconds <= 330
        assert stream.allow_bookmarks is True
        lw.stream(i).added(obj(f"x{i}", str(11 + i))).end()
    await until(lambda: lw.watches_opened == 6)
    assert len({lw.stream(i).timeout_seconds for i in range(5)}) > 1  # jittered
    expected = [("ADDED", "ns1/a")] + [("ADDED", f"ns1/x{i}") for i in range(5)]
    assert [(c.type, c.key) for c in changes] == expected
    assert reflector.has_synced and reflector.last_sync_resource_version == "15"
    assert sorted(store.keys())[:2] == ["ns1/a", "ns1/x0"]
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def test_backoff_schedule() -> None:
    backoff = Backoff()
    assert [backoff.delay(n) for n in range(8)] == [0.0, 0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 30.0]
    jittered = Backoff(jitter=0.5)
    delays = [jittered.delay(1, random.Random(seed)) for seed in range(20)]
    assert all(0.8 <= d <= 1.2 for d in delays) and len(set(delays)) > 1
