"""The user journey (product.md steps 1-10 and 12) on the local environment, in order.

One cluster, installed by the first test with the journey's values, carries through the
module as a user's cluster would; each test is one step and says what it checked.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from e2e.cluster import Cluster, install, uninstall
from innodb_dev.localenv import OPERATOR_NS, LocalEnv
from innodb_dev.waiting import wait_until
from innodb_dev.writechecker import WriteChecker

NAMESPACE, RELEASE = "mysql-cluster", "mycluster"
ROWS = 1_000_000
TIMINGS: dict[str, float] = {}


@pytest.fixture(scope="module")
def journey(operator: LocalEnv) -> Iterator[Cluster]:
    password = secrets.token_urlsafe(12)
    cluster, took = install(operator, NAMESPACE, RELEASE, password)
    TIMINGS["helm install to ONLINE (3 members, router ready)"] = took
    yield cluster
    print("\njourney timings: " + "; ".join(f"{k}: {v:.1f}s" for k, v in TIMINGS.items()))
    uninstall(cluster)


def fqdn(pod: str) -> str:
    return f"{pod}.{RELEASE}-instances.{NAMESPACE}.svc.cluster.local"


def in_pod_client(cluster: Cluster, pod: str, host: str, statement: str) -> str:
    """Run the ``mysql`` client inside ``pod``'s mysql container (its DNS, its network) against ``host``."""
    pid = cluster.env.container_pid(NAMESPACE, pod, "mysql")
    result = subprocess.run(
        ["nsenter", "-t", str(pid), "-m", "-u", "-n", "-r", "-w", "--",
         "mysql", "-uroot", "-h", host, "--connect-timeout=5", "-N", "-B", "-e", statement],
        capture_output=True, text=True, timeout=120,
        env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "MYSQL_PWD": cluster.password})
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@contextlib.contextmanager
def looking(look: Callable[[], None], every: float) -> Iterator[list[str]]:
    """Call ``look`` every ``every`` seconds in a thread of its own until the block ends; yields
    the errors it raised (a look that fails is recorded, not fatal)."""
    errors: list[str] = []
    done = threading.Event()

    def run() -> None:
        while not done.is_set():
            try:
                look()
            except Exception as exc:
                errors.append(repr(exc))
            done.wait(every)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield errors
    finally:
        done.set()
        thread.join()


def test_01_helm_install_gives_three_members_and_a_router(journey: Cluster) -> None:
    env = journey.env
    assert "1/1" in env.kubectl("get", "deploy,pod", "-n", OPERATOR_NS).stdout
    table = env.kubectl("get", "innodbcluster", "-n", NAMESPACE).stdout
    assert "ONLINE" in table, table
    members = journey.members()
    assert sorted(members) == [f"{RELEASE}-{i}" for i in range(3)]
    assert sorted(m["role"] for m in members.values()) == ["PRIMARY", "SECONDARY", "SECONDARY"]
    assert journey.rw("SELECT @@hostname")[0][0] == journey.primary()
    print(f"\n{table}helm install to ONLINE: {TIMINGS['helm install to ONLINE (3 members, router ready)']:.1f}s")


def test_02_initconf_shows_the_generated_settings_and_the_users_mycnf(journey: Cluster) -> None:
    described = journey.env.kubectl("describe", "configmap", "-n", NAMESPACE, f"{RELEASE}-initconf").stdout
    for line in ("gtid_mode=ON", "enforce_gtid_consistency=ON", f"log_bin={RELEASE}-bin", "skip_replica_start=ON",
                 "99-extra.cnf", "max_connections=300"):
        assert line in described, f"{line!r} not in kubectl describe configmap {RELEASE}-initconf"


def test_03_pods_on_distinct_nodes_with_stable_dns_names(journey: Cluster) -> None:
    pods = journey.server_pods()
    nodes = {p["metadata"]["name"]: p["spec"]["nodeName"] for p in pods}
    assert len(set(nodes.values())) == 3, nodes
    # The StatefulSet controller counts ready pods a moment after the cluster reports ONLINE.
    wait_until(lambda: journey.env.get("statefulset", "-n", NAMESPACE, RELEASE)["status"].get("readyReplicas") == 3,
               60, interval=0.5, message="the StatefulSet to count 3 ready replicas")
    assert journey.routers_ready() == 1
    for pod in nodes:
        other = f"{RELEASE}-{(int(pod[-1]) + 1) % 3}"
        assert in_pod_client(journey, pod, fqdn(other), "SELECT @@hostname") == other


