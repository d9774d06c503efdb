"""What the group manager reads from the caches and shows of a pass (pure).

Contract: functions of their inputs only (cached objects, a pass's report), no I/O, no clock.
  * Instances: ordinals ``0 .. max(instances, highest server pod ordinal + 1) - 1``; ordinal
    ``i`` is ``<name>-<i>.<name>-instances.<ns>.svc.cluster.local:3306``, its group address
    the same host on 33061 (XCOM: every pod has its own network namespace). A target whose pod
    does not exist, has no IP yet or has terminated is not contacted.
  * The group's shape (instances, mode) is the last applied spec's, as the StatefulSet records it.
  * The group name is ``status.cluster.groupName`` when recorded, else the object's uid.
  * :func:`report_status` turns a pass into the status part; :func:`notices` into the Events
    it calls for, each with a slot and a key so that the caller says each thing once.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from innodb_api.types import Cluster
from innodb_operator.builders import labels, layout, names
from innodb_operator.builders.secrets import (
    ADMIN_PASSWORD_KEY,
    ADMIN_USERNAME,
    METRICS_PASSWORD_KEY,
    METRICS_USERNAME,
    REPLICATION_PASSWORD_KEY,
    REPLICATION_USERNAME,
    ROUTER_PASSWORD_KEY,
    ROUTER_USERNAME,
)
from innodb_operator.builders.statefulset import applied_shape
from innodb_operator.builders.status import CredentialsProblem, GroupStatus, MemberStatus, NextStep
from innodb_operator.clustering.actions import GroupConfig, Outcome, Refusal
from innodb_operator.clustering.manager import GroupSpec, PassReport
from innodb_operator.clustering.messages import Namer, plan_message, result_message
from innodb_operator.clustering.messages import names as name_list
from innodb_operator.clustering.model import Desired, GroupMode, Instance, MemberState, Snapshot
from innodb_operator.clustering.plan import Kind, Plan
from innodb_operator.clustering.seam import Target
from innodb_operator.clustering.upkeep import UpkeepOutcome
from innodb_operator.mysql.connection import Credentials, Endpoint

_GROUP_NAMES = uuid.UUID("0f6c2d4e-9a51-4c1b-8f0e-6a3b7d2c9e15")  # for an uid that is not a UUID (tests)

EventType = Literal["Normal", "Warning"]


@dataclass(frozen=True)
class Notice:
    """An Event to record on the cluster. With a ``slot``, it is said once until its ``key``
    changes; a notice with a slot and no ``reason`` clears the slot (the next one is news)."""

    type: EventType
    reason: str
    message: str
    slot: str = ""
    key: tuple[object, ...] = ()


def server_pods(cluster: Cluster, pods: Iterable[Mapping[str, Any]]) -> dict[int, Mapping[str, Any]]:
    """The cluster's server pods by ordinal (``<statefulset>-<ordinal>`` with the server labels)."""
    pattern = re.compile(rf"^{re.escape(names.statefulset_name(cluster.name))}-(0|[1-9][0-9]*)$")
    found: dict[int, Mapping[str, Any]] = {}
    for pod in pods:
        meta = pod.get("metadata") or {}
        pod_labels = meta.get("labels") or {}
        match = pattern.match(str(meta.get("name", "")))
        if (match and pod_labels.get(labels.CLUSTER) == cluster.name
                and pod_labels.get(labels.COMPONENT) == "database"):
            found[int(match.group(1))] = pod
    return found


IN_GROUP_STATES = ("ONLINE", "RECOVERING", "UNREACHABLE")
"""Member states of ``status.cluster.members`` that mean: still in the group's view."""


def server_replicas(cluster: Cluster, status: Mapping[str, Any] | None) -> int:
    """``spec.instances``, or one more than the highest ordinal above it that the group manager's
    last status still shows in the group: a scale-down removes a pod only once its member has
    left the group (the group manager makes the highest ordinal leave first, then drops it from
    the router metadata in the pass that finds it gone, the pass that writes that status)."""
    pattern = re.compile(rf"^{re.escape(names.statefulset_name(cluster.name))}-(0|[1-9][0-9]*)$")
    held = cluster.spec.instances
    for member in ((status or {}).get("cluster") or {}).get("members") or ():
        match = pattern.match(str(member.get("name", "")))
        if match and member.get("state") in IN_GROUP_STATES:
            held = max(held, int(match.group(1)) + 1)
    return held


def is_running(pod: Mapping[str, Any]) -> bool:
    """The pod may be running a server: it has an IP and has not terminated."""
    status = pod.get("status") or {}
    return bool(status.get("podIP")) and status.get("phase") not in ("Succeeded", "Failed")


def is_ready(pod: Mapping[str, Any]) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


def instance_count(instances: int, ordinals: Collection[int]) -> int:
    """How many ordinals the group manager looks after: the applied spec's, plus any pod above them."""
    return max(instances, max(ordinals, default=-1) + 1)


