"""One pass of the group manager for one cluster: observe, decide, plan, act at most once, upkeep.

Contract:
  * :meth:`GroupManager.run_pass` observes every target once (in parallel, bounded), decides
    the state (:func:`~.state.decide`), plans (:func:`~.plan.next_action`), executes the
    planned action if any (:class:`~.actions.Executor`) — or, when the pass carries a person's
    :class:`Request`, decides that (:func:`~.interventions.decide`) and runs its action instead
    of the planned one — then keeps the Router metadata and
    the router account current on the writer (:mod:`.upkeep`), except in a pass that may have
    moved the writer (a primary or mode switch) or that found another group's instances.
  * Upkeep runs only when what it would ensure differs from the last success for the same
    cluster key; :meth:`forget` drops that memo when the cluster is deleted.
  * MySQL trouble never raises out of a pass: it shows in the :class:`PassReport` (null
    instances, a refused or partial result, a failed upkeep). Anything else is a bug and
    propagates. The caller bounds the whole pass with a deadline.
  * The pass only depends on its :class:`GroupSpec`: what the controller read from the last
    applied spec, the pods and the private Secret. Nothing on the Kubernetes side can stop it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import structlog

from innodb_operator.clustering import credentials
from innodb_operator.clustering.actions import ActionResult, Executor, GroupConfig, Outcome
from innodb_operator.clustering.credentials import Recovery
from innodb_operator.clustering.interventions import Decision, Intervention, Verdict
from innodb_operator.clustering.interventions import decide as decide_request
from innodb_operator.clustering.model import Desired, GroupMode, Snapshot
from innodb_operator.clustering.observe import observe
from innodb_operator.clustering.plan import Action, Kind, Plan, Reason, next_action
from innodb_operator.clustering.seam import Connector, Target
from innodb_operator.clustering.state import Diagnosis, decide
from innodb_operator.clustering.upkeep import UpkeepKey, UpkeepOutcome, UpkeepResult, ensure, key_for, writer
from innodb_operator.mysql.connection import Credentials, Secret
from innodb_operator.mysql.metadata import MetadataMember

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Timeouts:
    """Seconds allowed for each kind of call (every call also has an asyncio deadline)."""

    connect: float = 2.0
    observe: float = 10.0
    action: float = 60.0
    upkeep: float = 30.0
    force: float = 110.0
    """The statement that forces quorum: it returns once the new view is installed."""


@dataclass(frozen=True)
class GroupSpec:
    """Everything one pass needs to know about one cluster."""

    key: str
    cluster_name: str
    targets: tuple[Target, ...]
    desired: Desired
    config: GroupConfig
    router: Credentials
    metrics: Credentials | None = None
    """The exporter's account when metrics are on."""
    metrics_user: str = ""
    """The exporter's user name (dropped while metrics are off)."""


@dataclass(frozen=True)
class Request:
    """A person's one-shot intervention about the instance ``target`` (see :mod:`.interventions`)."""

    kind: Intervention
    target: int
    accept_data_loss: bool = False


@dataclass(frozen=True)
class Answer:
    """What a pass made of a :class:`Request`: the decision and, when it acted, the result."""

    request: Request
    decision: Decision
    result: ActionResult | None = None

    @property
    def done(self) -> bool:
        """The request's effect holds (already, or the action ran)."""
        if self.decision.verdict == Verdict.DONE:
            return True
        return self.result is not None and self.result.outcome in (Outcome.DONE, Outcome.ALREADY)


@dataclass(frozen=True)
class PassReport:
    """What one pass saw, decided and did. ``result`` is the action run (the planned one, or the
    request's); ``plan`` is what the planner would do (not run when a request was answered)."""

    snapshot: Snapshot
    diagnosis: Diagnosis
    plan: Plan
    result: ActionResult | None = None
    upkeep: UpkeepResult | None = None
    answer: Answer | None = None


