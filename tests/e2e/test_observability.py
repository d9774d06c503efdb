"""Observability as an SRE sees it: a real Prometheus scrapes the operator and the exporter sidecars.

One cluster with ``metrics.enable=true``; Prometheus discovers the pods through the API server
(``innodb_dev.monitoring``) and loads the operator chart's alert rules, rendered with short
``for:`` durations (a Helm override, as a user would set them). The tests run in order: the
healthy cluster, a primary SIGKILL under writes, a member that cannot come back for a while,
the dashboard's queries, the Events, and finally the cluster's deletion.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from e2e.cluster import Cluster, install, uninstall
from innodb_dev import REPO, monitoring, toolchain
from innodb_dev.localenv import LocalEnv
from innodb_dev.waiting import wait_until
from innodb_dev.writechecker import WriteChecker

NAMESPACE = RELEASE = "observed"
SELECT = f'namespace="{NAMESPACE}",cluster="{RELEASE}"'
DASHBOARD = REPO / "charts" / "mysql-operator" / "files" / "dashboard.json"
SHORT_FOR = {"membersBelowSpec": "2s", "notOnline": "2s"}
NOT_YET_EXPORTED = re.compile(r"innodb_cluster_backup")
"""Backup metrics come with MySQLBackup runs (not implemented yet): their panels stay empty."""


@pytest.fixture(scope="module")
def cluster(operator: LocalEnv) -> Iterator[Cluster]:
    cluster, _ = install(operator, NAMESPACE, RELEASE, secrets.token_urlsafe(12), "metrics.enable=true")
    yield cluster
    uninstall(cluster)


def _rules(path: Path) -> Path:
    """The chart's PrometheusRule with short ``for:`` overrides, as a plain rules file."""
    sets = ["alerts.enabled=true", "alerts.force=true", *(f"alerts.for.{k}={v}" for k, v in SHORT_FOR.items())]
    out = subprocess.run([str(toolchain.binaries().helm), "template", "mysql-operator",
                          str(REPO / "charts" / "mysql-operator"), "--show-only", "templates/prometheusrule.yaml",
                          *(a for s in sets for a in ("--set", s))], capture_output=True, text=True, check=True)
    rule = yaml.safe_load(out.stdout)
    path.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def prom(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[monitoring.Prometheus]:
    workdir = tmp_path_factory.mktemp("prometheus")
    with monitoring.running(workdir, cluster.env.kubeconfig, rule_files=[_rules(workdir / "alerts.yaml")]) as p:
        yield p


def value(prom: monitoring.Prometheus, promql: str) -> float | None:
    """The single sample's value, None when the result is empty."""
    result = prom.query(promql)
    assert len(result) <= 1, f"{promql}: {len(result)} series"
    return float(result[0]["value"][1]) if result else None


def wait_value(prom: monitoring.Prometheus, promql: str, expected: float, timeout: float = 120) -> None:
    wait_until(lambda: value(prom, promql) == expected, timeout, interval=1.0,
               message=f"{promql} == {expected} (now {value(prom, promql)})")


def firing(prom: monitoring.Prometheus, alert: str) -> bool:
    return any(a["labels"].get("alertname") == alert and a["labels"].get("cluster") == RELEASE
               and a["state"] == "firing" for a in prom.alerts())


def test_a_healthy_cluster_has_three_members_online_one_primary_two_secondaries(
        cluster: Cluster, prom: monitoring.Prometheus) -> None:
    wait_value(prom, f'innodb_cluster_members{{{SELECT},state="ONLINE"}}', 3)
    assert value(prom, f'innodb_cluster_members_by_role{{{SELECT},role="PRIMARY"}}') == 1
    assert value(prom, f'innodb_cluster_members_by_role{{{SELECT},role="SECONDARY"}}') == 2
    assert value(prom, f'innodb_cluster_state{{{SELECT},state="ONLINE"}}') == 1
    assert value(prom, f'innodb_cluster_instances_desired{{{SELECT}}}') == 3
    wait_value(prom, f'innodb_cluster_routers_ready{{{SELECT}}}', 1)
    assert value(prom, f'up{{job="{monitoring.OPERATOR_JOB}"}}') == 1
    # Every server pod's exporter sidecar, logged in with its least-privilege account.
    wait_value(prom, f'count(mysql_up{{job="{monitoring.EXPORTER_JOB}",{SELECT}}} == 1)', 3)
    members = prom.query(f'mysql_perf_schema_replication_group_member_info{{{SELECT}}}')
    assert members, "the sidecars export the group's members (replication_group_members collector)"
    grants = cluster.on_member(cluster.primary(), "SHOW GRANTS FOR 'innodbop-metrics'@'127.0.0.1'")
    assert sorted(g[0] for g in grants) == [
        "GRANT PROCESS, REPLICATION CLIENT ON *.* TO `innodbop-metrics`@`127.0.0.1`",
        "GRANT SELECT ON `performance_schema`.* TO `innodbop-metrics`@`127.0.0.1`"]


def test_a_primary_sigkill_counts_one_primary_change_timed_like_the_write_outage(
        cluster: Cluster, prom: monitoring.Prometheus) -> None:
    changes = f"innodb_cluster_primary_changes_total{{{SELECT}}}"
    count, total = (f"innodb_cluster_failover_duration_seconds_{s}{{{SELECT}}}" for s in ("count", "sum"))
    before = (value(prom, changes), value(prom, count), value(prom, total))
    assert None not in before
    primary = cluster.primary()
    with WriteChecker(cluster.router, 6446, cluster.password) as checker:
        killed_at = time.monotonic()
        os.kill(cluster.env.container_pid(NAMESPACE, primary, "mysql"), signal.SIGKILL)
        outage = checker.wait_for_recovery_after(killed_at)
        cluster.wait_members(3)
        checker.wait_for_writes_after(time.monotonic(), count=10)
    report = checker.verify(cluster.member_addresses())
    assert report.ok, f"lost: {report.lost}; duplicated: {report.duplicated}"
    wait_value(prom, changes, before[0] + 1)  # type: ignore[operator]
    wait_value(prom, count, before[1] + 1)  # type: ignore[operator]
    failover = value(prom, total) - before[2]  # type: ignore[operator]
    print(f"\nSIGKILL of the primary {primary}: writes resumed after {outage:.1f}s (write checker); "
          f"failover duration recorded by the operator {failover:.1f}s")
    for at, error in [e for e in checker.errors if e[0] >= killed_at][-6:]:
        print(f"  write error at +{at - killed_at:.2f}s: {error}")
    # The operator times it from the container's termination to the new primary's own log line;
    # the checker's outage adds the router following and the client reconnecting.
    assert abs(failover - outage) <= 2.0, (failover, outage)


def test_a_member_that_cannot_come_back_fires_the_alerts_until_it_does(
        cluster: Cluster, prom: monitoring.Prometheus) -> None:
    env = cluster.env
    nodes = [n["metadata"]["name"] for n in env.get("nodes")["items"]]
    member = next(name for name in cluster.members() if name != cluster.primary())
    for node in nodes:
        env.kubectl("cordon", node)
    try:
        env.kubectl("delete", "pod", "-n", NAMESPACE, member, "--wait=false")
        wait_value(prom, f'innodb_cluster_instances_online{{{SELECT}}}', 2)
        wait_until(lambda: firing(prom, "InnoDBClusterMembersBelowSpec"), 60, interval=1.0,
                   message="InnoDBClusterMembersBelowSpec to fire")
        wait_until(lambda: firing(prom, "InnoDBClusterNotOnline"), 60, interval=1.0,
                   message="InnoDBClusterNotOnline to fire")
        assert value(prom, f'innodb_cluster_members{{{SELECT},state="ONLINE"}}') == 2
        (info,) = prom.query(f'innodb_cluster_member_info{{{SELECT},member="{member}"}}')
        assert info["metric"]["state"] != "ONLINE", info
    finally:
        for node in nodes:
            env.kubectl("uncordon", node)
    cluster.wait_members(3)
    wait_until(lambda: not firing(prom, "InnoDBClusterMembersBelowSpec") and not firing(prom, "InnoDBClusterNotOnline"),
               120, interval=1.0, message="the alerts to resolve")


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))


