"""Repeat the end-to-end timings on the local environment and print them side by side.

    .venv/bin/python bench/e2e_timings.py [--runs 3]

Each run installs a fresh three-member cluster with the chart (journey values) and measures:
apply-to-ONLINE (helm install until ONLINE with a ready router), scale 3 to 5 (helm upgrade
until five members ONLINE, two by clone), primary failover (SIGKILL of the primary's mysqld
until the first acknowledged write through the router), member rejoin (the killed member
restarted by its node and back ONLINE), full-outage recovery (SIGKILL of every mysqld
until the first acknowledged write), a my.cnf rolling restart of the five members and its
longest gap between acknowledged writes, the write gap of a `kubectl innodb switchover`, and
`helm uninstall` until the finalizer let the object go. Every fault runs the acknowledged-write checker; a lost
write aborts the benchmark. Needs root and ./dev/setup, like the e2e tier.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the e2e helpers
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "dev"))  # innodb_dev: the local environment

from e2e.cluster import Cluster, install, uninstall
from innodb_dev.localenv import LocalEnv, install_operator
from innodb_dev.writechecker import WriteChecker


def _verified(checker: WriteChecker, cluster: Cluster) -> float:
    """Abort on a lost or duplicated write; the longest gap between acknowledged writes."""
    report = checker.verify(cluster.member_addresses())
    if not report.ok:
        raise SystemExit(f"acknowledged writes lost: {report.lost} duplicated: {report.duplicated}")
    return float(report.longest_gap)


def one_run(env: LocalEnv, index: int) -> dict[str, float]:
    namespace = f"bench-{index}"
    cluster, online = install(env, namespace, "bench", secrets.token_urlsafe(12))
    times = {"apply to ONLINE (3 members)": online}
    started = time.monotonic()
    cluster.helm_upgrade("serverInstances=5")
    cluster.wait_members(5)
    times["scale 3 to 5"] = time.monotonic() - started

    primary = cluster.primary()
    with WriteChecker(cluster.router, 6446, cluster.password) as checker:
        killed = time.monotonic()
        os.kill(env.container_pid(namespace, primary, "mysql"), signal.SIGKILL)
        times["primary failover (kill to first ack)"] = checker.wait_for_recovery_after(killed)
        cluster.wait_members(5)
        times["member rejoin after restart"] = time.monotonic() - killed
    _verified(checker, cluster)

    with WriteChecker(cluster.router, 6446, cluster.password) as checker:
        pids = [env.container_pid(namespace, name, "mysql") for name in cluster.members()]
        killed = time.monotonic()
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        times["full-outage recovery (kill to first ack)"] = checker.wait_for_recovery_after(killed, timeout=600)
        cluster.wait_members(5, timeout=600)
    _verified(checker, cluster)

    with WriteChecker(cluster.router, 6446, cluster.password) as checker:
        started = time.monotonic()
        cluster.helm_upgrade_values({"serverConfig": {"mycnf": f"[mysqld]\nmax_connections={400 + index}\n"}})
        _wait(lambda: (cluster.status().get("cluster") or {}).get("rollout"), 120, "the roll to start")
        _wait(lambda: not (cluster.status().get("cluster") or {}).get("rollout")
              and cluster.status()["cluster"]["status"] == "ONLINE", 900, "the roll to finish")
        times["mycnf roll (5 members)"] = time.monotonic() - started
        checker.wait_for_writes_after(time.monotonic(), count=20)
    times["mycnf roll: longest write gap"] = _verified(checker, cluster)

    target = next(m for m in sorted(cluster.members()) if m != cluster.primary())
    with WriteChecker(cluster.router, 6446, cluster.password) as checker:
        started = time.monotonic()
        asked = cluster.plugin("switchover", target)
        if asked.returncode != 0:
            raise SystemExit(asked.stdout + asked.stderr)
        checker.wait_for_writes_after(time.monotonic(), count=20)
    times["switchover via kubectl innodb: longest write gap"] = _verified(checker, cluster)

    started = time.monotonic()
    env.helm("uninstall", cluster.release, "-n", namespace)
    _wait(lambda: env.kubectl("get", "innodbcluster", "-n", namespace, cluster.release, check=False).returncode,
          300, "the finalized cluster to be deleted")
    times["helm uninstall to deleted (ordered stop)"] = time.monotonic() - started
    uninstall(cluster)
    return times


def _wait(condition: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.5)



def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    results: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="bench-e2e-") as workdir, LocalEnv.start(Path(workdir)) as env:
        install_operator(env)
        for index in range(args.runs):
            results.append(one_run(env, index))
            print(f"run {index + 1}: " + "; ".join(f"{k} {v:.1f}s" for k, v in results[-1].items()), flush=True)
    print(f"\n{'measure':44} {'median':>8} {'min':>8} {'max':>8}   ({args.runs} runs)")
    for key in results[0]:
        values = [r[key] for r in results]
        print(f"{key:44} {statistics.median(values):8.1f} {min(values):8.1f} {max(values):8.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
