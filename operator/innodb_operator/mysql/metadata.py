"""The InnoDB Cluster metadata schema that stock MySQL Router reads, made and kept current with SQL.

There is no MySQL Shell: the operator itself owns ``mysql_innodb_cluster_metadata``, so that
``mysqlrouter --bootstrap`` succeeds against the group and Router's metadata cache routes
read-write to the primary, read-only to the secondaries, and follows a failover.
See ``docs/router-metadata.md`` for what Router reads and why each object exists.

Contract:

* :func:`ensure_metadata` (on the PRIMARY; everything replicates through the group) makes
  the schema exist (:func:`ensure_schema`) and makes its contents describe exactly one
  cluster: the given one, with exactly the given members. Missing instances are inserted,
  instances no longer listed are deleted, changed addresses, labels or roles are updated,
  and rows of any other cluster are deleted. It returns whether it wrote anything.
* It compares before it writes. A second call with the same input executes only
  ``SELECT`` statements: no DDL, no transaction, no GTID (``CREATE ... IF NOT EXISTS`` and
  ``CREATE OR REPLACE VIEW`` are written to the binary log even when they change nothing,
  so they run only for objects that are missing or whose definition changed).
* Row changes are applied in ONE transaction, so Router never reads half an update.
* Router's own rows (``routers``: registrations made by ``mysqlrouter --bootstrap``, its
  check-ins) are never touched; nor are ``router_rest_accounts``.
* Schema objects: tables are created when missing; a table that exists with other columns
  (a schema made by MySQL Shell, or by another version of this module) raises
  :class:`MetadataSchemaError` -- migrating a foreign schema is not supported. Views are
  (re)created when missing or when their definition changed; the SHA-256 of each view's DDL
  is recorded in ``operator_ddl`` so that the comparison needs no parsing of the server's
  normalised view text.
* :func:`ensure_router_account` gives an account the grants Router needs
  (:func:`~.accounts.router_account`); run it after :func:`ensure_schema` (table grants
  need the tables). The router account can then run ``mysqlrouter --bootstrap`` itself
  (``--account <it> --account-create never``): it registers through the updatable view
  ``v2_routers``.
* Inputs are validated (UUIDs, ``host:port`` addresses, unique members) before any SQL runs;
  values reach the server only as driver parameters.

The pure parts (:func:`desired_rows`, :func:`plan_changes`, :func:`plan_schema`) are
unit-tested without a server; :func:`ensure_metadata` only reads, calls them and executes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from innodb_operator.mysql.accounts import METADATA_SCHEMA, AccountChange, Grant, ensure_account, router_account
from innodb_operator.mysql.connection import Secret, Session
from innodb_operator.mysql.errors import MysqlError

logger = logging.getLogger(__name__)

SCHEMA = METADATA_SCHEMA
SCHEMA_VERSION = (2, 2, 0)
"""What ``schema_version`` answers. Router 9.7 accepts any 2.x (bootstrap and routing);
2.1 adds the ClusterSet check (``v2_cs_members``), 2.2 the ``v2_router_options`` view; 2.3
would make Router look for routing guidelines, which we do not provide."""

DDL_TABLE = "operator_ddl"
_NAMESPACE = uuid.UUID("5b0b3a52-3f4e-4f55-9d0a-6c1e8f0d2a71")  # for cluster ids derived from group names
_HOST_PORT_RE = re.compile(r"(?P<host>[A-Za-z0-9_.\-]{1,255}|\[[0-9A-Fa-f:.]{2,45}\]):(?P<port>[0-9]{1,5})")
_MAX_LABEL = 256
_MAX_CLUSTER_NAME = 63


class MetadataSchemaError(MysqlError):
    """The schema holds objects this module did not make (or made differently); not migrated."""


class MemberRole(StrEnum):
    """How Router should treat an instance (``attributes.instance_type`` in ``v2_instances``)."""

    GROUP_MEMBER = "group-member"
    READ_REPLICA = "read-replica"


def cluster_id_for(group_name: str) -> str:
    """A stable cluster id for a group: the same group name always gives the same id."""
    return str(uuid.uuid5(_NAMESPACE, _uuid(group_name, "group name")))


def _uuid(value: str, what: str) -> str:
    try:
        parsed = uuid.UUID(value)
    except (ValueError, AttributeError, TypeError):
        raise ValueError(f"{what} is not a UUID: {value!r}") from None
    text = str(parsed)
    if text != value.lower():
        raise ValueError(f"{what} is not a UUID in canonical form: {value!r}")
    return text


def _host_port(value: str, what: str) -> str:
    match = _HOST_PORT_RE.fullmatch(value)
    if match is None or not 0 < int(match["port"]) < 65536:
        raise ValueError(f"{what} is not host:port: {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class MetadataMember:
    """One instance as Router should know it.

    ``uuid`` is its ``@@server_uuid`` (how Router matches metadata to the group's member
    list); ``address`` (``host:port``, classic protocol) is where Router connects;
    ``x_address`` the X protocol's; ``label`` a unique name (the pod name).
    """

    uuid: str
    address: str
    x_address: str
    label: str
    role: MemberRole = MemberRole.GROUP_MEMBER

    def __post_init__(self) -> None:
        object.__setattr__(self, "uuid", _uuid(self.uuid, "member uuid"))
        _host_port(self.address, "member address")
        _host_port(self.x_address, "member X address")
        if not self.label or len(self.label) > _MAX_LABEL:
            raise ValueError(f"member label must be 1..{_MAX_LABEL} characters: {self.label!r}")
        object.__setattr__(self, "role", MemberRole(self.role))

    @property
    def attributes(self) -> dict[str, Any]:
        """The ``attributes`` JSON Router reads; an empty object for a group member."""
        return {} if self.role == MemberRole.GROUP_MEMBER else {"instance_type": self.role.value}


# --- rows ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClusterRow:
    """One row of ``clusters``."""

    cluster_id: str
    cluster_name: str
    group_name: str
    primary_mode: str = "pm"
    attributes: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class InstanceRow:
    """One row of ``instances`` (``instance_id`` is the server's AUTO_INCREMENT, None if new)."""

    cluster_id: str
    uuid: str
    label: str
    endpoint: str
    xendpoint: str
    attributes: Mapping[str, Any] = field(default_factory=dict)
    instance_id: int | None = None

    def same_content(self, other: InstanceRow) -> bool:
        return (self.cluster_id, self.uuid, self.label, self.endpoint, self.xendpoint, dict(self.attributes)) == (
            other.cluster_id, other.uuid, other.label, other.endpoint, other.xendpoint, dict(other.attributes))


def desired_rows(*, cluster_name: str, cluster_id: str, group_name: str, members: Sequence[MetadataMember],
                 multi_primary: bool = False) -> tuple[ClusterRow, tuple[InstanceRow, ...]]:
    """Validate the input and return the rows it asks for (pure)."""
    if not cluster_name or len(cluster_name) > _MAX_CLUSTER_NAME:
        raise ValueError(f"cluster name must be 1..{_MAX_CLUSTER_NAME} characters: {cluster_name!r}")
    cluster_id = _uuid(cluster_id, "cluster id")
    group_name = _uuid(group_name, "group name")
    for what, values in (("uuid", [m.uuid for m in members]), ("label", [m.label for m in members]),
                         ("address", [m.address for m in members]), ("X address", [m.x_address for m in members])):
        duplicates = sorted({v for v in values if values.count(v) > 1})
        if duplicates:
            raise ValueError(f"members share a {what}: {duplicates}")
    cluster = ClusterRow(cluster_id, cluster_name, group_name, "mm" if multi_primary else "pm",
                         {"group_replication_group_name": group_name})
    instances = tuple(InstanceRow(cluster_id, m.uuid, m.label, m.address, m.x_address, m.attributes)
                      for m in sorted(members, key=lambda m: m.label))
    return cluster, instances


# --- the plan: what to change, as SQL ------------------------------------------------------


class ChangeKind(StrEnum):
    DELETE_INSTANCE = "delete instance"
    DELETE_CLUSTER = "delete cluster"
    INSERT_CLUSTER = "insert cluster"
    UPDATE_CLUSTER = "update cluster"
    INSERT_INSTANCE = "insert instance"
    UPDATE_INSTANCE = "update instance"


@dataclass(frozen=True, slots=True)
class Change:
    """One row change: what it is (for logs) and the statement that makes it."""

    kind: ChangeKind
    key: str
    sql: str
    params: tuple[Any, ...]

    def __str__(self) -> str:
        return f"{self.kind.value} {self.key}"


def _json(value: Mapping[str, Any]) -> str:
    return json.dumps(dict(value), sort_keys=True, separators=(",", ":"))


def plan_changes(cluster: ClusterRow, instances: Sequence[InstanceRow], current_clusters: Sequence[ClusterRow],
                 current_instances: Sequence[InstanceRow]) -> tuple[Change, ...]:
    """The row changes that turn the current contents into the desired ones (pure).

    Order: deletions first (instances, then other clusters), then the cluster row, then
    instance updates and inserts -- so unique keys (server uuid, cluster name) never clash
    inside the transaction. Empty when nothing differs.
    """
    md = SCHEMA
    changes: list[Change] = []
    wanted = {i.uuid: i for i in instances}
    ours = {i.uuid: i for i in current_instances if i.cluster_id == cluster.cluster_id}
    for row in sorted(current_instances, key=lambda i: (i.cluster_id, i.uuid)):
        if row.cluster_id != cluster.cluster_id or row.uuid not in wanted:
            changes.append(Change(ChangeKind.DELETE_INSTANCE, f"{row.uuid} ({row.endpoint})",
                                  f"DELETE FROM `{md}`.instances WHERE mysql_server_uuid = %s AND cluster_id = %s",
                                  (row.uuid, row.cluster_id)))
    for other in sorted(current_clusters, key=lambda c: c.cluster_id):
        if other.cluster_id != cluster.cluster_id:
            changes.append(Change(ChangeKind.DELETE_CLUSTER, f"{other.cluster_name} ({other.cluster_id})",
                                  f"DELETE FROM `{md}`.clusters WHERE cluster_id = %s", (other.cluster_id,)))
    present = next((c for c in current_clusters if c.cluster_id == cluster.cluster_id), None)
    cluster_values = (cluster.cluster_name, cluster.group_name, cluster.primary_mode, _json(cluster.attributes))
    if present is None:
        changes.append(Change(ChangeKind.INSERT_CLUSTER, f"{cluster.cluster_name} ({cluster.cluster_id})",
                              f"INSERT INTO `{md}`.clusters (cluster_id, cluster_name, group_name, primary_mode,"
                              " attributes) VALUES (%s, %s, %s, %s, %s)", (cluster.cluster_id, *cluster_values)))
    elif (present.cluster_name, present.group_name, present.primary_mode, _json(present.attributes)) != cluster_values:
        changes.append(Change(ChangeKind.UPDATE_CLUSTER, f"{cluster.cluster_name} ({cluster.cluster_id})",
                              f"UPDATE `{md}`.clusters SET cluster_name = %s, group_name = %s, primary_mode = %s,"
                              " attributes = %s WHERE cluster_id = %s", (*cluster_values, cluster.cluster_id)))
    for row in instances:
        values = (row.label, row.endpoint, row.xendpoint, _json(row.attributes))
        existing = ours.get(row.uuid)
        if existing is None:
            changes.append(Change(ChangeKind.INSERT_INSTANCE, f"{row.uuid} ({row.endpoint})",
                                  f"INSERT INTO `{md}`.instances (cluster_id, mysql_server_uuid, label, endpoint,"
                                  " xendpoint, attributes) VALUES (%s, %s, %s, %s, %s, %s)",
                                  (row.cluster_id, row.uuid, *values)))
        elif not existing.same_content(row):
            changes.append(Change(ChangeKind.UPDATE_INSTANCE, f"{row.uuid} ({row.endpoint})",
                                  f"UPDATE `{md}`.instances SET label = %s, endpoint = %s, xendpoint = %s,"
                                  " attributes = %s WHERE mysql_server_uuid = %s AND cluster_id = %s",
                                  (*values, row.uuid, row.cluster_id)))
    return tuple(changes)


# --- the schema ------------------------------------------------------------------------


class ObjectKind(StrEnum):
    TABLE = "BASE TABLE"
    VIEW = "VIEW"


@dataclass(frozen=True, slots=True)
class SchemaObject:
    """A table or view of the schema: its columns (in order) and the statement that makes it."""

    name: str
    kind: ObjectKind
    columns: tuple[str, ...]
    ddl: str

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.ddl.encode()).hexdigest()


