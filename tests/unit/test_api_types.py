"""The typed views read every field the CRD schema defines, with the same defaults."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from innodb_api import crd
from innodb_api.schema import walk
from innodb_api.types import BackupSpec, Cluster, ClusterSpec

FULL_SPEC: dict[str, Any] = {
    "instances": 5,
    "router": {"instances": 2, "version": "9.6.0", "podSpec": {"nodeSelector": {"disk": "ssd"}},
               "podLabels": {"team": "db"}, "podAnnotations": {"note": "r"}},
    "secretName": "mycluster-secret",
    "version": "9.6.0",
    "imageRepository": "registry.example/mysql",
    "imagePullPolicy": "Always",
    "imagePullSecrets": [{"name": "regcred"}],
    "serviceAccountName": "mysql-sa",
    "baseServerId": 2000,
    "tlsUseSelfSigned": True,
    "mycnf": "[mysqld]\nmax_connections=300\n",
    "groupMode": "MultiPrimary",
    "podSpec": {"terminationGracePeriodSeconds": 60},
    "podLabels": {"team": "db"},
    "podAnnotations": {"note": "s"},
    "datadirVolumeClaimTemplate": {"resources": {"requests": {"storage": "10Gi"}}},
    "service": {"type": "LoadBalancer", "annotations": {"lb": "internal"}},
    "backupProfiles": [{"name": "dump", "dumpInstance": {
        "dumpOptions": {"excludeTables": ["employees.salaries"]},
        "storage": {"persistentVolumeClaim": {"claimName": "backups"}}}}],
    "backupSchedules": [{"name": "nightly", "schedule": "0 3 * * *", "backupProfileName": "dump", "enabled": False,
                         "timeZone": "Europe/Berlin", "deleteBackupData": True}],
    "initDB": {
        "dump": {"path": "mycluster-20250101", "storage": {"persistentVolumeClaim": {"claimName": "old-backups"}}},
        "clone": {"donorUrl": "root@donor:3306", "rootUser": "admin", "secretKeyRef": {"name": "donor-secret"}},
    },
    "metrics": {"enable": True, "webPort": 9200, "image": "registry.example/mysqld-exporter:v0.17.2"},
}

FREE_FORM = {"podSpec", "podLabels", "podAnnotations", "datadirVolumeClaimTemplate", "annotations", "dumpOptions"}


def paths(value: Any, prefix: str = "spec") -> set[str]:
    """Every field path in a JSON value, list items as ``[]``, not descending into free-form fields."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            path = f"{prefix}.{key}"
            found.add(path)
            if key not in FREE_FORM:
                found |= paths(item, path)
    elif isinstance(value, list):
        for item in value:
            found |= paths(item, f"{prefix}[]")
    return found


