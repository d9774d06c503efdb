"""Checks on custom resources that the CRD schema cannot express (pure: no I/O, no clock).

Contract:
  * ``validate_cluster(spec, secret=..., version=..., running=...)`` and ``validate_backup(spec,
    cluster_spec=...)`` take what the controller read (the raw ``spec``, the Secret object as
    the API returns it or None when it does not exist, the other object's spec) and return
    every problem found as a :class:`FieldError`; an empty list means valid. They never raise
    for input that passed the CRD schema, and tolerate input that did not.
  * A ``FieldError`` names the field (``spec.mycnf``), gives a CamelCase ``reason`` fit for a
    condition, and a ``message`` that says what is wrong and what to change.
  * No message ever contains a Secret value: only key names and the Secret's name.
  * ``mycnf`` is read as MySQL reads an option file (sections, ``-`` and ``_`` alike, the
    ``loose-``/``skip-``/``disable-``/``enable-`` prefixes); options the operator owns
    (:data:`OWNED_OPTIONS`) and options the target server no longer has
    (:data:`REMOVED_OPTIONS`) are rejected.
"""

from __future__ import annotations

import base64
import binascii
import configparser
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from innodb_api.types import DEFAULT_VERSION
from innodb_api.upgrades import version_step_problem

ROOT_PASSWORD_KEY = "rootPassword"
OPTIONAL_SECRET_KEYS = ("rootUser", "rootHost")
MIN_VERSION = (8, 4, 0)
"""Oldest MySQL the operator drives: it relies on SQL and variables of the 8.4 LTS series."""

_GR = "Group Replication requires it, and the operator sets it for every member"
OWNED_OPTIONS: dict[str, str] = {
    "server_id": "the operator gives each member baseServerId + its ordinal; one fixed value would give "
                 "every member the same id and break replication (use spec.baseServerId)",
    "gtid_mode": f"{_GR} (ON)",
    "enforce_gtid_consistency": f"{_GR} (ON)",
    "log_bin": f"{_GR} (the binary log is how members recover from each other)",
    "log_replica_updates": f"{_GR} (ON, so any member can be a recovery donor)",
    "log_slave_updates": f"{_GR} (ON, so any member can be a recovery donor); it is the old name of "
                         "log_replica_updates",
    "binlog_format": f"{_GR} (ROW)",
    "report_host": "the operator sets each member's stable DNS name; peers and MySQL Router reach it there",
    "report_port": "the operator sets the port peers and MySQL Router use to reach each member",
    "port": "Services, probes, peers and MySQL Router use the port the operator configures",
    "mysqlx_port": "Services and MySQL Router use the X Protocol port the operator configures",
    "admin_port": "the operator's own connections and probes use the administrative port it configures",
    "admin_address": "the operator's own connections and probes use the administrative interface it configures",
    "bind_address": "members must listen on the pod network for peers and MySQL Router",
    "mysqlx_bind_address": "MySQL Router must reach the X Protocol on the pod network",
    "skip_networking": "peers, MySQL Router and the operator connect over TCP",
    "datadir": "the data directory is the member's PersistentVolumeClaim; elsewhere data would be lost "
               "with the pod (use spec.datadirVolumeClaimTemplate)",
    "skip_replica_start": "the operator decides when a member starts replicating, after it joined the group",
    "skip_slave_start": "the operator decides when a member starts replicating; it is the old name of "
                        "skip_replica_start",
    "read_only": "Group Replication makes secondaries read-only and the primary writable (use spec.groupMode)",
    "super_read_only": "Group Replication makes secondaries read-only and the primary writable "
                       "(use spec.groupMode)",
}
OWNED_PREFIXES: dict[str, str] = {
    "group_replication_": "the operator configures Group Replication (group name, seeds, TLS, mode) and "
                          "changes it over SQL; a value here would conflict with it (use spec.groupMode "
                          "and spec.instances)",
}


@dataclass(frozen=True)
class RemovedOption:
    removed_in: tuple[int, int, int]
    instead: str
    """What to do instead: names the replacement, or says to delete the option."""


