"""Every Prometheus metric the operator exports, in one registry, under one prefix.

Contract:
  * All families live in :data:`REGISTRY` (not prometheus-client's global one), so a
    test can read values without interference from other libraries, and ``/metrics``
    serves exactly this set.
  * Names start with ``innodb_operator_``. Label values are kinds, verbs, resources,
    codes and queue names: never object names with secrets, never passwords.
  * Gauges that describe in-flight work (unfinished work, longest running processor)
    are computed at scrape time from the queues registered with
    :func:`register_queue_probe`, so they are exact whenever Prometheus looks.
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

# --- work queue -------------------------------------------------------------------

WORKQUEUE_DEPTH = Gauge(
    f"{PREFIX}_workqueue_depth", "Keys waiting in the queue, ready to be handed out.",
    ["name"], registry=REGISTRY,
)
WORKQUEUE_ADDS = Counter(
    f"{PREFIX}_workqueue_adds_total", "Adds accepted by the queue (folded adds included).",
    ["name"], registry=REGISTRY,
)
WORKQUEUE_QUEUE_DURATION = Histogram(
    f"{PREFIX}_workqueue_queue_duration_seconds", "Time a key waited in the queue before a worker took it.",
    ["name"], buckets=_DURATION_BUCKETS, registry=REGISTRY,
)
WORKQUEUE_WORK_DURATION = Histogram(
    f"{PREFIX}_workqueue_work_duration_seconds", "Time from a worker taking a key to calling done.",
    ["name"], buckets=_DURATION_BUCKETS, registry=REGISTRY,
)
WORKQUEUE_RETRIES = Counter(
    f"{PREFIX}_workqueue_retries_total", "Rate-limited re-adds (retries after an error).",
    ["name"], registry=REGISTRY,
)


@dataclass(frozen=True)
class QueueProbe:
    """Scrape-time view of one queue's in-flight work."""

    name: str
    unfinished_work_seconds: Callable[[], float]
    longest_running_processor_seconds: Callable[[], float]


class _QueueProbeCollector(Collector):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._probes: dict[str, QueueProbe] = {}

    def register(self, probe: QueueProbe) -> None:
        with self._lock:
            self._probes[probe.name] = probe

    def unregister(self, name: str) -> None:
        with self._lock:
            self._probes.pop(name, None)

    def collect(self) -> Iterable[GaugeMetricFamily]:
        unfinished = GaugeMetricFamily(
            f"{PREFIX}_workqueue_unfinished_work_seconds",
            "Seconds of work in progress that has not been marked done (sum over workers).",
            labels=["name"],
        )
        longest = GaugeMetricFamily(
            f"{PREFIX}_workqueue_longest_running_processor_seconds",
            "Seconds the longest running worker has been on its current key.",
            labels=["name"],
        )
        with self._lock:
            probes = list(self._probes.values())
        for probe in probes:
            unfinished.add_metric([probe.name], probe.unfinished_work_seconds())
            longest.add_metric([probe.name], probe.longest_running_processor_seconds())
        yield unfinished
        yield longest


_QUEUE_PROBES = _QueueProbeCollector()
REGISTRY.register(_QUEUE_PROBES)


def register_queue_probe(probe: QueueProbe) -> None:
    """Export a queue's in-flight gauges; a later probe with the same name replaces it."""
    _QUEUE_PROBES.register(probe)


def unregister_queue_probe(name: str) -> None:
    _QUEUE_PROBES.unregister(name)


# --- reconcile --------------------------------------------------------------------

RECONCILE_TOTAL = Counter(
    f"{PREFIX}_reconcile_total", "Reconcile passes by controller and result (success, requeue, error).",
    ["controller", "result"], registry=REGISTRY,
)
RECONCILE_ERRORS = Counter(
    f"{PREFIX}_reconcile_errors_total", "Reconcile passes that raised.",
    ["controller"], registry=REGISTRY,
)
RECONCILE_DURATION = Histogram(
    f"{PREFIX}_reconcile_duration_seconds", "Wall time of one reconcile pass.",
    ["controller", "result"], buckets=_DURATION_BUCKETS, registry=REGISTRY,
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

# --- process ----------------------------------------------------------------------

LEADER = Gauge(
    f"{PREFIX}_leader_is_leader", "1 while this process holds the leader lease, else 0.",
    ["lease"], registry=REGISTRY,
)
BUILD_INFO = Gauge(
    f"{PREFIX}_build_info", "Always 1; labels carry the operator and Python versions.",
    ["version", "python_version"], registry=REGISTRY,
)
BUILD_INFO.labels(version=__version__, python_version=platform.python_version()).set(1)