def _grafana(expr: str) -> str:
    values = {"namespace": NAMESPACE, "cluster": RELEASE, "operator_job": monitoring.OPERATOR_JOB,
              "__rate_interval": "1m", "__interval": "30s", "__range": "1h", "datasource": ""}
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: values[m.group(1) or m.group(2)], expr)


def test_every_dashboard_panel_has_data(prom: monitoring.Prometheus) -> None:
    empty, later = [], []
    for panel in _panels(json.loads(DASHBOARD.read_text())["panels"]):
        for target in panel.get("targets", []):
            expr = _grafana(target["expr"])
            if NOT_YET_EXPORTED.search(expr):
                later.append(panel["title"])
            elif not prom.query(expr):
                empty.append(f"{panel['title']}: {expr}")
    assert not empty, "panels without data:\n" + "\n".join(empty)
    print(f"\ndashboard: every panel has data except the backup panels {sorted(set(later))}")


def test_the_faults_left_failover_expulsion_and_rejoin_events_naming_the_members(cluster: Cluster) -> None:
    events = cluster.env.get("events", "-n", NAMESPACE, "--field-selector", f"involvedObject.name={RELEASE}")
    said = {(e["reason"], e["message"]) for e in events["items"]}
    members = "|".join(re.escape(f"{RELEASE}-{i}") for i in range(3))
    # The SIGKILLed primary's old incarnation is expelled as its restarted mysqld joins.
    for reason in ("FailoverObserved", "MemberUnreachable", "MemberExpelled", "MemberRejoined"):
        messages = [m for r, m in said if r == reason]
        assert messages, f"no {reason} Event; reasons seen: {sorted({r for r, _ in said})}"
        assert all(re.search(members, m) for m in messages), messages
    print("\n" + "\n".join(f"{r}: {m}" for r, m in sorted(said) if r.startswith(("Failover", "Member"))))


def test_a_deleted_clusters_series_are_gone(cluster: Cluster, prom: monitoring.Prometheus) -> None:
    assert prom.query(f"innodb_cluster_state{{{SELECT}}}")
    cluster.env.helm("uninstall", RELEASE, "-n", NAMESPACE, "--wait")
    wait_until(lambda: not prom.query(f'{{__name__=~"innodb_cluster_.*",{SELECT}}}'), 120, interval=1.0,
               message="every innodb_cluster_* series of the deleted cluster to go")
