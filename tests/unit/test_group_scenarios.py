"""The named group scenarios, end to end through the MySQL seam against a fake group.

Each scenario builds a situation in the fake Group Replication world (``tests/fakegroup.py``).
The same table drives two tests: what the group manager observes, decides and plans
(:func:`test_the_plan`), and what one pass does to the group when it executes that plan and
keeps the metadata (:func:`test_the_pass`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from fakegroup import ADMIN, FakeSession, World, uuid_of
from innodb_operator.clustering.actions import Executor, GroupConfig, Outcome, Refusal
from innodb_operator.clustering.manager import GroupManager, GroupSpec, PassReport
from innodb_operator.clustering.model import Desired, GroupMode
from innodb_operator.clustering.plan import Kind, Reason, next_action
from innodb_operator.clustering.seam import Target
from innodb_operator.clustering.state import ClusterState
from innodb_operator.clustering.upkeep import UpkeepOutcome
from innodb_operator.mysql.connection import Credentials
from innodb_operator.mysql.errors import QueryError

G = "2f0c1a7e-7b3e-4b7e-9a55-2f1d6c3b8a10"
OTHER = "9d2b7c41-5e6f-4a1b-8c3d-0e9f8a7b6c5d"
ROUTER = Credentials("router", "router-pw")


@dataclass
class Case:
    world: World
    targets: tuple[Target, ...]
    desired: Desired
    state: ClusterState
    reason: Reason
    kind: Kind | None = None
    target: int | None = None
    effect: Callable[[World], None] = field(default=lambda w: None)
    """What the executed pass must have done (or, when nothing was planned, left alone)."""


def spec(case: Case) -> GroupSpec:
    config = GroupConfig(group_name=G, admin=Credentials(ADMIN, "admin-pw"),
                         replication=Credentials("repl", "repl-pw"), communication_stack="XCOM")
    return GroupSpec("ns/c", "c", case.targets, case.desired, config, ROUTER)


def desired(instances: int = 3, mode: GroupMode = GroupMode.SINGLE_PRIMARY) -> Desired:
    return Desired(instances=instances, mode=mode, group_name=G)


def untouched(world: World) -> None:
    """Nothing configured, started, stopped or switched on any server."""
    changes = [(s.index, st) for s in world.servers for st in s.statements
               if st not in ("metadata", "router account")]
    assert changes == []
    assert len(world.groups_named(G)) <= 1, "never two groups"


def fresh() -> Case:
    world = World(3)

    def effect(w: World) -> None:
        (group,) = w.groups_named(G)
        assert group.members == [uuid_of(0)] and group.primary == uuid_of(0)
        assert w.servers[0].start_on_boot and not w.servers[0].super_read_only
        assert w.servers[0].accounts["repl"] == "repl-pw", "the recovery account exists before the start"

    return Case(world, world.targets(), desired(), ClusterState.INITIALIZING, Reason.NO_GROUP, Kind.BOOTSTRAP, 0,
                effect)


def pod_starting() -> Case:
    world = World(3)
    return Case(world, world.targets(running=[0, 1]), desired(), ClusterState.PENDING, Reason.WAITING_FOR_PODS,
                effect=untouched)


def healthy() -> Case:
    world = World(3)
    world.form([0, 1, 2], name=G)

    def effect(w: World) -> None:
        untouched(w)
        (group,) = w.groups_named(G)
        assert group.metadata is not None and [m.label for m in group.metadata] == ["pod-0", "pod-1", "pod-2"]
        assert all(s.accounts.get("router") == "router-pw" for s in w.servers)

    return Case(world, world.targets(), desired(), ClusterState.ONLINE, Reason.CONVERGED, effect=effect)


def seed_and_two_fresh() -> Case:
    world = World(3)
    world.form([0], name=G)

    def effect(w: World) -> None:
        assert w.servers[1].state() == "RECOVERING" and w.servers[2].in_group is None
        assert w.servers[1].recovery_credentials == ("repl", "repl-pw")
        w.settle()
        assert w.servers[1].state() == "ONLINE" and w.servers[1].super_read_only

    return Case(world, world.targets(), desired(), ClusterState.ONLINE_PARTIAL, Reason.MEMBER_MISSING, Kind.JOIN, 1,
                effect)


def one_recovering() -> Case:
    world = World(3)
    group = world.form([0], name=G)
    world.configured(1, name=G)
    world.start(world.servers[1], bootstrap=False)
    assert group.states[uuid_of(1)] == "RECOVERING"
    world.servers[1].statements.clear()
    return Case(world, world.targets(), desired(), ClusterState.ONLINE_PARTIAL, Reason.WAITING_FOR_RECOVERY,
                effect=untouched)


def restarted_offline() -> Case:
    world = World(3)
    world.form([0, 1, 2], name=G)
    world.crash(2)
    world.expel()
    world.write(2)
    world.servers[2].persisted["start_on_boot"] = "OFF"  # its own rejoin failed
    world.restart(2)

    def effect(w: World) -> None:
        assert w.servers[2].state() == "RECOVERING" and w.servers[2].clone_threshold != 1
        w.settle()
        assert w.servers[2].executed == w.servers[0].executed

    return Case(world, world.targets(), desired(), ClusterState.ONLINE_PARTIAL, Reason.MEMBER_MISSING, Kind.JOIN, 2,
                effect)


def needs_clone() -> Case:
    world = World(3)
    world.form([0, 1], name=G, transactions=10)
    world.purge(0, 5)
    world.purge(1, 5)

    def effect(w: World) -> None:
        assert w.servers[2].state() == "RECOVERING" and w.servers[2].clone_threshold == 1, "by clone"

    return Case(world, world.targets(), desired(), ClusterState.ONLINE_PARTIAL, Reason.MEMBER_MISSING, Kind.JOIN, 2,
                effect)


def errant() -> Case:
    world = World(3)
    world.form([0, 1], name=G, transactions=4)
    world.configured(2, name=G, transactions=2, extra=f"{uuid_of(99)}:1")
    return Case(world, world.targets(), desired(), ClusterState.ONLINE_PARTIAL, Reason.ERRANT_TRANSACTIONS,
                effect=untouched)


def scale_down() -> Case:
    world = World(3)
    world.form([0, 1, 2], name=G)

    def effect(w: World) -> None:
        assert w.servers[2].in_group is None and not w.servers[2].start_on_boot
        (group,) = w.groups_named(G)
        assert group.members == [uuid_of(0), uuid_of(1)]

    return Case(world, world.targets(), desired(2), ClusterState.ONLINE_PARTIAL, Reason.SCALE_DOWN, Kind.LEAVE, 2,
                effect)


def scale_down_primary() -> Case:
    world = World(3)
    world.form([0, 1, 2], name=G, primary=2)

    def effect(w: World) -> None:
        (group,) = w.groups_named(G)
        assert group.primary == uuid_of(0) and len(group.members) == 3, "the primary moves; nobody leaves yet"

    return Case(world, world.targets(), desired(2), ClusterState.ONLINE_PARTIAL, Reason.SCALE_DOWN,
                Kind.SET_PRIMARY, 0, effect)


def unwanted_pod_starting() -> Case:
    world = World(4)
    return Case(world, world.targets(running=[0, 1, 2]), desired(3), ClusterState.INITIALIZING,
                Reason.WAITING_FOR_PODS, effect=untouched)


def primary_leaving_without_heir() -> Case:
    world = World(3)
    world.form([1, 2], name=G, primary=2)  # instance 0, the only one wanted, is not in the group
    return Case(world, world.targets(), desired(1), ClusterState.ONLINE_PARTIAL, Reason.WAITING_FOR_HEIR,
                effect=untouched)


def leave_would_cost_the_majority() -> Case:
    world = World(3)
    world.form([0, 1, 2], name=G)
    world.crash(2)  # not expelled yet: the view is {0 ONLINE, 1 ONLINE, 2 UNREACHABLE}
    return Case(world, world.targets(), desired(1), ClusterState.ONLINE_PARTIAL, Reason.WAITING_FOR_EXPEL,
                effect=untouched)


def mode_change_waits_for_members() -> Case:
    world = World(3)
    world.form([0, 1], name=G)
    return Case(world, world.targets(running=[0, 1]), desired(mode=GroupMode.MULTI_PRIMARY),
                ClusterState.ONLINE_UNCERTAIN, Reason.WAITING_FOR_MEMBERS, effect=untouched)


def unreachable_member() -> Case:
    world = World(3)
    world.form([0, 1, 2], name=G)
    world.servers[2].alive = False  # the operator cannot reach it, the group still lists it ONLINE
    return Case(world, world.targets(), desired(), ClusterState.ONLINE_UNCERTAIN, Reason.MEMBERS_UNREACHABLE,
                effect=untouched)


def denied_member() -> Case:
    world = World(3)
    world.form([0, 1, 2], name=G)
    world.servers[1].accounts[ADMIN] = "another-pw"
    return Case(world, world.targets(), desired(), ClusterState.ONLINE_UNCERTAIN, Reason.MEMBERS_UNREACHABLE,
                effect=untouched)


def two_lost() -> Case:
    world = World(3)
    world.form([0, 1, 2], name=G)
    world.crash(1)
    world.crash(2)

    def effect(w: World) -> None:
        untouched(w)
        (group,) = w.groups_named(G)
        assert len(group.members) == 3, "nobody forced a new membership"

    return Case(world, world.targets(), desired(), ClusterState.NO_QUORUM, Reason.NO_QUORUM, effect=effect)


def outage() -> Case:
    world = World(3)
    for index, count in ((0, 5), (1, 9), (2, 7)):
        world.configured(index, name=G, transactions=count)

    def effect(w: World) -> None:
        (group,) = w.groups_named(G)
        assert group.members == [uuid_of(1)] and group.primary == uuid_of(1)

    return Case(world, world.targets(), desired(), ClusterState.OFFLINE, Reason.COMPLETE_OUTAGE, Kind.REBOOT, 1,
                effect)


def outage_diverged() -> Case:
    world = World(3)
    world.configured(0, name=G, transactions=3, extra=f"{uuid_of(90)}:1")
    world.configured(1, name=G, transactions=3, extra=f"{uuid_of(91)}:1")
    world.configured(2, name=G, transactions=1)
    return Case(world, world.targets(), desired(), ClusterState.OFFLINE, Reason.GTIDS_DIVERGED, effect=untouched)


def outage_unproven() -> Case:
    world = World(3)
    world.configured(0, name=G, transactions=9)
    world.configured(1, name=G, transactions=5)
    world.configured(2, name=G, transactions=5)
    world.servers[2].alive = False
    return Case(world, world.targets(), desired(), ClusterState.OFFLINE_UNCERTAIN, Reason.OUTAGE_UNPROVEN,
                effect=untouched)


def minority_online() -> Case:
    world = World(3)
    world.form([0, 1, 2], name=G)
    world.crash(1)
    world.crash(2)
    for index in (1, 2):
        world.servers[index].persisted["start_on_boot"] = "OFF"
        world.restart(index)
    return Case(world, world.targets(), desired(), ClusterState.NO_QUORUM, Reason.NO_QUORUM, effect=untouched)


def split_brain() -> Case:
    world = World(6)
    world.form([0, 1, 3], name=G)
    world.form([2, 4, 5], name=G)

    def effect(w: World) -> None:
        assert all(not s.statements for s in w.servers) and len(w.groups_named(G)) == 2, "reported, not fixed"

    return Case(world, world.targets(3), desired(), ClusterState.SPLIT_BRAIN, Reason.SPLIT_BRAIN, effect=effect)


def to_multi_primary() -> Case:
    world = World(3)
    world.form([0, 1, 2], name=G)

    def effect(w: World) -> None:
        (group,) = w.groups_named(G)
        assert not group.single_primary
        assert all(s.persisted["single_primary_mode"] == "OFF" for s in w.servers), "persisted for restarts"

    return Case(world, world.targets(), desired(mode=GroupMode.MULTI_PRIMARY), ClusterState.ONLINE,
                Reason.MODE_CHANGE, Kind.SET_MODE, 0, effect)


def to_single_primary() -> Case:
    world = World(3)
    world.form([0, 1, 2], name=G, single_primary=False)

    def effect(w: World) -> None:
        (group,) = w.groups_named(G)
        assert group.single_primary and group.primary == uuid_of(0)

    return Case(world, world.targets(), desired(), ClusterState.ONLINE, Reason.MODE_CHANGE, Kind.SET_MODE, 0, effect)


def member_in_error() -> Case:
    world = World(3)
    group = world.form([0, 1, 2], name=G)
    group.states[uuid_of(2)] = "ERROR"

    def effect(w: World) -> None:
        assert w.servers[2].statements[:2] == ["stop", "local account repl"]
        assert w.servers[2].state() == "RECOVERING"

    return Case(world, world.targets(), desired(), ClusterState.ONLINE_PARTIAL, Reason.MEMBER_MISSING, Kind.JOIN, 2,
                effect)


def foreign() -> Case:
    world = World(3)
    world.form([0, 1, 2], name=OTHER)

    def effect(w: World) -> None:
        untouched(w)
        assert all(g.metadata is None for g in w.groups), "no upkeep on another cluster's group"

    return Case(world, world.targets(), desired(), ClusterState.ONLINE, Reason.FOREIGN_GROUP, effect=effect)


SCENARIOS: dict[str, Callable[[], Case]] = {
    "fresh instances, all reachable: bootstrap on the first": fresh,
    "fresh instances, one pod still starting: wait": pod_starting,
    "healthy three-member group: nothing to do but the metadata": healthy,
    "bootstrapped seed, two fresh instances: join the lowest by incremental recovery": seed_and_two_fresh,
    "one member recovering: wait before joining the next": one_recovering,
    "secondary restarted and OFFLINE: rejoin it": restarted_offline,
    "joiner lacks purged transactions: join by clone": needs_clone,
    "joiner with errant transactions: blocked": errant,
    "scale 3 to 2 while a secondary is index 2: it leaves": scale_down,
    "scale-down of the primary: switch the primary away first": scale_down_primary,
    "scale-down of the primary with no ONLINE member to take over: wait": primary_leaving_without_heir,
    "scale-down that would cost the group its majority: wait for the expel": leave_would_cost_the_majority,
    "fresh instances, one above the wanted count still starting: wait, it might hold a group": unwanted_pod_starting,
    "mode switch asked while a member is down: wait for every member": mode_change_waits_for_members,
    "one member unreachable by the operator but the group has quorum": unreachable_member,
    "one member refuses the operator's credentials: unknown, not acted on": denied_member,
    "two of three members lost: no quorum, nothing forced": two_lost,
    "complete outage, one member most advanced: reboot from it": outage,
    "complete outage, divergent GTID sets: refuse": outage_diverged,
    "outage with one instance unreachable: refuse, it might hold quorum": outage_unproven,
    "one member still ONLINE in a minority: never bootstrap or reboot": minority_online,
    "two disjoint majorities: split brain, blocked": split_brain,
    "multi-primary requested on a single-primary group: switch mode": to_multi_primary,
    "single-primary requested on a multi-primary group: switch back": to_single_primary,
    "member in ERROR inside the group view: rejoin it": member_in_error,
    "instances of another group: blocked, nothing touched": foreign,
}


@pytest.mark.parametrize("name", SCENARIOS)
async def test_the_plan(name: str) -> None:
    case = SCENARIOS[name]()
    snapshot, diagnosis = await GroupManager(case.world.connector()).observe(spec(case))
    plan = next_action(snapshot, diagnosis)
    assert diagnosis.state == case.state, diagnosis.explanation
    assert plan.reason == case.reason
    assert (plan.action.kind if plan.action else None) == case.kind
    assert (plan.action.target if plan.action else None) == case.target


@pytest.mark.parametrize("name", SCENARIOS)
async def test_the_pass(name: str) -> None:
    case = SCENARIOS[name]()
    report = await GroupManager(case.world.connector()).run_pass(spec(case))
    assert report.plan.reason == case.reason
    if case.kind is None:
        assert report.result is None
    else:
        assert report.result is not None and report.result.outcome == Outcome.DONE, report.result
    case.effect(case.world)


async def test_a_second_pass_over_a_healthy_group_writes_nothing() -> None:
    case = healthy()
    manager = GroupManager(case.world.connector())
    first = await manager.run_pass(spec(case))
    assert first.upkeep is not None and first.upkeep.outcome == UpkeepOutcome.ENSURED and first.upkeep.wrote
    before = [list(s.statements) for s in case.world.servers], [s.executed for s in case.world.servers]
    again = await manager.run_pass(spec(case))
    assert again.upkeep is None, "the memo skips upkeep when nothing changed"
    assert ([list(s.statements) for s in case.world.servers], [s.executed for s in case.world.servers]) == before
    manager.forget("ns/c")
    third = await manager.run_pass(spec(case))
    assert third.upkeep is not None and not third.upkeep.wrote, "ensured again, and nothing needed writing"


async def test_the_metadata_follows_a_member_that_leaves() -> None:
    case = scale_down()
    manager = GroupManager(case.world.connector())
    await manager.run_pass(spec(case))  # 2 leaves
    report = await manager.run_pass(spec(case))
    assert report.plan.reason == Reason.CONVERGED
    (group,) = case.world.groups_named(G)
    assert group.metadata is not None and [m.label for m in group.metadata] == ["pod-0", "pod-1"]


async def test_no_upkeep_in_a_pass_that_moved_the_primary() -> None:
    case = scale_down_primary()
    report = await GroupManager(case.world.connector()).run_pass(spec(case))
    assert report.result is not None and report.result.action.kind == Kind.SET_PRIMARY
    assert report.upkeep is None, "the writer may have moved: the next pass looks again"


async def test_from_empty_to_a_three_member_group_one_action_per_pass() -> None:
    world = World(3)
    case = Case(world, world.targets(), desired(), ClusterState.INITIALIZING, Reason.NO_GROUP)
    manager = GroupManager(world.connector())
    kinds = []
    for _ in range(8):
        report = await manager.run_pass(spec(case))
        if report.result is not None:
            kinds.append((report.result.action.kind, report.result.action.target))
        world.settle()
        if report.plan.reason == Reason.CONVERGED:
            break
    assert kinds == [(Kind.BOOTSTRAP, 0), (Kind.JOIN, 1), (Kind.JOIN, 2)]
    assert report.diagnosis.state == ClusterState.ONLINE and len(world.groups_named(G)) == 1


async def test_an_action_whose_precondition_no_longer_holds_is_refused_and_changes_nothing() -> None:
    case = outage()
    snapshot, diagnosis = await GroupManager(case.world.connector()).observe(spec(case))
    plan = next_action(snapshot, diagnosis)
    assert plan.action is not None
    case.world.servers[0].alive = False  # between the snapshot and the action, a member vanishes
    result = await Executor(case.world.connector(), case.targets, spec(case).config).execute(plan.action, snapshot)
    assert result.outcome == Outcome.REFUSED and result.refusal == Refusal.UNREACHABLE
    assert case.world.groups_named(G) == [] and all(not s.statements for s in case.world.servers)


async def test_a_join_of_a_member_already_in_the_group_is_already_done() -> None:
    case = seed_and_two_fresh()
    manager = GroupManager(case.world.connector())
    snapshot, diagnosis = await manager.observe(spec(case))
    plan = next_action(snapshot, diagnosis)
    assert plan.action is not None
    executor = Executor(case.world.connector(), case.targets, spec(case).config)
    assert (await executor.execute(plan.action, snapshot)).outcome == Outcome.DONE
    assert (await executor.execute(plan.action, snapshot)).outcome == Outcome.ALREADY


async def test_a_failing_statement_is_a_partial_result_not_an_exception(monkeypatch: pytest.MonkeyPatch) -> None:
    case = fresh()

    async def configure_that_loses_the_group_name(self: FakeSession, settings: object) -> None:
        self._did("configure")  # START GROUP_REPLICATION then fails: no group name

    monkeypatch.setattr(FakeSession, "configure_group", configure_that_loses_the_group_name)
    report: PassReport = await GroupManager(case.world.connector()).run_pass(spec(case))
    assert report.result is not None and report.result.outcome == Outcome.PARTIAL and report.result.detail
    assert case.world.groups_named(G) == []


async def test_a_member_busy_with_its_own_start_refuses_the_reboot_and_nothing_changes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    case = outage()

    async def busy(self: FakeSession, settings: object) -> None:
        raise QueryError(f"{self.endpoint}: (3724) cannot be set while START GROUP_REPLICATION is ongoing",
                         errno=3724)

    monkeypatch.setattr(FakeSession, "configure_group", busy)
    report = await GroupManager(case.world.connector()).run_pass(spec(case))
    assert report.result is not None and report.result.outcome == Outcome.REFUSED
    assert report.result.refusal == Refusal.STARTING and not report.result.changed
    assert case.world.groups_named(G) == []
