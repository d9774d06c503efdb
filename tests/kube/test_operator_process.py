"""The operator process against a real API server: leader election, SIGTERM, /readyz, /metrics."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest

from innodb_api import API_VERSION
from innodb_dev.controlplane import ControlPlane
from innodb_dev.operator_process import OperatorProcess, wait_until
from innodb_dev.tcpproxy import CuttableProxy
from kube.conftest import kubectl, operator_kubeconfig

LEASE_SECONDS = 4.0
RENEW_SECONDS = 1.0

METRIC_FAMILIES = [
    "workqueue_depth",
    "workqueue_adds_total",
    "workqueue_queue_duration_seconds",
    "workqueue_work_duration_seconds",
    "workqueue_retries_total",
    "workqueue_unfinished_work_seconds",
    "workqueue_longest_running_processor_seconds",
    "controller_runtime_reconcile_total",
    "controller_runtime_reconcile_errors_total",
    "controller_runtime_reconcile_time_seconds",
    "controller_runtime_max_concurrent_reconciles",
    "controller_runtime_active_workers",
    "rest_client_requests_total",
    "rest_client_request_duration_seconds",
    "leader_election_master_status",
    "innodb_operator_watch_restarts_total",
    "innodb_operator_watch_events_total",
    "innodb_operator_api_requests_total",
    "innodb_operator_build_info",
    "innodb_cluster_state",
    "innodb_cluster_routers_desired",
]


def start_operator(cp: ControlPlane, namespace: str, tmp_path: Path, identity: str,
                   operators: list[OperatorProcess], kubeconfig: Path | None = None) -> OperatorProcess:
    proc = OperatorProcess(
        kubeconfig or operator_kubeconfig(cp), tmp_path / f"{identity}.log", identity=identity,
        extra_args=["--namespaces", namespace, "--lease-namespace", namespace, "--lease-name", "leader",
                    "--lease-duration-seconds", str(LEASE_SECONDS), "--renew-period-seconds", str(RENEW_SECONDS),
                    "--poll-seconds", "300"],
    )
    operators.append(proc)
    return proc.start()


def is_leader(proc: OperatorProcess) -> bool:
    return proc.metric("leader_election_master_status", name="leader") == 1.0


def reconciles(proc: OperatorProcess) -> float:
    """Object-reconcile passes that succeeded (most ask to be looked at again: ``requeue_after``)."""
    return sum(proc.metric("controller_runtime_reconcile_total", controller="innodbcluster", result=result) or 0.0
               for result in ("success", "requeue_after"))


def create_cluster(cp: ControlPlane, namespace: str, name: str) -> None:
    body = {"apiVersion": API_VERSION, "kind": "InnoDBCluster", "metadata": {"name": name, "namespace": namespace},
            "spec": {"instances": 3, "secretName": f"{name}-secret"}}
    kubectl(cp, "apply", "-f", "-", stdin=json.dumps(body))


def observed_generation(cp: ControlPlane, namespace: str, name: str) -> str:
    return kubectl(cp, "get", "innodbcluster", name, "-n", namespace,
                   "-o", "jsonpath={.status.observedGeneration}", check=False)


def lease_holder(cp: ControlPlane, namespace: str) -> str:
    return kubectl(cp, "get", "lease", "leader", "-n", namespace, "-o", "jsonpath={.spec.holderIdentity}",
                   check=False)


def test_two_replicas_elect_one_leader_and_only_it_reconciles(
    control_plane: ControlPlane, namespace: str, tmp_path: Path, operators: list[OperatorProcess]
) -> None:
    a = start_operator(control_plane, namespace, tmp_path, "replica-a", operators)
    wait_until(lambda: is_leader(a), 30, message="replica-a to lead")
    b = start_operator(control_plane, namespace, tmp_path, "replica-b", operators)
    wait_until(lambda: b.get("/readyz")[0] == 200, 30, message="replica-b to stand by, ready")

    create_cluster(control_plane, namespace, "one")
    wait_until(lambda: observed_generation(control_plane, namespace, "one") == "1", 30,
               message="the leader to write status")
    assert lease_holder(control_plane, namespace) == "replica-a"
    assert reconciles(a) >= 1
    assert not is_leader(b) and reconciles(b) == 0
    assert "standby" in b.get("/readyz")[1]


def test_sigkilled_leader_is_replaced_within_lease_duration_plus_one_renew_period(
    control_plane: ControlPlane, namespace: str, tmp_path: Path, operators: list[OperatorProcess]
) -> None:
    a = start_operator(control_plane, namespace, tmp_path, "replica-a", operators)
    wait_until(lambda: is_leader(a), 30, message="replica-a to lead")
    b = start_operator(control_plane, namespace, tmp_path, "replica-b", operators)
    wait_until(lambda: b.get("/readyz")[0] == 200, 30, message="replica-b to stand by")

    a.signal(signal.SIGKILL)
    killed_at = time.monotonic()
    wait_until(lambda: is_leader(b), 30, interval=0.05, message="replica-b to take over")
    takeover = time.monotonic() - killed_at
    print(f"takeover after SIGKILL: {takeover:.2f}s (lease {LEASE_SECONDS}s, renew {RENEW_SECONDS}s)")
    # The bound the design promises; the extra 0.5 s covers the scrape interval and process scheduling.
    assert takeover <= LEASE_SECONDS + RENEW_SECONDS + 0.5
    create_cluster(control_plane, namespace, "after-kill")
    wait_until(lambda: observed_generation(control_plane, namespace, "after-kill") == "1", 30,
               message="the new leader to reconcile")


def test_sigterm_releases_the_lease_and_the_follower_takes_over_at_once(
    control_plane: ControlPlane, namespace: str, tmp_path: Path, operators: list[OperatorProcess]
) -> None:
    a = start_operator(control_plane, namespace, tmp_path, "replica-a", operators)
    wait_until(lambda: is_leader(a), 30, message="replica-a to lead")
    b = start_operator(control_plane, namespace, tmp_path, "replica-b", operators)
    wait_until(lambda: b.get("/readyz")[0] == 200, 30, message="replica-b to stand by")

    a.signal(signal.SIGTERM)
    terminated_at = time.monotonic()
    wait_until(lambda: is_leader(b), 10, interval=0.05, message="replica-b to take over")
    takeover = time.monotonic() - terminated_at
    print(f"takeover after SIGTERM: {takeover:.2f}s")
    assert takeover < 2.0
    assert a.wait(30) == 0
    assert "released leader lease" in a.log_text()
    assert lease_holder(control_plane, namespace) == "replica-b"


def test_readyz_is_503_until_informers_sync_then_200_and_metrics_lists_every_family(
    control_plane: ControlPlane, namespace: str, tmp_path: Path, operators: list[OperatorProcess]
) -> None:
    proxy = CuttableProxy(control_plane.api_port)
    config = json.loads(operator_kubeconfig(control_plane).read_text())
    config["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{proxy.port}"
    kubeconfig = tmp_path / "proxied-kubeconfig"
    kubeconfig.write_text(json.dumps(config))
    try:
        with proxy.down():  # the API server is unreachable: nothing can sync
            proc = start_operator(control_plane, namespace, tmp_path, "solo", operators, kubeconfig=kubeconfig)
            wait_until(lambda: proc.get("/healthz")[0] == 200, 30, message="/healthz to answer")
            status, body = proc.get("/readyz")
            assert status == 503, body
            assert "not synced" in body
        wait_until(lambda: proc.get("/readyz")[0] == 200, 30, message="/readyz to turn 200 after sync")

        create_cluster(control_plane, namespace, "metrics")
        wait_until(lambda: reconciles(proc) >= 1, 30, message="a reconcile")
        text = proc.metrics()
        missing = [f for f in METRIC_FAMILIES if f"# TYPE {f} " not in text]
        assert not missing, f"metric families missing from /metrics: {missing}"
        assert (proc.metric("innodb_operator_api_requests_total", verb="list", code="200") or 0) >= 1
        assert (proc.metric("innodb_operator_watch_events_total", type="ADDED") or 0) >= 1
        assert proc.metric("innodb_operator_build_info") == 1.0
        assert (proc.metric("controller_runtime_max_concurrent_reconciles", controller="groupmanager") or 0) >= 1
        assert (proc.metric("rest_client_requests_total", method="GET", code="200") or 0) >= 1
        assert proc.metric("innodb_cluster_routers_desired", namespace=namespace, cluster="metrics") is not None
    finally:
        proxy.close()


@pytest.mark.parametrize("bad", [["--workers", "0"], ["--log-format", "xml"], ["--workers", "many"]])
def test_bad_settings_exit_2_with_a_message(bad: list[str], tmp_path: Path) -> None:
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "innodb_operator.cli", "run", *bad],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "invalid settings" in result.stderr
