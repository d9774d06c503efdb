"""The worker runner: informers feed a rate-limited queue; N workers reconcile keys.

Contract:
  * Workers start only after every informer of the controller has synced
    (:attr:`Controller.synced` reports the same flag, for ``/readyz``).
  * A key is reconciled by at most one worker at a time (the queue guarantees it).
  * Each worker loop is ``get -> reconcile -> forget | add_after | add_rate_limited -> done``:
      - success: ``forget`` (reset backoff); if the result asks for a re-check, ``add_after``;
      - a temporary error (:func:`~innodb_operator.kube.errors.is_temporary`): logged in one
        line, then ``add_rate_limited`` (exponential backoff);
      - any other exception: logged once with its traceback, then ``add_rate_limited``.
    ``done`` is always called, in ``finally``. Nothing a reconcile raises stops a worker.
  * :meth:`Controller.stop` stops handing out keys, lets in-flight reconciles finish
    within the grace period, then cancels what is left.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import structlog

from innodb_operator.cache import Informer
from innodb_operator.kube.errors import is_temporary
from innodb_operator.observability.logs import reconcile_context
from innodb_operator.observability.metrics import (
    ACTIVE_WORKERS,
    MAX_CONCURRENT_RECONCILES,
    RECONCILE_ERRORS,
    RECONCILE_TIME,
    RECONCILE_TOTAL,
)
from innodb_operator.workqueue import RateLimitingQueue, ShutDown

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Result:
    """What a successful pass asks for: ``requeue_after`` seconds until the next look, or none."""

    requeue_after: float | None = None


class Reconciler(Protocol):
    async def reconcile(self, key: str) -> Result: ...


class Controller:
    """One kind's workers, queue and informers."""

    def __init__(
        self,
        name: str,
        reconciler: Reconciler,
        queue: RateLimitingQueue[str],
        informers: Sequence[Informer],
        *,
        workers: int = 2,
        sync_timeout: float | None = None,
    ) -> None:
        self.name = name
        self.queue = queue
        self._reconciler = reconciler
        self._informers = list(informers)
        self._workers = workers
        self._sync_timeout = sync_timeout
        self._worker_tasks: list[asyncio.Task[None]] = []
        self._synced = False

    @property
    def synced(self) -> bool:
        """True once every informer has synced and the workers have started."""
        return self._synced

    async def run(self) -> None:
        """Wait for the informers, then run the workers until :meth:`stop` or cancellation."""
        await asyncio.gather(*(inf.wait_for_sync(self._sync_timeout) for inf in self._informers))
        self._synced = True
        MAX_CONCURRENT_RECONCILES.labels(controller=self.name).set(self._workers)
        ACTIVE_WORKERS.labels(controller=self.name).set(0)
        # Exported as 0 before the first error, as controller-runtime does.
        RECONCILE_ERRORS.labels(controller=self.name)
        for result in ("success", "error", "requeue_after"):
            RECONCILE_TOTAL.labels(controller=self.name, result=result)
        log.info("controller started", controller=self.name, workers=self._workers)
        self._worker_tasks = [
            asyncio.create_task(self._worker(i), name=f"{self.name}-worker-{i}") for i in range(self._workers)
        ]
        try:
            await asyncio.gather(*self._worker_tasks)
        finally:
            for task in self._worker_tasks:
                task.cancel()

    async def stop(self, grace: float) -> None:
        """Stop taking keys; wait up to ``grace`` seconds for in-flight reconciles, then cancel them."""
        self.queue.shutdown()
        pending = [t for t in self._worker_tasks if not t.done()]
        if not pending:
            return
        _, still_running = await asyncio.wait(pending, timeout=grace)
        for task in still_running:
            task.cancel()
        if still_running:
            log.warning("reconciles cancelled after grace period", controller=self.name, count=len(still_running))
            await asyncio.gather(*still_running, return_exceptions=True)

    async def _worker(self, index: int) -> None:
        while True:
            try:
                key = await self.queue.get()
            except ShutDown:
                return
            try:
                await self._process(key)
            finally:
                self.queue.done(key)

    async def _process(self, key: str) -> None:
        started = time.monotonic()
        result_label = "error"
        active = ACTIVE_WORKERS.labels(controller=self.name)
        active.inc()
        with reconcile_context(self.name, key):
            try:
                result = await self._reconciler.reconcile(key)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # Unexpected or temporary: log once with the traceback, back off, retry.
                RECONCILE_ERRORS.labels(controller=self.name).inc()
                if is_temporary(exc):
                    log.warning("reconcile failed, will retry", error=repr(exc),
                                retries=self.queue.num_requeues(key))
                else:
                    log.exception("reconcile raised, will retry", retries=self.queue.num_requeues(key))
                self.queue.add_rate_limited(key)
            else:
                # Success: reset the backoff; come back later if asked to (level-triggered re-check).
                result_label = "success"
                self.queue.forget(key)
                if result.requeue_after is not None:
                    result_label = "requeue_after"
                    self.queue.add_after(key, result.requeue_after)
            finally:
                active.dec()
                RECONCILE_TOTAL.labels(controller=self.name, result=result_label).inc()
                RECONCILE_TIME.labels(controller=self.name).observe(time.monotonic() - started)


