"""Pick at most one next action for the group (pure).

Invariants (checked by Hypothesis properties in ``tests/unit/test_clustering_plan.py``):
  * Never two groups: BOOTSTRAP only when no instance anywhere is in a group, none was ever
    configured for one, and every instance is reachable (an unreachable one might hold one).
  * Never lose what a majority acknowledged: REBOOT only after a provable complete outage,
    from the instance whose GTID set contains every other's; if the sets diverge or any
    instance is unreachable, refuse and say why, unless the spec names the instance.
  * Never act against a group without quorum: JOIN, LEAVE, SET_PRIMARY and SET_MODE only
    while a majority view exists; NO_QUORUM and SPLIT_BRAIN are reported, not "fixed"
    (FORCE_QUORUM only when the spec names the instance to force it from).
  * At most one disruptive action per pass; the next pass observes its effect first.
  * A member that would bring errant transactions into the group is not joined.

Order of preference in a group with quorum: finish a scale-down (moving the primary away
first), then join one missing member (wait while another is recovering), then the group
mode, then the requested primary.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from innodb_operator.clustering.model import GroupMode, Instance, Member, MemberState, Snapshot
from innodb_operator.clustering.state import ClusterState, Diagnosis


class Kind(StrEnum):
    BOOTSTRAP = "Bootstrap"
    JOIN = "Join"
    LEAVE = "Leave"
    REBOOT = "Reboot"
    SET_PRIMARY = "SetPrimary"
    SET_MODE = "SetMode"
    FORCE_QUORUM = "ForceQuorum"


@dataclass(frozen=True)
class Action:
    """One step for :mod:`.actions` to execute; ``target`` is an instance index."""

    kind: Kind
    target: int
    clone: bool = False
    mode: GroupMode | None = None
    reason: str = ""


@dataclass(frozen=True)
class Plan:
    """The next action (or none) and a sentence for status: what happens next, or why not."""

    action: Action | None
    why: str


def next_action(snapshot: Snapshot, diagnosis: Diagnosis) -> Plan:
    state = diagnosis.state
    if state == ClusterState.SPLIT_BRAIN:
        return Plan(None, f"blocked: {diagnosis.explanation}")
    if state == ClusterState.NO_QUORUM:
        return _no_quorum(snapshot, diagnosis)
    if state == ClusterState.PENDING:
        return Plan(None, diagnosis.explanation)
    if state == ClusterState.INITIALIZING:
        return _bootstrap(snapshot)
    if state in (ClusterState.OFFLINE, ClusterState.OFFLINE_UNCERTAIN):
        return _reboot(snapshot, diagnosis)
    return _with_quorum(snapshot, diagnosis)


def _bootstrap(snapshot: Snapshot) -> Plan:
    seed = snapshot.by_index(0)
    if seed is None or not seed.reachable:
        return Plan(None, "waiting for the first instance to start")
    if any(i.in_group or i.ever_configured or not i.reachable for i in snapshot.instances):
        return Plan(None, "blocked: an instance was configured for a group before; not bootstrapping a new one")
    return Plan(Action(Kind.BOOTSTRAP, 0, mode=snapshot.desired.mode,
                       reason="no group exists; bootstrapping on the first instance"),
                f"bootstrapping the group on {seed.address}")


def _most_advanced(instances: tuple[Instance, ...]) -> Instance | None:
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
    override = snapshot.desired.reboot_from
    if override is not None:
        target = snapshot.by_index(override)
        if target is None or not target.reachable:
            return Plan(None, f"blocked: the spec asks to reboot from instance {override}, which is not reachable")
        return Plan(Action(Kind.REBOOT, override, mode=snapshot.desired.mode,
                           reason="the spec names the instance to reboot from"),
                    f"rebooting the group from {target.address}, as the spec asks")
    if diagnosis.state == ClusterState.OFFLINE_UNCERTAIN:
        return Plan(None, f"blocked: {diagnosis.explanation}; to reboot anyway, name the instance in the spec")
    best = _most_advanced(snapshot.instances)
    if best is None:
        return Plan(None, "blocked: complete outage, but the instances' GTID sets diverge (none contains all "
                          "others); name the instance to reboot from in the spec, knowing the others' extra "
                          "transactions will be lost")
    return Plan(Action(Kind.REBOOT, best.index, mode=snapshot.desired.mode,
                       reason="complete outage; this instance has every transaction"),
                f"rebooting the group from {best.address}, which holds every transaction")


def _no_quorum(snapshot: Snapshot, diagnosis: Diagnosis) -> Plan:
    forced = snapshot.desired.force_quorum_from
    if forced is None:
        return Plan(None, f"blocked: {diagnosis.explanation}")
    target = snapshot.by_index(forced)
    if target is None or target.state != MemberState.ONLINE:
        return Plan(None, f"blocked: the spec asks to force quorum from instance {forced}, which is not ONLINE")
    return Plan(Action(Kind.FORCE_QUORUM, forced, reason="the spec asks to force quorum"),
                f"forcing quorum from {target.address}, as the spec asks")


def _with_quorum(snapshot: Snapshot, d: Diagnosis) -> Plan:
    in_view = {m.uuid: m for m in d.view}
    members = [i for i in snapshot.instances if i.uuid in in_view]
    # 1. Scale-down: a member beyond the desired count leaves; move the primary away first.
    for leaver in sorted((i for i in snapshot.unwanted if i.uuid in in_view), key=lambda i: -i.index):
        if leaver.index == d.primary:
            heir = _heir(snapshot, d)
            if heir is None:
                return Plan(None, f"waiting for an ONLINE member to take over as primary from {leaver.address}")
            return Plan(Action(Kind.SET_PRIMARY, heir.index, reason=f"{leaver.address} is leaving"),
                        f"switching the primary to {heir.address} before {leaver.address} leaves")
        if not keeps_majority_without(d.view, leaver.uuid):
            return Plan(None, f"waiting for unreachable members to be expelled before {leaver.address} leaves: "
                              "leaving now would cost the group its majority")
        return Plan(Action(Kind.LEAVE, leaver.index, reason="scale-down"), f"{leaver.address} is leaving the group")
    # 2. Join one missing member at a time.
    recovering = [m for m in d.view if m.state == MemberState.RECOVERING]
    missing = [i for i in snapshot.wanted if _needs_join(i, in_view)]
    if missing and recovering:
        return Plan(None, f"waiting for {len(recovering)} recovering member(s) before joining the next one")
    for joiner in sorted(missing, key=lambda i: i.index):
        donors = [i for i in members if i.index in d.online]
        plan = _join(joiner, donors, d.mode or snapshot.desired.mode)
        if plan is not None:
            return plan
    # 3. Group mode, once every wanted member is ONLINE.
    all_online = all(i.index in d.online for i in snapshot.wanted)
    if d.mode is not None and d.mode != snapshot.desired.mode:
        if not all_online:
            return Plan(None, f"waiting for every member to be ONLINE before switching to {snapshot.desired.mode}")
        return Plan(Action(Kind.SET_MODE, d.primary if d.primary is not None else min(d.online),
                           mode=snapshot.desired.mode, reason="the spec asks for another group mode"),
                    f"switching the group to {snapshot.desired.mode}")
    # 4. The requested primary.
    wanted_primary = snapshot.desired.primary
    if (wanted_primary is not None and snapshot.desired.mode == GroupMode.SINGLE_PRIMARY
            and d.primary is not None and d.primary != wanted_primary):
        if wanted_primary not in d.online:
            return Plan(None, f"waiting for instance {wanted_primary} to be ONLINE to make it primary")
        target = snapshot.by_index(wanted_primary)
        return Plan(Action(Kind.SET_PRIMARY, wanted_primary, reason="the spec asks for this primary"),
                    f"switching the primary to {target.address if target else wanted_primary}")
    if d.state == ClusterState.ONLINE:
        return Plan(None, "nothing to do")
    return Plan(None, d.explanation)


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
        return Plan(None, f"blocked: {joiner.address} has transactions the group does not have (errant); "
                          "it cannot join without losing them. Inspect it, then remove its data to re-clone")
    incremental = mine is not None and any(d.gtid_purged is not None and mine.is_superset(d.gtid_purged)
                                           for d in donors)
    how = "incremental recovery" if incremental else "clone"
    verb = "rejoining" if joiner.ever_configured else "joining"
    return Plan(Action(Kind.JOIN, joiner.index, clone=not incremental, mode=mode, reason=f"{verb} with {how}"),
                f"{verb} {joiner.address} to the group ({how})")
