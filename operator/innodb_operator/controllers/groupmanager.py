"""The group manager: one pass over one cluster's Group Replication group per key.

Contract (level-triggered; runs apart from the object reconcile, with its own queue and workers):
  * It reads only caches (the cluster, its StatefulSet, its pods, ``<name>-privsecrets``) and
    acts only on MySQL and on its own part of the status. Nothing the object reconcile does or
    fails to do (an invalid spec, a rejected child, an API error) stops it: the group's shape
    (instances, mode) comes from the StatefulSet the object reconcile last applied
    (:func:`~.groupview.desired_shape`), so rejoin, reboot after a proven outage and metadata
    upkeep go on with the last applied spec.
  * Credentials: the admin and replication accounts of ``<name>-privsecrets``. When its
    passwords are missing or undecodable and the status shows the group has existed, they
    are never generated over: :mod:`.recovery` resets them through the root account.
  * One pass (:class:`~innodb_operator.clustering.manager.GroupManager`) runs under an
    overall deadline; a pass that exceeds it is logged and retried with backoff.
  * Requests: a person's one-shot request on the object (:mod:`.requests`: switchover, reboot,
    force quorum) is decided and acted on in the next pass, instead of that pass's planned
    action, and answered once in ``status.cluster.request`` and an Event.
  * Status: only the group's part (``status.cluster``; conditions ``GroupOnline``,
    ``Degraded``, ``CredentialsValid``), server-side applied with its own field manager, and
    only when it differs from the cached one. Events: Normal for what an action did, Warning
    for what a person must act on, each once per change; and what changed in the group since the
    last pass (:mod:`.lifecycle`: failovers, expulsions, rejoins, state changes).
  * Metrics: every pass reports the cluster's figures to :class:`~innodb_operator.observability.clusters.ClusterMetrics`
    (the last observation time only when a member answered); a deleted cluster's series are dropped.
  * Requeue: soon (:attr:`Cadence.fast`) after an action done; with the poll interval once the
    group is ONLINE or blocked on a person; while it waits for something that happens on its
    own, soon for :attr:`Cadence.grace`, then doubling up to the poll for as long as nothing
    changes; after an action that failed the same way, a recovery attempt that got nowhere or a
    pass cut off by its deadline, doubling from ``fast`` at once.
  * Unexpected exceptions propagate to the runner (logged once with a traceback, backed off).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import structlog

from innodb_api import API_VERSION, INNODBCLUSTER_KIND
from innodb_api.types import Cluster
from innodb_operator.builders import names
from innodb_operator.builders.secrets import complete, passwords_from_secret
from innodb_operator.builders.server_pod import MYSQL_CONTAINER
from innodb_operator.builders.status import (
    GroupStatus,
    NextStep,
    RolloutStatus,
    group_existed,
    group_part,
    group_status,
)
from innodb_operator.clock import Clock, MonotonicClock
from innodb_operator.clustering.actions import Outcome
from innodb_operator.clustering.interventions import Intervention
from innodb_operator.clustering.manager import GroupManager, GroupSpec, PassReport
from innodb_operator.clustering.model import Desired
from innodb_operator.clustering.plan import Kind, Reason
from innodb_operator.clustering.seam import Target
from innodb_operator.clustering.state import ClusterState
from innodb_operator.controllers import finalizer, requests
from innodb_operator.controllers.groupview import (
    Notice,
    build_targets,
    desired_shape,
    group_name_for,
    group_spec,
    instance_count,
    is_running,
    namer,
    notices,
    report_status,
    server_pods,
    unsettled_fingerprint,
)
from innodb_operator.controllers.kinds import INNODBCLUSTERS, ObjectReader, cached_cluster, now_rfc3339
from innodb_operator.controllers.lifecycle import (
    Changes,
    Lifecycle,
    clones_seen,
    failover_timing,
    group_sample,
    view_states,
)
from innodb_operator.controllers.recovery import AccountRecovery
from innodb_operator.controllers.rollout import (
    Rollout,
    caught_up,
    hand_over_from,
    heir_exists,
    next_step,
    recorded_primary,
    rollout,
)
from innodb_operator.controllers.runner import Result
from innodb_operator.kube import errors, resources
from innodb_operator.kube.client import KubeClient
from innodb_operator.kube.events import EventRecorder
from innodb_operator.observability.clusters import ClusterMetrics

log = structlog.get_logger(__name__)

FIELD_MANAGER = "innodb-operator-group"
"""Field manager of the group's part of the status (the object reconcile's is the client's own)."""