def pod_name(cluster: Cluster, ordinal: int) -> str:
    return f"{names.statefulset_name(cluster.name)}-{ordinal}"


def build_targets(cluster: Cluster, count: int, running: Collection[int]) -> tuple[Target, ...]:
    """One target per ordinal below ``count``; those not in ``running`` are not contacted."""
    targets = []
    for ordinal in range(count):
        host = names.pod_fqdn(cluster, ordinal)
        targets.append(Target(ordinal, Endpoint(host, layout.MYSQL_PORT), group_address=f"{host}:{layout.GR_PORT}",
                              running=ordinal in running, name=pod_name(cluster, ordinal),
                              x_address=f"{host}:{layout.MYSQLX_PORT}"))
    return tuple(targets)


def desired_shape(cluster: Cluster, statefulset: Mapping[str, Any] | None) -> tuple[int, GroupMode]:
    """(instances, mode) of the last applied spec: the StatefulSet's record, else the spec itself
    (nothing applied yet, so nothing to keep)."""
    shape = applied_shape(statefulset) if statefulset is not None else None
    instances, mode = shape if shape is not None else (cluster.spec.instances, cluster.spec.group_mode)
    return instances, GroupMode(mode)


def _canonical_uuid(value: str) -> str | None:
    try:
        return str(uuid.UUID(value))
    except (ValueError, AttributeError, TypeError):
        return None


def group_name_for(cluster: Cluster, status: Mapping[str, Any] | None) -> str:
    """``status.cluster.groupName`` when recorded, else the object's uid (both UUIDs)."""
    recorded = _canonical_uuid(str(((status or {}).get("cluster") or {}).get("groupName") or ""))
    if recorded:
        return recorded
    return _canonical_uuid(cluster.uid) or str(uuid.uuid5(_GROUP_NAMES, f"{cluster.namespace}/{cluster.name}/"
                                                                         f"{cluster.uid}"))


def member_status(target: Target, instance: Instance | None) -> MemberStatus:
    if not target.running:
        return MemberStatus(target.label, MemberState.MISSING.value)
    if instance is None:
        return MemberStatus(target.label, MemberState.UNREACHABLE.value)
    if not instance.reachable:
        return MemberStatus(target.label, instance.state.value)
    # A server that answers but runs no Group Replication is OFFLINE, as MySQL itself says.
    state = MemberState.OFFLINE if instance.state == MemberState.MISSING else instance.state
    return MemberStatus(target.label, state.value, instance.role.value, instance.version)


def next_step(plan: Plan, spec: GroupSpec, snapshot: Snapshot) -> NextStep:
    name = namer(spec)
    action = plan.action
    rejoin = False
    if action is not None:
        target = snapshot.by_index(action.target)
        rejoin = target is not None and target.ever_configured
    message = plan_message(plan, name, rejoin=rejoin, cluster=spec.cluster_name)
    if action is None:
        return NextStep(plan.reason.value, message)
    return NextStep(plan.reason.value, message, action.kind.value, name(action.target))


def namer(spec: GroupSpec) -> Namer:
    """Instance index -> pod name."""
    labels_by_index = {t.index: t.label for t in spec.targets}
    return lambda index: labels_by_index.get(index, f"instance {index}")


def denied_problem(cluster: Cluster, spec: GroupSpec, snapshot: Snapshot) -> CredentialsProblem | None:
    denied = [i.index for i in snapshot.instances if i.state == MemberState.ACCESS_DENIED]
    if not denied:
        return None
    secret = f"{cluster.namespace}/{names.private_secret_name(cluster.name)}"
    return CredentialsProblem("AccessDenied", (
        f"MySQL refused the operator's account {spec.config.admin.user} (password in Secret {secret}, key "
        f"{ADMIN_PASSWORD_KEY}) on {name_list(denied, namer(spec))}; their state is unknown and the operator "
        f"does not act on them. If that Secret's passwords are wrong, delete it: the operator then resets its "
        f"accounts through the root account of Secret {cluster.namespace}/{cluster.spec.secret_name}."))


def report_status(cluster: Cluster, spec: GroupSpec, report: PassReport, pods: Mapping[int, Mapping[str, Any]],
                  *, credentials: CredentialsProblem | None = None, step: NextStep | None = None) -> GroupStatus:
    """The status part of one pass (pure). ``credentials`` (else the members refusing the admin
    account) and ``step`` (else the plan) override what the pass itself says."""
    snapshot, diagnosis = report.snapshot, report.diagnosis
    members = tuple(member_status(t, snapshot.by_index(t.index)) for t in spec.targets)
    wanted = spec.desired.instances
    if any(i.reachable for i in snapshot.instances):
        online = sum(1 for i in diagnosis.online if i < wanted)
    else:
        online = sum(1 for i, pod in pods.items() if i < wanted and is_ready(pod))
    primary = next((t.label for t in spec.targets if t.index == diagnosis.primary), "")
    mine = spec.desired.group_name.lower()
    exists = any((i.in_group or i.ever_configured) and i.group_name.lower() == mine
                 for i in snapshot.instances if i.reachable)
    return GroupStatus(
        state=diagnosis.state.value, explanation=diagnosis.explanation, group_name=spec.config.group_name,
        instances=wanted, next=step or next_step(report.plan, spec, snapshot), members=members, online=online,
        primary=primary, mode=diagnosis.mode.value if diagnosis.mode is not None else "", exists=exists,
        credentials=credentials if credentials is not None else denied_problem(cluster, spec, snapshot),
    )


