"""The group manager against real mysqld 9.7: form, grow (with clone), shrink, crash, outage, quorum,
modes; the executor's typed results; the operator's accounts recovered through root.

Each test owns its fleet. The manager reaches the servers through the product's seam
(:class:`~innodb_operator.mysql.instance.MysqlConnector`), with the MYSQL communication stack
(the fleet shares one network namespace, see innodb_dev.mysqld) and, unless a test says
otherwise, the fleet's root account as the operator's admin account. The test stands in for
kubelet: it restarts a server that shut itself down after a clone (it does not restart servers
the test killed unless it says so).
"""

from __future__ import annotations

import dataclasses
import secrets
import time
import uuid
from collections.abc import Callable

import pytest

from innodb_dev.mysqld import ROOT_USER, MysqlFleet, MysqlInstance
from innodb_dev.waiting import eventually, wait_until
from innodb_operator.clustering.actions import Executor, GroupConfig, Outcome, Refusal
from innodb_operator.clustering.credentials import RecoveryOutcome
from innodb_operator.clustering.interventions import Intervention
from innodb_operator.clustering.manager import GroupManager, GroupSpec, PassReport, Request
from innodb_operator.clustering.messages import plan_message, result_message
from innodb_operator.clustering.model import Desired, GroupMode, MemberState, Role
from innodb_operator.clustering.plan import Action, Kind, Reason, next_action
from innodb_operator.clustering.seam import Target
from innodb_operator.clustering.state import ClusterState
from innodb_operator.clustering.upkeep import UpkeepOutcome
from innodb_operator.mysql import AccessDenied, Credentials, Endpoint, Secret, connect
from innodb_operator.mysql.instance import MysqlConnector

ADMIN_USER = "innodbop-admin"
REPLICATION_USER = "innodbop-repl"
ROUTER_USER = "innodbop-router"
BACKUP_USER = "innodbop-backup"


class Harnessed:
    """A group manager over a fleet, plus the kubelet-like restarts the fleet needs.

    ``config`` and ``router`` are what the controller would read from the private Secret;
    a test that changes the passwords replaces them.
    """

    def __init__(self, fleet: MysqlFleet, connector: MysqlConnector, *, admin: Credentials | None = None) -> None:
        self.fleet = fleet
        self.connector = connector
        self.killed: set[int] = set()
        self.targets = tuple(
            Target(i, Endpoint(inst.host, inst.port), group_address=inst.gr_local_address, name=inst.name,
                   x_address=f"{inst.host}:{inst.x_port}")
            for i, inst in enumerate(fleet.instances))
        self.config = GroupConfig(group_name=str(uuid.uuid4()),
                                  admin=admin or Credentials(ROOT_USER, fleet.password),
                                  replication=Credentials(REPLICATION_USER, secrets.token_urlsafe(16)),
                                  communication_stack="MYSQL")
        self.router = Credentials(ROUTER_USER, secrets.token_urlsafe(16))
        self.manager = GroupManager(connector)
        self.passes: list[PassReport] = []

    def spec(self, desired: Desired | None = None) -> GroupSpec:
        wanted = desired or Desired(instances=len(self.fleet))
        if not wanted.group_name:
            wanted = dataclasses.replace(wanted, group_name=self.config.group_name)
        return GroupSpec(key="mysql-tier/cluster1", cluster_name="cluster1", targets=self.targets, desired=wanted,
                         config=self.config, router=self.router)

    def name(self, index: int) -> str:
        return self.fleet[index].name

    def describe(self, report: PassReport) -> str:
        """For failure messages only (the tests assert typed values, never this text)."""
        said = f"{report.diagnosis.state}: {report.plan.reason} {report.plan.subjects} " \
               f"({plan_message(report.plan, self.name)})"
        if report.result is not None:
            said += f"; {report.result.outcome} {report.result.refusal or ''} " \
                    f"({result_message(report.result, self.name)}; {report.result.detail})"
        return said

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
                       timeout: float = 180.0) -> list[PassReport]:
        """Run passes until the state is reached with nothing left to do; return the passes."""
        passes: list[PassReport] = []

        async def one_pass() -> bool:
            self.restart_exited()
            report = await self.manager.run_pass(self.spec(desired))
            passes.append(report)
            return report.diagnosis.state == state and report.plan.action is None

        try:
            await eventually(one_pass, timeout=timeout, what=f"{state} with nothing left to do", interval=0.5)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; last passes: " + " | ".join(self.describe(p) for p in passes[-5:])) from None
        self.passes.extend(passes)
        return passes

    async def observe(self, desired: Desired | None = None) -> PassReport:
        """One snapshot, its diagnosis and plan, without acting."""
        snapshot, diagnosis = await self.manager.observe(self.spec(desired))
        return PassReport(snapshot, diagnosis, next_action(snapshot, diagnosis))

    async def wait_state(self, predicate: Callable[[PassReport], bool], timeout: float = 60.0) -> PassReport:
        """Observe (without acting) until ``predicate`` holds."""
        async def observed() -> PassReport | None:
            report = await self.observe()
            return report if predicate(report) else None

        report: PassReport = await eventually(observed, timeout=timeout, what="the observed condition", interval=0.2)
        return report

    def primary(self, report: PassReport) -> int:
        assert report.diagnosis.primary is not None, report.diagnosis.explanation
        return report.diagnosis.primary


