"""Rate limiters: how long a key should wait before it is retried.

Contract (client-go's ``TypedRateLimiter``):

  * ``when(key)`` records one more failure/request for ``key`` and returns the delay,
    in seconds (``>= 0``), before the key may be processed again. It has side effects:
    call it once per retry.
  * ``forget(key)`` ends tracking of ``key`` (call it after a success) so its next
    failure starts from the smallest delay again; limiters that keep no per-key state
    ignore it.
  * ``retries(key)`` is how many failures are being tracked for ``key``.

Limiters here:

  * :class:`ItemExponentialFailureRateLimiter`: per key, ``base * 2**failures``, capped.
  * :class:`TokenBucketRateLimiter`: one bucket for all keys, like a
    ``golang.org/x/time/rate`` limiter used through reservations: ``burst`` requests
    go through at once, then one every ``1/qps`` seconds; each call reserves its slot.
  * :class:`MaxOfRateLimiter`: the largest delay of several limiters.
  * :func:`default_controller_rate_limiter`: max(5 ms..1000 s per key, 10 qps burst 100),
    as client-go's ``DefaultTypedControllerRateLimiter``.

Limiters are used from one event loop and are not thread-safe.
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from typing import Protocol

from innodb_operator.clock import Clock, MonotonicClock


class RateLimiter(Protocol):
    """What a :class:`~innodb_operator.workqueue.ratelimited.RateLimitingQueue` needs."""

    def when(self, key: Hashable) -> float:
        """Record a retry of ``key`` and return the seconds to wait before it."""
        ...

    def forget(self, key: Hashable) -> None:
        """Stop tracking ``key``: its next retry starts from the smallest delay."""
        ...

    def retries(self, key: Hashable) -> int:
        """How many retries of ``key`` are being tracked."""
        ...


class ItemExponentialFailureRateLimiter:
    """Per-key exponential backoff: the n-th failure (from 0) waits ``base * 2**n``, at most ``cap``."""

    def __init__(self, base: float = 0.005, cap: float = 1000.0) -> None:
        if base < 0 or cap < 0:
            raise ValueError("base and cap must be >= 0")
        self._base = base
        self._cap = cap
        self._failures: dict[Hashable, int] = {}

    def when(self, key: Hashable) -> float:
        """Count one more failure of ``key`` and return its backoff."""
        exponent = self._failures.get(key, 0)
        self._failures[key] = exponent + 1
        try:
            backoff = math.ldexp(self._base, exponent)
        except OverflowError:
            return self._cap
        return min(backoff, self._cap)

    def forget(self, key: Hashable) -> None:
        """Reset the failure count of ``key``."""
        self._failures.pop(key, None)

    def retries(self, key: Hashable) -> int:
        """Failures of ``key`` since it was last forgotten."""
        return self._failures.get(key, 0)


class TokenBucketRateLimiter:
    """One token bucket shared by all keys: ``burst`` tokens, refilled at ``qps`` per second.

    Every :meth:`when` takes a token, going into debt if none is left, and returns
    how long until that token is (or was) available. Within a burst the delay is 0;
    past it, consecutive calls get delays ``1/qps`` apart.
    """

    def __init__(self, qps: float = 10.0, burst: int = 100, *, clock: Clock | None = None) -> None:
        if not qps > 0 or math.isinf(qps):
            raise ValueError("qps must be a positive finite number")
        if burst < 1:
            raise ValueError("burst must be >= 1")
        self._qps = qps
        self._burst = burst
        self._clock: Clock = clock if clock is not None else MonotonicClock()
        self._tokens = float(burst)
        self._last = self._clock.now()

    def when(self, key: Hashable) -> float:
        """Reserve the next token and return the seconds until it is available."""
        now = self._clock.now()
        elapsed = max(0.0, now - self._last)
        self._last = max(self._last, now)
        self._tokens = min(float(self._burst), self._tokens + elapsed * self._qps)
        self._tokens -= 1.0
        if self._tokens >= 0:
            return 0.0
        return -self._tokens / self._qps

    def forget(self, key: Hashable) -> None:
        """No per-key state: nothing to forget."""

    def retries(self, key: Hashable) -> int:
        """No per-key state: always 0."""
        return 0


class MaxOfRateLimiter:
    """Combines limiters: the delay is the largest any of them asks for.

    Every limiter's :meth:`when` is called (each records the retry); :meth:`forget`
    goes to all of them; :meth:`retries` is the largest count any of them tracks.
    """

    def __init__(self, *limiters: RateLimiter) -> None:
        if not limiters:
            raise ValueError("at least one rate limiter is required")
        self._limiters = limiters

    def when(self, key: Hashable) -> float:
        """The largest delay among the limiters (all of them record the retry)."""
        return max([limiter.when(key) for limiter in self._limiters])

    def forget(self, key: Hashable) -> None:
        """Forget ``key`` in every limiter."""
        for limiter in self._limiters:
            limiter.forget(key)

    def retries(self, key: Hashable) -> int:
        """The largest retry count any limiter tracks for ``key``."""
        return max(limiter.retries(key) for limiter in self._limiters)


def default_controller_rate_limiter(clock: Clock | None = None) -> MaxOfRateLimiter:
    """Per-key backoff 5 ms doubling to 1000 s, and an overall 10 qps bucket with burst 100."""
    return MaxOfRateLimiter(
        ItemExponentialFailureRateLimiter(base=0.005, cap=1000.0),
        TokenBucketRateLimiter(qps=10.0, burst=100, clock=clock),
    )
