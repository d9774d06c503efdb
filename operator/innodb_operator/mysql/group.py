"""Group Replication statements on one open :class:`~.connection.Session` (the write side).

Contract:
  * Each function is one idempotent step: running it again after it took effect is harmless.
  * Group settings are persisted (``SET PERSIST``) so a restarted server keeps them;
    :func:`start` turns ``group_replication_start_on_boot`` on after a successful start, so a
    restarted member rejoins by itself, and :func:`stop` (a clean leave) turns it off first.
  * The bootstrap flag is never left on: :func:`start` clears it whatever happens, and the
    caller clears it on a fresh session when the statement's session died (:func:`clear_bootstrap`).
  * Passwords travel only as driver parameters (:class:`~.connection.Secret`), never in SQL
    text or logs. Errors are those of :mod:`.errors`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass

from innodb_operator.mysql.connection import Secret, Session
from innodb_operator.mysql.queries import RECOVERY_CHANNEL

NO_CLONE = 9223372036854775807
"""``group_replication_clone_threshold`` that never chooses clone (the server's maximum)."""
ALWAYS_CLONE = 1


@dataclass(frozen=True)
class GroupSettings:
    """What a member is configured with before Group Replication starts on it.

    ``local_address`` is this member's group address (``host:33061`` with the XCOM stack);
    ``seeds`` every member's; ``recovery_user``/``recovery_password`` the account distributed
    recovery logs in with on the donor.
    """

    group_name: str
    local_address: str
    seeds: tuple[str, ...]
    communication_stack: str
    single_primary: bool
    recovery_user: str
    recovery_password: Secret


async def configure(session: Session, settings: GroupSettings) -> None:
    """Persist the group settings and the recovery channel's credentials (GR not running)."""
    values: Mapping[str, object] = {
        "group_replication_group_name": settings.group_name,
        "group_replication_local_address": settings.local_address,
        "group_replication_group_seeds": ",".join(settings.seeds),
        "group_replication_recovery_get_public_key": "ON",
        "group_replication_communication_stack": settings.communication_stack,
    }
    for name, value in values.items():
        await session.execute(f"SET PERSIST {name} = %s", (value,))
    await persist_mode(session, single_primary=settings.single_primary, only=False)
    await set_recovery_credentials(session, settings.recovery_user, settings.recovery_password)


async def set_recovery_credentials(session: Session, user: str, password: Secret) -> None:
    """The account distributed recovery uses; allowed while the member is ONLINE."""
    await session.execute(
        f"CHANGE REPLICATION SOURCE TO SOURCE_USER = %s, SOURCE_PASSWORD = %s FOR CHANNEL '{RECOVERY_CHANNEL}'",
        (user, password))


async def persist_mode(session: Session, *, single_primary: bool, only: bool) -> None:
    """Persist the mode's two settings, in the order the server accepts them.

    ``only`` (``PERSIST_ONLY``) records them for the next start without touching the running
    values: after a group-wide mode switch, which changes the running values itself.
    """
    verb = "PERSIST_ONLY" if only else "PERSIST"
    single = "ON" if single_primary else "OFF"
    everywhere = "OFF" if single_primary else "ON"
    if not only and not single_primary:
        await session.execute(f"SET {verb} group_replication_single_primary_mode = {single}")
        await session.execute(f"SET {verb} group_replication_enforce_update_everywhere_checks = {everywhere}")
    else:
        await session.execute(f"SET {verb} group_replication_enforce_update_everywhere_checks = {everywhere}")
        await session.execute(f"SET {verb} group_replication_single_primary_mode = {single}")


async def set_clone_threshold(session: Session, threshold: int) -> None:
    await session.execute("SET GLOBAL group_replication_clone_threshold = %s", (threshold,))


async def start(session: Session, *, bootstrap: bool) -> None:
    """``START GROUP_REPLICATION`` (as the group's first member when ``bootstrap``), then
    persist start-on-boot. The bootstrap flag is cleared on this session whatever happens;
    if the session died meanwhile, the caller clears it on a fresh one."""
    await session.execute("SET GLOBAL group_replication_bootstrap_group = %s", ("ON" if bootstrap else "OFF",))
    try:
        await session.execute("START GROUP_REPLICATION")
    finally:
        if bootstrap and not session.closed:
            await clear_bootstrap(session)
    await set_start_on_boot(session, True)


async def clear_bootstrap(session: Session) -> None:
    await session.execute("SET GLOBAL group_replication_bootstrap_group = OFF")


async def stop(session: Session) -> None:
    """Leave the group cleanly: start-on-boot off first, so a restart does not rejoin."""
    await set_start_on_boot(session, False)
    await session.execute("STOP GROUP_REPLICATION")


async def set_start_on_boot(session: Session, on: bool) -> None:
    await session.execute(f"SET PERSIST group_replication_start_on_boot = {'ON' if on else 'OFF'}")


async def wait_writable(session: Session, timeout: float) -> None:
    """Wait until a fresh primary has turned ``super_read_only`` off; TimeoutError after ``timeout``."""
    async with asyncio.timeout(timeout):
        while True:
            row = await session.query_one("SELECT @@global.super_read_only AS sro")
            if row is not None and not int(row["sro"]):
                return
            await asyncio.sleep(0.2)


async def set_as_primary(session: Session, member_uuid: str) -> None:
    await session.query("SELECT group_replication_set_as_primary(%s) AS result", (member_uuid,))


async def force_members(session: Session, addresses: tuple[str, ...]) -> None:
    """Unblock a group that lost its majority: install a view of exactly ``addresses`` (group
    addresses, as in ``group_replication_local_address``) from this member, then clear the
    setting (it must be empty for a later ``START GROUP_REPLICATION``), whatever happened."""
    try:
        await session.execute("SET GLOBAL group_replication_force_members = %s", (",".join(addresses),))
    finally:
        if not session.closed:
            await session.execute("SET GLOBAL group_replication_force_members = ''")


async def switch_to_multi_primary(session: Session) -> None:
    await session.query("SELECT group_replication_switch_to_multi_primary_mode() AS result")


async def switch_to_single_primary(session: Session, primary_uuid: str) -> None:
    await session.query("SELECT group_replication_switch_to_single_primary_mode(%s) AS result", (primary_uuid,))


async def set_password(session: Session, user: str, host: str, password: Secret, *, binlog: bool = True) -> bool:
    """``ALTER USER`` when the account exists; True if it did. Binary-logged, it reaches every
    member through the group; with ``binlog=False`` it stays on this server (for a server not
    in a group: no GTID, so never an errant transaction)."""
    row = await session.query_one("SELECT 1 AS present FROM mysql.user WHERE user = %s AND host = %s", (user, host))
    if row is None:
        return False
    if not binlog:
        await session.execute("SET SESSION sql_log_bin = 0")
    try:
        await session.execute("ALTER USER %s@%s IDENTIFIED BY %s", (user, host, password))
    finally:
        if not binlog:
            await session.execute("SET SESSION sql_log_bin = 1")
    return True
