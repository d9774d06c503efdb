"""The rate-limited work queue that feeds controllers, after client-go's ``util/workqueue``.

Three thin layers, each a subclass of the one before:

  * :class:`WorkQueue` (``queue.py``): fair FIFO of keys; a key queued twice is
    processed once; a key is never held by two workers; a key re-added while it is
    processed is processed again after :meth:`WorkQueue.done`.
  * :class:`DelayingQueue` (``delaying.py``): ``add_after(key, delay)``, folding to
    the earliest due time.
  * :class:`RateLimitingQueue` (``ratelimited.py``): ``add_rate_limited`` /
    ``forget`` / ``num_requeues`` through a :class:`RateLimiter` (``ratelimit.py``).

Time always comes from an injected :class:`~innodb_operator.clock.Clock`; metrics go to
an injected :class:`QueueMetricsProvider` (``metrics.py``), as client-go's do.
This package imports only ``innodb_operator.clock``.
"""

from innodb_operator.workqueue.delaying import DelayingQueue
from innodb_operator.workqueue.metrics import NoMetrics, QueueMetricsProvider
from innodb_operator.workqueue.queue import ShutDown, WorkQueue
from innodb_operator.workqueue.ratelimit import (
    ItemExponentialFailureRateLimiter,
    MaxOfRateLimiter,
    RateLimiter,
    TokenBucketRateLimiter,
    default_controller_rate_limiter,
)
from innodb_operator.workqueue.ratelimited import RateLimitingQueue

__all__ = [
    "DelayingQueue",
    "ItemExponentialFailureRateLimiter",
    "MaxOfRateLimiter",
    "NoMetrics",
    "QueueMetricsProvider",
    "RateLimiter",
    "RateLimitingQueue",
    "ShutDown",
    "TokenBucketRateLimiter",
    "WorkQueue",
    "default_controller_rate_limiter",
]
