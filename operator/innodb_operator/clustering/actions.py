"""Execute one planned :class:`~.plan.Action` with idempotent steps, through the MySQL seam.

Contract:
  * :meth:`Executor.execute` returns an :class:`ActionResult`, never raises for MySQL trouble:
      - ``DONE``: the steps ran;
      - ``ALREADY``: the live servers show the effect is already there (nothing ran);
      - ``REFUSED``: the precondition no longer held against the live servers (the world moved
        since the snapshot), they could not be asked, or the target is busy with a start of its
        own (``STARTING``); nothing was changed;
      - ``PARTIAL``: a step failed after earlier ones may have taken effect. Every step is
        idempotent, so the next pass simply plans again.
    ``refusal`` says why (a :class:`Refusal`), ``detail`` carries the server's words for logs.
  * Preconditions are re-checked on every instance involved, in parallel.
  * Group settings are persisted before Group Replication starts, and start-on-boot is turned
    on after a member's first successful start, so a restarted member rejoins by itself; a
    member that leaves for a scale-down turns it off.
  * Passwords travel only as :class:`~innodb_operator.mysql.connection.Secret` parameters.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

import structlog

from innodb_operator.clustering.model import GroupMode, Instance, MemberState, Role, Snapshot
from innodb_operator.clustering.observe import observe_instance
from innodb_operator.clustering.plan import Action, Kind, keeps_majority_without
from innodb_operator.clustering.seam import Connector, Server, Target
from innodb_operator.clustering.state import has_majority
from innodb_operator.mysql.accounts import recovery_account
from innodb_operator.mysql.connection import Credentials
from innodb_operator.mysql.errors import MysqlError, QueryError
from innodb_operator.mysql.group import ALWAYS_CLONE, NO_CLONE, GroupSettings

log = structlog.get_logger(__name__)

WRITABLE_TIMEOUT = 30.0
"""Seconds a bootstrapped primary may take to turn super_read_only off."""
ER_GRP_OPERATION_NOT_ALLOWED_GR_MUST_STOP = 3724
"""A group setting cannot change while START or STOP GROUP_REPLICATION is ongoing."""


class Outcome(StrEnum):
    DONE = "Done"
    ALREADY = "Already"
    REFUSED = "Refused"
    PARTIAL = "Partial"


class Refusal(StrEnum):
    """Why an action did not (fully) run."""

    UNREACHABLE = "Unreachable"               # the target or a peer needed for the check did not answer
    NOT_ONLINE = "NotOnline"                  # the target is not ONLINE
    NO_QUORUM = "NoQuorum"                    # no member with a majority answers
    RECOVERING = "AnotherRecovering"          # joins go one at a time
    ERRANT = "ErrantTransactions"             # the joiner has transactions the group does not
    IN_GROUP = "InGroup"                      # bootstrap/reboot: an instance is in a group (again)
    CONFIGURED = "Configured"                 # bootstrap: an instance was configured for a group
    NOT_MOST_ADVANCED = "NotMostAdvanced"     # reboot: the target no longer holds every transaction
    IS_PRIMARY = "IsPrimary"                  # leave: the primary must hand over first
    WOULD_LOSE_MAJORITY = "WouldLoseMajority"
    NOT_ALL_ONLINE = "NotAllOnline"           # mode switch needs every member ONLINE
    STILL_RUNNING = "StillRunning"            # force quorum: a member left out still runs Group Replication
    STARTING = "Starting"                     # the instance is still in a START GROUP_REPLICATION of its own
    FAILED = "Failed"                         # a statement failed (see detail)


@dataclass(frozen=True)
class ActionResult:
    action: Action
    outcome: Outcome
    refusal: Refusal | None = None
    detail: str = ""
    """For logs only: the server's words when a step failed. Never parsed."""

    @property
    def changed(self) -> bool:
        """Whether the group may have changed (the next pass must observe before acting)."""
        return self.outcome in (Outcome.DONE, Outcome.PARTIAL)


@dataclass(frozen=True)
class GroupConfig:
    """What every member is configured with: the group's identity, stack and accounts.

    ``communication_stack`` is ``XCOM`` (pods, each with its own address) or ``MYSQL``
    (Group Replication over the admin port: needed when members share one host).
    """

    group_name: str
    admin: Credentials
    replication: Credentials
    communication_stack: str = "XCOM"


class _Refused(Exception):
    def __init__(self, refusal: Refusal, detail: str = "") -> None:
        super().__init__(detail or refusal.value)
        self.refusal = refusal
        self.detail = detail


class _Already(Exception):
    pass


