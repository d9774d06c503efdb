"""The mysqld fleet (innodb_dev.mysqld) and the mysql/ layer against real mysqld 9.7 and mysqlrouter.

The Group Replication smoke tests here form groups with plain SQL of their own, independently of
the product's ``mysql/group.py`` (which test_manager_real_groups.py exercises through the group manager).
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import re
import secrets
import signal
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from innodb_dev import mysqlrouter
from innodb_dev.mysqld import BINLOG_BASENAME, ROOT_USER, MysqlFleet, MysqlInstance
from innodb_dev.waiting import eventually
from innodb_operator.clustering.actions import GroupConfig
from innodb_operator.clustering.manager import GroupManager, GroupSpec, Timeouts
from innodb_operator.clustering.model import Desired, MemberState, Role
from innodb_operator.clustering.plan import Reason, next_action
from innodb_operator.clustering.seam import Target
from innodb_operator.mysql import (
    AccessDenied,
    Credentials,
    Endpoint,
    GtidSet,
    QueryError,
    Secret,
    Session,
    Unreachable,
    connect,
)
from innodb_operator.mysql.accounts import (
    admin_account,
    backup_account,
    ensure_account,
    recovery_account,
    router_account,
)
from innodb_operator.mysql.instance import MysqlConnector
from innodb_operator.mysql.queries import (
    clone_progress,
    group_members,
    instance_facts,
    recovery_channel_state,
)
from unit.test_gtid import CANONICAL, MALFORMED

RECOVERY_USER = "gr_recovery"


def endpoint(instance: MysqlInstance) -> Endpoint:
    return Endpoint(instance.host, instance.port)


async def as_root(instance: MysqlInstance, *, read_timeout: float = 30) -> Session:
    return await connect(endpoint(instance), Credentials(ROOT_USER, instance.password), read_timeout=read_timeout)


def listeners(pid: int) -> list[str]:
    """Local addresses (ip:port) the process listens on, TCP."""
    out = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, check=True).stdout
    return [line.split()[3] for line in out.splitlines() if f"pid={pid}," in line]


def process_name(pid: int) -> str:
    return Path(f"/proc/{pid}/comm").read_text().strip()


# --- Group Replication setup, in test code for now -------------------------------------


async def prepare_member(instance: MysqlInstance, group_name: str, seeds: str, recovery_password: str, *,
                         channel_credentials: bool) -> None:
    """Recovery account (made locally: no GTIDs), group name and seeds; optionally the
    recovery channel's stored credentials (else they come with START GROUP_REPLICATION)."""
    s = await as_root(instance)
    try:
        await ensure_account(s, recovery_account(RECOVERY_USER, admin_port=True), recovery_password, binlog=False)
        if channel_credentials:
            await s.execute(
                "CHANGE REPLICATION SOURCE TO SOURCE_USER = %s, SOURCE_PASSWORD = %s"
                " FOR CHANNEL 'group_replication_recovery'", (RECOVERY_USER, Secret(recovery_password)))
        await s.execute("SET GLOBAL group_replication_group_name = %s", (group_name,))
        await s.execute("SET GLOBAL group_replication_group_seeds = %s", (seeds,))
    finally:
        await s.close()


async def start_group_replication(instance: MysqlInstance, recovery_password: str | None, *,
                                  bootstrap: bool = False) -> None:
    """START GROUP_REPLICATION [USER=.., PASSWORD=..], bootstrapping the group if asked."""
    s = await as_root(instance, read_timeout=120)
    try:
        if bootstrap:
            await s.execute("SET GLOBAL group_replication_bootstrap_group = ON")
        try:
            if recovery_password is None:
                await s.execute("START GROUP_REPLICATION")
            else:
                await s.execute("START GROUP_REPLICATION USER = %s, PASSWORD = %s",
                                (RECOVERY_USER, Secret(recovery_password)))
        finally:
            if bootstrap:
                await s.execute("SET GLOBAL group_replication_bootstrap_group = OFF")
    finally:
        await s.close()


