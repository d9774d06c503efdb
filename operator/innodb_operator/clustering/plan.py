"""Pick at most one next action for the group (pure), as a typed :class:`Plan`.

A plan is an :class:`Action` with the :class:`Reason` for it, or no action and the
:class:`Reason` why not, with the instances the reason is about (``subjects``). Reasons whose
:attr:`Reason.needs_person` is True block the group until a person acts; the others resolve
on their own (pods start, members recover). Sentences for people come from
:mod:`.messages`; nothing decides on a sentence.

Invariants (checked by Hypothesis properties in ``tests/unit/test_clustering_plan.py``):
  * Never two groups: BOOTSTRAP only when no instance anywhere is in a group, none was ever
    configured for one, and every instance is reachable (an unreachable one might hold one).
  * Never lose what a majority acknowledged: REBOOT only after a provable complete outage,
    from the instance whose GTID set contains every other's; if the sets diverge or any
    instance is unreachable, refuse and say why.
  * Never act against a group without quorum: JOIN, LEAVE, SET_PRIMARY and SET_MODE only
    while a majority view exists; NO_QUORUM and SPLIT_BRAIN are reported, not "fixed".
  * Never touch an instance that belongs to another group (``Desired.group_name``).
  * At most one disruptive action per pass; the next pass observes its effect first.
  * A member that would bring errant transactions into the group is not joined.

Order of preference in a group with quorum: finish a scale-down (moving the primary away
first), then join one missing member (wait while another is recovering), then the group mode,
then hand the primary away from an instance about to be restarted (``Desired.hand_over_from``,
once every wanted member is ONLINE) to the member holding the most transactions, among those on
the group's lowest MySQL version (:func:`electable_uuids`; none when the primary alone runs it).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from innodb_operator.clustering.model import GroupMode, Instance, Member, MemberState, Role, Snapshot
from innodb_operator.clustering.state import ClusterState, Diagnosis


class Kind(StrEnum):
    BOOTSTRAP = "Bootstrap"
    JOIN = "Join"
    LEAVE = "Leave"
    REBOOT = "Reboot"
    SET_PRIMARY = "SetPrimary"
    SET_MODE = "SetMode"
    FORCE_QUORUM = "ForceQuorum"


class Reason(StrEnum):
    """Why the plan is what it is. CamelCase values: they appear in status and Events."""

    # an action follows
    NO_GROUP = "NoGroup"                          # bootstrap on the first instance
    MEMBER_MISSING = "MemberMissing"              # join (or rejoin) a wanted instance
    SCALE_DOWN = "ScaleDown"                      # an unwanted member leaves (or hands over the primary)
    MODE_CHANGE = "ModeChange"                    # the spec asks for the other group mode
    HANDOVER = "Handover"                         # the primary moves off a member about to restart
    COMPLETE_OUTAGE = "CompleteOutage"            # reboot from the most advanced instance
    FINALIZING = "Finalizing"                     # deletion: a member leaves (the primary last)
    # nothing to do, or waiting for something that happens on its own
    CONVERGED = "Converged"
    FINALIZED = "Finalized"                       # deletion: no reachable instance is in the group
    WAITING_FOR_PODS = "WaitingForPods"           # subjects: instances not reachable yet
    WAITING_FOR_RECOVERY = "WaitingForRecovery"   # subjects: members RECOVERING
    WAITING_FOR_HEIR = "WaitingForHeir"           # subjects: the primary that should leave
    WAITING_FOR_EXPEL = "WaitingForExpel"         # subjects: the member that should leave
    WAITING_FOR_MEMBERS = "WaitingForMembers"     # subjects: wanted members not ONLINE yet
    MEMBERS_UNREACHABLE = "MembersUnreachable"    # subjects: members the operator cannot reach
    # blocked until a person acts
    SPLIT_BRAIN = "SplitBrain"
    NO_QUORUM = "NoQuorum"
    OUTAGE_UNPROVEN = "OutageUnproven"            # subjects: the unreachable instances
    GTIDS_DIVERGED = "GtidsDiverged"
    ERRANT_TRANSACTIONS = "ErrantTransactions"    # subjects: the joiner
    FOREIGN_GROUP = "ForeignGroup"                # subjects: instances of another group

    @property
    def needs_person(self) -> bool:
        return self in _NEEDS_PERSON


_NEEDS_PERSON = frozenset({
    Reason.SPLIT_BRAIN, Reason.NO_QUORUM, Reason.OUTAGE_UNPROVEN, Reason.GTIDS_DIVERGED,
    Reason.ERRANT_TRANSACTIONS, Reason.FOREIGN_GROUP,
})


@dataclass(frozen=True)
class Action:
    """One step for :mod:`.actions` to execute; ``target`` is an instance index.

    ``clone``: a JOIN copies the donor's data instead of replaying binary logs. ``mode``:
    the group mode a BOOTSTRAP, REBOOT or JOIN configures, or the one SET_MODE switches to.
    ``forced``: a REBOOT a person requested (:mod:`.interventions`) runs without the proof of a
    complete outage and without the target holding every transaction; a forced LEAVE (the last
    member, at deletion) ends the group: no primary or majority check. FORCE_QUORUM is never
    planned here: only a person's request makes one.
    """

    kind: Kind
    target: int
    clone: bool = False
    mode: GroupMode | None = None
    forced: bool = False


@dataclass(frozen=True)
class Plan:
    """The next action (or none) and why; ``subjects`` are the instances the reason is about."""

    action: Action | None
    reason: Reason
    subjects: tuple[int, ...] = ()

    @property
    def blocked(self) -> bool:
        return self.reason.needs_person


def _wait(reason: Reason, instances: list[Instance] | tuple[Instance, ...] = ()) -> Plan:
    return Plan(None, reason, tuple(sorted(i.index for i in instances)))


def next_action(snapshot: Snapshot, diagnosis: Diagnosis) -> Plan:
    strangers = foreign(snapshot)
    if strangers:
        return _wait(Reason.FOREIGN_GROUP, strangers)
    if snapshot.desired.finalizing:
        return _finalize(snapshot)
    state = diagnosis.state
    if state == ClusterState.SPLIT_BRAIN:
        return Plan(None, Reason.SPLIT_BRAIN)
    if state == ClusterState.NO_QUORUM:
        return Plan(None, Reason.NO_QUORUM)
    if state == ClusterState.PENDING:
        return _wait(Reason.WAITING_FOR_PODS, [i for i in snapshot.wanted if not i.reachable])
    if state == ClusterState.INITIALIZING:
        return _bootstrap(snapshot)
    if state in (ClusterState.OFFLINE, ClusterState.OFFLINE_UNCERTAIN):
        return _reboot(snapshot, diagnosis)
    return _with_quorum(snapshot, diagnosis)


def _finalize(snapshot: Snapshot) -> Plan:
    """Deletion: each reachable member leaves, highest ordinal first, the primary (in
    multi-primary mode, the lowest ordinal) last, so that the last member holds every
    transaction; the last leave is forced (it ends the group). Unreachable instances are down
    already. No member left in the group: FINALIZED."""
    members = sorted((i for i in snapshot.instances if i.reachable and i.in_group), key=lambda i: i.index)
    if not members:
        return Plan(None, Reason.FINALIZED)
    last = next((i for i in members if i.role == Role.PRIMARY), members[0])
    others = [i for i in members if i.index != last.index]
    if others:
        return Plan(Action(Kind.LEAVE, others[-1].index), Reason.FINALIZING, (others[-1].index,))
    return Plan(Action(Kind.LEAVE, last.index, forced=True), Reason.FINALIZING, (last.index,))


def foreign(snapshot: Snapshot) -> list[Instance]:
    """Reachable instances configured for a group other than the desired one."""
    mine = snapshot.desired.group_name.lower()
    if not mine:
        return []
    return [i for i in snapshot.instances if i.reachable and i.group_name and i.group_name.lower() != mine]


def _bootstrap(snapshot: Snapshot) -> Plan:
    """INITIALIZING: no instance is or was in a group; bootstrap once all of them answer (an
    unreachable one, even above the wanted count, might hold a group)."""
    seed = snapshot.by_index(0)
    if seed is None or not seed.reachable:
        return Plan(None, Reason.WAITING_FOR_PODS, (0,))
    unreachable = [i for i in snapshot.instances if not i.reachable]
    if unreachable:
        return _wait(Reason.WAITING_FOR_PODS, unreachable)
    return Plan(Action(Kind.BOOTSTRAP, 0, mode=snapshot.desired.mode), Reason.NO_GROUP, (0,))


def most_advanced(instances: tuple[Instance, ...]) -> Instance | None:
    """The instance holding every transaction any other holds (lowest index among equals), if any.

    "Holds" counts what the group applier received but has not applied yet: a transaction
    the group certified may exist only in a member's relay log when the outage hit.
    """
    for candidate in sorted(instances, key=lambda i: i.index):
        mine = candidate.transactions
        if mine is None:
            continue
        if all(o.transactions is not None and mine.is_superset(o.transactions)
               for o in instances if o is not candidate):
            return candidate
    return None


def _reboot(snapshot: Snapshot, diagnosis: Diagnosis) -> Plan:
    if diagnosis.state == ClusterState.OFFLINE_UNCERTAIN:
        return _wait(Reason.OUTAGE_UNPROVEN, [i for i in snapshot.instances if not i.reachable])
    best = most_advanced(snapshot.instances)
    if best is None:
        return Plan(None, Reason.GTIDS_DIVERGED)
    return Plan(Action(Kind.REBOOT, best.index, mode=snapshot.desired.mode), Reason.COMPLETE_OUTAGE, (best.index,))


def _with_quorum(snapshot: Snapshot, d: Diagnosis) -> Plan:
    in_view = {m.uuid: m for m in d.view}
    members = [i for i in snapshot.instances if i.uuid in in_view]
    # 1. Scale-down: a member beyond the desired count leaves; move the primary away first.
    for leaver in sorted((i for i in snapshot.unwanted if i.uuid in in_view), key=lambda i: -i.index):
        if leaver.index == d.primary:
            heir = _heir(snapshot, d)
            if heir is None:
                return Plan(None, Reason.WAITING_FOR_HEIR, (leaver.index,))
            return Plan(Action(Kind.SET_PRIMARY, heir.index), Reason.SCALE_DOWN, (leaver.index,))
        if not keeps_majority_without(d.view, leaver.uuid):
            return Plan(None, Reason.WAITING_FOR_EXPEL, (leaver.index,))
        return Plan(Action(Kind.LEAVE, leaver.index), Reason.SCALE_DOWN, (leaver.index,))
    # 2. Join one missing member at a time.
    recovering = {m.uuid for m in d.view if m.state == MemberState.RECOVERING}
    missing = [i for i in snapshot.wanted if _needs_join(i, in_view)]
    if missing and recovering:
        return _wait(Reason.WAITING_FOR_RECOVERY, [i for i in snapshot.instances if i.uuid in recovering])
    for joiner in sorted(missing, key=lambda i: i.index):
        donors = [i for i in members if i.index in d.online]
        plan = _join(joiner, donors, d.mode or snapshot.desired.mode)
        if plan is not None:
            return plan
    # 3. Group mode, once every wanted member is ONLINE.
    not_online = [i for i in snapshot.wanted if i.index not in d.online]
    if d.mode is not None and d.mode != snapshot.desired.mode:
        if not_online:
            return _wait(Reason.WAITING_FOR_MEMBERS, not_online)
        return Plan(Action(Kind.SET_MODE, d.primary if d.primary is not None else min(d.online),
                           mode=snapshot.desired.mode), Reason.MODE_CHANGE)
    # 4. Hand the primary away from an instance about to be restarted.
    away = snapshot.desired.hand_over_from
    if away is not None and d.primary == away and d.mode == GroupMode.SINGLE_PRIMARY and not not_online:
        electable = electable_uuids(d.view)
        heir = _most_caught_up([i for i in snapshot.wanted if i.index in d.online and i.index != away
                                and i.uuid in electable])
        if heir is not None:
            return Plan(Action(Kind.SET_PRIMARY, heir.index), Reason.HANDOVER, (away,))
    if d.state == ClusterState.ONLINE:
        return Plan(None, Reason.CONVERGED)
    unseen = [i for i in snapshot.wanted if not i.reachable]
    if unseen:
        return _wait(Reason.MEMBERS_UNREACHABLE, unseen)
    return _wait(Reason.WAITING_FOR_MEMBERS, not_online)


def _version_key(text: str) -> tuple[int, ...] | None:
    try:
        return tuple(int(part) for part in text.split("-", 1)[0].split("."))
    except ValueError:
        return None


def electable_uuids(view: tuple[Member, ...]) -> set[str]:
    """The ONLINE members Group Replication accepts as a new primary: those on the group's
    lowest MySQL version (it refuses ``group_replication_set_as_primary`` to any other, and
    elects among them). Every ONLINE member when a version is unknown."""
    online = [m for m in view if m.state == MemberState.ONLINE]
    keys = {m.uuid: _version_key(m.version) for m in online}
    known = [k for k in keys.values() if k is not None]
    if len(known) < len(online):
        return {m.uuid for m in online}
    lowest = min(known, default=None)
    return {uuid for uuid, key in keys.items() if key == lowest}


def keeps_majority_without(view: tuple[Member, ...], uuid: str) -> bool:
    """Whether the group still has a majority after the member ``uuid`` leaves cleanly."""
    rest = tuple(m for m in view if m.uuid != uuid)
    reachable = sum(1 for m in rest if m.state != MemberState.UNREACHABLE)
    return bool(rest) and reachable * 2 > len(rest)


def _needs_join(instance: Instance, in_view: dict[str, Member]) -> bool:
    """Reachable, wanted, and not a member of the group (or a member it lists as ERROR/OFFLINE)."""
    if not instance.reachable:
        return False
    member = in_view.get(instance.uuid)
    return member is None or member.state in (MemberState.ERROR, MemberState.OFFLINE)


def _most_caught_up(candidates: list[Instance]) -> Instance | None:
    """The candidate whose transactions contain every other candidate's (lowest ordinal first
    among equals); None when none does or a GTID set is unknown."""
    for instance in sorted(candidates, key=lambda i: i.index):
        mine = instance.transactions
        if mine is not None and all(o.transactions is not None and mine.is_superset(o.transactions)
                                    for o in candidates):
            return instance
    return None


def _heir(snapshot: Snapshot, d: Diagnosis) -> Instance | None:
    for instance in sorted(snapshot.wanted, key=lambda i: i.index):
        if instance.index in d.online:
            return instance
    return None


def _join(joiner: Instance, donors: list[Instance], mode: GroupMode) -> Plan | None:
    """JOIN ``joiner`` (in the group's current ``mode``): incrementally when a donor's binary
    logs still cover it, else by clone; never when it holds transactions no donor has."""
    if not donors:
        return None
    mine = joiner.gtid_executed
    if mine is not None and not any(d.transactions is not None and d.transactions.is_superset(mine)
                                    for d in donors):
        return Plan(None, Reason.ERRANT_TRANSACTIONS, (joiner.index,))
    incremental = mine is not None and any(d.gtid_purged is not None and mine.is_superset(d.gtid_purged)
                                           for d in donors)
    return Plan(Action(Kind.JOIN, joiner.index, clone=not incremental, mode=mode), Reason.MEMBER_MISSING,
                (joiner.index,))