@dataclass(frozen=True)
class Cadence:
    """When to look again (seconds) and how long one pass may take.

    ``grace``: how long a group may wait on something that happens by itself (a pod starting, a
    member recovering or cloning) and still be looked at every ``fast`` seconds; after that the
    delay doubles up to ``poll``. Group transitions raise no Kubernetes event of their own, so
    this is what keeps joins one after another quick without polling a stuck group forever.
    """

    fast: float = 2.0
    poll: float = 30.0
    deadline: float = 120.0
    grace: float = 30.0


class GroupManagerReconciler:
    """The group manager's reconcile; ``client`` writes its status part and recovered Secrets."""

    def __init__(self, client: KubeClient, clusters: ObjectReader, statefulsets: ObjectReader,
                 secrets: ObjectReader, pods: ObjectReader, *, manager: GroupManager, events: EventRecorder,
                 cadence: Cadence | None = None, clock: Clock | None = None,
                 metrics: ClusterMetrics | None = None, wall: Callable[[], float] = time.time) -> None:
        self._client = client
        self._status_client = client.with_field_manager(FIELD_MANAGER)
        self._clusters = clusters
        self._statefulsets = statefulsets
        self._secrets = secrets
        self._pods = pods
        self._manager = manager
        self._recovery = AccountRecovery(client, manager)
        self._events = events
        self._cadence = cadence or Cadence()
        self._clock = clock or MonotonicClock()
        self._metrics = metrics if metrics is not None else ClusterMetrics()
        self._wall = wall
        self._lifecycle = Lifecycle()
        self._said: dict[tuple[str, str], tuple[object, ...]] = {}
        self._waiting: dict[str, tuple[tuple[object, ...], float, float]] = {}  # fingerprint, since, delay

    def forget(self, key: str) -> None:
        """The cluster is gone: drop everything remembered for it."""
        self._manager.forget(key)
        self._lifecycle.forget(key)
        self._waiting.pop(key, None)
        for slot in [s for s in self._said if s[0] == key]:
            del self._said[slot]
        namespace, _, name = key.partition("/")
        self._events.forget(namespace, name)
        self._metrics.forget(namespace, name)

    async def reconcile(self, key: str) -> Result:
        obj = cached_cluster(self._clusters, key)
        if obj is None:
            self.forget(key)
            return Result()
        namespace, name = obj["metadata"]["namespace"], obj["metadata"]["name"]
        cluster = Cluster.from_object(obj)
        status = obj.get("status") or {}
        pods = server_pods(cluster, self._pods.list(namespace))
        statefulset = self._statefulsets.get(namespace, names.statefulset_name(name))
        instances, mode = desired_shape(cluster, statefulset)
        targets = build_targets(cluster, instance_count(instances, pods),
                                frozenset(i for i, pod in pods.items() if is_running(pod)))
        if finalizer.deleting(obj):
            return await self._finalize(key, obj, cluster, targets, instances, status, pods)
        roll = rollout(statefulset, pods, instances)
        desired = Desired(instances=instances, mode=mode, group_name=group_name_for(cluster, status),
                          hand_over_from=hand_over_from(roll, recorded_primary(targets, status)))
        passwords = await self._passwords(namespace, name)
        if not complete(passwords) and not group_existed(status):
            log.info("waiting for the private Secret", secret=names.private_secret_name(name))
            return Result(requeue_after=self._cadence.fast)
        started = self._clock.now()
        asked = requests.pending(obj, targets)
        deadline = self._deadline(asked)
        bound = asyncio.timeout(deadline)
        try:
            async with bound:
                if complete(passwords):
                    spec = group_spec(key, cluster, targets, desired, passwords)
                    report = await self._manager.run_pass(spec, asked.request if asked else None)
                    group = report_status(cluster, spec, report, pods)
                    said = notices(spec, report, group)
                    if asked is not None:
                        answer, told = requests.answered(asked, report.answer, namer(spec))
                        group, said = replace(group, request=answer), [*said, told]
                    delay = self._delay(key, report)
                    if roll.under_way:
                        group, restart = await self._roll(obj, spec, report, roll, pods, group)
                        said = [*said, *restart]
                        delay = min(delay, self._cadence.fast)
                    state, next_reason = report.diagnosis.state.value, report.plan.reason
                    changes = self._observed(key, group, spec, report, pods)
                else:
                    attempt = await self._recovery.run(key, cluster, targets, desired, pods, passwords)
                    group, said = attempt.group, attempt.notices
                    changes = self._observed(key, group)
                    delay = (self._cadence.fast if attempt.recovered
                             else self._backoff(key, ("credentials", attempt.outcome), grace=False))
                    state, next_reason = group.state, None
        except TimeoutError:
            if not bound.expired():
                raise
            log.warning("group pass exceeded its deadline; will retry", deadline_seconds=deadline,
                        elapsed_seconds=round(self._clock.now() - started, 2))
            return Result(requeue_after=self._backoff(key, ("deadline",), grace=False))
        (log.debug if next_reason == Reason.CONVERGED else log.info)(
            "group pass", state=state, next=group.next.reason, action=group.next.action or None,
            elapsed_seconds=round(self._clock.now() - started, 2), deadline_seconds=deadline)
        await self._write_status(obj, group)
        for notice in [*said, *changes.notices]:
            await self._say(key, obj, notice)
        return Result(requeue_after=delay)

    async def _finalize(self, key: str, obj: Mapping[str, Any], cluster: Cluster, targets: tuple[Target, ...],
                        instances: int, status: Mapping[str, Any],
                        pods: Mapping[int, Mapping[str, Any]]) -> Result:
        """One step of a deletion (see :mod:`.finalizer`): routers gone, then one member leaves
        per pass, the primary last; the finalizer goes when no reachable member is in the group.
        ``obj`` is held by the finalizer (:func:`cached_cluster` drops a deleted object it no longer holds)."""
        namespace, name = obj["metadata"]["namespace"], obj["metadata"]["name"]
        passwords = await self._passwords(namespace, name)
        waited = finalizer.deleting_for(obj, self._wall())
        if waited > finalizer.RELEASE_AFTER or not complete(passwords):
            why = (f"the group did not stop within {finalizer.RELEASE_AFTER:.0f}s of the deletion"
                   if complete(passwords) else "the operator's passwords are gone")
            log.warning("releasing the finalizer without stopping the group", why=why)
            await self._events.emit(obj, "Warning", "FinalizerReleased",
                                    f"Deleting without stopping the group in order: {why}; members still running "
                                    f"stop when their pods are deleted.")
            await finalizer.release(self._client, obj)
            return Result()
        desired = Desired(instances=instances, group_name=group_name_for(cluster, status), finalizing=True)
        spec = group_spec(key, cluster, targets, desired, passwords)
        routers = await finalizer.router_pods(self._client, cluster)
        if routers:
            report = None
            group = GroupStatus(state="", explanation="", group_name=spec.config.group_name, instances=instances,
                                next=NextStep("WaitingForRouters", f"the cluster is being deleted: waiting for the "
                                                                   f"routers to stop first ({', '.join(routers)})"),
                                observed=False)
        else:
            async with asyncio.timeout(self._cadence.deadline):
                report = await self._manager.run_pass(spec)
            if report.plan.reason == Reason.FINALIZED:
                log.info("group stopped; releasing the finalizer")
                await self._events.emit(obj, "Normal", "GroupStopped",
                                        "Every member left the group (the primary last); deleting the cluster.")
                await finalizer.release(self._client, obj)
                return Result()
            group = report_status(cluster, spec, report, pods)
        group = replace(group, state="FINALIZING", explanation="The cluster is being deleted.")
        await self._write_status(obj, group)
        for notice in notices(spec, report, group) if report is not None else []:
            await self._say(key, obj, notice)
        return Result(requeue_after=self._cadence.fast)

    def _deadline(self, asked: requests.Pending | None) -> float:
        """The pass's deadline: longer by the force timeout when it forces quorum (a new view takes
        a minute or more to come)."""
        forcing = asked is not None and asked.request is not None and asked.request.kind == Intervention.FORCE_QUORUM
        return self._cadence.deadline + (self._manager.timeouts.force if forcing else 0.0)

    def _observed(self, key: str, group: GroupStatus, spec: GroupSpec | None = None,
                  report: PassReport | None = None, pods: Mapping[int, Mapping[str, Any]] | None = None) -> Changes:
        """What changed since the last pass (its Events are the caller's to say); the cluster metrics
        of this pass. Without a report (a credentials recovery) only the status part is known."""
        changes = self._lifecycle.step(
            key, group, self._wall(),
            clones=clones_seen(spec, report.snapshot) if spec and report else None,
            view=view_states(spec, report.snapshot) if spec and report else None,
            timing=failover_timing(spec, report.snapshot, pods or {}, MYSQL_CONTAINER) if spec and report else None,
            declared_mode=spec.desired.mode.value if spec else "")
        namespace, _, name = key.partition("/")
        m = self._metrics
        if group.observed:
            reached = report is not None and any(i.reachable for i in report.snapshot.instances)
            m.report_group(namespace, name, group_sample(group, reached=reached, wall_now=self._wall()))
        result = report.result if report is not None else None
        rebooted = result is not None and result.outcome == Outcome.DONE and result.action.kind == Kind.REBOOT
        for what, amount in (("primary_changes", changes.primary_changes), ("rejoins", changes.rejoins),
                             ("clones", changes.clones), ("reboots", int(rebooted))):
            if amount:
                m.count(namespace, name, what, amount)
        if changes.failover_seconds is not None:
            m.observe_failover(namespace, name, changes.failover_seconds)
        return changes

    async def _roll(self, obj: Mapping[str, Any], spec: GroupSpec, report: PassReport, roll: Rollout,
                    pods: Mapping[int, Mapping[str, Any]], group: GroupStatus) -> tuple[GroupStatus, list[Notice]]:
        """One step of a rolling restart after a pass (see :mod:`.rollout`): the status part with
        the roll's progress, and the Event of a restart begun."""
        label = namer(spec)
        settled = report.plan.reason == Reason.CONVERGED and report.diagnosis.state == ClusterState.ONLINE
        wanted = {label(i) for i in range(roll.total)}
        step = next_step(roll, pods, settled=settled, primary=report.diagnosis.primary,
                         caught_up=caught_up(report.snapshot), name={t.index: t.label for t in spec.targets},
                         not_online=[m.name for m in group.members if m.name in wanted and m.state != "ONLINE"],
                         heir_exists=heir_exists(report.snapshot, report.diagnosis))
        notices_: list[Notice] = []
        message = step.message
        if step.evict is not None:
            namespace, pod = obj["metadata"]["namespace"], label(step.evict)
            try:
                await self._client.evict(pod, namespace)
                log.info("rolling restart: evicted", pod=pod, revision=roll.revision, updated=roll.updated,
                         total=roll.total)
                notices_.append(Notice("Normal", "RollingRestart", f"Restarting {pod} for the new pod template "
                                                                   f"({roll.updated + 1} of {roll.total})."))
            except errors.TooManyRequests:
                message = f"waiting for the PodDisruptionBudget to allow restarting {pod}"
            except errors.NotFound:
                message = f"waiting for {pod} to restart"
            except errors.Forbidden:
                message = (f"cannot restart {pod}: the operator's role lacks create on pods/eviction "
                           "(upgrade the operator chart)")
        current = next((label(i) for i in roll.outdated if step.evict == i), "")
        progress = RolloutStatus(revision=roll.revision, updated=roll.updated, total=roll.total,
                                 member=current, message=message)
        return replace(group, rollout=progress), notices_

    async def _passwords(self, namespace: str, name: str) -> dict[str, str]:
        """From the cache; live from the API server when the cache lacks any (it may lag)."""
        secret_name = names.private_secret_name(name)
        found = passwords_from_secret(self._secrets.get(namespace, secret_name))
        if complete(found):
            return found
        try:
            return passwords_from_secret(await self._client.get(resources.SECRETS, secret_name, namespace))
        except errors.NotFound:
            return found

    def _delay(self, key: str, report: PassReport) -> float:
        """Soon after an action done; the poll when settled or blocked; backing off while waiting,
        and after an action that failed the same way again."""
        result = report.result
        if result is not None and result.outcome == Outcome.DONE:
            self._waiting.pop(key, None)
            return min(self._cadence.fast, self._cadence.poll)
        if result is not None and result.outcome == Outcome.PARTIAL:
            return self._backoff(key, ("partial", result.action, result.refusal), grace=False)
        if report.plan.blocked or (report.plan.reason == Reason.CONVERGED
                                   and report.diagnosis.state == ClusterState.ONLINE):
            self._waiting.pop(key, None)
            return self._cadence.poll
        return self._backoff(key, unsettled_fingerprint(report))

    def _backoff(self, key: str, fingerprint: tuple[object, ...], *, grace: bool = True) -> float:
        """``fast`` for a new situation (and, with ``grace``, for as long as it is younger than
        :attr:`Cadence.grace`); then twice the last delay, up to the poll, while it stays the same."""
        fast, poll = min(self._cadence.fast, self._cadence.poll), self._cadence.poll
        now = self._clock.now()
        last = self._waiting.get(key)
        if last is None or last[0] != fingerprint:
            since, delay = now, fast
        elif grace and now - last[1] < self._cadence.grace:
            since, delay = last[1], fast
        else:
            since, delay = last[1], min(poll, last[2] * 2)
        self._waiting[key] = (fingerprint, since, delay)
        return delay

    async def _write_status(self, obj: Mapping[str, Any], group: GroupStatus) -> None:
        meta = obj["metadata"]
        previous = obj.get("status") or {}
        part = group_status(group, int(meta.get("generation") or 0), previous, now_rfc3339())
        if part == group_part(previous):
            return
        body = {"apiVersion": API_VERSION, "kind": INNODBCLUSTER_KIND,
                "metadata": {"name": meta["name"], "namespace": meta["namespace"]}, "status": part}
        try:
            await self._status_client.apply(INNODBCLUSTERS, body, meta["namespace"], subresource="status")
        except errors.NotFound:
            return
        log.info("group status updated", state=group.state, online=group.online, next=group.next.reason)

    async def _say(self, key: str, obj: Mapping[str, Any], notice: Notice) -> None:
        """Emit ``notice`` unless its slot already said the same; a notice without a reason clears the slot."""
        if not notice.slot:
            await self._events.emit(obj, notice.type, notice.reason, notice.message)
            return
        slot = (key, notice.slot)
        if not notice.reason:
            self._said.pop(slot, None)
            return
        if self._said.get(slot) == notice.key:
            return
        self._said[slot] = notice.key
        await self._events.emit(obj, notice.type, notice.reason, notice.message)

