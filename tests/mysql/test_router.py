"""Stock MySQL Router 9.7 against the metadata the operator makes (mysql/metadata.py), no MySQL Shell.

A real three-member group formed by the group manager, whose passes also keep the metadata and
the operator's router account on its primary, ``mysqlrouter --bootstrap`` as that account, then
the router process: RW to the primary, RO round-robin over both secondaries, membership changes made in
the metadata, and a SIGKILLed primary. The test stands in for kubelet: it restarts a server
that shut itself down after a clone.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import shutil
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from innodb_dev import mysqlrouter
from innodb_dev.mysqld import ROOT_USER, MysqlFleet, MysqlInstance
from innodb_dev.waiting import eventually
from innodb_operator.clustering.actions import GroupConfig
from innodb_operator.clustering.manager import GroupManager, GroupSpec, PassReport
from innodb_operator.clustering.model import Desired
from innodb_operator.clustering.seam import Target
from innodb_operator.clustering.state import ClusterState
from innodb_operator.clustering.upkeep import UpkeepOutcome
from innodb_operator.mysql import Credentials, Endpoint, GtidSet, MysqlError, QueryError, Session, connect
from innodb_operator.mysql.instance import MysqlConnector
from innodb_operator.mysql.metadata import (
    SCHEMA,
    SCHEMA_VERSION,
    MetadataMember,
    MetadataSchemaError,
    cluster_id_for,
    ensure_metadata,
    ensure_router_account,
)
from innodb_operator.mysql.queries import instance_facts

ROUTER_USER = "op_router"
RW_PORT, RO_PORT = 6446, 6447


# --- helpers -------------------------------------------------------------------------------


def endpoint(instance: MysqlInstance) -> Endpoint:
    return Endpoint(instance.host, instance.port)


async def as_root(instance: MysqlInstance) -> Session:
    return await connect(endpoint(instance), Credentials(ROOT_USER, instance.password))


@contextlib.asynccontextmanager
async def root_session(instance: MysqlInstance) -> AsyncIterator[Session]:
    session = await as_root(instance)
    try:
        yield session
    finally:
        await session.close()


async def gtid_executed(instance: MysqlInstance) -> GtidSet:
    async with root_session(instance) as s:
        return (await instance_facts(s)).gtid_executed


def member(instance: MysqlInstance, server_uuid: str) -> MetadataMember:
    return MetadataMember(server_uuid, instance.address, f"{instance.host}:{instance.x_port}", instance.name)


@dataclass
class Group:
    """A group formed by the group manager over a fleet, who is what in it, and the passes that formed it."""

    fleet: MysqlFleet
    group_name: str
    uuids: dict[int, str]
    primary: int
    passes: list[PassReport]

    @property
    def secondaries(self) -> list[int]:
        return [i for i in self.uuids if i != self.primary]

    def members(self, indexes: list[int] | None = None) -> list[MetadataMember]:
        chosen = sorted(self.uuids) if indexes is None else indexes
        return [member(self.fleet[i], self.uuids[i]) for i in chosen]


async def form_group(fleet: MysqlFleet, connector: MysqlConnector, router: Credentials,
                     timeout: float = 120.0) -> Group:
    """Manager passes until ONLINE with nothing left to do (restarting servers that stop after a clone)."""
    targets = tuple(Target(i, endpoint(inst), group_address=inst.gr_local_address, name=inst.name,
                           x_address=f"{inst.host}:{inst.x_port}") for i, inst in enumerate(fleet.instances))
    group_name = str(uuid.uuid4())
    config = GroupConfig(group_name=group_name, admin=Credentials(ROOT_USER, fleet.password),
                         replication=Credentials("op_repl", secrets.token_urlsafe(16)), communication_stack="MYSQL")
    spec = GroupSpec(key="mysql-tier/cluster1", cluster_name="cluster1", targets=targets,
                     desired=Desired(instances=len(fleet), group_name=group_name), config=config, router=router)
    manager = GroupManager(connector)
    passes: list[PassReport] = []

    async def online() -> Group | None:
        for instance in fleet.instances:
            if not instance.is_running:  # a clone recipient shuts itself down; kubelet would restart it
                instance.start()
        report = await manager.run_pass(spec)
        passes.append(report)
        if report.diagnosis.state == ClusterState.ONLINE and report.plan.action is None:
            assert report.diagnosis.primary is not None
            return Group(fleet, group_name, {i.index: i.uuid for i in report.snapshot.instances},
                         report.diagnosis.primary, passes)
        return None

    group: Group = await eventually(online, timeout=timeout, what="the group ONLINE", interval=0.3)
    return group


async def apply_metadata(group: Group, indexes: list[int] | None = None, *, on: int | None = None) -> bool:
    async with root_session(group.fleet[group.primary if on is None else on]) as s:
        return await ensure_metadata(s, cluster_name="cluster1", cluster_id=cluster_id_for(group.group_name),
                                     group_name=group.group_name, members=group.members(indexes))


async def server_uuid_via(host: str, port: int, password: str, *, timeout: float = 3.0) -> str:
    """Connect through the router, ask which server answered."""
    s = await connect(Endpoint(host, port), Credentials(ROOT_USER, password), connect_timeout=timeout,
                      read_timeout=timeout)
    try:
        row = await s.query_one("SELECT @@server_uuid AS u")
        assert row is not None
        return str(row["u"])
    finally:
        await s.close()


async def answers(host: str, port: int, password: str, count: int) -> list[str]:
    """``count`` fresh connections, one after another: the server uuid each one reached."""
    return [await server_uuid_via(host, port, password) for _ in range(count)]


async def answers_or_none(host: str, port: int, password: str, count: int) -> list[str] | None:
    """:func:`answers`, or None while the router cannot serve yet."""
    try:
        return await answers(host, port, password, count)
    except MysqlError:
        return None


@contextlib.contextmanager
def router_dir(keep_logs_in: Path) -> Iterator[Path]:
    workdir = mysqlrouter.router_workdir()
    try:
        yield workdir
    finally:
        log_dir = workdir / "boot" / "log"
        if log_dir.is_dir():
            shutil.copytree(log_dir, keep_logs_in / "router-log", dirs_exist_ok=True)
        mysqlrouter.remove_workdir(workdir, keep_logs_in=keep_logs_in)


def router_log(workdir: Path) -> str:
    path = workdir / "boot" / "log" / "mysqlrouter.log"
    return path.read_text(errors="replace") if path.exists() else ""


# --- the router against a real group --------------------------------------------------------


async def test_stock_router_bootstraps_routes_and_follows_a_failover(new_fleet: Callable[[int], MysqlFleet],
                                                                     connector: MysqlConnector,
                                                                     tmp_path: Path) -> None:
    fleet = new_fleet(3)
    started = time.monotonic()
    router_password = secrets.token_urlsafe(16)
    group = await form_group(fleet, connector, Credentials(ROUTER_USER, router_password))
    timings = {"group formed": time.monotonic() - started}
    primary = fleet[group.primary]
    password = fleet.password

    # The operator's part, done by the manager's passes: metadata, then the router account (its
    # table grants need the tables), once and then only when the members change.
    upkept = [p.upkeep for p in group.passes if p.upkeep is not None]
    assert upkept and all(u.outcome == UpkeepOutcome.ENSURED for u in upkept), upkept
    assert upkept[0].wrote and upkept[0].router_account_changed
    assert not any(u.router_account_changed for u in upkept[1:])
    before = await gtid_executed(primary)
    assert not await apply_metadata(group)  # the same members: compares, writes nothing ...
    async with root_session(primary) as s:
        assert not (await ensure_router_account(s, ROUTER_USER, router_password)).changed
    assert await gtid_executed(primary) == before  # ... so no transaction, no GTID
    for other in group.secondaries:  # it replicated through the group
        async with root_session(fleet[other]) as s:
            async def this_instance(s: Session = s) -> object:
                return await s.query(f"SELECT mysql_server_uuid AS u FROM {SCHEMA}.v2_this_instance")

            rows = await eventually(this_instance, timeout=30, what=f"the metadata on {fleet[other].name}")
            assert rows == [{"u": group.uuids[other]}]

    bind = fleet.spare_address(0)
    with router_dir(tmp_path / "router") as workdir:
        boot = mysqlrouter.inner(workdir / "boot")
        result = mysqlrouter.bootstrap_with_account(
            [f"{ROUTER_USER}@{primary.address}", "--directory", boot, "--conf-bind-address", bind,
             "--disable-rest", "--report-host", bind, "--name", "router-0", "--account", ROUTER_USER,
             "--account-create", "never", "--connect-timeout", "5"],
            password=router_password)
        assert result.returncode == 0, result.output
        assert router_password not in result.output
        config = (workdir / "boot" / "mysqlrouter.conf").read_text()
        assert f"user={ROUTER_USER}" in config and "metadata_cluster=cluster1" in config
        async with root_session(primary) as s:  # it registered itself through the v2_routers view
            routers = await s.query(f"SELECT router_name, address, version FROM {SCHEMA}.v2_routers")
        assert [(r["router_name"], r["address"]) for r in routers] == [("router-0", bind)]
        assert str(routers[0]["version"]).startswith("9.7")

        router = mysqlrouter.MysqlRouter(workdir / "boot")
        with router.running(ports=[(bind, RW_PORT), (bind, RO_PORT)]):
            # Read-write: every connection reaches the primary.
            rw = await eventually(lambda: answers_or_none(bind, RW_PORT, password, 1), timeout=20,
                                  what="RW port answering")
            assert rw == [group.uuids[group.primary]], router_log(workdir)
            assert set(await answers(bind, RW_PORT, password, 20)) == {group.uuids[group.primary]}
            # Read-only: round robin over both secondaries, never the primary.
            ro = await answers(bind, RO_PORT, password, 30)
            assert set(ro) == {group.uuids[i] for i in group.secondaries}, router_log(workdir)
            assert min(ro.count(group.uuids[i]) for i in group.secondaries) >= 10

            # A member dropped from the metadata is dropped from routing; put back, it is routed to again.
            dropped, kept = group.secondaries
            assert await apply_metadata(group, [group.primary, kept])

            # While the router moves routing, a connection it is handing over may be cut: not yet.
            async def only_kept() -> bool:
                seen = set(await answers_or_none(bind, RO_PORT, password, 6) or ())
                return group.uuids[dropped] not in seen and seen == {group.uuids[kept]}

            t = time.monotonic()
            await eventually(only_kept, timeout=15, what="RO routing without the dropped member")
            timings["member removal followed"] = time.monotonic() - t
            assert set(await answers(bind, RO_PORT, password, 20)) == {group.uuids[kept]}
            assert await apply_metadata(group)

            async def both_again() -> bool:
                seen = set(await answers_or_none(bind, RO_PORT, password, 6) or ())
                return seen == {group.uuids[i] for i in group.secondaries}

            t = time.monotonic()
            await eventually(both_again, timeout=15, what="RO routing to the re-added member")
            timings["member addition followed"] = time.monotonic() - t
            assert not await apply_metadata(group)  # a running router's check-ins are not ours to undo

            # Writes through the router, acknowledged before the crash.
            rw_session = await connect(Endpoint(bind, RW_PORT), Credentials(ROOT_USER, password))
            await rw_session.execute("CREATE DATABASE app")
            await rw_session.execute("CREATE TABLE app.t (id INT PRIMARY KEY)")
            for i in range(1, 21):
                await rw_session.execute("INSERT INTO app.t VALUES (%s)", (i,))
            await rw_session.close()

            # Failover: SIGKILL the primary; the group elects another; the RW port follows.
            survivors = group.secondaries
            for i in survivors:  # expel the dead member at once (default: 5 s more); GR's choice, not Router's
                fleet[i].sql("SET GLOBAL group_replication_member_expel_timeout = 0")
            old = group.uuids[group.primary]
            elected: dict[str, float | str] = {}
            followed: dict[str, float | str] = {}

            async def watch_group() -> None:
                async with root_session(fleet[survivors[0]]) as s:
                    async def elected_now() -> bool:
                        rows = await s.query("SELECT member_id AS id FROM performance_schema.replication_group_members"
                                             " WHERE member_role = 'PRIMARY' AND member_state = 'ONLINE'")
                        new = [str(r["id"]) for r in rows if r["id"] != old]
                        if new:
                            elected.update(uuid=new[0], at=time.monotonic())
                        return bool(new)

                    await eventually(elected_now, timeout=60, what="a new primary", interval=0.01)

            async def watch_router() -> None:
                async def followed_now() -> bool:
                    with contextlib.suppress(MysqlError):
                        got = await server_uuid_via(bind, RW_PORT, password, timeout=2)
                        if got != old and (not elected or got == elected["uuid"]):
                            followed.update(uuid=got, at=time.monotonic())
                            return True
                    return False

                await eventually(followed_now, timeout=60, what="RW routing to the new primary", interval=0.01)

            killed_at = time.monotonic()
            primary.kill()
            await asyncio.wait_for(asyncio.gather(watch_group(), watch_router()), timeout=60)
            assert followed["uuid"] == elected["uuid"]
            election = float(elected["at"]) - killed_at
            follow = float(followed["at"]) - float(elected["at"])
            timings["kill to election (GR)"] = election
            timings["election to RW on new primary (Router)"] = follow
            print("router timings: " + ", ".join(f"{k} {v:.2f}s" for k, v in timings.items()))
            assert follow < 5.0, (timings, router_log(workdir))

            # Every acknowledged write survived, and is read through the router from the new primary.
            # A client reconnects as any would: on a loaded machine one handshake in the seconds after
            # the switch can time out (the router is still dropping the dead destination).
            rows: dict[str, object] = {}

            async def read_back() -> bool:
                try:
                    after = await connect(Endpoint(bind, RW_PORT), Credentials(ROOT_USER, password))
                except MysqlError as e:
                    print(f"reconnect after the failover: {e}")
                    return False
                try:
                    rows["uuid"] = (await after.query_one("SELECT @@server_uuid AS u") or {}).get("u")
                    rows["ids"] = [r["id"] for r in await after.query("SELECT id FROM app.t ORDER BY id")]
                finally:
                    await after.close()
                return True

            await eventually(read_back, timeout=30, what="a session through RW after the failover")
            assert rows == {"uuid": elected["uuid"], "ids": list(range(1, 21))}, router_log(workdir)
            ro_after = await answers(bind, RO_PORT, password, 6)
            assert set(ro_after) == set(group.uuids[i] for i in survivors) - {str(elected["uuid"])}


# --- the schema and its rows on one server ----------------------------------------------------


async def test_ensure_metadata_converges_rows_writes_only_differences_and_refuses_a_foreign_schema(
        new_fleet: Callable[[int], MysqlFleet]) -> None:
    (instance,) = new_fleet(1).instances
    group_name = str(uuid.uuid4())
    cluster_id = cluster_id_for(group_name)
    async with root_session(instance) as s:
        me = (await instance_facts(s)).server_uuid
        a = MetadataMember(me, instance.address, f"{instance.host}:33060", "mysql-0")
        b = MetadataMember(str(uuid.uuid4()), "10.0.0.2:3306", "10.0.0.2:33060", "mysql-1")
        c = MetadataMember(str(uuid.uuid4()), "10.0.0.3:3306", "10.0.0.3:33060", "mysql-2")

        async def ensure(*members: MetadataMember, name: str = "cluster1") -> bool:
            return await ensure_metadata(s, cluster_name=name, cluster_id=cluster_id, group_name=group_name,
                                         members=members)

        async def instances() -> list[tuple[object, ...]]:
            rows = await s.query(f"SELECT instance_id, mysql_server_uuid, label, address, endpoint, xendpoint,"
                                 f" CAST(attributes AS CHAR) AS attributes FROM {SCHEMA}.v2_instances"
                                 f" WHERE cluster_id = %s ORDER BY label", (cluster_id,))
            return [tuple(r.values()) for r in rows]

        assert await ensure(a, b, c)
        assert await s.query(f"SELECT * FROM {SCHEMA}.schema_version") == [
            dict(zip(("major", "minor", "patch"), SCHEMA_VERSION, strict=True))]
        gr_clusters = await s.query(f"SELECT cluster_id, cluster_name, group_name, cluster_type"
                                    f" FROM {SCHEMA}.v2_gr_clusters")
        assert gr_clusters == [{"cluster_id": cluster_id, "cluster_name": "cluster1", "group_name": group_name,
                                "cluster_type": "gr"}]
        assert await s.query(f"SELECT cluster_id, cluster_name, cluster_type, label FROM {SCHEMA}.v2_this_instance") \
            == [{"cluster_id": cluster_id, "cluster_name": "cluster1", "cluster_type": "gr", "label": "mysql-0"}]
        first = await instances()
        assert [(r[1], r[2], r[3], r[4], r[5], r[6]) for r in first] == [
            (m.uuid, m.label, m.address, m.address, m.x_address, "{}") for m in (a, b, c)]

        executed = (await instance_facts(s)).gtid_executed
        assert not await ensure(c, a, b)  # same set, any order: nothing written
        assert (await instance_facts(s)).gtid_executed == executed

        # b moves, c goes, d arrives: one transaction; a's row (and instance_id) untouched.
        b2 = MetadataMember(b.uuid, "10.0.0.22:3306", "10.0.0.22:33060", "mysql-1")
        d = MetadataMember(str(uuid.uuid4()), "10.0.0.4:3306", "10.0.0.4:33060", "mysql-3")
        assert await ensure(a, b2, d)
        after = (await instance_facts(s)).gtid_executed
        assert (after - executed).count == 1
        rows = await instances()
        assert [(r[1], r[4]) for r in rows] == [(a.uuid, a.address), (b.uuid, b2.address), (d.uuid, d.address)]
        assert rows[0] == first[0] and rows[1][0] == first[1][0]

        # Another cluster's rows (a stale group) are removed; a new cluster name is an update.
        stale = str(uuid.uuid4())
        await s.execute(f"INSERT INTO {SCHEMA}.clusters (cluster_id, cluster_name, group_name, attributes)"
                        " VALUES (%s, 'old', %s, '{}')", (stale, str(uuid.uuid4())))
        await s.execute(f"INSERT INTO {SCHEMA}.instances (cluster_id, mysql_server_uuid, label, endpoint, xendpoint,"
                        " attributes) VALUES (%s, %s, 'gone', '10.9.9.9:3306', '10.9.9.9:33060', '{}')",
                        (stale, str(uuid.uuid4())))
        assert await ensure(a, b2, d, name="renamed")
        assert await s.query(f"SELECT cluster_name FROM {SCHEMA}.v2_clusters") == [{"cluster_name": "renamed"}]
        assert await s.query(f"SELECT COUNT(*) AS n FROM {SCHEMA}.v2_instances") == [{"n": 3}]

        # An outdated view (its recorded digest differs) is replaced, alone.
        await s.execute(f"UPDATE {SCHEMA}.operator_ddl SET digest = 'x' WHERE object_name = 'v2_instances'")
        await s.execute("SET GLOBAL general_log_file = %s", (instance.inner(instance.directory / "general.log"),))
        await s.execute("SET GLOBAL general_log = ON")
        assert await ensure(a, b2, d, name="renamed")
        await s.execute("SET GLOBAL general_log = OFF")
        log = (instance.directory / "general.log").read_text()
        assert log.count("CREATE OR REPLACE") == 1 and "VIEW `mysql_innodb_cluster_metadata`.`v2_instances`" in log
        assert "CREATE TABLE" not in log
        executed = (await instance_facts(s)).gtid_executed
        assert not await ensure(a, b2, d, name="renamed")
        assert (await instance_facts(s)).gtid_executed == executed

        # The router account: grants read back, second run grants nothing; it can do Router's writes only.
        router_password = secrets.token_urlsafe(16)
        assert (await ensure_router_account(s, ROUTER_USER, router_password)).changed
        assert not (await ensure_router_account(s, ROUTER_USER, router_password)).changed
        r = await connect(endpoint(instance), Credentials(ROUTER_USER, router_password))
        try:
            assert await r.query(f"SELECT cluster_type FROM {SCHEMA}.v2_this_instance") == [{"cluster_type": "gr"}]
            await r.execute(f"INSERT INTO {SCHEMA}.v2_routers (address, product_name, router_name)"
                            " VALUES ('10.1.1.1', 'MySQL Router', 'r1')")
            await r.execute(f"UPDATE {SCHEMA}.v2_gr_clusters SET router_options = JSON_OBJECT('a', 1)")
            with pytest.raises(QueryError) as info:
                await r.execute(f"UPDATE {SCHEMA}.v2_gr_clusters SET cluster_name = 'mine'")
            assert info.value.errno == 1143  # column-level grant: router_options only
            with pytest.raises(QueryError):
                await r.execute(f"DELETE FROM {SCHEMA}.instances")
        finally:
            await r.close()
        assert not await ensure(a, b2, d, name="renamed")  # Router's rows and options are not ours

        # A schema this module did not make (MySQL Shell's, say) is refused, and left alone.
        await s.execute(f"DROP DATABASE {SCHEMA}")
        await s.execute(f"CREATE DATABASE {SCHEMA}")
        await s.execute(f"CREATE TABLE {SCHEMA}.clusters (cluster_id CHAR(36) PRIMARY KEY, cluster_name VARCHAR(63),"
                        " attributes JSON)")
        executed = (await instance_facts(s)).gtid_executed
        with pytest.raises(MetadataSchemaError, match="clusters"):
            await ensure(a)
        assert (await instance_facts(s)).gtid_executed == executed
