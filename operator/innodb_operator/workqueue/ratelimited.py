"""The queue controllers use: a delaying work queue that retries keys through a rate limiter.

Contract (client-go's ``RateLimitingInterface``):

  * :meth:`RateLimitingQueue.add_rate_limited` asks the limiter how long ``key`` must
    wait (recording one more retry) and adds it after that delay, folding with any
    earlier pending delayed add. It counts as a retry in the queue's metrics.
  * :meth:`RateLimitingQueue.forget` tells the limiter the key succeeded: its backoff
    starts over. It does NOT remove the key from the queue; every worker still calls
    ``done(key)`` after each pass, and calls ``forget(key)`` on success.
  * :meth:`RateLimitingQueue.num_requeues` is the limiter's retry count for the key.
  * Everything else (folding, one worker per key, shutdown) is :class:`DelayingQueue`
    and :class:`WorkQueue` behaviour. The default limiter is
    :func:`~innodb_operator.workqueue.ratelimit.default_controller_rate_limiter` on the
    queue's clock.

Typical worker::

    key = await queue.get()
    try:
        await reconcile(key)
    except Exception:
        queue.add_rate_limited(key)
    else:
        queue.forget(key)
    finally:
        queue.done(key)
"""

from __future__ import annotations

from innodb_operator.clock import Clock
from innodb_operator.workqueue.delaying import DelayingQueue
from innodb_operator.workqueue.metrics import QueueMetricsProvider
from innodb_operator.workqueue.queue import K
from innodb_operator.workqueue.ratelimit import RateLimiter, default_controller_rate_limiter


class RateLimitingQueue(DelayingQueue[K]):
    """A :class:`DelayingQueue` whose retries are spaced by a :class:`RateLimiter`."""

    def __init__(
        self, name: str, *, clock: Clock | None = None, rate_limiter: RateLimiter | None = None,
        metrics: QueueMetricsProvider | None = None,
    ) -> None:
        super().__init__(name, clock=clock, metrics=metrics)
        self._rate_limiter: RateLimiter = (
            rate_limiter if rate_limiter is not None else default_controller_rate_limiter(self._clock)
        )

    @property
    def rate_limiter(self) -> RateLimiter:
        """The limiter that spaces retries."""
        return self._rate_limiter

    def add_rate_limited(self, key: K) -> None:
        """Add ``key`` after the limiter's delay for it. Ignored once shutting down."""
        if self._shutting_down:
            return
        self._m_retries.inc()
        self.add_after(key, self._rate_limiter.when(key))

    def forget(self, key: K) -> None:
        """Reset the limiter's backoff for ``key`` (after a successful pass)."""
        self._rate_limiter.forget(key)

    def num_requeues(self, key: K) -> int:
        """How many rate-limited retries of ``key`` the limiter is tracking."""
        return self._rate_limiter.retries(key)