def test_05_max_connections_is_300_through_the_router(journey: Cluster) -> None:
    assert journey.rw("SHOW VARIABLES LIKE 'max_connections'") == [("max_connections", "300")]


def test_06_a_million_rows_load_through_the_router_and_match_on_every_member(journey: Cluster) -> None:
    started = time.monotonic()
    journey.rw("CREATE DATABASE IF NOT EXISTS sample")
    journey.rw("CREATE TABLE sample.events (id BIGINT PRIMARY KEY, account INT NOT NULL, amount DECIMAL(12,2) "
               "NOT NULL, note VARCHAR(40) NOT NULL, KEY (account))")
    conn = journey.connect(journey.router, 6446, database="sample")
    try:
        cur = conn.cursor()
        cur.execute("SET SESSION cte_max_recursion_depth = 1000000")
        batch = 100_000
        for start in range(0, ROWS, batch):
            cur.execute(
                "INSERT INTO events WITH RECURSIVE n(i) AS (SELECT %s UNION ALL SELECT i + 1 FROM n "
                "WHERE i < %s) SELECT i, MOD(i, 9973), MOD(i * 37, 100000) / 100, CONCAT('event-', i) FROM n",
                (start + 1, start + batch))
        cur.execute("SELECT @@global.gtid_executed")
        gtids = cur.fetchall()[0][0]
    finally:
        conn.close()
    loaded = time.monotonic() - started
    checksums = {}
    for pod in sorted(journey.members()):
        host = fqdn(pod)
        in_pod_client(journey, pod, host, f"SELECT WAIT_FOR_EXECUTED_GTID_SET('{gtids}', 120)")
        count, checksum = in_pod_client(journey, pod, host, "SELECT COUNT(*) FROM sample.events; "
                                        "CHECKSUM TABLE sample.events").split("\n")
        checksums[pod] = (int(count), checksum.split()[-1])
    assert {c for c, _ in checksums.values()} == {ROWS}, checksums
    assert len({s for _, s in checksums.values()}) == 1, checksums
    TIMINGS["load 1M rows through the router"] = loaded
    print(f"\nloaded {ROWS} rows through the RW port in {loaded:.1f}s; checksum on every member: "
          f"{next(iter(checksums.values()))[1]} ({', '.join(checksums)})")


def test_07_rw_reaches_the_primary_and_ro_goes_round_robin_over_the_secondaries(journey: Cluster) -> None:
    primary = journey.primary()
    assert {journey.rw("SELECT @@hostname")[0][0] for _ in range(10)} == {primary}
    seen = [journey.query(journey.router, 6447, "SELECT @@hostname")[0][0] for _ in range(12)]
    secondaries = sorted(set(journey.members()) - {primary})
    assert sorted(set(seen)) == secondaries, seen
    counts = Counter(seen)
    assert max(counts.values()) - min(counts.values()) <= 2, counts


def test_07a_the_services_default_ports_reach_the_primary_in_both_protocols(journey: Cluster) -> None:
    primary = journey.primary()
    secondaries = set(journey.members()) - {primary}
    # `mysql -h mycluster.mysql-cluster -uroot`, no port: the classic default 3306 is read-write.
    assert {journey.query(journey.router, 3306, "SELECT @@hostname")[0][0] for _ in range(6)} == {primary}
    # X protocol: the default 33060 and 6448 are read-write, 6449 read-only.
    x_hosts = {port: x_hostname(journey, port) for port in (33060, 6448, 6449)}
    assert x_hosts[33060] == x_hosts[6448] == primary and x_hosts[6449] in secondaries, x_hosts


def test_07b_the_read_write_split_port_sends_reads_to_a_secondary_and_writes_to_the_primary(
        journey: Cluster) -> None:
    """6450 (the router's read_write_split, connection sharing on): one session, its plain reads
    answered by a secondary, its write (which records the server that ran it) by the primary."""
    primary = journey.primary()
    secondaries = set(journey.members()) - {primary}
    journey.rw("CREATE DATABASE IF NOT EXISTS rwsplit")
    journey.rw("CREATE TABLE IF NOT EXISTS rwsplit.t (id INT AUTO_INCREMENT PRIMARY KEY, host VARCHAR(255))")
    seen: list[set[str]] = []

    def one_session() -> int:
        """Four reads, then a write that records the server running it; the write's row id."""
        conn = journey.connect(journey.router, 6450)
        try:
            cur = conn.cursor()
            reads = set()
            for _ in range(4):
                cur.execute("SELECT @@hostname")
                reads.add(cur.fetchall()[0][0])
            seen.append(reads)
            cur.execute("INSERT INTO rwsplit.t (host) VALUES (@@hostname)")
            return int(cur.lastrowid)
        finally:
            conn.close()

    # The router sends reads to the primary while it has no read-only server to share: poll.
    written: list[int] = []

    def reads_on_a_secondary() -> bool:
        written.append(one_session())
        return bool(seen[-1]) and seen[-1] <= secondaries

    wait_until(reads_on_a_secondary, 60, interval=1, message=f"reads on 6450 to reach a secondary ({secondaries})")
    print(f"\n6450: reads reached {sorted(seen[-1])} after {len(seen)} session(s) (earlier: {seen[:-1]}); "
          f"writes reached {primary}")
    for row in written:
        assert journey.rw(f"SELECT host FROM rwsplit.t WHERE id = {row}") == [(primary,)], "writes: the primary"


