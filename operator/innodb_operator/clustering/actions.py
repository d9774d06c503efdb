"""Execute one planned :class:`~.plan.Action` with idempotent SQL steps.

Contract:
  * Every action first re-checks its precondition against the live servers (the world
    may have moved since the snapshot) and raises :class:`Refused` when it no longer
    holds; the caller observes again on the next pass. Nothing is half-done on refusal.
  * Steps are idempotent: a step that already took effect is skipped or harmless, so an
    action interrupted by a crash can simply run again.
  * Group settings are persisted (``SET PERSIST``) before Group Replication starts, and
    ``group_replication_start_on_boot`` is turned on after a member's first successful
    start, so a restarted member rejoins by itself; a member that leaves for a scale-down
    turns it off.
  * Passwords travel only as driver parameters (:class:`~innodb_operator.mysql.connection.Secret`),
    never in SQL text or logs.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass

import structlog

from innodb_operator.clustering.model import GroupMode, Instance, MemberState, Snapshot
from innodb_operator.clustering.observe import Target, observe_instance
from innodb_operator.clustering.plan import Action, Kind, keeps_majority_without
from innodb_operator.clustering.state import has_majority
from innodb_operator.mysql.accounts import ensure_account, recovery_account
from innodb_operator.mysql.connection import Credentials, Session, connect
from innodb_operator.mysql.errors import MysqlError

log = structlog.get_logger(__name__)

RECOVERY_CHANNEL = "group_replication_recovery"


class Refused(Exception):
    """The action's precondition no longer holds; nothing was changed."""


@dataclass(frozen=True)
class GroupConfig:
    """What every member is configured with: the group's identity, mode, stack and accounts.

    ``mode`` is used only when an action carries none (actions carry the group's current
    mode for a join, the desired one for a bootstrap or reboot).
    ``communication_stack`` is ``XCOM`` (pods, each with its own address) or ``MYSQL``
    (Group Replication over the admin port: needed when members share one host, where
    XCom binds every interface and skips seeds on a local address with its own port).
    """

    group_name: str
    mode: GroupMode
    admin: Credentials
    replication: Credentials
    communication_stack: str = "XCOM"


