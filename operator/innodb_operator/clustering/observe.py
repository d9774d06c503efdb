"""Gather one :class:`~.model.Snapshot`: every instance asked in parallel, bounded.

Contract:
  * One session per instance through the :class:`~.seam.Connector`, at most ``concurrency``
    at a time; connecting is bounded by ``connect_timeout`` and each question by
    ``read_timeout``, so an instance that is down costs at most the connect timeout.
  * An instance that cannot be reached or answers with an error becomes
    :func:`~.model.unreachable`, one that refuses the credentials :func:`~.model.access_denied`
    (null objects); nothing here raises for one bad instance. A target known not to run
    (``Target.running`` False) is unreachable without a connection.
  * Read-only: observing creates no GTIDs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import structlog

from innodb_operator.clustering.model import (
    Desired,
    Instance,
    Member,
    MemberState,
    Role,
    Snapshot,
    access_denied,
    unreachable,
)
from innodb_operator.clustering.seam import Connector, Target
from innodb_operator.mysql.connection import Credentials
from innodb_operator.mysql.errors import AccessDenied, MysqlError
from innodb_operator.mysql.queries import GroupMember

log = structlog.get_logger(__name__)

OBSERVE_CONCURRENCY = 8
"""Instances of one cluster asked at once."""


def _state(value: str) -> MemberState:
    try:
        return MemberState(value)
    except ValueError:
        return MemberState.MISSING


def _member(row: GroupMember) -> Member:
    role = Role(row.role) if row.role in (Role.PRIMARY, Role.SECONDARY) else Role.NONE
    return Member(uuid=row.member_id, address=row.address, state=_state(row.state), role=role, version=row.version)


async def observe_instance(connector: Connector, target: Target, credentials: Credentials, *,
                           connect_timeout: float = 3.0, read_timeout: float = 10.0) -> Instance:
    """What one instance says about itself and its group, or a null instance."""
    if not target.running:
        return unreachable(target.index, target.address)
    try:
        server = await connector.connect(target.endpoint, credentials, connect_timeout=connect_timeout,
                                         read_timeout=read_timeout)
    except AccessDenied as exc:
        log.info("instance refused the credentials", instance=target.address, user=credentials.user,
                 error=str(exc))
        return access_denied(target.index, target.address)
    except MysqlError as exc:
        log.debug("instance unreachable", instance=target.address, error=str(exc))
        return unreachable(target.index, target.address)
    try:
        facts = await server.facts()
        rows = await server.group_members() if facts.gr_plugin_active else []
        received = await server.received_transactions() if facts.gr_plugin_active else None
    except (MysqlError, ValueError) as exc:  # ValueError: a GTID set that does not parse
        log.info("instance did not answer usably", instance=target.address, error=str(exc))
        return unreachable(target.index, target.address)
    finally:
        await server.close()
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
        last_clone=facts.last_clone_started.isoformat() if facts.last_clone_started else "",
        became_primary_at=facts.became_primary_at,
    )


async def observe(connector: Connector, targets: Sequence[Target], credentials: Credentials, desired: Desired, *,
                  concurrency: int = OBSERVE_CONCURRENCY, connect_timeout: float = 3.0,
                  read_timeout: float = 10.0) -> Snapshot:
    """One snapshot of every target (see module contract)."""
    gate = asyncio.Semaphore(concurrency)

    async def one(target: Target) -> Instance:
        async with gate:
            return await observe_instance(connector, target, credentials, connect_timeout=connect_timeout,
                                          read_timeout=read_timeout)

    instances = await asyncio.gather(*(one(t) for t in targets))
    return Snapshot(tuple(instances), desired)