_ASCII = "CHARACTER SET ascii COLLATE ascii_general_ci"
_TABLE_OPTIONS = "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"


def _table(name: str, columns: Sequence[tuple[str, str]], keys: Sequence[str]) -> SchemaObject:
    body = ",\n  ".join([f"`{c}` {t}" for c, t in columns] + list(keys))
    ddl = f"CREATE TABLE IF NOT EXISTS `{SCHEMA}`.`{name}` (\n  {body}\n) {_TABLE_OPTIONS}"
    return SchemaObject(name, ObjectKind.TABLE, tuple(c for c, _ in columns), ddl)


def _view(name: str, columns: Sequence[tuple[str, str]], source: str) -> SchemaObject:
    select = ",\n    ".join(f"{expr} AS `{c}`" for c, expr in columns)
    ddl = (f"CREATE OR REPLACE SQL SECURITY INVOKER VIEW `{SCHEMA}`.`{name}` AS\n"
           f"  SELECT\n    {select}\n  {source}")
    return SchemaObject(name, ObjectKind.VIEW, tuple(c for c, _ in columns), ddl)


def _schema_objects() -> tuple[SchemaObject, ...]:
    md = f"`{SCHEMA}`"
    uuid_col = f"CHAR(36) {_ASCII}"
    major, minor, patch = SCHEMA_VERSION
    server_uuid = ("(SELECT CONVERT(gv.variable_value USING ascii) FROM performance_schema.global_variables gv"
                   " WHERE gv.variable_name = 'server_uuid')")
    tables = (
        _table(DDL_TABLE, [
            ("object_name", f"VARCHAR(64) {_ASCII} NOT NULL"),
            ("digest", f"CHAR(64) {_ASCII} NOT NULL"),
        ], ["PRIMARY KEY (`object_name`)"]),
        _table("clusters", [
            ("cluster_id", f"{uuid_col} NOT NULL"),
            ("cluster_name", "VARCHAR(63) NOT NULL"),
            ("cluster_type", "ENUM('gr') NOT NULL DEFAULT 'gr'"),
            ("primary_mode", "ENUM('pm', 'mm') NOT NULL DEFAULT 'pm'"),
            ("group_name", f"{uuid_col} NOT NULL"),
            ("description", "TEXT NULL"),
            ("attributes", "JSON NOT NULL"),
            ("options", "JSON NULL"),
            ("router_options", "JSON NULL"),
        ], ["PRIMARY KEY (`cluster_id`)", "UNIQUE KEY `cluster_name` (`cluster_name`)"]),
        _table("instances", [
            ("instance_id", "INT UNSIGNED NOT NULL AUTO_INCREMENT"),
            ("cluster_id", f"{uuid_col} NOT NULL"),
            ("mysql_server_uuid", f"{uuid_col} NOT NULL"),
            ("label", "VARCHAR(256) NOT NULL"),
            ("endpoint", f"VARCHAR(265) {_ASCII} NOT NULL"),
            ("xendpoint", f"VARCHAR(265) {_ASCII} NOT NULL"),
            ("attributes", "JSON NOT NULL"),
        ], ["PRIMARY KEY (`instance_id`)", "UNIQUE KEY `mysql_server_uuid` (`mysql_server_uuid`)",
            "KEY `cluster_id` (`cluster_id`)"]),
        _table("routers", [
            ("router_id", "INT UNSIGNED NOT NULL AUTO_INCREMENT"),
            ("router_name", "VARCHAR(265) NOT NULL"),
            ("product_name", "VARCHAR(128) NOT NULL"),
            ("address", f"VARCHAR(256) {_ASCII} NULL"),
            ("version", "VARCHAR(12) NULL"),
            ("last_check_in", "TIMESTAMP NULL DEFAULT NULL"),
            ("attributes", "JSON NULL"),
            ("cluster_id", f"{uuid_col} NULL"),
            ("clusterset_id", f"{uuid_col} NULL"),
            ("options", "JSON NULL"),
        ], ["PRIMARY KEY (`router_id`)", "UNIQUE KEY `address_name` (`address`, `router_name`)"]),
        _table("router_rest_accounts", [
            ("cluster_id", f"{uuid_col} NOT NULL"),
            ("user", "VARCHAR(256) NOT NULL"),
            ("authentication_method", "VARCHAR(64) NOT NULL DEFAULT 'modular_crypt_format'"),
            ("authentication_string", f"TEXT {_ASCII} NULL"),
            ("description", "VARCHAR(255) NULL"),
            ("privileges", "JSON NULL"),
            ("attributes", "JSON NULL"),
        ], ["PRIMARY KEY (`cluster_id`, `user`)"]),
    )
    no_id = "CAST(NULL AS CHAR(36) CHARACTER SET ascii)"
    views = (
        SchemaObject("schema_version", ObjectKind.VIEW, ("major", "minor", "patch"),
                     f"CREATE OR REPLACE SQL SECURITY INVOKER VIEW {md}.`schema_version` (major, minor, patch) AS"
                     f" SELECT {major}, {minor}, {patch}"),
        _view("v2_clusters", [
            ("cluster_type", "c.cluster_type"), ("primary_mode", "c.primary_mode"), ("cluster_id", "c.cluster_id"),
            ("cluster_name", "c.cluster_name"), ("router_options", "c.router_options"),
        ], f"FROM {md}.clusters c"),
        _view("v2_gr_clusters", [
            ("cluster_type", "c.cluster_type"), ("primary_mode", "c.primary_mode"), ("cluster_id", "c.cluster_id"),
            ("cluster_name", "c.cluster_name"), ("group_name", "c.group_name"), ("attributes", "c.attributes"),
            ("options", "c.options"), ("router_options", "c.router_options"), ("description", "c.description"),
            ("clusterset_id", no_id),
        ], f"FROM {md}.clusters c WHERE c.cluster_type = 'gr'"),
        _view("v2_instances", [
            ("instance_id", "i.instance_id"), ("cluster_id", "i.cluster_id"), ("label", "i.label"),
            ("mysql_server_uuid", "i.mysql_server_uuid"), ("address", "i.endpoint"), ("endpoint", "i.endpoint"),
            ("xendpoint", "i.xendpoint"), ("attributes", "i.attributes"),
        ], f"FROM {md}.instances i"),
        # No clusterset_id here: Router joins this view with v2_cs_members and names that column unqualified.
        _view("v2_this_instance", [
            ("cluster_id", "i.cluster_id"), ("cluster_name", "c.cluster_name"), ("cluster_type", "c.cluster_type"),
            ("instance_id", "i.instance_id"), ("mysql_server_uuid", "i.mysql_server_uuid"), ("label", "i.label"),
        ], f"FROM {md}.instances i JOIN {md}.clusters c ON c.cluster_id = i.cluster_id"
           f" WHERE i.mysql_server_uuid = {server_uuid}"),
        _view("v2_routers", [
            ("router_id", "r.router_id"), ("cluster_id", "r.cluster_id"), ("router_name", "r.router_name"),
            ("product_name", "r.product_name"), ("address", "r.address"), ("version", "r.version"),
            ("last_check_in", "r.last_check_in"), ("attributes", "r.attributes"), ("options", "r.options"),
            ("clusterset_id", "r.clusterset_id"),
        ], f"FROM {md}.routers r"),
        _view("v2_router_options", [
            ("router_id", "r.router_id"), ("cluster_id", "r.cluster_id"), ("clusterset_id", "r.clusterset_id"),
            ("router_options", "JSON_MERGE_PATCH(COALESCE(c.router_options, JSON_OBJECT()),"
                               " COALESCE(r.options, JSON_OBJECT()))"),
        ], f"FROM {md}.routers r LEFT JOIN {md}.clusters c ON c.cluster_id = r.cluster_id"),
        _view("v2_router_rest_accounts", [
            ("cluster_id", "a.cluster_id"), ("user", "a.user"), ("authentication_method", "a.authentication_method"),
            ("authentication_string", "a.authentication_string"), ("description", "a.description"),
            ("privileges", "a.privileges"), ("attributes", "a.attributes"),
        ], f"FROM {md}.router_rest_accounts a"),
        # ClusterSets are not supported: always empty, present because Router asks (metadata >= 2.1).
        _view("v2_cs_members", [
            ("clusterset_id", no_id), ("cluster_id", "c.cluster_id"), ("cluster_name", "c.cluster_name"),
            ("member_role", "CAST(NULL AS CHAR(16))"), ("master_cluster_id", no_id), ("invalidated", "0"),
        ], f"FROM {md}.clusters c WHERE FALSE"),
    )
    return tables + views


