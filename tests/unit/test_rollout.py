"""Rolling restarts: which member goes next, and why the roll waits (pure decisions)."""

from __future__ import annotations

from typing import Any

from innodb_operator.controllers.rollout import Rollout, Step, hand_over_from, next_step, rollout

NAMES = {i: f"c-{i}" for i in range(3)}


def sts(revision: str = "new", *, generation: int = 2, observed: int = 2) -> dict[str, Any]:
    return {"metadata": {"generation": generation},
            "status": {"updateRevision": revision, "observedGeneration": observed}}


def pod(revision: str, *, deleting: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"labels": {"controller-revision-hash": revision}}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"metadata": meta}


def step(roll: Rollout, pods: dict[int, dict[str, Any]], *, primary: int | None = 0, settled: bool = True,
         caught_up: dict[int, bool] | None = None) -> tuple[int | None, str]:
    done = next_step(roll, pods, settled=settled, primary=primary, caught_up=caught_up or dict.fromkeys(pods, True),
                     name=NAMES)
    return done.evict, done.message


def test_progress_is_read_from_the_pods_revisions_once_the_statefulset_controller_has_seen_the_change() -> None:
    pods = {0: pod("old"), 1: pod("new"), 2: pod("old")}
    roll = rollout(sts(), pods, 3)
    assert (roll.outdated, roll.updated, roll.total, roll.under_way) == ((0, 2), 1, 3, True)
    assert not rollout(sts(observed=1), pods, 3).under_way, "an update revision not yet computed is not trusted"
    assert not rollout(None, pods, 3).under_way
    assert not rollout(sts(), {i: pod("new") for i in range(3)}, 3).under_way


def test_secondaries_go_first_highest_ordinal_first_and_the_primary_is_handed_over_last() -> None:
    pods = {i: pod("old") for i in range(3)}
    roll = rollout(sts(), pods, 3)
    assert step(roll, pods, primary=1) == (2, "restarting c-2 (1 of 3)")
    pods = {0: pod("old"), 1: pod("old"), 2: pod("new")}
    assert step(rollout(sts(), pods, 3), pods, primary=1) == (0, "restarting c-0 (2 of 3)")
    pods = {0: pod("new"), 1: pod("old"), 2: pod("new")}
    last = rollout(sts(), pods, 3)
    assert hand_over_from(last, 1) == 1 and hand_over_from(last, 0) is None
    assert step(last, pods, primary=1) == (None, "moving the primary away from c-1 before its restart")
    assert step(last, pods, primary=0) == (1, "restarting c-1 (3 of 3)"), "once a secondary, it goes"


def test_an_upgrades_last_member_restarts_as_the_primary_when_no_other_may_take_over() -> None:
    pods = {0: pod("new"), 1: pod("old"), 2: pod("new")}
    last = rollout(sts(), pods, 3)
    done = next_step(last, pods, settled=True, primary=1, caught_up=dict.fromkeys(pods, True), name=NAMES,
                     heir_exists=False)
    evict, message = done.evict, done.message
    assert evict == 1 and "restarting c-1 (3 of 3) as the primary" in message and "lowest MySQL version" in message
    secondaries_left = {0: pod("old"), 1: pod("old"), 2: pod("new")}
    assert next_step(rollout(sts(), secondaries_left, 3), secondaries_left, settled=True, primary=1,
                     caught_up=dict.fromkeys(pods, True), name=NAMES, heir_exists=False).evict == 0