def done(passes: list[PassReport], kind: Kind | None = None) -> list[Action]:
    """The actions that ran (outcome DONE), in order; only those of ``kind`` if given."""
    return [p.result.action for p in passes
            if p.result is not None and p.result.outcome == Outcome.DONE and kind in (None, p.result.action.kind)]


async def formed_group(new_fleet: Callable[[int], MysqlFleet], connector: MysqlConnector,
                       ) -> tuple[MysqlFleet, Harnessed, int]:
    """A fresh fleet of three formed into one ONLINE group by the manager, and its primary's index."""
    fleet = new_fleet(3)
    h = Harnessed(fleet, connector)
    await h.converge(Desired(instances=3))
    return fleet, h, h.primary(h.passes[-1])


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


def gtid_executed(instance: MysqlInstance) -> str:
    return str(instance.sql("SELECT @@global.gtid_executed")[0][0])


# --- forming, growing, shrinking, failing ----------------------------------------------


async def test_three_empty_instances_become_one_group_with_one_primary(
    new_fleet: Callable[[int], MysqlFleet], connector: MysqlConnector, capsys: pytest.CaptureFixture[str],
) -> None:
    fleet = new_fleet(3)
    h = Harnessed(fleet, connector)
    general_logs = []
    for instance in fleet.instances:  # every statement the manager sends, as the server logs it
        general_logs.append(instance.directory / "general.log")
        instance.sql("SET GLOBAL general_log_file = %s", (instance.inner(general_logs[-1]),))
        instance.sql("SET GLOBAL general_log = ON")
    started = time.monotonic()
    passes = await h.converge(Desired(instances=3))
    print(f"three empty instances to ONLINE: {time.monotonic() - started:.1f}s")
    actions = done(passes)
    assert [a.kind for a in actions] == [Kind.BOOTSTRAP, Kind.JOIN, Kind.JOIN]
    assert actions[0].target == 0 and {a.target for a in actions[1:]} == {1, 2}
    assert all(a.mode == GroupMode.SINGLE_PRIMARY for a in actions)
    final = passes[-1]
    assert final.plan.reason == Reason.CONVERGED and final.result is None
    roles = {i.index: i.role for i in final.snapshot.instances}
    assert sorted(roles.values()) == [Role.PRIMARY, Role.SECONDARY, Role.SECONDARY]
    primary = h.primary(final)
    for i in final.snapshot.instances:
        assert i.super_read_only is (i.index != primary)
    # The metadata Router reads lists the three members, on every member.
    upkept = [p.upkeep for p in passes if p.upkeep is not None]
    assert upkept and all(u.outcome == UpkeepOutcome.ENSURED for u in upkept), upkept
    uuids = sorted(inst.uuid for inst in final.snapshot.instances)
    wait_until(lambda: all(sorted(r[0] for r in fleet[i].sql(
        "SELECT mysql_server_uuid FROM mysql_innodb_cluster_metadata.v2_instances")) == uuids for i in range(3)),
        30, message="the metadata listing the three members on every member")
    write(fleet, primary, range(1, 51))
    wait_rows(fleet, [0, 1, 2], list(range(1, 51)))

    # No password in the operator's logs or in any server log of the run.
    logs = capsys.readouterr()
    texts = [logs.out, logs.err, *(p.read_text(errors="replace") for p in general_logs),
             *(i.log_text() for i in fleet.instances)]
    assert "START GROUP_REPLICATION" in "".join(texts), "the general logs did not capture the manager's statements"
    for password in (h.config.replication.password.reveal(), h.router.password.reveal(), fleet.password):
        assert not [t for t in texts if password in t], "a password reached a log"


