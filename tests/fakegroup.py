"""A fake Group Replication world behind the clustering core's MySQL seam, for unit tests.

It implements :class:`innodb_operator.clustering.seam.Connector` and ``Server`` with Group
Replication's semantics, as far as the operator's decisions depend on them:

  * servers have a uuid, GTID sets (``executed``, ``purged``), persisted settings and accounts;
    a wrong password is ``AccessDenied``, a stopped server ``Unreachable``, a hung one never
    answers (until the caller's deadline cancels it);
  * a group has a name, members in join order, a mode and a primary; every member reports the
    same view; a crashed member shows as UNREACHABLE until :meth:`World.expel`; a view holds a
    majority when more than half of its members are reachable, and without one the group
    takes no writes and no configuration change;
  * ``START GROUP_REPLICATION`` bootstraps a new group (even a second one with the same name:
    the fake does what the server does, so tests can prove the operator never asks for it), or
    joins the group of that name: refused for errant transactions, by clone or incremental
    recovery (a joiner that lacks purged transactions needs clone) into RECOVERING, then ONLINE
    at :meth:`World.settle`; start-on-boot rejoins a restarted server by itself;
  * secondaries are ``super_read_only``; replicated writes (metadata, accounts, passwords) go to
    every ONLINE member and add a GTID of the group; local writes (``sql_log_bin=0``) do not.

Nothing here sleeps or uses a clock, except a hung server, which waits to be cancelled.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from innodb_operator.clustering.seam import Target
from innodb_operator.mysql.accounts import AccountChange, AccountSpec
from innodb_operator.mysql.connection import Credentials, Endpoint, Secret
from innodb_operator.mysql.errors import AccessDenied, QueryError, Unreachable
from innodb_operator.mysql.group import ALWAYS_CLONE, GroupSettings
from innodb_operator.mysql.gtid import GtidSet
from innodb_operator.mysql.metadata import MetadataMember
from innodb_operator.mysql.queries import GroupMember, InstanceFacts

ADMIN = "admin"
VERSION = "9.7.4"
_ER_GR_START = 3092
_ER_READ_ONLY = 1290


def uuid_of(index: int) -> str:
    return f"00000000-0000-4000-8000-{index:012d}"


def gtids(source: str, first: int, last: int) -> GtidSet:
    return GtidSet.parse(f"{source}:{first}-{last}") if last >= first else GtidSet()


@dataclass
class FakeServer:
    index: int
    host: str
    uuid: str
    accounts: dict[str, str]
    executed: GtidSet = field(default_factory=GtidSet)
    purged: GtidSet = field(default_factory=GtidSet)
    persisted: dict[str, str] = field(default_factory=dict)
    alive: bool = True
    hung: bool = False
    in_group: FakeGroup | None = None
    clone_threshold: int = 0
    recovery_credentials: tuple[str, str] = ("", "")
    super_read_only: bool = False
    statements: list[str] = field(default_factory=list)
    """What was done to this server, in order (verbs, never passwords)."""

    @property
    def group_name(self) -> str:
        return self.persisted.get("group_name", "")

    @property
    def start_on_boot(self) -> bool:
        return self.persisted.get("start_on_boot") == "ON"

    def state(self) -> str:
        if self.in_group is None:
            return "OFFLINE"
        return self.in_group.states[self.uuid]


@dataclass
class FakeGroup:
    name: str
    single_primary: bool
    members: list[str] = field(default_factory=list)
    states: dict[str, str] = field(default_factory=dict)
    primary: str | None = None
    metadata: tuple[MetadataMember, ...] | None = None
    """What the Router metadata lists (None: never written); replicated with the group."""
    sequence: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def has_majority(self) -> bool:
        reachable = sum(1 for u in self.members if self.states[u] != "UNREACHABLE")
        return bool(self.members) and reachable * 2 > len(self.members)

    def online(self) -> list[str]:
        return [u for u in self.members if self.states[u] == "ONLINE"]

    def role(self, uuid: str) -> str:
        if self.states.get(uuid) != "ONLINE":
            return ""
        return "PRIMARY" if not self.single_primary or uuid == self.primary else "SECONDARY"


class World:
    """Servers and the groups they form; :meth:`connector` is what the operator talks to."""

    def __init__(self, count: int, *, accounts: Mapping[str, str] | None = None,
                 host: Callable[[int], str] = lambda i: f"m-{i}") -> None:
        """``accounts`` (user -> password) exist on every server from the start (made by
        ``init-datadir.sh`` in real pods); ``host`` names server ``i``'s endpoint host."""
        initial = dict(accounts or {ADMIN: "admin-pw", "root": "root-pw"})
        self.servers = [FakeServer(i, host(i), uuid_of(i), dict(initial)) for i in range(count)]
        self.groups: list[FakeGroup] = []
        self.connects = 0
        self.logins: list[str] = []
        """The user of every accepted login, in order."""

    # --- what the operator sees ---------------------------------------------------------

    def targets(self, count: int | None = None, *, running: Sequence[int] | None = None) -> tuple[Target, ...]:
        count = len(self.servers) if count is None else count
        up = set(range(count)) if running is None else set(running)
        hosts = [s.host for s in self.servers]
        return tuple(Target(i, Endpoint(hosts[i], 3306), group_address=f"{hosts[i]}:33061", running=i in up,
                            name=f"pod-{i}", x_address=f"{hosts[i]}:33060") for i in range(count))

    def connector(self) -> FakeConnector:
        return FakeConnector(self)

    def server(self, host: str) -> FakeServer:
        return next(s for s in self.servers if s.host == host)

    # --- building situations -------------------------------------------------------------

    def form(self, members: Sequence[int], *, name: str, primary: int | None = None, single_primary: bool = True,
             transactions: int = 10, replication: tuple[str, str] = ("repl", "repl-pw")) -> FakeGroup:
        """A running group of ``members`` (the first is the primary unless said), with history."""
        group = FakeGroup(name, single_primary)
        self.groups.append(group)
        first = self.servers[members[0] if primary is None else primary]
        history = gtids(name, 1, transactions)
        for index in members:
            server = self.servers[index]
            server.persisted.update(group_name=name, start_on_boot="ON",
                                    single_primary_mode="ON" if single_primary else "OFF")
            server.executed = history
            server.recovery_credentials = replication
            server.accounts.setdefault(*replication)
            group.members.append(server.uuid)
            group.states[server.uuid] = "ONLINE"
            server.in_group = group
        group.primary = first.uuid if single_primary else None
        for _ in range(transactions):
            next(group.sequence)
        self._read_only()
        return group

    def configured(self, index: int, *, name: str, transactions: int = 0, extra: str = "") -> FakeServer:
        """A server that was in group ``name`` (stopped GR), holding ``transactions`` of it and
        ``extra`` GTIDs of its own (errant ones)."""
        server = self.servers[index]
        server.persisted.update(group_name=name, start_on_boot="ON", single_primary_mode="ON")
        server.executed = gtids(name, 1, transactions) | (GtidSet.parse(extra) if extra else GtidSet())
        return server

    def purge(self, index: int, upto: int) -> None:
        server = self.servers[index]
        server.purged = gtids(server.group_name, 1, upto)

    def write(self, count: int = 1) -> None:
        """The application commits ``count`` transactions through the group."""
        for group in self.groups:
            if group.has_majority() and group.online():
                for _ in range(count):
                    self._replicate(group)

    # --- faults ----------------------------------------------------------------------------

    def crash(self, index: int) -> None:
        """mysqld dies: its group's views show it UNREACHABLE until expelled."""
        server = self.servers[index]
        server.alive = False
        group = server.in_group
        if group is not None:
            group.states[server.uuid] = "UNREACHABLE"
            server.in_group = None
            if group.primary == server.uuid and group.has_majority():
                self._elect(group)

    def expel(self) -> None:
        """The expel timeout passed: UNREACHABLE members leave every view that has a majority."""
        for group in self.groups:
            if not group.has_majority():
                continue
            for uuid in [u for u in group.members if group.states[u] == "UNREACHABLE"]:
                group.members.remove(uuid)
                del group.states[uuid]

    def restart(self, index: int) -> None:
        """mysqld starts again: GR is off until it rejoins by start-on-boot (if set)."""
        server = self.servers[index]
        server.alive, server.hung = True, False
        server.in_group = None
        server.super_read_only = bool(server.group_name)
        if server.start_on_boot:
            group = self._quorate(server.group_name)
            if group is not None and server.uuid in group.members:
                group.members.remove(server.uuid)
                del group.states[server.uuid]
            if group is not None:
                self._join(server, group, clone=False)

    def settle(self) -> None:
        """Distributed recovery finishes: RECOVERING members catch up and turn ONLINE."""
        for group in self.groups:
            source = self._source(group)
            for uuid in list(group.members):
                if group.states[uuid] == "RECOVERING":
                    member = self._by_uuid(uuid)
                    if source is not None:
                        member.executed = member.executed | source.executed
                    group.states[uuid] = "ONLINE"
        self._read_only()

    def groups_named(self, name: str) -> list[FakeGroup]:
        """The groups of that name that still exist (some member is not UNREACHABLE)."""
        return [g for g in self.groups if g.name == name and any(st != "UNREACHABLE" for st in g.states.values())]

    # --- internals ----------------------------------------------------------------------

    def _by_uuid(self, uuid: str) -> FakeServer:
        return next(s for s in self.servers if s.uuid == uuid)

    def _source(self, group: FakeGroup) -> FakeServer | None:
        online = [self._by_uuid(u) for u in group.online()]
        return max(online, key=lambda s: s.executed.count, default=None)

    def _quorate(self, name: str) -> FakeGroup | None:
        return next((g for g in self.groups if g.name == name and g.has_majority() and g.online()), None)

    def _elect(self, group: FakeGroup) -> None:
        if group.single_primary:
            online = sorted(group.online())
            group.primary = online[0] if online else None

    def _read_only(self) -> None:
        for server in self.servers:
            group = server.in_group
            if group is not None:
                server.super_read_only = not (group.has_majority() and group.role(server.uuid) == "PRIMARY")

    def _replicate(self, group: FakeGroup) -> None:
        """One transaction certified by ``group``: every ONLINE member applies it."""
        number = next(group.sequence)
        for uuid in group.online():
            member = self._by_uuid(uuid)
            member.executed = member.executed | gtids(group.name, number, number)

    def _join(self, server: FakeServer, group: FakeGroup, *, clone: bool) -> None:
        source = self._source(group)
        if source is not None and not source.executed.is_superset(server.executed):
            raise QueryError(f"{server.host}: ({_ER_GR_START}) the member has transactions not present in the group",
                             errno=_ER_GR_START)
        if source is not None and not clone and not server.executed.is_superset(source.purged):
            group.members.append(server.uuid)
            group.states[server.uuid] = "ERROR"
            server.in_group = group
            return
        if clone and source is not None:
            server.executed = source.executed
        group.members.append(server.uuid)
        group.states[server.uuid] = "RECOVERING"
        server.in_group = group
        self._read_only()

    # --- the seam's verbs, per server ------------------------------------------------------

    def start(self, server: FakeServer, *, bootstrap: bool) -> None:
        name = server.group_name
        if not name:
            raise QueryError(f"{server.host}: ({_ER_GR_START}) group_replication_group_name is not set",
                             errno=_ER_GR_START)
        if server.in_group is not None:
            return
        if bootstrap:
            group = FakeGroup(name, server.persisted.get("single_primary_mode", "ON") == "ON")
            group.members.append(server.uuid)
            group.states[server.uuid] = "ONLINE"
            group.primary = server.uuid if group.single_primary else None
            server.in_group = group
            self.groups.append(group)
            self._read_only()
        else:
            group = self._quorate(name)
            if group is None:
                raise QueryError(f"{server.host}: ({_ER_GR_START}) no group to join", errno=_ER_GR_START)
            self._join(server, group, clone=server.clone_threshold == ALWAYS_CLONE)
        server.persisted["start_on_boot"] = "ON"

    def writer_group(self, server: FakeServer) -> FakeGroup:
        group = server.in_group
        if group is None or server.super_read_only or not group.has_majority():
            raise QueryError(f"{server.host}: ({_ER_READ_ONLY}) the server is running with super_read_only",
                             errno=_ER_READ_ONLY)
        return group

    def replicated(self, server: FakeServer) -> FakeGroup:
        """A binary-logged write on ``server``: it must be the writer; it reaches every member."""
        group = self.writer_group(server)
        self._replicate(group)
        return group