def crash_looping(revision: str) -> dict[str, Any]:
    printed = ("2026-12-03T12:00:00.1Z 0 [ERROR] [MY-000067] [Server] unknown variable 'no_such_option=1'.\n"
               "2026-12-03T12:00:00.1Z 0 [ERROR] [MY-010119] [Server] Aborting\n"
               "2026-12-03T12:00:00.2Z 4 [ERROR] [MY-011563] [Repl] Plugin group_replication reported: "
               "'Unable to start Group Replication.'\n")
    return {**pod(revision), "status": {"containerStatuses": [{
        "name": "mysql", "state": {"waiting": {"reason": "CrashLoopBackOff"}},
        "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "message": printed}}}]}}


def test_a_member_that_does_not_come_back_stops_the_roll_naming_it_and_what_it_printed() -> None:
    pods = {0: pod("old"), 1: pod("old"), 2: crash_looping("new")}
    done = next_step(rollout(sts(), pods, 3), pods, settled=False, primary=0, caught_up={}, name=NAMES,
                     not_online=["c-2"])
    assert done.evict is None
    assert done.message == ("waiting for c-2 (mysql container CrashLoopBackOff, last exit 1: 2026-12-03T12:00:00.1Z 0 "
                            "[ERROR] [MY-000067] [Server] unknown variable 'no_such_option=1'.) to be ONLINE")


def test_a_fixed_template_reaches_a_crash_looping_member_first() -> None:
    pods = {0: pod("old"), 1: pod("old"), 2: crash_looping("bad")}
    done = next_step(rollout(sts("fixed"), pods, 3), pods, settled=False, primary=0, caught_up={}, name=NAMES,
                     not_online=["c-2"])
    assert done.evict == 2 and "not running mysqld" in done.message
    running_but_recovering = {0: pod("old"), 1: pod("old"), 2: pod("bad")}
    assert next_step(rollout(sts("fixed"), running_but_recovering, 3), running_but_recovering, settled=False,
                     primary=0, caught_up={}, name=NAMES, not_online=["c-2"]).evict is None, "a running member waits"


def test_the_roll_waits_for_a_restarting_pod_a_settled_group_and_a_caught_up_applier() -> None:
    pods = {0: pod("old"), 1: pod("new", deleting=True), 2: pod("new")}
    roll = rollout(sts(), pods, 3)
    assert step(roll, pods) == (None, "waiting for c-1 to restart")
    pods = {0: pod("old"), 2: pod("new")}
    assert step(rollout(sts(), pods, 3), pods) == (None, "waiting for c-1 to restart"), "a pod not recreated yet"
    pods = {0: pod("old"), 1: pod("new"), 2: pod("old")}
    roll = rollout(sts(), pods, 3)
    assert step(roll, pods, settled=False) == (None, "waiting for the group to settle")
    assert next_step(roll, pods, settled=False, primary=0, caught_up={}, name=NAMES, not_online=["c-1"]) == (
        Step(None, "waiting for c-1 to be ONLINE")), "a member that does not come back is named"
    assert step(roll, pods, caught_up={0: True, 1: False, 2: True}) == (
        None, "waiting for c-1 to apply what it received")
    assert step(roll, pods, caught_up={0: False, 1: True, 2: True})[0] == 2, "an outdated member's backlog is no bar"


def test_an_applier_a_few_transactions_behind_is_caught_up_and_a_long_backlog_is_not() -> None:
    from innodb_operator.clustering.model import Desired, Instance, Snapshot
    from innodb_operator.controllers.rollout import APPLIER_BACKLOG, caught_up
    from innodb_operator.mysql.gtid import GtidSet

    source = "3e11fa47-71ca-11e1-9e33-c80aa9429562"
    executed = GtidSet.parse(f"{source}:1-1000")

    def member(index: int, received_up_to: int) -> Instance:
        return Instance(index, f"m-{index}", gtid_executed=executed,
                        gtid_total=GtidSet.parse(f"{source}:1-{received_up_to}"))

    snapshot = Snapshot((member(0, 1000), member(1, 1000 + APPLIER_BACKLOG), member(2, 1001 + APPLIER_BACKLOG),
                         Instance(3, "m-3", reachable=False)), Desired(instances=4))
    assert caught_up(snapshot) == {0: True, 1: True, 2: False, 3: False}
