"""The group manager heals the group whatever the Kubernetes side is doing, and recovers its own accounts.

One cluster (the journey's values) for the module. Every fault runs the acknowledged-write
checker and ends by reading every acknowledged id back from every member.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest

from e2e.cluster import Cluster, install, uninstall
from innodb_dev.localenv import OPERATOR_NS, LocalEnv
from innodb_dev.waiting import wait_until
from innodb_dev.writechecker import WriteChecker

NAMESPACE, RELEASE = "healing", "healing"
PRIVATE = f"{RELEASE}-privsecrets"


@pytest.fixture(scope="module")
def cluster(operator: LocalEnv) -> Iterator[Cluster]:
    cluster, _ = install(operator, NAMESPACE, RELEASE, secrets.token_urlsafe(12))
    yield cluster
    uninstall(cluster)


def condition(cluster: Cluster, type_: str) -> dict[str, Any]:
    return next((c for c in cluster.status().get("conditions") or [] if c["type"] == type_), {})


def events(cluster: Cluster, reason: str) -> list[dict[str, Any]]:
    listed = cluster.env.get("events", "-n", NAMESPACE, "--field-selector", f"involvedObject.name={RELEASE}")
    return [e for e in listed["items"] if e["reason"] == reason]


def patch_cluster(cluster: Cluster, spec: dict[str, Any]) -> None:
    cluster.env.kubectl("patch", "innodbcluster", RELEASE, "-n", NAMESPACE, "--type", "merge",
                        "-p", json.dumps({"spec": spec}))


def user_secret_name(cluster: Cluster) -> str:
    return str(cluster.env.get("innodbcluster", "-n", NAMESPACE, RELEASE)["spec"]["secretName"])


def accounts(cluster: Cluster) -> dict[str, list[tuple[Any, ...]]]:
    """Every account with its credentials, as each member holds it (what a reset would change)."""
    return {name: cluster.on_member(name, "SELECT user, host, HEX(authentication_string) FROM mysql.user"
                                          " ORDER BY user, host")
            for name in sorted(cluster.members())}


def private_password(cluster: Cluster, key: str = "adminPassword") -> str | None:
    result = cluster.env.kubectl("get", "secret", "-n", NAMESPACE, PRIVATE, "-o", f"jsonpath={{.data.{key}}}",
                                 check=False)
    return base64.b64decode(result.stdout).decode() if result.returncode == 0 and result.stdout else None


def test_an_invalid_spec_does_not_stop_rejoin_or_reboot(cluster: Cluster) -> None:
    patch_cluster(cluster, {"mycnf": "[mysqld]\nserver_id=7\n"})  # an option the operator owns
    wait_until(lambda: condition(cluster, "SpecValid").get("status") == "False", 60, message="SpecValid=False")
    assert "spec.mycnf" in condition(cluster, "SpecValid")["message"]
    members = sorted(cluster.members())
    with WriteChecker(cluster.router, 6446, cluster.password) as checker:
        secondary = next(m for m in members if m != cluster.primary())
        os.kill(cluster.env.container_pid(NAMESPACE, secondary, "mysql"), signal.SIGKILL)
        killed_at = time.monotonic()
        wait_until(lambda: cluster.members()[secondary]["state"] != "ONLINE", 60, interval=0.5,
                   message=f"{secondary} to drop out")
        cluster.wait_members(3)
        rejoined = time.monotonic() - killed_at
        rebooted_before = len(events(cluster, "Rebooted"))
        pids = [cluster.env.container_pid(NAMESPACE, name, "mysql") for name in members]
        killed_at = time.monotonic()
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        resumed = checker.wait_for_recovery_after(killed_at, timeout=400)
        cluster.wait_members(3, timeout=400)
        checker.wait_for_writes_after(time.monotonic(), count=20)
    report = checker.verify(cluster.member_addresses())
    assert report.ok, f"lost: {report.lost}; duplicated: {report.duplicated}"
    assert len(events(cluster, "Rebooted")) == rebooted_before + 1, "the operator rebooted the group"
    status = cluster.status()
    assert condition(cluster, "SpecValid")["status"] == "False"
    assert condition(cluster, "GroupOnline")["status"] == "True" and status["cluster"]["status"] == "ONLINE"
    print(f"\nwith SpecValid=False (spec.mycnf sets server_id): SIGKILL of {secondary} -> back ONLINE after "
          f"{rejoined:.1f}s; SIGKILL of all {len(members)} mysqld -> rebooted by the operator, writes resumed after "
          f"{resumed:.1f}s; {report.acknowledged} acknowledged writes checked on every member: "
          f"{sum(map(len, report.lost.values()))} lost; status: SpecValid={condition(cluster, 'SpecValid')['status']} "
          f"({condition(cluster, 'SpecValid')['reason']}), GroupOnline=True, cluster {status['cluster']['status']}")
    patch_cluster(cluster, {"mycnf": "[mysqld]\nmax_connections=300\n"})
    wait_until(lambda: condition(cluster, "SpecValid").get("status") == "True", 60, message="SpecValid=True again")


def test_a_deleted_private_secret_is_recovered_through_the_root_account(cluster: Cluster) -> None:
    before = private_password(cluster)
    assert before
    with WriteChecker(cluster.router, 6446, cluster.password) as checker:
        recovered_before = len(events(cluster, "AccountsRecovered"))
        started = time.monotonic()
        cluster.env.kubectl("delete", "secret", "-n", NAMESPACE, PRIVATE)
        wait_until(lambda: len(events(cluster, "AccountsRecovered")) > recovered_before, 120, interval=0.5,
                   message="the AccountsRecovered Event")
        recovered = time.monotonic() - started
        after = private_password(cluster)
        assert after and after != before, "new passwords, written back to the Secret"
        # The group never left ONLINE, as every member sees it.
        for name in cluster.members():
            states = {row[0] for row in cluster.on_member(
                name, "SELECT MEMBER_STATE FROM performance_schema.replication_group_members")}
            assert states == {"ONLINE"}, (name, states)
        # Members turn ready again with the new password (the probe reads the mounted Secret), the
        # routers roll with the new router password, and the status says the accounts work.
        wait_until(lambda: all(any(c["type"] == "Ready" and c["status"] == "True"
                                   for c in p["status"].get("conditions") or []) for p in cluster.server_pods()),
                   180, interval=1, message="every server pod ready again")
        wait_until(lambda: condition(cluster, "CredentialsValid").get("status") == "True", 120,
                   message="CredentialsValid=True")
        cluster.wait_online()
        checker.wait_for_writes_after(time.monotonic(), count=20)
    report = checker.verify(cluster.member_addresses())
    assert report.ok, f"lost: {report.lost}; duplicated: {report.duplicated}"
    (event,) = events(cluster, "AccountsRecovered")[recovered_before:]
    assert PRIVATE in event["message"] and after not in event["message"]
    print(f"\ndeleted {PRIVATE}: accounts recovered through root after {recovered:.1f}s ({event['message']}); "
          f"group ONLINE throughout; {report.acknowledged} acknowledged writes, "
          f"{sum(map(len, report.lost.values()))} lost")


def test_with_the_root_password_wrong_too_no_member_is_touched(cluster: Cluster) -> None:
    user_secret = user_secret_name(cluster)
    real = cluster.env.kubectl("get", "secret", "-n", NAMESPACE, user_secret, "-o",
                               "jsonpath={.data.rootPassword}").stdout
    wrong = base64.b64encode(b"not-the-root-password").decode()
    cluster.env.kubectl("patch", "secret", "-n", NAMESPACE, user_secret, "--type", "merge",
                        "-p", json.dumps({"data": {"rootPassword": wrong}}))
    try:
        # Accounts, not gtid_executed: a router restarted by the previous test may still write its
        # own metadata (check-in, attributes) meanwhile, which is not the operator touching a member.
        before = accounts(cluster)
        cluster.env.kubectl("delete", "secret", "-n", NAMESPACE, PRIVATE)
        wait_until(lambda: condition(cluster, "CredentialsValid").get("reason") == "RootDenied", 120,
                   message="CredentialsValid=False (RootDenied)")
        message = condition(cluster, "CredentialsValid")["message"]
        assert PRIVATE in message and user_secret in message, message
        assert accounts(cluster) == before, "no account was created, reset or dropped on any member"
        assert private_password(cluster) is None, "no password was made up"
        assert cluster.answers_rw(), "the group serves on"
        print(f"\nroot refused as well: CredentialsValid=False: {message}")
    finally:
        cluster.env.kubectl("patch", "secret", "-n", NAMESPACE, user_secret, "--type", "merge",
                            "-p", json.dumps({"data": {"rootPassword": real}}))
    wait_until(lambda: private_password(cluster) is not None, 120, message="recovery once root works again")
    wait_until(lambda: condition(cluster, "CredentialsValid").get("status") == "True", 120,
               message="CredentialsValid=True")
    cluster.wait_online()


def operator_log(env: LocalEnv) -> list[dict[str, Any]]:
    pod = env.get("pods", "-n", OPERATOR_NS)["items"][0]["metadata"]["name"]
    lines = []
    for line in env.container_log(OPERATOR_NS, pod, "operator").splitlines():
        try:
            lines.append(json.loads(line))
        except ValueError:
            continue
    return lines


def test_a_cluster_with_a_hung_member_does_not_hold_up_another(cluster: Cluster, operator: LocalEnv) -> None:
    other, _ = install(operator, "neighbour", "neighbour", secrets.token_urlsafe(12))
    stopped = next(m for m in cluster.members() if m != cluster.primary())
    pid = cluster.env.container_pid(NAMESPACE, stopped, "mysql")
    os.kill(pid, signal.SIGSTOP)  # its connections hang: accepted by the kernel, never answered
    try:
        started = time.monotonic()
        other.helm_upgrade("serverInstances=4")
        other.wait_members(4)
        took = time.monotonic() - started
        hung = [line for line in operator_log(operator)
                if line.get("controller") == "groupmanager" and line.get("key") == f"{NAMESPACE}/{RELEASE}"]
        passes = [line for line in hung if line.get("event") == "group pass"]
        assert passes, "the hung cluster's passes are logged"
        assert all(p["elapsed_seconds"] < p["deadline_seconds"] for p in passes)
        assert not [line for line in hung if "deadline" in str(line.get("event"))], "no pass was cut off"
        print(f"\nwith {stopped} SIGSTOPped in {NAMESPACE}: neighbour scaled 3 -> 4 in {took:.1f}s; the hung "
              f"cluster's {len(passes)} passes took at most {max(p['elapsed_seconds'] for p in passes):.1f}s "
              f"(deadline {passes[0]['deadline_seconds']:.0f}s)")
    finally:
        os.kill(pid, signal.SIGCONT)
        uninstall(other)
    cluster.wait_members(3)