class GroupManager:
    """Runs passes for many clusters; remembers per cluster what upkeep last ensured."""

    def __init__(self, connector: Connector, *, timeouts: Timeouts | None = None) -> None:
        self._connector = connector
        self._timeouts = timeouts or Timeouts()
        self._upkept: dict[str, UpkeepKey] = {}

    @property
    def timeouts(self) -> Timeouts:
        return self._timeouts

    def forget(self, key: str) -> None:
        self._upkept.pop(key, None)

    async def observe(self, spec: GroupSpec, credentials: Credentials | None = None) -> tuple[Snapshot, Diagnosis]:
        """One snapshot (as ``credentials``, the admin account by default) and its diagnosis."""
        t = self._timeouts
        snapshot = await observe(self._connector, spec.targets, credentials or spec.config.admin, spec.desired,
                                 connect_timeout=t.connect, read_timeout=t.observe)
        return snapshot, decide(snapshot)

    async def recover(self, spec: GroupSpec, snapshot: Snapshot, diagnosis: Diagnosis, *, login: Credentials,
                      passwords: Mapping[str, Secret]) -> Recovery:
        """Reset the passwords of the accounts in ``passwords`` (user -> new password) through
        ``login`` (see :mod:`.credentials`). ``snapshot`` and ``diagnosis`` come from
        :meth:`observe` as ``login``; ``spec.config`` holds the accounts as they are after the reset.
        """
        t = self._timeouts
        replication = spec.config.replication if spec.config.replication.user in passwords else None
        outcome = await credentials.recover(
            self._connector, spec.targets, snapshot, diagnosis, login=login, passwords=passwords,
            admin=spec.config.admin, replication=replication, connect_timeout=t.connect, read_timeout=t.action)
        self._upkept.pop(spec.key, None)  # the router account may have changed: ensure it again
        return outcome

    async def run_pass(self, spec: GroupSpec, request: Request | None = None) -> PassReport:
        snapshot, diagnosis = await self.observe(spec)
        plan = next_action(snapshot, diagnosis)
        result = answer = None
        if request is not None:
            decision = decide_request(request.kind, request.target, snapshot, diagnosis,
                                      accept_data_loss=request.accept_data_loss)
            if decision.action is not None:
                result = await self._execute(spec, decision.action, snapshot, f"request:{request.kind.value}")
            answer = Answer(request, decision, result)
            log.info("request answered", request=request.kind.value, target=_label(spec, request.target),
                     verdict=decision.verdict.value, why=decision.why.value,
                     outcome=result.outcome.value if result else None)
        elif plan.action is not None:
            result = await self._execute(spec, plan.action, snapshot, plan.reason.value)
        upkeep = None
        if self._may_upkeep(plan, result):
            upkeep = await self._upkeep(spec, snapshot, diagnosis)
        return PassReport(snapshot, diagnosis, plan, result, upkeep, answer)

    async def _execute(self, spec: GroupSpec, action: Action, snapshot: Snapshot, reason: str) -> ActionResult:
        t = self._timeouts
        executor = Executor(self._connector, spec.targets, spec.config, connect_timeout=t.connect,
                            read_timeout=t.action, probe_timeout=t.observe, force_timeout=t.force)
        result = await executor.execute(action, snapshot)
        log.info("group action", action=action.kind.value, target=_label(spec, action.target), reason=reason,
                 outcome=result.outcome.value, refusal=result.refusal.value if result.refusal else None,
                 detail=result.detail or None)
        return result

    def _may_upkeep(self, plan: Plan, result: ActionResult | None) -> bool:
        if plan.reason in (Reason.FOREIGN_GROUP, Reason.FINALIZING, Reason.FINALIZED):
            return False
        moved_writer = result is not None and result.changed and result.action.kind in (
            Kind.SET_PRIMARY, Kind.SET_MODE, Kind.FORCE_QUORUM)
        return not moved_writer

    async def _upkeep(self, spec: GroupSpec, snapshot: Snapshot, diagnosis: Diagnosis) -> UpkeepResult | None:
        index = writer(diagnosis)
        members = metadata_members(spec, snapshot, diagnosis)
        targets = {t.index: t for t in spec.targets}
        if index is None or index not in targets or not members:
            return None
        multi = diagnosis.mode == GroupMode.MULTI_PRIMARY
        group_name = spec.config.group_name
        if self._upkept.get(spec.key) == key_for(group_name, members, multi, spec.router, spec.metrics):
            return None
        t = self._timeouts
        result = await ensure(self._connector, targets[index], admin=spec.config.admin, router=spec.router,
                              cluster_name=spec.cluster_name, group_name=group_name, members=members,
                              multi_primary=multi, connect_timeout=t.connect, read_timeout=t.upkeep,
                              metrics=spec.metrics, metrics_user=spec.metrics_user)
        if result.outcome == UpkeepOutcome.ENSURED:
            self._upkept[spec.key] = result.key
            log.info("metadata and router account ensured", on=targets[index].label,
                     members=[m.label for m in members], metadata_written=result.wrote,
                     router_account_changed=result.router_account_changed)
        else:
            log.warning("metadata and router account not ensured", on=targets[index].label,
                        outcome=result.outcome.value, error=result.detail)
        return result


def metadata_members(spec: GroupSpec, snapshot: Snapshot, diagnosis: Diagnosis) -> tuple[MetadataMember, ...]:
    """The ONLINE members as Router should know them."""
    targets = {t.index: t for t in spec.targets}
    members = []
    for index in sorted(diagnosis.online):
        instance = snapshot.by_index(index)
        target = targets.get(index)
        if instance is None or not instance.uuid or target is None:
            continue
        members.append(MetadataMember(uuid=instance.uuid, address=target.address,
                                      x_address=target.x_address or target.address, label=target.label))
    return tuple(members)


def _label(spec: GroupSpec, index: int) -> str:
    return next((t.label for t in spec.targets if t.index == index), str(index))