async def test_grow_to_five_with_a_forced_clone_then_shrink_to_three(
    new_fleet: Callable[[int], MysqlFleet], connector: MysqlConnector,
) -> None:
    fleet = new_fleet(5)
    h = Harnessed(fleet, connector)
    await h.converge(Desired(instances=3))
    primary = h.primary(h.passes[-1])
    write(fleet, primary, range(1, 101))
    joined = await h.converge(Desired(instances=4))
    join4 = done(joined, Kind.JOIN)
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
    join5 = done(grown, Kind.JOIN)
    # Index 4 is cloned. A cloned server restarts; if it comes back outside the group, the
    # manager rejoins it, incrementally now that it holds everything.
    assert join5 and (join5[0].target, join5[0].clone) == (4, True), "index 4 must be cloned"
    assert all(a.target == 4 and not a.clone for a in join5[1:])
    wait_rows(fleet, [0, 1, 2, 3, 4], list(range(1, 201)))

    shrunk = await h.converge(Desired(instances=3))
    assert sorted(a.target for a in done(shrunk, Kind.LEAVE)) == [3, 4]
    view = shrunk[-1].diagnosis.view
    assert len(view) == 3 and all(m.state == MemberState.ONLINE for m in view)
    leaver_uuids = {i.uuid for i in shrunk[-1].snapshot.instances if i.index >= 3}
    assert not leaver_uuids & {m.uuid for m in view}
    # A member that left for a scale-down does not rejoin when its server restarts.
    fleet[3].restart()
    after = await h.wait_state(lambda p: p.snapshot.instances[3].reachable)
    assert after.snapshot.instances[3].state != MemberState.ONLINE


async def test_crashed_members_rejoin_on_their_own_and_a_new_primary_is_elected(
    new_fleet: Callable[[int], MysqlFleet], connector: MysqlConnector,
) -> None:
    fleet, h, primary = await formed_group(new_fleet, connector)
    secondary = next(i for i in range(3) if i != primary)

    killed_uuid = h.passes[-1].snapshot.instances[secondary].uuid
    h.kill(secondary)
    # As a pod restart would: come back once the group has expelled the old incarnation.
    await h.wait_state(lambda p: killed_uuid not in {m.uuid for m in p.diagnosis.view})
    started = time.monotonic()
    h.start(secondary)
    await h.wait_state(lambda p: p.diagnosis.state == ClusterState.ONLINE, timeout=90)
    print(f"secondary SIGKILL -> restart -> ONLINE again, no manager action: {time.monotonic() - started:.1f}s")

    write(fleet, primary, range(1, 11))
    killed_at, killed_wall = time.monotonic(), time.time()
    h.kill(primary)
    elected = await h.wait_state(lambda p: p.diagnosis.primary not in (None, primary), timeout=60)
    print(f"primary SIGKILL -> new primary elected: {time.monotonic() - killed_at:.1f}s")
    new_primary = h.primary(elected)
    # The new primary's error log dates its start as primary: what the failover metric ends on.
    took_writes = elected.snapshot.instances[new_primary].became_primary_at
    assert took_writes is not None and killed_wall < took_writes <= time.time(), (killed_wall, took_writes)
    print(f"primary SIGKILL -> new primary taking writes (its error log): {took_writes - killed_wall:.2f}s")
    write(fleet, new_primary, range(11, 21))
    started = time.monotonic()
    h.start(primary)
    back = await h.wait_state(lambda p: p.diagnosis.state == ClusterState.ONLINE, timeout=90)
    print(f"old primary restart -> ONLINE as secondary: {time.monotonic() - started:.1f}s")
    assert h.primary(back) == new_primary
    assert back.snapshot.instances[primary].role == Role.SECONDARY
    wait_rows(fleet, [0, 1, 2], list(range(1, 21)))