def x_hostname(journey: Cluster, port: int) -> str:
    import mysqlx

    session = mysqlx.get_session(host=journey.router, port=port, user="root", password=journey.password,
                                 connect_timeout=5000)
    try:
        return str(session.sql("SELECT @@hostname").execute().fetch_one()[0])
    finally:
        session.close()


def test_08_writes_to_a_secondary_fail_with_super_read_only(journey: Cluster) -> None:
    import mysql.connector

    secondary = next(name for name, m in journey.members().items() if m["role"] == "SECONDARY")
    with pytest.raises(mysql.connector.Error) as refused:
        journey.on_member(secondary, "INSERT INTO sample.events VALUES (0, 0, 0, 'to a secondary')")
    assert refused.value.errno == 1290 and "super-read-only" in str(refused.value), refused.value
    with WriteChecker(journey.router, 6446, journey.password) as checker:
        checker.wait_for_writes_after(time.monotonic(), count=50)
    report = checker.verify(journey.member_addresses(), timeout=30)
    assert report.ok and report.acknowledged >= 50, report


def _mode_is(journey: Cluster, mode: str) -> bool:
    cluster = journey.status().get("cluster") or {}
    roles = {m["role"] for m in journey.members().values()}
    want = {"PRIMARY"} if mode == "MultiPrimary" else {"PRIMARY", "SECONDARY"}
    return cluster.get("groupMode") == mode and roles == want and journey.answers_rw()


def test_09_multi_primary_declared_in_the_spec_and_by_the_chart_then_reverted(journey: Cluster) -> None:
    env = journey.env
    env.kubectl("patch", "innodbcluster", "-n", NAMESPACE, RELEASE, "--type=merge",
                "-p", '{"spec":{"groupMode":"MultiPrimary"}}')
    wait_until(lambda: _mode_is(journey, "MultiPrimary"), 180, interval=1, message="multi-primary from the spec")
    for pod in journey.members():
        journey.on_member(pod, f"INSERT INTO sample.events VALUES ({2_000_000 + int(pod[-1])}, 1, 1, 'mp')")
    env.kubectl("patch", "innodbcluster", "-n", NAMESPACE, RELEASE, "--type=merge",
                "-p", '{"spec":{"groupMode":"SinglePrimary"}}')
    wait_until(lambda: _mode_is(journey, "SinglePrimary"), 180, interval=1, message="single-primary again")

    journey.helm_upgrade("groupMode=MultiPrimary")
    wait_until(lambda: _mode_is(journey, "MultiPrimary"), 180, interval=1, message="multi-primary from helm")
    journey.helm_upgrade("groupMode=SinglePrimary")
    wait_until(lambda: _mode_is(journey, "SinglePrimary"), 180, interval=1, message="single-primary from helm")
    assert journey.rw("SELECT COUNT(*) FROM sample.events WHERE note = 'mp'") == [(3,)]


def test_09a_multi_primary_typed_by_hand_is_told_and_switched_back_losing_nothing(journey: Cluster) -> None:
    with WriteChecker(journey.router, 6446, journey.password) as checker:
        journey.rw("SELECT group_replication_switch_to_multi_primary_mode()")
        switched = time.monotonic()
        wait_until(lambda: _mode_is(journey, "SinglePrimary") and journey.status()["cluster"]["groupMode"]
                   == "SinglePrimary" and _told(journey, "GroupModeChangedOutsideSpec"), 60, interval=1,
                   message="the declared single-primary mode back, and a Warning saying so")
        print(f"\nmulti-primary by hand: single-primary again after {time.monotonic() - switched:.1f}s")
        checker.wait_for_writes_after(time.monotonic(), count=20)
    report = checker.verify(journey.member_addresses(), timeout=60)
    assert report.ok, f"lost: {report.lost}; duplicated: {report.duplicated}"
    (message,) = {e["message"] for e in _events(journey, "GroupModeChangedOutsideSpec")}
    assert "from SinglePrimary to MultiPrimary outside the operator" in message, message