SCHEMA_OBJECTS: tuple[SchemaObject, ...] = _schema_objects()


@dataclass(frozen=True, slots=True)
class SchemaPlan:
    """What :func:`ensure_schema` must run: the database, then these objects, then digests."""

    create_database: bool
    objects: tuple[SchemaObject, ...]

    @property
    def empty(self) -> bool:
        return not self.create_database and not self.objects


def plan_schema(*, database_exists: bool, present: Mapping[str, tuple[str, tuple[str, ...]]],
                digests: Mapping[str, str]) -> SchemaPlan:
    """Which objects to create or replace (pure).

    ``present``: object name -> (``information_schema.TABLES.TABLE_TYPE``, column names in
    order); ``digests``: view name -> digest recorded in ``operator_ddl``. Raises
    :class:`MetadataSchemaError` for a table (or a view's name used by a table) whose shape
    differs from ours.
    """
    todo: list[SchemaObject] = []
    foreign: list[str] = []
    for obj in SCHEMA_OBJECTS:
        found = present.get(obj.name)
        if obj.kind == ObjectKind.TABLE:
            if found is None:
                todo.append(obj)
            elif found != (obj.kind.value, obj.columns):
                foreign.append(f"{obj.name} {found[0].lower()} {list(found[1])} (expected {list(obj.columns)})")
        elif found is not None and found[0] != obj.kind.value:
            foreign.append(f"{obj.name} is a {found[0].lower()}, expected a view")
        elif found is None or digests.get(obj.name) != obj.digest or found[1] != obj.columns:
            todo.append(obj)
    if foreign:
        raise MetadataSchemaError(
            f"{SCHEMA} holds objects this operator did not create (a schema made by MySQL Shell or by another "
            f"version?); migrating them is not supported: {'; '.join(foreign)}")
    return SchemaPlan(create_database=not database_exists, objects=tuple(todo))