async def test_complete_outage_reboots_from_the_most_advanced_member_without_losing_a_row(
    new_fleet: Callable[[int], MysqlFleet], connector: MysqlConnector,
) -> None:
    fleet, h, primary = await formed_group(new_fleet, connector)
    behind, ahead = (i for i in range(3) if i != primary)
    write(fleet, primary, range(1, 11))
    wait_rows(fleet, [0, 1, 2], list(range(1, 11)))
    h.kill(behind)
    await h.wait_state(lambda p: behind not in p.diagnosis.online and len(p.diagnosis.view) == 2)
    write(fleet, primary, range(11, 21))  # acknowledged by the primary and `ahead`: a majority of 2
    wait_rows(fleet, [primary, ahead], list(range(1, 21)))
    h.kill(ahead)
    h.kill(primary)

    # Two of three come back: the manager cannot prove the outage and refuses, naming the missing one.
    h.start(behind)
    h.start(ahead)
    refused = await h.wait_state(lambda p: p.diagnosis.state == ClusterState.OFFLINE_UNCERTAIN)
    assert refused.plan.action is None
    assert refused.plan.reason == Reason.OUTAGE_UNPROVEN and refused.plan.reason.needs_person
    assert refused.plan.subjects == (primary,)
    report = await h.manager.run_pass(h.spec(Desired(instances=3)))
    assert report.plan.reason == Reason.OUTAGE_UNPROVEN and report.plan.action is None and report.result is None

    # All three back: a provable complete outage; reboot from a member holding every row.
    h.start(primary)
    started = time.monotonic()
    passes = await h.converge(Desired(instances=3))
    print(f"complete outage -> ONLINE: {time.monotonic() - started:.1f}s")
    reboot = done(passes, Kind.REBOOT)
    assert len(reboot) == 1 and reboot[0].target in (primary, ahead) and reboot[0].target != behind
    assert next(p.plan.reason for p in passes if p.plan.action is not None) == Reason.COMPLETE_OUTAGE
    assert not [p for p in passes if p.plan.action and p.plan.action.kind == Kind.BOOTSTRAP]
    wait_rows(fleet, [0, 1, 2], list(range(1, 21)))


async def test_two_of_three_lost_is_no_quorum_nothing_is_forced_until_a_request_forces_it(
    new_fleet: Callable[[int], MysqlFleet], connector: MysqlConnector,
) -> None:
    fleet, h, primary = await formed_group(new_fleet, connector)
    for i in range(3):
        if i != primary:
            h.kill(i)
    lost = await h.wait_state(lambda p: p.diagnosis.state == ClusterState.NO_QUORUM, timeout=60)
    assert lost.plan.reason == Reason.NO_QUORUM and lost.plan.reason.needs_person and lost.plan.action is None
    for _ in range(3):
        report = await h.manager.run_pass(h.spec(Desired(instances=3)))
        assert report.diagnosis.state == ClusterState.NO_QUORUM
        assert report.plan.reason == Reason.NO_QUORUM and report.plan.action is None and report.result is None
        assert report.upkeep is None  # no writer without quorum: nothing is written either
    survivor = report.snapshot.instances[primary]
    assert len(survivor.view) == 3  # still the old view: nobody forced a new membership
    started = time.monotonic()
    forced = await h.manager.run_pass(h.spec(Desired(instances=3)), Request(Intervention.FORCE_QUORUM, primary))
    assert forced.answer is not None and forced.answer.done, h.describe(forced)
    print(f"force quorum from the survivor: {time.monotonic() - started:.1f}s")
    write(fleet, primary, range(1, 6))
    for i in range(3):
        if i != primary:
            h.start(i)
    await h.converge(Desired(instances=3))
    wait_rows(fleet, [0, 1, 2], list(range(1, 6)))