async def form_group(fleet: MysqlFleet, recovery_password: str, *, channel_credentials: bool) -> None:
    """Bootstrap on the first instance, join the others one by one, wait until all are ONLINE."""
    group_name = str(uuid.uuid4())
    seeds = ",".join(i.gr_local_address for i in fleet.instances)
    await asyncio.gather(*(prepare_member(i, group_name, seeds, recovery_password,
                                          channel_credentials=channel_credentials) for i in fleet.instances))
    await start_group_replication(fleet[0], None if channel_credentials else recovery_password, bootstrap=True)
    for instance in fleet.instances[1:]:
        await start_group_replication(instance, recovery_password)
    s = await as_root(fleet[0])
    try:
        async def all_online() -> object:
            members = await group_members(s)
            return len(members) == len(fleet) and all(m.state == MemberState.ONLINE for m in members)

        await eventually(all_online, what=f"{len(fleet)} members ONLINE")
    finally:
        await s.close()


# --- the fleet -------------------------------------------------------------------------


async def test_three_instances_answer_on_their_own_loopback_addresses(fleet: MysqlFleet) -> None:
    answers = []
    for instance in fleet.instances:
        s = await as_root(instance)
        try:
            answers.append(await s.query_one("SELECT @@hostname AS hostname, @@server_id AS server_id,"
                                             " @@report_host AS report_host, @@port AS port"))
        finally:
            await s.close()
        assert instance.pid is not None
        bound = listeners(instance.pid)
        assert sorted(bound) == sorted([f"{instance.host}:3306", f"{instance.host}:33060", instance.gr_local_address])
    hosts = [a["report_host"] for a in answers if a]
    assert hosts == [i.host for i in fleet.instances]
    assert len(set(hosts)) == 3 and all(h.startswith("127.") for h in hosts)
    assert len({a["server_id"] for a in answers if a}) == 3
    assert {a["port"] for a in answers if a} == {3306}


async def test_instance_facts_show_gtid_mode_on_and_the_plugins_loaded(root_session: Session,
                                                                      fleet: MysqlFleet) -> None:
    facts = await instance_facts(root_session)
    assert facts.gtid_mode == "ON"
    assert facts.gr_plugin_active and facts.clone_plugin_active
    assert facts.report_host == fleet[0].host and facts.port == 3306
    assert facts.version.startswith("9.7")
    assert facts.local_address == fleet[0].gr_local_address
    assert facts.communication_stack == "MYSQL"
    assert facts.single_primary_mode is True and facts.start_on_boot is False
    assert facts.group_name is None and facts.group_seeds == ()
    assert not facts.read_only and not facts.super_read_only
    assert facts.gtid_purged.is_empty
    assert facts.gtid_executed.uuids <= {facts.server_uuid}  # a fresh instance: only its own, if any
    members = await group_members(root_session)
    assert [(m.member_id, m.state, m.role) for m in members] == [(facts.server_uuid, "OFFLINE", "")]
    assert await recovery_channel_state(root_session) is None
    assert await clone_progress(root_session) is None


async def test_killed_instance_is_unreachable_quickly_and_comes_back_with_its_data(
        new_fleet: Callable[[int], MysqlFleet]) -> None:
    (instance,) = new_fleet(1).instances
    s = await as_root(instance)
    await s.execute("CREATE DATABASE crash")
    await s.execute("CREATE TABLE crash.t (id INT PRIMARY KEY)")
    await s.execute("INSERT INTO crash.t VALUES (1), (2), (3)")
    before = (await instance_facts(s)).gtid_executed
    assert before.count == 3

    instance.kill()  # SIGKILL: what a crash of the pod's process looks like
    with pytest.raises(Unreachable):
        await s.query("SELECT 1")  # the open session notices
    assert s.closed
    started = time.monotonic()
    with pytest.raises(Unreachable):
        await connect(endpoint(instance), Credentials(ROOT_USER, instance.password), connect_timeout=3)
    assert time.monotonic() - started < 3  # refused, not a timeout

    instance.start()
    s = await as_root(instance)
    try:
        assert await s.query("SELECT id FROM crash.t ORDER BY id") == [{"id": 1}, {"id": 2}, {"id": 3}]
        after = (await instance_facts(s)).gtid_executed
        assert before <= after and after == before  # every acknowledged transaction survived
    finally:
        await s.close()