def _events(journey: Cluster, reason: str) -> list[dict[str, object]]:
    found = journey.env.get("events", "-n", NAMESPACE, "--field-selector",
                            f"involvedObject.name={RELEASE},reason={reason}")["items"]
    return [e for e in found if e.get("type") == "Warning"]


def _told(journey: Cluster, reason: str) -> bool:
    return bool(_events(journey, reason))


def test_10_helm_upgrade_scales_to_five_members_and_three_routers(journey: Cluster) -> None:
    started = time.monotonic()
    journey.helm_upgrade("serverInstances=5")
    journey.wait_members(5)
    TIMINGS["scale 3 to 5 members (clone)"] = time.monotonic() - started
    journey.helm_upgrade("routerInstances=3")
    wait_until(lambda: journey.routers_ready() == 3, 180, interval=1, message="3 routers ready")
    table = journey.env.kubectl("get", "innodbcluster", "-n", NAMESPACE).stdout
    fields = table.splitlines()[1].split()
    assert fields[1:5] == ["ONLINE", "5", "5", "3"], table
    count = journey.on_member(f"{RELEASE}-4", "SELECT COUNT(*) FROM sample.events")[0][0]
    assert count == ROWS + 3
    print(f"\n{table}scale 3 to 5: {TIMINGS['scale 3 to 5 members (clone)']:.1f}s")


def test_12_drain_of_a_members_node_respects_the_pdb_and_keeps_the_cluster_writable(journey: Cluster) -> None:
    env = journey.env
    primary = journey.primary()
    pods = {p["metadata"]["name"]: p["spec"]["nodeName"] for p in journey.server_pods()}
    routers = env.get("pods", "-n", NAMESPACE, "-l", "app.kubernetes.io/component=router")["items"]
    router_nodes = Counter(p["spec"]["nodeName"] for p in routers)
    # The node with the most members, but neither the primary nor every router on it.
    candidates = [n for n in set(pods.values()) if pods[primary] != n and router_nodes[n] < len(routers)]
    node = max(sorted(candidates), key=lambda n: sum(1 for m in pods.values() if m == n))
    drained = sorted(p for p, n in pods.items() if n == node)
    ready_counts: list[int] = []

    def sample() -> None:
        ready_counts.append(sum(1 for p in journey.server_pods() if any(
            c["type"] == "Ready" and c["status"] == "True"
            for c in (p.get("status") or {}).get("conditions") or [])
            and not p["metadata"].get("deletionTimestamp")))

    with WriteChecker(journey.router, 6446, journey.password) as checker:
        started = time.monotonic()
        with looking(sample, 0.5) as sample_errors:
            result = env.kubectl("drain", node, "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=300s",
                                 timeout=400)
            assert "drained" in result.stdout, result.stdout + result.stderr
            journey.wait_members(5)
            took = time.monotonic() - started
            checker.wait_for_writes_after(time.monotonic(), count=20)
    env.kubectl("uncordon", node)
    assert not sample_errors and len(ready_counts) >= 10, (len(ready_counts), sample_errors[:3])
    assert min(ready_counts) >= 4, f"more than one member down at once during the drain: {ready_counts}"
    report = checker.verify(journey.member_addresses())
    for pod in drained:
        assert journey.pod(pod)["spec"]["nodeName"] != node
    assert report.ok, report
    assert report.longest_gap < 10, f"writes stopped for {report.longest_gap:.1f}s during the drain"
    print(f"\ndrained {node} (members {', '.join(drained)}): all back ONLINE after {took:.1f}s; "
          f"{report.acknowledged} acknowledged writes checked on every member, 0 lost, longest gap "
          f"{report.longest_gap:.2f}s")


