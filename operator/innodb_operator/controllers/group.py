"""Drive one cluster's Group Replication group from its reconcile: one engine step per pass.

Contract:
  * Instances: ordinals ``0 .. max(spec.instances, highest server pod ordinal + 1) - 1``.
    Ordinal ``i`` is ``<name>-<i>.<name>-instances.<ns>.svc.cluster.local:3306``, its group
    address the same host on port 33061 (XCOM stack: every pod has its own network
    namespace). A target whose pod does not exist, has no IP yet or has terminated is not
    contacted: the engine sees it as unreachable.
  * Credentials: the operator's admin account (made in every datadir by ``init-datadir.sh``)
    and the replication account, both from ``<name>-privsecrets``. The group name is the one
    recorded in ``status.cluster.groupName``, else the object's uid (a UUID).
  * One pass runs ONE engine step: observe, decide, plan, and at most one action. The action
    is held back while a reachable instance carries another group's name (datadirs of an
    earlier cluster): the pass is then blocked with a Warning saying what to do.
  * Upkeep: while the group has quorum and a writable member (the primary; any ONLINE member
    in multi-primary mode), the InnoDB Cluster metadata (the ONLINE members) and the router
    account are ensured on it, but only when (group name, members, mode, router account)
    differ from what this process last ensured for the cluster: an idle converged cluster
    costs no SQL write. Not in a pass that switched the primary or the mode.
  * Nothing here raises for MySQL trouble or a slow server: it is logged and the pass asks to
    come back soon. Connects are short (:data:`CONNECT_TIMEOUT`).
  * Requeue: :data:`FAST_REQUEUE_SECONDS` while an action is planned, or the group is not
    ONLINE (and not blocked on a person) with some server pod running; otherwise the poll.
  * Events: Normal for an action done ("Bootstrapped the group from <pod>", "Joined <pod> ..."),
    Warning for what a person must act on (blocked plan, errant transactions, a foreign group,
    a metadata schema the operator did not make), each only when its message changes. No
    event, log line or status field carries a password.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import structlog

from innodb_api.types import Cluster
from innodb_operator.builders import labels, layout, names
from innodb_operator.builders.secrets import (
    ADMIN_PASSWORD_KEY,
    ADMIN_USERNAME,
    REPLICATION_PASSWORD_KEY,
    REPLICATION_USERNAME,
    ROUTER_PASSWORD_KEY,
    ROUTER_USERNAME,
)
from innodb_operator.builders.status import GroupStatus, MemberStatus
from innodb_operator.clustering.actions import GroupConfig
from innodb_operator.clustering.engine import Engine, Pass
from innodb_operator.clustering.model import Desired, GroupMode, Instance, MemberState, Snapshot
from innodb_operator.clustering.observe import Target
from innodb_operator.clustering.plan import Kind
from innodb_operator.clustering.state import ClusterState, Diagnosis
from innodb_operator.mysql.connection import Credentials, Endpoint, connect
from innodb_operator.mysql.errors import AccessDenied, MysqlError
from innodb_operator.mysql.metadata import (
    MetadataMember,
    MetadataSchemaError,
    cluster_id_for,
    ensure_metadata,
    ensure_router_account,
)

log = structlog.get_logger(__name__)

CONNECT_TIMEOUT = 2.0
"""Seconds to wait for a server to accept a connection; a pod that is down costs this much."""
UPKEEP_READ_TIMEOUT = 30.0
FAST_REQUEUE_SECONDS = 2.0
COMMUNICATION_STACK = "XCOM"
BLOCKED = "blocked:"

_GROUP_NAMES = uuid.UUID("0f6c2d4e-9a51-4c1b-8f0e-6a3b7d2c9e15")  # for an uid that is not a UUID (tests)

EventType = Literal["Normal", "Warning"]


@dataclass(frozen=True)
class Notice:
    """An Event to record on the cluster."""

    type: EventType
    reason: str
    message: str


@dataclass(frozen=True)
class Outcome:
    """What one pass of the group did: the status part, when to look again, Events to record."""

    status: GroupStatus
    requeue_after: float
    events: tuple[Notice, ...] = ()


@dataclass(frozen=True)
class Upkeep:
    """What the metadata and router account were last ensured for (memo per cluster).

    ``router_password`` is a digest, kept in memory only, so a changed password is noticed.
    """

    group_name: str
    members: frozenset[tuple[str, str]]
    multi_primary: bool
    router_user: str
    router_password: str


# --- pure parts ----------------------------------------------------------------------------


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


def is_running(pod: Mapping[str, Any]) -> bool:
    """The pod may be running a server: it has an IP and has not terminated."""
    status = pod.get("status") or {}
    return bool(status.get("podIP")) and status.get("phase") not in ("Succeeded", "Failed")


def instance_count(cluster: Cluster, ordinals: Collection[int]) -> int:
    """How many ordinals the engine looks after: the spec's, plus any pod left above it."""
    return max(cluster.spec.instances, max(ordinals, default=-1) + 1)