async def test_group_mode_follows_the_desired_spec(
    new_fleet: Callable[[int], MysqlFleet], connector: MysqlConnector,
) -> None:
    fleet = new_fleet(3)
    h = Harnessed(fleet, connector)
    await h.converge(Desired(instances=3))
    multi = await h.converge(Desired(instances=3, mode=GroupMode.MULTI_PRIMARY))
    assert [(a.kind, a.mode) for a in done(multi)] == [(Kind.SET_MODE, GroupMode.MULTI_PRIMARY)]
    assert multi[-1].diagnosis.mode == GroupMode.MULTI_PRIMARY
    assert all(i.role == Role.PRIMARY for i in multi[-1].snapshot.instances)
    assert all(i.super_read_only is False for i in multi[-1].snapshot.instances)
    single = await h.converge(Desired(instances=3, mode=GroupMode.SINGLE_PRIMARY))
    assert [(a.kind, a.mode) for a in done(single)] == [(Kind.SET_MODE, GroupMode.SINGLE_PRIMARY)]
    assert single[-1].diagnosis.mode == GroupMode.SINGLE_PRIMARY
    roles = sorted(i.role for i in single[-1].snapshot.instances)
    assert roles == [Role.PRIMARY, Role.SECONDARY, Role.SECONDARY]
    # The mode is persisted on every member: a restarted server comes back in it.
    for instance in fleet.instances:
        persisted = dict(instance.sql("SELECT variable_name, variable_value FROM performance_schema.persisted_variables"
                                      " WHERE variable_name = 'group_replication_single_primary_mode'"))
        assert persisted == {"group_replication_single_primary_mode": "ON"}, instance.name


# --- the executor's typed results on real servers --------------------------------------


def local_state(instance: MysqlInstance) -> tuple[object, ...]:
    """What a refused action must not change on an instance (read as root, creates no GTID)."""
    return (
        gtid_executed(instance),
        instance.sql("SELECT member_state FROM performance_schema.replication_group_members"
                     " WHERE member_id = @@server_uuid"),
        instance.sql("SELECT variable_name, variable_value FROM performance_schema.persisted_variables"
                     " ORDER BY variable_name"),
        instance.sql("SELECT @@global.group_replication_clone_threshold, @@global.group_replication_bootstrap_group,"
                     " @@global.super_read_only"),
        instance.sql("SELECT user, host, authentication_string FROM mysql.user ORDER BY user, host"),
    )


async def test_the_executor_refuses_an_errant_joiner_and_finds_an_online_member_already_joined(
    new_fleet: Callable[[int], MysqlFleet], connector: MysqlConnector,
) -> None:
    fleet, h, primary = await formed_group(new_fleet, connector)
    errant, online = (i for i in range(3) if i != primary)
    write(fleet, primary, range(1, 6))
    wait_rows(fleet, [0, 1, 2], list(range(1, 6)))
    # A transaction the group never saw: written on a member while its Group Replication is stopped.
    fleet[errant].sql("STOP GROUP_REPLICATION")
    fleet[errant].sql("SET GLOBAL super_read_only = OFF")
    fleet[errant].sql("INSERT INTO app.t VALUES (1000)")

    # The planner says so, as a typed reason naming the instance, and nothing runs.
    report = await h.manager.run_pass(h.spec())
    assert report.plan.reason == Reason.ERRANT_TRANSACTIONS and report.plan.reason.needs_person, h.describe(report)
    assert report.plan.subjects == (errant,) and report.plan.action is None and report.result is None

    # The executor, asked anyway (the world moved since a snapshot), re-checks and refuses.
    executor = Executor(connector, h.targets, h.config)
    before = local_state(fleet[errant])
    for clone in (False, True):
        refused = await executor.execute(Action(Kind.JOIN, errant, clone=clone, mode=GroupMode.SINGLE_PRIMARY),
                                         report.snapshot)
        assert (refused.outcome, refused.refusal) == (Outcome.REFUSED, Refusal.ERRANT), refused
        assert not refused.changed
    assert local_state(fleet[errant]) == before
    assert rows_on(fleet, errant) == [1, 2, 3, 4, 5, 1000]

    # A JOIN of a member that is ONLINE already changes nothing and says so.
    wait_until(lambda: gtid_executed(fleet[online]) == gtid_executed(fleet[primary]), 30,
               message="the pass's metadata write applied on the secondary")
    group_gtids = gtid_executed(fleet[online])
    already = await executor.execute(Action(Kind.JOIN, online, mode=GroupMode.SINGLE_PRIMARY), report.snapshot)
    assert (already.outcome, already.refusal) == (Outcome.ALREADY, None), already
    assert not already.changed
    after = await h.observe()
    assert after.diagnosis.state == ClusterState.ONLINE_PARTIAL
    assert sorted(after.diagnosis.online) == sorted([primary, online])
    assert gtid_executed(fleet[online]) == group_gtids


