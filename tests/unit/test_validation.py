"""What the operator rejects beyond the CRD schema: each problem names the field and the fix."""

from __future__ import annotations

import base64
import dataclasses
from dataclasses import FrozenInstanceError, dataclass
from typing import Any

import pytest

from innodb_api.validation import (
    OWNED_OPTIONS,
    REMOVED_OPTIONS,
    FieldError,
    summary,
    validate_backup,
    validate_cluster,
)

PASSWORD = "s3cr3t-Pa55word"


def b64(value: str) -> str:
    return base64.b64encode(value.encode()).decode()


def secret(**values: str) -> dict[str, Any]:
    """A Secret as the API returns it (values base64-encoded under ``data``)."""
    data = values or {"rootUser": "root", "rootHost": "%", "rootPassword": PASSWORD}
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": "mycluster-secret", "namespace": "mysql-cluster"},
            "data": {k: b64(v) for k, v in data.items()}}


def journey_spec(**overrides: Any) -> dict[str, Any]:
    """The spec the journey's Helm values produce."""
    spec: dict[str, Any] = {
        "secretName": "mycluster-secret", "instances": 3, "router": {"instances": 1}, "version": "9.7.0",
        "tlsUseSelfSigned": True, "mycnf": "[mysqld]\nmax_connections=300\n", "groupMode": "SinglePrimary",
        "backupProfiles": [{"name": "dump", "dumpInstance": {
            "dumpOptions": {"excludeTables": ["employees.salaries"]},
            "storage": {"persistentVolumeClaim": {"claimName": "backups"}}}}],
        "backupSchedules": [{"name": "nightly", "schedule": "0 3 * * *", "backupProfileName": "dump",
                             "enabled": True}],
    }
    spec.update(overrides)
    return spec


@dataclass(frozen=True)
class Invalid:
    """One invalid input: what goes wrong, where, and a phrase of the fix the message must contain."""

    spec: dict[str, Any]
    field: str
    reason: str
    fix: str
    secret: dict[str, Any] | None = dataclasses.field(default_factory=secret)
    version: str | None = None


def mycnf(text: str) -> dict[str, Any]:
    return journey_spec(mycnf=text)