def unobserved_status(spec: GroupSpec, step: NextStep, credentials: CredentialsProblem | None) -> GroupStatus:
    """The status part of a pass that could not look at the group: what was seen last stands."""
    return GroupStatus(state="", explanation="", group_name=spec.config.group_name, instances=spec.desired.instances,
                       next=step, observed=False, credentials=credentials)


_DONE_REASONS = {
    Kind.BOOTSTRAP: "Bootstrapped", Kind.JOIN: "Joined", Kind.LEAVE: "Left", Kind.REBOOT: "Rebooted",
    Kind.SET_PRIMARY: "PrimarySwitched", Kind.SET_MODE: "ModeSwitched", Kind.FORCE_QUORUM: "QuorumForced",
}


def notices(spec: GroupSpec, report: PassReport, group: GroupStatus) -> list[Notice]:
    """The Events a pass calls for (the caller drops repeats by slot and key)."""
    name = namer(spec)
    out: list[Notice] = []
    result = report.result
    if result is not None and result.outcome == Outcome.DONE:
        out.append(Notice("Normal", _DONE_REASONS[result.action.kind], result_message(result, name)))
        out.append(Notice("Normal", "", "", "action"))  # the next incomplete action is news again
    if result is not None and result.outcome == Outcome.PARTIAL:
        out.append(Notice("Warning", "GroupActionIncomplete", result_message(result, name), "action",
                          (result.action, result.refusal)))
    plan = report.plan
    if result is not None and result.refusal == Refusal.ERRANT:
        out.append(Notice("Warning", "GroupActionRefused", result_message(result, name), "group",
                          (result.action, result.refusal)))
    elif plan.blocked:
        out.append(Notice("Warning", "GroupBlocked", group.next.message, "group", (plan.reason, plan.subjects)))
    else:
        out.append(Notice("Normal", "", "", "group"))  # clears the slot: the next block is news again
    upkeep = report.upkeep
    if upkeep is not None and upkeep.outcome == UpkeepOutcome.FOREIGN_SCHEMA:
        out.append(Notice("Warning", "MetadataNotUpdated", upkeep.detail, "metadata", (upkeep.detail,)))
    elif upkeep is not None and upkeep.outcome == UpkeepOutcome.ENSURED:
        out.append(Notice("Normal", "", "", "metadata"))
    if group.credentials is not None:
        out.append(Notice("Warning", group.credentials.reason, group.credentials.message, "credentials",
                          (group.credentials.reason, tuple(m.name for m in group.members
                                                           if m.state == MemberState.ACCESS_DENIED.value))))
    else:
        out.append(Notice("Normal", "", "", "credentials"))
    return out


def unsettled_fingerprint(report: PassReport) -> tuple[object, ...]:
    """What a waiting pass saw; the same fingerprint twice means nothing moved."""
    snapshot = report.snapshot
    return (report.diagnosis.state, report.plan.reason, report.plan.subjects,
            tuple((i.index, i.state, i.role) for i in snapshot.instances))


def group_spec(key: str, cluster: Cluster, targets: tuple[Target, ...], desired: Desired, passwords: Mapping[str, str],
               *, communication_stack: str = "XCOM") -> GroupSpec:
    """What one pass needs: the operator's accounts from ``passwords`` (``<name>-privsecrets`` keys); the
    exporter's only with ``spec.metrics.enable`` and its password present."""
    config = GroupConfig(group_name=desired.group_name,
                         admin=Credentials(ADMIN_USERNAME, passwords[ADMIN_PASSWORD_KEY]),
                         replication=Credentials(REPLICATION_USERNAME, passwords[REPLICATION_PASSWORD_KEY]),
                         communication_stack=communication_stack)
    metrics_password = passwords.get(METRICS_PASSWORD_KEY) if cluster.spec.metrics.enable else None
    return GroupSpec(key=key, cluster_name=cluster.name, targets=targets, desired=desired, config=config,
                     router=Credentials(ROUTER_USERNAME, passwords[ROUTER_PASSWORD_KEY]),
                     metrics=Credentials(METRICS_USERNAME, metrics_password) if metrics_password else None,
                     metrics_user=METRICS_USERNAME)
