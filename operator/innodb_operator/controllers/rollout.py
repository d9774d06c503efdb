"""Rolling restarts of the server pods, group aware (pure decisions; the group manager acts).

The StatefulSet's ``updateStrategy`` is ``OnDelete``: a pod-template change (``mycnf``,
``podSpec``, labels, annotations, image, version) only reaches a pod when that pod is
recreated. The group manager recreates them one at a time:

Contract:
  * Progress is derived, never remembered: a pod is outdated when its
    ``controller-revision-hash`` label differs from the StatefulSet's ``status.updateRevision``
    (read only once the StatefulSet controller has observed the set's generation). An
    operator restart mid-roll resumes from the pods, and a pod on the new revision is never
    restarted again.
  * A pod is restarted (evicted, so the PodDisruptionBudget is respected) only when the group
    pass had nothing else to do (converged, every wanted member ONLINE), no server pod is
    terminating or missing, and every updated member's applier has caught up (at most
    :data:`APPLIER_BACKLOG` received transactions it has not applied).
  * Order: outdated secondaries first, highest ordinal first; the primary last. Before its
    turn, :func:`hand_over_from` asks the planner to move the primary to the most caught-up
    other member (``Desired.hand_over_from``); the primary's pod is evicted once it is a
    secondary. In a mixed-version group only a member on the lowest version may become the
    primary; when the primary alone runs it (an upgrade's last member), there is no handover:
    its pod is evicted as the primary, it leaves the group on SIGTERM and the group elects one
    of the upgraded members.
  * An outdated member whose mysqld does not run (a crash loop) is restarted on the new
    template before anything else: it serves nothing, and a template that fixes it reaches it
    only so. A member that does not come back stops the roll; the message names it and what its
    mysql container printed last (its termination message: ``FallbackToLogsOnError``).
  * :func:`next_step` says what to do and why not; its ``message`` names the member waited for.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from innodb_operator.builders.server_pod import MYSQL_CONTAINER
from innodb_operator.clustering.model import Snapshot
from innodb_operator.clustering.plan import electable_uuids
from innodb_operator.clustering.seam import Target
from innodb_operator.clustering.state import Diagnosis
from innodb_operator.mysql.gtid import GtidSet

REVISION_LABEL = "controller-revision-hash"
APPLIER_BACKLOG = 100
"""Received-but-unapplied transactions a restarted member may still hold when the next one
goes: under a steady write load a few are always in flight."""


@dataclass(frozen=True)
class Rollout:
    """Where a roll stands: the revision pods should run, and which wanted ordinals do not."""

    revision: str
    outdated: tuple[int, ...]
    total: int

    @property
    def updated(self) -> int:
        return self.total - len(self.outdated)

    @property
    def under_way(self) -> bool:
        return bool(self.revision) and bool(self.outdated)


@dataclass(frozen=True)
class Step:
    """What the group manager does for the roll after a pass: evict ``evict`` (an ordinal), or
    nothing, with ``message`` saying why (or what it does)."""

    evict: int | None
    message: str


def rollout(statefulset: Mapping[str, Any] | None, pods: Mapping[int, Mapping[str, Any]], instances: int) -> Rollout:
    """The roll's state for the wanted ordinals ``0 .. instances - 1`` (no revision: not known yet)."""
    if statefulset is None:
        return Rollout("", (), instances)
    status = statefulset.get("status") or {}
    generation = int((statefulset.get("metadata") or {}).get("generation") or 0)
    revision = str(status.get("updateRevision") or "")
    if not revision or int(status.get("observedGeneration") or 0) < generation:
        return Rollout("", (), instances)
    outdated = tuple(i for i in range(instances) if i in pods and _revision(pods[i]) != revision)
    return Rollout(revision, outdated, instances)


def hand_over_from(roll: Rollout, primary: int | None) -> int | None:
    """The primary, when it is the only member left on the old revision."""
    if roll.under_way and primary is not None and roll.outdated == (primary,):
        return primary
    return None