def test_13_helm_upgrade_scales_back_to_three_one_member_at_a_time_keeping_the_claims(journey: Cluster) -> None:
    """Members 4 then 3 leave the group, and each is out of the group's view and of the router
    metadata before its pod starts terminating; nothing acknowledged is lost."""
    leavers = [f"{RELEASE}-4", f"{RELEASE}-3"]
    survivor = f"{RELEASE}-0"
    left_at: dict[str, float] = {}        # first look that found it out of the view and the metadata
    deleting_at: dict[str, float] = {}    # first look that found its pod terminating or gone
    early: list[str] = []                 # looks that found a pod going while its member was still in

    def watch() -> None:
        view = {r[0] for r in journey.on_member(survivor, "SELECT member_host FROM "
                                                "performance_schema.replication_group_members")}
        listed = {r[0] for r in journey.on_member(survivor, "SELECT endpoint FROM "
                                                  "mysql_innodb_cluster_metadata.instances")}
        pods = {p["metadata"]["name"]: p for p in journey.server_pods()}
        now = time.monotonic()
        for name in leavers:
            still_in = any(h.startswith(f"{name}.") for h in view | listed)
            if not still_in:
                left_at.setdefault(name, now)
            if name not in pods or pods[name]["metadata"].get("deletionTimestamp"):
                deleting_at.setdefault(name, now)
                if still_in:
                    early.append(name)

    with WriteChecker(journey.router, 6446, journey.password) as checker:
        started = time.monotonic()
        with looking(watch, 0.2) as errors:
            journey.helm_upgrade("serverInstances=3")
            journey.wait_members(3)
            wait_until(lambda: len(journey.server_pods()) == 3 and len(journey.members()) == 3, 180, interval=1,
                       message="three server pods, three members in status")
            took = time.monotonic() - started
            checker.wait_for_writes_after(time.monotonic(), count=20)
    report = checker.verify(journey.member_addresses())
    assert report.ok, f"lost: {report.lost}; duplicated: {report.duplicated}"
    assert len(errors) < 5, errors[:3]
    assert set(left_at) == set(deleting_at) == set(leavers), (left_at, deleting_at)
    assert not early, f"pods went while their members were still in the group or the metadata: {early}"
    for name in leavers:
        assert left_at[name] <= deleting_at[name], (left_at, deleting_at)
    assert left_at[leavers[0]] <= left_at[leavers[1]], f"the highest ordinal leaves first: {left_at}"
    assert deleting_at[leavers[0]] <= deleting_at[leavers[1]], deleting_at
    claims = {c["metadata"]["name"] for c in journey.env.get("pvc", "-n", NAMESPACE)["items"]}
    assert {f"datadir-{name}" for name in leavers} <= claims, claims
    print(f"\nscaled 5 -> 3 in {took:.1f}s, one member at a time ({', '.join(leavers)}); "
          f"{report.acknowledged} acknowledged writes, 0 lost, longest gap {report.longest_gap:.2f}s; claims kept")


@dataclass
class Roll:
    """What a rolling restart did, as watched from outside while writes ran through the router."""

    took: float
    order: list[str]
    old_primary: str
    restarts: dict[str, int]
    progress: set[str]
    report: Any
    during: Any = None


def roll(journey: Cluster, change: Callable[[], None], *, when_first_restarted: Callable[[], Any] | None = None,
         timeout: float = 600) -> Roll:
    """Apply ``change`` (a pod-template change) under the write checker and watch the roll: which
    pod is replaced when, who was primary then, `kubectl get ic -o wide`'s ROLLOUT column.
    ``when_first_restarted`` runs once, as soon as the first member's pod is replaced."""
    pods_now = {p["metadata"]["name"]: p["metadata"]["uid"] for p in journey.server_pods()}
    members = sorted(pods_now)
    old_primary = journey.primary()
    uids: dict[str, list[str]] = {m: [pods_now[m]] for m in members}
    replaced_at: dict[str, float] = {}
    primary_when_replaced: dict[str, str] = {}
    progress: set[str] = set()

    def live_primary(pods: dict[str, Any], leaving: str) -> str:
        """The primary as another member's view has it (status may lag a pass behind a handover)."""
        for other in members:
            ip = ((pods.get(other) or {}).get("status") or {}).get("podIP")
            if other == leaving or not ip:
                continue
            try:
                rows = journey.query(ip, 3306, "SELECT MEMBER_HOST FROM performance_schema."
                                     "replication_group_members WHERE MEMBER_ROLE = 'PRIMARY'")
            except Exception:
                continue
            return str(rows[0][0]).split(".")[0] if rows else ""
        return ""

    def watch() -> None:
        cluster = journey.status().get("cluster") or {}
        if cluster.get("rollout"):
            progress.add(str(cluster["rollout"].get("progress")))
        pods = {p["metadata"]["name"]: p for p in journey.server_pods()}
        for name in members:
            pod = pods.get(name)
            if pod is None or pod["metadata"].get("deletionTimestamp"):
                if name not in replaced_at:
                    replaced_at[name] = time.monotonic()
                    primary_when_replaced[name] = live_primary(pods, name) or str(cluster.get("primary"))
                continue
            if pod["metadata"]["uid"] != uids[name][-1]:
                uids[name].append(pod["metadata"]["uid"])

    def rolled() -> bool:
        cluster = journey.status().get("cluster") or {}
        return (all(len(uids[m]) >= 2 for m in members) and not cluster.get("rollout")
                and cluster.get("status") == "ONLINE")

    during = None
    with WriteChecker(journey.router, 6446, journey.password) as checker:
        started = time.monotonic()
        with looking(watch, 0.3) as errors:
            change()
            if when_first_restarted is not None:
                wait_until(lambda: any(len(u) >= 2 for u in uids.values()), timeout, interval=0.3,
                           message="the first member restarted")
                during = when_first_restarted()
            wait_until(rolled, timeout, interval=1, message="every member restarted on the new template")
            took = time.monotonic() - started
            checker.wait_for_writes_after(time.monotonic(), count=20)
    report = checker.verify(journey.member_addresses())
    assert report.ok, f"lost: {report.lost}; duplicated: {report.duplicated}"
    assert len(errors) < 5, errors[:3]
    restarts = {m: len(u) - 1 for m, u in uids.items()}
    assert restarts == dict.fromkeys(members, 1), f"each member restarted once: {uids}"
    order = sorted(members, key=lambda m: replaced_at[m])
    assert order[-1] == old_primary, f"the primary restarts last: {order}"
    assert primary_when_replaced[old_primary] != old_primary, "the primary moved away before its restart"
    assert journey.primary() != old_primary
    assert len(progress) >= 2 and progress <= {"0/3", "1/3", "2/3"}, f"kubectl get ic -o wide showed {progress}"
    return Roll(took, order, old_primary, restarts, progress, report, during)