INVALID: dict[str, Invalid] = {
    "secretName not set": Invalid(
        {"mycnf": ""}, "spec.secretName", "SecretNameMissing", "set it to the name of a Secret", secret=None),
    "secret does not exist": Invalid(
        journey_spec(), "spec.secretName", "SecretNotFound", "kubectl create secret generic mycluster-secret",
        secret=None),
    "secret without rootPassword": Invalid(
        journey_spec(), "spec.secretName", "SecretKeyMissing", "add it", secret=secret(rootUser="root")),
    "secret with an empty rootPassword": Invalid(
        journey_spec(), "spec.secretName", "SecretKeyEmpty", "set it to the root account's password",
        secret=secret(rootPassword="")),
    "secret with an empty rootUser": Invalid(
        journey_spec(), "spec.secretName", "SecretKeyEmpty", "remove the key",
        secret=secret(rootPassword=PASSWORD, rootUser=" ")),
    "secret data that is not base64": Invalid(
        journey_spec(), "spec.secretName", "SecretKeyInvalid", "store the value again",
        secret={"data": {"rootPassword": "%%%not-base64%%%"}}),
    "mycnf option outside a section": Invalid(
        mycnf("max_connections=300\n"), "spec.mycnf", "InvalidMycnf", "[mysqld]"),
    "mycnf option set twice with - and _": Invalid(
        mycnf("[mysqld]\nmax-connections=300\nmax_connections=400\n"), "spec.mycnf", "InvalidMycnf",
        "keep one of them"),
    "mycnf section given twice": Invalid(
        mycnf("[mysqld]\nmax_connections=300\n[mysqld]\nwait_timeout=60\n"), "spec.mycnf", "InvalidMycnf",
        "merge the two"),
    "mycnf line that is not name=value": Invalid(
        mycnf("[mysqld]\n=300\n"), "spec.mycnf", "InvalidMycnf", "name=value"),
    "mycnf !include": Invalid(
        mycnf("[mysqld]\n!includedir /etc/mysql/conf.d\n"), "spec.mycnf", "InvalidMycnf",
        "put the options into mycnf itself"),
    "mycnf sets server-id": Invalid(
        mycnf("[mysqld]\nserver-id=7\n"), "spec.mycnf", "MycnfOwnedOption", "spec.baseServerId"),
    "mycnf sets gtid_mode": Invalid(
        mycnf("[mysqld]\ngtid_mode=OFF\n"), "spec.mycnf", "MycnfOwnedOption", "Remove it from mycnf"),
    "mycnf turns the binary log off with skip-log-bin": Invalid(
        mycnf("[mysqld]\nskip-log-bin\n"), "spec.mycnf", "MycnfOwnedOption", "Remove it from mycnf"),
    "mycnf sets a loose group_replication option": Invalid(
        mycnf("[mysqld]\nloose-group-replication-single-primary-mode=OFF\n"), "spec.mycnf", "MycnfOwnedOption",
        "spec.groupMode"),
    "mycnf sets super_read_only under [server]": Invalid(
        mycnf("[server]\nsuper_read_only=OFF\n"), "spec.mycnf", "MycnfOwnedOption", "spec.groupMode"),
    "mycnf sets datadir in an indented line": Invalid(
        mycnf("[mysqld]\nmax_connections=300\n    datadir=/tmp/data\n"), "spec.mycnf", "MycnfOwnedOption",
        "spec.datadirVolumeClaimTemplate"),
    "mycnf sets default_authentication_plugin on 9.7": Invalid(
        mycnf("[mysqld]\ndefault_authentication_plugin=caching_sha2_password\n"), "spec.mycnf",
        "MycnfRemovedOption", "use authentication_policy"),
    "mycnf sets expire_logs_days": Invalid(
        mycnf("[mysqld]\nexpire_logs_days=7\n"), "spec.mycnf", "MycnfRemovedOption", "binlog_expire_logs_seconds"),
    "mycnf sets master_info_repository for 8.4": Invalid(
        mycnf("[mysqld]\nmaster-info-repository=TABLE\n"), "spec.mycnf", "MycnfRemovedOption", "delete it",
        version="8.4.3"),
    "mycnf enables mysql_native_password on 9.x": Invalid(
        mycnf("[mysqld]\nmysql-native-password=ON\n"), "spec.mycnf", "MycnfRemovedOption", "caching_sha2_password"),
    "mycnf removed option in the target's version section": Invalid(
        mycnf("[mysqld-9.7]\ntx_isolation=READ-COMMITTED\n"), "spec.mycnf", "MycnfRemovedOption",
        "use transaction_isolation"),
    "schedule names a missing profile": Invalid(
        journey_spec(backupSchedules=[{"name": "nightly", "schedule": "0 3 * * *", "backupProfileName": "nope"}]),
        "spec.backupSchedules[0].backupProfileName", "UnknownBackupProfile", "add that profile"),
    "two profiles with one name": Invalid(
        journey_spec(backupProfiles=[journey_spec()["backupProfiles"][0]] * 2),
        "spec.backupProfiles[1].name", "DuplicateBackupProfile", "rename or remove one"),
    "two schedules with one name": Invalid(
        journey_spec(backupSchedules=[journey_spec()["backupSchedules"][0]] * 2),
        "spec.backupSchedules[1].name", "DuplicateBackupSchedule", "rename or remove one"),
    "schedule that is not cron": Invalid(
        journey_spec(backupSchedules=[{"name": "nightly", "schedule": "every night", "backupProfileName": "dump"}]),
        "spec.backupSchedules[0].schedule", "InvalidSchedule", "five fields"),
    "schedule with a time zone prefix": Invalid(
        journey_spec(backupSchedules=[{"name": "nightly", "schedule": "TZ=UTC 0 3 * * *",
                                       "backupProfileName": "dump"}]),
        "spec.backupSchedules[0].schedule", "InvalidSchedule", "timeZone"),
    "MySQL 8.0 is too old": Invalid(
        journey_spec(version="8.0.36"), "spec.version", "UnsupportedVersion", "8.4.0 or later"),
    "router version too old": Invalid(
        journey_spec(router={"instances": 1, "version": "8.0.36"}), "spec.router.version", "UnsupportedVersion",
        "8.4.0 or later"),
}


