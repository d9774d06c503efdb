"""What changed in a group between two group-manager passes: lifecycle Events and cluster counters.

Contract (pure apart from the memory of the last pass per cluster; time is passed in):
  * :meth:`Lifecycle.step` compares one pass's status part with the last one of the same
    cluster and returns what happened: Events (:class:`~.groupview.Notice`) for ONLINE members
    that left, became unreachable or went into ERROR (expelled), for members back ONLINE
    (rejoined), for a primary that moved (with the failover's duration when the loss had been
    observed first) and for a change of the cluster state once it has been ONLINE (a new
    cluster's first join and first primary are told by the operator's action Events); and the
    counts the cluster metrics add (primary changes, rejoins, clones).
  * The first pass of a cluster (after an operator start) only sets the baseline: nothing that
    was already so is reported as news, and clones found on members at that point are not counted.
  * "The primary" is the member the pass found ONLINE as PRIMARY in single-primary mode. A
    failover's duration runs from the loss of the old primary to the new one taking writes.
    The loss is the earlier of the first pass that found the known primary gone and the
    termination of its ``mysql`` container (pod status, whole seconds; only a termination
    since it became primary counts). The end is the moment the new primary's own error log
    says it works as primary, when that lies between the two; else the pass that found it.
    A switch seen within one pass, with no termination of the old primary (a planned
    switchover), counts without a duration. Times are wall-clock epoch seconds.
  * A member the group's view held UNREACHABLE and then no more was expelled by the group:
    ``MemberExpelled``, as for an ONLINE member that went into ERROR. So was one back ONLINE in
    the view after its ``mysql`` container terminated since it last joined: the group removed
    the old incarnation in the same view change in which the restarted one joined (Group
    Replication logs no expel for it). Back ONLINE without a termination is a blip, not news.
  * A group mode that moved away from the declared one (``declared_mode``) between two passes
    was changed outside the operator, which only ever switches towards the spec:
    ``GroupModeChangedOutsideSpec``, saying that it is switched back and how to change it.
  * Passes that could not look at the group (``observed`` False) change nothing.
  * :func:`group_sample` is the pass's cluster metrics (see :mod:`~innodb_operator.observability.clusters`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from innodb_operator.builders.status import GroupStatus, MemberStatus
from innodb_operator.clustering.manager import GroupSpec
from innodb_operator.clustering.model import GroupMode, MemberState, Snapshot
from innodb_operator.clustering.state import ClusterState
from innodb_operator.controllers.groupview import Notice, namer
from innodb_operator.observability.clusters import GroupSample, Member

ONLINE = MemberState.ONLINE.value
SINGLE_PRIMARY = GroupMode.SINGLE_PRIMARY.value
_EXPELLED = "ERROR"
_GONE = ("OFFLINE", "MISSING")


@dataclass(frozen=True)
class Changes:
    """What one pass found had happened since the last one."""

    notices: tuple[Notice, ...] = ()
    primary_changes: int = 0
    rejoins: int = 0
    clones: int = 0
    failover_seconds: float | None = None


@dataclass(frozen=True)
class Timing:
    """Timestamps from outside the passes (epoch seconds) that time a failover closely."""

    stopped: Mapping[str, float] = field(default_factory=dict)
    """Member -> when its ``mysql`` container last terminated (the pod's container status)."""
    promoted: Mapping[str, float] = field(default_factory=dict)
    """Member -> when its server last began taking writes as primary (its error log)."""


STOP_SLACK = 1.0
"""Seconds a container termination may precede the primary's own start as primary and still
count: the pod status gives whole seconds."""


@dataclass
class _Memory:
    state: str
    primary: str
    members: dict[str, str]                 # name -> state
    clones: dict[str, str]                  # name -> start of the last clone seen on it
    view: dict[str, str] = field(default_factory=dict)  # name -> state in the group's view
    ever_online: set[str] = field(default_factory=set)
    was_online: bool = False                # the cluster has been ONLINE since the baseline
    primary_lost: tuple[str, float] | None = None  # (old primary, when its loss was observed)
    primary_since: float = 0.0              # when the primary took the role (its log, else the pass)
    mode: str = ""                          # the group mode the last pass found
    joined_at: dict[str, float] = field(default_factory=dict)  # name -> pass its view turned ONLINE (or the baseline)


class Lifecycle:
    """Remembers the last pass of each cluster (``namespace/name``)."""

    def __init__(self) -> None:
        self._memory: dict[str, _Memory] = {}

    def forget(self, key: str) -> None:
        self._memory.pop(key, None)

    def step(self, key: str, group: GroupStatus, now: float, *, clones: Mapping[str, str] | None = None,
             view: Mapping[str, str] | None = None, timing: Timing | None = None,
             declared_mode: str = "") -> Changes:
        """``now``: wall-clock epoch seconds; ``clones``: member name -> start time of the last clone
        into it ("" for none); ``view``: member name -> its state in the group's view, None when no
        ONLINE member answered (the view is unknown); ``timing``: see :class:`Timing`;
        ``declared_mode``: the group mode the spec declares ("" when unknown)."""
        if not group.observed:
            return Changes()
        clones = clones or {}
        timing = timing or Timing()
        members = {m.name: m.state for m in group.members}
        primary = current_primary(group)
        last = self._memory.get(key)
        if last is None:
            self._memory[key] = _Memory(group.state, primary, members, dict(clones), dict(view or {}),
                                        {n for n, s in members.items() if s == ONLINE}, group.state == ONLINE,
                                        primary_since=timing.promoted.get(primary, now), mode=group.mode,
                                        joined_at={n: now for n, s in (view or {}).items() if s == ONLINE})
            return Changes()
        notices: list[Notice] = []
        if view is not None:
            notices.extend(_expelled(last.view, view, members, timing.stopped, last.joined_at))
            last.joined_at.update({n: now for n, s in view.items() if s == ONLINE and last.view.get(n) != ONLINE})
            last.view = dict(view)
        rejoins = 0
        for member in group.members:
            before = last.members.get(member.name)
            if before == member.state:
                continue
            notice = _member_notice(member, before, member.name in last.ever_online)
            if notice is not None:
                notices.append(notice)
            if member.state == ONLINE:
                if member.name in last.ever_online:
                    rejoins += 1
                last.ever_online.add(member.name)
        new_clones = sum(1 for name, started in clones.items() if started and started != last.clones.get(name))
        moved, failover = _primary_moved(last, primary, timing, now)
        changes = int(moved is not None)
        if moved is not None:
            notices.append(moved)
        if declared_mode and group.mode and last.mode == declared_mode and group.mode != declared_mode:
            notices.append(_mode_notice(last.mode, group.mode))
        last.mode = group.mode or last.mode
        if group.state != last.state and group.state and last.was_online:
            notices.append(_state_notice(last.state, group))
        last.was_online = last.was_online or group.state == ONLINE
        last.state = group.state or last.state
        last.members = members
        last.clones.update(clones)
        if primary:
            last.primary = primary
        elif last.primary and group.mode not in (SINGLE_PRIMARY, ""):
            last.primary, last.primary_lost = "", None  # multi-primary: no single primary to follow
        return Changes(tuple(notices), changes, rejoins, new_clones, failover)


def _primary_moved(last: _Memory, primary: str, timing: Timing, now: float) -> tuple[Notice | None, float | None]:
    """The Event of a primary that moved since the last pass (None: it did not), with the
    failover's duration when one can be told; keeps the memory of a loss not over yet."""
    notice, failover = None, None
    if primary != last.primary and last.primary:
        observed_lost = last.primary_lost[1] if last.primary_lost is not None else None
        if last.primary_lost is None:
            last.primary_lost = (last.primary, now)
        if primary:
            old = last.primary_lost[0]
            failover = _failover_seconds(observed_lost, timing.stopped.get(old), last.primary_since,
                                         timing.promoted.get(primary), now)
            notice = _primary_notice(old, primary, failover)
            last.primary_lost = None
            last.primary_since = timing.promoted.get(primary, now)
    if primary and primary == (last.primary_lost or ("", 0.0))[0]:
        last.primary_lost = None  # the same primary came back: no failover
    return notice, failover


def _failover_seconds(observed_lost: float | None, stopped: float | None, primary_since: float,
                      promoted: float | None, now: float) -> float | None:
    """Loss (observed, or the old primary's container termination) to the new primary's start."""
    start = observed_lost
    if stopped is not None and primary_since - STOP_SLACK <= stopped <= now:
        start = stopped if start is None else min(start, stopped)
    if start is None:
        return None
    end = promoted if promoted is not None and start <= promoted <= now else now
    return end - start if end > start else None


def _expelled(before: Mapping[str, str], after: Mapping[str, str], own: Mapping[str, str],
              stopped: Mapping[str, float], joined_at: Mapping[str, float]) -> list[Notice]:
    """Members the group's view held UNREACHABLE and holds no more (removed by the majority), or
    holds ONLINE again as a new incarnation (its ``mysql`` container terminated after the view
    last saw it join: the old incarnation was removed as the restarted one joined)."""
    out = []
    for name, state in before.items():
        now = after.get(name)
        if state != "UNREACHABLE" or now == "UNREACHABLE":
            continue
        if now != ONLINE:
            out.append(Notice("Warning", "MemberExpelled", (
                f"{name} was expelled from the group: it stayed UNREACHABLE longer than the expel timeout and the "
                f"majority removed it from the view (now {own.get(name, 'unknown')}{', rejoining' if now else ''}).")))
        elif stopped.get(name, float("-inf")) >= joined_at.get(name, float("inf")) - STOP_SLACK:
            out.append(Notice("Warning", "MemberExpelled", (
                f"{name} was expelled from the group: its mysqld stopped while it was a member, and the group "
                "removed the UNREACHABLE old incarnation when the restarted one joined "
                f"(now {own.get(name, 'unknown')}).")))
    return out


def view_states(spec: GroupSpec, snapshot: Snapshot) -> dict[str, str] | None:
    """Member name -> state in the largest view an ONLINE member reports; None when no ONLINE member answered."""
    views = [i.view for i in snapshot.instances if i.reachable and i.state == MemberState.ONLINE and i.view]
    if not views:
        return None
    label = namer(spec)
    by_uuid = {i.uuid: label(i.index) for i in snapshot.instances if i.uuid}
    by_address = {t.address: t.label for t in spec.targets}
    out = {}
    for member in max(views, key=len):
        name = by_uuid.get(member.uuid) or by_address.get(member.address)
        if name:
            out[name] = member.state.value
    return out


def current_primary(group: GroupStatus) -> str:
    """The member this pass found ONLINE as PRIMARY in single-primary mode, or ""."""
    if group.mode != SINGLE_PRIMARY:
        return ""
    for member in group.members:
        if member.name == group.primary and member.state == ONLINE and member.role == "PRIMARY":
            return member.name
    return ""


def _member_notice(member: MemberStatus, before: str | None, was_online: bool) -> Notice | None:
    name, state = member.name, member.state
    was = before or "not seen"
    if state == ONLINE:
        if was_online:
            return Notice("Normal", "MemberRejoined", f"{name} is ONLINE again ({member.role or 'member'}); "
                                                      f"it was {was}.")
        return None  # a first join: the Joined Event of the operator's action tells it
    if before != ONLINE:
        return None  # e.g. OFFLINE -> RECOVERING on the way in: the join's own Events tell it
    if state == "UNREACHABLE":
        return Notice("Warning", "MemberUnreachable", f"{name} was ONLINE and is now UNREACHABLE: the group "
                                                      "cannot reach it (its mysqld stopped, or the network).")
    if state == _EXPELLED:
        return Notice("Warning", "MemberExpelled", f"{name} was ONLINE and is now in ERROR: it was expelled "
                                                   "from the group or its applier failed; the operator rejoins "
                                                   "it when it can (see kubectl logs "
                                                   f"{name} -c mysql).")
    if state in _GONE:
        return Notice("Warning", "MemberLeft", f"{name} was ONLINE and has left the group (now {state}).")
    return Notice("Warning", "MemberStateChanged", f"{name} was ONLINE and is now {state}.")


def _primary_notice(old: str, new: str, seconds: float | None) -> Notice:
    if seconds is None:
        return Notice("Normal", "PrimaryChanged", f"The primary moved from {old or 'none'} to {new}. The spec "
                                                  "names no primary, so the operator keeps it there; to choose "
                                                  "one: kubectl innodb switchover CLUSTER --to MEMBER.")
    return Notice("Warning", "FailoverObserved", f"The primary moved from {old} to {new}: {seconds:.1f} s from "
                                                 f"{old} lost to {new} taking writes as primary.")


def _mode_notice(declared: str, found: str) -> Notice:
    return Notice("Warning", "GroupModeChangedOutsideSpec", (
        f"The group switched from {declared} to {found} outside the operator (for example by "
        f"group_replication_switch_to_{'multi' if found == 'MultiPrimary' else 'single'}_primary_mode() in SQL); "
        f"the spec declares {declared}, so the operator switches it back. To change the mode, set spec.groupMode."))


def _state_notice(before: str, group: GroupStatus) -> Notice:
    why = f": {group.explanation}" if group.explanation else ""
    message = f"Cluster state {before or 'unknown'} -> {group.state}{why}"
    return Notice("Normal" if group.state == ONLINE else "Warning", "ClusterStateChanged", message)


def clones_seen(spec: GroupSpec, snapshot: Snapshot) -> dict[str, str]:
    """Member name -> start of the last clone into it, for the members that answered."""
    label = namer(spec)
    return {label(i.index): i.last_clone for i in snapshot.instances if i.reachable and i.uuid}


def failover_timing(spec: GroupSpec, snapshot: Snapshot, pods: Mapping[int, Mapping[str, Any]],
                    container: str) -> Timing:
    """Container terminations from the pods (by ordinal) and primary starts from the servers."""
    label = namer(spec)
    promoted = {label(i.index): i.became_primary_at for i in snapshot.instances
                if i.reachable and i.became_primary_at is not None}
    stopped = {label(index): at for index, pod in pods.items()
               if (at := container_stopped_at(pod, container)) is not None}
    return Timing(stopped=stopped, promoted=promoted)


def container_stopped_at(pod: Mapping[str, Any], container: str) -> float | None:
    """Epoch seconds of the container's latest termination in the pod's status, None for none."""
    for status in (pod.get("status") or {}).get("containerStatuses") or ():
        if status.get("name") != container:
            continue
        times = [_epoch((status.get(part) or {}).get("terminated", {}).get("finishedAt"))
                 for part in ("state", "lastState")]
        found = [t for t in times if t is not None]
        return max(found) if found else None
    return None


def _epoch(value: object) -> float | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def group_sample(group: GroupStatus, *, reached: bool, wall_now: float) -> GroupSample:
    """The cluster metrics of one pass; ``reached``: some member answered (the view is fresh)."""
    return GroupSample(
        members=tuple(Member(m.name, m.state, m.role) for m in group.members),
        member_states=tuple(s.value for s in MemberState),
        state={s.value: s.value == group.state for s in ClusterState},
        mode={m.value: m.value == group.mode for m in GroupMode},
        instances_desired=group.instances,
        instances_online=group.online,
        observed_at=wall_now if reached else None,
    )