def max_connections(n: int) -> dict[str, Any]:
    return {"serverConfig": {"mycnf": f"[mysqld]\nmax_connections={n}\n"}}


def said(what: str, r: Roll, journey: Cluster) -> str:
    return (f"\n{what} rolled in {r.took:.1f}s, order {' -> '.join(r.order)} (primary {r.old_primary} last, "
            f"now {journey.primary()}); progress seen {sorted(r.progress)}; {r.report.acknowledged} acknowledged "
            f"writes, 0 lost, longest gap {r.report.longest_gap:.2f}s")


def test_14_a_new_mycnf_rolls_the_members_one_at_a_time_primary_last_losing_nothing(journey: Cluster) -> None:
    """helm upgrade with max_connections 300 -> 400: each member restarts once, secondaries first,
    the primary last after a switchover; progress shows in `kubectl get ic -o wide`."""
    r = roll(journey, lambda: journey.helm_upgrade_values(max_connections(400)))
    for m in r.order:
        assert journey.on_member(m, "SELECT @@max_connections") == [(400,)], m
    TIMINGS["mycnf roll"] = r.took
    print(said("mycnf change", r, journey))


def test_15_a_podspec_resources_change_rolls_the_same_way(journey: Cluster) -> None:
    """podSpec: the mysql container's resources, through the chart: every pod runs them after one restart."""
    resources = {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "2Gi"}}
    pod_spec = {"containers": [{"name": "mysql", "resources": resources}]}
    r = roll(journey, lambda: journey.helm_upgrade_values({"podSpec": pod_spec}))
    for pod in journey.server_pods():
        mysql = next(c for c in pod["spec"]["containers"] if c["name"] == "mysql")
        assert mysql["resources"] == resources, (pod["metadata"]["name"], mysql["resources"])
    TIMINGS["podSpec roll"] = r.took
    print(said("podSpec resources change", r, journey))


