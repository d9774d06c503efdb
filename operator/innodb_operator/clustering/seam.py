"""The MySQL seam: how the clustering core reaches instances, as two small protocols.

Contract:
  * :class:`Connector` opens a :class:`Server` (one session to one instance, as one account)
    or raises :class:`~innodb_operator.mysql.errors.Unreachable` /
    :class:`~innodb_operator.mysql.errors.AccessDenied`; every later call raises only
    :class:`~innodb_operator.mysql.errors.MysqlError` subclasses, each bounded by the
    timeouts given at connect.
  * :func:`~.observe.observe`, the :class:`~.actions.Executor`, :mod:`.upkeep` and
    :mod:`.credentials` talk to instances through these protocols only. The real
    implementation is :class:`innodb_operator.mysql.instance.MysqlConnector`; the fake group
    in ``tests/fakegroup.py`` implements them with Group Replication's semantics for unit tests.
  * Values are the ``mysql`` layer's typed facts (:class:`~innodb_operator.mysql.queries.InstanceFacts`,
    :class:`~innodb_operator.mysql.gtid.GtidSet`...), never rows or SQL text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from innodb_operator.mysql.accounts import AccountChange, AccountSpec
from innodb_operator.mysql.connection import Credentials, Endpoint, Secret
from innodb_operator.mysql.group import GroupSettings
from innodb_operator.mysql.gtid import GtidSet
from innodb_operator.mysql.metadata import MetadataMember
from innodb_operator.mysql.queries import GroupMember, InstanceFacts


@dataclass(frozen=True)
class Target:
    """An instance the operator is responsible for: its ordinal, SQL endpoint and group address.

    ``group_address`` is Group Replication's local address for the instance (``host:33061``
    with the XCOM stack, ``host:<admin port>`` with the MYSQL stack). ``running`` False says
    the caller knows no server runs there (its pod does not exist or has no IP yet): it is not
    contacted and is observed as unreachable. ``name`` is what people call it (its pod) and
    ``x_address`` its X protocol address, both as Router's metadata lists them.
    """

    index: int
    endpoint: Endpoint
    group_address: str
    running: bool = True
    name: str = ""
    x_address: str = ""

    @property
    def address(self) -> str:
        return str(self.endpoint)

    @property
    def label(self) -> str:
        return self.name or self.address


class Server(Protocol):
    """One open session to one instance."""

    @property
    def endpoint(self) -> Endpoint: ...

    # --- reads (no GTIDs) ---
    async def facts(self) -> InstanceFacts: ...

    async def group_members(self) -> list[GroupMember]:
        """The group as this instance sees it (one OFFLINE row for itself when GR is not running)."""
        ...

    async def received_transactions(self) -> GtidSet | None:
        """What the group applier channel received (applied or not); None without the channel."""
        ...

    # --- this member's Group Replication ---
    async def ensure_local_account(self, spec: AccountSpec, password: Secret) -> AccountChange:
        """The account, made outside the binary log (no GTID: never an errant transaction)."""
        ...

    async def configure_group(self, settings: GroupSettings) -> None: ...

    async def set_clone_threshold(self, threshold: int) -> None: ...

    async def start_group(self, *, bootstrap: bool) -> None: ...

    async def stop_group(self) -> None:
        """Leave the group cleanly (start-on-boot off first)."""
        ...

    async def set_start_on_boot(self, on: bool) -> None: ...

    async def wait_writable(self, timeout: float) -> None: ...

    async def set_recovery_credentials(self, user: str, password: Secret) -> None: ...

    async def persist_mode(self, *, single_primary: bool, only: bool) -> None: ...

    # --- group-wide, run on a member ---
    async def set_as_primary(self, member_uuid: str) -> None: ...

    async def force_members(self, addresses: tuple[str, ...]) -> None:
        """Unblock a group without quorum: a new view of exactly these group addresses (run on
        one of them; the excluded members must be down)."""
        ...

    async def switch_to_multi_primary(self) -> None: ...

    async def switch_to_single_primary(self, primary_uuid: str) -> None: ...

    # --- replicated writes, run on the writer ---
    async def ensure_metadata(self, *, cluster_name: str, cluster_id: str, group_name: str,
                              members: Sequence[MetadataMember], multi_primary: bool) -> bool: ...

    async def ensure_router_account(self, user: str, password: Secret, *, reset_password: bool) -> AccountChange: ...

    async def ensure_metrics_account(self, user: str, password: Secret | None) -> bool:
        """The exporter's account with ``password`` (set again each call), or dropped when None;
        True when anything changed."""
        ...

    async def set_password(self, user: str, host: str, password: Secret, *, binlog: bool = True) -> bool:
        """Set an existing account's password, replicated (or on this server only, ``binlog=False``);
        False when the account does not exist."""
        ...

    async def close(self) -> None: ...


class Connector(Protocol):
    """Opens sessions; see the module contract."""

    async def connect(self, endpoint: Endpoint, credentials: Credentials, *, connect_timeout: float,
                      read_timeout: float) -> Server: ...
