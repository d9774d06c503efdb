"""One pass of the group engine: observe, decide, plan, act (at most once).

Contract: :meth:`Engine.step` gathers one snapshot, decides the state, picks at most one
action and executes it (:meth:`Engine.act`), then returns everything it saw and did; the
caller writes status and comes back later (the next pass observes the action's effect). A refused action
(its precondition no longer held) is reported, not raised: nothing was changed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import structlog

from innodb_operator.clustering.actions import Executor, GroupConfig, Refused
from innodb_operator.clustering.model import Desired, Snapshot
from innodb_operator.clustering.observe import Target, observe
from innodb_operator.clustering.plan import Plan, next_action
from innodb_operator.clustering.state import Diagnosis, decide
from innodb_operator.mysql.errors import MysqlError

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Pass:
    """What one pass saw, decided and did (``done`` is None when nothing ran)."""

    snapshot: Snapshot
    diagnosis: Diagnosis
    plan: Plan
    done: str | None = None
    refused: str | None = None


class Engine:
    """Drives one group, made of ``targets``, toward ``desired``."""

    def __init__(self, targets: Sequence[Target], config: GroupConfig, *, connect_timeout: float = 3.0) -> None:
        self._targets = tuple(targets)
        self._config = config
        self._connect_timeout = connect_timeout
        self._executor = Executor(targets, config, connect_timeout=max(connect_timeout, 5.0))

    async def observe(self, desired: Desired) -> Snapshot:
        return await observe(self._targets, self._config.admin, desired, group_name="",
                             connect_timeout=self._connect_timeout)

    async def step(self, desired: Desired, *, act: bool = True) -> Pass:
        snapshot = await self.observe(desired)
        diagnosis = decide(snapshot)
        seen = Pass(snapshot, diagnosis, next_action(snapshot, diagnosis))
        return await self.act(seen) if act else seen

    async def act(self, seen: Pass) -> Pass:
        """Execute the action ``seen`` planned (if any and not run yet): ``step(act=False)``,
        then ``act``, is ``step()`` with a chance for the caller to look in between."""
        plan, snapshot = seen.plan, seen.snapshot
        if plan.action is None or seen.done is not None or seen.refused is not None:
            return seen
        try:
            done = await self._executor.execute(plan.action, snapshot)
        except (Refused, MysqlError) as exc:
            log.info("group action not taken", action=plan.action.kind.value, reason=str(exc))
            return Pass(snapshot, seen.diagnosis, plan, refused=str(exc))
        log.info("group action done", action=plan.action.kind.value, result=done)
        return Pass(snapshot, seen.diagnosis, plan, done=done)
