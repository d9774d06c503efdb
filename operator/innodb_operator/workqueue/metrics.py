"""How a queue reports its metrics: through a provider it is given, as client-go's ``MetricsProvider``.

Contract:
  * A queue asks its provider once, at construction, for each of its metrics by queue name,
    and then only calls ``set``/``inc``/``observe`` on what it got back.
  * In-flight figures (unfinished work, longest running processor) are handed over as
    callables, so a provider can compute them when it is scraped.
  * Without a provider a queue reports nothing (:class:`NoMetrics`); the composition root
    passes the Prometheus one (:mod:`innodb_operator.observability.metrics`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol


class GaugeMetric(Protocol):
    def set(self, value: float) -> None: ...


class CounterMetric(Protocol):
    def inc(self, amount: float = 1) -> None: ...


class HistogramMetric(Protocol):
    def observe(self, amount: float) -> None: ...


class QueueMetricsProvider(Protocol):
    """Makes the metrics of the queue called ``name``."""

    def depth(self, name: str) -> GaugeMetric: ...

    def adds(self, name: str) -> CounterMetric: ...

    def queue_duration(self, name: str) -> HistogramMetric: ...

    def work_duration(self, name: str) -> HistogramMetric: ...

    def retries(self, name: str) -> CounterMetric: ...

    def in_flight(self, name: str, unfinished_work_seconds: Callable[[], float],
                  longest_running_processor_seconds: Callable[[], float]) -> None: ...


class _Discard:
    def set(self, value: float) -> None:
        pass

    def inc(self, amount: float = 1) -> None:
        pass

    def observe(self, amount: float) -> None:
        pass


class NoMetrics:
    """A provider that records nothing."""

    def depth(self, name: str) -> GaugeMetric:
        return _Discard()

    def adds(self, name: str) -> CounterMetric:
        return _Discard()

    def queue_duration(self, name: str) -> HistogramMetric:
        return _Discard()

    def work_duration(self, name: str) -> HistogramMetric:
        return _Discard()

    def retries(self, name: str) -> CounterMetric:
        return _Discard()

    def in_flight(self, name: str, unfinished_work_seconds: Callable[[], float],
                  longest_running_processor_seconds: Callable[[], float]) -> None:
        pass
