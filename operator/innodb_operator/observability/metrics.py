"""The operator's own Prometheus metrics, in one registry.

Contract:
  * All families live in :data:`REGISTRY` (not prometheus-client's global one), so a
    test can read values without interference from other libraries, and ``/metrics``
    serves exactly this set (plus the cluster metrics of :mod:`.clusters`).
  * Runtime metrics carry the names controller-runtime and client-go export, so existing
    dashboards chart them: ``workqueue_*{name}``, ``controller_runtime_*{controller}``,
    ``rest_client_*``, ``leader_election_master_status{name}``. What only this operator has
    is prefixed ``innodb_operator_``. The former ``innodb_operator_workqueue_*``,
    ``innodb_operator_reconcile_*`` and ``innodb_operator_leader_is_leader`` families are
    gone: one name per figure.
  * Label values are kinds, verbs, resources, codes, hosts and queue names: never object
    names with secrets, never passwords.
  * Queues get their metrics through :class:`PrometheusQueueMetrics`, a
    :class:`~innodb_operator.workqueue.metrics.QueueMetricsProvider` the composition root
    injects. Its in-flight gauges (unfinished work, longest running processor) are computed
    at scrape time, so they are exact whenever Prometheus looks.
"""

from __future__ import annotations

import platform
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from innodb_operator import __version__

PREFIX = "innodb_operator"

REGISTRY = CollectorRegistry(auto_describe=True)

_DURATION_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

# --- work queue (client-go's names) ---------------------------------------------

WORKQUEUE_DEPTH = Gauge(
    "workqueue_depth", "Current depth of the work queue (keys ready to be handed out).",
    ["name"], registry=REGISTRY,
)
WORKQUEUE_ADDS = Counter(
    "workqueue_adds", "Adds handled by the work queue (folded adds included).",
    ["name"], registry=REGISTRY,
)
WORKQUEUE_QUEUE_DURATION = Histogram(
    "workqueue_queue_duration_seconds", "How long a key stays in the queue before a worker takes it.",
    ["name"], buckets=_DURATION_BUCKETS, registry=REGISTRY,
)
WORKQUEUE_WORK_DURATION = Histogram(
    "workqueue_work_duration_seconds", "How long processing a key takes (get to done).",
    ["name"], buckets=_DURATION_BUCKETS, registry=REGISTRY,
)
WORKQUEUE_RETRIES = Counter(
    "workqueue_retries", "Rate-limited re-adds (retries after an error).",
    ["name"], registry=REGISTRY,
)


@dataclass(frozen=True)
class _InFlight:
    unfinished_work_seconds: Callable[[], float]
    longest_running_processor_seconds: Callable[[], float]


class _InFlightCollector(Collector):
    """Scrape-time gauges of the queues' in-flight work."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queues: dict[str, _InFlight] = {}

    def register(self, name: str, probe: _InFlight) -> None:
        with self._lock:
            self._queues[name] = probe

    def unregister(self, name: str) -> None:
        with self._lock:
            self._queues.pop(name, None)

    def collect(self) -> Iterable[GaugeMetricFamily]:
        unfinished = GaugeMetricFamily(
            "workqueue_unfinished_work_seconds",
            "Seconds of work in progress that has not been marked done (sum over workers).",
            labels=["name"],
        )
        longest = GaugeMetricFamily(
            "workqueue_longest_running_processor_seconds",
            "Seconds the longest running worker has been on its current key.",
            labels=["name"],
        )
        with self._lock:
            queues = list(self._queues.items())
        for name, probe in queues:
            unfinished.add_metric([name], probe.unfinished_work_seconds())
            longest.add_metric([name], probe.longest_running_processor_seconds())
        yield unfinished
        yield longest


_IN_FLIGHT = _InFlightCollector()
REGISTRY.register(_IN_FLIGHT)


class PrometheusQueueMetrics:
    """The queue metrics provider backed by :data:`REGISTRY` (a later queue of the same name
    takes over its series)."""

    def depth(self, name: str) -> Gauge:
        return WORKQUEUE_DEPTH.labels(name=name)

    def adds(self, name: str) -> Counter:
        return WORKQUEUE_ADDS.labels(name=name)

    def queue_duration(self, name: str) -> Histogram:
        return WORKQUEUE_QUEUE_DURATION.labels(name=name)

    def work_duration(self, name: str) -> Histogram:
        return WORKQUEUE_WORK_DURATION.labels(name=name)

    def retries(self, name: str) -> Counter:
        return WORKQUEUE_RETRIES.labels(name=name)

    def in_flight(self, name: str, unfinished_work_seconds: Callable[[], float],
                  longest_running_processor_seconds: Callable[[], float]) -> None:
        _IN_FLIGHT.register(name, _InFlight(unfinished_work_seconds, longest_running_processor_seconds))

    @staticmethod
    def forget(name: str) -> None:
        """Stop exporting the in-flight gauges of queue ``name``."""
        _IN_FLIGHT.unregister(name)


# --- reconcile (controller-runtime's names) --------------------------------------

RECONCILE_TOTAL = Counter(
    "controller_runtime_reconcile", "Reconciles by controller and result (success, error, requeue, requeue_after).",
    ["controller", "result"], registry=REGISTRY,
)
RECONCILE_ERRORS = Counter(
    "controller_runtime_reconcile_errors", "Reconciles that raised.",
    ["controller"], registry=REGISTRY,
)
RECONCILE_TIME = Histogram(
    "controller_runtime_reconcile_time_seconds", "Wall time of one reconcile.",
    ["controller"], buckets=_DURATION_BUCKETS, registry=REGISTRY,
)
MAX_CONCURRENT_RECONCILES = Gauge(
    "controller_runtime_max_concurrent_reconciles", "Workers a controller runs.",
    ["controller"], registry=REGISTRY,
)
ACTIVE_WORKERS = Gauge(
    "controller_runtime_active_workers", "Workers busy with a reconcile right now.",
    ["controller"], registry=REGISTRY,
)

# --- watches and API requests ------------------------------------------------------

WATCH_RESTARTS = Counter(
    f"{PREFIX}_watch_restarts_total",
    "Watch streams restarted, by resource and reason (timeout, gone, error, relist).",
    ["resource", "reason"], registry=REGISTRY,
)
WATCH_EVENTS = Counter(
    f"{PREFIX}_watch_events_total", "Watch events received, by resource and type.",
    ["resource", "type"], registry=REGISTRY,
)
API_REQUESTS = Counter(
    f"{PREFIX}_api_requests_total",
    "Kubernetes API requests by verb, resource and HTTP status code (0: no response).",
    ["verb", "resource", "code"], registry=REGISTRY,
)
REST_CLIENT_REQUESTS = Counter(
    "rest_client_requests", "Kubernetes API requests by HTTP status code (0: no response), method and host.",
    ["code", "method", "host"], registry=REGISTRY,
)
REST_CLIENT_DURATION = Histogram(
    "rest_client_request_duration_seconds", "Kubernetes API request latency until the response headers, by verb "
    "(HTTP method) and host.",
    ["verb", "host"], buckets=_DURATION_BUCKETS, registry=REGISTRY,
)

# --- process ----------------------------------------------------------------------

LEADER = Gauge(
    "leader_election_master_status", "1 while this process holds the leader Lease called name, else 0.",
    ["name"], registry=REGISTRY,
)
BUILD_INFO = Gauge(
    f"{PREFIX}_build_info", "Always 1; labels carry the operator and Python versions.",
    ["version", "python_version"], registry=REGISTRY,
)
BUILD_INFO.labels(version=__version__, python_version=platform.python_version()).set(1)