def pod_name(cluster: Cluster, ordinal: int) -> str:
    return f"{names.statefulset_name(cluster.name)}-{ordinal}"


def build_targets(cluster: Cluster, count: int, running: Collection[int]) -> list[Target]:
    """One target per ordinal below ``count``; those not in ``running`` are not contacted."""
    targets = []
    for ordinal in range(count):
        host = names.pod_fqdn(cluster, ordinal)
        targets.append(Target(ordinal, Endpoint(host, layout.MYSQL_PORT),
                              group_address=f"{host}:{layout.GR_PORT}", running=ordinal in running))
    return targets


def group_mode(spec_mode: str) -> GroupMode:
    return GroupMode.MULTI_PRIMARY if spec_mode == GroupMode.MULTI_PRIMARY.value else GroupMode.SINGLE_PRIMARY


def desired(cluster: Cluster) -> Desired:
    return Desired(instances=cluster.spec.instances, mode=group_mode(cluster.spec.group_mode))


def _canonical_uuid(value: str) -> str | None:
    try:
        parsed = uuid.UUID(value)
    except (ValueError, AttributeError, TypeError):
        return None
    return str(parsed)


def group_name_for(cluster: Cluster, status: Mapping[str, Any] | None) -> str:
    """``status.cluster.groupName`` when recorded, else the object's uid (both UUIDs)."""
    recorded = _canonical_uuid(str(((status or {}).get("cluster") or {}).get("groupName") or ""))
    if recorded:
        return recorded
    return _canonical_uuid(cluster.uid) or str(uuid.uuid5(_GROUP_NAMES, f"{cluster.namespace}/{cluster.name}/"
                                                                         f"{cluster.uid}"))


def credentials(passwords: Mapping[str, str]) -> tuple[Credentials, Credentials, Credentials]:
    """(admin, replication, router) from the ``<name>-privsecrets`` passwords."""
    return (Credentials(ADMIN_USERNAME, passwords[ADMIN_PASSWORD_KEY]),
            Credentials(REPLICATION_USERNAME, passwords[REPLICATION_PASSWORD_KEY]),
            Credentials(ROUTER_USERNAME, passwords[ROUTER_PASSWORD_KEY]))


def foreign(snapshot: Snapshot, group_name: str) -> list[Instance]:
    """Reachable instances configured for a group other than ``group_name``."""
    return [i for i in snapshot.instances
            if i.reachable and i.group_name and i.group_name.lower() != group_name.lower()]


def writer(diagnosis: Diagnosis) -> int | None:
    """Where metadata is written: the primary, or in multi-primary mode the lowest ONLINE member."""
    if not diagnosis.state.has_quorum:
        return None
    if diagnosis.primary is not None:
        return diagnosis.primary
    if diagnosis.mode == GroupMode.MULTI_PRIMARY and diagnosis.online:
        return min(diagnosis.online)
    return None


def metadata_members(cluster: Cluster, snapshot: Snapshot, diagnosis: Diagnosis) -> tuple[MetadataMember, ...]:
    """The ONLINE members as Router should know them."""
    members = []
    for index in sorted(diagnosis.online):
        instance = snapshot.by_index(index)
        if instance is None or not instance.uuid:
            continue
        host = names.pod_fqdn(cluster, index)
        members.append(MetadataMember(uuid=instance.uuid, address=f"{host}:{layout.MYSQL_PORT}",
                                      x_address=f"{host}:{layout.MYSQLX_PORT}", label=pod_name(cluster, index)))
    return tuple(members)


def upkeep_for(group_name: str, members: Sequence[MetadataMember], diagnosis: Diagnosis,
               router: Credentials) -> Upkeep:
    digest = hashlib.sha256(router.password.reveal().encode()).hexdigest()
    return Upkeep(group_name, frozenset((m.uuid, m.address) for m in members),
                  diagnosis.mode == GroupMode.MULTI_PRIMARY, router.user, digest)


def needs_upkeep(last: Upkeep | None, wanted: Upkeep) -> bool:
    """Whether the metadata and router account must be ensured again (the memo decision)."""
    return last != wanted


def _member_status(cluster: Cluster, ordinal: int, instance: Instance | None, running: bool) -> MemberStatus:
    name = pod_name(cluster, ordinal)
    if not running:
        return MemberStatus(name, MemberState.MISSING.value)
    if instance is None or not instance.reachable:
        return MemberStatus(name, MemberState.UNREACHABLE.value)
    # A server that answers but runs no Group Replication is OFFLINE, as MySQL itself says.
    state = MemberState.OFFLINE if instance.state == MemberState.MISSING else instance.state
    return MemberStatus(name, state.value, instance.role.value, instance.version)


