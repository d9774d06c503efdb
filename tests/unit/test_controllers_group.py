"""The controller side of the group engine (pure parts): targets, desired state, status, memo, cadence."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from innodb_api.types import Cluster
from innodb_operator.builders.status import GroupStatus, MemberStatus, Observed, compute_status
from innodb_operator.clustering.actions import GroupConfig
from innodb_operator.clustering.engine import Engine, Pass
from innodb_operator.clustering.model import (
    Desired,
    GroupMode,
    Instance,
    Member,
    MemberState,
    Role,
    Snapshot,
    unreachable,
)
from innodb_operator.clustering.observe import Target, observe_instance
from innodb_operator.clustering.plan import Action, Kind, Plan, next_action
from innodb_operator.clustering.state import decide
from innodb_operator.controllers import group as grp
from innodb_operator.controllers.runner import enqueue_labelled
from innodb_operator.mysql.connection import Credentials, Endpoint
from innodb_operator.workqueue import RateLimitingQueue

PASSWORDS = {"adminPassword": "admin-secret-pw", "replicationPassword": "repl-secret-pw",
             "routerPassword": "router-secret-pw", "backupPassword": "backup-secret-pw"}
UID = "6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
T1, T2 = "2030-01-01T00:00:00Z", "2030-01-01T00:01:00Z"
DOMAIN = "c-instances.ns.svc.cluster.local"


def cluster(instances: int = 3, mode: str = "SinglePrimary", uid: str = UID) -> Cluster:
    return Cluster.from_object({
        "metadata": {"name": "c", "namespace": "ns", "uid": uid, "generation": 2},
        "spec": {"secretName": "s", "instances": instances, "groupMode": mode, "router": {"instances": 1}},
    })


def pod(ordinal: int, *, ip: str | None = "10.0.0.1", phase: str = "Running", cluster_label: str = "c",
        component: str = "database", name: str | None = None) -> dict[str, Any]:
    status: dict[str, Any] = {"phase": phase}
    if ip:
        status["podIP"] = ip
    return {"metadata": {"name": name or f"c-{ordinal}", "namespace": "ns",
                         "labels": {"mysql.innodb-operator.dev/cluster": cluster_label,
                                    "app.kubernetes.io/component": component}},
            "status": status}


def uuid_of(index: int) -> str:
    return f"00000000-0000-4000-8000-00000000000{index}"


def online_group(count: int, *, primary: int = 0, version: str = "9.7.4") -> tuple[Instance, ...]:
    """``count`` instances, all ONLINE in one view, ``primary`` the primary."""
    def role(i: int) -> Role:
        return Role.PRIMARY if i == primary else Role.SECONDARY

    view = tuple(Member(uuid_of(i), f"c-{i}.{DOMAIN}:3306", MemberState.ONLINE, role(i)) for i in range(count))
    return tuple(Instance(index=i, address=f"c-{i}.{DOMAIN}:3306", uuid=uuid_of(i), state=MemberState.ONLINE,
                          role=role(i), view=view, group_name=UID, single_primary=True, version=version)
                 for i in range(count))


def seen(instances: tuple[Instance, ...], desired: int = 3, *, done: str | None = None,
         refused: str | None = None) -> Pass:
    snapshot = Snapshot(instances, Desired(instances=desired))
    diagnosis = decide(snapshot)
    return Pass(snapshot, diagnosis, next_action(snapshot, diagnosis), done=done, refused=refused)


# --- instances and targets -------------------------------------------------------------------


def test_server_pods_are_the_clusters_database_pods_by_ordinal() -> None:
    pods = [pod(0), pod(2), pod(1, cluster_label="other"), pod(3, component="router"),
            pod(4, name="c-router-abc"), pod(5, name="c-05")]
    assert sorted(grp.server_pods(cluster(), pods)) == [0, 2]


@pytest.mark.parametrize(("case", "obj", "running"), [
    ("running with an IP", pod(0), True),
    ("pending, no IP yet", pod(0, ip=None, phase="Pending"), False),
    ("terminated", pod(0, phase="Failed"), False),
    ("completed", pod(0, phase="Succeeded"), False),
])
def test_a_pod_is_contacted_only_when_it_may_run_a_server(case: str, obj: dict[str, Any], running: bool) -> None:
    assert grp.is_running(obj) is running


def test_the_engine_looks_after_the_spec_ordinals_and_any_pod_left_above_them() -> None:
    assert grp.instance_count(cluster(3), []) == 3
    assert grp.instance_count(cluster(3), [0, 1]) == 3
    assert grp.instance_count(cluster(3), [0, 1, 2, 3, 4]) == 5  # scale-down not finished
    assert grp.instance_count(cluster(1), [0, 3]) == 4


def test_targets_are_pod_dns_names_on_3306_with_the_group_on_33061() -> None:
    targets = grp.build_targets(cluster(), 3, running={0, 2})
    assert [(t.index, str(t.endpoint), t.gr_address, t.running) for t in targets] == [
        (0, f"c-0.{DOMAIN}:3306", f"c-0.{DOMAIN}:33061", True),
        (1, f"c-1.{DOMAIN}:3306", f"c-1.{DOMAIN}:33061", False),
        (2, f"c-2.{DOMAIN}:3306", f"c-2.{DOMAIN}:33061", True),
    ]


async def test_a_target_that_does_not_run_is_unreachable_without_a_connection() -> None:
    target = Target(1, Endpoint("no-such-host.invalid", 3306), running=False)
    assert await observe_instance(target, Credentials("u", "p"), connect_timeout=0.01) == unreachable(
        1, "no-such-host.invalid:3306")


async def test_act_on_a_pass_without_an_action_changes_nothing() -> None:
    engine = Engine([], GroupConfig(group_name=UID, mode=GroupMode.SINGLE_PRIMARY,
                                        admin=Credentials("a", "x"), replication=Credentials("r", "y")))
    nothing = seen(online_group(3))
    assert nothing.plan.action is None
    assert await engine.act(nothing) is nothing


# --- what the spec asks -------------------------------------------------------------------------


@pytest.mark.parametrize(("spec_mode", "mode"), [("SinglePrimary", GroupMode.SINGLE_PRIMARY),
                                                 ("MultiPrimary", GroupMode.MULTI_PRIMARY)])
def test_desired_follows_the_spec(spec_mode: str, mode: GroupMode) -> None:
    assert grp.desired(cluster(5, spec_mode)) == Desired(instances=5, mode=mode)
    assert grp.group_mode(spec_mode) == mode


def test_the_group_name_is_the_recorded_one_else_the_uid() -> None:
    other = "11111111-2222-4333-8444-555555555555"
    assert grp.group_name_for(cluster(), None) == UID
    assert grp.group_name_for(cluster(), {"cluster": {"groupName": other}}) == other
    assert grp.group_name_for(cluster(), {"cluster": {"groupName": "not a uuid"}}) == UID
    odd = grp.group_name_for(cluster(uid="u-1"), None)  # not a UUID (fakes): still a stable UUID
    assert odd == grp.group_name_for(cluster(uid="u-1"), None) and len(odd) == 36


def test_credentials_come_from_the_private_secret() -> None:
    admin, replication, router = grp.credentials(PASSWORDS)
    assert (admin.user, replication.user, router.user) == ("innodbop-admin", "innodbop-repl", "innodbop-router")
    assert admin.password.reveal() == "admin-secret-pw" and "admin-secret-pw" not in repr(admin)


def test_instances_of_another_group_are_foreign() -> None:
    other = "11111111-2222-4333-8444-555555555555"
    instances = (*online_group(2), replace(online_group(3)[2], group_name=other), unreachable(3, "x"))
    snapshot = Snapshot(instances, Desired(instances=4))
    assert [i.index for i in grp.foreign(snapshot, UID)] == [2]
    assert grp.foreign(snapshot, UID.upper()) == grp.foreign(snapshot, UID)


# --- status ------------------------------------------------------------------------------------


def test_group_status_lists_every_instance_with_its_state_and_role() -> None:
    instances = (*online_group(2, primary=1),
                 Instance(index=2, address="c-2", uuid=uuid_of(2), state=MemberState.MISSING, version="9.7.4"),
                 unreachable(3, "c-3"), unreachable(4, "c-4"))
    status = grp.group_status(cluster(4), seen(instances, desired=4), running={0, 1, 2, 3}, group_name=UID)
    assert status.members == (
        MemberStatus("c-0", "ONLINE", "SECONDARY", "9.7.4"),
        MemberStatus("c-1", "ONLINE", "PRIMARY", "9.7.4"),
        MemberStatus("c-2", "OFFLINE", "", "9.7.4"),  # answers, runs no Group Replication
        MemberStatus("c-3", "UNREACHABLE"),  # its pod runs, mysqld does not answer
        MemberStatus("c-4", "MISSING"),  # no pod (or no IP)
    )
    assert (status.primary, status.online, status.known, status.mode) == ("c-1", 2, True, "SinglePrimary")
    assert status.state == "ONLINE_UNCERTAIN" and status.group_name == UID


def test_group_status_of_nothing_reachable_is_unknown() -> None:
    instances = tuple(unreachable(i, f"c-{i}") for i in range(3))
    status = grp.group_status(cluster(), seen(instances), running=set(), group_name=UID)
    assert status.state == "PENDING" and not status.known and status.online == 0 and status.primary == ""
    assert [m.state for m in status.members] == ["MISSING"] * 3


def healthy(online: int = 3, **kwargs: Any) -> GroupStatus:
    members = tuple(MemberStatus(f"c-{i}", "ONLINE", "PRIMARY" if i == 0 else "SECONDARY", "9.7.4")
                    for i in range(online))
    defaults: dict[str, Any] = {"state": "ONLINE" if online == 3 else "ONLINE_PARTIAL", "group_name": UID,
                                "members": members, "online": online, "primary": "c-0", "mode": "SinglePrimary",
                                "message": "nothing to do", "known": True}
    return GroupStatus(**{**defaults, **kwargs})


def workload(ready: int, replicas: int) -> dict[str, Any]:
    return {"metadata": {"generation": 1},
            "status": {"observedGeneration": 1, "replicas": replicas, "updatedReplicas": replicas,
                       "readyReplicas": ready}}


def conditions(status: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}


def test_status_of_a_healthy_group_is_online_with_its_members_and_primary() -> None:
    # Pod readiness lags behind (0 ready): the group's own membership counts.
    status = compute_status(cluster(), [], Observed(workload(0, 3), workload(1, 1), group=healthy()), None, T1)
    assert status["cluster"] == {
        "status": "ONLINE", "onlineInstances": 3, "instances": 3, "groupMode": "SinglePrimary", "primary": "c-0",
        "groupName": UID,
        "members": [{"name": "c-0", "state": "ONLINE", "role": "PRIMARY", "version": "9.7.4"},
                    {"name": "c-1", "state": "ONLINE", "role": "SECONDARY", "version": "9.7.4"},
                    {"name": "c-2", "state": "ONLINE", "role": "SECONDARY", "version": "9.7.4"}],
    }
    assert conditions(status) == {"SpecValid": ("True", "Valid"), "Ready": ("True", "AllMembersOnline"),
                                  "Available": ("True", "Serving"), "Progressing": ("False", "Stable"),
                                  "Degraded": ("False", "NotDegraded")}


def test_status_of_a_partial_group_says_what_the_engine_does_next() -> None:
    group = healthy(2, message=f"joining c-2.{DOMAIN}:3306 to the group (clone)")
    status = compute_status(cluster(), [], Observed(workload(3, 3), workload(1, 1), group=group), None, T1)
    assert status["cluster"]["status"] == "ONLINE_PARTIAL" and status["cluster"]["onlineInstances"] == 2
    assert conditions(status)["Ready"] == ("False", "MembersNotOnline")
    assert conditions(status)["Degraded"] == ("True", "MembersOffline")
    (ready,) = [c for c in status["conditions"] if c["type"] == "Ready"]
    assert ready["message"] == f"2 of 3 members online; joining c-2.{DOMAIN}:3306 to the group (clone)."


def test_status_falls_back_to_pod_readiness_when_no_instance_answers() -> None:
    group = GroupStatus("PENDING", UID, tuple(MemberStatus(f"c-{i}", "MISSING") for i in range(3)),
                        message="waiting for instances to start", known=False)
    status = compute_status(cluster(), [], Observed(workload(0, 3), workload(0, 1), group=group), None, T1)
    assert status["cluster"]["status"] == "PENDING" and status["cluster"]["onlineInstances"] == 0
    assert [m["state"] for m in status["cluster"]["members"]] == ["MISSING"] * 3
    assert status["cluster"]["groupName"] == UID and status["cluster"]["primary"] == ""


def test_status_of_an_unchanged_group_is_unchanged_and_keeps_its_group_name_and_create_time() -> None:
    observed = Observed(workload(3, 3), workload(1, 1), group=healthy(bootstrapped=True))
    first = compute_status(cluster(), [], observed, None, T1)
    assert first["cluster"]["createTime"] == T1
    again = compute_status(cluster(), [], Observed(workload(3, 3), workload(1, 1), group=healthy()), first, T2)
    assert again == first
    # A pass where the engine could not run (or the spec is invalid) keeps what was known.
    blind = compute_status(cluster(), [], Observed(workload(3, 3), workload(1, 1)), first, T2)
    assert blind["cluster"]["members"] == first["cluster"]["members"]
    assert blind["cluster"]["groupName"] == UID and blind["cluster"]["createTime"] == T1
    # A recorded group name is never replaced.
    other = compute_status(cluster(), [], Observed(workload(3, 3), workload(1, 1),
                                                   group=healthy(group_name="x")), first, T2)
    assert other["cluster"]["groupName"] == UID


# --- metadata upkeep memo ----------------------------------------------------------------------


def test_metadata_members_are_the_online_members_with_their_dns_addresses() -> None:
    instances = (*online_group(2), Instance(index=2, address="c-2", uuid=uuid_of(2), state=MemberState.MISSING))
    result = seen(instances)
    members = grp.metadata_members(cluster(), result.snapshot, result.diagnosis)
    assert [(m.uuid, m.address, m.x_address, m.label) for m in members] == [
        (uuid_of(0), f"c-0.{DOMAIN}:3306", f"c-0.{DOMAIN}:33060", "c-0"),
        (uuid_of(1), f"c-1.{DOMAIN}:3306", f"c-1.{DOMAIN}:33060", "c-1"),
    ]
    assert grp.writer(result.diagnosis) == 0


def test_no_writer_without_quorum() -> None:
    instances = tuple(unreachable(i, f"c-{i}") for i in range(3))
    assert grp.writer(seen(instances).diagnosis) is None


def test_upkeep_runs_again_only_when_group_members_mode_or_router_account_change() -> None:
    result = seen(online_group(3))
    router = Credentials("innodbop-router", "pw")
    members = grp.metadata_members(cluster(), result.snapshot, result.diagnosis)
    done = grp.upkeep_for(UID, members, result.diagnosis, router)
    assert grp.needs_upkeep(None, done)
    assert not grp.needs_upkeep(done, grp.upkeep_for(UID, tuple(reversed(members)), result.diagnosis, router))
    assert grp.needs_upkeep(done, grp.upkeep_for(UID, members[:2], result.diagnosis, router))
    assert grp.needs_upkeep(done, grp.upkeep_for(UID, members, result.diagnosis, Credentials("innodbop-router",
                                                                                             "new")))
    multi = replace(result.diagnosis, mode=GroupMode.MULTI_PRIMARY)
    assert grp.needs_upkeep(done, grp.upkeep_for(UID, members, multi, router))
    assert "pw" not in repr(done)


# --- cadence and events ------------------------------------------------------------------------


def test_requeue_soon_while_the_engine_has_work_else_the_poll() -> None:
    assert grp.requeue_after(seen(online_group(3)), {0, 1, 2}, 30) == 30  # ONLINE, nothing to do
    joining = seen((*online_group(2), Instance(index=2, address="c-2", uuid=uuid_of(2), group_name="")))
    assert joining.plan.action is not None and grp.requeue_after(joining, {0, 1, 2}, 30) == 2
    starting = seen(tuple(unreachable(i, f"c-{i}") for i in range(3)))
    assert grp.requeue_after(starting, {0, 1, 2}, 30) == 2  # pods run, servers starting
    assert grp.requeue_after(starting, set(), 30) == 30  # no pod runs: pod events wake us
    assert grp.requeue_after(joining, {0, 1, 2}, 30, blocked=True) == 30  # a person must act
    assert grp.requeue_after(seen(online_group(3)), {0, 1, 2}, 1) == 1


def test_an_action_done_is_a_normal_event_naming_the_pod() -> None:
    joining = seen((*online_group(2), Instance(index=2, address="c-2", uuid=uuid_of(2))), done="started")
    assert joining.plan.action is not None and joining.plan.action.kind == Kind.JOIN
    notice = grp.done_notice(cluster(), joining)
    assert notice is not None and notice.type == "Normal" and notice.reason == "Joined"
    assert notice.message.startswith("Joined c-2 to the group (")
    boot = replace(joining, plan=Plan(Action(Kind.BOOTSTRAP, 0), "bootstrapping"))
    assert grp.done_notice(cluster(), boot) == grp.Notice("Normal", "Bootstrapped", "Bootstrapped the group from c-0")
    assert grp.group_status(cluster(), boot, {0, 1, 2}, UID).bootstrapped
    assert grp.done_notice(cluster(), replace(joining, done=None, refused="busy")) is None


def test_a_blocked_plan_or_errant_refusal_is_a_warning() -> None:
    blocked = replace(seen(online_group(3)), plan=Plan(None, "blocked: two groups each claim a majority"))
    assert grp.blocked_notice(blocked) == grp.Notice("Warning", "GroupBlocked", "two groups each claim a majority")
    errant = replace(seen(online_group(3)), refused="c-2 has transactions the group does not have (errant)")
    notice = grp.blocked_notice(errant)
    assert notice is not None and notice.type == "Warning"
    assert grp.blocked_notice(replace(seen(online_group(3)), refused="another member is still recovering")) is None


def test_warnings_are_emitted_once_per_message() -> None:
    driver = grp.GroupDriver()
    warning = grp.Notice("Warning", "GroupBlocked", "split")
    assert driver._once("ns/c", "group", warning) == [warning]
    assert driver._once("ns/c", "group", warning) == []
    assert driver._once("ns/c", "group", None) == []
    assert driver._once("ns/c", "group", warning) == [warning]
    driver.forget("ns/c")
    assert driver._once("ns/c", "group", warning) == [warning]


async def test_drive_without_running_pods_costs_no_connection_and_reports_pending() -> None:
    driver = grp.GroupDriver()
    outcome = await driver.drive(cluster(), [pod(i, ip=None, phase="Pending") for i in range(3)], PASSWORDS, None,
                                 poll=30)
    assert outcome is not None and outcome.requeue_after == 30 and outcome.events == ()
    assert outcome.status.state == "PENDING" and not outcome.status.known
    assert [m.state for m in outcome.status.members] == ["MISSING"] * 3
    status = compute_status(cluster(), [], Observed(group=outcome.status), None, T1)
    assert not any(pw in repr(status) for pw in PASSWORDS.values())


# --- pods map to their cluster --------------------------------------------------------------------


def test_a_pod_event_enqueues_its_cluster_by_label() -> None:
    queue: RateLimitingQueue[str] = RateLimitingQueue("t")
    on_add, on_update, on_delete = enqueue_labelled(queue, "mysql.innodb-operator.dev/cluster")
    p = pod(0) | {"metadata": {**pod(0)["metadata"], "resourceVersion": "1"}}
    on_add(p)
    assert len(queue) == 1
    on_update(p, p)  # a resync: nothing new
    on_delete({"metadata": {"name": "x", "namespace": "ns", "labels": {}}})  # not a cluster's pod
    assert len(queue) == 1


def test_an_action_that_found_nothing_to_do_is_no_event() -> None:
    joining = seen((*online_group(2), Instance(index=2, address="c-2", uuid=uuid_of(2))),
                   done=f"c-2.{DOMAIN}:3306 is already ONLINE")
    assert grp.done_notice(cluster(), joining) is None