class Executor:
    """Runs actions against the instances in ``targets`` (by index)."""

    def __init__(self, targets: Sequence[Target], config: GroupConfig, *, connect_timeout: float = 5.0,
                 read_timeout: float = 60.0) -> None:
        self._targets = {t.index: t for t in targets}
        self._config = config
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout

    async def execute(self, action: Action, snapshot: Snapshot) -> str:
        """Run ``action``; return what was done, for logs and events."""
        handler = {
            Kind.BOOTSTRAP: self._bootstrap, Kind.JOIN: self._join, Kind.LEAVE: self._leave,
            Kind.REBOOT: self._reboot, Kind.SET_PRIMARY: self._set_primary, Kind.SET_MODE: self._set_mode,
            Kind.FORCE_QUORUM: self._force_quorum,
        }[action.kind]
        log.info("group action", action=action.kind.value, target=self._target(action.target).address,
                 reason=action.reason)
        return await handler(action, snapshot)

    # --- actions -----------------------------------------------------------------------

    async def _bootstrap(self, action: Action, snapshot: Snapshot) -> str:
        for target in self._targets.values():
            now = await observe_instance(target, self._config.admin, connect_timeout=self._connect_timeout)
            if not now.reachable or now.in_group or now.ever_configured:
                raise Refused(f"not bootstrapping: {target.address} is unreachable, in a group or configured")
        seed = self._target(action.target)
        async with self._session(seed) as session:
            await self._configure(session, seed, action.mode or self._config.mode)
            await self._start(session, seed, bootstrap=True)
            await self._wait_writable(session)
        return f"bootstrapped the group on {seed.address}"

    async def _join(self, action: Action, snapshot: Snapshot) -> str:
        target = self._target(action.target)
        now = await observe_instance(target, self._config.admin, connect_timeout=self._connect_timeout)
        if not now.reachable:
            raise Refused(f"{target.address} is not reachable")
        if now.in_group:
            return f"{target.address} is already {now.state.value}"
        donor = await self._quorate_member(exclude=action.target)
        if donor is None:
            raise Refused("no member with quorum answers; not joining")
        if any(m.state == MemberState.RECOVERING for m in donor.view):
            raise Refused("another member is still recovering; joining one at a time")
        held = donor.transactions
        if now.gtid_executed is not None and held is not None and not held.is_superset(now.gtid_executed):
            raise Refused(f"{target.address} has transactions the group does not have (errant)")
        async with self._session(target) as session:
            if now.state == MemberState.ERROR:
                await session.execute("STOP GROUP_REPLICATION")
            await self._configure(session, target, action.mode or self._config.mode)
            threshold = 1 if action.clone else 9223372036854775807
            await session.execute("SET GLOBAL group_replication_clone_threshold = %s", (threshold,))
            await self._start(session, target, bootstrap=False)
        how = "clone" if action.clone else "incremental recovery"
        return f"{target.address} started joining the group ({how})"

    async def _leave(self, action: Action, snapshot: Snapshot) -> str:
        target = self._target(action.target)
        now = await observe_instance(target, self._config.admin, connect_timeout=self._connect_timeout)
        if not now.reachable:
            raise Refused(f"{target.address} is not reachable; cannot leave cleanly")
        if now.in_group and now.role.value == "PRIMARY" and any(
                m.role.value == "SECONDARY" for m in now.view):
            raise Refused(f"{target.address} is the primary; switch the primary first")
        if now.in_group and not keeps_majority_without(now.view, now.uuid):
            raise Refused(f"the group would lose its majority if {target.address} left now")
        async with self._session(target) as session:
            await session.execute("SET PERSIST group_replication_start_on_boot = OFF")
            if now.in_group:
                await session.execute("STOP GROUP_REPLICATION")
        return f"{target.address} left the group"

    async def _reboot(self, action: Action, snapshot: Snapshot) -> str:
        target = self._target(action.target)
        live = [await observe_instance(t, self._config.admin, connect_timeout=self._connect_timeout)
                for t in self._targets.values()]
        if any(i.in_group for i in live):
            raise Refused("an instance is in a group again; not rebooting")
        overridden = snapshot.desired.reboot_from == action.target
        chosen = next(i for i in live if i.index == action.target)
        if not chosen.reachable:
            raise Refused(f"{target.address} is not reachable")
        if not overridden:
            if any(not i.reachable for i in live):
                raise Refused("an instance is unreachable; cannot prove a complete outage")
            mine = chosen.transactions
            if mine is None or not all(mine.is_superset(i.transactions) for i in live
                                       if i.transactions is not None):
                raise Refused(f"{target.address} no longer holds every transaction")
        async with self._session(target) as session:
            await self._configure(session, target, action.mode or self._config.mode)
            await self._start(session, target, bootstrap=True)
        return f"rebooted the group from {target.address}"

    async def _set_primary(self, action: Action, snapshot: Snapshot) -> str:
        target, now = await self._online(action.target)
        if now.role.value == "PRIMARY":
            return f"{target.address} is already the primary"
        if not has_majority(now.view):
            raise Refused("the group has no majority; not switching the primary")
        async with self._session(target) as session:
            await session.query("SELECT group_replication_set_as_primary(%s) AS result", (now.uuid,))
        return f"{target.address} is now the primary"

    async def _set_mode(self, action: Action, snapshot: Snapshot) -> str:
        target, now = await self._online(action.target)
        if not has_majority(now.view) or any(m.state != MemberState.ONLINE for m in now.view):
            raise Refused("not every member is ONLINE; not switching the group mode")
        mode = action.mode or self._config.mode
        async with self._session(target) as session:
            if mode == GroupMode.MULTI_PRIMARY:
                await session.query("SELECT group_replication_switch_to_multi_primary_mode() AS result")
            else:
                await session.query("SELECT group_replication_switch_to_single_primary_mode(%s) AS result",
                                    (now.uuid,))
        by_uuid = {i.uuid: self._targets.get(i.index) for i in snapshot.instances if i.uuid}
        for member in now.view:
            other = by_uuid.get(member.uuid)
            if other is not None and member.state == MemberState.ONLINE:
                async with self._session(other) as session:
                    await self._persist_mode(session, mode, only=True)
        return f"switched the group to {mode.value}"

    async def _force_quorum(self, action: Action, snapshot: Snapshot) -> str:
        target, now = await self._online(action.target)
        if has_majority(now.view):
            raise Refused("the group has a majority again; not forcing quorum")
        by_uuid = {i.uuid: self._targets.get(i.index) for i in snapshot.instances if i.uuid}
        alive = [by_uuid[m.uuid] for m in now.view if m.state == MemberState.ONLINE and by_uuid.get(m.uuid)]
        addresses = ",".join(t.gr_address for t in alive if t is not None)
        async with self._session(target) as session:
            await session.execute("SET GLOBAL group_replication_force_members = %s", (addresses,))
            await session.execute("SET GLOBAL group_replication_force_members = ''")
        return f"forced quorum from {target.address} with members {addresses}"

    # --- steps -------------------------------------------------------------------------

    async def _online(self, index: int) -> tuple[Target, Instance]:
        """The target and what it says now; Refused unless it is ONLINE."""
        target = self._target(index)
        now = await observe_instance(target, self._config.admin, connect_timeout=self._connect_timeout)
        if now.state != MemberState.ONLINE:
            raise Refused(f"{target.address} is not ONLINE")
        return target, now

    def _target(self, index: int) -> Target:
        try:
            return self._targets[index]
        except KeyError:
            raise Refused(f"no instance with index {index}") from None

    @contextlib.asynccontextmanager
    async def _session(self, target: Target) -> AsyncIterator[Session]:
        try:
            session = await connect(target.endpoint, self._config.admin, connect_timeout=self._connect_timeout,
                                    read_timeout=self._read_timeout)
        except MysqlError as exc:
            raise Refused(f"{target.address}: {exc}") from exc
        try:
            yield session
        finally:
            await session.close()

    async def _configure(self, session: Session, target: Target, mode: GroupMode) -> None:
        """Persist the group settings on a member that is not running Group Replication.

        The recovery account is created locally, outside the binary log (no GTIDs, so it can
        never become an errant transaction): with the MYSQL stack every member authenticates
        group connections with it, so it must exist before the member starts.
        """
        await ensure_account(
            session, recovery_account(self._config.replication.user,
                                      admin_port=self._config.communication_stack == "MYSQL"),
            self._config.replication.password, binlog=False)
        seeds = ",".join(t.gr_address for t in sorted(self._targets.values(), key=lambda t: t.index))
        settings: Mapping[str, object] = {
            "group_replication_group_name": self._config.group_name,
            "group_replication_local_address": target.gr_address,
            "group_replication_group_seeds": seeds,
            "group_replication_recovery_get_public_key": "ON",
            "group_replication_communication_stack": self._config.communication_stack,
        }
        for name, value in settings.items():
            await session.execute(f"SET PERSIST {name} = %s", (value,))
        await self._persist_mode(session, mode, only=False)
        await session.execute(
            f"CHANGE REPLICATION SOURCE TO SOURCE_USER = %s, SOURCE_PASSWORD = %s FOR CHANNEL '{RECOVERY_CHANNEL}'",
            (self._config.replication.user, self._config.replication.password),
        )

    @staticmethod
    async def _persist_mode(session: Session, mode: GroupMode, *, only: bool) -> None:
        verb = "PERSIST_ONLY" if only else "PERSIST"
        single = "ON" if mode == GroupMode.SINGLE_PRIMARY else "OFF"
        everywhere = "OFF" if mode == GroupMode.SINGLE_PRIMARY else "ON"
        if not only and mode == GroupMode.MULTI_PRIMARY:
            await session.execute(f"SET {verb} group_replication_single_primary_mode = {single}")
            await session.execute(f"SET {verb} group_replication_enforce_update_everywhere_checks = {everywhere}")
        else:
            await session.execute(f"SET {verb} group_replication_enforce_update_everywhere_checks = {everywhere}")
            await session.execute(f"SET {verb} group_replication_single_primary_mode = {single}")

    async def _start(self, session: Session, target: Target, *, bootstrap: bool) -> None:
        """START GROUP_REPLICATION; the bootstrap flag is never left on, even if the session dies."""
        await session.execute("SET GLOBAL group_replication_bootstrap_group = %s", ("ON" if bootstrap else "OFF",))
        try:
            await session.execute("START GROUP_REPLICATION")
        finally:
            if bootstrap:
                await self._clear_bootstrap_flag(session, target)
        await session.execute("SET PERSIST group_replication_start_on_boot = ON")

    async def _clear_bootstrap_flag(self, session: Session, target: Target) -> None:
        try:
            await session.execute("SET GLOBAL group_replication_bootstrap_group = OFF")
            return
        except MysqlError:
            pass
        # The session died (a START that timed out): clear it on a fresh one. If the server
        # itself is gone the flag went with it (it is not persisted).
        with contextlib.suppress(Refused, MysqlError):
            async with self._session(target) as fresh:
                await fresh.execute("SET GLOBAL group_replication_bootstrap_group = OFF")

    async def _wait_writable(self, session: Session, timeout: float = 30.0) -> None:
        """Wait until a fresh primary has turned super_read_only off."""
        async with asyncio.timeout(timeout):
            while True:
                row = await session.query_one("SELECT @@global.super_read_only AS sro")
                if row is not None and not int(row["sro"]):
                    return
                await asyncio.sleep(0.2)

    async def _quorate_member(self, *, exclude: int) -> Instance | None:
        """An ONLINE member (other than ``exclude``) whose view has a majority, if one answers."""
        for target in self._targets.values():
            if target.index == exclude:
                continue
            now = await observe_instance(target, self._config.admin, connect_timeout=self._connect_timeout)
            if now.state == MemberState.ONLINE and has_majority(now.view):
                return now
        return None
