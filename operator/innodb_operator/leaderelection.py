"""Leader election through a ``coordination.k8s.io/v1`` Lease.

Contract:
  * At most one replica believes it leads at any time, provided clocks tick at the
    same rate: a follower only takes a lease it has watched go unrenewed for a full
    ``lease_duration`` of its own monotonic time (it never compares wall clocks).
  * The leader renews every ``renew_period``. Each attempt runs under a deadline of
    ``renew_deadline`` (two thirds of the lease duration) after the start of the last
    successful renewal, so a hung GET or PUT cannot keep it leading: when the deadline
    passes, or as soon as the Lease names another holder, it stops leading and raises
    :class:`LostLeadership`; the process must stop reconciling at once and exit.
  * :meth:`LeaderElector.release` (clean shutdown) clears the holder, so a follower,
    which watches the Lease, takes over without waiting for expiry.
  * Followers read through a watch on the one Lease object: cheap while idle,
    immediate on release. All updates are optimistic (PUT with resourceVersion);
    a Conflict means somebody else wrote first, and we look again.
  * Time comes from an injectable :class:`~innodb_operator.clock.Clock` (the wall clock is
    used only for the timestamps written into the Lease).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any, NoReturn

import structlog

from innodb_operator.clock import Clock, MonotonicClock, wait_for
from innodb_operator.kube import errors
from innodb_operator.kube.client import KubeClient
from innodb_operator.kube.resources import LEASES
from innodb_operator.observability.metrics import LEADER

log = structlog.get_logger(__name__)


class LostLeadership(Exception):
    """The lease could not be renewed in time; this replica must stop acting."""


def _micro_time(now: dt.datetime | None = None) -> str:
    return (now or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderElector:
    """Acquire, hold and release one Lease for ``identity``."""

    def __init__(
        self, client: KubeClient, *, name: str, namespace: str, identity: str,
        lease_duration: float = 15.0, renew_period: float = 5.0, clock: Clock | None = None,
    ) -> None:
        self._client = client
        self._clock: Clock = clock or MonotonicClock()
        self.name = name
        self.namespace = namespace
        self.identity = identity
        self.lease_duration = lease_duration
        self.renew_period = renew_period
        self.renew_deadline = lease_duration * 2 / 3
        self._leading = asyncio.Event()
        self._observed: tuple[str, str] | None = None  # (holder, renewTime) last seen
        self._observed_at = 0.0  # monotonic time the observed record last changed
        self.last_contact = 0.0  # monotonic time of the last successful API call
        LEADER.labels(name=name).set(0)

    @property
    def is_leader(self) -> bool:
        return self._leading.is_set()

    def healthy(self, now: float | None = None) -> bool:
        """Leading, or standing by with a recent successful look at the Lease."""
        now = self._clock.now() if now is None else now
        return self.is_leader or now - self.last_contact < self.lease_duration + self.renew_period * 2

    async def wait_until_leading(self) -> None:
        await self._leading.wait()

    async def run(self) -> None:
        """Follow until the lease is ours, then renew it; raises LostLeadership if renewal fails."""
        acquired_at = await self._acquire()
        self._leading.set()
        LEADER.labels(name=self.name).set(1)
        log.info("became leader", lease=f"{self.namespace}/{self.name}", identity=self.identity)
        await self._renew_forever(acquired_at)

    async def release(self) -> None:
        """Give the lease up (only if we hold it) so a follower can take over at once."""
        if not self.is_leader:
            return
        self._leading.clear()
        LEADER.labels(name=self.name).set(0)
        try:
            lease = await self._client.get(LEASES, self.name, self.namespace)
            if (lease.get("spec") or {}).get("holderIdentity") != self.identity:
                return
            lease["spec"]["holderIdentity"] = None
            lease["spec"]["leaseDurationSeconds"] = 1
            lease["spec"]["renewTime"] = _micro_time()
            await self._client.replace(LEASES, lease, self.namespace)
            log.info("released leader lease", lease=f"{self.namespace}/{self.name}")
        except errors.KubeError as exc:
            log.warning("could not release leader lease; followers wait for expiry", error=repr(exc))

    # --- internals -----------------------------------------------------------------

    async def _acquire(self) -> float:
        """Follow until the lease is ours; the clock time the successful attempt started."""
        while True:
            started = self._clock.now()
            try:
                # Same deadline as a renewal: an answer that comes later leaves too little lease to act on.
                if await wait_for(self._clock, self._try_acquire_or_renew(), self.renew_deadline):
                    return started
            except (errors.KubeError, TimeoutError) as exc:
                log.warning("leader election: lease not readable, will retry", error=repr(exc))
                await self._clock.sleep(self.renew_period)
                continue
            await self._wait_for_change()

    async def _renew_forever(self, last_renew: float) -> None:
        """Renew until a renewal cannot be confirmed in time; ``last_renew`` is when the last good attempt started.

        Deadlines count from the *start* of an attempt: the API server stored the renewal after
        that, so a follower cannot take over before ``last_renew + lease_duration``.
        """
        while True:
            await self._clock.sleep(self.renew_period)
            started = self._clock.now()
            remaining = last_renew + self.renew_deadline - started
            if remaining <= 0:
                self._lose("the renew deadline passed before the next attempt")
            try:
                if await wait_for(self._clock, self._try_acquire_or_renew(), remaining):
                    last_renew = started
                    continue
                holder = self._observed[0] if self._observed else ""
                if holder and holder != self.identity:
                    self._lose(f"the lease is held by {holder}")
                reason = "the lease changed while renewing (conflict)"
            except TimeoutError:
                self._lose(f"no renewal within the renew deadline ({self.renew_deadline:.3g}s)")
            except errors.KubeError as exc:
                reason = repr(exc)
            if self._clock.now() - last_renew >= self.renew_deadline:
                self._lose(reason)
            log.warning("lease renewal failed, retrying", reason=reason)

    def _lose(self, reason: str) -> NoReturn:
        self._leading.clear()
        LEADER.labels(name=self.name).set(0)
        raise LostLeadership(f"could not renew lease {self.namespace}/{self.name}: {reason}")

    async def _try_acquire_or_renew(self) -> bool:
        """One attempt; True when we hold the lease afterwards."""
        now = _micro_time()
        try:
            lease = await self._client.get(LEASES, self.name, self.namespace)
        except errors.NotFound:
            body = {
                "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": self.name, "namespace": self.namespace},
                "spec": {"holderIdentity": self.identity, "leaseDurationSeconds": int(self.lease_duration),
                         "acquireTime": now, "renewTime": now, "leaseTransitions": 0},
            }
            try:
                await self._client.create(LEASES, body, self.namespace)
            except errors.Conflict:
                return False
            self.last_contact = self._clock.now()
            return True
        self.last_contact = self._clock.now()
        spec: dict[str, Any] = dict(lease.get("spec") or {})
        holder = spec.get("holderIdentity") or ""
        self._observe(holder, str(spec.get("renewTime", "")))
        duration = float(spec.get("leaseDurationSeconds") or self.lease_duration)
        expired = self._clock.now() - self._observed_at >= duration
        if holder and holder != self.identity and not expired:
            return False
        if holder != self.identity:
            spec["acquireTime"] = now
            spec["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + (1 if holder else 0)
        spec.update(holderIdentity=self.identity, renewTime=now, leaseDurationSeconds=int(self.lease_duration))
        lease["spec"] = spec
        try:
            await self._client.replace(LEASES, lease, self.namespace)
        except errors.Conflict:
            return False
        return True

    def _observe(self, holder: str, renew_time: str) -> None:
        if self._observed != (holder, renew_time):
            self._observed = (holder, renew_time)
            self._observed_at = self._clock.now()

    async def _wait_for_change(self) -> None:
        """Sleep until the lease could have expired, waking early on a release or a deletion.

        A renewal seen on the watch pushes the earliest possible expiry out; the wait ends
        too when the watch ends normally (server timeout), so the caller looks again. A watch
        that fails is not retried here: the wait then runs to the known expiry (no hot loop
        against a failing API server).
        """
        remaining = max(0.05, self._observed_at + self.lease_duration - self._clock.now())
        watcher = asyncio.ensure_future(self._watch_until_released(max(1, int(remaining) + 1)))
        try:
            while True:
                timer = asyncio.ensure_future(self._clock.sleep(remaining))
                try:
                    await asyncio.wait({watcher, timer}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    timer.cancel()
                if watcher.done() and watcher.result():
                    return
                remaining = self._observed_at + self.lease_duration - self._clock.now()
                if remaining <= 0:
                    return
        finally:
            if not watcher.done():
                watcher.cancel()
                await asyncio.wait({watcher})

    async def _watch_until_released(self, timeout_seconds: int) -> bool:
        """Follow the Lease, recording renewals, until it is released or deleted (True), the
        watch ends (True) or fails (False)."""
        try:
            items, resource_version = await self._client.list(
                LEASES, self.namespace, field_selector=f"metadata.name={self.name}")
            self.last_contact = self._clock.now()
            # Released or deleted since the caller's GET: the watch would start after that change.
            if not items or not (items[0].get("spec") or {}).get("holderIdentity"):
                return True
            self._observe(str(items[0]["spec"]["holderIdentity"]), str(items[0]["spec"].get("renewTime", "")))
            async for event in self._client.watch(
                LEASES, self.namespace, resource_version=resource_version,
                timeout_seconds=timeout_seconds, allow_bookmarks=False,
                field_selector=f"metadata.name={self.name}",
            ):
                spec = (event.get("object") or {}).get("spec") or {}
                holder = spec.get("holderIdentity") or ""
                self.last_contact = self._clock.now()
                if event.get("type") == "DELETED" or not holder:
                    return True
                self._observe(holder, str(spec.get("renewTime", "")))
        except errors.KubeError as exc:
            log.debug("leader election: watching the lease failed; waiting for its expiry", error=repr(exc))
            return False
        return True
