"""Decide the cluster's state from one snapshot (pure).

Decision table (first match wins):

  ===================  ==================================================================
  state                when
  ===================  ==================================================================
  SPLIT_BRAIN          two instances report disjoint group views that each hold a majority
  NO_QUORUM            some instances run Group Replication, but no view holds a majority
  ONLINE               a majority view exists; every wanted instance is ONLINE in it and no
                       unwanted instance is still a member
  ONLINE_UNCERTAIN     a majority view exists; some wanted instance cannot be reached by the
                       operator, so its part in the group cannot be verified
  ONLINE_PARTIAL       a majority view exists; some wanted instance is not ONLINE in it
  PENDING              no group anywhere, never bootstrapped, and some wanted instance is
                       not reachable yet (pods starting)
  INITIALIZING         no group anywhere, never bootstrapped, every wanted instance reachable
  OFFLINE_UNCERTAIN    bootstrapped before, no instance in a group now, and some instance is
                       unreachable: a partition the operator cannot see might still hold quorum
  OFFLINE              bootstrapped before, every instance reachable and none in a group:
                       a complete outage, provably
  ===================  ==================================================================

A view "holds a majority" when more than half of its members are not UNREACHABLE (that
is Group Replication's own quorum rule).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from innodb_operator.clustering.model import GroupMode, Instance, Member, MemberState, Role, Snapshot


class ClusterState(StrEnum):
    ONLINE = "ONLINE"
    ONLINE_PARTIAL = "ONLINE_PARTIAL"
    ONLINE_UNCERTAIN = "ONLINE_UNCERTAIN"
    OFFLINE = "OFFLINE"
    OFFLINE_UNCERTAIN = "OFFLINE_UNCERTAIN"
    NO_QUORUM = "NO_QUORUM"
    SPLIT_BRAIN = "SPLIT_BRAIN"
    PENDING = "PENDING"
    INITIALIZING = "INITIALIZING"

    @property
    def has_quorum(self) -> bool:
        return self in (ClusterState.ONLINE, ClusterState.ONLINE_PARTIAL, ClusterState.ONLINE_UNCERTAIN)


@dataclass(frozen=True)
class Diagnosis:
    """The state, the authoritative view when there is one, and a sentence saying why."""

    state: ClusterState
    explanation: str
    view: tuple[Member, ...] = ()
    online: tuple[int, ...] = ()
    primary: int | None = None
    mode: GroupMode | None = None

    def member(self, uuid: str) -> Member | None:
        return next((m for m in self.view if m.uuid == uuid), None)


def has_majority(view: tuple[Member, ...]) -> bool:
    """Group Replication's quorum rule: more than half of the members are reachable."""
    reachable = sum(1 for m in view if m.state != MemberState.UNREACHABLE)
    return bool(view) and reachable * 2 > len(view)


def _alive(view: tuple[Member, ...]) -> frozenset[str]:
    return frozenset(m.uuid for m in view if m.state != MemberState.UNREACHABLE)


def _names(instances: tuple[Instance, ...] | list[Instance]) -> str:
    return ", ".join(i.address for i in instances) or "none"


def decide(snapshot: Snapshot) -> Diagnosis:
    """The cluster's state; see the module's decision table."""
    in_group = [i for i in snapshot.instances if i.in_group]
    if in_group:
        return _with_group(snapshot, in_group)
    unreachable = [i for i in snapshot.instances if not i.reachable]
    bootstrapped = any(i.ever_configured for i in snapshot.instances)
    if not bootstrapped:
        waiting = [i for i in snapshot.wanted if not i.reachable]
        if waiting:
            return Diagnosis(ClusterState.PENDING, f"waiting for instances to start: {_names(waiting)}")
        return Diagnosis(ClusterState.INITIALIZING, "no group exists yet; every instance is reachable")
    if unreachable:
        return Diagnosis(ClusterState.OFFLINE_UNCERTAIN,
                         f"no reachable instance is in a group, and {_names(unreachable)} cannot be reached: "
                         "a partition the operator cannot see might still hold quorum")
    return Diagnosis(ClusterState.OFFLINE, "every instance is reachable and none is in a group: complete outage")


def _with_group(snapshot: Snapshot, in_group: list[Instance]) -> Diagnosis:
    quorate = [i for i in in_group if has_majority(i.view)]
    if not quorate:
        return Diagnosis(ClusterState.NO_QUORUM,
                         f"instances {_names(in_group)} run Group Replication but no view has a majority; "
                         "the operator never forces quorum by itself",
                         view=in_group[0].view)
    partitions: dict[frozenset[str], Instance] = {}
    for instance in quorate:
        partitions.setdefault(_alive(instance.view), instance)
    keys = sorted(partitions, key=len, reverse=True)
    for i, a in enumerate(keys):
        for b in keys[i + 1:]:
            if not a & b:
                return Diagnosis(ClusterState.SPLIT_BRAIN,
                                 f"two groups each claim a majority: {_names([partitions[a]])} and "
                                 f"{_names([partitions[b]])}; fix by hand, the operator will not choose",
                                 view=partitions[a].view)
    view = partitions[keys[0]].view
    by_uuid = {i.uuid: i for i in snapshot.instances if i.uuid}
    online_members = [m for m in view if m.state == MemberState.ONLINE]
    # ONLINE only when the view says so AND the instance itself does: a restarted server's
    # old incarnation can linger in the view as ONLINE while the new one is not in a group.
    online = tuple(sorted(by_uuid[m.uuid].index for m in online_members
                          if m.uuid in by_uuid and by_uuid[m.uuid].state == MemberState.ONLINE))
    primaries = [m for m in online_members if m.role == Role.PRIMARY]
    primary = by_uuid[primaries[0].uuid].index if len(primaries) == 1 and primaries[0].uuid in by_uuid else None
    # The group's mode is what its ONLINE members run with (a one-member multi-primary group
    # has a single PRIMARY too); fall back to counting primaries if no member told us.
    settings = [i.single_primary for i in snapshot.instances
                if i.index in online and i.single_primary is not None]
    if settings:
        mode: GroupMode | None = GroupMode.SINGLE_PRIMARY if settings[0] else GroupMode.MULTI_PRIMARY
    else:
        mode = GroupMode.MULTI_PRIMARY if len(primaries) > 1 else GroupMode.SINGLE_PRIMARY if primaries else None
    wanted = snapshot.wanted
    unseen = [i for i in wanted if not i.reachable]
    not_online = [i for i in wanted if i.index not in online]
    leftovers = [i for i in snapshot.unwanted if i.uuid and any(m.uuid == i.uuid for m in view)]

    def found(state: ClusterState, explanation: str) -> Diagnosis:
        return Diagnosis(state, explanation, view=view, online=online, primary=primary, mode=mode)

    if not not_online and not leftovers:
        return found(ClusterState.ONLINE, f"all {len(wanted)} instances are ONLINE")
    if unseen:
        return found(ClusterState.ONLINE_UNCERTAIN,
                     f"the group has quorum, but {_names(unseen)} cannot be reached by the operator")
    missing = _names(not_online) if not_online else f"leftover members {_names(leftovers)}"
    return found(ClusterState.ONLINE_PARTIAL, f"the group has quorum; not ONLINE: {missing}")
