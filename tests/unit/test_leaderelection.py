"""Leader election on a fake clock: a leader stops leading by its renew deadline, whatever the API does."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator
from typing import Any

import pytest

from innodb_operator.clock import FakeClock, wait_for
from innodb_operator.kube import errors
from innodb_operator.kube.resources import ResourceType
from innodb_operator.leaderelection import LeaderElector, LostLeadership

LEASE = 3.0  # renew deadline: 2.0 (exact in binary floating point)
RENEW = 1.0


async def settle() -> None:
    """Let every runnable coroutine run (no wall-clock wait)."""
    for _ in range(100):
        await asyncio.sleep(0)


async def forever() -> None:
    await asyncio.Event().wait()


class FakeLeases:
    """One Lease with optimistic concurrency; each verb can be made to hang or fail."""

    def __init__(self) -> None:
        self.lease: dict[str, Any] | None = None
        self.version = 0
        self.hang: set[str] = set()
        self.fail: errors.KubeError | None = None
        self.cancelled: list[str] = []
        self.events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.lists = 0
        self.watch_fails = False
        self.release_before_list = False

    async def _maybe_hang(self, verb: str) -> None:
        if verb in self.hang:
            try:
                await forever()
            except asyncio.CancelledError:
                self.cancelled.append(verb)
                raise
        if self.fail is not None:
            raise self.fail

    def _store(self, body: dict[str, Any]) -> dict[str, Any]:
        self.version += 1
        self.lease = copy.deepcopy(body)
        self.lease["metadata"]["resourceVersion"] = str(self.version)
        return copy.deepcopy(self.lease)

    def hold(self, holder: str, renew_time: str = "2030-01-01T00:00:00.000000Z") -> None:
        """Someone else writes the Lease."""
        spec = {"holderIdentity": holder, "leaseDurationSeconds": int(LEASE), "renewTime": renew_time}
        self._store({"metadata": {"name": "leader", "namespace": "ns"}, "spec": spec})

    async def get(self, rt: ResourceType, name: str, namespace: str | None = None) -> dict[str, Any]:
        await self._maybe_hang("get")
        if self.lease is None:
            raise errors.NotFound("leases: not found", status=404)
        return copy.deepcopy(self.lease)

    async def create(self, rt: ResourceType, body: dict[str, Any], namespace: str | None = None) -> dict[str, Any]:
        await self._maybe_hang("create")
        if self.lease is not None:
            raise errors.Conflict("leases: already exists", status=409)
        return self._store(body)

    async def replace(self, rt: ResourceType, body: dict[str, Any], namespace: str | None = None) -> dict[str, Any]:
        await self._maybe_hang("replace")
        assert self.lease is not None
        if body["metadata"].get("resourceVersion") != self.lease["metadata"]["resourceVersion"]:
            raise errors.Conflict("leases: stale resourceVersion", status=409)
        return self._store(body)

    async def list(self, rt: ResourceType, namespace: str | None = None, **_: Any) -> tuple[list[Any], str]:
        self.lists += 1
        if self.watch_fails:
            raise errors.ServerError("leases: etcd unavailable", status=503)
        if self.release_before_list:
            self.hold("", "released")
        return ([copy.deepcopy(self.lease)] if self.lease else []), str(self.version)

    async def watch(self, rt: ResourceType, namespace: str | None = None, **_: Any) -> AsyncIterator[dict[str, Any]]:
        while True:
            yield await self.events.get()


def elector(client: FakeLeases, clock: FakeClock, identity: str = "a") -> LeaderElector:
    return LeaderElector(client, name="leader", namespace="ns", identity=identity,  # type: ignore[arg-type]
                         lease_duration=LEASE, renew_period=RENEW, clock=clock)


async def leading(client: FakeLeases, clock: FakeClock) -> tuple[LeaderElector, asyncio.Task[None]]:
    le = elector(client, clock)
    task = asyncio.create_task(le.run())
    await settle()
    assert le.is_leader and client.lease is not None and client.lease["spec"]["holderIdentity"] == "a"
    return le, task


def assert_lost(le: LeaderElector, task: asyncio.Task[None], reason: str) -> None:
    assert task.done(), "still leading"
    with pytest.raises(LostLeadership, match=reason):
        task.result()
    assert not le.is_leader


async def test_a_leader_keeps_renewing_while_the_api_answers() -> None:
    clock, client = FakeClock(), FakeLeases()
    le, task = await leading(client, clock)
    for _ in range(10):
        clock.advance(RENEW)
        await settle()
    assert le.is_leader and not task.done()
    assert client.version == 11  # one create, ten renewals
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


@pytest.mark.parametrize("verb", ["get", "replace"])
async def test_a_hung_renewal_loses_leadership_exactly_at_the_renew_deadline(verb: str) -> None:
    clock, client = FakeClock(), FakeLeases()
    le, task = await leading(client, clock)
    client.hang.add(verb)
    clock.advance(RENEW)  # the attempt starts, and hangs
    await settle()
    clock.advance(0.5)
    await settle()
    clock.advance(0.25)  # 1.75 s after the last renewal: still within the 2 s deadline
    await settle()
    assert le.is_leader and not task.done()
    clock.advance(0.25)  # exactly the deadline
    await settle()
    assert_lost(le, task, "renew deadline")
    assert client.cancelled == [verb], "the hung request must be cancelled, not left running"


async def test_a_lease_taken_by_another_replica_loses_leadership_at_once() -> None:
    clock, client = FakeClock(), FakeLeases()
    le, task = await leading(client, clock)
    client.hold("b")
    clock.advance(RENEW)  # long before the deadline
    await settle()
    assert_lost(le, task, "held by b")


async def test_failing_renewals_are_retried_until_the_deadline_then_leadership_is_lost() -> None:
    clock, client = FakeClock(), FakeLeases()
    le, task = await leading(client, clock)
    client.fail = errors.ServerError("leases: etcd timeout", status=500)
    clock.advance(RENEW)
    await settle()
    assert le.is_leader and not task.done()  # one failure is retried
    clock.advance(RENEW)  # the deadline: no attempt is started past it
    await settle()
    assert_lost(le, task, "deadline")


async def test_a_follower_takes_over_only_after_a_full_lease_duration_without_renewal() -> None:
    clock, client = FakeClock(), FakeLeases()
    client.hold("b")
    le = elector(client, clock)
    task = asyncio.create_task(le.run())
    await settle()
    clock.advance(LEASE - 0.25)
    await settle()
    assert not le.is_leader
    clock.advance(0.25)
    await settle()
    assert le.is_leader and client.lease is not None and client.lease["spec"]["holderIdentity"] == "a"
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_a_follower_that_sees_renewals_waits_and_takes_a_released_lease_at_once() -> None:
    clock, client = FakeClock(), FakeLeases()
    client.hold("b", "t1")
    le = elector(client, clock)
    task = asyncio.create_task(le.run())
    await settle()
    clock.advance(LEASE - 0.5)
    await settle()
    client.hold("b", "t2")  # b renews: the earliest expiry moves out
    assert client.lease is not None
    client.events.put_nowait({"type": "MODIFIED", "object": copy.deepcopy(client.lease)})
    await settle()
    clock.advance(1.0)  # past the first expiry, within the renewed one
    await settle()
    assert not le.is_leader
    client.hold("", "t3")  # b releases
    client.events.put_nowait({"type": "MODIFIED", "object": copy.deepcopy(client.lease)})
    await settle()
    assert le.is_leader
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_wait_for_returns_the_result_or_cancels_on_the_injected_clock() -> None:
    clock = FakeClock()

    async def answer() -> int:
        await clock.sleep(1)
        return 42

    pending = asyncio.ensure_future(wait_for(clock, answer(), 2))
    await settle()
    clock.advance(1)
    await settle()
    assert pending.result() == 42

    cancelled: list[bool] = []

    async def hang() -> None:
        try:
            await forever()
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    hung = asyncio.ensure_future(wait_for(clock, hang(), 2))
    await settle()
    clock.advance(1.5)
    await settle()
    assert not hung.done()
    clock.advance(0.5)
    await settle()
    with pytest.raises(TimeoutError):
        hung.result()
    assert cancelled == [True]


async def test_an_acquisition_answered_after_the_renew_deadline_does_not_lead() -> None:
    clock, client = FakeClock(), FakeLeases()
    client.hang.add("create")
    le = elector(client, clock)
    task = asyncio.create_task(le.run())
    await settle()
    clock.advance(LEASE * 2 / 3)  # the create never answers in time: given up, retried later
    await settle()
    assert not le.is_leader and client.cancelled == ["create"]
    client.hang.clear()
    clock.advance(RENEW)
    await settle()
    assert le.is_leader
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_a_follower_whose_watch_fails_waits_for_the_expiry_without_looping() -> None:
    clock, client = FakeClock(), FakeLeases()
    client.hold("b")
    client.watch_fails = True
    le = elector(client, clock)
    task = asyncio.create_task(le.run())
    await settle()
    assert client.lists == 1 and not le.is_leader
    clock.advance(LEASE)
    await settle()
    assert le.is_leader and client.lists == 1
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_a_release_between_the_followers_get_and_its_watch_is_not_missed() -> None:
    clock, client = FakeClock(), FakeLeases()
    client.hold("b")
    client.release_before_list = True  # the release lands before the watch starts: no event will come
    le = elector(client, clock)
    task = asyncio.create_task(le.run())
    await settle()
    assert le.is_leader  # no clock advance: taken at once
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