def spec_schema(kind: str = "InnoDBCluster") -> dict[str, Any]:
    [c] = [c for c in crd.all_crds() if c["spec"]["names"]["kind"] == kind]
    schema: dict[str, Any] = c["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    return schema


def test_full_example_covers_every_schema_field() -> None:
    """Keeps FULL_SPEC honest: a new schema field must be added here, and so to the typed view."""
    assert paths(FULL_SPEC) == {p for p, _ in walk(spec_schema(), "spec")}


def test_every_field_of_the_full_example_is_parsed() -> None:
    spec = ClusterSpec.from_dict(FULL_SPEC)
    assert (spec.instances, spec.secret_name, spec.version) == (5, "mycluster-secret", "9.6.0")
    assert spec.router.instances == 2 and spec.router_version == "9.6.0"
    assert spec.router.pod_spec == {"nodeSelector": {"disk": "ssd"}}
    assert (spec.router.pod_labels, spec.router.pod_annotations) == ({"team": "db"}, {"note": "r"})
    assert spec.server_image == "registry.example/mysql/community-server:9.6.0"
    assert spec.router_image == "registry.example/mysql/community-router:9.6.0"
    assert (spec.image_pull_policy, spec.image_pull_secrets, spec.service_account_name) == (
        "Always", ("regcred",), "mysql-sa")
    assert (spec.base_server_id, spec.tls_use_self_signed, spec.group_mode) == (2000, True, "MultiPrimary")
    assert spec.mycnf == "[mysqld]\nmax_connections=300\n"
    assert spec.pod_spec == {"terminationGracePeriodSeconds": 60}
    assert (spec.pod_labels, spec.pod_annotations) == ({"team": "db"}, {"note": "s"})
    assert spec.datadir_volume_claim_template == {"resources": {"requests": {"storage": "10Gi"}}}
    assert (spec.service.type, spec.service.annotations) == ("LoadBalancer", {"lb": "internal"})
    [profile] = spec.backup_profiles
    assert (profile.name, profile.claim_name) == ("dump", "backups")
    assert profile.dump_options == {"excludeTables": ["employees.salaries"]}
    [schedule] = spec.backup_schedules
    assert (schedule.name, schedule.schedule, schedule.backup_profile_name, schedule.enabled, schedule.time_zone,
            schedule.delete_backup_data) == ("nightly", "0 3 * * *", "dump", False, "Europe/Berlin", True)
    assert spec.init_db is not None
    assert (spec.init_db.dump_path, spec.init_db.dump_claim_name) == ("mycluster-20250101", "old-backups")
    assert (spec.init_db.clone_donor_url, spec.init_db.clone_root_user, spec.init_db.clone_secret_name) == (
        "root@donor:3306", "admin", "donor-secret")
    assert (spec.metrics.enable, spec.metrics.web_port, spec.metrics.image) == (
        True, 9200, "registry.example/mysqld-exporter:v0.17.2")


DEFAULTED: dict[str, Callable[[ClusterSpec], Any]] = {
    "spec.instances": lambda s: s.instances,
    "spec.router.instances": lambda s: s.router.instances,
    "spec.version": lambda s: s.version,
    "spec.imageRepository": lambda s: s.image_repository,
    "spec.imagePullPolicy": lambda s: s.image_pull_policy,
    "spec.baseServerId": lambda s: s.base_server_id,
    "spec.tlsUseSelfSigned": lambda s: s.tls_use_self_signed,
    "spec.groupMode": lambda s: s.group_mode,
    "spec.service.type": lambda s: s.service.type,
    "spec.metrics.enable": lambda s: s.metrics.enable,
    "spec.metrics.webPort": lambda s: s.metrics.web_port,
    "spec.metrics.image": lambda s: s.metrics.image,
}


def test_schema_defaults_equal_the_typed_defaults() -> None:
    """An object the API server defaulted and one it did not parse to the same spec."""
    schema_defaults = {p: n["default"] for p, n in walk(spec_schema(), "spec")
                       if "default" in n and n["type"] != "object" and "[]" not in p and "initDB" not in p}
    assert set(schema_defaults) == set(DEFAULTED)
    bare = ClusterSpec.from_dict({"secretName": "s"})
    for path, default in schema_defaults.items():
        assert DEFAULTED[path](bare) == default, path


def test_list_item_and_init_defaults_equal_the_typed_defaults() -> None:
    items = {p: n["default"] for p, n in walk(spec_schema(), "spec") if "default" in n and ("[]" in p or "initDB" in p)}
    assert items == {"spec.backupSchedules[].enabled": True, "spec.backupSchedules[].deleteBackupData": False,
                     "spec.initDB.clone.rootUser": "root"}
    schedule = ClusterSpec.from_dict({"secretName": "s", "backupSchedules": [
        {"name": "n", "schedule": "@daily", "backupProfileName": "p"}]}).backup_schedules[0]
    assert (schedule.enabled, schedule.delete_backup_data) == (True, False)
    init = ClusterSpec.from_dict({"secretName": "s", "initDB": {"clone": {"donorUrl": "d:3306"}}}).init_db
    assert init is not None and init.clone_root_user == "root"


def test_cluster_from_object_reads_metadata_and_spec() -> None:
    cluster = Cluster.from_object({"metadata": {"name": "mycluster", "namespace": "ns", "uid": "u1",
                                                "generation": 4}, "spec": FULL_SPEC})
    assert (cluster.name, cluster.namespace, cluster.uid, cluster.generation) == ("mycluster", "ns", "u1", 4)
    assert cluster.spec == ClusterSpec.from_dict(FULL_SPEC)


@pytest.mark.parametrize(("raw", "name", "inline_claim"), [
    ({"clusterName": "mycluster", "backupProfileName": "dump"}, "dump", None),
    ({"clusterName": "mycluster", "backupProfile": {"dumpInstance": {
        "storage": {"persistentVolumeClaim": {"claimName": "adhoc"}}}}}, None, "adhoc"),
], ids=["named", "inline"])
def test_backup_spec_reads_named_or_inline_profile(raw: dict[str, Any], name: str | None,
                                                   inline_claim: str | None) -> None:
    spec = BackupSpec.from_dict(raw)
    assert spec.cluster_name == "mycluster"
    assert spec.backup_profile_name == name
    assert (spec.backup_profile.claim_name if spec.backup_profile else None) == inline_claim
    assert spec.delete_backup_data is False


def test_backup_schema_fields_are_the_ones_parsed() -> None:
    fields = {p for p, _ in walk(spec_schema("MySQLBackup"), "spec")}
    assert {f for f in fields if f.count(".") == 1} == {
        "spec.clusterName", "spec.backupProfileName", "spec.backupProfile", "spec.deleteBackupData"}
