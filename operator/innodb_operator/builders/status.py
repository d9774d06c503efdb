"""The two parts of an ``InnoDBCluster`` status, one per loop (pure).

The object reconcile and the group manager each write only their own part (server-side
apply on ``/status``, one field manager each, conditions merged by ``type``):

  ===============================  =============================================================
  part (writer)                    fields
  ===============================  =============================================================
  :func:`object_status`            ``observedGeneration``, ``router``, conditions ``SpecValid``,
  (object reconcile)               ``Ready``, ``Available``, ``Progressing``
  :func:`group_status`             ``cluster`` (state, members, primary, mode, group name,
  (group manager)                  ``next``), conditions ``GroupOnline``, ``Degraded``,
                                   ``CredentialsValid``
  ===============================  =============================================================

Contract:
  * Inputs are what the pass observed, the previous status and ``now``; the output is that
    part in full. ``lastTransitionTime`` of a condition moves only when its ``status`` flips,
    so an unchanged cluster yields the previous part unchanged and no write happens.
  * ``Ready`` and ``Available`` combine both loops: they read the group's part from the
    previous (cached) status, which the group manager keeps current.
  * ``cluster.next`` is the group manager's plan: a reason code (CamelCase), a message, and the
    action and its target when there is one.
  * ``createTime`` is set once, in the first pass that saw the group exist (bootstrapped by it,
    or running or configured on a member), and is the sticky proof that it did; ``groupName``
    once recorded is kept. A pass that could not observe the group (``observed`` False: the
    operator's credentials are lost) keeps the previous summary and the previous ``GroupOnline``
    and ``Degraded``, and changes only ``next`` and ``CredentialsValid``. No message carries a
    secret.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from innodb_api.types import Cluster

OBJECT_CONDITIONS = ("SpecValid", "Ready", "Available", "Progressing")
GROUP_CONDITIONS = ("GroupOnline", "Degraded", "CredentialsValid")


class Problem(Protocol):
    """A spec problem the operator found (``innodb_api.validation.FieldError`` fits)."""

    @property
    def field(self) -> str: ...

    @property
    def reason(self) -> str: ...

    @property
    def message(self) -> str: ...


@dataclass(frozen=True)
class MemberStatus:
    """One instance as status shows it: pod name, member state, role."""

    name: str
    state: str
    role: str = ""
    version: str = ""


@dataclass(frozen=True)
class NextStep:
    """What the group manager does next, or why it does nothing (``reason`` is CamelCase)."""

    reason: str
    message: str
    action: str = ""
    target: str = ""


@dataclass(frozen=True)
class CredentialsProblem:
    """Why the operator's accounts do not work (``reason`` CamelCase; message names accounts and Secrets)."""

    reason: str
    message: str


@dataclass(frozen=True)
class GroupStatus:
    """What one group-manager pass saw, reduced to what status shows (never a secret).

    ``state`` is the cluster state and ``explanation`` why; ``instances`` the members the last
    applied spec asks for; ``online`` the wanted members ONLINE in the majority view, or, when
    no instance answered, the pods that report ready; ``mode`` the mode the group runs in (""
    when unknown); ``exists`` whether the pass saw the group exist; ``observed`` False when the
    pass could not look at the group at all (see the module contract).
    """

    state: str
    explanation: str
    group_name: str
    instances: int
    next: NextStep
    members: tuple[MemberStatus, ...] = ()
    online: int = 0
    primary: str = ""
    mode: str = ""
    exists: bool = False
    observed: bool = True
    credentials: CredentialsProblem | None = None
    rollout: RolloutStatus | None = None
    request: RequestStatus | None = None
    """This pass's answer to a request (None: the last answer recorded stands)."""


@dataclass(frozen=True)
class RequestStatus:
    """The answer to one request (``outcome`` Done or Refused; ``action`` "" when it did not parse)."""

    id: str
    action: str
    member: str
    outcome: str
    message: str


@dataclass(frozen=True)
class RolloutStatus:
    """A rolling restart under way: ``updated`` of ``total`` wanted members run ``revision``;
    ``member`` is the one being restarted ("" between restarts); ``message`` says what it does
    or waits for."""

    revision: str
    updated: int
    total: int
    member: str = ""
    message: str = ""


@dataclass(frozen=True)
class Observed:
    """What an object-reconcile pass saw of the cluster's workloads (None: not created yet)."""

    statefulset: Mapping[str, Any] | None = None
    router: Mapping[str, Any] | None = None