class Executor:
    """Runs actions against the instances in ``targets`` (by index)."""

    def __init__(self, connector: Connector, targets: Sequence[Target], config: GroupConfig, *,
                 connect_timeout: float = 5.0, read_timeout: float = 60.0, probe_timeout: float = 10.0,
                 force_timeout: float = 110.0) -> None:
        """``read_timeout`` bounds each statement of an action, ``probe_timeout`` each question
        of the precondition checks (which only read), ``force_timeout`` the statement that forces
        quorum (with the XCOM stack the new view took 58-71 s to come on the local environment)."""
        self._connector = connector
        self._targets = {t.index: t for t in targets}
        self._config = config
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._probe_timeout = probe_timeout
        self._force_timeout = force_timeout

    async def execute(self, action: Action, snapshot: Snapshot) -> ActionResult:
        """Run ``action`` (see the module contract)."""
        handler: Callable[[Action, Snapshot], Awaitable[None]] = {
            Kind.BOOTSTRAP: self._bootstrap, Kind.JOIN: self._join, Kind.LEAVE: self._leave,
            Kind.REBOOT: self._reboot, Kind.SET_PRIMARY: self._set_primary, Kind.SET_MODE: self._set_mode,
            Kind.FORCE_QUORUM: self._force_quorum,
        }[action.kind]
        try:
            await handler(action, snapshot)
        except _Already:
            return ActionResult(action, Outcome.ALREADY)
        except _Refused as exc:
            return ActionResult(action, Outcome.REFUSED, exc.refusal, exc.detail)
        except QueryError as exc:
            if exc.errno == ER_GRP_OPERATION_NOT_ALLOWED_GR_MUST_STOP:
                # A restarted member's own start-on-boot attempt is still running (it waits up to a
                # minute for a group that is gone): nothing could be configured; look again later.
                return ActionResult(action, Outcome.REFUSED, Refusal.STARTING, str(exc))
            return ActionResult(action, Outcome.PARTIAL, Refusal.FAILED, str(exc))
        except (MysqlError, TimeoutError) as exc:
            return ActionResult(action, Outcome.PARTIAL, Refusal.FAILED, str(exc) or type(exc).__name__)
        return ActionResult(action, Outcome.DONE)

    # --- actions -----------------------------------------------------------------------

    async def _bootstrap(self, action: Action, snapshot: Snapshot) -> None:
        for now in await self._look(self._targets.values()):
            if not now.reachable:
                raise _Refused(Refusal.UNREACHABLE, now.address)
            if now.in_group:
                raise _Refused(Refusal.IN_GROUP, now.address)
            if now.ever_configured:
                raise _Refused(Refusal.CONFIGURED, now.address)
        seed = self._target(action.target)
        async with self._session(seed) as server:
            await self._configure(server, seed, action.mode)
            await server.start_group(bootstrap=True)
            await server.wait_writable(WRITABLE_TIMEOUT)

    async def _join(self, action: Action, snapshot: Snapshot) -> None:
        target = self._target(action.target)
        others = [t for t in self._targets.values() if t.index != action.target]
        now, *peers = await self._look([target, *others])
        if not now.reachable:
            raise _Refused(Refusal.UNREACHABLE, now.address)
        if now.in_group:
            raise _Already
        donor = next((p for p in peers if p.state == MemberState.ONLINE and has_majority(p.view)), None)
        if donor is None:
            raise _Refused(Refusal.NO_QUORUM)
        if any(m.state == MemberState.RECOVERING for m in donor.view):
            raise _Refused(Refusal.RECOVERING)
        held = donor.transactions
        if now.gtid_executed is not None and held is not None and not held.is_superset(now.gtid_executed):
            raise _Refused(Refusal.ERRANT, now.address)
        async with self._session(target) as server:
            if now.state == MemberState.ERROR:
                await server.stop_group()
            await self._configure(server, target, action.mode)
            await server.set_clone_threshold(ALWAYS_CLONE if action.clone else NO_CLONE)
            await server.start_group(bootstrap=False)

    async def _leave(self, action: Action, snapshot: Snapshot) -> None:
        target = self._target(action.target)
        (now,) = await self._look([target])
        if not now.reachable:
            raise _Refused(Refusal.UNREACHABLE, now.address)
        if (not action.forced and now.in_group and now.role == Role.PRIMARY
                and any(m.role == Role.SECONDARY for m in now.view)):
            raise _Refused(Refusal.IS_PRIMARY, now.address)
        if not action.forced and now.in_group and not keeps_majority_without(now.view, now.uuid):
            raise _Refused(Refusal.WOULD_LOSE_MAJORITY, now.address)
        if not now.in_group and not now.start_on_boot:
            raise _Already
        async with self._session(target) as server:
            if now.in_group:
                await server.stop_group()
            else:
                await server.set_start_on_boot(False)

    async def _reboot(self, action: Action, snapshot: Snapshot) -> None:
        target = self._target(action.target)
        live = await self._look(self._targets.values())
        if any(i.in_group for i in live):
            raise _Refused(Refusal.IN_GROUP)
        chosen = next(i for i in live if i.index == action.target)
        if not chosen.reachable:
            raise _Refused(Refusal.UNREACHABLE, chosen.address)
        unreachable = [i for i in live if not i.reachable]
        if unreachable and not action.forced:
            raise _Refused(Refusal.UNREACHABLE, ", ".join(i.address for i in unreachable))
        mine = chosen.transactions
        if not action.forced and (mine is None or not all(mine.is_superset(i.transactions)
                                                          for i in live if i.transactions is not None)):
            raise _Refused(Refusal.NOT_MOST_ADVANCED, chosen.address)
        async with self._session(target) as server:
            await self._configure(server, target, action.mode)
            await server.start_group(bootstrap=True)

    async def _set_primary(self, action: Action, snapshot: Snapshot) -> None:
        target, now = await self._online(action.target)
        if now.role == Role.PRIMARY:
            raise _Already
        if not has_majority(now.view):
            raise _Refused(Refusal.NO_QUORUM)
        async with self._session(target) as server:
            await server.set_as_primary(now.uuid)

    async def _force_quorum(self, action: Action, snapshot: Snapshot) -> None:
        """A view of the target and the members its view still sees as reachable; refused while
        a member left out still runs Group Replication (forcing then would make a second group)."""
        target = self._target(action.target)
        live = await self._look(self._targets.values())
        now = next(i for i in live if i.index == action.target)
        if not now.reachable:
            raise _Refused(Refusal.UNREACHABLE, now.address)
        if now.state != MemberState.ONLINE:
            raise _Refused(Refusal.NOT_ONLINE, now.address)
        if has_majority(now.view):
            raise _Already
        alive = {m.uuid for m in now.view if m.state != MemberState.UNREACHABLE}
        kept = [i for i in live if i.uuid in alive]
        left_out = [i for i in live if i.in_group and i.uuid not in alive]
        if left_out:
            raise _Refused(Refusal.STILL_RUNNING, ", ".join(i.address for i in left_out))
        addresses = tuple(self._targets[i.index].group_address for i in sorted(kept, key=lambda i: i.index))
        async with self._session(target, read_timeout=self._force_timeout) as server:
            await server.force_members(addresses)

    async def _set_mode(self, action: Action, snapshot: Snapshot) -> None:
        target, now = await self._online(action.target)
        mode = action.mode or GroupMode.SINGLE_PRIMARY
        if now.single_primary is not None and now.single_primary == (mode == GroupMode.SINGLE_PRIMARY):
            raise _Already
        if not has_majority(now.view) or any(m.state != MemberState.ONLINE for m in now.view):
            raise _Refused(Refusal.NOT_ALL_ONLINE)
        async with self._session(target) as server:
            if mode == GroupMode.MULTI_PRIMARY:
                await server.switch_to_multi_primary()
            else:
                await server.switch_to_single_primary(now.uuid)
        by_uuid = {i.uuid: self._targets.get(i.index) for i in snapshot.instances if i.uuid}
        members = [by_uuid.get(m.uuid) for m in now.view if m.state == MemberState.ONLINE]
        await asyncio.gather(*(self._persist_mode(t, mode) for t in members if t is not None))

    # --- steps -------------------------------------------------------------------------

    async def _persist_mode(self, target: Target, mode: GroupMode) -> None:
        async with self._session(target) as server:
            await server.persist_mode(single_primary=mode == GroupMode.SINGLE_PRIMARY, only=True)

    async def _look(self, targets: Iterable[Target]) -> list[Instance]:
        """What each target says now, asked in parallel."""
        return list(await asyncio.gather(*(
            observe_instance(self._connector, t, self._config.admin, connect_timeout=self._connect_timeout,
                             read_timeout=self._probe_timeout) for t in targets)))

    async def _online(self, index: int) -> tuple[Target, Instance]:
        """The target and what it says now; refused unless it is ONLINE."""
        target = self._target(index)
        (now,) = await self._look([target])
        if now.state != MemberState.ONLINE:
            raise _Refused(Refusal.NOT_ONLINE if now.reachable else Refusal.UNREACHABLE, now.address)
        return target, now

    def _target(self, index: int) -> Target:
        try:
            return self._targets[index]
        except KeyError:
            raise _Refused(Refusal.UNREACHABLE, f"no instance with index {index}") from None

    @contextlib.asynccontextmanager
    async def _session(self, target: Target, *, read_timeout: float | None = None) -> AsyncIterator[Server]:
        try:
            server = await self._connector.connect(target.endpoint, self._config.admin,
                                                   connect_timeout=self._connect_timeout,
                                                   read_timeout=read_timeout or self._read_timeout)
        except MysqlError as exc:
            raise _Refused(Refusal.UNREACHABLE, str(exc)) from exc
        try:
            yield server
        finally:
            await server.close()

    async def _configure(self, server: Server, target: Target, mode: GroupMode | None) -> None:
        """Persist the group settings on a member that is not running Group Replication.

        The recovery account is created locally, outside the binary log (no GTIDs, so it can
        never become an errant transaction): with the MYSQL stack every member authenticates
        group connections with it, so it must exist before the member starts.
        """
        replication = self._config.replication
        await server.ensure_local_account(
            recovery_account(replication.user, admin_port=self._config.communication_stack == "MYSQL"),
            replication.password)
        seeds = tuple(t.group_address for t in sorted(self._targets.values(), key=lambda t: t.index))
        await server.configure_group(GroupSettings(
            group_name=self._config.group_name, local_address=target.group_address, seeds=seeds,
            communication_stack=self._config.communication_stack,
            single_primary=(mode or GroupMode.SINGLE_PRIMARY) == GroupMode.SINGLE_PRIMARY,
            recovery_user=replication.user, recovery_password=replication.password))
