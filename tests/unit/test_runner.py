"""The worker runner: forget on success, backoff on errors, a raising reconcile never kills a worker."""

from __future__ import annotations

import asyncio
import io
import json
from collections import Counter
from collections.abc import Iterator

import pytest
import structlog

from innodb_operator.clock import FakeClock
from innodb_operator.controllers.runner import Controller, Result, enqueue_owner
from innodb_operator.kube.errors import ServerError
from innodb_operator.observability import logs
from innodb_operator.workqueue import RateLimitingQueue


class SyncedInformer:
    """The one informer method the runner calls."""

    def __init__(self) -> None:
        self.synced = asyncio.Event()

    async def wait_for_sync(self, timeout: float | None = None) -> bool:
        await self.synced.wait()
        return True


class ScriptedReconciler:
    """Raises or returns per key, as scripted; records every call."""

    def __init__(self, script: dict[str, list[object]]) -> None:
        self.script = script
        self.calls: Counter[str] = Counter()

    async def reconcile(self, key: str) -> Result:
        self.calls[key] += 1
        outcome = self.script.get(key, [Result()])
        step = outcome.pop(0) if len(outcome) > 1 else outcome[0]
        if isinstance(step, BaseException):
            raise step
        assert isinstance(step, Result)
        return step


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


@pytest.fixture
def captured_logs() -> Iterator[io.StringIO]:
    out = io.StringIO()
    logs.configure("json", "info")
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=out))
    yield out
    structlog.reset_defaults()


async def test_workers_wait_for_every_informer_to_sync() -> None:
    clock = FakeClock()
    queue: RateLimitingQueue[str] = RateLimitingQueue("t-sync", clock=clock)
    informers = [SyncedInformer(), SyncedInformer()]
    reconciler = ScriptedReconciler({})
    controller = Controller("t", reconciler, queue, informers, workers=2)  # type: ignore[arg-type]
    queue.add("ns/a")
    task = asyncio.create_task(controller.run())
    informers[0].synced.set()
    await settle()
    assert not controller.synced and reconciler.calls["ns/a"] == 0
    informers[1].synced.set()
    await settle()
    assert controller.synced and reconciler.calls["ns/a"] == 1
    await controller.stop(grace=1)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_a_raising_reconcile_is_logged_once_retried_with_backoff_and_the_worker_survives(
    captured_logs: io.StringIO,
) -> None:
    clock = FakeClock()
    queue: RateLimitingQueue[str] = RateLimitingQueue("t-errors", clock=clock)
    informer = SyncedInformer()
    informer.synced.set()
    reconciler = ScriptedReconciler({
        "ns/bad": [ValueError("boom"), ValueError("boom again"), Result()],
        "ns/good": [Result()],
    })
    controller = Controller("t", reconciler, queue, [informer], workers=1)  # type: ignore[arg-type]
    task = asyncio.create_task(controller.run())
    queue.add("ns/bad")
    await settle()
    assert reconciler.calls["ns/bad"] == 1
    # First retry after 5 ms, the second after 10 ms: the per-item backoff doubles.
    clock.advance(0.004)
    await settle()
    assert reconciler.calls["ns/bad"] == 1
    clock.advance(0.001)
    await settle()
    assert reconciler.calls["ns/bad"] == 2
    clock.advance(0.009)
    await settle()
    assert reconciler.calls["ns/bad"] == 2
    clock.advance(0.001)
    await settle()
    assert reconciler.calls["ns/bad"] == 3
    # Success forgot the failures; the same worker still serves other keys.
    assert queue.num_requeues("ns/bad") == 0
    queue.add("ns/good")
    await settle()
    assert reconciler.calls["ns/good"] == 1
    lines = [json.loads(line) for line in captured_logs.getvalue().splitlines()]
    failures = [line for line in lines if line["event"] == "reconcile raised, will retry"]
    assert len(failures) == 2
    assert all("ValueError" in line["exception"] and line["key"] == "ns/bad" for line in failures)
    assert all(len(line["reconcile_id"]) == 8 for line in failures)
    await controller.stop(grace=1)
    await asyncio.gather(task, return_exceptions=True)


async def test_temporary_errors_back_off_without_a_traceback(captured_logs: io.StringIO) -> None:
    clock = FakeClock()
    queue: RateLimitingQueue[str] = RateLimitingQueue("t-retry", clock=clock)
    informer = SyncedInformer()
    informer.synced.set()
    reconciler = ScriptedReconciler({"ns/a": [ServerError("503"), ServerError("503"), Result()]})
    controller = Controller("t", reconciler, queue, [informer], workers=1)  # type: ignore[arg-type]
    task = asyncio.create_task(controller.run())
    queue.add("ns/a")
    await settle()
    clock.advance(0.005)
    await settle()
    clock.advance(0.010)
    await settle()
    assert reconciler.calls["ns/a"] == 3
    assert "Traceback" not in captured_logs.getvalue()
    await controller.stop(grace=1)
    await asyncio.gather(task, return_exceptions=True)


async def test_success_with_requeue_after_comes_back_after_that_delay() -> None:
    clock = FakeClock()
    queue: RateLimitingQueue[str] = RateLimitingQueue("t-poll", clock=clock)
    informer = SyncedInformer()
    informer.synced.set()
    reconciler = ScriptedReconciler({"ns/a": [Result(requeue_after=30)]})
    controller = Controller("t", reconciler, queue, [informer], workers=1)  # type: ignore[arg-type]
    task = asyncio.create_task(controller.run())
    queue.add("ns/a")
    await settle()
    clock.advance(29.9)
    await settle()
    assert reconciler.calls["ns/a"] == 1
    clock.advance(0.1)
    await settle()
    assert reconciler.calls["ns/a"] == 2
    await controller.stop(grace=1)
    await asyncio.gather(task, return_exceptions=True)


async def test_stop_lets_an_in_flight_reconcile_finish_within_the_grace_period() -> None:
    clock = FakeClock()
    queue: RateLimitingQueue[str] = RateLimitingQueue("t-stop", clock=clock)
    informer = SyncedInformer()
    informer.synced.set()
    release = asyncio.Event()
    finished: list[str] = []

    class Slow:
        async def reconcile(self, key: str) -> Result:
            await release.wait()
            finished.append(key)
            return Result()

    controller = Controller("t", Slow(), queue, [informer], workers=1)  # type: ignore[arg-type]
    task = asyncio.create_task(controller.run())
    queue.add("ns/a")
    await settle()
    stopping = asyncio.create_task(controller.stop(grace=5))
    await settle()
    queue.add("ns/b")  # no new work is taken once stopping
    release.set()
    await stopping
    assert finished == ["ns/a"]
    await asyncio.gather(task, return_exceptions=True)


def test_child_events_enqueue_the_owning_cluster_and_resyncs_are_skipped() -> None:
    queue: RateLimitingQueue[str] = RateLimitingQueue("t-owner", clock=FakeClock())
    on_add, on_update, on_delete = enqueue_owner(queue, "InnoDBCluster", "mysql.innodb-operator.dev")
    pod = {"metadata": {"namespace": "ns", "name": "c-0", "resourceVersion": "5", "ownerReferences": [
        {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "c"},
        {"apiVersion": "mysql.innodb-operator.dev/v1alpha1", "kind": "InnoDBCluster", "name": "c"},
    ]}}
    stranger = {"metadata": {"namespace": "ns", "name": "x", "resourceVersion": "1"}}
    on_add(stranger)
    assert len(queue) == 0
    on_update(pod, pod)  # resync: same resourceVersion
    assert len(queue) == 0
    on_delete(pod)
    assert len(queue) == 1
