"""Recover the operator's MySQL accounts through the root account, when their passwords are lost.

Contract (:func:`recover`):
  * Input: a snapshot observed *as root* (the operator's own passwords are unknown), the
    root credentials, and new passwords for the operator's accounts.
  * When root is refused by every reachable instance: ``ROOT_DENIED``, and nothing is touched.
    Without a writable member (no quorum, or the writer does not answer): ``NO_WRITER``,
    nothing touched.
  * Otherwise, on the writer, as root: each existing account's password is set (replicated
    to every member through the group); then, on every ONLINE member, the recovery channel
    gets the new replication password, as the operator's admin account once its new
    password has reached that member (waited for, bounded). ``RECOVERED`` lists the accounts
    reset and the members whose recovery channel could not be updated (they are updated the
    next time they join).
  * The caller writes the new passwords to the Secret only after ``RECOVERED``: until then
    the old ones may still be in force, and a retry simply starts over with fresh ones.
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
    ROOT_DENIED = "RootDenied"
    NO_WRITER = "NoWriter"
    FAILED = "Failed"


@dataclass(frozen=True)
class Recovery:
    outcome: RecoveryOutcome
    accounts: tuple[str, ...] = ()
    """The accounts whose password was set."""
    stale_members: tuple[int, ...] = ()
    """ONLINE members whose recovery channel still holds the old replication password."""
    detail: str = ""


def root_denied_everywhere(snapshot: Snapshot) -> bool:
    """Every instance that answered refused the root credentials (and at least one answered)."""
    denied = [i for i in snapshot.instances if i.state == MemberState.ACCESS_DENIED]
    return bool(denied) and not any(i.reachable for i in snapshot.instances)


async def recover(connector: Connector, targets: Sequence[Target], snapshot: Snapshot, diagnosis: Diagnosis, *,
                  root: Credentials, admin_user: str, replication_user: str, passwords: Mapping[str, Secret],
                  connect_timeout: float, read_timeout: float) -> Recovery:
    """Set new passwords for the accounts in ``passwords`` (user -> password); see the contract."""
    if root_denied_everywhere(snapshot):
        return Recovery(RecoveryOutcome.ROOT_DENIED)
    index = writer(diagnosis)
    by_index = {t.index: t for t in targets}
    if index is None or index not in by_index:
        return Recovery(RecoveryOutcome.NO_WRITER)
    reset: list[str] = []
    try:
        server = await connector.connect(by_index[index].endpoint, root, connect_timeout=connect_timeout,
                                         read_timeout=read_timeout)
        try:
            for user, password in passwords.items():
                if await server.set_password(user, "%", password):
                    reset.append(user)
        finally:
            await server.close()
    except AccessDenied:
        return Recovery(RecoveryOutcome.ROOT_DENIED)
    except MysqlError as exc:
        if not reset:
            return Recovery(RecoveryOutcome.NO_WRITER, detail=str(exc))
        return Recovery(RecoveryOutcome.FAILED, tuple(reset), detail=str(exc))
    admin = Credentials(admin_user, passwords[admin_user])
    online = [by_index[i] for i in diagnosis.online if i in by_index]
    updated = await asyncio.gather(*(
        _update_recovery_channel(connector, t, admin, replication_user, passwords[replication_user],
                                 connect_timeout=connect_timeout, read_timeout=read_timeout) for t in online))
    stale = tuple(t.index for t, ok in zip(online, updated, strict=True) if not ok)
    return Recovery(RecoveryOutcome.RECOVERED, tuple(reset), stale)


async def _update_recovery_channel(connector: Connector, target: Target, admin: Credentials, user: str,
                                   password: Secret, *, connect_timeout: float, read_timeout: float) -> bool:
    """Once ``admin``'s new password works on ``target``, give its recovery channel the new one."""
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
        await server.set_recovery_credentials(user, password)
    except MysqlError as exc:
        log.warning("recovery channel not updated", instance=target.address, error=str(exc))
        return False
    finally:
        await server.close()
    return True
