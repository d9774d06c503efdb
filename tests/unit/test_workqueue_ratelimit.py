"""Rate limiters and RateLimitingQueue: backoff, token bucket, max-of, retries metric."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import AsyncIterator, Callable

import pytest

from innodb_operator.clock import FakeClock
from innodb_operator.observability.metrics import REGISTRY, PrometheusQueueMetrics
from innodb_operator.workqueue import (
    ItemExponentialFailureRateLimiter,
    MaxOfRateLimiter,
    RateLimiter,
    RateLimitingQueue,
    TokenBucketRateLimiter,
    default_controller_rate_limiter,
)


async def settle(rounds: int = 20) -> None:
    """Let every runnable task run (no time passes)."""
    for _ in range(rounds):
        await asyncio.sleep(0)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


# --- item exponential backoff ---------------------------------------------------------


def test_backoff_starts_at_5ms_doubles_per_failure_and_is_capped() -> None:
    limiter = ItemExponentialFailureRateLimiter()
    delays = [limiter.when("ns/a") for _ in range(25)]
    assert delays[:4] == pytest.approx([0.005, 0.010, 0.020, 0.040])
    for earlier, later in itertools.pairwise(delays):
        assert later == pytest.approx(min(2 * earlier, 1000.0))
    assert delays[-1] == 1000.0
    assert max(delays) == 1000.0
    assert limiter.retries("ns/a") == 25


def test_backoff_cap_holds_for_huge_failure_counts() -> None:
    limiter = ItemExponentialFailureRateLimiter(base=0.005, cap=1000.0)
    delays = [limiter.when("ns/a") for _ in range(2000)]
    assert delays[-1] == 1000.0


def test_forget_resets_the_backoff_of_that_key_only() -> None:
    limiter = ItemExponentialFailureRateLimiter()
    for _ in range(5):
        limiter.when("ns/a")
        limiter.when("ns/b")
    limiter.forget("ns/a")
    assert limiter.retries("ns/a") == 0
    assert limiter.when("ns/a") == pytest.approx(0.005)
    assert limiter.retries("ns/b") == 5
    assert limiter.when("ns/b") == pytest.approx(0.005 * 2**5)


# --- token bucket -----------------------------------------------------------------------


def test_token_bucket_burst_goes_through_then_requests_are_spaced_by_1_over_qps(clock: FakeClock) -> None:
    limiter = TokenBucketRateLimiter(qps=10.0, burst=100, clock=clock)
    delays = [limiter.when(f"ns/k{i}") for i in range(105)]
    assert delays[:100] == [0.0] * 100
    assert delays[100:] == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.5])


def test_token_bucket_refills_with_time_up_to_burst(clock: FakeClock) -> None:
    limiter = TokenBucketRateLimiter(qps=10.0, burst=5, clock=clock)
    assert [limiter.when("k") for _ in range(5)] == [0.0] * 5
    assert limiter.when("k") == pytest.approx(0.1)  # in debt: one token reserved ahead
    clock.advance(0.3)  # +3 tokens, one of them already reserved
    assert [limiter.when("k") for _ in range(2)] == pytest.approx([0.0, 0.0], abs=1e-9)
    assert limiter.when("k") == pytest.approx(0.1)
    clock.advance(1000.0)  # refill never exceeds the burst
    assert [limiter.when("k") for _ in range(5)] == pytest.approx([0.0] * 5, abs=1e-9)
    assert limiter.when("k") == pytest.approx(0.1)


def test_token_bucket_keeps_no_per_key_state(clock: FakeClock) -> None:
    limiter = TokenBucketRateLimiter(qps=1.0, burst=1, clock=clock)
    limiter.when("ns/a")
    limiter.forget("ns/b")
    assert limiter.retries("ns/a") == 0
    assert limiter.when("ns/b") == pytest.approx(1.0), "the bucket is shared by all keys"


@pytest.mark.parametrize(("qps", "burst"), [(0.0, 1), (-1.0, 1), (1.0, 0)])
def test_token_bucket_rejects_invalid_settings(qps: float, burst: int) -> None:
    with pytest.raises(ValueError):
        TokenBucketRateLimiter(qps=qps, burst=burst, clock=FakeClock())


# --- max of / default ---------------------------------------------------------------------


def test_max_of_takes_the_largest_delay_and_delegates_forget_and_retries(clock: FakeClock) -> None:
    exponential = ItemExponentialFailureRateLimiter(base=1.0, cap=100.0)
    bucket = TokenBucketRateLimiter(qps=1.0, burst=2, clock=clock)
    limiter = MaxOfRateLimiter(exponential, bucket)
    assert [limiter.when("ns/a") for _ in range(3)] == pytest.approx([1.0, 2.0, 4.0])
    assert limiter.when("ns/b") == pytest.approx(2.0), "bucket is 2 tokens in debt, backoff is 1"
    assert limiter.retries("ns/a") == 3
    limiter.forget("ns/a")
    assert limiter.retries("ns/a") == 0
    assert exponential.retries("ns/a") == 0


def test_default_controller_rate_limiter_combines_backoff_and_overall_bucket(clock: FakeClock) -> None:
    limiter = default_controller_rate_limiter(clock)
    first_failures = [limiter.when(f"ns/k{i}") for i in range(102)]
    assert first_failures[:100] == pytest.approx([0.005] * 100)
    assert first_failures[100:] == pytest.approx([0.1, 0.2]), "past the burst the 10 qps bucket dominates"
    clock.advance(3600.0)
    assert [limiter.when("ns/a") for _ in range(3)] == pytest.approx([0.005, 0.010, 0.020])


# --- rate-limiting queue -------------------------------------------------------------------


@pytest.fixture
async def make_queue(
    clock: FakeClock,
) -> AsyncIterator[Callable[[RateLimiter | None], RateLimitingQueue[str]]]:
    queues: list[RateLimitingQueue[str]] = []

    def make(limiter: RateLimiter | None) -> RateLimitingQueue[str]:
        queue = RateLimitingQueue[str](f"test-rlq-{uuid.uuid4().hex[:12]}", clock=clock, rate_limiter=limiter,
                                            metrics=PrometheusQueueMetrics())
        queues.append(queue)
        return queue

    yield make
    for queue in queues:
        queue.shutdown()
    await settle()


async def test_add_rate_limited_backs_off_and_forget_resets(
    clock: FakeClock, make_queue: Callable[[RateLimiter | None], RateLimitingQueue[str]]
) -> None:
    q = make_queue(ItemExponentialFailureRateLimiter(base=1.0, cap=60.0))
    q.add_rate_limited("ns/a")
    assert q.num_requeues("ns/a") == 1
    getter = asyncio.create_task(q.get())
    clock.advance(0.999)
    await settle()
    assert not getter.done()
    clock.advance(0.001)
    await settle()
    key = getter.result()
    q.add_rate_limited(key)  # second failure: 2 s, from now
    q.done(key)
    clock.advance(1.999)
    await settle()
    assert len(q) == 0
    clock.advance(0.001)
    await settle()
    assert len(q) == 1
    key = await q.get()
    q.forget(key)
    q.done(key)
    assert q.num_requeues(key) == 0
    q.add_rate_limited(key)
    clock.advance(1.0)
    await settle()
    assert len(q) == 1, "after forget the backoff starts over at the base delay"
    retries = REGISTRY.get_sample_value("workqueue_retries_total", {"name": q.name})
    assert retries == 3


async def test_default_limiter_runs_on_the_queue_clock(
    clock: FakeClock, make_queue: Callable[[RateLimiter | None], RateLimitingQueue[str]]
) -> None:
    q = make_queue(None)
    for _ in range(3):
        q.add_rate_limited("ns/a")  # 5 ms, 10 ms, 20 ms: folds to the earliest, 5 ms
    assert q.num_requeues("ns/a") == 3
    clock.advance(0.004)
    await settle()
    assert len(q) == 0
    clock.advance(0.001)
    await settle()
    assert len(q) == 1


async def test_add_rate_limited_is_ignored_after_shutdown(
    make_queue: Callable[[RateLimiter | None], RateLimitingQueue[str]],
) -> None:
    q = make_queue(ItemExponentialFailureRateLimiter())
    q.shutdown()
    q.add_rate_limited("ns/a")
    assert q.num_requeues("ns/a") == 0
    assert q.waiting == 0