# --- event-to-key mappers ------------------------------------------------------------

Handler = Callable[..., None]


def object_key(obj: Any) -> str:
    meta = obj["metadata"]
    namespace = meta.get("namespace")
    return f"{namespace}/{meta['name']}" if namespace else str(meta["name"])


def enqueue_self(queue: RateLimitingQueue[str]) -> tuple[Handler, Handler, Handler]:
    """Handlers for the controller's own kind: every event enqueues the object's key.

    Resyncs (same resourceVersion) are enqueued too: they are the periodic level-triggered look.
    """

    def on_add(obj: Any) -> None:
        queue.add(object_key(obj))

    def on_update(old: Any, new: Any) -> None:
        queue.add(object_key(new))

    def on_delete(obj: Any) -> None:
        queue.add(object_key(obj))

    return on_add, on_update, on_delete


def enqueue_self_on_spec_change(queue: RateLimitingQueue[str]) -> tuple[Handler, Handler, Handler]:
    """Handlers for the controller's own kind that skip updates of the status alone.

    For a loop that writes status itself and looks again on its own timer: its own writes (and
    the other loop's) would otherwise wake it at once for nothing. Adds, deletes, spec changes
    (``generation``) and the start of a deletion are enqueued.
    """

    def on_add(obj: Any) -> None:
        queue.add(object_key(obj))

    def on_update(old: Any, new: Any) -> None:
        before, after = old["metadata"], new["metadata"]
        if (before.get("generation") == after.get("generation")
                and before.get("deletionTimestamp") == after.get("deletionTimestamp")):
            return
        queue.add(object_key(new))

    return on_add, on_update, on_add


def enqueue_owner(queue: RateLimitingQueue[str], owner_kind: str, owner_group: str) -> tuple[
    Handler, Handler, Handler
]:
    """Handlers for child kinds: an event enqueues the key of the owning ``owner_kind``.

    Updates whose resourceVersion did not change (informer resyncs) are skipped:
    the owner's own resync already covers them.
    """

    def owner_key(obj: Any) -> str | None:
        meta = obj.get("metadata") or {}
        for ref in meta.get("ownerReferences") or []:
            if ref.get("kind") == owner_kind and str(ref.get("apiVersion", "")).split("/")[0] == owner_group:
                return f"{meta.get('namespace')}/{ref['name']}"
        return None

    def on_any(obj: Any) -> None:
        key = owner_key(obj)
        if key is not None:
            queue.add(key)

    def on_update(old: Any, new: Any) -> None:
        if old["metadata"].get("resourceVersion") == new["metadata"].get("resourceVersion"):
            return
        on_any(new)

    return on_any, on_update, on_any



def enqueue_labelled(queue: RateLimitingQueue[str], label: str) -> tuple[Handler, Handler, Handler]:
    """Handlers for objects that name their cluster in ``label`` (e.g. pods, owned by a
    StatefulSet): an event enqueues ``<namespace>/<label value>``. Resyncs are skipped."""

    def on_any(obj: Any) -> None:
        meta = obj.get("metadata") or {}
        owner = (meta.get("labels") or {}).get(label)
        if owner and meta.get("namespace"):
            queue.add(f"{meta['namespace']}/{owner}")

    def on_update(old: Any, new: Any) -> None:
        if old["metadata"].get("resourceVersion") == new["metadata"].get("resourceVersion"):
            return
        on_any(new)

    return on_any, on_update, on_any
