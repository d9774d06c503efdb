"""The Kubernetes-side reconcile of an InnoDBCluster against a real control plane."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from innodb_api import API_VERSION
from innodb_dev.controlplane import OPERATOR_USER, ControlPlane
from innodb_dev.operator_process import OperatorProcess
from innodb_dev.waiting import hold_for, wait_until
from kube.conftest import kubectl, operator_kubeconfig

SERVER_PODS = "app.kubernetes.io/instance=mycluster,app.kubernetes.io/component=database"
WRITE_VERBS = {"create", "update", "patch", "delete", "deletecollection"}

# Every child of cluster "mycluster" with the journey's values (one enabled backup schedule).
EXPECTED_CHILDREN = {
    ("configmap", "mycluster-initconf"),
    ("configmap", "mycluster-router-scripts"),
    ("secret", "mycluster-privsecrets"),
    ("serviceaccount", "mycluster-sa"),
    ("serviceaccount", "mycluster-backup"),
    ("role", "mycluster-backup"),
    ("rolebinding", "mycluster-backup"),
    ("service", "mycluster-instances"),
    ("service", "mycluster"),
    ("statefulset", "mycluster"),
    ("deployment", "mycluster-router"),
    ("poddisruptionbudget", "mycluster-pdb"),
}


def cluster_manifest(namespace: str, **spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "secretName": "mycluster-secret", "instances": 3, "router": {"instances": 1},
        "tlsUseSelfSigned": True, "mycnf": "[mysqld]\nmax_connections=300\n",
        "backupProfiles": [{"name": "dump", "dumpInstance": {
            "dumpOptions": {"excludeTables": ["employees.salaries"]},
            "storage": {"persistentVolumeClaim": {"claimName": "backups"}}}}],
        "backupSchedules": [{"name": "nightly", "schedule": "0 3 * * *", "backupProfileName": "dump",
                             "enabled": True}],
    }
    base.update(spec)
    return {"apiVersion": API_VERSION, "kind": "InnoDBCluster",
            "metadata": {"name": "mycluster", "namespace": namespace}, "spec": base}


def root_secret(namespace: str, name: str = "mycluster-secret", **data: str) -> dict[str, Any]:
    values = data or {"rootUser": "root", "rootHost": "%", "rootPassword": "sakila"}
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": namespace},
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in values.items()}}


def apply(cp: ControlPlane, obj: dict[str, Any]) -> None:
    kubectl(cp, "apply", "--server-side", "--field-manager=test", "-f", "-", stdin=json.dumps(obj))


def get_json(cp: ControlPlane, namespace: str, *what: str) -> Any:
    out = kubectl(cp, "get", *what, "-n", namespace, "-o", "json", check=False)
    return json.loads(out) if out else None


def children(cp: ControlPlane, namespace: str) -> dict[tuple[str, str], dict[str, Any]]:
    kinds = ("configmap,secret,serviceaccount,role,rolebinding,service,statefulset,deployment,"
             "poddisruptionbudget,cronjob")
    items = get_json(cp, namespace, kinds, "-l", "app.kubernetes.io/managed-by=innodb-operator")["items"]
    return {(i["kind"].lower(), i["metadata"]["name"]): i for i in items}


def condition(cp: ControlPlane, namespace: str, type_: str) -> dict[str, Any]:
    obj = get_json(cp, namespace, "innodbcluster", "mycluster") or {}
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c["type"] == type_:
            return dict(c)
    return {}


def warning_events(cp: ControlPlane, namespace: str) -> list[dict[str, Any]]:
    items = get_json(cp, namespace, "events", "--field-selector", "type=Warning")["items"]
    return [e for e in items if e["involvedObject"]["name"] == "mycluster"]


@pytest.fixture
def operator(control_plane: ControlPlane, namespace: str, tmp_path: Path,
             operators: list[OperatorProcess]) -> Iterator[OperatorProcess]:
    proc = OperatorProcess(operator_kubeconfig(control_plane), tmp_path / "operator.log", identity="solo",
                           extra_args=["--namespaces", namespace, "--no-leader-election", "--poll-seconds", "5"])
    operators.append(proc.start())
    wait_until(lambda: proc.get("/readyz")[0] == 200, 30, message="the operator to be ready")
    yield proc


def passes(proc: OperatorProcess) -> float:
    """Reconcile passes the operator has finished successfully (most ask to be looked at again)."""
    return sum(proc.metric("controller_runtime_reconcile_total", controller="innodbcluster", result=result) or 0.0
               for result in ("success", "requeue_after"))


def wait_for_more_passes(proc: OperatorProcess, count: int, timeout: float = 30) -> None:
    start = passes(proc)
    wait_until(lambda: passes(proc) >= start + count, timeout, message=f"{count} more reconcile passes")


def converge(cp: ControlPlane, namespace: str, expected: set[tuple[str, str]]) -> dict[tuple[str, str], Any]:
    wait_until(lambda: expected <= set(children(cp, namespace)), 60, message=f"children {sorted(expected)}")
    wait_until(lambda: condition(cp, namespace, "SpecValid").get("status") == "True", 30, message="SpecValid")
    return children(cp, namespace)


def test_a_cluster_gets_every_child_with_an_owner_reference_and_the_statefulset_controller_makes_pods(
    control_plane: ControlPlane, namespace: str, operator: OperatorProcess
) -> None:
    apply(control_plane, root_secret(namespace))
    apply(control_plane, cluster_manifest(namespace))
    found = converge(control_plane, namespace, EXPECTED_CHILDREN)
    cluster = get_json(control_plane, namespace, "innodbcluster", "mycluster")
    cronjobs = [k for k in found if k[0] == "cronjob"]
    assert len(cronjobs) == 1, cronjobs
    for key, child in found.items():
        owners = child["metadata"].get("ownerReferences") or []
        assert [(o["kind"], o["uid"], o.get("controller")) for o in owners] == [
            ("InnoDBCluster", cluster["metadata"]["uid"], True)], key
    initconf = found[("configmap", "mycluster-initconf")]["data"]
    assert initconf["99-extra.cnf"] == "[mysqld]\nmax_connections=300\n"
    # The real StatefulSet controller creates the member pods (Pending: this tier has no nodes).
    wait_until(lambda: len(get_json(control_plane, namespace, "pods", "-l", SERVER_PODS)["items"]) == 3, 60,
               message="three server pods")
    status = get_json(control_plane, namespace, "innodbcluster", "mycluster")["status"]
    assert status["observedGeneration"] == cluster["metadata"]["generation"]
    assert status["cluster"]["instances"] == 3 and status["cluster"]["status"] == "PENDING"


def test_deleting_the_cluster_lets_the_garbage_collector_remove_its_children(
    control_plane: ControlPlane, namespace: str, operator: OperatorProcess
) -> None:
    apply(control_plane, root_secret(namespace))
    apply(control_plane, cluster_manifest(namespace))
    converge(control_plane, namespace, EXPECTED_CHILDREN)
    kubectl(control_plane, "delete", "innodbcluster", "mycluster", "-n", namespace, "--wait=false")
    wait_until(lambda: not children(control_plane, namespace), 90, interval=0.5,
               message="the garbage collector to delete every child")


def test_spec_changes_reach_the_children(
    control_plane: ControlPlane, namespace: str, operator: OperatorProcess
) -> None:
    apply(control_plane, root_secret(namespace))
    apply(control_plane, cluster_manifest(namespace))
    converge(control_plane, namespace, EXPECTED_CHILDREN)
    apply(control_plane, cluster_manifest(namespace, instances=5, router={"instances": 3},
                                          mycnf="[mysqld]\nmax_connections=500\n",
                                          backupSchedules=[]))

    def changed() -> bool:
        now = children(control_plane, namespace)
        sts, router = now.get(("statefulset", "mycluster")), now.get(("deployment", "mycluster-router"))
        return (sts is not None and sts["spec"]["replicas"] == 5 and router is not None
                and router["spec"]["replicas"] == 3
                and now[("configmap", "mycluster-initconf")]["data"]["99-extra.cnf"]
                == "[mysqld]\nmax_connections=500\n"
                and not [k for k in now if k[0] == "cronjob"])

    wait_until(changed, 30, message="5 servers, 3 routers, new mycnf, no CronJob")


def test_an_idle_converged_cluster_costs_zero_api_writes(
    control_plane: ControlPlane, namespace: str, operator: OperatorProcess
) -> None:
    apply(control_plane, root_secret(namespace))
    apply(control_plane, cluster_manifest(namespace))
    converge(control_plane, namespace, EXPECTED_CHILDREN)
    # Converged: the status has settled (pods stay Pending here, so it no longer changes).
    wait_until(lambda: len(get_json(control_plane, namespace, "pods", "-l", SERVER_PODS)["items"]) == 3, 60,
               message="three server pods")

    def writes_metric() -> float:
        total = 0.0
        for line in operator.metrics().splitlines():
            if line.startswith("innodb_operator_api_requests_total{") and any(
                    f'verb="{v}"' in line for v in ("create", "update", "patch", "apply", "delete")):
                total += float(line.rsplit(" ", 1)[1])
        return total

    # Settled: two more passes (the poll is 5 s) without a write.
    def settled() -> bool:
        writes, start = writes_metric(), passes(operator)
        wait_until(lambda: passes(operator) >= start + 2, 30, message="two passes")
        return writes_metric() == writes

    wait_until(settled, 60, message="convergence: a pass that writes nothing")
    started, writes_before, polls_before = time.time(), writes_metric(), passes(operator)
    hold_for(60, lambda: writes_metric() == writes_before, message="the operator wrote to the API while idle")
    assert passes(operator) - polls_before >= 10, "the operator did not keep re-checking the cluster"
    audited = [e for e in control_plane.audit_events(user=OPERATOR_USER, since=started)
               if e["verb"] in WRITE_VERBS]
    assert audited == [], [(e["verb"], e["requestURI"]) for e in audited]


def spec_versions(found: dict[tuple[str, str], dict[str, Any]]) -> dict[tuple[str, str], str]:
    """What only a write of spec or data changes: the generation where there is one, else the
    resourceVersion (Kubernetes' own controllers keep updating workload and PDB status)."""
    return {k: str(v["metadata"].get("generation") or v["metadata"]["resourceVersion"]) for k, v in found.items()}


def operator_child_writes(cp: ControlPlane, namespace: str, since: float) -> list[tuple[str, str, str]]:
    """Real (not dry-run) writes by the operator to anything in ``namespace`` but the cluster and Events."""
    return [(e["verb"], e["objectRef"]["resource"], e["objectRef"].get("name", ""))
            for e in cp.audit_events(user=OPERATOR_USER, since=since)
            if e["verb"] in WRITE_VERBS and (e.get("objectRef") or {}).get("namespace") == namespace
            and e["objectRef"].get("resource") not in ("innodbclusters", "events")
            and "dryRun=" not in e.get("requestURI", "")]


INVALID_BY_OPERATOR = [
    ("missing Secret", {"secretName": "no-such-secret"}, None, "spec.secretName"),
    ("Secret without rootPassword", {"secretName": "no-password"}, {"rootUser": "root"}, "spec.secretName"),
    ("mycnf sets server_id", {"mycnf": "[mysqld]\nserver_id=7\n"}, None, "spec.mycnf"),
    ("mycnf sets gtid_mode", {"mycnf": "[mysqld]\ngtid_mode=OFF\n"}, None, "spec.mycnf"),
    ("default_authentication_plugin on 9.x",
     {"mycnf": "[mysqld]\ndefault_authentication_plugin=mysql_native_password\n"}, None, "spec.mycnf"),
    ("schedule names a missing profile", {"backupSchedules": [
        {"name": "nightly", "schedule": "0 3 * * *", "backupProfileName": "nope", "enabled": True}]},
     None, "spec.backupSchedules"),
    # Passes the operator's checks; the API server rejects the StatefulSet (a container needs a name).
    ("podSpec the API server rejects", {"podSpec": {"containers": [{"image": "x"}]}}, None,
     "spec.template.spec.containers[1].name"),
]


@pytest.mark.parametrize(("case", "spec", "secret_data", "field"), INVALID_BY_OPERATOR,
                         ids=[c[0] for c in INVALID_BY_OPERATOR])
def test_an_invalid_change_is_reported_and_touches_no_child(
    control_plane: ControlPlane, namespace: str, operator: OperatorProcess,
    case: str, spec: dict[str, Any], secret_data: dict[str, str] | None, field: str,
) -> None:
    apply(control_plane, root_secret(namespace))
    apply(control_plane, cluster_manifest(namespace))
    before = converge(control_plane, namespace, EXPECTED_CHILDREN)
    versions = spec_versions(before)
    changed_at = time.time()
    if secret_data is not None:
        apply(control_plane, root_secret(namespace, spec["secretName"], **secret_data))
    apply(control_plane, cluster_manifest(namespace, **spec))

    wait_until(lambda: condition(control_plane, namespace, "SpecValid").get("status") == "False", 30,
               message=f"SpecValid=False for {case}")
    message = condition(control_plane, namespace, "SpecValid")["message"]
    assert field in message, message
    wait_until(lambda: any(field in e["message"] for e in warning_events(control_plane, namespace)), 30,
               message="a Warning event naming the field")
    assert "sakila" not in message
    wait_for_more_passes(operator, 2)  # later passes leave the children alone too
    after = spec_versions(children(control_plane, namespace))
    assert {k: v for k, v in after.items() if k in versions} == versions
    assert operator_child_writes(control_plane, namespace, changed_at) == []
    assert condition(control_plane, namespace, "SpecValid")["status"] == "False"
    assert len([e for e in warning_events(control_plane, namespace) if field in e["message"]]) == 1
    assert "Traceback" not in operator.log_text()


def privsecrets(cp: ControlPlane, namespace: str) -> dict[str, str]:
    secret = get_json(cp, namespace, "secret", "mycluster-privsecrets") or {}
    return dict(secret.get("data") or {})


def test_internal_passwords_are_never_replaced(
    control_plane: ControlPlane, namespace: str, operator: OperatorProcess
) -> None:
    apply(control_plane, root_secret(namespace))
    apply(control_plane, cluster_manifest(namespace))
    converge(control_plane, namespace, EXPECTED_CHILDREN)
    first = privsecrets(control_plane, namespace)
    assert {"adminPassword", "backupPassword", "replicationPassword", "routerPassword"} <= set(first)

    # One key removed: only that key comes back; the others keep their values.
    kubectl(control_plane, "patch", "secret", "mycluster-privsecrets", "-n", namespace, "--type=json",
            "-p", '[{"op": "remove", "path": "/data/routerPassword"}]')
    wait_until(lambda: "routerPassword" in privsecrets(control_plane, namespace), 30,
               message="the operator to restore routerPassword")
    restored = privsecrets(control_plane, namespace)
    assert {k: v for k, v in restored.items() if k != "routerPassword"} == {
        k: v for k, v in first.items() if k != "routerPassword"}

    # The Secret drops out of the operator's cache (its watch selects on this label): the operator
    # reads it live, labels it again and keeps every password.
    kubectl(control_plane, "label", "secret", "mycluster-privsecrets", "-n", namespace,
            "app.kubernetes.io/managed-by-")
    wait_until(lambda: ("secret", "mycluster-privsecrets") in children(control_plane, namespace), 30,
               message="the operator to label the Secret again")
    wait_for_more_passes(operator, 1)
    assert privsecrets(control_plane, namespace) == restored

    # A restarted operator changes no stored password.
    operator.stop()
    operator.start()
    wait_until(lambda: operator.get("/readyz")[0] == 200, 30, message="the restarted operator to be ready")
    wait_for_more_passes(operator, 2)
    assert privsecrets(control_plane, namespace) == restored


def test_backup_create_records_a_mysqlbackup_for_the_schedule(
    control_plane: ControlPlane, namespace: str
) -> None:
    import subprocess
    import sys

    argv = [sys.executable, "-m", "innodb_operator.cli", "backup", "create", "--namespace", namespace,
            "--cluster", "mycluster", "--schedule", "nightly", "--profile", "dump",
            "--kubeconfig", str(control_plane.kubeconfig)]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    backups = get_json(control_plane, namespace, "mysqlbackups")["items"]
    assert len(backups) == 1
    assert backups[0]["spec"] == {"clusterName": "mycluster", "backupProfileName": "dump",
                                  "deleteBackupData": False} or backups[0]["spec"]["clusterName"] == "mycluster"
    assert backups[0]["metadata"]["name"].startswith("mycluster-nightly-")
    assert backups[0]["metadata"]["name"] in result.stdout
    result = subprocess.run([*argv[:-2], "--kubeconfig", str(control_plane.kubeconfig), "--namespace", "nope"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "could not create MySQLBackup nope/" in result.stderr