# --- the operator's passwords recovered through root ------------------------------------


async def create_admin_locally(instance: MysqlInstance, user: str, password: str) -> None:
    """The operator's admin account as the product's init-datadir.sh makes it: on every
    instance, outside the binary log (no GTIDs)."""
    s = await connect(Endpoint(instance.host, instance.port), Credentials(ROOT_USER, instance.password))
    try:
        await s.execute("SET SESSION sql_log_bin = 0")
        await s.execute("CREATE USER IF NOT EXISTS %s@%s IDENTIFIED BY %s", (user, "%", Secret(password)))
        await s.execute("GRANT ALL PRIVILEGES ON *.* TO %s@%s WITH GRANT OPTION", (user, "%"))
        await s.execute("SET SESSION sql_log_bin = 1")
    finally:
        await s.close()


async def logs_in(instance: MysqlInstance, credentials: Credentials) -> bool:
    """True when ``credentials`` log in (as that account), False when refused."""
    try:
        s = await connect(Endpoint(instance.host, instance.port), credentials)
    except AccessDenied:
        return False
    try:
        row = await s.query_one("SELECT CURRENT_USER() AS me")
        assert row == {"me": f"{credentials.user}@%"}, row
    finally:
        await s.close()
    return True


def recovery_channel(instance: MysqlInstance) -> list[tuple[object, ...]]:
    return instance.sql("SELECT User_name, User_password FROM mysql.slave_master_info"
                        " WHERE Channel_name = 'group_replication_recovery'")