# --- against a server --------------------------------------------------------------------


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (bytes, bytearray)):
        return value.decode("utf-8", "replace")
    return str(value)


def _json_value(value: Any) -> dict[str, Any]:
    text = _text(value)
    if not text:
        return {}
    parsed = json.loads(text)
    return parsed if isinstance(parsed, dict) else {"": parsed}


def _lower_keys(row: Mapping[str, Any]) -> dict[str, Any]:
    return {k.lower(): v for k, v in row.items()}


async def ensure_schema(session: Session) -> bool:
    """Create the database, tables and views that are missing or changed; True if any DDL ran."""
    database_exists = bool(await session.query(
        "SELECT schema_name FROM information_schema.schemata WHERE schema_name = %s", (SCHEMA,)))
    present: dict[str, tuple[str, tuple[str, ...]]] = {}
    digests: dict[str, str] = {}
    if database_exists:
        kinds = {_text(r["table_name"]): _text(r["table_type"]) for r in map(_lower_keys, await session.query(
            "SELECT table_name AS table_name, table_type AS table_type FROM information_schema.tables"
            " WHERE table_schema = %s", (SCHEMA,)))}
        columns: dict[str, list[str]] = {}
        for r in map(_lower_keys, await session.query(
                "SELECT table_name AS table_name, column_name AS column_name FROM information_schema.columns"
                " WHERE table_schema = %s ORDER BY table_name, ordinal_position", (SCHEMA,))):
            columns.setdefault(_text(r["table_name"]), []).append(_text(r["column_name"]))
        present = {name: (kind, tuple(columns.get(name, ()))) for name, kind in kinds.items()}
        if present.get(DDL_TABLE, ("", ()))[0] == ObjectKind.TABLE.value:
            digests = {_text(r["object_name"]): _text(r["digest"]) for r in await session.query(
                f"SELECT object_name, digest FROM `{SCHEMA}`.`{DDL_TABLE}`")}
    plan = plan_schema(database_exists=database_exists, present=present, digests=digests)
    if plan.empty:
        return False
    if plan.create_database:
        await session.execute(f"CREATE DATABASE IF NOT EXISTS `{SCHEMA}` DEFAULT CHARACTER SET utf8mb4")
    for obj in plan.objects:
        await session.execute(obj.ddl)
    views = [o for o in plan.objects if o.kind == ObjectKind.VIEW]
    if views:
        await session.execute(
            f"INSERT INTO `{SCHEMA}`.`{DDL_TABLE}` (object_name, digest) VALUES "
            + ", ".join(["(%s, %s)"] * len(views)) + " AS new ON DUPLICATE KEY UPDATE digest = new.digest",
            tuple(v for o in views for v in (o.name, o.digest)))
    logger.info("metadata schema %s on %s: created or replaced %s", SCHEMA, session.endpoint,
                ["database"] * plan.create_database + [o.name for o in plan.objects])
    return True