@pytest.mark.parametrize("scenario", list(INVALID), ids=list(INVALID))
def test_invalid_cluster_is_reported_on_the_field_with_the_fix(scenario: str) -> None:
    case = INVALID[scenario]
    errors = validate_cluster(case.spec, secret=case.secret, version=case.version)
    assert len(errors) == 1, errors
    error = errors[0]
    assert (error.field, error.reason) == (case.field, case.reason)
    assert case.fix in error.message, error.message
    assert str(error) == f"{case.field}: {error.message}"


def test_at_least_fifteen_distinct_invalid_inputs_are_covered() -> None:
    assert len({repr(c) for c in INVALID.values()}) >= 15


@pytest.mark.parametrize("spec", [
    pytest.param(journey_spec(), id="the journey's values"),
    pytest.param({"secretName": "mycluster-secret"}, id="only the required field"),
    pytest.param(mycnf(""), id="empty mycnf"),
    pytest.param(mycnf("# tuning\n[mysqld]\nmax_connections = 300 # inline comment\n; comment\n"
                       "innodb-buffer-pool-size=1G\nskip-name-resolve\nloose-default-authentication-plugin=x\n"
                       "performance_schema\n[client]\nport=3307\n[mysqld-8.0]\nquery_cache_size=0\n"),
                 id="comments, bare and loose options, other sections"),
    pytest.param(mycnf("[mysqld]\nbinlog_expire_logs_seconds=86400\nauthentication_policy=caching_sha2_password\n"),
                 id="the replacements of removed options"),
    pytest.param(journey_spec(backupSchedules=[{"name": "h", "schedule": "@hourly", "backupProfileName": "dump"},
                                               {"name": "w", "schedule": "*/15 1-5 * JAN mon-fri",
                                                "backupProfileName": "dump"}]), id="cron macros and ranges"),
    pytest.param(journey_spec(version="8.4.3", mycnf="[mysqld]\nmysql_native_password=ON\n"),
                 id="mysql_native_password still exists in 8.4"),
])
def test_valid_cluster_has_no_errors(spec: dict[str, Any]) -> None:
    assert validate_cluster(spec, secret=secret()) == []


def test_secret_from_stringdata_and_without_optional_keys_is_accepted() -> None:
    assert validate_cluster(journey_spec(), secret={"stringData": {"rootPassword": PASSWORD}}) == []
    assert validate_cluster(journey_spec(), secret=secret(rootPassword=PASSWORD)) == []


def test_version_argument_overrides_the_spec_version_for_mycnf() -> None:
    spec = mycnf("[mysqld]\ndefault_authentication_plugin=caching_sha2_password\n")
    assert validate_cluster({**spec, "version": "8.4.3"}, secret=secret(), version="8.4.3") != []
    [error] = validate_cluster(spec, secret=secret(), version="9.7.0")
    assert "MySQL 8.4.0" in error.message and "MySQL 9.7.0" in error.message


def test_every_problem_is_reported_not_only_the_first() -> None:
    spec = journey_spec(mycnf="[mysqld]\nserver_id=1\nport=3307\nexpire_logs_days=1\n", backupSchedules=[
        {"name": "n", "schedule": "0 3 * * *", "backupProfileName": "nope"}])
    errors = validate_cluster(spec, secret=None)
    assert [e.reason for e in errors] == ["SecretNotFound", "MycnfOwnedOption", "MycnfOwnedOption",
                                          "MycnfRemovedOption", "UnknownBackupProfile"]
    assert summary(errors) == "; ".join(f"{e.field}: {e.message}" for e in errors)


def test_no_secret_value_appears_in_any_message() -> None:
    values = {"rootPassword": PASSWORD, "rootUser": "dba-account-name", "rootHost": "10.1.2.%"}
    encoded = [b64(v) for v in values.values()]
    broken_specs = [spec for case in INVALID.values() for spec in [case.spec]]
    secrets = [secret(**values), secret(rootPassword=PASSWORD, rootUser=""),
               {"data": {"rootPassword": PASSWORD}},  # a raw value where base64 is expected
               {"data": {"rootUser": b64(values["rootUser"])}}, {"stringData": values}, None]
    messages = [str(e) + repr(e) for spec in broken_specs for s in secrets for e in validate_cluster(spec, secret=s)]
    assert messages
    for value in [*values.values(), *encoded]:
        assert not any(value in m for m in messages), value


