"""The ``InnoDBCluster`` status a pass can vouch for (pure).

Contract:
  * Inputs are what the pass observed (validation problems, the StatefulSet and router
    Deployment from the cache, the previous status) and ``now``; output is the full status.
  * ``lastTransitionTime`` of a condition moves only when its ``status`` flips, so an
    unchanged cluster yields a status equal to the previous one and no write happens.
  * Conditions owned here (the Kubernetes-side reconcile): ``SpecValid``, ``Ready``,
    ``Available``, ``Progressing``, ``Degraded``. Each message says what is going on or
    what the user must fix; none carries a secret.
  * ``Degraded`` is True whenever fewer members are online than the spec asks for,
    none at all included.
  * Group membership: when the pass ran the group engine (:class:`GroupStatus`), the members
    (pod name, member state, role, version), the primary pod and the group name come from
    it. When the engine reached at least one instance (``known``), it is also what counts:
    ``cluster.status`` is the engine's state (ONLINE only when every wanted member is ONLINE)
    and a member is online when it is ONLINE in the group's majority view. Otherwise (no
    instance answered, or the engine did not run) a member counts as online when its pod is
    ready: the readiness probe answers ready only for a member ONLINE in the group.
  * Nothing here changes from pass to pass on its own (no probe times): ``createTime`` is set
    once, in the pass that bootstrapped the group; ``groupName`` once recorded is kept.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from innodb_api.types import Cluster


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
    """One instance as status shows it: pod name, Group Replication member state, role."""

    name: str
    state: str
    role: str = ""
    version: str = ""


@dataclass(frozen=True)
class GroupStatus:
    """What the group engine saw in one pass, reduced to what status shows (never a secret).

    ``state`` is the engine's cluster state; ``online`` the wanted members ONLINE in the
    majority view; ``mode`` the mode the group runs in ("" when unknown); ``message`` what
    the engine does next or why it does not; ``known`` whether any instance answered (else
    the membership is a guess and pod readiness is used); ``bootstrapped`` whether this pass
    bootstrapped the group.
    """

    state: str
    group_name: str
    members: tuple[MemberStatus, ...] = ()
    online: int = 0
    primary: str = ""
    mode: str = ""
    message: str = ""
    known: bool = False
    bootstrapped: bool = False


@dataclass(frozen=True)
class Observed:
    """What a pass saw of the cluster's workloads (None: not created yet) and of its group
    (None: the engine did not run in this pass)."""

    statefulset: Mapping[str, Any] | None = None
    router: Mapping[str, Any] | None = None
    group: GroupStatus | None = None


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


def compute_status(
    cluster: Cluster, problems: Sequence[Problem], observed: Observed,
    previous: Mapping[str, Any] | None, now: str,
) -> dict[str, Any]:
    """The status for this pass (see module contract)."""
    previous = previous or {}
    spec, gen = cluster.spec, cluster.generation
    want_servers, want_routers = spec.instances, spec.router.instances
    group = observed.group
    membership = group if group is not None and group.known else None
    online = min(membership.online if membership else _ready_replicas(observed.statefulset), want_servers)
    routers_ready = _ready_replicas(observed.router)
    conditions: list[dict[str, Any]]
    if problems:
        detail = "; ".join(f"{p.field}: {p.message}" for p in problems)
        state = "INVALID"
        conditions = [
            _condition("SpecValid", False, problems[0].reason, f"{detail}. Nothing is changed until it is fixed.",
                       gen),
            _condition("Ready", False, "InvalidSpec", "The spec is invalid; see SpecValid.", gen),
        ]
        # Availability reflects what already runs; an invalid change does not take it away.
        conditions.append(_condition("Available", online > 0, "MembersOnline" if online else "NoMemberOnline",
                                     f"{online} of {want_servers} members online.", gen))
    else:
        servers_moving = _rolling_out(observed.statefulset, want_servers)
        routers_moving = _rolling_out(observed.router, want_routers)
        routers_ok = routers_ready >= want_routers
        degraded = online < want_servers  # none online counts too
        if membership is not None:
            state = membership.state
        else:
            state = "ONLINE" if online == want_servers else "ONLINE_PARTIAL" if online else "PENDING"
        waiting = (group.message.rstrip(".") if group is not None and group.message
                   else "waiting for the rest to join")
        if online == want_servers and routers_ok:
            ready = _condition("Ready", True, "AllMembersOnline",
                               f"{online} of {want_servers} members online, {routers_ready} routers ready.", gen)
        elif online < want_servers:
            ready = _condition("Ready", False, "MembersNotOnline",
                               f"{online} of {want_servers} members online; {waiting}.", gen)
        else:
            ready = _condition("Ready", False, "RoutersNotReady",
                               f"{routers_ready} of {want_routers} routers ready.", gen)
        progressing_reason = ("ScalingServers" if servers_moving else "ScalingRouters" if routers_moving
                              else "Stable")
        conditions = [
            _condition("SpecValid", True, "Valid", "The spec is valid.", gen),
            ready,
            _condition("Available", online > 0 and (want_routers == 0 or routers_ready > 0),
                       "Serving" if online and (want_routers == 0 or routers_ready) else "NotServing",
                       f"{online} members online, {routers_ready} routers ready.", gen),
            _condition("Progressing", servers_moving or routers_moving, progressing_reason,
                       "Rolling out server and router changes." if servers_moving or routers_moving
                       else "Servers and routers match the spec.", gen),
            _condition("Degraded", degraded, "MembersOffline" if degraded else "NotDegraded",
                       f"{want_servers - online} of {want_servers} members not online." if degraded
                       else "No member is missing.", gen),
        ]
    _keep_transition_times(conditions, list(previous.get("conditions") or []), now)
    prev_cluster = dict(previous.get("cluster") or {})
    summary: dict[str, Any] = {
        "status": state,
        "onlineInstances": online,
        "instances": want_servers,
        "groupMode": (membership.mode if membership is not None and membership.mode else spec.group_mode),
        "primary": prev_cluster.get("primary", ""),
        "members": list(prev_cluster.get("members") or []),
    }
    if group is not None:
        summary["primary"] = group.primary
        summary["members"] = [_member(m) for m in group.members]
    group_name = str(prev_cluster.get("groupName") or (group.group_name if group is not None else ""))
    if group_name:
        summary["groupName"] = group_name
    create_time = prev_cluster.get("createTime") or (now if group is not None and group.bootstrapped else "")
    if create_time:
        summary["createTime"] = create_time
    return {
        "observedGeneration": gen,
        "conditions": conditions,
        "cluster": summary,
        "router": {"instances": want_routers, "readyInstances": routers_ready},
    }


def _member(member: MemberStatus) -> dict[str, Any]:
    out = {"name": member.name, "state": member.state, "role": member.role}
    if member.version:
        out["version"] = member.version
    return out