def group_status(cluster: Cluster, seen: Pass, running: Collection[int], group_name: str, *,
                 message: str | None = None) -> GroupStatus:
    """The status part of one engine pass (pure; see :class:`~..builders.status.GroupStatus`)."""
    snapshot, diagnosis = seen.snapshot, seen.diagnosis
    members = tuple(_member_status(cluster, i.index, i, i.index in running)
                    for i in sorted(snapshot.instances, key=lambda i: i.index))
    primary = pod_name(cluster, diagnosis.primary) if diagnosis.primary is not None else ""
    return GroupStatus(
        state=diagnosis.state.value,
        group_name=group_name,
        members=members,
        online=sum(1 for i in diagnosis.online if i < snapshot.desired.instances),
        primary=primary,
        mode=diagnosis.mode.value if diagnosis.mode is not None else "",
        message=message if message is not None else seen.plan.why,
        known=any(i.reachable for i in snapshot.instances),
        bootstrapped=seen.done is not None and seen.plan.action is not None
        and seen.plan.action.kind == Kind.BOOTSTRAP,
    )


def requeue_after(seen: Pass, running: Collection[int], poll: float, *, blocked: bool = False) -> float:
    """Soon while the engine has something to do; the poll once ONLINE or blocked on a person."""
    blocked = blocked or seen.plan.why.startswith(BLOCKED)
    busy = seen.plan.action is not None and not blocked
    unsettled = seen.diagnosis.state != ClusterState.ONLINE and not blocked and bool(running)
    return min(FAST_REQUEUE_SECONDS, poll) if busy or unsettled else poll


_DONE_REASONS = {
    Kind.BOOTSTRAP: "Bootstrapped", Kind.JOIN: "Joined", Kind.LEAVE: "Left", Kind.REBOOT: "Rebooted",
    Kind.SET_PRIMARY: "PrimarySwitched", Kind.SET_MODE: "ModeSwitched", Kind.FORCE_QUORUM: "QuorumForced",
}


def done_notice(cluster: Cluster, seen: Pass) -> Notice | None:
    """The Normal event for the action this pass did, if any."""
    action = seen.plan.action
    if action is None or seen.done is None or " is already " in seen.done:  # nothing needed doing
        return None
    pod = pod_name(cluster, action.target)
    messages = {
        Kind.BOOTSTRAP: f"Bootstrapped the group from {pod}",
        Kind.JOIN: f"Joined {pod} to the group ({'clone' if action.clone else 'incremental recovery'})",
        Kind.LEAVE: f"{pod} left the group (scale-down)",
        Kind.REBOOT: f"Rebooted the group from {pod}",
        Kind.SET_PRIMARY: f"Made {pod} the primary",
        Kind.SET_MODE: f"Switched the group to {action.mode.value if action.mode else 'the spec mode'}",
        Kind.FORCE_QUORUM: f"Forced quorum from {pod}",
    }
    return Notice("Normal", _DONE_REASONS[action.kind], messages[action.kind])


def blocked_notice(seen: Pass) -> Notice | None:
    """The Warning for what a person must act on: a blocked plan, or errant transactions."""
    if seen.plan.why.startswith(BLOCKED):
        return Notice("Warning", "GroupBlocked", seen.plan.why[len(BLOCKED):].strip())
    if seen.refused is not None and "errant" in seen.refused:
        return Notice("Warning", "GroupActionRefused", seen.refused)
    return None


def foreign_message(cluster: Cluster, strangers: Sequence[Instance], group_name: str) -> str:
    pods = ", ".join(pod_name(cluster, i.index) for i in strangers)
    theirs = sorted({i.group_name for i in strangers})
    return (f"blocked: {pods} belong to group {', '.join(theirs)}, not to this cluster's group {group_name} "
            f"(status.cluster.groupName): their datadirs come from another cluster. To adopt that group, "
            f"record its name in status.cluster.groupName; to start afresh, delete those pods' datadir claims")


# --- the driver ----------------------------------------------------------------------------