def _condition(type_: str, ok: bool, reason: str, message: str, generation: int) -> dict[str, Any]:
    return {"type": type_, "status": "True" if ok else "False", "reason": reason, "message": message,
            "observedGeneration": generation}


def _keep_transition_times(new: list[dict[str, Any]], previous: Sequence[Mapping[str, Any]], now: str) -> None:
    before = {c.get("type"): c for c in previous}
    for condition in new:
        old = before.get(condition["type"])
        same = old is not None and old.get("status") == condition["status"]
        condition["lastTransitionTime"] = old.get("lastTransitionTime", now) if same and old else now


def _ready_replicas(obj: Mapping[str, Any] | None) -> int:
    return int(((obj or {}).get("status") or {}).get("readyReplicas") or 0)


def _rolling_out(obj: Mapping[str, Any] | None, desired: int) -> bool:
    if obj is None:
        return desired > 0
    status = obj.get("status") or {}
    generation = int(obj.get("metadata", {}).get("generation") or 0)
    return (int(status.get("observedGeneration") or 0) < generation
            or int(status.get("replicas") or 0) != desired
            or int(status.get("updatedReplicas") or 0) < desired)


def owned(status: Mapping[str, Any] | None, fields: Sequence[str], conditions: Sequence[str]) -> dict[str, Any]:
    """The part of ``status`` made of ``fields`` and the conditions of ``conditions`` types (to compare)."""
    status = status or {}
    part: dict[str, Any] = {f: status[f] for f in fields if f in status}
    kept = [c for c in status.get("conditions") or [] if c.get("type") in conditions]
    if kept:
        part["conditions"] = sorted(kept, key=lambda c: conditions.index(c["type"]))
    return part


def object_part(status: Mapping[str, Any] | None) -> dict[str, Any]:
    return owned(status, ("observedGeneration", "router"), OBJECT_CONDITIONS)


def group_part(status: Mapping[str, Any] | None) -> dict[str, Any]:
    return owned(status, ("cluster",), GROUP_CONDITIONS)


def group_existed(status: Mapping[str, Any] | None) -> bool:
    """Whether the status shows the group has existed (``createTime`` is sticky)."""
    return bool(((status or {}).get("cluster") or {}).get("createTime"))


def running_versions(status: Mapping[str, Any] | None) -> list[str]:
    """The MySQL versions the members ran at the last observation (``cluster.members[].version``)."""
    members = ((status or {}).get("cluster") or {}).get("members") or []
    return [str(m["version"]) for m in members if isinstance(m, Mapping) and m.get("version")]


def object_status(cluster: Cluster, problems: Sequence[Problem], observed: Observed,
                  previous: Mapping[str, Any] | None, now: str) -> dict[str, Any]:
    """The object reconcile's part of the status (see the module table)."""
    previous = previous or {}
    spec, gen = cluster.spec, cluster.generation
    group = previous.get("cluster") or {}
    state = str(group.get("status") or "")
    want_servers = int(group.get("instances") or spec.instances)
    online = min(int(group.get("onlineInstances") or 0), want_servers)
    want_routers = spec.router.instances
    routers_ready = _ready_replicas(observed.router)
    serving = online > 0 and (want_routers == 0 or routers_ready > 0)
    available = _condition("Available", serving, "Serving" if serving else "NotServing",
                           f"{online} members online, {routers_ready} routers ready.", gen)
    conditions: list[dict[str, Any]]
    if problems:
        detail = "; ".join(f"{p.field}: {p.message}" for p in problems)
        conditions = [
            _condition("SpecValid", False, problems[0].reason,
                       f"{detail}. Nothing is changed until it is fixed; the group manager keeps the group "
                       "healthy with the last applied spec.", gen),
            _condition("Ready", False, "InvalidSpec", "The spec is invalid; see SpecValid.", gen),
            available,
        ]
    else:
        servers_moving = _rolling_out(observed.statefulset, spec.instances)
        routers_moving = _rolling_out(observed.router, want_routers)
        if state == "ONLINE" and routers_ready >= want_routers:
            ready = _condition("Ready", True, "AllMembersOnline",
                               f"{online} of {want_servers} members online, {routers_ready} routers ready.", gen)
        elif state != "ONLINE":
            ready = _condition("Ready", False, "MembersNotOnline",
                               f"{online} of {want_servers} members online; see GroupOnline.", gen)
        else:
            ready = _condition("Ready", False, "RoutersNotReady",
                               f"{routers_ready} of {want_routers} routers ready.", gen)
        moving = servers_moving or routers_moving
        roll = ((previous.get("cluster") or {}).get("rollout") or {}) if servers_moving else {}
        if roll:  # the group manager's roll: which member, and what it waits for
            progressing = _condition("Progressing", True, "RollingRestart",
                                     f"Rolling restart, {roll.get('progress')} members on the new template: "
                                     f"{roll.get('message') or 'under way'}.", gen)
        else:
            progressing = _condition(
                "Progressing", moving,
                "ScalingServers" if servers_moving else "ScalingRouters" if routers_moving else "Stable",
                "Rolling out server and router changes." if moving else "Servers and routers match the spec.", gen)
        conditions = [_condition("SpecValid", True, "Valid", "The spec is valid.", gen), ready, available, progressing]
    _keep_transition_times(conditions, list(previous.get("conditions") or []), now)
    return {
        "observedGeneration": gen,
        "conditions": conditions,
        "router": {"instances": want_routers, "readyInstances": routers_ready},
    }