def test_16_a_version_downgrade_is_refused_and_an_upgrade_rolls(journey: Cluster) -> None:
    """spec.version: 9.7.3 (a downgrade) is refused and nothing restarts; the next patch's tag rolls.
    Only MySQL 9.7.4 is packaged here: the node agent serves the 9.7.5 tag from the same binaries,
    so this shows the operator's roll of a version change, not MySQL's upgrade (mysqld still
    reports 9.7.4)."""
    running = journey.on_member(journey.primary(), "SELECT @@version")[0][0]
    image = journey.env.get("sts", "-n", NAMESPACE, RELEASE)["spec"]["template"]["spec"]["containers"][0]["image"]
    uids = {p["metadata"]["uid"] for p in journey.server_pods()}
    major, minor, patch = (int(x) for x in running.split("-")[0].split("."))
    journey.helm_upgrade(f"serverVersion={major}.{minor}.{patch - 1}")

    def spec_valid() -> dict[str, Any]:
        conditions = {c["type"]: c for c in journey.status().get("conditions") or []}
        return dict(conditions.get("SpecValid") or {})

    wait_until(lambda: spec_valid().get("reason") == "UnsupportedVersionChange", 60, interval=0.5,
               message="SpecValid=False UnsupportedVersionChange")
    condition = spec_valid()
    assert condition["status"] == "False" and "downgrade" in condition["message"], condition
    events = journey.env.get("events", "-n", NAMESPACE, "--field-selector",
                             f"involvedObject.name={RELEASE},type=Warning")["items"]
    assert any("downgrade" in e.get("message", "") for e in events), [e.get("message") for e in events]
    assert journey.env.get("sts", "-n", NAMESPACE, RELEASE)["spec"]["template"]["spec"]["containers"][0][
        "image"] == image, "the StatefulSet keeps the running version"
    assert {p["metadata"]["uid"] for p in journey.server_pods()} == uids, "nothing restarted"

    target = f"{major}.{minor}.{patch + 1}"
    r = roll(journey, lambda: journey.helm_upgrade(f"serverVersion={target}"))
    for pod in journey.server_pods():
        mysql = next(c for c in pod["spec"]["containers"] if c["name"] == "mysql")
        assert mysql["image"].endswith(f":{target}"), mysql["image"]
    TIMINGS["version roll"] = r.took
    print(said(f"version {running} -> {target} (the same binaries under the {target} tag)", r, journey))


def test_17_sigkill_of_the_operator_mid_roll_resumes_without_restarting_a_member_twice(journey: Cluster) -> None:
    env = journey.env
    operator_pod = env.get("pods", "-n", OPERATOR_NS)["items"][0]["metadata"]["name"]

    def kill() -> float:
        os.kill(env.container_pid(OPERATOR_NS, operator_pod, "operator"), signal.SIGKILL)
        return time.monotonic()

    r = roll(journey, lambda: journey.helm_upgrade_values(max_connections(500)), when_first_restarted=kill)
    restarts = env.get("pod", "-n", OPERATOR_NS, operator_pod)["status"]["containerStatuses"][0]["restartCount"]
    assert restarts >= 1, "the operator was killed and restarted by its Deployment"
    for m in r.order:
        assert journey.on_member(m, "SELECT @@max_connections") == [(500,)], m
    TIMINGS["roll with the operator killed after the first restart"] = r.took
    print(said(f"mycnf change with the operator SIGKILLed after the first restart "
               f"({time.monotonic() - r.during:.1f}s ago)", r, journey))


def test_18_a_member_that_does_not_come_back_stops_the_roll_naming_it_until_the_template_is_fixed(
        journey: Cluster) -> None:
    """A my.cnf mysqld refuses: the first restarted member crash-loops, the roll stops there, and
    status (rollout message, Progressing) names it with mysqld's own error. Putting the previous
    my.cnf back restarts just that member, on the fixed template; nothing is lost."""
    bad = {"serverConfig": {"mycnf": "[mysqld]\nmax_connections=500\nno_such_option=1\n"}}
    members = sorted(journey.members())
    first = sorted(set(members) - {journey.primary()})[-1]  # the highest secondary goes first
    with WriteChecker(journey.router, 6446, journey.password) as checker:
        journey.helm_upgrade_values(bad)

        def stopped() -> str:
            message = str(((journey.status().get("cluster") or {}).get("rollout") or {}).get("message") or "")
            return message if "unknown variable 'no_such_option=1'" in message else ""

        wait_until(stopped, 240, interval=1, message="the roll to stop naming the member and mysqld's error")
        message = stopped()
        stuck = next(m for m in members if m in message)
        assert stuck == first, f"the highest secondary goes first: {message}"
        progressing = {c["type"]: c for c in journey.status()["conditions"]}["Progressing"]
        assert progressing["status"] == "True" and progressing["reason"] == "RollingRestart", progressing
        assert "no_such_option" in progressing["message"] and stuck in progressing["message"], progressing
        uids = {p["metadata"]["name"]: p["metadata"]["uid"] for p in journey.server_pods()}
        assert journey.status()["cluster"]["status"] != "ONLINE" and journey.answers_rw()
        journey.helm_upgrade_values(max_connections(500))

        def healed() -> bool:
            cluster = journey.status().get("cluster") or {}
            return cluster.get("status") == "ONLINE" and not cluster.get("rollout")

        wait_until(healed, 300, interval=1, message="the fixed template on every member, ONLINE")
        checker.wait_for_writes_after(time.monotonic(), count=20)
    report = checker.verify(journey.member_addresses())
    assert report.ok, f"lost: {report.lost}; duplicated: {report.duplicated}"
    now = {p["metadata"]["name"]: p["metadata"]["uid"] for p in journey.server_pods()}
    assert [m for m in members if now[m] != uids[m]] == [stuck], "only the crash-looping member restarted"
    print(f"\nbad my.cnf: the roll stopped at {stuck} ({message}); the fixed my.cnf restarted only {stuck}; "
          f"{report.acknowledged} acknowledged writes, 0 lost, longest gap {report.longest_gap:.2f}s")


