"""The group engine against real mysqld 9.7: form, grow (with clone), shrink, crash, outage, quorum, modes.

Each test owns its fleet. The test stands in for kubelet: it restarts a server that shut
itself down after a clone (it does not restart servers the test killed unless it says so).
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Callable

import pytest

from innodb_dev.mysqld import ROOT_USER, MysqlFleet
from innodb_dev.waiting import eventually, wait_until
from innodb_operator.clustering.actions import GroupConfig
from innodb_operator.clustering.engine import Engine, Pass
from innodb_operator.clustering.model import Desired, GroupMode, MemberState, Role
from innodb_operator.clustering.observe import Target
from innodb_operator.clustering.plan import Kind
from innodb_operator.clustering.state import ClusterState
from innodb_operator.mysql import Credentials, Endpoint


class Harnessed:
    """An engine over a fleet, plus the kubelet-like restarts the fleet needs."""

    def __init__(self, fleet: MysqlFleet) -> None:
        self.fleet = fleet
        self.killed: set[int] = set()
        targets = [Target(i, Endpoint(inst.host, inst.port), group_address=inst.gr_local_address)
                   for i, inst in enumerate(fleet.instances)]
        self.config = GroupConfig(group_name=str(uuid.uuid4()), mode=GroupMode.SINGLE_PRIMARY,
                                  admin=Credentials(ROOT_USER, fleet.password),
                                  replication=Credentials("innodbop-repl", secrets.token_urlsafe(16)),
                                  communication_stack="MYSQL")
        self.engine = Engine(targets, self.config)
        self.passes: list[Pass] = []

    def kill(self, index: int) -> None:
        self.killed.add(index)
        self.fleet[index].kill()

    def start(self, index: int) -> None:
        self.killed.discard(index)
        self.fleet[index].start()

    def restart_exited(self) -> None:
        """Like kubelet: a server that stopped by itself (after a clone) is started again."""
        for index, instance in enumerate(self.fleet.instances):
            if index not in self.killed and not instance.is_running:
                instance.start()

    async def converge(self, desired: Desired, state: ClusterState = ClusterState.ONLINE,
                       timeout: float = 180.0) -> list[Pass]:
        """Run passes until the state is reached with nothing left to do; return the passes."""
        passes: list[Pass] = []

        async def one_pass() -> bool:
            self.restart_exited()
            result = await self.engine.step(desired)
            passes.append(result)
            return result.diagnosis.state == state and result.plan.action is None

        try:
            await eventually(one_pass, timeout=timeout, what=f"{state} with nothing left to do", interval=0.5)
        except AssertionError as exc:
            last = passes[-1]
            raise AssertionError(f"{exc}: {last.diagnosis.state}: {last.plan.why}; last actions "
                                 f"{[(p.plan.action, p.done, p.refused) for p in passes[-5:]]}") from None
        self.passes.extend(passes)
        return passes

    async def wait_state(self, predicate: Callable[[Pass], bool], timeout: float = 60.0) -> Pass:
        """Observe (without acting) until ``predicate`` holds."""
        async def observed() -> Pass | None:
            result = await self.engine.step(Desired(instances=len(self.fleet)), act=False)
            return result if predicate(result) else None

        result: Pass = await eventually(observed, timeout=timeout, what="the observed condition", interval=0.2)
        return result

    def primary(self, result: Pass) -> int:
        assert result.diagnosis.primary is not None, result.diagnosis.explanation
        return result.diagnosis.primary


def rows_on(fleet: MysqlFleet, index: int, table: str = "app.t") -> list[int]:
    return [r[0] for r in fleet[index].sql(f"SELECT id FROM {table} ORDER BY id")]


def wait_rows(fleet: MysqlFleet, indexes: list[int], expected: list[int], timeout: float = 60.0) -> None:
    wait_until(lambda: all(rows_on(fleet, i) == expected for i in indexes), timeout, interval=0.2,
               message=f"rows {expected[:3]}..{expected[-1:]} on members {indexes}")


def write(fleet: MysqlFleet, index: int, ids: range) -> None:
    fleet[index].sql("CREATE DATABASE IF NOT EXISTS app")
    fleet[index].sql("CREATE TABLE IF NOT EXISTS app.t (id INT PRIMARY KEY)")
    for i in ids:
        fleet[index].sql("INSERT INTO app.t VALUES (%s)", (i,))
        fleet[index].sql("COMMIT")


async def test_three_empty_instances_become_one_group_with_one_primary(
    new_fleet: Callable[[int], MysqlFleet], capsys: pytest.CaptureFixture[str],
) -> None:
    fleet = new_fleet(3)
    h = Harnessed(fleet)
    general_logs = []
    for instance in fleet.instances:  # every statement the engine sends, as the server logs it
        general_logs.append(instance.directory / "general.log")
        instance.sql("SET GLOBAL general_log_file = %s", (instance.inner(general_logs[-1]),))
        instance.sql("SET GLOBAL general_log = ON")
    started = time.monotonic()
    passes = await h.converge(Desired(instances=3))
    print(f"three empty instances to ONLINE: {time.monotonic() - started:.1f}s")
    actions = [p.plan.action for p in passes if p.plan.action is not None and p.done]
    assert [a.kind for a in actions] == [Kind.BOOTSTRAP, Kind.JOIN, Kind.JOIN]
    assert actions[0].target == 0
    final = passes[-1]
    roles = {i.index: i.role for i in final.snapshot.instances}
    assert sorted(roles.values()) == [Role.PRIMARY, Role.SECONDARY, Role.SECONDARY]
    primary = h.primary(final)
    for i in final.snapshot.instances:
        assert i.super_read_only is (i.index != primary)
    write(fleet, primary, range(1, 51))
    wait_rows(fleet, [0, 1, 2], list(range(1, 51)))

    # No password in the operator's logs or in any server log of the run.
    logs = capsys.readouterr()
    texts = [logs.out, logs.err, *(p.read_text(errors="replace") for p in general_logs),
             *(i.log_text() for i in fleet.instances)]
    assert "START GROUP_REPLICATION" in "".join(texts), "the general logs did not capture the engine's statements"
    for password in (h.config.replication.password.reveal(), fleet.password):
        assert not [t for t in texts if password in t], "a password reached a log"


async def test_grow_to_five_with_a_forced_clone_then_shrink_to_three(new_fleet: Callable[[int], MysqlFleet]) -> None:
    fleet = new_fleet(5)
    h = Harnessed(fleet)
    await h.converge(Desired(instances=3))
    primary = h.primary(h.passes[-1])
    write(fleet, primary, range(1, 101))
    joined = await h.converge(Desired(instances=4))
    join4 = [p.plan.action for p in joined if p.plan.action and p.plan.action.kind == Kind.JOIN and p.done]
    assert [(a.target, a.clone) for a in join4] == [(3, False)], "index 3 joins by incremental recovery"
    write(fleet, primary, range(101, 201))
    # The donors' binary logs lose everything so far: a new member can only be cloned.
    for i in range(4):
        fleet[i].sql("FLUSH BINARY LOGS")
        last = fleet[i].sql("SHOW BINARY LOGS")[-1][0]
        fleet[i].sql(f"PURGE BINARY LOGS TO '{last}'")
    started = time.monotonic()
    grown = await h.converge(Desired(instances=5))
    print(f"scale 4 to 5 by clone: {time.monotonic() - started:.1f}s")
    join5 = [p.plan.action for p in grown if p.plan.action and p.plan.action.kind == Kind.JOIN and p.done]
    # Index 4 is cloned. A cloned server restarts; if it comes back outside the group, the
    # engine rejoins it, incrementally now that it holds everything.
    assert join5 and (join5[0].target, join5[0].clone) == (4, True), "index 4 must be cloned"
    assert all(a.target == 4 and not a.clone for a in join5[1:])
    wait_rows(fleet, [0, 1, 2, 3, 4], list(range(1, 201)))

    shrunk = await h.converge(Desired(instances=3))
    leaves = [p.plan.action.target for p in shrunk if p.plan.action and p.plan.action.kind == Kind.LEAVE and p.done]
    assert sorted(leaves) == [3, 4]
    view = shrunk[-1].diagnosis.view
    assert len(view) == 3 and all(m.state == MemberState.ONLINE for m in view)
    leaver_uuids = {i.uuid for i in shrunk[-1].snapshot.instances if i.index >= 3}
    assert not leaver_uuids & {m.uuid for m in view}
    # A member that left for a scale-down does not rejoin when its server restarts.
    fleet[3].restart()
    after = await h.wait_state(lambda p: p.snapshot.instances[3].reachable)
    assert after.snapshot.instances[3].state != MemberState.ONLINE


async def test_crashed_members_rejoin_on_their_own_and_a_new_primary_is_elected(
    new_fleet: Callable[[int], MysqlFleet],
) -> None:
    fleet = new_fleet(3)
    h = Harnessed(fleet)
    await h.converge(Desired(instances=3))
    primary = h.primary(h.passes[-1])
    secondary = next(i for i in range(3) if i != primary)

    killed_uuid = h.passes[-1].snapshot.instances[secondary].uuid
    h.kill(secondary)
    # As a pod restart would: come back once the group has expelled the old incarnation.
    await h.wait_state(lambda p: killed_uuid not in {m.uuid for m in p.diagnosis.view})
    started = time.monotonic()
    h.start(secondary)
    await h.wait_state(lambda p: p.diagnosis.state == ClusterState.ONLINE, timeout=90)
    print(f"secondary SIGKILL -> restart -> ONLINE again, no engine action: {time.monotonic() - started:.1f}s")

    write(fleet, primary, range(1, 11))
    killed_at = time.monotonic()
    h.kill(primary)
    elected = await h.wait_state(lambda p: p.diagnosis.primary not in (None, primary), timeout=60)
    print(f"primary SIGKILL -> new primary elected: {time.monotonic() - killed_at:.1f}s")
    new_primary = h.primary(elected)
    write(fleet, new_primary, range(11, 21))
    started = time.monotonic()
    h.start(primary)
    back = await h.wait_state(lambda p: p.diagnosis.state == ClusterState.ONLINE, timeout=90)
    print(f"old primary restart -> ONLINE as secondary: {time.monotonic() - started:.1f}s")
    assert h.primary(back) == new_primary
    assert back.snapshot.instances[primary].role == Role.SECONDARY
    wait_rows(fleet, [0, 1, 2], list(range(1, 21)))


async def test_complete_outage_reboots_from_the_most_advanced_member_without_losing_a_row(
    new_fleet: Callable[[int], MysqlFleet],
) -> None:
    fleet = new_fleet(3)
    h = Harnessed(fleet)
    await h.converge(Desired(instances=3))
    primary = h.primary(h.passes[-1])
    behind, ahead = (i for i in range(3) if i != primary)
    write(fleet, primary, range(1, 11))
    wait_rows(fleet, [0, 1, 2], list(range(1, 11)))
    h.kill(behind)
    await h.wait_state(lambda p: behind not in p.diagnosis.online and len(p.diagnosis.view) == 2)
    write(fleet, primary, range(11, 21))  # acknowledged by the primary and `ahead`: a majority of 2
    wait_rows(fleet, [primary, ahead], list(range(1, 21)))
    h.kill(ahead)
    h.kill(primary)

    # Two of three come back: the engine cannot prove the outage and refuses.
    h.start(behind)
    h.start(ahead)
    refused = await h.wait_state(lambda p: p.diagnosis.state == ClusterState.OFFLINE_UNCERTAIN)
    assert refused.plan.action is None and fleet[primary].host in refused.plan.why
    result = await h.engine.step(Desired(instances=3))
    assert result.done is None and result.plan.action is None

    # All three back: a provable complete outage; reboot from a member holding every row.
    h.start(primary)
    started = time.monotonic()
    passes = await h.converge(Desired(instances=3))
    print(f"complete outage -> ONLINE: {time.monotonic() - started:.1f}s")
    reboot = next(p.plan.action for p in passes if p.plan.action and p.plan.action.kind == Kind.REBOOT)
    assert reboot.target in (primary, ahead) and reboot.target != behind
    assert not [p for p in passes if p.plan.action and p.plan.action.kind == Kind.BOOTSTRAP]
    wait_rows(fleet, [0, 1, 2], list(range(1, 21)))


async def test_two_of_three_lost_is_no_quorum_and_nothing_is_forced(new_fleet: Callable[[int], MysqlFleet]) -> None:
    fleet = new_fleet(3)
    h = Harnessed(fleet)
    await h.converge(Desired(instances=3))
    primary = h.primary(h.passes[-1])
    for i in range(3):
        if i != primary:
            h.kill(i)
    lost = await h.wait_state(lambda p: p.diagnosis.state == ClusterState.NO_QUORUM, timeout=60)
    assert "will not force quorum" in lost.diagnosis.explanation
    for _ in range(3):
        result = await h.engine.step(Desired(instances=3))
        assert result.diagnosis.state == ClusterState.NO_QUORUM
        assert result.plan.action is None and result.done is None
    survivor = result.snapshot.instances[primary]
    assert len(survivor.view) == 3  # still the old view: nobody forced a new membership


async def test_group_mode_and_primary_follow_the_desired_spec(new_fleet: Callable[[int], MysqlFleet]) -> None:
    fleet = new_fleet(3)
    h = Harnessed(fleet)
    await h.converge(Desired(instances=3))
    multi = await h.converge(Desired(instances=3, mode=GroupMode.MULTI_PRIMARY))
    assert multi[-1].diagnosis.mode == GroupMode.MULTI_PRIMARY
    assert all(i.role == Role.PRIMARY for i in multi[-1].snapshot.instances)
    single = await h.converge(Desired(instances=3, mode=GroupMode.SINGLE_PRIMARY))
    assert single[-1].diagnosis.mode == GroupMode.SINGLE_PRIMARY
    target = next(i for i in range(3) if i != h.primary(single[-1]))
    switched = await h.converge(Desired(instances=3, primary=target))
    assert h.primary(switched[-1]) == target
    assert [p.plan.action.kind for p in switched if p.plan.action and p.done] == [Kind.SET_PRIMARY]