async def test_a_read_timeout_bounds_a_hung_statement_and_cancel_closes_the_session(fleet: MysqlFleet) -> None:
    s = await as_root(fleet[1], read_timeout=1)
    started = time.monotonic()
    with pytest.raises(Unreachable):
        await s.query("SELECT SLEEP(10)")
    assert time.monotonic() - started < 5 and s.closed

    s = await as_root(fleet[1])
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(s.query("SELECT SLEEP(10)"), 0.5)
    assert s.closed
    with pytest.raises(Unreachable):
        await s.query("SELECT 1")


async def test_a_hung_server_bounds_observe_connect_and_queries_and_the_others_are_observed(
        new_fleet: Callable[[int], MysqlFleet], connector: MysqlConnector) -> None:
    """SIGSTOP: the kernel still accepts the TCP connection, but the server never answers (a hung pod)."""
    fleet = new_fleet(3)
    connect_timeout, read_timeout = 2.0, 3.0
    root = Credentials(ROOT_USER, fleet.password)
    targets = tuple(Target(i, endpoint(inst), group_address=inst.gr_local_address, name=inst.name)
                    for i, inst in enumerate(fleet.instances))
    config = GroupConfig(group_name=str(uuid.uuid4()), admin=root, communication_stack="MYSQL",
                         replication=Credentials("innodbop-repl", secrets.token_urlsafe(16)))
    spec = GroupSpec(key="mysql-tier/hung", cluster_name="hung", targets=targets,
                     desired=Desired(instances=3, group_name=config.group_name), config=config,
                     router=Credentials("innodbop-router", secrets.token_urlsafe(16)))
    manager = GroupManager(connector, timeouts=Timeouts(connect=connect_timeout, observe=read_timeout))
    hung = fleet[1]
    pid = hung.pid
    assert pid is not None and process_name(pid) == "mysqld"  # chroot exec'd it: the signal reaches mysqld
    early = await connect(endpoint(hung), root, connect_timeout=connect_timeout, read_timeout=read_timeout)
    timings: dict[str, float] = {}
    os.kill(pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        snapshot, diagnosis = await manager.observe(spec)
        timings["observe (MysqlConnector)"] = time.monotonic() - started
        stopped = snapshot.instances[1]
        assert not stopped.reachable and stopped.state == MemberState.UNREACHABLE
        for seen in (snapshot.instances[0], snapshot.instances[2]):
            assert seen.reachable and seen.state == MemberState.OFFLINE and seen.version.startswith("9.7")
            assert seen.uuid and seen.gtid_executed is not None and seen.super_read_only is False
        plan = next_action(snapshot, diagnosis)  # never bootstrap while an instance might hold a group
        assert (plan.action, plan.reason, plan.subjects) == (None, Reason.WAITING_FOR_PODS, (1,))

        started = time.monotonic()
        with pytest.raises(Unreachable):
            await connect(endpoint(hung), root, connect_timeout=connect_timeout, read_timeout=read_timeout)
        timings["connect()"] = time.monotonic() - started

        started = time.monotonic()
        with pytest.raises(Unreachable):
            await early.query("SELECT 1")
        timings["query on a session opened before"] = time.monotonic() - started
        assert early.closed
    finally:
        os.kill(pid, signal.SIGCONT)
        await early.close()
    print(f"hung server (connect_timeout {connect_timeout:.0f}s, read_timeout {read_timeout:.0f}s): "
          + ", ".join(f"{k} {v:.2f}s" for k, v in timings.items()))
    assert timings["observe (MysqlConnector)"] < connect_timeout + read_timeout + 1.0, timings
    assert timings["connect()"] < connect_timeout + 1.5, timings
    assert timings["query on a session opened before"] < read_timeout + 1.5, timings

    async def all_reachable() -> bool:  # continued, it answers again
        snapshot, _ = await manager.observe(spec)
        return all(i.reachable for i in snapshot.instances)

    await eventually(all_reachable, timeout=30, what="the continued server observed again")


async def test_query_errors_carry_the_server_errno(root_session: Session) -> None:
    with pytest.raises(QueryError) as info:
        await root_session.query("SELECT * FROM mysql.no_such_table")
    assert info.value.errno == 1146
    with pytest.raises(QueryError) as info:
        await root_session.execute("SET GLOBAL no_such_variable = 1")
    assert info.value.errno == 1193
    assert await root_session.query_one("SELECT %s + 1 AS n", (41,)) == {"n": 42}


async def test_tls_is_used_when_offered_and_can_be_required_or_disabled(fleet: MysqlFleet) -> None:
    ssl_version = ("SELECT variable_value AS v FROM performance_schema.session_status"
                   " WHERE variable_name = 'Ssl_version'")
    for tls, encrypted in ((None, True), (True, True), (False, False)):
        s = await connect(endpoint(fleet[0]), Credentials(ROOT_USER, fleet.password), tls=tls)
        try:
            row = await s.query_one(ssl_version)
            assert s.tls is encrypted and bool(row and row["v"]) is encrypted
        finally:
            await s.close()


# --- GTIDs -----------------------------------------------------------------------------


async def test_gtid_sets_from_a_real_server_parse_and_round_trip(fleet: MysqlFleet) -> None:
    s = await as_root(fleet[2])
    try:
        schema = f"gtid_{secrets.token_hex(3)}"
        await s.execute(f"CREATE DATABASE {schema}")
        await s.execute(f"CREATE TABLE {schema}.t (id INT PRIMARY KEY)")
        for n, tag in enumerate(["", "alpha", "", "Beta_2", "alpha"]):
            await s.execute("SET gtid_next = %s", (f"AUTOMATIC:{tag}" if tag else "AUTOMATIC",))
            await s.execute(f"INSERT INTO {schema}.t VALUES (%s)", (n,))
        await s.execute("SET gtid_next = 'AUTOMATIC'")
        row = await s.query_one("SELECT @@global.gtid_executed AS executed, @@server_uuid AS me")
        assert row is not None
        executed = GtidSet.parse(row["executed"])
        assert str(executed) == row["executed"]  # byte for byte what the server prints
        assert executed.intervals(row["me"], "alpha") == ((1, 2),) and executed.intervals(row["me"], "beta_2")

        async def server(sql: str, *args: str) -> object:
            answer = await s.query_one(sql, args)
            assert answer is not None
            return next(iter(answer.values()))

        for text, canonical in CANONICAL:  # the unit tier's expectations, confirmed by the server
            assert await server("SELECT GTID_SUBTRACT(%s, '') AS v", text) == canonical, text
        for text in MALFORMED:
            with pytest.raises(QueryError) as info:
                await server("SELECT GTID_SUBTRACT(%s, '') AS v", text)
            assert info.value.errno == 1772, text

        rng = random.Random(7)
        uuids = [row["me"], "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa"]
        for _ in range(40):
            a, b = (random_set(rng, uuids) for _ in range(2))
            assert await server("SELECT GTID_SUBTRACT(%s, %s) AS v", str(a), str(b)) == str(a - b)
            assert await server("SELECT GTID_SUBTRACT(CONCAT(%s, ',', %s), '') AS v", str(a), str(b)) == str(a | b)
            assert bool(await server("SELECT GTID_SUBSET(%s, %s) AS v", str(a), str(b))) == a.is_subset(b)
    finally:
        await s.close()


def random_set(rng: random.Random, uuids: list[str]) -> GtidSet:
    items: dict[tuple[str, str], list[tuple[int, int]]] = {}
    for _ in range(rng.randint(0, 5)):
        start = rng.randint(1, 30)
        key = (rng.choice(uuids), rng.choice(["", "", "x", "tag_b"]))
        items.setdefault(key, []).append((start, start + rng.randint(0, 6)))
    return GtidSet(items)


# --- accounts --------------------------------------------------------------------------


async def create_metadata_placeholder(s: Session) -> None:
    """Just the objects the router account's grants name (the real schema comes later)."""
    await s.execute("CREATE DATABASE IF NOT EXISTS mysql_innodb_cluster_metadata")
    await s.execute("CREATE TABLE IF NOT EXISTS mysql_innodb_cluster_metadata.routers (router_id INT PRIMARY KEY)")
    await s.execute("CREATE OR REPLACE VIEW mysql_innodb_cluster_metadata.v2_routers AS"
                    " SELECT router_id FROM mysql_innodb_cluster_metadata.routers")


async def test_accounts_are_created_idempotently_and_can_log_in(fleet: MysqlFleet) -> None:
    instance = fleet[1]
    s = await as_root(instance)
    suffix = secrets.token_hex(3)
    passwords = {kind: secrets.token_urlsafe(16) for kind in ("admin", "router", "backup", "recovery")}
    specs = {
        "admin": admin_account(f"op_admin_{suffix}"),
        "router": router_account(f"op_router_{suffix}"),
        "backup": backup_account(f"op_backup_{suffix}"),
        "recovery": recovery_account(f"op_recovery_{suffix}", admin_port=True),
    }
    try:
        await create_metadata_placeholder(s)
        first = {k: await ensure_account(s, spec, passwords[k]) for k, spec in specs.items()}
        assert all(c.created and c.granted for c in first.values())
        gtids = (await instance_facts(s)).gtid_executed
        second = {k: await ensure_account(s, spec, passwords[k]) for k, spec in specs.items()}
        assert not any(c.changed for c in second.values()), second
        assert (await instance_facts(s)).gtid_executed == gtids  # nothing executed: no transactions

        for kind, spec in specs.items():
            login = await connect(endpoint(instance), Credentials(spec.user, passwords[kind]))
            assert (await login.query_one("SELECT CURRENT_USER() AS me")) == {"me": f"{spec.user}@%"}
            await login.close()
            with pytest.raises(AccessDenied):
                await connect(endpoint(instance), Credentials(spec.user, "wrong-" + passwords[kind]))

        # each account can do its job, and not much more
        router = await connect(endpoint(instance), Credentials(specs["router"].user, passwords["router"]))
        assert await router.query("SELECT member_state FROM performance_schema.replication_group_members")
        await router.execute("INSERT INTO mysql_innodb_cluster_metadata.routers VALUES (%s)",
                             (random.randint(1, 10**9),))
        with pytest.raises(QueryError) as info:
            await router.execute("CREATE DATABASE nope")
        assert info.value.errno == 1044
        await router.close()
        backup = await connect(endpoint(instance), Credentials(specs["backup"].user, passwords["backup"]))
        await backup.execute("LOCK INSTANCE FOR BACKUP")
        await backup.execute("UNLOCK INSTANCE")
        with pytest.raises(QueryError) as info:
            await backup.execute("CREATE USER nobody_here")
        assert info.value.errno == 1227
        await backup.close()
        admin = await connect(endpoint(instance), Credentials(specs["admin"].user, passwords["admin"]))
        other = backup_account(f"made_by_admin_{suffix}")
        assert (await ensure_account(admin, other, secrets.token_urlsafe(12))).created  # GRANT OPTION works
        await admin.close()

        # a password reset is explicit: the old password stops working, the new one works
        new_password = secrets.token_urlsafe(16)
        change = await ensure_account(s, specs["backup"], new_password, reset_password=True)
        assert change.password_reset and not change.created and not change.granted
        with pytest.raises(AccessDenied):
            await connect(endpoint(instance), Credentials(specs["backup"].user, passwords["backup"]))
        await (await connect(endpoint(instance), Credentials(specs["backup"].user, new_password))).close()

        # binlog=False makes the account without a transaction (for instances outside a group)
        before = (await instance_facts(s)).gtid_executed
        local = await ensure_account(s, backup_account(f"local_{suffix}"), secrets.token_urlsafe(12), binlog=False)
        assert local.created and (await instance_facts(s)).gtid_executed == before
    finally:
        await s.close()


# --- Group Replication smoke test ------------------------------------------------------


async def test_a_group_of_three_forms_and_replicates(new_fleet: Callable[[int], MysqlFleet]) -> None:
    fleet = new_fleet(3)
    await form_group(fleet, secrets.token_urlsafe(16), channel_credentials=False)

    sessions = [await as_root(i) for i in fleet.instances]
    try:
        members = await group_members(sessions[1])
        assert sorted(m.address for m in members) == sorted(i.address for i in fleet.instances)
        roles = [m.role for m in members]
        assert roles.count(Role.PRIMARY) == 1 and roles.count(Role.SECONDARY) == 2
        primary = next(m for m in members if m.role == Role.PRIMARY)
        assert primary.host == fleet[0].host and all(m.communication_stack == "MySQL" for m in members)

        facts = [await instance_facts(s) for s in sessions]
        assert len({f.group_name for f in facts}) == 1 and facts[0].group_name
        assert [f.super_read_only for f in facts] == [False, True, True]
        joiner = await recovery_channel_state(sessions[2])
        assert joiner is not None and joiner.receiver_state == "OFF" and not joiner.failing

        await sessions[0].execute("CREATE DATABASE smoke")
        await sessions[0].execute("CREATE TABLE smoke.t (id INT PRIMARY KEY)")
        await sessions[0].execute("INSERT INTO smoke.t VALUES (1), (2)")
        written = (await instance_facts(sessions[0])).gtid_executed
        for s in sessions[1:]:
            async def caught_up(s: Session = s) -> object:
                return written <= (await instance_facts(s)).gtid_executed

            await eventually(caught_up, timeout=30, what=f"{s.endpoint} applying the primary's writes")
            assert await s.query("SELECT id FROM smoke.t ORDER BY id") == [{"id": 1}, {"id": 2}]
        with pytest.raises(QueryError) as info:
            await sessions[1].execute("INSERT INTO smoke.t VALUES (3)")
        assert info.value.errno == 1290  # super_read_only on a secondary
    finally:
        for s in sessions:
            await s.close()


async def test_clone_progress_reports_a_finished_clone(new_fleet: Callable[[int], MysqlFleet]) -> None:
    donor, recipient = new_fleet(2).instances
    d = await as_root(donor)
    await d.execute("CREATE DATABASE cloned")
    await d.execute("CREATE TABLE cloned.t (id INT PRIMARY KEY)")
    await d.execute("INSERT INTO cloned.t VALUES (7)")
    donor_gtids = (await instance_facts(d)).gtid_executed
    await d.close()

    r = await as_root(recipient, read_timeout=120)
    await r.execute("SET GLOBAL clone_valid_donor_list = %s", (donor.address,))
    with pytest.raises((QueryError, Unreachable)) as info:  # clone done; no supervisor to restart it
        await r.execute("CLONE INSTANCE FROM %s@%s:%s IDENTIFIED BY %s",
                        (ROOT_USER, donor.host, donor.port, Secret(donor.password)))
    assert donor.password not in str(info.value)
    await r.close()

    await eventually(lambda: not recipient.is_running, timeout=30, what="the clone recipient to shut down")
    recipient.stop()
    recipient.start()
    r = await as_root(recipient)
    try:
        status = await clone_progress(r)
        assert status is not None and status.completed, status
        assert status.source == donor.address and status.error_number == 0
        assert status.gtid_executed == donor_gtids and status.percent == 100.0
        assert [st.stage for st in status.stages][:3] == ["DROP DATA", "FILE COPY", "PAGE COPY"]
        assert await r.query("SELECT id FROM cloned.t") == [{"id": 7}]
    finally:
        await r.close()


# --- a real router ---------------------------------------------------------------------


async def test_router_routes_to_an_instance_and_bootstrap_output_is_captured(fleet: MysqlFleet,
                                                                              tmp_path: Path) -> None:
    workdir = mysqlrouter.router_workdir()
    bind = fleet.spare_address(0)
    try:
        mysqlrouter.static_config(workdir, bind_address=bind, port=6446, destinations=[fleet[2].address])
        with mysqlrouter.MysqlRouter(workdir).running(ports=[(bind, 6446)]) as router:
            s = await connect(Endpoint(bind, 6446), Credentials(ROOT_USER, fleet.password))
            assert await s.query_one("SELECT @@report_host AS h") == {"h": fleet[2].host}
            await s.close()
            assert router.pid is not None and listeners(router.pid) == [f"{bind}:6446"]

        result = mysqlrouter.bootstrap(
            [f"{ROOT_USER}@{fleet[0].address}", "--directory", mysqlrouter.inner(workdir / "boot"),
             "--conf-bind-address", bind, "--disable-rest", "--report-host", bind, "--connect-timeout", "5"],
            password=fleet.password)
        assert result.returncode != 0  # no InnoDB Cluster metadata schema yet (future work)
        assert "metadata" in result.output.lower(), result.output
        assert fleet.password not in result.output
    finally:
        mysqlrouter.remove_workdir(workdir, keep_logs_in=tmp_path / "router")


# --- secrets ---------------------------------------------------------------------------


async def test_no_password_appears_in_any_log_or_output(new_fleet: Callable[[int], MysqlFleet],
                                                        caplog: pytest.LogCaptureFixture,
                                                        capfd: pytest.CaptureFixture[str]) -> None:
    """Do everything that handles a password, with every log on, then search all of it."""
    caplog.set_level(logging.DEBUG)
    fleet = new_fleet(2)
    recovery_password = secrets.token_urlsafe(16)
    admin_password = secrets.token_urlsafe(16)
    wrong_password = secrets.token_urlsafe(16)
    canary = f"canary-{secrets.token_hex(8)}"
    passwords = [fleet.password, recovery_password, admin_password, wrong_password]
    errors: list[str] = []

    for instance in fleet.instances:
        s = await as_root(instance)
        general = instance.directory / "general.log"
        await s.execute("SET GLOBAL general_log_file = %s", (instance.inner(general),))
        await s.execute("SET GLOBAL general_log = ON")
        await s.close()

    await form_group(fleet, recovery_password, channel_credentials=True)  # both ways to pass them
    s = await as_root(fleet[0])
    try:
        await ensure_account(s, admin_account("op_admin"), admin_password)
        await ensure_account(s, admin_account("op_admin"), admin_password, reset_password=True)
        for bad in ("CREATE USER op_admin IDENTIFIED BY %s BROKEN", "SELECT %s FROM no_such_table"):
            try:
                await s.execute(bad, (Secret(admin_password),))
            except QueryError as exc:
                errors.append(repr(exc) + str(exc))
        try:
            await connect(endpoint(fleet[1]), Credentials("op_admin", wrong_password))
        except AccessDenied as exc:
            errors.append(repr(exc) + str(exc))
        errors.append(repr(Credentials("op_admin", admin_password)) + repr(s))
        await s.query("SELECT %s AS canary", (canary,))  # a plain value: the scan must find it
    finally:
        await s.close()
    boot = mysqlrouter.bootstrap([f"op_admin@{fleet[0].address}", "--directory", "/tmp/never-made",
                                  "--conf-bind-address", fleet.spare_address(0), "--disable-rest",
                                  "--report-host", fleet.spare_address(0)], password=admin_password)

    texts = {"errors": "\n".join(errors), "router bootstrap": boot.output, "python logs": caplog.text}
    captured = capfd.readouterr()
    texts["stdout/stderr"] = captured.out + captured.err
    for instance in fleet.instances:
        for name in ("error.log", "stdout.log", "general.log"):
            texts[f"{instance.name}/{name}"] = (instance.directory / name).read_text(errors="replace")
        binlogs = sorted(p.name for p in instance.datadir.glob(f"{BINLOG_BASENAME}.0*"))
        decoded = await asyncio.to_thread(
            subprocess.run, ["chroot", str(instance.root), "mysqlbinlog", "-v",
                             *(instance.inner(instance.datadir / b) for b in binlogs)],
            capture_output=True, text=True, check=True)
        texts[f"{instance.name}/binlogs"] = decoded.stdout
    assert "CREATE USER" in texts[f"{fleet[0].name}/binlogs"] and "op_admin" in texts[f"{fleet[0].name}/general.log"]
    assert "CHANGE REPLICATION SOURCE" in texts[f"{fleet[1].name}/general.log"]
    assert canary in texts[f"{fleet[0].name}/general.log"]  # the logs do hold statement values
    leaks = [(where, re.sub(r"\s+", " ", text[max(0, text.find(pw) - 80):text.find(pw) + 20]))
             for where, text in texts.items() for pw in passwords if pw in text]
    assert not leaks, leaks