async def read_rows(session: Session) -> tuple[list[ClusterRow], list[InstanceRow]]:
    """The current ``clusters`` and ``instances`` rows."""
    clusters = [
        ClusterRow(_text(r["cluster_id"]), _text(r["cluster_name"]), _text(r["group_name"]),
                   _text(r["primary_mode"]), _json_value(r["attributes"]))
        for r in await session.query(
            f"SELECT cluster_id, cluster_name, group_name, primary_mode, CAST(attributes AS CHAR) AS attributes"
            f" FROM `{SCHEMA}`.clusters")
    ]
    instances = [
        InstanceRow(_text(r["cluster_id"]), _text(r["mysql_server_uuid"]), _text(r["label"]), _text(r["endpoint"]),
                    _text(r["xendpoint"]), _json_value(r["attributes"]), int(r["instance_id"]))
        for r in await session.query(
            f"SELECT instance_id, cluster_id, mysql_server_uuid, label, endpoint, xendpoint,"
            f" CAST(attributes AS CHAR) AS attributes FROM `{SCHEMA}`.instances")
    ]
    return clusters, instances


async def _apply(session: Session, changes: Sequence[Change]) -> None:
    await session.execute("START TRANSACTION")
    try:
        for change in changes:
            await session.execute(change.sql, change.params)
        await session.execute("COMMIT")
    except BaseException:
        if not session.closed:
            try:
                await session.execute("ROLLBACK")
            except MysqlError:
                logger.debug("rollback failed on %s", session.endpoint)
        raise