async def test_lost_operator_passwords_are_reset_through_root_and_a_restarted_member_rejoins_with_them(
    new_fleet: Callable[[int], MysqlFleet], connector: MysqlConnector,
) -> None:
    fleet = new_fleet(3)
    old_admin = Credentials(ADMIN_USER, secrets.token_urlsafe(16))
    for instance in fleet.instances:
        await create_admin_locally(instance, old_admin.user, old_admin.password.reveal())
    h = Harnessed(fleet, connector, admin=old_admin)
    await h.converge(Desired(instances=3))
    primary = h.primary(h.passes[-1])
    write(fleet, primary, range(1, 11))
    wait_rows(fleet, [0, 1, 2], list(range(1, 11)))
    old = (h.config.admin, h.config.replication, h.router)
    for instance in fleet.instances:
        assert [await logs_in(instance, c) for c in old] == [True, True, True], instance.name
    # What the controller does when the private Secret is lost: fresh passwords, observe as root.
    fresh = {user: Secret(secrets.token_urlsafe(16)) for user in (ADMIN_USER, REPLICATION_USER, ROUTER_USER,
                                                                  BACKUP_USER)}
    new_config = dataclasses.replace(h.config, admin=Credentials(ADMIN_USER, fresh[ADMIN_USER]),
                                     replication=Credentials(REPLICATION_USER, fresh[REPLICATION_USER]))
    new_router = Credentials(ROUTER_USER, fresh[ROUTER_USER])
    spec = dataclasses.replace(h.spec(), config=new_config, router=new_router)

    # A wrong root password: refused everywhere, and not one transaction anywhere.
    before = [gtid_executed(i) for i in fleet.instances]
    wrong_root = Credentials(ROOT_USER, "wrong-" + fleet.password)
    snapshot, diagnosis = await h.manager.observe(spec, wrong_root)
    assert [i.state for i in snapshot.instances] == [MemberState.ACCESS_DENIED] * 3
    denied = await h.manager.recover(spec, snapshot, diagnosis, login=wrong_root, passwords=fresh)
    assert (denied.outcome, denied.accounts, denied.stale) == (RecoveryOutcome.LOGIN_DENIED, (), ())
    assert [gtid_executed(i) for i in fleet.instances] == before
    for instance in fleet.instances:
        assert [await logs_in(instance, c) for c in old] == [True, True, True], instance.name
    assert all(recovery_channel(i) == [(REPLICATION_USER, old[1].password.reveal())] for i in fleet.instances), \
        "a recovery channel changed"

    # The right root: every existing account gets its new password, through the group.
    root = Credentials(ROOT_USER, fleet.password)
    snapshot, diagnosis = await h.manager.observe(spec, root)
    assert diagnosis.state == ClusterState.ONLINE and diagnosis.primary == primary
    started = time.monotonic()
    recovered = await h.manager.recover(spec, snapshot, diagnosis, login=root, passwords=fresh)
    print(f"recover through root on a 3-member group: {time.monotonic() - started:.2f}s")
    assert recovered.outcome == RecoveryOutcome.RECOVERED, recovered.detail
    assert sorted(recovered.accounts) == sorted([ADMIN_USER, REPLICATION_USER, ROUTER_USER])  # no backup account
    assert recovered.stale == ()
    assert not fleet[primary].sql("SELECT 1 FROM mysql.user WHERE user = %s", (BACKUP_USER,))
    # From now on the operator uses the new passwords (as the controller, once it wrote the Secret).
    h.config, h.router = new_config, new_router
    online = await h.wait_state(lambda p: p.diagnosis.state == ClusterState.ONLINE
                                and len({gtid_executed(i) for i in fleet.instances}) == 1)
    assert online.diagnosis.primary == primary  # the group never noticed
    new = (new_config.admin, new_config.replication, new_router)
    for instance in fleet.instances:
        assert [await logs_in(instance, c) for c in new] == [True, True, True], instance.name
        assert [await logs_in(instance, c) for c in old] == [False, False, False], instance.name
        # The recovery channel was given the new replication password while the member was ONLINE.
        current = recovery_channel(instance) == [(REPLICATION_USER, fresh[REPLICATION_USER].reveal())]
        assert current, f"{instance.name}: the recovery channel does not hold the new credentials"

    # The manager carries on with the new passwords: upkeep runs again, the router logs in as is.
    report = await h.manager.run_pass(h.spec())
    assert report.diagnosis.state == ClusterState.ONLINE and report.plan.reason == Reason.CONVERGED, h.describe(report)
    assert report.result is None
    assert report.upkeep is not None and report.upkeep.outcome == UpkeepOutcome.ENSURED, report.upkeep
    assert not report.upkeep.router_account_changed and not report.upkeep.wrote

    # A restarted secondary rejoins by itself with the channel's new credentials, and catches up
    # by distributed recovery (the rows it missed come from a donor, as the replication account).
    secondary = next(i for i in range(3) if i != primary)
    for i in range(3):
        if i != secondary:  # expel the dead member at once (default: 5 s more)
            fleet[i].sql("SET GLOBAL group_replication_member_expel_timeout = 0")
    killed_uuid = report.snapshot.instances[secondary].uuid
    h.kill(secondary)
    await h.wait_state(lambda p: killed_uuid not in {m.uuid for m in p.diagnosis.view})
    write(fleet, primary, range(11, 21))
    started = time.monotonic()
    h.start(secondary)
    back = await h.wait_state(lambda p: p.diagnosis.state == ClusterState.ONLINE, timeout=90)
    print(f"secondary restart after recovery -> ONLINE, no manager action: {time.monotonic() - started:.1f}s")
    assert back.snapshot.instances[secondary].role == Role.SECONDARY
    wait_rows(fleet, [0, 1, 2], list(range(1, 21)))