REMOVED_OPTIONS: dict[str, RemovedOption] = {
    "query_cache_type": RemovedOption((8, 0, 3), "delete it: the query cache no longer exists"),
    "query_cache_size": RemovedOption((8, 0, 3), "delete it: the query cache no longer exists"),
    "query_cache_limit": RemovedOption((8, 0, 3), "delete it: the query cache no longer exists"),
    "tx_isolation": RemovedOption((8, 0, 3), "use transaction_isolation"),
    "tx_read_only": RemovedOption((8, 0, 3), "use transaction_read_only"),
    "log_warnings": RemovedOption((8, 0, 3), "use log_error_verbosity"),
    "innodb_file_format": RemovedOption((8, 0, 0), "delete it: InnoDB always uses the current file format"),
    "innodb_large_prefix": RemovedOption((8, 0, 0), "delete it: large index prefixes are always enabled"),
    "expire_logs_days": RemovedOption((8, 2, 0), "use binlog_expire_logs_seconds (days * 86400)"),
    "master_info_repository": RemovedOption((8, 3, 0), "delete it: replication metadata is always kept in tables"),
    "relay_log_info_repository": RemovedOption((8, 3, 0),
                                               "delete it: replication metadata is always kept in tables"),
    "master_info_file": RemovedOption((8, 3, 0), "delete it: replication metadata is always kept in tables"),
    "relay_log_info_file": RemovedOption((8, 3, 0), "delete it: replication metadata is always kept in tables"),
    "transaction_write_set_extraction": RemovedOption((8, 3, 0), "delete it: write sets always use XXHASH64"),
    "log_bin_use_v1_row_events": RemovedOption((8, 3, 0), "delete it"),
    "slave_rows_search_algorithms": RemovedOption((8, 3, 0), "delete it: the applier always uses "
                                                             "INDEX_SCAN,HASH_SCAN"),
    "character_set_client_handshake": RemovedOption((8, 3, 0), "delete it"),
    "default_authentication_plugin": RemovedOption((8, 4, 0), "use authentication_policy"),
    "binlog_transaction_dependency_tracking": RemovedOption((8, 4, 0), "delete it: the server always tracks "
                                                                       "dependencies with write sets"),
    "avoid_temporal_upgrade": RemovedOption((8, 4, 0), "delete it"),
    "mysql_native_password": RemovedOption((9, 0, 0), "delete it: the mysql_native_password plugin no longer "
                                                      "exists; move accounts to caching_sha2_password"),
}

_BOOLEAN_PREFIXES = ("skip_", "disable_", "enable_")
_OPTION_NAME = re.compile(r"^[a-z0-9_.]+$")
_VERSION = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")
_CRON_FIELD = re.compile(r"^[0-9A-Za-z*?,/\-]+$")
_CRON_MACROS = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}


@dataclass(frozen=True)
class FieldError:
    """One problem with one field: where, a CamelCase reason, and what to change."""

    field: str
    reason: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


def summary(errors: Sequence[FieldError]) -> str:
    """All problems in one line (for a condition message or an Event)."""
    return "; ".join(str(e) for e in errors)


def parse_version(text: str) -> tuple[int, int, int] | None:
    """``"9.7.0"`` -> ``(9, 7, 0)``; None when it is not three dot-separated numbers."""
    match = _VERSION.match(text.strip())
    return (int(match[1]), int(match[2]), int(match[3])) if match else None


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _version_text(version: tuple[int, int, int]) -> str:
    return ".".join(str(part) for part in version)


# -- the Secret --------------------------------------------------------------------------------