class FakeConnector:
    def __init__(self, world: World) -> None:
        self.world = world

    async def connect(self, endpoint: Endpoint, credentials: Credentials, *, connect_timeout: float,
                      read_timeout: float) -> FakeSession:
        server = self.world.server(endpoint.host)
        self.world.connects += 1
        if server.hung:
            await asyncio.Event().wait()  # never answers; only the caller's deadline ends this
        if not server.alive:
            raise Unreachable(f"{endpoint}: connection refused", errno=2003)
        if server.accounts.get(credentials.user) != credentials.password.reveal():
            raise AccessDenied(f"{endpoint}: access denied for {credentials.user}", errno=1045)
        self.world.logins.append(credentials.user)
        return FakeSession(self.world, server, endpoint)


class FakeSession:
    """One session; implements :class:`innodb_operator.clustering.seam.Server`."""

    def __init__(self, world: World, server: FakeServer, endpoint: Endpoint) -> None:
        self._world = world
        self._server = server
        self._endpoint = endpoint

    @property
    def endpoint(self) -> Endpoint:
        return self._endpoint

    def _alive(self) -> FakeServer:
        if not self._server.alive:
            raise Unreachable(f"{self._endpoint}: lost connection", errno=2013)
        return self._server

    def _did(self, what: str) -> None:
        self._server.statements.append(what)

    async def facts(self) -> InstanceFacts:
        s = self._alive()
        group = s.in_group
        single = (group.single_primary if group is not None
                  else s.persisted.get("single_primary_mode", "ON") == "ON" if s.group_name else None)
        return InstanceFacts(
            server_uuid=s.uuid, server_id=s.index + 1, version=VERSION, report_host=s.host, port=3306,
            gtid_mode="ON", gtid_executed=s.executed, gtid_purged=s.purged, read_only=s.super_read_only,
            super_read_only=s.super_read_only, offline_mode=False, gr_plugin="ACTIVE", clone_plugin="ACTIVE",
            group_name=s.group_name or None, single_primary_mode=single,
            local_address=s.persisted.get("local_address"), group_seeds=(), communication_stack="XCOM",
            start_on_boot=s.start_on_boot if "start_on_boot" in s.persisted else None)

    async def group_members(self) -> list[GroupMember]:
        s = self._alive()
        group = s.in_group
        if group is None:
            return [GroupMember(s.uuid, s.host, 3306, "OFFLINE", "", VERSION, "XCOM")]
        return [GroupMember(u, self._world._by_uuid(u).host, 3306, group.states[u], group.role(u), VERSION, "XCOM")
                for u in sorted(group.members)]

    async def received_transactions(self) -> GtidSet | None:
        return self._alive().executed if self._server.group_name else None

    async def ensure_local_account(self, spec: AccountSpec, password: Secret) -> AccountChange:
        s = self._alive()
        created = spec.user not in s.accounts
        s.accounts.setdefault(spec.user, password.reveal())
        self._did(f"local account {spec.user}")
        return AccountChange(created=created)

    async def configure_group(self, settings: GroupSettings) -> None:
        s = self._alive()
        if s.in_group is not None:
            raise QueryError(f"{self._endpoint}: (3093) cannot configure a running member", errno=3093)
        s.persisted.update(group_name=settings.group_name, local_address=settings.local_address,
                           single_primary_mode="ON" if settings.single_primary else "OFF")
        s.recovery_credentials = (settings.recovery_user, settings.recovery_password.reveal())
        self._did("configure")

    async def set_clone_threshold(self, threshold: int) -> None:
        self._alive().clone_threshold = threshold

    async def start_group(self, *, bootstrap: bool) -> None:
        s = self._alive()
        self._did("start bootstrap" if bootstrap else "start")
        self._world.start(s, bootstrap=bootstrap)

    async def stop_group(self) -> None:
        s = self._alive()
        s.persisted["start_on_boot"] = "OFF"
        self._did("stop")
        group = s.in_group
        if group is None:
            return
        group.members.remove(s.uuid)
        del group.states[s.uuid]
        s.in_group = None
        s.super_read_only = True
        if group.primary == s.uuid:
            self._world._elect(group)
        self._world._read_only()

    async def set_start_on_boot(self, on: bool) -> None:
        self._alive().persisted["start_on_boot"] = "ON" if on else "OFF"

    async def wait_writable(self, timeout: float) -> None:
        if self._alive().super_read_only:
            raise TimeoutError

    async def set_recovery_credentials(self, user: str, password: Secret) -> None:
        self._alive().recovery_credentials = (user, password.reveal())
        self._did("recovery credentials")

    async def persist_mode(self, *, single_primary: bool, only: bool) -> None:
        self._alive().persisted["single_primary_mode"] = "ON" if single_primary else "OFF"

    async def set_as_primary(self, member_uuid: str) -> None:
        group = self._group_with_majority()
        if group.states.get(member_uuid) != "ONLINE":
            raise QueryError(f"{self._endpoint}: (3910) {member_uuid} is not ONLINE", errno=3910)
        group.primary = member_uuid
        self._did(f"set primary {member_uuid}")
        self._world._read_only()

    async def force_members(self, addresses: tuple[str, ...]) -> None:
        s = self._alive()
        group = s.in_group
        if group is None or group.states.get(s.uuid) != "ONLINE":
            raise QueryError(f"{self._endpoint}: (3093) the member is not ONLINE in a group", errno=3093)
        hosts = {a.rpartition(":")[0] for a in addresses}
        keep = [u for u in group.members if self._world._by_uuid(u).host in hosts]
        if s.uuid not in keep or any(group.states[u] == "UNREACHABLE" for u in keep):
            raise QueryError(f"{self._endpoint}: (3094) the forced members must be reachable and include this one",
                             errno=3094)
        group.members = keep
        group.states = {u: group.states[u] for u in keep}
        if group.primary not in keep:
            self._world._elect(group)
        self._did(f"force members {','.join(sorted(hosts))}")
        self._world._read_only()

    async def switch_to_multi_primary(self) -> None:
        group = self._group_with_majority()
        group.single_primary, group.primary = False, None
        self._did("switch to multi-primary")
        self._world._read_only()

    async def switch_to_single_primary(self, primary_uuid: str) -> None:
        group = self._group_with_majority()
        group.single_primary, group.primary = True, primary_uuid
        self._did("switch to single-primary")
        self._world._read_only()

    async def ensure_metadata(self, *, cluster_name: str, cluster_id: str, group_name: str,
                              members: Sequence[MetadataMember], multi_primary: bool) -> bool:
        group = self._world.writer_group(self._alive())
        wanted = tuple(members)
        if group.metadata == wanted:
            return False
        self._world.replicated(self._server)
        group.metadata = wanted
        self._did("metadata")
        return True

    async def ensure_router_account(self, user: str, password: Secret, *, reset_password: bool) -> AccountChange:
        group = self._world.writer_group(self._alive())
        created = user not in self._server.accounts
        if not created and not reset_password:
            return AccountChange()
        self._world.replicated(self._server)
        for uuid in group.online():
            self._world._by_uuid(uuid).accounts[user] = password.reveal()
        self._did("router account")
        return AccountChange(created=created, password_reset=not created)

    async def ensure_metrics_account(self, user: str, password: Secret | None) -> bool:
        group = self._world.writer_group(self._alive())
        if password is None and user not in self._server.accounts:
            return False
        self._world.replicated(self._server)
        for uuid in group.online():
            accounts = self._world._by_uuid(uuid).accounts
            if password is None:
                accounts.pop(user, None)
            else:
                accounts[user] = password.reveal()
        self._did("metrics account")
        return True

    async def set_password(self, user: str, host: str, password: Secret, *, binlog: bool = True) -> bool:
        server = self._alive()
        if not binlog:
            if user not in server.accounts:
                return False
            server.accounts[user] = password.reveal()
            self._did(f"local password {user}")
            return True
        group = self._world.writer_group(server)
        if user not in server.accounts:
            return False
        self._world.replicated(server)
        for uuid in group.online():
            member = self._world._by_uuid(uuid)
            if user in member.accounts:
                member.accounts[user] = password.reveal()
        self._did(f"password {user}")
        return True

    async def close(self) -> None:
        return None

    def _group_with_majority(self) -> FakeGroup:
        group = self._alive().in_group
        if group is None or not group.has_majority():
            raise QueryError(f"{self._endpoint}: (3092) the group has no majority", errno=_ER_GR_START)
        return group