async def ensure_metadata(session: Session, *, cluster_name: str, cluster_id: str, group_name: str,
                          members: Sequence[MetadataMember], multi_primary: bool = False) -> bool:
    """Make the schema exist and describe this cluster and exactly these members.

    Run it on the primary. Returns whether anything was written (see the module docstring).
    """
    cluster, instances = desired_rows(cluster_name=cluster_name, cluster_id=cluster_id, group_name=group_name,
                                      members=members, multi_primary=multi_primary)
    schema_changed = await ensure_schema(session)
    current_clusters, current_instances = await read_rows(session)
    changes = plan_changes(cluster, instances, current_clusters, current_instances)
    if changes:
        await _apply(session, changes)
        logger.info("metadata for cluster %s on %s: %s", cluster_name, session.endpoint,
                    [str(c) for c in changes])
    return schema_changed or bool(changes)


# Column grants Router needs beyond accounts.router_account: at bootstrap it stores its
# configuration defaults in the cluster's router_options (UPDATE through v2_gr_clusters).
ROUTER_COLUMN_GRANTS: tuple[tuple[str, str, str], ...] = (
    ("UPDATE", "clusters", "router_options"),
    ("UPDATE", "v2_gr_clusters", "router_options"),
)


async def ensure_router_account(session: Session, user: str, password: str | Secret, *,
                                host: str = "%", reset_password: bool = False) -> AccountChange:
    """The account Router uses (bootstrap and metadata cache); needs the schema to exist.

    :func:`~.accounts.router_account`'s grants, plus :data:`ROUTER_COLUMN_GRANTS` (only the
    ones missing, read back from ``information_schema.column_privileges``).
    """
    spec = router_account(user, host)
    change = await ensure_account(session, spec, password, reset_password=reset_password)
    have = {(_text(r["privilege_type"]).upper(), _text(r["table_name"]), _text(r["column_name"]))
            for r in map(_lower_keys, await session.query(
                "SELECT privilege_type AS privilege_type, table_name AS table_name, column_name AS column_name"
                " FROM information_schema.column_privileges WHERE grantee = %s AND table_schema = %s",
                (f"'{spec.user}'@'{spec.host}'", SCHEMA)))}
    granted: list[Grant] = []
    for privilege, table, column in ROUTER_COLUMN_GRANTS:
        if (privilege, table, column) not in have:
            await session.execute(f"GRANT {privilege} (`{column}`) ON `{SCHEMA}`.`{table}` TO %s@%s",
                                  (spec.user, spec.host))
            granted.append(Grant((privilege,), f"{SCHEMA}.{table}"))
    if granted:
        logger.info("router account %s: granted %s on columns %s", spec.name,
                    [g.on for g in granted], [c for _, _, c in ROUTER_COLUMN_GRANTS])
        change = AccountChange(change.created, change.password_reset, change.granted + tuple(granted))
    return change


__all__ = [
    "DDL_TABLE",
    "ROUTER_COLUMN_GRANTS",
    "SCHEMA",
    "SCHEMA_OBJECTS",
    "SCHEMA_VERSION",
    "Change",
    "ChangeKind",
    "ClusterRow",
    "InstanceRow",
    "MemberRole",
    "MetadataMember",
    "MetadataSchemaError",
    "ObjectKind",
    "SchemaObject",
    "SchemaPlan",
    "cluster_id_for",
    "desired_rows",
    "ensure_metadata",
    "ensure_router_account",
    "ensure_schema",
    "plan_changes",
    "plan_schema",
    "read_rows",
]
