"""Reset the operator's MySQL account passwords when they are lost, through an account that still works.

Contract (:func:`recover`):
  * Input: a snapshot observed as ``login`` (the root account of the user's Secret, or the
    operator's admin account when only other passwords were lost), and ``passwords``: the new
    password of each account to reset (user -> password). Only those accounts are touched.
  * When ``login`` was refused by every instance that answered: ``LOGIN_DENIED``, nothing is
    touched. When no instance can take the reset (no writer, and none reachable outside a
    group): ``NO_TARGET``, nothing touched.
  * Otherwise:
      - on the writer, when there is one: each account's password is set, replicated to every
        ONLINE member through the group;
      - on every reachable instance that is not in a group (a full outage, a member that was
        down): the same, on that server only (``sql_log_bin=0``: no GTID, never an errant
        transaction; when it rejoins, the group's own change reaches it again, the same);
      - when the replication account was reset, every ONLINE member's and every such
        instance's recovery channel gets the new password, as ``admin`` once its new password
        works there (waited for, bounded).
    ``RECOVERED`` lists the accounts reset and the instances that could not be updated (a
    member RECOVERING at the time, or one that did not answer).
  * The caller writes the new passwords to its Secret only after ``RECOVERED``: until then the
    old ones may still be in force, and a retry simply starts over with fresh ones.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

import structlog

from innodb_operator.clustering.model import MemberState, Snapshot
from innodb_operator.clustering.seam import Connector, Target
from innodb_operator.clustering.state import Diagnosis
from innodb_operator.clustering.upkeep import writer
from innodb_operator.mysql.connection import Credentials, Secret
from innodb_operator.mysql.errors import AccessDenied, MysqlError

log = structlog.get_logger(__name__)

PROPAGATION_TIMEOUT = 15.0
"""Seconds a new admin password may take to reach a member through the group."""


class RecoveryOutcome(StrEnum):
    RECOVERED = "Recovered"
    LOGIN_DENIED = "LoginDenied"
    NO_TARGET = "NoTarget"


@dataclass(frozen=True)
class Recovery:
    outcome: RecoveryOutcome
    accounts: tuple[str, ...] = ()
    """The accounts whose password was set."""
    stale: tuple[int, ...] = ()
    """Instances that still hold an old password or recovery channel (updated when they next join)."""
    detail: str = ""


def denied_everywhere(snapshot: Snapshot) -> bool:
    """Every instance that answered refused the login (and at least one answered)."""
    denied = [i for i in snapshot.instances if i.state == MemberState.ACCESS_DENIED]
    return bool(denied) and not any(i.reachable for i in snapshot.instances)


async def recover(connector: Connector, targets: Sequence[Target], snapshot: Snapshot, diagnosis: Diagnosis, *,
                  login: Credentials, passwords: Mapping[str, Secret], admin: Credentials,
                  replication: Credentials | None, connect_timeout: float, read_timeout: float) -> Recovery:
    """See the module contract. ``admin`` is the admin account as it is after the reset (to log
    in with); ``replication`` is set when the replication account is among those reset."""
    if denied_everywhere(snapshot):
        return Recovery(RecoveryOutcome.LOGIN_DENIED)
    by_index = {t.index: t for t in targets}
    primary = writer(diagnosis)
    outside = [i for i in snapshot.instances if i.reachable and not i.in_group and i.index in by_index]
    if (primary is None or primary not in by_index) and not outside:
        return Recovery(RecoveryOutcome.NO_TARGET)

    async def reset(target: Target, *, binlog: bool) -> tuple[str, ...]:
        server = await connector.connect(target.endpoint, login, connect_timeout=connect_timeout,
                                         read_timeout=read_timeout)
        try:
            return tuple([user for user, password in passwords.items()
                          if await server.set_password(user, "%", password, binlog=binlog)])
        finally:
            await server.close()

    done: set[str] = set()
    stale: list[int] = []
    if primary is not None and primary in by_index:
        try:
            done.update(await reset(by_index[primary], binlog=True))
        except AccessDenied:
            return Recovery(RecoveryOutcome.LOGIN_DENIED)
        except MysqlError as exc:
            if not outside:
                return Recovery(RecoveryOutcome.NO_TARGET, detail=str(exc))
            stale.append(primary)
    for instance in outside:
        try:
            done.update(await reset(by_index[instance.index], binlog=False))
        except MysqlError as exc:
            log.warning("password not reset", instance=instance.address, error=str(exc))
            stale.append(instance.index)
    stale += [i.index for i in snapshot.instances
              if i.in_group and i.index not in diagnosis.online and i.index != primary]
    if replication is not None:
        channels = [by_index[i] for i in diagnosis.online if i in by_index] + [
            by_index[i.index] for i in outside if i.index not in stale]
        updated = await asyncio.gather(*(
            _update_recovery_channel(connector, t, admin, replication, connect_timeout=connect_timeout,
                                     read_timeout=read_timeout) for t in channels))
        stale += [t.index for t, ok in zip(channels, updated, strict=True) if not ok]
    return Recovery(RecoveryOutcome.RECOVERED, tuple(sorted(done)), tuple(sorted(set(stale))))


async def _update_recovery_channel(connector: Connector, target: Target, admin: Credentials,
                                   replication: Credentials, *, connect_timeout: float, read_timeout: float) -> bool:
    """Once ``admin``'s password works on ``target``, give its recovery channel ``replication``'s."""
    try:
        async with asyncio.timeout(PROPAGATION_TIMEOUT):
            while True:
                try:
                    server = await connector.connect(target.endpoint, admin, connect_timeout=connect_timeout,
                                                     read_timeout=read_timeout)
                    break
                except AccessDenied:  # the ALTER USER has not been applied there yet
                    await asyncio.sleep(0.5)
    except (TimeoutError, MysqlError) as exc:
        log.warning("recovery channel not updated", instance=target.address, error=str(exc) or "timed out")
        return False
    try:
        await server.set_recovery_credentials(replication.user, replication.password)
    except MysqlError as exc:
        log.warning("recovery channel not updated", instance=target.address, error=str(exc))
        return False
    finally:
        await server.close()
    return True