@pytest.mark.parametrize("spec", [
    {},
    {"secretName": 7, "version": "nine", "router": "r", "mycnf": 5, "backupProfiles": "p",
     "backupSchedules": [1, {"name": 2, "schedule": None}]},
], ids=["empty", "wrong types everywhere"])
def test_input_the_schema_would_reject_is_reported_not_raised(spec: dict[str, Any]) -> None:
    errors = validate_cluster(spec, secret={"data": "not a map"})
    assert errors and all(e.field.startswith("spec.") for e in errors)


def test_field_error_is_immutable() -> None:
    error = FieldError("spec.mycnf", "InvalidMycnf", "fix it")
    with pytest.raises(FrozenInstanceError):
        error.field = "spec.other"  # type: ignore[misc]


def test_owned_and_removed_option_lists_do_not_overlap_and_explain_themselves() -> None:
    assert not set(OWNED_OPTIONS) & set(REMOVED_OPTIONS)
    assert all(why.strip() for why in OWNED_OPTIONS.values())
    assert all(info.instead.startswith(("use ", "delete it")) for info in REMOVED_OPTIONS.values())


def test_frozen_cache_objects_are_accepted() -> None:
    """The controller passes objects from its read-only cache: mappings and tuples work too."""
    from types import MappingProxyType

    spec = journey_spec()
    frozen = MappingProxyType({**spec, "backupSchedules": tuple(spec["backupSchedules"]),
                               "backupProfiles": tuple(spec["backupProfiles"])})
    assert validate_cluster(frozen, secret=MappingProxyType(secret())) == []


# -- MySQLBackup ------------------------------------------------------------------------------------

BACKUP_INVALID = {
    "cluster does not exist": ({"clusterName": "nope", "backupProfileName": "dump"}, None,
                               "spec.clusterName", "ClusterNotFound", "kubectl get ic"),
    "profile not in the cluster": ({"clusterName": "mycluster", "backupProfileName": "weekly"}, journey_spec(),
                                   "spec.backupProfileName", "UnknownBackupProfile", "(dump)"),
    "cluster without profiles": ({"clusterName": "mycluster", "backupProfileName": "dump"},
                                 {"secretName": "s"}, "spec.backupProfileName", "UnknownBackupProfile",
                                 "backupProfile"),
    "neither name nor inline profile": ({"clusterName": "mycluster"}, journey_spec(), "spec",
                                        "InvalidBackupProfile", "exactly one"),
}


@pytest.mark.parametrize("scenario", list(BACKUP_INVALID), ids=list(BACKUP_INVALID))
def test_invalid_backup_is_reported_on_the_field_with_the_fix(scenario: str) -> None:
    spec, cluster_spec, field_path, reason, fix = BACKUP_INVALID[scenario]
    [error] = validate_backup(spec, cluster_spec=cluster_spec)
    assert (error.field, error.reason) == (field_path, reason)
    assert fix in error.message, error.message


@pytest.mark.parametrize("spec", [
    {"clusterName": "mycluster", "backupProfileName": "dump"},
    {"clusterName": "mycluster", "backupProfile": {"dumpInstance": {
        "storage": {"persistentVolumeClaim": {"claimName": "backups"}}}}},
], ids=["named profile", "inline profile"])
def test_valid_backup_has_no_errors(spec: dict[str, Any]) -> None:
    assert validate_backup(spec, cluster_spec=journey_spec()) == []


def test_a_version_change_is_checked_against_the_versions_the_members_run() -> None:
    [error] = validate_cluster(journey_spec(version="9.7.3"), secret=secret(), running=["9.7.4", "9.7.4-2"])
    assert (error.field, error.reason) == ("spec.version", "UnsupportedVersionChange")
    assert validate_cluster(journey_spec(version="9.7.5"), secret=secret(), running=["9.7.4-log"]) == []
    assert validate_cluster(journey_spec(version="9.7.3"), secret=secret(), running=["9.7.4-2"]) != []
    assert validate_cluster(journey_spec(version="9.7.4"), secret=secret(), running=["garbage"]) == []