class GroupDriver:
    """Runs the engine for every cluster; remembers, per cluster, what it last ensured and warned."""

    def __init__(self, *, connect_timeout: float = CONNECT_TIMEOUT) -> None:
        self._connect_timeout = connect_timeout
        self._upkept: dict[str, Upkeep] = {}
        self._warned: dict[tuple[str, str], str] = {}

    def forget(self, key: str) -> None:
        """The cluster is gone: drop what was remembered for it."""
        self._upkept.pop(key, None)
        for slot in [s for s in self._warned if s[0] == key]:
            del self._warned[slot]

    async def drive(self, cluster: Cluster, pods: Iterable[Mapping[str, Any]], passwords: Mapping[str, str],
                    status: Mapping[str, Any] | None, *, poll: float) -> Outcome | None:
        """One engine pass for ``cluster``; None when it could not run (logged, come back soon)."""
        key = f"{cluster.namespace}/{cluster.name}"
        by_ordinal = server_pods(cluster, pods)
        running = frozenset(i for i, pod in by_ordinal.items() if is_running(pod))
        count = instance_count(cluster, by_ordinal)
        targets = build_targets(cluster, count, running)
        group_name = group_name_for(cluster, status)
        admin, replication, router = credentials(passwords)
        engine = Engine(targets, GroupConfig(group_name=group_name, mode=group_mode(cluster.spec.group_mode),
                                             admin=admin, replication=replication,
                                             communication_stack=COMMUNICATION_STACK),
                        connect_timeout=self._connect_timeout)
        try:
            seen = await engine.step(desired(cluster), act=False)
            strangers = foreign(seen.snapshot, group_name)
            if not strangers:
                seen = await engine.act(seen)
        except Exception as exc:  # the engine's own errors are caught inside it; anything else: next pass
            log.warning("group pass failed; will look again soon", error=repr(exc))
            return None
        events: list[Notice] = []
        done = done_notice(cluster, seen)
        if done is not None:
            events.append(done)
        message: str | None = None
        if strangers:
            message = foreign_message(cluster, strangers, group_name)
            warning: Notice | None = Notice("Warning", "ForeignGroup", message[len(BLOCKED):].strip())
        else:
            warning = blocked_notice(seen)
        events.extend(self._once(key, "group", warning))
        requeue = requeue_after(seen, running, poll, blocked=bool(strangers))
        if not strangers and not await self._upkeep(key, cluster, seen, targets, admin, router, group_name,
                                                    events):
            requeue = min(requeue, FAST_REQUEUE_SECONDS)
        if seen.plan.action is not None or strangers:
            log.info("group pass", state=seen.diagnosis.state.value, next=message or seen.plan.why,
                     action=seen.plan.action.kind.value if seen.plan.action else None,
                     done=seen.done, refused=seen.refused)
        return Outcome(group_status(cluster, seen, running, group_name, message=message), requeue, tuple(events))

    def _once(self, key: str, slot: str, notice: Notice | None) -> list[Notice]:
        """``notice`` if it differs from the last one of its slot; no notice clears the slot."""
        if notice is None:
            self._warned.pop((key, slot), None)
            return []
        if self._warned.get((key, slot)) == notice.message:
            return []
        self._warned[(key, slot)] = notice.message
        return [notice]

    async def _upkeep(self, key: str, cluster: Cluster, seen: Pass, targets: Sequence[Target],
                      admin: Credentials, router: Credentials, group_name: str, events: list[Notice]) -> bool:
        """Ensure metadata and the router account when they may be stale; False when it failed."""
        action = seen.plan.action
        if seen.done is not None and action is not None and action.kind in (Kind.SET_PRIMARY, Kind.SET_MODE):
            return True  # the writer may have moved; the next pass looks again
        index = writer(seen.diagnosis)
        members = metadata_members(cluster, seen.snapshot, seen.diagnosis)
        if index is None or not members:
            return True
        wanted = upkeep_for(group_name, members, seen.diagnosis, router)
        if not needs_upkeep(self._upkept.get(key), wanted):
            return True
        endpoint = targets[index].endpoint
        try:
            session = await connect(endpoint, admin, connect_timeout=self._connect_timeout,
                                    read_timeout=UPKEEP_READ_TIMEOUT)
            try:
                wrote = await ensure_metadata(session, cluster_name=cluster.name,
                                              cluster_id=cluster_id_for(group_name), group_name=group_name,
                                              members=members, multi_primary=wanted.multi_primary)
                reset = not await self._router_can_log_in(endpoint, router)
                change = await ensure_router_account(session, router.user, router.password,
                                                     reset_password=reset)
            finally:
                await session.close()
        except MetadataSchemaError as exc:
            events.extend(self._once(key, "metadata", Notice("Warning", "MetadataNotUpdated", exc.message)))
            log.warning("metadata not updated", error=exc.message)
            return False
        except (MysqlError, ValueError) as exc:
            log.warning("metadata and router account not ensured; will retry", on=str(endpoint), error=str(exc))
            return False
        self._once(key, "metadata", None)
        self._upkept[key] = wanted
        log.info("metadata and router account ensured", on=str(endpoint), members=[m.label for m in members],
                 metadata_written=wrote, router_account_changed=change.changed)
        return True

    async def _router_can_log_in(self, endpoint: Endpoint, router: Credentials) -> bool:
        try:
            session = await connect(endpoint, router, connect_timeout=self._connect_timeout,
                                    read_timeout=self._connect_timeout)
        except AccessDenied:
            return False
        await session.close()
        return True