def _secret_value(secret: Mapping[str, Any], key: str) -> bytes | None:
    """The decoded value of ``key``, None when absent; raises ValueError when not base64."""
    data = _mapping(secret.get("data"))
    if key in data:
        try:
            return base64.b64decode(str(data[key] or ""), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError(key) from exc
    string_data = _mapping(secret.get("stringData"))
    if key in string_data:
        return str(string_data[key] or "").encode()
    return None


def _check_secret(name: str, secret: Mapping[str, Any] | None) -> list[FieldError]:
    field = "spec.secretName"
    if not name:
        return [FieldError(field, "SecretNameMissing",
                           f"secretName is not set: set it to the name of a Secret with key {ROOT_PASSWORD_KEY}")]
    if secret is None:
        return [FieldError(field, "SecretNotFound",
                           f"Secret {name!r} does not exist in the cluster's namespace: create it with key "
                           f"{ROOT_PASSWORD_KEY} (e.g. kubectl create secret generic {name} "
                           f"--from-literal={ROOT_PASSWORD_KEY}=...), or point secretName at an existing one")]
    errors = []
    for key in (ROOT_PASSWORD_KEY, *OPTIONAL_SECRET_KEYS):
        try:
            value = _secret_value(secret, key)
        except ValueError:
            errors.append(FieldError(field, "SecretKeyInvalid",
                                     f"Secret {name!r}: key {key} is not valid base64; store the value again "
                                     f"(kubectl create secret generic ... --from-literal={key}=...)"))
            continue
        if value is None and key == ROOT_PASSWORD_KEY:
            errors.append(FieldError(field, "SecretKeyMissing",
                                     f"Secret {name!r} has no key {key}: add it with the root account's password"))
        elif value is not None and not value.strip():
            what = "the root account's password" if key == ROOT_PASSWORD_KEY else "a value, or remove the key"
            errors.append(FieldError(field, "SecretKeyEmpty",
                                     f"Secret {name!r}: key {key} is empty; set it to {what}"))
    return errors


# -- mycnf --------------------------------------------------------------------------------------

def _normalize(name: str) -> str:
    return name.strip().lower().replace("-", "_")


def _server_section(section: str, target: tuple[int, int, int]) -> bool:
    """Whether mysqld of version ``target`` reads ``[section]``."""
    section = section.strip().lower()
    return section in ("mysqld", "server") or section == f"mysqld-{target[0]}.{target[1]}"


def _owned_reason(name: str) -> tuple[str, str] | None:
    """``(owned option, why)`` when ``name`` (normalized, without loose_) sets an owned option."""
    candidates = [name] + [name.removeprefix(p) for p in _BOOLEAN_PREFIXES if name.startswith(p)]
    for candidate in candidates:
        if candidate in OWNED_OPTIONS:
            return candidate, OWNED_OPTIONS[candidate]
        for prefix, why in OWNED_PREFIXES.items():
            if candidate.startswith(prefix):
                return f"{prefix}*", why
    return None


def _removed(name: str) -> tuple[str, RemovedOption] | None:
    candidates = [name] + [name.removeprefix(p) for p in _BOOLEAN_PREFIXES if name.startswith(p)]
    for candidate in candidates:
        if candidate in REMOVED_OPTIONS:
            return candidate, REMOVED_OPTIONS[candidate]
    return None


def _parse_mycnf(text: str) -> tuple[configparser.RawConfigParser | None, list[FieldError]]:
    """Parse like mysqld: leading blanks ignored (no continuation lines), ``=`` only, ``#``/``;``
    comments. Lines that cannot be read are reported; the rest is still returned for checking."""
    field = "spec.mycnf"
    parser = configparser.RawConfigParser(
        allow_no_value=True, strict=True, delimiters=("=",), comment_prefixes=("#", ";"),
        inline_comment_prefixes=("#",), empty_lines_in_values=False, interpolation=None,
        default_section="\x00none",  # a literal [DEFAULT] is an ordinary section for mysqld
    )
    parser.optionxform = _normalize  # type: ignore[assignment,method-assign]
    try:
        parser.read_string("\n".join(line.lstrip() for line in text.splitlines()), source="mycnf")
    except configparser.MissingSectionHeaderError as exc:
        return None, [FieldError(field, "InvalidMycnf",
                                 f"line {exc.lineno} is outside any section: start mycnf with a section header "
                                 f"such as [mysqld] and put the options under it")]
    except configparser.DuplicateSectionError as exc:
        return None, [FieldError(field, "InvalidMycnf",
                                 f"section [{exc.section}] appears twice (line {exc.lineno}): merge the two "
                                 f"into one")]
    except configparser.DuplicateOptionError as exc:
        return None, [FieldError(field, "InvalidMycnf",
                                 f"option {exc.option} is set twice in [{exc.section}] (line {exc.lineno}; '-' "
                                 f"and '_' are the same to mysqld): keep one of them")]
    except configparser.ParsingError as exc:  # raised after the whole text was read
        lines = ", ".join(str(lineno) for lineno, _ in exc.errors)
        return parser, [FieldError(field, "InvalidMycnf",
                                   f"line {lines} cannot be read as an option: write one option per line as "
                                   f"name=value (or a bare name) under a [section]")]
    except configparser.Error as exc:
        return None, [FieldError(field, "InvalidMycnf",
                                 f"mycnf is not a valid option file ({type(exc).__name__}): write one option "
                                 f"per line as name=value under a [section]")]
    return parser, []


def _subject(written: str, option: str, section: str) -> str:
    return f"{written} in [{section}]" + (f" (that is {option})" if written != option else "")


def _check_mycnf(text: str, target: tuple[int, int, int]) -> list[FieldError]:
    field = "spec.mycnf"
    parser, errors = _parse_mycnf(text)
    if parser is None:
        return errors
    for section in parser.sections():
        for raw_name in parser[section]:
            if not raw_name:
                continue  # an unreadable line, already reported
            if raw_name.startswith("!"):
                errors.append(FieldError(field, "InvalidMycnf",
                                         f"{raw_name.split()[0]} is not supported: the files it names are not in "
                                         f"the pod; put the options into mycnf itself"))
                continue
            if not _OPTION_NAME.match(raw_name):
                errors.append(FieldError(field, "InvalidMycnf",
                                         f"{raw_name!r} in [{section}] is not an option name: write name=value, "
                                         f"one per line"))
                continue
            if not _server_section(section, target):
                continue
            loose = raw_name.startswith("loose_")
            name = raw_name.removeprefix("loose_")
            owned = _owned_reason(name)
            if owned is not None:
                option, why = owned
                errors.append(FieldError(field, "MycnfOwnedOption",
                                         f"{_subject(raw_name, option, section)} is owned by the operator: "
                                         f"{why}. Remove it from mycnf"))
                continue
            removed = _removed(name)
            if removed is not None and not loose and target >= removed[1].removed_in:
                option, info = removed
                errors.append(FieldError(field, "MycnfRemovedOption",
                                         f"{_subject(raw_name, option, section)} was removed in MySQL "
                                         f"{_version_text(info.removed_in)}, and MySQL {_version_text(target)} "
                                         f"refuses to start with it; {info.instead}"))
    return errors


# -- backups ------------------------------------------------------------------------------------

def _check_schedule(expression: str) -> str | None:
    """Why ``expression`` is not a cron schedule Kubernetes accepts, or None."""
    text = expression.strip()
    if text.startswith(("TZ=", "CRON_TZ=")):
        return "time zones go in timeZone, not in the schedule"
    if text in _CRON_MACROS:
        return None
    fields = text.split()
    if len(fields) != 5 or not all(_CRON_FIELD.match(f) for f in fields):
        return "it needs five fields: minute hour day-of-month month day-of-week, e.g. \"0 3 * * *\""
    return None


def _items(value: Any) -> list[tuple[int, Mapping[str, Any]]]:
    """``(index, item)`` for the mapping items of a list (anything else yields nothing)."""
    if not isinstance(value, Sequence) or isinstance(value, str):
        return []
    return [(i, item) for i, item in enumerate(value) if isinstance(item, Mapping)]


def _check_backups(spec: Mapping[str, Any]) -> list[FieldError]:
    errors = []
    profiles = _items(spec.get("backupProfiles"))
    seen: set[str] = set()
    for i, profile in profiles:
        name = str(profile.get("name") or "")
        if name in seen:
            errors.append(FieldError(f"spec.backupProfiles[{i}].name", "DuplicateBackupProfile",
                                     f"backup profile {name!r} is defined twice: rename or remove one"))
        seen.add(name)
    schedule_names: set[str] = set()
    for i, schedule in _items(spec.get("backupSchedules")):
        name = str(schedule.get("name") or "")
        if name in schedule_names:
            errors.append(FieldError(f"spec.backupSchedules[{i}].name", "DuplicateBackupSchedule",
                                     f"backup schedule {name!r} is defined twice: rename or remove one"))
        schedule_names.add(name)
        profile_name = str(schedule.get("backupProfileName") or "")
        if profile_name not in seen:
            known = ", ".join(sorted(seen)) or "none are defined"
            errors.append(FieldError(f"spec.backupSchedules[{i}].backupProfileName", "UnknownBackupProfile",
                                     f"schedule {name!r} names backup profile {profile_name!r}, which is not in "
                                     f"spec.backupProfiles ({known}): add that profile or use an existing name"))
        problem = _check_schedule(str(schedule.get("schedule") or ""))
        if problem:
            errors.append(FieldError(f"spec.backupSchedules[{i}].schedule", "InvalidSchedule",
                                     f"schedule {name!r}: {schedule.get('schedule')!r} is not a cron schedule; "
                                     f"{problem}"))
    return errors


# -- entry points -------------------------------------------------------------------------------

def validate_cluster(spec: Mapping[str, Any], *, secret: Mapping[str, Any] | None,
                     version: str | None = None, running: Iterable[str] = ()) -> list[FieldError]:
    """Problems with an ``InnoDBCluster`` spec the schema cannot see.

    ``secret`` is the Secret named by ``spec.secretName`` as read from the API (None: not
    found). ``version`` is the MySQL version ``mycnf`` must suit; default: ``spec.version``.
    ``running``: the versions the members run (``status.cluster.members[].version``); a change
    of ``spec.version`` from them must be an upgrade MySQL supports (:mod:`innodb_api.upgrades`).
    """
    errors: list[FieldError] = []
    spec_version = str(spec.get("version") or DEFAULT_VERSION)
    target = parse_version(version or spec_version)
    for path, text in (("spec.version", spec_version), ("spec.router.version",
                                                        str(_mapping(spec.get("router")).get("version") or ""))):
        parsed = parse_version(text) if text else None
        if text and (parsed is None or parsed < MIN_VERSION):
            errors.append(FieldError(path, "UnsupportedVersion",
                                     f"version {text!r} is not supported: use {_version_text(MIN_VERSION)} or "
                                     f"later, e.g. {DEFAULT_VERSION}"))
    if target is not None and target >= MIN_VERSION:
        # As the server reports it: "9.7.4", "9.7.4-log", Debian's "9.7.4-2".
        known = [v for v in (parse_version(str(r).split("-", 1)[0]) for r in running) if v is not None]
        problem = version_step_problem(target, known)
        if problem:
            errors.append(FieldError("spec.version", "UnsupportedVersionChange", problem))
    errors += _check_secret(str(spec.get("secretName") or ""), secret)
    mycnf = spec.get("mycnf")
    if mycnf:
        errors += _check_mycnf(str(mycnf), target or parse_version(DEFAULT_VERSION) or MIN_VERSION)
    errors += _check_backups(spec)
    return errors


def validate_backup(spec: Mapping[str, Any], *, cluster_spec: Mapping[str, Any] | None) -> list[FieldError]:
    """Problems with a ``MySQLBackup`` spec: the cluster exists and has the named profile.

    ``cluster_spec`` is the spec of the ``InnoDBCluster`` named by ``spec.clusterName``
    (None: not found).
    """
    cluster_name = str(spec.get("clusterName") or "")
    if cluster_spec is None:
        return [FieldError("spec.clusterName", "ClusterNotFound",
                           f"InnoDBCluster {cluster_name!r} does not exist in this namespace: set clusterName to "
                           f"an existing cluster (kubectl get ic)")]
    has_name, has_inline = "backupProfileName" in spec, "backupProfile" in spec
    if has_name == has_inline:
        return [FieldError("spec", "InvalidBackupProfile",
                           "set exactly one of backupProfileName (a profile of the cluster) or backupProfile "
                           "(an inline profile)")]
    if has_name:
        wanted = str(spec.get("backupProfileName") or "")
        known = sorted(str(p.get("name")) for _, p in _items(cluster_spec.get("backupProfiles")))
        if wanted not in known:
            listed = ", ".join(known) or "it defines none"
            return [FieldError("spec.backupProfileName", "UnknownBackupProfile",
                               f"InnoDBCluster {cluster_name!r} has no backup profile {wanted!r} ({listed}): "
                               f"use one of its profiles, add it to the cluster's spec.backupProfiles, or give "
                               f"the profile inline as backupProfile")]
    return []
