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
  * Until the group engine reports membership, a member counts as online when its pod is
    ready: the readiness probe answers ready only for a member ONLINE in the group.
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
class Observed:
    """What a pass saw of the cluster's workloads (None: not created yet)."""

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


def compute_status(
    cluster: Cluster, problems: Sequence[Problem], observed: Observed,
    previous: Mapping[str, Any] | None, now: str,
) -> dict[str, Any]:
    """The status for this pass (see module contract)."""
    previous = previous or {}
    spec, gen = cluster.spec, cluster.generation
    want_servers, want_routers = spec.instances, spec.router.instances
    online = min(_ready_replicas(observed.statefulset), want_servers)
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
        state = "ONLINE" if online == want_servers else "ONLINE_PARTIAL" if online else "PENDING"
        if online == want_servers and routers_ok:
            ready = _condition("Ready", True, "AllMembersOnline",
                               f"{online} of {want_servers} members online, {routers_ready} routers ready.", gen)
        elif online < want_servers:
            ready = _condition("Ready", False, "MembersNotOnline",
                               f"{online} of {want_servers} members online; waiting for the rest to join.", gen)
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
    return {
        "observedGeneration": gen,
        "conditions": conditions,
        "cluster": {
            "status": state,
            "onlineInstances": online,
            "instances": want_servers,
            "groupMode": spec.group_mode,
            "primary": prev_cluster.get("primary", ""),
            "members": list(prev_cluster.get("members") or []),
        },
        "router": {"instances": want_routers, "readyInstances": routers_ready},
    }