_STATE_REASONS = {
    "ONLINE": "Online", "ONLINE_PARTIAL": "OnlinePartial", "ONLINE_UNCERTAIN": "OnlineUncertain",
    "OFFLINE": "Offline", "OFFLINE_UNCERTAIN": "OfflineUncertain", "NO_QUORUM": "NoQuorum",
    "SPLIT_BRAIN": "SplitBrain", "PENDING": "Pending", "INITIALIZING": "Initializing", "FINALIZING": "Finalizing",
}


def group_status(group: GroupStatus, generation: int, previous: Mapping[str, Any] | None,
                 now: str) -> dict[str, Any]:
    """The group manager's part of the status (see the module table)."""
    previous = previous or {}
    prev_cluster = dict(previous.get("cluster") or {})
    prev_conditions = {c.get("type"): c for c in previous.get("conditions") or []}
    next_step: dict[str, Any] = {"reason": group.next.reason, "message": group.next.message}
    if group.next.action:
        next_step["action"] = group.next.action
        next_step["target"] = group.next.target
    conditions: list[dict[str, Any]] = []
    if group.observed or not prev_cluster:
        want = group.instances
        online = min(group.online, want)
        degraded = online < want
        next_text = f" Next: {group.next.message}." if group.next.message else ""
        conditions += [
            _condition("GroupOnline", group.state == "ONLINE", _STATE_REASONS.get(group.state, "Unknown"),
                       f"{group.state}: {group.explanation}.{next_text}", generation),
            _condition("Degraded", degraded, "MembersOffline" if degraded else "NotDegraded",
                       f"{want - online} of {want} members not online." if degraded else "No member is missing.",
                       generation),
        ]
        summary: dict[str, Any] = {
            "status": group.state, "onlineInstances": online, "instances": want, "primary": group.primary,
            "members": [_member(m) for m in group.members],
        }
        if group.mode:
            summary["groupMode"] = group.mode
        if group.rollout is not None:
            r = group.rollout
            summary["rollout"] = {"revision": r.revision, "updated": r.updated, "total": r.total,
                                  "progress": f"{r.updated}/{r.total}", "member": r.member, "message": r.message}
    else:  # nothing was observed: what was seen last still stands
        conditions += [dict(prev_conditions[t]) for t in ("GroupOnline", "Degraded") if t in prev_conditions]
        summary = {k: v for k, v in prev_cluster.items() if k not in ("next", "groupName", "createTime")}
        if group.state:  # a state known without looking (FINALIZING)
            summary["status"] = group.state
    if group.credentials is None:
        conditions.append(_condition("CredentialsValid", True, "Accepted",
                                     "The operator's accounts log in on every member it reaches.", generation))
    else:
        conditions.append(_condition("CredentialsValid", False, group.credentials.reason,
                                     group.credentials.message, generation))
    _keep_transition_times(conditions, list(previous.get("conditions") or []), now)
    summary["next"] = next_step
    if group.request is not None:
        q = group.request
        summary["request"] = {"id": q.id, "action": q.action, "member": q.member, "outcome": q.outcome,
                              "message": q.message, "time": now}
    elif "request" in prev_cluster:
        summary["request"] = prev_cluster["request"]
    group_name = str(prev_cluster.get("groupName") or group.group_name)
    if group_name:
        summary["groupName"] = group_name
    create_time = prev_cluster.get("createTime") or (now if group.exists else "")
    if create_time:
        summary["createTime"] = create_time
    return {"cluster": summary, "conditions": conditions}


def _member(member: MemberStatus) -> dict[str, Any]:
    out = {"name": member.name, "state": member.state, "role": member.role}
    if member.version:
        out["version"] = member.version
    return out