def found(env: LocalEnv, *args: str) -> dict[str, Any] | None:
    """``kubectl get ... -o json``, None when it is not there."""
    got = env.kubectl("get", *args, "-o", "json", check=False)
    return dict(json.loads(got.stdout)) if got.returncode == 0 else None


def test_19_helm_uninstall_stops_routers_then_secondaries_then_the_primary_and_keeps_claims_and_backups(
        journey: Cluster) -> None:
    """FINALIZING shows; the routers are gone before any member leaves the group; the members
    leave one at a time, the primary last; then the object and its children go. The data claims
    and MySQLBackup objects stay, as docs/operations.md says."""
    env = journey.env
    backup = {"apiVersion": "mysql.innodb-operator.dev/v1alpha1", "kind": "MySQLBackup",
              "metadata": {"name": "kept", "namespace": NAMESPACE},
              "spec": {"clusterName": RELEASE, "backupProfile": {"dumpInstance": {"storage": {
                  "persistentVolumeClaim": {"claimName": "backups"}}}}}}
    env.kubectl("apply", "-f", "-", input=json.dumps(backup))
    members = sorted(journey.members())
    primary = journey.primary()
    addresses = {m: journey.pod_ip(m) for m in members}
    claims = {c["metadata"]["name"] for c in env.get("pvc", "-n", NAMESPACE)["items"]}
    states: set[str] = set()
    left_at: dict[str, float] = {}
    routers_gone_at: list[float] = []

    def watch() -> None:
        obj = found(env, "innodbcluster", "-n", NAMESPACE, RELEASE)
        if obj:
            states.add(str((obj.get("status") or {}).get("cluster", {}).get("status")))
        routers = env.get("pods", "-n", NAMESPACE, "-l", "app.kubernetes.io/component=router")["items"]
        if not routers_gone_at and all((p.get("status") or {}).get("phase") in ("Succeeded", "Failed")
                                       for p in routers):  # gone, or stopped and being removed
            routers_gone_at.append(time.monotonic())
        for m in members:
            if m in left_at:
                continue
            try:
                rows = journey.query(addresses[m], 3306, "SELECT MEMBER_STATE FROM performance_schema."
                                     "replication_group_members WHERE MEMBER_ID = @@server_uuid")
            except Exception:  # mysqld stopping: it left before (asserted by the order below)
                rows = [("GONE",)]
            if rows != [("ONLINE",)]:
                left_at[m] = time.monotonic()

    started = time.monotonic()
    with looking(watch, 0.2):
        env.helm("uninstall", RELEASE, "-n", NAMESPACE)
        wait_until(lambda: not found(env, "innodbcluster", "-n", NAMESPACE, RELEASE), 300, interval=1,
                   message="the InnoDBCluster to be deleted once the group stopped")
        took = time.monotonic() - started
        wait_until(lambda: not journey.server_pods(), 180, interval=1, message="the server pods to go")
    assert "FINALIZING" in states, states
    assert routers_gone_at and all(routers_gone_at[0] <= t for t in left_at.values()), (routers_gone_at, left_at)
    order = sorted(left_at, key=lambda m: left_at[m])
    assert order[-1] == primary, f"the primary leaves last: {order}"
    assert sorted(order) == members and order[:-1] == sorted(order[:-1], reverse=True), order
    assert {c["metadata"]["name"] for c in env.get("pvc", "-n", NAMESPACE)["items"]} >= claims, "claims kept"
    assert found(env, "mysqlbackup", "-n", NAMESPACE, "kept"), "MySQLBackup objects kept"
    events = env.get("events", "-n", NAMESPACE, "--field-selector", f"involvedObject.name={RELEASE}")["items"]
    assert any(e["reason"] == "GroupStopped" for e in events), sorted({e["reason"] for e in events})
    print(f"\nhelm uninstall: FINALIZING; routers gone, then {' -> '.join(order)} left the group (primary "
          f"{primary} last); object deleted {took:.1f}s after the uninstall; {len(claims)} claims and the "
          f"MySQLBackup kept")
