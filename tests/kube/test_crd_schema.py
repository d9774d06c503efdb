"""The CRDs against a real kube-apiserver: served, explained, defaulted, and invalid objects
rejected by the API server itself with field errors naming the field."""

from __future__ import annotations

import copy
import json
import secrets
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from innodb_api import API_VERSION, crd
from innodb_dev import toolchain
from innodb_dev.controlplane import ControlPlane
from kube.conftest import kubectl


def run(cp: ControlPlane, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """kubectl as admin, never raising: the test asserts on returncode and stderr."""
    return subprocess.run([str(toolchain.binaries().kubectl), "--kubeconfig", str(cp.kubeconfig), *args],
                          input=stdin, capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def ns(control_plane: ControlPlane) -> Iterator[str]:
    """One namespace for the module (parametrized test ids are not valid namespace names)."""
    name = f"crd-schema-{secrets.token_hex(3)}"
    kubectl(control_plane, "create", "namespace", name)
    yield name
    kubectl(control_plane, "delete", "namespace", name, "--wait=false", check=False)


def cluster(name: str, ns: str, **spec: Any) -> dict[str, Any]:
    """The journey's cluster (what the chart renders from its values), with ``spec`` overrides."""
    body: dict[str, Any] = {
        "secretName": "mycluster-secret", "tlsUseSelfSigned": True, "mycnf": "[mysqld]\nmax_connections=300\n",
        "backupProfiles": [{"name": "dump", "dumpInstance": {
            "dumpOptions": {"excludeTables": ["employees.salaries"]},
            "storage": {"persistentVolumeClaim": {"claimName": "backups"}}}}],
        "backupSchedules": [{"name": "nightly", "schedule": "0 3 * * *", "backupProfileName": "dump"}],
    }
    body.update(spec)
    return {"apiVersion": API_VERSION, "kind": "InnoDBCluster", "metadata": {"name": name, "namespace": ns},
            "spec": body}


def backup(name: str, ns: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": API_VERSION, "kind": "MySQLBackup", "metadata": {"name": name, "namespace": ns},
            "spec": {"clusterName": "mycluster", **spec}}


def create(cp: ControlPlane, obj: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    return run(cp, "create", "-f", "-", stdin=json.dumps(obj))


def get(cp: ControlPlane, ns: str, what: str, name: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(kubectl(cp, "get", what, name, "-n", ns, "-o", "json"))
    return result


def unique(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(3)}"


def test_crds_are_established_and_served_under_short_names(control_plane: ControlPlane, ns: str) -> None:
    for c in crd.all_crds():
        status = kubectl(control_plane, "get", "crd", c["metadata"]["name"], "-o",
                         "jsonpath={.status.conditions[?(@.type==\"Established\")].status}")
        assert status == "True", c["metadata"]["name"]
    for short in ("ic", "mbk", "innodbclusters", "mysqlbackups", "mysql"):
        result = run(control_plane, "get", short, "-n", ns)
        assert result.returncode == 0, result.stderr
        assert "No resources found" in result.stderr


def test_kubectl_explain_prints_descriptions_ranges_and_defaults(control_plane: ControlPlane) -> None:
    out = kubectl(control_plane, "explain", "innodbcluster.spec.instances")
    assert "Number of MySQL server instances" in out
    assert "Range: 1 to 9. Default: 3." in " ".join(out.split())
    spec = kubectl(control_plane, "explain", "ic.spec")
    for field in ("secretName", "mycnf", "groupMode", "datadirVolumeClaimTemplate", "backupSchedules", "initDB"):
        assert field in spec
    assert "Fixed after creation" in kubectl(control_plane, "explain", "ic.spec.baseServerId")
    assert "The InnoDBCluster to back up" in kubectl(control_plane, "explain", "mysqlbackup.spec.clusterName")


def without(obj: dict[str, Any], *path: str) -> dict[str, Any]:
    obj = copy.deepcopy(obj)
    node = obj
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return obj


SCHEDULE_WITHOUT_CRON = [{"name": "nightly", "backupProfileName": "dump"}]
PROFILE = {"dumpInstance": {"storage": {"persistentVolumeClaim": {"claimName": "backups"}}}}

# (object, texts the API server's error must contain: the field path and what is wrong)
REJECTED: dict[str, tuple[Any, tuple[str, ...]]] = {
    "instances 0": (cluster("c", "NS", instances=0), ("spec.instances", "greater than or equal to 1")),
    "instances 10": (cluster("c", "NS", instances=10), ("spec.instances", "less than or equal to 9")),
    "router.instances -1": (cluster("c", "NS", router={"instances": -1}),
                            ("spec.router.instances", "greater than or equal to 0")),
    "version 9.7": (cluster("c", "NS", version="9.7"), ("spec.version", "should match")),
    "groupMode Ring": (cluster("c", "NS", groupMode="Ring"),
                       ("spec.groupMode", 'Unsupported value: "Ring"', '"SinglePrimary", "MultiPrimary"')),
    "missing secretName": (without(cluster("c", "NS"), "spec", "secretName"), ("spec.secretName", "Required value")),
    "empty secretName": (cluster("c", "NS", secretName=""), ("spec.secretName", "at least 1 chars long")),
    "imagePullPolicy Sometimes": (cluster("c", "NS", imagePullPolicy="Sometimes"),
                                  ("spec.imagePullPolicy", 'Unsupported value: "Sometimes"')),
    "baseServerId -1": (cluster("c", "NS", baseServerId=-1), ("spec.baseServerId", "greater than or equal to 0")),
    "service type Ingress": (cluster("c", "NS", service={"type": "Ingress"}),
                             ("spec.service.type", 'Unsupported value: "Ingress"')),
    "backupSchedules item without schedule": (cluster("c", "NS", backupSchedules=SCHEDULE_WITHOUT_CRON),
                                              ("spec.backupSchedules[0].schedule", "Required value")),
    "two backupProfiles with one name": (cluster("c", "NS", backupProfiles=[{"name": "d", **PROFILE}] * 2),
                                         ("spec.backupProfiles[1]", "Duplicate value")),
    "backupProfile without storage": (cluster("c", "NS", backupProfiles=[{"name": "d", "dumpInstance": {}}]),
                                      ("spec.backupProfiles[0].dumpInstance.storage", "Required value")),
    "initDB with dump and clone": (cluster("c", "NS", initDB={
        "dump": {"storage": {"persistentVolumeClaim": {"claimName": "b"}}},
        "clone": {"donorUrl": "donor:3306", "secretKeyRef": {"name": "s"}}}),
        ("spec.initDB", crd.INITDB_CHOICE)),
    "metrics.webPort on mysqld's port": (cluster("c", "NS", metrics={"enable": True, "webPort": 3306}),
                                         ("spec.metrics.webPort", crd.METRICS_PORT_TAKEN)),
    "podLabels value not a string": (cluster("c", "NS", podLabels={"tier": 1}), ("spec.podLabels.tier", "string")),
    "misspelt field": (cluster("c", "NS", instnaces=3), ('unknown field "spec.instnaces"',)),
    "cluster name over 40 characters": (cluster("c" * 41, "NS"), ("metadata.name", "40")),
    "MySQLBackup with both backupProfileName and backupProfile": (
        backup("b", "NS", backupProfileName="dump", backupProfile=PROFILE), ("spec", crd.BACKUP_PROFILE_CHOICE)),
    "MySQLBackup with neither": (backup("b", "NS"), ("spec", crd.BACKUP_PROFILE_CHOICE)),
    "MySQLBackup without clusterName": (without(backup("b", "NS", backupProfileName="dump"), "spec", "clusterName"),
                                        ("spec.clusterName", "Required value")),
}


@pytest.mark.parametrize("scenario", list(REJECTED), ids=list(REJECTED))
def test_invalid_objects_are_rejected_by_the_api_server(control_plane: ControlPlane, ns: str, scenario: str) -> None:
    obj, expected = REJECTED[scenario]
    obj = json.loads(json.dumps(obj).replace('"NS"', json.dumps(ns)))
    result = create(control_plane, obj)
    assert result.returncode != 0, f"{scenario} was accepted"
    for text in expected:
        assert text in result.stderr, result.stderr
    assert run(control_plane, "get", obj["kind"], obj["metadata"]["name"], "-n", ns).returncode != 0


def test_journey_cluster_is_accepted_with_schema_defaults(control_plane: ControlPlane, ns: str) -> None:
    name = unique("journey")
    result = create(control_plane, cluster(name, ns))
    assert result.returncode == 0, result.stderr
    spec = get(control_plane, ns, "ic", name)["spec"]
    assert (spec["instances"], spec["router"]["instances"]) == (3, 1)
    assert (spec["baseServerId"], spec["groupMode"], spec["imagePullPolicy"], spec["version"]) == (
        1000, "SinglePrimary", "IfNotPresent", "9.7.4")
    assert spec["service"] == {"type": "ClusterIP"}
    assert spec["backupSchedules"][0]["enabled"] is True
    assert spec["mycnf"] == "[mysqld]\nmax_connections=300\n"
    table = kubectl(control_plane, "get", "ic", name, "-n", ns).splitlines()
    assert table[0].split() == ["NAME", "STATUS", "ONLINE", "INSTANCES", "ROUTERS", "AGE"]
    assert table[1].split()[:3] == [name, "3", "1"]  # no status yet: Status and Online are blank


def test_immutable_fields_cannot_change_but_others_can(control_plane: ControlPlane, ns: str) -> None:
    name = unique("immutable")
    template = {"spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "2Gi"}}}}
    assert create(control_plane, cluster(name, ns, datadirVolumeClaimTemplate=template)).returncode == 0

    def patch(body: Any, kind: str = "merge") -> subprocess.CompletedProcess[str]:
        return run(control_plane, "patch", "ic", name, "-n", ns, f"--type={kind}", "-p", json.dumps(body))

    bigger = patch({"spec": {"datadirVolumeClaimTemplate": {"spec": {"resources": {"requests": {"storage": "5Gi"}}}}}})
    assert bigger.returncode != 0
    assert "spec.datadirVolumeClaimTemplate: Forbidden: " + crd.DATADIR_IMMUTABLE in bigger.stderr
    removed = patch([{"op": "remove", "path": "/spec/datadirVolumeClaimTemplate"}], kind="json")
    assert removed.returncode != 0 and crd.DATADIR_IMMUTABLE in removed.stderr
    applied = run(control_plane, "apply", "--server-side", "--force-conflicts", "--field-manager=t", "-f", "-",
                  stdin=json.dumps(cluster(name, ns, datadirVolumeClaimTemplate={
                      "spec": {"resources": {"requests": {"storage": "10Gi"}}}})))
    assert applied.returncode != 0 and crd.DATADIR_IMMUTABLE in applied.stderr
    server_id = patch({"spec": {"baseServerId": 2000}})
    assert server_id.returncode != 0
    assert "spec.baseServerId: Forbidden: " + crd.BASE_SERVER_ID_IMMUTABLE in server_id.stderr

    scaled = patch({"spec": {"instances": 5, "router": {"instances": 2}, "mycnf": "[mysqld]\nmax_connections=500\n"}})
    assert scaled.returncode == 0, scaled.stderr
    spec = get(control_plane, ns, "ic", name)["spec"]
    assert (spec["instances"], spec["router"]["instances"], spec["baseServerId"]) == (5, 2, 1000)
    assert spec["datadirVolumeClaimTemplate"] == template


def test_added_template_is_rejected_too(control_plane: ControlPlane, ns: str) -> None:
    name = unique("notemplate")
    assert create(control_plane, cluster(name, ns)).returncode == 0
    result = run(control_plane, "patch", "ic", name, "-n", ns, "--type=merge", "-p",
                 json.dumps({"spec": {"datadirVolumeClaimTemplate": {"spec": {}}}}))
    assert result.returncode != 0 and crd.DATADIR_IMMUTABLE in result.stderr


def test_backup_is_accepted_shown_and_fixed_once_created(control_plane: ControlPlane, ns: str) -> None:
    name = unique("backup")
    result = create(control_plane, backup(name, ns, backupProfileName="dump"))
    assert result.returncode == 0, result.stderr
    assert get(control_plane, ns, "mbk", name)["spec"]["deleteBackupData"] is False
    table = kubectl(control_plane, "get", "mbk", name, "-n", ns).splitlines()
    assert table[0].split() == ["NAME", "CLUSTER", "STATUS", "OUTPUT", "AGE"]
    assert table[1].split()[:2] == [name, "mycluster"]

    moved = run(control_plane, "patch", "mbk", name, "-n", ns, "--type=merge", "-p",
                json.dumps({"spec": {"clusterName": "other"}}))
    assert moved.returncode != 0 and crd.BACKUP_SPEC_IMMUTABLE in moved.stderr
    keep = run(control_plane, "patch", "mbk", name, "-n", ns, "--type=merge", "-p",
               json.dumps({"spec": {"deleteBackupData": True}}))
    assert keep.returncode == 0, keep.stderr
    inline = create(control_plane, backup(unique("inline"), ns, backupProfile=PROFILE))
    assert inline.returncode == 0, inline.stderr


def test_status_is_a_typed_subresource(control_plane: ControlPlane, ns: str) -> None:
    name = unique("status")
    assert create(control_plane, cluster(name, ns)).returncode == 0
    status = {
        "observedGeneration": 1,
        "conditions": [{"type": "Ready", "status": "True", "reason": "AllMembersOnline", "observedGeneration": 1,
                        "message": "3 of 3 members online, 1 routers ready.",
                        "lastTransitionTime": "2025-01-01T00:00:00Z"}],
        "cluster": {"status": "ONLINE", "onlineInstances": 3, "instances": 3, "groupMode": "SinglePrimary",
                    "primary": f"{name}-0", "members": [{"name": f"{name}-0", "role": "PRIMARY", "state": "ONLINE",
                                                         "version": "9.7.0"}]},
        "router": {"instances": 1, "readyInstances": 1},
    }

    def patch_status(body: Any, *sub: str) -> subprocess.CompletedProcess[str]:
        return run(control_plane, "patch", "ic", name, "-n", ns, *sub, "--type=merge",
                   "-p", json.dumps({"status": body}))

    ok = patch_status(status, "--subresource=status")
    assert ok.returncode == 0, ok.stderr
    assert get(control_plane, ns, "ic", name)["status"] == status
    row = kubectl(control_plane, "get", "ic", name, "-n", ns, "-o", "wide").splitlines()[1].split()
    assert row[:5] == [name, "ONLINE", "3", "3", "1"] and row[-2:] == [f"{name}-0", "SinglePrimary"]

    bad_state = patch_status({"cluster": {"status": "BROKEN"}}, "--subresource=status")
    assert bad_state.returncode != 0
    assert 'status.cluster.status: Unsupported value: "BROKEN"' in bad_state.stderr
    bad_condition = patch_status({"conditions": [{"type": "Ready", "status": "Maybe"}]}, "--subresource=status")
    assert bad_condition.returncode != 0
    assert 'status.conditions[0].status: Unsupported value: "Maybe"' in bad_condition.stderr
    assert "status.conditions[0].reason: Required value" in bad_condition.stderr

    patch_status({"cluster": {"status": "OFFLINE"}})  # through the main resource: status is ignored
    assert get(control_plane, ns, "ic", name)["status"]["cluster"]["status"] == "ONLINE"
