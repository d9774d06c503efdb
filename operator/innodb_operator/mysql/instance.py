"""The real side of the clustering core's MySQL seam: a connector and a server session.

Contract: :class:`MysqlConnector` opens :class:`MysqlServer` sessions whose SQL runs on the
connector's own thread pool (sized by the caller to the work it runs at once), so a hung
server can tie up only that pool, never the event loop's default executor. Every method
delegates to :mod:`.queries`, :mod:`.group`, :mod:`.accounts` or :mod:`.metadata`; the
timeouts and errors are those of :mod:`.connection`.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
from collections.abc import Sequence

from innodb_operator.mysql import group
from innodb_operator.mysql.accounts import (
    METRICS_HOST,
    AccountChange,
    AccountSpec,
    drop_account,
    ensure_account,
    metrics_account,
)
from innodb_operator.mysql.connection import Credentials, Endpoint, Secret, Session, connect
from innodb_operator.mysql.errors import MysqlError
from innodb_operator.mysql.gtid import GtidSet
from innodb_operator.mysql.metadata import MetadataMember, ensure_metadata, ensure_router_account
from innodb_operator.mysql.queries import (
    APPLIER_CHANNEL,
    GroupMember,
    InstanceFacts,
    group_members,
    instance_facts,
    recovery_channel_state,
)


class MysqlConnector:
    """Opens sessions on ``pool`` (created here with ``threads`` workers when not given)."""

    def __init__(self, *, threads: int = 16, pool: concurrent.futures.Executor | None = None) -> None:
        self._owned = pool is None
        self._pool = pool or concurrent.futures.ThreadPoolExecutor(max_workers=threads,
                                                                   thread_name_prefix="mysql")

    async def connect(self, endpoint: Endpoint, credentials: Credentials, *, connect_timeout: float,
                      read_timeout: float) -> MysqlServer:
        session = await connect(endpoint, credentials, connect_timeout=connect_timeout, read_timeout=read_timeout,
                                pool=self._pool)
        return MysqlServer(session, self, credentials, connect_timeout=connect_timeout)

    def close(self) -> None:
        """Release the pool's threads (those stuck in a call end with their socket timeout)."""
        if self._owned:
            self._pool.shutdown(wait=False, cancel_futures=True)


class MysqlServer:
    """One session to one server, speaking the seam's verbs."""

    def __init__(self, session: Session, connector: MysqlConnector, credentials: Credentials, *,
                 connect_timeout: float) -> None:
        self._session = session
        self._connector = connector
        self._credentials = credentials
        self._connect_timeout = connect_timeout

    @property
    def endpoint(self) -> Endpoint:
        return self._session.endpoint

    async def facts(self) -> InstanceFacts:
        return await instance_facts(self._session)

    async def group_members(self) -> list[GroupMember]:
        return await group_members(self._session)

    async def received_transactions(self) -> GtidSet | None:
        channel = await recovery_channel_state(self._session, APPLIER_CHANNEL)
        return channel.received_transaction_set if channel is not None else None

    async def ensure_local_account(self, spec: AccountSpec, password: Secret) -> AccountChange:
        return await ensure_account(self._session, spec, password, binlog=False)

    async def configure_group(self, settings: group.GroupSettings) -> None:
        await group.configure(self._session, settings)

    async def set_clone_threshold(self, threshold: int) -> None:
        await group.set_clone_threshold(self._session, threshold)

    async def start_group(self, *, bootstrap: bool) -> None:
        try:
            await group.start(self._session, bootstrap=bootstrap)
        finally:
            if bootstrap and self._session.closed:
                await self._clear_bootstrap_on_a_fresh_session()

    async def stop_group(self) -> None:
        await group.stop(self._session)

    async def set_start_on_boot(self, on: bool) -> None:
        await group.set_start_on_boot(self._session, on)

    async def wait_writable(self, timeout: float) -> None:
        await group.wait_writable(self._session, timeout)

    async def set_recovery_credentials(self, user: str, password: Secret) -> None:
        await group.set_recovery_credentials(self._session, user, password)

    async def persist_mode(self, *, single_primary: bool, only: bool) -> None:
        await group.persist_mode(self._session, single_primary=single_primary, only=only)

    async def set_as_primary(self, member_uuid: str) -> None:
        await group.set_as_primary(self._session, member_uuid)

    async def force_members(self, addresses: tuple[str, ...]) -> None:
        await group.force_members(self._session, addresses)

    async def switch_to_multi_primary(self) -> None:
        await group.switch_to_multi_primary(self._session)

    async def switch_to_single_primary(self, primary_uuid: str) -> None:
        await group.switch_to_single_primary(self._session, primary_uuid)

    async def ensure_metadata(self, *, cluster_name: str, cluster_id: str, group_name: str,
                              members: Sequence[MetadataMember], multi_primary: bool) -> bool:
        return await ensure_metadata(self._session, cluster_name=cluster_name, cluster_id=cluster_id,
                                     group_name=group_name, members=members, multi_primary=multi_primary)

    async def ensure_router_account(self, user: str, password: Secret, *, reset_password: bool) -> AccountChange:
        return await ensure_router_account(self._session, user, password, reset_password=reset_password)

    async def ensure_metrics_account(self, user: str, password: Secret | None) -> bool:
        if password is None:
            return await drop_account(self._session, user, METRICS_HOST)
        change = await ensure_account(self._session, metrics_account(user), password, reset_password=True)
        return change.changed

    async def set_password(self, user: str, host: str, password: Secret, *, binlog: bool = True) -> bool:
        return await group.set_password(self._session, user, host, password, binlog=binlog)

    async def close(self) -> None:
        await self._session.close()

    async def _clear_bootstrap_on_a_fresh_session(self) -> None:
        """The session died around a bootstrap start: clear the flag on a new one. If the
        server itself is gone, the flag went with it (it is not persisted)."""
        with contextlib.suppress(MysqlError):
            fresh = await self._connector.connect(self.endpoint, self._credentials,
                                                  connect_timeout=self._connect_timeout,
                                                  read_timeout=self._connect_timeout)
            try:
                await group.clear_bootstrap(fresh._session)
            finally:
                await fresh.close()
