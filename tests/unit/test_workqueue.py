"""WorkQueue: folding, one worker per key, re-add while processing, shutdown, metrics.

Everything runs on a FakeClock; ``settle()`` only yields to the event loop.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import uuid
from collections.abc import AsyncIterator, Callable

import pytest

from innodb_operator.clock import FakeClock
from innodb_operator.observability.metrics import REGISTRY, PrometheusQueueMetrics
from innodb_operator.workqueue import ShutDown, WorkQueue


async def settle(rounds: int = 20) -> None:
    """Let every runnable task run (no time passes)."""
    for _ in range(rounds):
        await asyncio.sleep(0)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def make_queue(clock: FakeClock) -> AsyncIterator[Callable[[], WorkQueue[str]]]:
    queues: list[WorkQueue[str]] = []

    def make() -> WorkQueue[str]:
        queue = WorkQueue[str](f"test-wq-{uuid.uuid4().hex[:12]}", clock=clock, metrics=PrometheusQueueMetrics())
        queues.append(queue)
        return queue

    yield make
    for queue in queues:
        queue.shutdown()
    await settle()


def sample(metric: str, queue: WorkQueue[str]) -> float | None:
    return REGISTRY.get_sample_value(metric, {"name": queue.name})


# --- folding, order, re-add while processing --------------------------------------


async def test_adds_while_queued_fold_into_one_get(make_queue: Callable[[], WorkQueue[str]]) -> None:
    q = make_queue()
    for _ in range(3):
        q.add("ns/a")
    assert len(q) == 1
    assert await q.get() == "ns/a"
    assert len(q) == 0
    getter = asyncio.create_task(q.get())
    await settle()
    assert not getter.done(), "the folded adds must not produce a second get"
    getter.cancel()


async def test_keys_are_handed_out_in_the_order_they_became_ready(
    make_queue: Callable[[], WorkQueue[str]],
) -> None:
    q = make_queue()
    for key in ["ns/c", "ns/a", "ns/b", "ns/a", "ns/c"]:
        q.add(key)
    assert [await q.get() for _ in range(3)] == ["ns/c", "ns/a", "ns/b"]


async def test_get_waits_until_a_key_is_added(make_queue: Callable[[], WorkQueue[str]]) -> None:
    q = make_queue()
    getter = asyncio.create_task(q.get())
    await settle()
    assert not getter.done()
    q.add("ns/a")
    await settle()
    assert getter.result() == "ns/a"


async def test_key_added_while_processing_is_processed_again_after_done_not_before(
    make_queue: Callable[[], WorkQueue[str]],
) -> None:
    q = make_queue()
    q.add("ns/a")
    assert await q.get() == "ns/a"
    q.add("ns/a")
    q.add("ns/a")
    assert len(q) == 0, "a key being processed must not be ready for another worker"
    second_worker = asyncio.create_task(q.get())
    await settle()
    assert not second_worker.done()
    q.done("ns/a")
    await settle()
    assert second_worker.result() == "ns/a"
    q.done("ns/a")
    assert len(q) == 0, "the two adds during processing fold into one more pass"


async def test_done_for_a_key_not_being_processed_does_not_duplicate_it(
    make_queue: Callable[[], WorkQueue[str]],
) -> None:
    q = make_queue()
    q.add("ns/a")
    q.done("ns/a")
    q.done("ns/never-added")
    assert len(q) == 1
    assert await q.get() == "ns/a"
    assert len(q) == 0


async def test_cancelled_woken_getter_passes_the_key_to_another_getter(
    make_queue: Callable[[], WorkQueue[str]],
) -> None:
    q = make_queue()
    first = asyncio.create_task(q.get())
    second = asyncio.create_task(q.get())
    await settle()
    q.add("ns/a")  # wakes the first getter ...
    first.cancel()  # ... which is cancelled before it runs
    await settle()
    assert first.cancelled()
    assert second.result() == "ns/a"


async def test_never_two_workers_on_one_key_and_every_last_add_is_processed(
    make_queue: Callable[[], WorkQueue[str]],
) -> None:
    q = make_queue()
    rng = random.Random(20240611)
    keys = [f"ns/k{i}" for i in range(8)]
    tick = itertools.count()
    last_add: dict[str, int] = {}
    last_start: dict[str, int] = {}
    holding: set[str] = set()
    overlaps: list[str] = []
    max_parallel = 0
    passes = 0

    async def worker() -> None:
        nonlocal max_parallel, passes
        while True:
            try:
                key = await q.get()
            except ShutDown:
                return
            if key in holding:
                overlaps.append(key)
            holding.add(key)
            max_parallel = max(max_parallel, len(holding))
            last_start[key] = next(tick)
            passes += 1
            for _ in range(rng.randrange(5)):
                await asyncio.sleep(0)
            holding.discard(key)
            q.done(key)

    workers = [asyncio.create_task(worker()) for _ in range(20)]
    for _ in range(4000):
        key = rng.choice(keys)
        last_add[key] = next(tick)
        q.add(key)
        if rng.random() < 0.5:
            await asyncio.sleep(0)
    async with asyncio.timeout(10):
        await q.shutdown_with_drain()
        await asyncio.gather(*workers)

    assert overlaps == [], "a key was handed to two workers at once"
    assert max_parallel > 1, "the test must actually run keys in parallel"
    assert passes < 4000, "adds of a queued key must fold"
    for key, added in last_add.items():
        assert last_start.get(key, -1) > added, f"{key} was not processed after its last add"
    assert len(q) == 0


# --- shutdown ----------------------------------------------------------------------


async def test_shutdown_wakes_waiting_getters_with_shutdown(
    make_queue: Callable[[], WorkQueue[str]],
) -> None:
    q = make_queue()
    getters = [asyncio.create_task(q.get()) for _ in range(3)]
    await settle()
    q.shutdown()
    await settle()
    for getter in getters:
        assert isinstance(getter.exception(), ShutDown)
    assert q.shutting_down


async def test_shutdown_stops_handing_out_queued_keys_and_ignores_adds(
    make_queue: Callable[[], WorkQueue[str]],
) -> None:
    q = make_queue()
    q.add("ns/a")
    q.shutdown()
    q.add("ns/b")
    with pytest.raises(ShutDown):
        await q.get()


async def test_shutdown_with_drain_waits_for_in_flight_work(
    make_queue: Callable[[], WorkQueue[str]],
) -> None:
    q = make_queue()
    q.add("ns/a")
    q.add("ns/b")
    assert await q.get() == "ns/a"
    drain = asyncio.create_task(q.shutdown_with_drain())
    await settle()
    assert not drain.done(), "ns/a is still being processed"
    assert q.shutting_down
    q.add("ns/c")  # ignored
    assert await q.get() == "ns/b", "keys already queued are still handed out while draining"
    with pytest.raises(ShutDown):
        await q.get()  # queue empty: workers are told to stop
    q.done("ns/a")
    await settle()
    assert not drain.done(), "ns/b is still being processed"
    q.done("ns/b")
    await settle()
    assert drain.done()
    assert drain.exception() is None


async def test_shutdown_with_drain_counts_a_requeued_key_as_in_flight(
    make_queue: Callable[[], WorkQueue[str]],
) -> None:
    q = make_queue()
    q.add("ns/a")
    assert await q.get() == "ns/a"
    q.add("ns/a")  # re-added while processing, before the shutdown
    drain = asyncio.create_task(q.shutdown_with_drain())
    await settle()
    q.done("ns/a")  # re-queued: the newer state must still be processed
    await settle()
    assert not drain.done()
    assert await q.get() == "ns/a"
    q.done("ns/a")
    await settle()
    assert drain.done()


async def test_shutdown_with_drain_returns_at_once_when_idle_and_wakes_getters(
    make_queue: Callable[[], WorkQueue[str]],
) -> None:
    q = make_queue()
    getter = asyncio.create_task(q.get())
    await settle()
    async with asyncio.timeout(5):
        await q.shutdown_with_drain()
    await settle()
    assert isinstance(getter.exception(), ShutDown)


async def test_shutdown_releases_a_pending_drain(make_queue: Callable[[], WorkQueue[str]]) -> None:
    q = make_queue()
    q.add("ns/a")
    await q.get()
    drain = asyncio.create_task(q.shutdown_with_drain())
    await settle()
    assert not drain.done()
    q.shutdown()
    await settle()
    assert drain.done()


# --- metrics -----------------------------------------------------------------------


async def test_a_queue_without_a_provider_exports_nothing(clock: FakeClock) -> None:
    q = WorkQueue[str](f"test-wq-{uuid.uuid4().hex[:12]}", clock=clock)
    q.add("ns/a")
    await q.get()
    assert sample("workqueue_depth", q) is None and sample("workqueue_adds_total", q) is None
    assert sample("workqueue_unfinished_work_seconds", q) is None


async def test_depth_and_adds_are_exported(make_queue: Callable[[], WorkQueue[str]]) -> None:
    q = make_queue()
    assert sample("workqueue_depth", q) == 0
    q.add("ns/a")
    q.add("ns/a")
    q.add("ns/b")
    assert sample("workqueue_depth", q) == 2
    assert sample("workqueue_adds_total", q) == 3
    await q.get()
    assert sample("workqueue_depth", q) == 1


async def test_queue_and_work_durations_are_measured_on_the_clock(
    clock: FakeClock, make_queue: Callable[[], WorkQueue[str]]
) -> None:
    q = make_queue()
    q.add("ns/a")
    clock.advance(3.0)
    q.add("ns/a")  # folded: the wait counts from the first add
    key = await q.get()
    clock.advance(1.5)
    q.done(key)
    assert sample("workqueue_queue_duration_seconds_count", q) == 1
    assert sample("workqueue_queue_duration_seconds_sum", q) == pytest.approx(3.0)
    assert sample("workqueue_work_duration_seconds_count", q) == 1
    assert sample("workqueue_work_duration_seconds_sum", q) == pytest.approx(1.5)


async def test_unfinished_work_and_longest_processor_grow_with_fake_time(
    clock: FakeClock, make_queue: Callable[[], WorkQueue[str]]
) -> None:
    q = make_queue()
    unfinished = "workqueue_unfinished_work_seconds"
    longest = "workqueue_longest_running_processor_seconds"
    q.add("ns/a")
    q.add("ns/b")
    assert sample(unfinished, q) == 0
    await q.get()
    clock.advance(2.0)
    await q.get()
    clock.advance(3.0)
    assert sample(unfinished, q) == pytest.approx(5.0 + 3.0)
    assert sample(longest, q) == pytest.approx(5.0)
    q.done("ns/a")
    q.done("ns/b")
    assert sample(unfinished, q) == 0
    assert sample(longest, q) == 0
