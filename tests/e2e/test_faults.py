"""Faults with an application writing through the router: what broke, when writes resumed, nothing lost.

Every test runs the acknowledged-write checker (:mod:`innodb_dev.writechecker`) across the fault
and ends by reading every acknowledged id back from every member through its own address.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from e2e.cluster import Cluster, install, uninstall
from innodb_dev.localenv import OPERATOR_NS, LocalEnv
from innodb_dev.waiting import wait_until
from innodb_dev.writechecker import Report, WriteChecker

NAMESPACE, RELEASE = "faults", "faults"
TIMINGS: dict[str, float] = {}


@pytest.fixture(scope="module")
def cluster(operator: LocalEnv) -> Iterator[Cluster]:
    cluster, took = install(operator, NAMESPACE, RELEASE, secrets.token_urlsafe(12))
    TIMINGS["apply to ONLINE, 3 members"] = took
    yield cluster
    print("\nfault timings: " + "; ".join(f"{k}: {v:.1f}s" for k, v in TIMINGS.items()))
    uninstall(cluster)


def _say(broke: str, resumed: float, report: Report, *, what: str = "writes resumed after") -> None:
    print(f"\n{broke}: {what} {resumed:.1f}s; {report.acknowledged} acknowledged writes "
          f"checked on every member: {sum(map(len, report.lost.values()))} lost, "
          f"{sum(map(len, report.duplicated.values()))} duplicated ({report.errors} client errors on the way)")


def _check(checker: WriteChecker, cluster: Cluster) -> Report:
    report = checker.verify(cluster.member_addresses())
    assert report.ok, f"lost: {report.lost}; duplicated: {report.duplicated}"
    return report


def test_sigkill_of_the_primary_mysqld(cluster: Cluster) -> None:
    primary = cluster.primary()
    with WriteChecker(cluster.router, 6446, cluster.password) as checker:
        pid = cluster.env.container_pid(NAMESPACE, primary, "mysql")
        killed_at = time.monotonic()
        os.kill(pid, signal.SIGKILL)
        resumed = checker.wait_for_recovery_after(killed_at)
        new_primary = cluster.rw("SELECT @@hostname")[0][0]
        cluster.wait_members(3)
        rejoined = time.monotonic() - killed_at
        checker.wait_for_writes_after(time.monotonic(), count=20)
    report = _check(checker, cluster)
    assert new_primary != primary
    TIMINGS["primary failover (kill to first acknowledged write)"] = resumed
    TIMINGS["killed member back ONLINE (restart and rejoin)"] = rejoined
    _say(f"SIGKILL of mysqld on the primary {primary} (new primary {new_primary}; {primary} restarted and "
         f"back ONLINE {rejoined:.1f}s after the kill)", resumed, report)


def test_deletion_of_the_primary_pod(cluster: Cluster) -> None:
    primary = cluster.primary()
    uid = cluster.pod_uid(primary)
    with WriteChecker(cluster.router, 6446, cluster.password) as checker:
        deleted_at = time.monotonic()
        cluster.env.kubectl("delete", "pod", "-n", NAMESPACE, primary, "--wait=false")
        checker.wait_for_writes_after(deleted_at)
        wait_until(lambda: cluster.pod_uid(primary) not in (None, uid), 120, interval=0.5,
                   message=f"the StatefulSet to recreate {primary}")
        cluster.wait_members(3)
        back = time.monotonic() - deleted_at
        checker.wait_for_writes_after(time.monotonic(), count=20)
    report = _check(checker, cluster)
    assert cluster.primary() != primary, "the deleted primary's pod came back, the primary role moved on"
    # A deleted pod's mysqld shuts down cleanly and hands the primary over: the cost is the write gap.
    gap = checker.longest_gap(deleted_at)
    TIMINGS["primary pod deleted: longest write gap"] = gap
    _say(f"deletion of the primary's pod {primary} (recreated and back ONLINE {back:.1f}s after the delete)",
         gap, report, what="longest gap between acknowledged writes")


def test_switchover_through_the_kubectl_plugin(cluster: Cluster) -> None:
    primary = cluster.primary()
    target = next(name for name in sorted(cluster.members()) if name != primary)
    with WriteChecker(cluster.router, 6446, cluster.password) as checker:
        started = time.monotonic()
        asked = cluster.plugin("switchover", target)
        assert asked.returncode == 0, asked.stdout + asked.stderr
        assert f"Done: {target} is the primary now" in asked.stdout
        wait_until(lambda: cluster.rw("SELECT @@hostname")[0][0] == target, 60, interval=0.2,
                   message=f"the router's RW port to reach {target}")
        checker.wait_for_writes_after(time.monotonic(), count=20)
    report = _check(checker, cluster)
    request = cluster.status()["cluster"]["request"]
    assert (request["action"], request["member"], request["outcome"]) == ("switchover", target, "Done")
    events = cluster.env.get("events", "-n", NAMESPACE, "--field-selector", "reason=RequestDone")["items"]
    assert any(target in e["message"] and request["id"] in e["message"] for e in events)
    gap = checker.longest_gap(started)
    TIMINGS["switchover through the plugin: longest write gap"] = gap
    _say(f"kubectl innodb switchover {RELEASE} --to {target} (from {primary}; answered: "
         f"{asked.stdout.strip().splitlines()[-1]})", gap, report, what="longest gap between acknowledged writes")


def _held_down(cluster: Cluster, member: str) -> Path:
    """Make the member's mysqld unable to start (an invalid server_uuid in auto.cnf: it aborts at
    once, so its pod crash-loops) and return the saved good file."""
    auto = cluster.datadir(member) / "auto.cnf"
    saved = auto.with_name("auto.cnf.e2e-saved")
    shutil.copy2(auto, saved)
    auto.write_text("[auto]\nserver-uuid=held-down-by-the-e2e-test\n")
    return saved


def test_quorum_lost_for_good_is_forced_from_the_survivor_through_the_plugin(cluster: Cluster) -> None:
    members = sorted(cluster.members())
    primary = cluster.primary()
    survivor = next(m for m in members if m != primary)
    victims = [m for m in members if m not in (survivor, primary)] + [primary]
    survivor_ip = cluster.pod_ip(survivor)
    saved = {m: _held_down(cluster, m) for m in victims}
    try:
        with WriteChecker(cluster.router, 6446, cluster.password) as checker:
            # The secondary first, then the primary once the survivor sees the secondary gone: every write
            # the primary acknowledged after that needed the survivor's vote, so the survivor holds it.
            os.kill(cluster.env.container_pid(NAMESPACE, victims[0], "mysql"), signal.SIGKILL)
            wait_until(lambda: ("UNREACHABLE",) in cluster.query(
                survivor_ip, 3306, "SELECT MEMBER_STATE FROM performance_schema.replication_group_members"),
                60, interval=0.2, message=f"{survivor} to see {victims[0]} UNREACHABLE")
            lost_at = time.monotonic()
            os.kill(cluster.env.container_pid(NAMESPACE, primary, "mysql"), signal.SIGKILL)
            wait_until(lambda: cluster.status()["cluster"]["status"] == "NO_QUORUM", 120, interval=0.5,
                       message="the operator to report NO_QUORUM")
            status = cluster.status()["cluster"]
            assert status["next"]["reason"] == "NoQuorum" and "kubectl innodb force-quorum" in status["next"]["message"]
            forced_at = time.monotonic()
            # A write in flight at the kill may still be acknowledged just after it; none after that.
            assert not [t for _, t in checker.acked_after(lost_at + 1) if t < forced_at], "nothing forced by itself"
            asked = cluster.plugin("force-quorum", survivor)
            assert asked.returncode == 0, asked.stdout + asked.stderr
            assert "Done: forced quorum from" in asked.stdout and all(v in asked.stdout for v in victims), asked.stdout
            resumed = checker.wait_for_writes_after(forced_at, count=20, timeout=120)
            assert cluster.on_member(survivor, "SELECT MEMBER_ROLE FROM performance_schema.replication_group_members"
                                     " WHERE MEMBER_ID = @@server_uuid") == [("PRIMARY",)]
            for member, good in saved.items():  # the cause is fixed: the crash-looping pods are recreated
                shutil.move(good, good.with_name("auto.cnf"))
                cluster.env.kubectl("delete", "pod", "-n", NAMESPACE, member, "--wait=false")
            saved = {}
            rejoined = cluster.wait_members(len(members), timeout=400)
            checker.wait_for_writes_after(time.monotonic(), count=20)
    finally:
        for good in saved.values():
            shutil.move(good, good.with_name("auto.cnf"))
    report = _check(checker, cluster)
    TIMINGS["quorum lost: primary killed to writes after force-quorum"] = time.monotonic() - lost_at - rejoined
    _say(f"quorum loss: mysqld of {', '.join(victims)} killed and held down -> NO_QUORUM, nothing forced; "
         f"kubectl innodb force-quorum --to {survivor} ({asked.stdout.strip().splitlines()[-1]}); the two "
         f"back ONLINE {rejoined:.1f}s after their pods were recreated", resumed, report,
         what="writes resumed after the request by")


def test_sigkill_of_the_operator_in_the_middle_of_a_scale_up(cluster: Cluster) -> None:
    env = cluster.env
    operator_pod = env.get("pods", "-n", OPERATOR_NS)["items"][0]["metadata"]["name"]
    with WriteChecker(cluster.router, 6446, cluster.password) as checker:
        started = time.monotonic()
        cluster.helm_upgrade("serverInstances=4")
        # Midway: the fourth server runs (its datadir initialised), it is not ONLINE in the group yet.
        wait_until(lambda: any(
            p["metadata"]["name"] == f"{RELEASE}-3" and any(
                s["name"] == "mysql" and "running" in s["state"]
                for s in (p.get("status") or {}).get("containerStatuses") or [])
            for p in cluster.server_pods()), 120, interval=0.2, message="the fourth server running")
        assert (cluster.members().get(f"{RELEASE}-3") or {}).get("state") != "ONLINE"
        os.kill(env.container_pid(OPERATOR_NS, operator_pod, "operator"), signal.SIGKILL)
        killed_at = time.monotonic()
        cluster.wait_members(4)
        converged = time.monotonic() - started
        checker.wait_for_writes_after(time.monotonic(), count=20)
    report = _check(checker, cluster)
    restarts = env.get("pod", "-n", OPERATOR_NS, operator_pod)["status"]["containerStatuses"][0]["restartCount"]
    assert restarts >= 1
    views = {name: {row[0] for row in cluster.on_member(
        name, "SELECT MEMBER_HOST FROM performance_schema.replication_group_members WHERE MEMBER_STATE='ONLINE'")}
        for name in cluster.members()}
    assert all(len(view) == 4 for view in views.values()) and len({frozenset(v) for v in views.values()}) == 1, views
    TIMINGS["scale 3 to 4 with the operator killed midway"] = converged
    _say(f"SIGKILL of the operator in the middle of a scale-up 3 -> 4 (restarted by its Deployment; exactly "
         f"4 members in one group {converged:.1f}s after the helm upgrade, {time.monotonic() - killed_at:.1f}s "
         "after the kill)", checker.longest_gap(started), report, what="longest gap between acknowledged writes")


def test_full_outage_of_every_server_then_recovery(cluster: Cluster) -> None:
    members = sorted(cluster.members())
    with WriteChecker(cluster.router, 6446, cluster.password) as checker:
        pids = [cluster.env.container_pid(NAMESPACE, name, "mysql") for name in members]
        killed_at = time.monotonic()
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        resumed = checker.wait_for_recovery_after(killed_at, timeout=400)
        recovered = cluster.wait_members(len(members), timeout=400)
        checker.wait_for_writes_after(time.monotonic(), count=20)
    report = _check(checker, cluster)
    TIMINGS["full outage: writes resumed"] = resumed
    _say(f"SIGKILL of mysqld on all {len(members)} members at once (all ONLINE {recovered:.1f}s after writes "
         "resumed)", resumed, report)
