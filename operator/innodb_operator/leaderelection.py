"""Leader election through a ``coordination.k8s.io/v1`` Lease.

Contract:
  * At most one replica believes it leads at any time, provided clocks tick at the
    same rate: a follower only takes a lease it has watched go unrenewed for a full
    ``lease_duration`` of its own monotonic time (it never compares wall clocks).
  * The leader renews every ``renew_period``. If it cannot renew for
    ``renew_deadline`` (two thirds of the lease duration) it raises
    :class:`LostLeadership`; the process must stop reconciling at once and exit.
  * :meth:`LeaderElector.release` (clean shutdown) clears the holder, so a follower,
    which watches the Lease, takes over without waiting for expiry.
  * Followers read through a watch on the one Lease object: cheap while idle,
    immediate on release. All updates are optimistic (PUT with resourceVersion);
    a Conflict means somebody else wrote first, and we look again.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from typing import Any

import structlog

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
        lease_duration: float = 15.0, renew_period: float = 5.0,
    ) -> None:
        self._client = client
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
        LEADER.labels(lease=name).set(0)

    @property
    def is_leader(self) -> bool:
        return self._leading.is_set()

    def healthy(self, now: float | None = None) -> bool:
        """Leading, or standing by with a recent successful look at the Lease."""
        now = time.monotonic() if now is None else now
        return self.is_leader or now - self.last_contact < self.lease_duration + self.renew_period * 2

    async def wait_until_leading(self) -> None:
        await self._leading.wait()

    async def run(self) -> None:
        """Follow until the lease is ours, then renew it; raises LostLeadership if renewal fails."""
        await self._acquire()
        self._leading.set()
        LEADER.labels(lease=self.name).set(1)
        log.info("became leader", lease=f"{self.namespace}/{self.name}", identity=self.identity)
        await self._renew_forever()

    async def release(self) -> None:
        """Give the lease up (only if we hold it) so a follower can take over at once."""
        if not self.is_leader:
            return
        self._leading.clear()
        LEADER.labels(lease=self.name).set(0)
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

    async def _acquire(self) -> None:
        while True:
            try:
                if await self._try_acquire_or_renew():
                    return
            except errors.KubeError as exc:
                log.warning("leader election: lease not readable, will retry", error=repr(exc))
                await asyncio.sleep(self.renew_period)
                continue
            await self._wait_for_change()

    async def _renew_forever(self) -> None:
        last_renew = time.monotonic()
        while True:
            await asyncio.sleep(self.renew_period)
            try:
                if await self._try_acquire_or_renew():
                    last_renew = time.monotonic()
                    continue
                reason = "another replica holds the lease"
            except errors.KubeError as exc:
                reason = repr(exc)
            if time.monotonic() - last_renew >= self.renew_deadline:
                self._leading.clear()
                LEADER.labels(lease=self.name).set(0)
                raise LostLeadership(f"could not renew lease {self.namespace}/{self.name}: {reason}")
            log.warning("lease renewal failed, retrying", reason=reason)

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
            self.last_contact = time.monotonic()
            return True
        self.last_contact = time.monotonic()
        spec: dict[str, Any] = dict(lease.get("spec") or {})
        holder = spec.get("holderIdentity") or ""
        self._observe(holder, str(spec.get("renewTime", "")))
        duration = float(spec.get("leaseDurationSeconds") or self.lease_duration)
        expired = time.monotonic() - self._observed_at >= duration
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
            self._observed_at = time.monotonic()

    async def _wait_for_change(self) -> None:
        """Sleep until the lease could have expired, waking early on any change to it."""
        remaining = max(0.05, self._observed_at + self.lease_duration - time.monotonic())
        with contextlib.suppress(asyncio.TimeoutError, errors.KubeError):
            async with asyncio.timeout(remaining) as deadline:
                _, resource_version = await self._client.list(
                    LEASES, self.namespace, field_selector=f"metadata.name={self.name}")
                async for event in self._client.watch(
                    LEASES, self.namespace, resource_version=resource_version,
                    timeout_seconds=max(1, int(remaining) + 1), allow_bookmarks=False,
                    field_selector=f"metadata.name={self.name}",
                ):
                    spec = (event.get("object") or {}).get("spec") or {}
                    holder = spec.get("holderIdentity") or ""
                    self.last_contact = time.monotonic()
                    if event.get("type") == "DELETED" or not holder:
                        return
                    self._observe(holder, str(spec.get("renewTime", "")))
                    # A renewal pushes the earliest possible expiry out.
                    remaining = max(0.05, self._observed_at + self.lease_duration - time.monotonic())
                    deadline.reschedule(asyncio.get_running_loop().time() + remaining)
