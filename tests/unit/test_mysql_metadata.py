"""mysql/metadata without a server: validation, the row diff, the schema plan, and compare-before-write."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest

from innodb_operator.mysql import Endpoint
from innodb_operator.mysql.connection import Params, Row
from innodb_operator.mysql.metadata import (
    DDL_TABLE,
    ROUTER_COLUMN_GRANTS,
    SCHEMA,
    SCHEMA_OBJECTS,
    SCHEMA_VERSION,
    ChangeKind,
    ClusterRow,
    InstanceRow,
    MemberRole,
    MetadataMember,
    MetadataSchemaError,
    ObjectKind,
    cluster_id_for,
    desired_rows,
    ensure_metadata,
    plan_changes,
    plan_schema,
)

GROUP = "8a94f357-aab4-11df-86ab-c80aa9429562"
CLUSTER = cluster_id_for(GROUP)
U1, U2, U3, U4 = (str(uuid.UUID(int=n)) for n in range(1, 5))


def m(server_uuid: str, n: int, **kw: Any) -> MetadataMember:
    return MetadataMember(server_uuid, f"10.0.0.{n}:3306", f"10.0.0.{n}:33060", f"mysql-{n}", **kw)


def rows(*members: MetadataMember, name: str = "c1") -> tuple[ClusterRow, tuple[InstanceRow, ...]]:
    return desired_rows(cluster_name=name, cluster_id=CLUSTER, group_name=GROUP, members=members)


def current(instances: tuple[InstanceRow, ...], start: int = 1) -> list[InstanceRow]:
    """What reading the server back would give: the same rows with instance ids."""
    return [InstanceRow(i.cluster_id, i.uuid, i.label, i.endpoint, i.xendpoint, dict(i.attributes), start + n)
            for n, i in enumerate(instances)]


# --- input validation -----------------------------------------------------------------------


def test_members_are_validated_and_normalised() -> None:
    member = MetadataMember(U1.upper(), "db-0.db.ns.svc.cluster.local:3306", "[::1]:33060", "db-0")
    assert member.uuid == U1 and member.attributes == {}
    replica = MetadataMember(U1, "h:1", "h:2", "x", MemberRole.READ_REPLICA)
    assert replica.attributes == {"instance_type": "read-replica"}
    for bad in ({"uuid": "nope"}, {"uuid": "1234"}, {"address": "host"}, {"address": "host:0"},
                {"address": "host:65536"}, {"x_address": "a b:1"}, {"address": "h:1;DROP"}, {"label": ""},
                {"label": "x" * 257}):
        fields: dict[str, Any] = {"uuid": U1, "address": "h:3306", "x_address": "h:33060", "label": "l", **bad}
        with pytest.raises(ValueError):
            MetadataMember(**fields)
    with pytest.raises(ValueError):
        MetadataMember(U1, "h:1", "h:2", "x", "primary")  # type: ignore[arg-type]


def test_cluster_id_is_stable_per_group_name() -> None:
    assert cluster_id_for(GROUP) == cluster_id_for(GROUP.upper()) == CLUSTER
    assert cluster_id_for(str(uuid.uuid4())) != CLUSTER
    assert uuid.UUID(CLUSTER).version == 5
    with pytest.raises(ValueError):
        cluster_id_for("not-a-group-name")


def test_desired_rows_refuse_duplicates_and_bad_names() -> None:
    cluster, instances = rows(m(U2, 2), m(U1, 1))
    assert cluster == ClusterRow(CLUSTER, "c1", GROUP, "pm", {"group_replication_group_name": GROUP})
    assert [i.label for i in instances] == ["mysql-1", "mysql-2"]  # sorted: a stable order
    assert rows()[1] == ()
    with pytest.raises(ValueError, match="uuid"):
        rows(m(U1, 1), m(U1, 2))
    with pytest.raises(ValueError, match="label"):
        rows(m(U1, 1), MetadataMember(U2, "10.0.0.2:3306", "10.0.0.2:33060", "mysql-1"))
    with pytest.raises(ValueError, match="address"):
        rows(m(U1, 1), MetadataMember(U2, "10.0.0.1:3306", "10.0.0.2:33060", "mysql-2"))
    with pytest.raises(ValueError):
        rows(name="")
    with pytest.raises(ValueError):
        rows(name="x" * 64)
    with pytest.raises(ValueError):
        desired_rows(cluster_name="c1", cluster_id="x", group_name=GROUP, members=())
    multi, _ = desired_rows(cluster_name="c1", cluster_id=CLUSTER, group_name=GROUP, members=(), multi_primary=True)
    assert multi.primary_mode == "mm"


# --- the row diff -----------------------------------------------------------------------------


def test_no_change_when_contents_match_in_any_order() -> None:
    cluster, instances = rows(m(U1, 1), m(U2, 2), m(U3, 3))
    assert plan_changes(cluster, instances, [cluster], list(reversed(current(instances)))) == ()
    # JSON compares by value, not by its text
    reordered = ClusterRow(CLUSTER, "c1", GROUP, "pm", dict(reversed(list(cluster.attributes.items()))))
    assert plan_changes(cluster, instances, [reordered], current(instances)) == ()


def test_empty_schema_gets_the_cluster_then_its_instances() -> None:
    cluster, instances = rows(m(U1, 1), m(U2, 2))
    changes = plan_changes(cluster, instances, [], [])
    assert [c.kind for c in changes] == [ChangeKind.INSERT_CLUSTER, ChangeKind.INSERT_INSTANCE,
                                         ChangeKind.INSERT_INSTANCE]
    assert changes[0].params == (CLUSTER, "c1", GROUP, "pm", f'{{"group_replication_group_name":"{GROUP}"}}')
    assert changes[1].params == (CLUSTER, U1, "mysql-1", "10.0.0.1:3306", "10.0.0.1:33060", "{}")
    for change in changes:
        assert change.sql.count("%s") == len(change.params)
        assert f"`{SCHEMA}`." in change.sql and "'" not in change.sql  # values only as parameters


def test_moved_removed_and_added_members() -> None:
    cluster, before = rows(m(U1, 1), m(U2, 2), m(U3, 3))
    moved = MetadataMember(U2, "10.0.1.2:3306", "10.0.1.2:33060", "mysql-2")
    _, after = rows(m(U1, 1), moved, m(U4, 4))
    changes = plan_changes(cluster, after, [cluster], current(before))
    assert [(c.kind, c.key.split()[0]) for c in changes] == [
        (ChangeKind.DELETE_INSTANCE, U3), (ChangeKind.UPDATE_INSTANCE, U2), (ChangeKind.INSERT_INSTANCE, U4)]
    assert changes[1].params == ("mysql-2", "10.0.1.2:3306", "10.0.1.2:33060", "{}", U2, CLUSTER)
    # a relabel or a role change is an update too
    _, relabelled = rows(m(U1, 1), MetadataMember(U2, "10.0.0.2:3306", "10.0.0.2:33060", "db-2"), m(U3, 3))
    assert [c.kind for c in plan_changes(cluster, relabelled, [cluster], current(before))] == [
        ChangeKind.UPDATE_INSTANCE]
    _, replica = rows(m(U1, 1), m(U2, 2, role=MemberRole.READ_REPLICA), m(U3, 3))
    [change] = plan_changes(cluster, replica, [cluster], current(before))
    assert change.params[3] == '{"instance_type":"read-replica"}'


def test_other_clusters_and_their_instances_are_removed_first() -> None:
    cluster, instances = rows(m(U1, 1))
    stale_id = str(uuid.uuid4())
    stale = ClusterRow(stale_id, "c1", str(uuid.uuid4()))  # same name: must go before ours is inserted
    old_instances = [InstanceRow(stale_id, U1, "mysql-1", "10.0.0.1:3306", "10.0.0.1:33060", {}, 1),
                     InstanceRow(stale_id, U2, "mysql-2", "10.0.0.2:3306", "10.0.0.2:33060", {}, 2)]
    kinds = [c.kind for c in plan_changes(cluster, instances, [stale], old_instances)]
    assert kinds == [ChangeKind.DELETE_INSTANCE, ChangeKind.DELETE_INSTANCE, ChangeKind.DELETE_CLUSTER,
                     ChangeKind.INSERT_CLUSTER, ChangeKind.INSERT_INSTANCE]


def test_cluster_row_changes_are_updates() -> None:
    cluster, instances = rows(m(U1, 1), name="renamed")
    before = ClusterRow(CLUSTER, "c1", GROUP, "pm", {"group_replication_group_name": GROUP})
    [change] = plan_changes(cluster, instances, [before], current(instances))
    assert change.kind == ChangeKind.UPDATE_CLUSTER and change.params[0] == "renamed" and change.params[-1] == CLUSTER


# --- the schema -------------------------------------------------------------------------------


def by_name() -> dict[str, Any]:
    return {o.name: o for o in SCHEMA_OBJECTS}


def test_the_objects_router_reads_exist_with_the_columns_it_asks_for() -> None:
    objects = by_name()
    expected = {
        "schema_version": ("major", "minor", "patch"),
        "v2_this_instance": ("cluster_id", "cluster_type", "instance_id"),
        "v2_gr_clusters": ("cluster_id", "cluster_name", "group_name", "router_options"),
        "v2_clusters": ("cluster_id", "cluster_name"),
        "v2_instances": ("instance_id", "cluster_id", "mysql_server_uuid", "address", "endpoint", "xendpoint",
                         "attributes", "label"),
        "v2_routers": ("router_id", "address", "product_name", "router_name", "version", "last_check_in",
                       "attributes", "options", "cluster_id"),
        "v2_router_options": ("router_id", "router_options"),
        "v2_router_rest_accounts": ("cluster_id", "user", "authentication_string", "privileges",
                                    "authentication_method"),
        "v2_cs_members": ("clusterset_id", "cluster_id", "member_role"),
    }
    for name, columns in expected.items():
        assert objects[name].kind == ObjectKind.VIEW
        assert set(columns) <= set(objects[name].columns), name
    # Router joins v2_this_instance with v2_cs_members and names clusterset_id unqualified
    assert "clusterset_id" not in objects["v2_this_instance"].columns
    # its router account's grants name these tables
    assert {"routers", "clusters"} <= {o.name for o in SCHEMA_OBJECTS if o.kind == ObjectKind.TABLE}
    assert {t for _, t, _ in ROUTER_COLUMN_GRANTS} == {"clusters", "v2_gr_clusters"}
    assert f"SELECT {', '.join(map(str, SCHEMA_VERSION))}" in objects["schema_version"].ddl
    assert SCHEMA_VERSION[0] == 2


def test_ddl_rules() -> None:
    for obj in SCHEMA_OBJECTS:
        assert "@@" not in obj.ddl, obj.name  # a view may not read system variables
        assert f"`{SCHEMA}`.`{obj.name}`" in obj.ddl
        if obj.kind == ObjectKind.VIEW:
            assert obj.ddl.startswith("CREATE OR REPLACE SQL SECURITY INVOKER VIEW"), obj.name
        else:
            assert obj.ddl.startswith("CREATE TABLE IF NOT EXISTS") and "PRIMARY KEY" in obj.ddl, obj.name
            for column in obj.columns:
                assert re.search(rf"`{column}` [A-Z]", obj.ddl), (obj.name, column)
    assert len({o.name for o in SCHEMA_OBJECTS}) == len(SCHEMA_OBJECTS)
    assert len({o.digest for o in SCHEMA_OBJECTS}) == len(SCHEMA_OBJECTS)
    assert [o.kind for o in SCHEMA_OBJECTS] == sorted((o.kind for o in SCHEMA_OBJECTS), key=lambda k: k != "BASE TABLE")
    assert by_name()[DDL_TABLE].kind == ObjectKind.TABLE


def everything_present() -> dict[str, tuple[str, tuple[str, ...]]]:
    return {o.name: (o.kind.value, o.columns) for o in SCHEMA_OBJECTS}


def all_digests() -> dict[str, str]:
    return {o.name: o.digest for o in SCHEMA_OBJECTS if o.kind == ObjectKind.VIEW}


def test_schema_plan_creates_only_what_is_missing_or_changed() -> None:
    fresh = plan_schema(database_exists=False, present={}, digests={})
    assert fresh.create_database and fresh.objects == SCHEMA_OBJECTS
    assert plan_schema(database_exists=True, present=everything_present(), digests=all_digests()).empty
    outdated = {**all_digests(), "v2_instances": "0" * 64}
    assert [o.name for o in plan_schema(database_exists=True, present=everything_present(),
                                        digests=outdated).objects] == ["v2_instances"]
    missing = everything_present()
    del missing["routers"], missing["v2_routers"]
    assert [o.name for o in plan_schema(database_exists=True, present=missing,
                                        digests=all_digests()).objects] == ["routers", "v2_routers"]
    no_record = plan_schema(database_exists=True, present=everything_present(), digests={})
    assert {o.name for o in no_record.objects} == set(all_digests())  # views we cannot vouch for are replaced


def test_schema_plan_refuses_tables_it_did_not_make() -> None:
    shell = {**everything_present(), "clusters": ("BASE TABLE", ("cluster_id", "cluster_name", "attributes"))}
    with pytest.raises(MetadataSchemaError, match="clusters"):
        plan_schema(database_exists=True, present=shell, digests=all_digests())
    squatter = {**everything_present(), "v2_routers": ("BASE TABLE", ("router_id",))}
    with pytest.raises(MetadataSchemaError, match="v2_routers"):
        plan_schema(database_exists=True, present=squatter, digests=all_digests())


# --- compare before writing (a fake server) -------------------------------------------------------


class FakeServer:
    """Answers ensure_metadata's SELECTs from canned state; records every other statement."""

    endpoint = Endpoint("127.0.0.9")
    closed = False

    def __init__(self, clusters: list[ClusterRow], instances: list[InstanceRow]) -> None:
        self.clusters = clusters
        self.instances = instances
        self.writes: list[tuple[str, Params]] = []

    async def query(self, sql: str, params: Params = None) -> list[Row]:
        if "information_schema.schemata" in sql:
            return [{"SCHEMA_NAME": SCHEMA}]
        if "information_schema.tables" in sql:
            return [{"TABLE_NAME": o.name, "TABLE_TYPE": o.kind.value} for o in SCHEMA_OBJECTS]
        if "information_schema.columns" in sql:
            return [{"TABLE_NAME": o.name, "COLUMN_NAME": c} for o in SCHEMA_OBJECTS for c in o.columns]
        if DDL_TABLE in sql:
            return [{"object_name": k, "digest": v} for k, v in all_digests().items()]
        if sql.startswith("SELECT cluster_id, cluster_name"):
            return [{"cluster_id": c.cluster_id, "cluster_name": c.cluster_name, "group_name": c.group_name,
                     "primary_mode": c.primary_mode, "attributes": f'{{"group_replication_group_name": "{GROUP}"}}'}
                    for c in self.clusters]
        if sql.startswith("SELECT instance_id"):
            return [{"instance_id": i.instance_id, "cluster_id": i.cluster_id, "mysql_server_uuid": i.uuid,
                     "label": i.label, "endpoint": i.endpoint, "xendpoint": i.xendpoint, "attributes": b"{}"}
                    for i in self.instances]
        raise AssertionError(f"unexpected query: {sql}")

    async def execute(self, sql: str, params: Params = None) -> int:
        self.writes.append((sql, params))
        return 1


async def test_a_second_run_only_reads() -> None:
    cluster, instances = rows(m(U1, 1), m(U2, 2))
    server = FakeServer([cluster], current(instances))
    changed = await ensure_metadata(server, cluster_name="c1", cluster_id=CLUSTER,  # type: ignore[arg-type]
                                    group_name=GROUP, members=[m(U2, 2), m(U1, 1)])
    assert changed is False and server.writes == []


async def test_differences_are_written_in_one_transaction() -> None:
    cluster, instances = rows(m(U1, 1), m(U2, 2))
    server = FakeServer([cluster], current(instances))
    changed = await ensure_metadata(server, cluster_name="c1", cluster_id=CLUSTER,  # type: ignore[arg-type]
                                    group_name=GROUP, members=[m(U1, 1), m(U3, 3)])
    assert changed is True
    statements = [sql.split(" `")[0] for sql, _ in server.writes]
    assert statements == ["START TRANSACTION", "DELETE FROM", "INSERT INTO", "COMMIT"]
