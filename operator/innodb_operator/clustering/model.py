"""What the engine knows about a cluster at one instant: one snapshot, gathered once per pass.

Contract:
  * A :class:`Snapshot` lists every instance the operator is responsible for (the pods it
    wants, plus any it wants gone), each as an :class:`Instance`. An instance the operator
    could not reach is still listed, as :func:`unreachable` (a null object: no facts, never
    an exception), so deciding code has one shape to look at.
  * Everything here is immutable and pure data; :mod:`.state` and :mod:`.plan` read it and
    never touch the network.
  * GTID sets are opaque values with two questions: ``a.is_superset(b)`` (every transaction of
    ``b`` is in ``a``) and ``(b - a).count`` (how many of ``b``'s are not in ``a``). The
    ``mysql`` layer's GTID sets satisfy them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol


class Gtids(Protocol):
    """A GTID set, as far as decisions need one."""

    def is_superset(self, other: Any, /) -> bool: ...

    def __sub__(self, other: Any, /) -> Any: ...

    @property
    def count(self) -> int: ...


class MemberState(StrEnum):
    """``performance_schema.replication_group_members.MEMBER_STATE``, plus MISSING (the server
    reports no row for itself: the Group Replication plugin is not loaded) and ACCESS_DENIED
    (the server refused the operator's credentials: state unknown). A server with the plugin
    loaded but not running reports itself OFFLINE."""

    ONLINE = "ONLINE"
    RECOVERING = "RECOVERING"
    OFFLINE = "OFFLINE"
    ERROR = "ERROR"
    UNREACHABLE = "UNREACHABLE"
    MISSING = "MISSING"
    ACCESS_DENIED = "ACCESS_DENIED"


class Role(StrEnum):
    PRIMARY = "PRIMARY"
    SECONDARY = "SECONDARY"
    NONE = ""


@dataclass(frozen=True)
class Member:
    """One row of a group view, as one instance reports it."""

    uuid: str
    address: str
    state: MemberState
    role: Role = Role.NONE
    version: str = ""


@dataclass(frozen=True)
class Instance:
    """One server as the operator observed it.

    ``index`` is the pod ordinal (0 is the designated first member). ``state`` is this
    server's own member state (OFFLINE when Group Replication is loaded but not running,
    MISSING when it is not loaded).
    ``view`` is the group membership as this server sees it (empty when not in a group).
    ``group_name`` is the persisted group name (empty: never configured for a group).
    """

    index: int
    address: str
    reachable: bool = True
    uuid: str = ""
    state: MemberState = MemberState.MISSING
    role: Role = Role.NONE
    view: tuple[Member, ...] = ()
    gtid_executed: Gtids | None = None
    gtid_purged: Gtids | None = None
    gtid_total: Gtids | None = None
    """``gtid_executed`` plus what the group applier received but has not applied yet: a
    transaction the group certified may sit only in a member's relay log at an outage."""
    group_name: str = ""
    single_primary: bool | None = None
    start_on_boot: bool = False
    super_read_only: bool | None = None
    version: str = ""
    last_clone: str = ""
    """When the last clone into this server began (ISO time; "" for never)."""
    became_primary_at: float | None = None
    """Epoch seconds at which this server last began taking writes as the primary (its own
    error log), None when unknown."""

    @property
    def in_group(self) -> bool:
        """Running Group Replication as ONLINE or RECOVERING (part of some group view)."""
        return self.reachable and self.state in (MemberState.ONLINE, MemberState.RECOVERING)

    @property
    def ever_configured(self) -> bool:
        return bool(self.group_name)

    @property
    def transactions(self) -> Gtids | None:
        """Every transaction this instance holds (executed, or received and not yet applied)."""
        return self.gtid_total if self.gtid_total is not None else self.gtid_executed


def unreachable(index: int, address: str) -> Instance:
    """The null instance: the operator could not connect, so it knows nothing about it."""
    return Instance(index=index, address=address, reachable=False, state=MemberState.UNREACHABLE)


def access_denied(index: int, address: str) -> Instance:
    """The null instance of a server that refused the operator's credentials."""
    return Instance(index=index, address=address, reachable=False, state=MemberState.ACCESS_DENIED)


class GroupMode(StrEnum):
    SINGLE_PRIMARY = "SinglePrimary"
    MULTI_PRIMARY = "MultiPrimary"


@dataclass(frozen=True)
class Desired:
    """What the last applied spec asks of the group.

    ``group_name`` is the group this cluster owns (empty: any); an instance configured for
    another group holds another cluster's data and is never acted on.
    """

    instances: int
    mode: GroupMode = GroupMode.SINGLE_PRIMARY
    group_name: str = ""
    hand_over_from: int | None = None
    """An instance the operator is about to restart (a rolling restart): while it is the
    primary and nothing else is pending, the primary moves to the most caught-up other member."""
    finalizing: bool = False
    """The cluster is being deleted: the members leave the group one at a time, the one that
    holds every transaction (the primary) last, and nothing joins."""


@dataclass(frozen=True)
class Snapshot:
    """Every instance the operator is responsible for, and what the spec wants."""

    instances: tuple[Instance, ...]
    desired: Desired

    def by_index(self, index: int) -> Instance | None:
        return next((i for i in self.instances if i.index == index), None)

    @property
    def wanted(self) -> tuple[Instance, ...]:
        """Instances whose ordinal is below the desired count."""
        return tuple(i for i in self.instances if i.index < self.desired.instances)

    @property
    def unwanted(self) -> tuple[Instance, ...]:
        """Instances left over after a scale-down (ordinal at or above the desired count)."""
        return tuple(i for i in self.instances if i.index >= self.desired.instances)
