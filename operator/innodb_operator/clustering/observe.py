"""Gather one :class:`~.model.Snapshot`: every instance asked in parallel, bounded.

Contract:
  * One connection per instance, at most ``concurrency`` at a time; connecting is bounded by
    ``connect_timeout`` and each of the few queries per instance by ``read_timeout``, so an
    instance that is down costs at most the connect timeout.
  * An instance that cannot be reached or answers with an error becomes
    :func:`~.model.unreachable` (the null object); nothing here raises for one bad instance.
    A target known not to run (``Target.running`` False) is unreachable without a connection.
  * Read-only: only ``SELECT`` statements run; observing creates no GTIDs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

import structlog

from innodb_operator.clustering.model import Desired, Instance, Member, MemberState, Role, Snapshot, unreachable
from innodb_operator.mysql.connection import Credentials, Endpoint, connect
from innodb_operator.mysql.errors import MysqlError
from innodb_operator.mysql.queries import (
    APPLIER_CHANNEL,
    GroupMember,
    group_members,
    instance_facts,
    recovery_channel_state,
)

log = structlog.get_logger(__name__)

GR_PORT = 33061


@dataclass(frozen=True)
class Target:
    """An instance the operator is responsible for: its ordinal, SQL endpoint and group address.

    ``group_address`` is Group Replication's local address for the instance: ``host:33061``
    with the XCOM communication stack (pods), or ``host:<admin port>`` with the MYSQL stack.
    ``running`` False says the caller knows the server is not running (e.g. its pod does not
    exist or has no IP yet): it is not contacted and is observed as unreachable.
    """

    index: int
    endpoint: Endpoint
    group_address: str = ""
    running: bool = True

    @property
    def address(self) -> str:
        return str(self.endpoint)

    @property
    def gr_address(self) -> str:
        return self.group_address or f"{self.endpoint.host}:{GR_PORT}"


def _state(value: str) -> MemberState:
    try:
        return MemberState(value)
    except ValueError:
        return MemberState.MISSING


def _member(row: GroupMember) -> Member:
    role = Role(row.role) if row.role in (Role.PRIMARY, Role.SECONDARY) else Role.NONE
    return Member(uuid=row.member_id, address=row.address, state=_state(row.state), role=role, version=row.version)


async def observe_instance(target: Target, credentials: Credentials, *, connect_timeout: float = 3.0,
                           read_timeout: float = 10.0) -> Instance:
    """What one instance says about itself and its group, or the null instance."""
    if not target.running:
        return unreachable(target.index, target.address)
    try:
        session = await connect(target.endpoint, credentials, connect_timeout=connect_timeout,
                                read_timeout=read_timeout)
    except MysqlError as exc:
        log.debug("instance unreachable", instance=target.address, error=str(exc))
        return unreachable(target.index, target.address)
    try:
        facts = await instance_facts(session)
        rows = await group_members(session) if facts.gr_plugin_active else []
        applier = await recovery_channel_state(session, APPLIER_CHANNEL) if facts.gr_plugin_active else None
    except (MysqlError, ValueError) as exc:  # ValueError: a GTID set that does not parse
        log.info("instance did not answer usably", instance=target.address, error=str(exc))
        return unreachable(target.index, target.address)
    finally:
        await session.close()
    received = applier.received_transaction_set if applier is not None else None
    me = next((r for r in rows if r.member_id == facts.server_uuid), None)
    state = _state(me.state) if me is not None else MemberState.MISSING
    in_group = state in (MemberState.ONLINE, MemberState.RECOVERING)
    return Instance(
        index=target.index,
        address=target.address,
        uuid=facts.server_uuid,
        state=state,
        role=_member(me).role if me is not None else Role.NONE,
        view=tuple(_member(r) for r in rows) if in_group else (),
        gtid_executed=facts.gtid_executed,
        gtid_purged=facts.gtid_purged,
        gtid_total=facts.gtid_executed | received if received is not None else facts.gtid_executed,
        group_name=facts.group_name or "",
        single_primary=facts.single_primary_mode,
        start_on_boot=bool(facts.start_on_boot),
        super_read_only=facts.super_read_only,
        version=facts.version,
    )


async def observe(targets: Sequence[Target], credentials: Credentials, desired: Desired, *,
                  group_name: str = "", concurrency: int = 8, connect_timeout: float = 3.0,
                  read_timeout: float = 10.0) -> Snapshot:
    """One snapshot of every target (see module contract)."""
    gate = asyncio.Semaphore(concurrency)

    async def one(target: Target) -> Instance:
        async with gate:
            return await observe_instance(target, credentials, connect_timeout=connect_timeout,
                                          read_timeout=read_timeout)

    instances = await asyncio.gather(*(one(t) for t in targets))
    return Snapshot(tuple(instances), desired, group_name=group_name)
