"""Decide what to do with a person's one-shot request (pure): act, say it is done, or refuse.

A request names one of three interventions and the instance it is about:

  ==============  ==================================================================================
  SWITCHOVER      make the instance the primary. Needs a group with quorum in single-primary mode
                  and the instance ONLINE in it. No data is at risk: the server's own
                  ``group_replication_set_as_primary`` waits for the new primary's backlog.
  REBOOT          start the group again from the instance after an outage the operator cannot
                  prove (some instance unreachable) or whose GTID sets diverge. Needs no instance
                  running Group Replication and the instance reachable.
  FORCE_QUORUM    unblock a group that lost its majority for good: a new view of the instance and
                  the members its view still sees. Needs NO_QUORUM and the instance ONLINE in it.
  ==============  ==================================================================================

Contract:
  * :func:`decide` never touches the network; :mod:`.actions` re-checks the preconditions on
    the live servers before it runs anything (``Action.forced`` for a REBOOT).
  * Never lose acknowledged data silently: a REBOOT or FORCE_QUORUM from an instance that lacks
    transactions another reachable instance holds is refused with the count per instance,
    unless the request accepts data loss. Instances the operator cannot compare (unreachable, or
    GTIDs unknown) are listed in :attr:`Decision.uncompared`, so the message can say so.
  * A request whose effect already holds (the instance is already primary; the group already
    has quorum) is DONE without an action.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from innodb_operator.clustering.model import GroupMode, Instance, MemberState, Snapshot
from innodb_operator.clustering.plan import Action, Kind, foreign
from innodb_operator.clustering.state import ClusterState, Diagnosis


class Intervention(StrEnum):
    SWITCHOVER = "switchover"
    REBOOT = "reboot"
    FORCE_QUORUM = "force-quorum"


class Verdict(StrEnum):
    ACT = "Act"
    DONE = "Done"
    REFUSED = "Refused"


class Why(StrEnum):
    """Why the verdict is what it is (CamelCase: appears in status and Events)."""

    SWITCHING = "Switching"
    REBOOTING = "Rebooting"
    FORCING = "Forcing"
    ALREADY_PRIMARY = "AlreadyPrimary"
    HAS_QUORUM = "HasQuorum"
    NO_QUORUM = "NoQuorum"
    MULTI_PRIMARY = "MultiPrimary"
    NOT_ONLINE = "NotOnline"
    UNREACHABLE = "Unreachable"
    GROUP_RUNNING = "GroupRunning"
    NOT_NEEDED = "NotNeeded"
    FOREIGN = "ForeignGroup"
    WOULD_LOSE_DATA = "WouldLoseData"


@dataclass(frozen=True)
class Loss:
    """Transactions ``instance`` holds that the requested instance does not."""

    instance: int
    transactions: int


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    why: Why
    action: Action | None = None
    losses: tuple[Loss, ...] = ()
    """What acting loses (REBOOT, FORCE_QUORUM): refused unless data loss was accepted."""
    uncompared: tuple[int, ...] = ()
    """Other instances whose transactions could not be compared."""
    state: ClusterState | None = None
    """The cluster state the decision was made in (for messages)."""


def decide(kind: Intervention, target: int, snapshot: Snapshot, diagnosis: Diagnosis, *,
           accept_data_loss: bool = False) -> Decision:
    """What to do with the request (see the module table and contract)."""
    instance = snapshot.by_index(target)
    state = diagnosis.state
    if instance is None or not instance.reachable:
        return Decision(Verdict.REFUSED, Why.UNREACHABLE, state=state)
    if instance in foreign(snapshot):
        return Decision(Verdict.REFUSED, Why.FOREIGN, state=state)
    if kind == Intervention.SWITCHOVER:
        return _switchover(target, diagnosis)
    if kind == Intervention.FORCE_QUORUM:
        return _force_quorum(instance, snapshot, diagnosis, accept_data_loss)
    return _reboot(instance, snapshot, diagnosis, accept_data_loss)


def _switchover(target: int, d: Diagnosis) -> Decision:
    if not d.state.has_quorum:
        return Decision(Verdict.REFUSED, Why.NO_QUORUM, state=d.state)
    if d.mode == GroupMode.MULTI_PRIMARY:
        return Decision(Verdict.REFUSED, Why.MULTI_PRIMARY, state=d.state)
    if target not in d.online:
        return Decision(Verdict.REFUSED, Why.NOT_ONLINE, state=d.state)
    if d.primary == target:
        return Decision(Verdict.DONE, Why.ALREADY_PRIMARY, state=d.state)
    return Decision(Verdict.ACT, Why.SWITCHING, Action(Kind.SET_PRIMARY, target), state=d.state)


def _force_quorum(instance: Instance, snapshot: Snapshot, d: Diagnosis, accept: bool) -> Decision:
    if d.state.has_quorum:
        return Decision(Verdict.DONE, Why.HAS_QUORUM, state=d.state)
    if d.state != ClusterState.NO_QUORUM:
        return Decision(Verdict.REFUSED, Why.NOT_NEEDED, state=d.state)
    if instance.state != MemberState.ONLINE:
        return Decision(Verdict.REFUSED, Why.NOT_ONLINE, state=d.state)
    return _unless_losing(instance, snapshot, accept, Why.FORCING,
                          Action(Kind.FORCE_QUORUM, instance.index), d.state)


def _reboot(instance: Instance, snapshot: Snapshot, d: Diagnosis, accept: bool) -> Decision:
    if any(i.in_group for i in snapshot.instances):
        return Decision(Verdict.REFUSED, Why.GROUP_RUNNING, state=d.state)
    if d.state not in (ClusterState.OFFLINE, ClusterState.OFFLINE_UNCERTAIN):
        return Decision(Verdict.REFUSED, Why.NOT_NEEDED, state=d.state)
    action = Action(Kind.REBOOT, instance.index, mode=snapshot.desired.mode, forced=True)
    return _unless_losing(instance, snapshot, accept, Why.REBOOTING, action, d.state)


def _unless_losing(instance: Instance, snapshot: Snapshot, accept: bool, why: Why, action: Action,
                   state: ClusterState) -> Decision:
    losses, uncompared = compare(instance, snapshot)
    if losses and not accept:
        return Decision(Verdict.REFUSED, Why.WOULD_LOSE_DATA, losses=losses, uncompared=uncompared, state=state)
    return Decision(Verdict.ACT, why, action, losses=losses, uncompared=uncompared, state=state)


def compare(instance: Instance, snapshot: Snapshot) -> tuple[tuple[Loss, ...], tuple[int, ...]]:
    """Per other instance: the transactions it holds that ``instance`` lacks (only the nonzero
    ones), and the instances that could not be compared."""
    mine = instance.transactions
    losses: list[Loss] = []
    uncompared: list[int] = []
    for other in sorted(snapshot.instances, key=lambda i: i.index):
        if other.index == instance.index:
            continue
        theirs = other.transactions
        if not other.reachable or theirs is None or mine is None:
            uncompared.append(other.index)
            continue
        missing = (theirs - mine).count
        if missing:
            losses.append(Loss(other.index, missing))
    return tuple(losses), tuple(uncompared)
