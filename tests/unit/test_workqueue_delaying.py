"""DelayingQueue: add_after on a FakeClock, folding to the earliest due time, cleanup."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable

import pytest

from innodb_operator.clock import FakeClock
from innodb_operator.workqueue import DelayingQueue, ShutDown


async def settle(rounds: int = 20) -> None:
    """Let every runnable task run (no time passes)."""
    for _ in range(rounds):
        await asyncio.sleep(0)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def make_queue(clock: FakeClock) -> AsyncIterator[Callable[[], DelayingQueue[str]]]:
    queues: list[DelayingQueue[str]] = []

    def make() -> DelayingQueue[str]:
        queue = DelayingQueue[str](f"test-dq-{uuid.uuid4().hex[:12]}", clock=clock)
        queues.append(queue)
        return queue

    yield make
    for queue in queues:
        queue.shutdown()
    await settle()


async def ready_keys(q: DelayingQueue[str]) -> list[str]:
    """Take every key that is ready right now (and mark it done)."""
    await settle()
    keys = []
    while len(q):
        key = await q.get()
        q.done(key)
        keys.append(key)
    return keys


@pytest.mark.parametrize("delay", [0.0, -5.0])
async def test_add_after_without_positive_delay_adds_now(
    delay: float, make_queue: Callable[[], DelayingQueue[str]]
) -> None:
    q = make_queue()
    q.add_after("ns/a", delay)
    assert len(q) == 1
    assert q.waiting == 0


async def test_delayed_key_is_not_gettable_before_due_and_is_after(
    clock: FakeClock, make_queue: Callable[[], DelayingQueue[str]]
) -> None:
    q = make_queue()
    q.add_after("ns/a", 5.0)
    getter = asyncio.create_task(q.get())
    await settle()
    assert not getter.done()
    clock.advance(4.999)
    await settle()
    assert not getter.done(), "gettable before its due time"
    clock.advance(0.001)
    await settle()
    assert getter.result() == "ns/a"


@pytest.mark.parametrize(("first", "second"), [(10.0, 2.0), (2.0, 10.0)])
async def test_repeated_add_after_folds_to_the_earliest_due_time(
    first: float, second: float, clock: FakeClock, make_queue: Callable[[], DelayingQueue[str]]
) -> None:
    q = make_queue()
    q.add_after("ns/a", first)
    await settle()  # let the timer arm on the first due time
    q.add_after("ns/a", second)
    assert q.waiting == 1
    clock.advance(1.9)
    assert await ready_keys(q) == []
    clock.advance(0.1)
    assert await ready_keys(q) == ["ns/a"], "due at 2 s whichever order the delays came in"
    clock.advance(20.0)
    assert await ready_keys(q) == [], "the later due time must not add the key a second time"


async def test_earlier_key_wakes_the_timer_early(
    clock: FakeClock, make_queue: Callable[[], DelayingQueue[str]]
) -> None:
    q = make_queue()
    q.add_after("ns/late", 100.0)
    await settle()  # the timer now sleeps until t+100
    q.add_after("ns/early", 1.0)
    clock.advance(1.0)
    assert await ready_keys(q) == ["ns/early"]
    clock.advance(98.0)
    assert await ready_keys(q) == []
    clock.advance(1.0)
    assert await ready_keys(q) == ["ns/late"]


async def test_due_keys_are_added_in_due_order(
    clock: FakeClock, make_queue: Callable[[], DelayingQueue[str]]
) -> None:
    q = make_queue()
    q.add_after("ns/c", 3.0)
    q.add_after("ns/a", 1.0)
    q.add_after("ns/b", 2.0)
    clock.advance(5.0)
    assert await ready_keys(q) == ["ns/a", "ns/b", "ns/c"]


async def test_due_key_folds_with_a_copy_already_queued(
    clock: FakeClock, make_queue: Callable[[], DelayingQueue[str]]
) -> None:
    q = make_queue()
    q.add("ns/a")
    q.add_after("ns/a", 1.0)
    clock.advance(1.0)
    assert await ready_keys(q) == ["ns/a"]


async def test_due_key_held_by_a_worker_is_processed_again_after_done(
    clock: FakeClock, make_queue: Callable[[], DelayingQueue[str]]
) -> None:
    q = make_queue()
    q.add("ns/a")
    key = await q.get()
    q.add_after(key, 1.0)
    clock.advance(1.0)
    await settle()
    assert len(q) == 0, "a held key must not become ready for a second worker"
    q.done(key)
    assert await ready_keys(q) == ["ns/a"]


async def test_shutdown_drops_waiting_keys_and_leaves_no_timer(
    clock: FakeClock, make_queue: Callable[[], DelayingQueue[str]]
) -> None:
    q = make_queue()
    q.add_after("ns/a", 5.0)
    await settle()
    assert clock.sleepers == 1
    q.shutdown()
    await settle()
    assert clock.sleepers == 0, "the delay task's sleep must be cancelled"
    assert q.waiting == 0
    q.add_after("ns/b", 1.0)
    clock.advance(10.0)
    await settle()
    assert clock.sleepers == 0
    with pytest.raises(ShutDown):
        await q.get()


async def test_shutdown_with_drain_stops_the_timer_and_waits_for_work(
    clock: FakeClock, make_queue: Callable[[], DelayingQueue[str]]
) -> None:
    q = make_queue()
    q.add("ns/a")
    key = await q.get()
    q.add_after("ns/b", 5.0)
    await settle()
    drain = asyncio.create_task(q.shutdown_with_drain())
    await settle()
    assert clock.sleepers == 0
    assert not drain.done()
    q.done(key)
    await settle()
    assert drain.done()