def next_step(roll: Rollout, pods: Mapping[int, Mapping[str, Any]], *, settled: bool, primary: int | None,
              caught_up: Mapping[int, bool], name: Mapping[int, str], not_online: Sequence[str] = (),
              heir_exists: bool = True) -> Step:
    """``settled``: the pass found every wanted member ONLINE and nothing to do; ``not_online``:
    the wanted members it did not find ONLINE (named in the wait); ``caught_up``: ordinal ->
    whether its applier has caught up; ``name``: ordinal -> pod name; ``heir_exists``: another
    member may become the primary (False: only the primary runs the group's lowest version)."""
    def label(i: int) -> str:
        return name.get(i, f"instance {i}")

    if not roll.under_way:
        return Step(None, "")
    gone = [i for i in range(roll.total) if i not in pods or (pods[i].get("metadata") or {}).get("deletionTimestamp")]
    if gone:
        return Step(None, f"waiting for {', '.join(label(i) for i in gone)} to restart")
    ordinal = {label(i): i for i in range(roll.total)}
    down = [ordinal[n] for n in not_online if n in ordinal and ordinal[n] in roll.outdated
            and not _mysqld_running(pods[ordinal[n]])]
    if down:  # not serving anyway: to the new template first (how a fixed template reaches a crash loop)
        target = max(down)
        return Step(target, f"restarting {label(target)} ({roll.updated + 1} of {roll.total}), which is not "
                            f"running mysqld, on the new template")
    if not_online:
        why = [f"{n}{_what_it_printed(pods[ordinal[n]]) if n in ordinal else ''}" for n in not_online]
        return Step(None, f"waiting for {'; '.join(why)} to be ONLINE")
    if not settled:
        return Step(None, "waiting for the group to settle")
    behind = [i for i in range(roll.total) if i not in roll.outdated and not caught_up.get(i, False)]
    if behind:
        return Step(None, f"waiting for {', '.join(label(i) for i in behind)} to apply what it received")
    secondaries = [i for i in roll.outdated if i != primary]
    if secondaries:
        target = max(secondaries)
        return Step(target, f"restarting {label(target)} ({roll.updated + 1} of {roll.total})")
    last = roll.outdated[0]
    if last == primary and not heir_exists:
        return Step(last, f"restarting {label(last)} ({roll.updated + 1} of {roll.total}) as the primary: it alone "
                          f"runs the group's lowest MySQL version, which Group Replication requires of a new "
                          f"primary, so the group elects one when it leaves")
    return Step(None, f"moving the primary away from {label(last)} before its restart")


def heir_exists(snapshot: Snapshot, diagnosis: Diagnosis) -> bool:
    """Whether a member other than the primary may become the primary (see the module contract)."""
    primary = next((i.uuid for i in snapshot.instances if i.index == diagnosis.primary), None)
    return bool(electable_uuids(diagnosis.view) - {primary})


def recorded_primary(targets: Sequence[Target], status: Mapping[str, Any] | None) -> int | None:
    """The ordinal of ``status.cluster.primary`` (the last pass's primary), None when none."""
    name = ((status or {}).get("cluster") or {}).get("primary")
    return next((t.index for t in targets if name and t.label == name), None)


def caught_up(snapshot: Snapshot) -> dict[int, bool]:
    """Ordinal -> whether the server's applier has caught up: at most :data:`APPLIER_BACKLOG`
    received transactions not applied yet (unknown counts as not)."""
    out = {}
    for i in snapshot.instances:
        executed, total = i.gtid_executed, i.gtid_total
        if not i.reachable or executed is None:
            out[i.index] = False
        elif total is None or executed.is_superset(total):
            out[i.index] = True
        else:
            out[i.index] = (isinstance(executed, GtidSet) and isinstance(total, GtidSet)
                            and total.subtract(executed).count <= APPLIER_BACKLOG)
    return out


def _mysql_status(pod: Mapping[str, Any]) -> Mapping[str, Any]:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return next((c for c in statuses if c.get("name") == MYSQL_CONTAINER), {})


def _mysqld_running(pod: Mapping[str, Any]) -> bool:
    """Whether the pod's mysql container runs (unknown counts as running: never restart blind)."""
    status = _mysql_status(pod)
    return not status or "running" in (status.get("state") or {})


def _what_it_printed(pod: Mapping[str, Any]) -> str:
    """``" (mysql container CrashLoopBackOff, last exit 1: <its first error line>)"``, or "" while
    it runs or nothing is known: why a member does not come back, in its own words."""
    status = _mysql_status(pod)
    state = status.get("state") or {}
    if not status or "running" in state:
        return ""
    waiting = str((state.get("waiting") or {}).get("reason") or "not running")
    last = (status.get("lastState") or {}).get("terminated") or state.get("terminated") or {}
    if not last:
        return f" (mysql container {waiting})"
    lines = [line.strip() for line in str(last.get("message") or "").splitlines() if line.strip()]
    # mysqld's first error is the cause; what follows "Aborting" are its consequences.
    errors = [line for line in lines if "[ERROR]" in line and "Aborting" not in line]
    said = f": {errors[0][:300]}" if errors else f": {lines[-1][:300]}" if lines else ""
    return f" (mysql container {waiting}, last exit {last.get('exitCode')}{said})"


def _revision(pod: Mapping[str, Any]) -> str:
    return str(((pod.get("metadata") or {}).get("labels") or {}).get(REVISION_LABEL) or "")
