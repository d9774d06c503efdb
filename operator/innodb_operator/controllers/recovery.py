"""Recover the operator's own MySQL accounts when ``<name>-privsecrets`` is lost after the group existed.

Contract (:meth:`AccountRecovery.run`, one attempt per call):
  * New passwords are made for every account of the Secret; the live group is observed as
    the root account of ``spec.secretName`` (the operator's own passwords are gone).
  * :func:`innodb_operator.clustering.credentials.recover` sets them on the writer and the
    recovery channels. Only once that succeeded is ``<name>-privsecrets`` written again (the
    same Secret the object reconcile would build), with an ``AccountsRecovered`` Event naming
    both Secrets and the accounts; an attempt that fails leaves the old state and is simply
    tried again with fresh passwords.
  * When the user's Secret has no readable root password (``RecoveryImpossible``) or MySQL
    refuses root everywhere (``RootDenied``), no member is touched and the status part says
    so in ``CredentialsValid=False``, naming both Secrets and what to fix.
  * No password appears in an Event, the status or a log line.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

import structlog

from innodb_api.types import Cluster
from innodb_operator.builders import layout, names
from innodb_operator.builders.secrets import (
    ADMIN_PASSWORD_KEY,
    ADMIN_USERNAME,
    BACKUP_PASSWORD_KEY,
    BACKUP_USERNAME,
    REPLICATION_PASSWORD_KEY,
    REPLICATION_USERNAME,
    REQUIRED_PASSWORD_KEYS,
    ROUTER_PASSWORD_KEY,
    ROUTER_USERNAME,
    build_private_secret,
    decoded,
)
from innodb_operator.builders.status import CredentialsProblem, GroupStatus, NextStep
from innodb_operator.clustering.credentials import Recovery, RecoveryOutcome
from innodb_operator.clustering.manager import GroupManager, GroupSpec, PassReport
from innodb_operator.clustering.messages import names as listed
from innodb_operator.clustering.model import Desired, Snapshot
from innodb_operator.clustering.plan import Plan, Reason
from innodb_operator.clustering.seam import Target
from innodb_operator.clustering.state import ClusterState, Diagnosis
from innodb_operator.controllers.groupview import Notice, group_spec, namer, notices, report_status
from innodb_operator.kube import errors, resources
from innodb_operator.kube.client import KubeClient
from innodb_operator.mysql.connection import Credentials, Secret

log = structlog.get_logger(__name__)

LOST = "CredentialsLost"
"""``status.cluster.next.reason`` while the operator's passwords are being recovered."""

_ACCOUNTS = {ADMIN_USERNAME: ADMIN_PASSWORD_KEY, REPLICATION_USERNAME: REPLICATION_PASSWORD_KEY,
             ROUTER_USERNAME: ROUTER_PASSWORD_KEY, BACKUP_USERNAME: BACKUP_PASSWORD_KEY}


class AccountRecovery:
    """One recovery attempt per call; ``client`` reads the user's Secret and writes the private one."""

    def __init__(self, client: KubeClient, manager: GroupManager) -> None:
        self._client = client
        self._manager = manager

    async def run(self, key: str, cluster: Cluster, targets: tuple[Target, ...], desired: Desired,
                  pods: Mapping[int, Mapping[str, Any]]) -> tuple[PassReport, GroupStatus, list[Notice]]:
        private = f"{cluster.namespace}/{names.private_secret_name(cluster.name)}"
        user = f"{cluster.namespace}/{cluster.spec.secret_name}"
        fresh = {k: secrets.token_urlsafe(24) for k in REQUIRED_PASSWORD_KEYS}
        spec = group_spec(key, cluster, targets, desired, fresh)
        root = await self._root(cluster)
        said: list[Notice] = []
        if root is None:
            snapshot, diagnosis = Snapshot((), desired), Diagnosis(ClusterState.OFFLINE_UNCERTAIN,
                                                                   "the operator cannot log in to any member")
            problem: CredentialsProblem | None = CredentialsProblem("RecoveryImpossible", (
                f"The operator's passwords are lost (Secret {private} is missing or unreadable) and Secret {user} "
                f"has no readable rootPassword, so its accounts cannot be reset; no member was changed. Restore "
                f"{user}."))
        else:
            snapshot, diagnosis = await self._manager.observe(spec, root)
            outcome = await self._manager.recover(spec, snapshot, diagnosis, root=root, passwords={
                user_name: Secret(fresh[key_name]) for user_name, key_name in _ACCOUNTS.items()})
            problem = await self._conclude(outcome, cluster, fresh, private, user, said, spec)
        report = PassReport(snapshot, diagnosis, Plan(None, Reason.MEMBERS_UNREACHABLE))
        message = problem.message if problem is not None else said[0].message
        group = report_status(cluster, spec, report, pods, credentials=problem, step=NextStep(LOST, message))
        return report, group, [*said, *notices(spec, report, group)]

    async def _conclude(self, outcome: Recovery, cluster: Cluster, fresh: Mapping[str, str], private: str,
                        user: str, said: list[Notice], spec: GroupSpec) -> CredentialsProblem | None:
        if outcome.outcome == RecoveryOutcome.RECOVERED:
            await self._client.apply(resources.SECRETS, build_private_secret(cluster, fresh), cluster.namespace)
            stale = (f"; the recovery channel of {listed(outcome.stale_members, namer(spec))} is updated when it "
                     "next joins" if outcome.stale_members else "")
            said.append(Notice("Normal", "AccountsRecovered", (
                f"Secret {private} was missing or unreadable: reset the passwords of {', '.join(outcome.accounts)} "
                f"through the root account of Secret {user} and wrote {private} again{stale}.")))
            log.warning("operator accounts recovered through root", accounts=list(outcome.accounts),
                        stale_members=list(outcome.stale_members))
            return None
        if outcome.outcome == RecoveryOutcome.ROOT_DENIED:
            return CredentialsProblem("RootDenied", (
                f"The operator's passwords are lost (Secret {private} is missing or unreadable), and MySQL refused "
                f"the root account of Secret {user} on every member it reached; no member was changed. Put the "
                f"right rootPassword in {user} and the operator resets its accounts."))
        detail = f": {outcome.detail}" if outcome.detail else ""
        return CredentialsProblem("RecoveryPending", (
            f"The operator's passwords are lost (Secret {private} is missing or unreadable); it resets them "
            f"through the root account of Secret {user} as soon as a writable member answers "
            f"({outcome.outcome.value}{detail})."))

    async def _root(self, cluster: Cluster) -> Credentials | None:
        try:
            secret = await self._client.get(resources.SECRETS, cluster.spec.secret_name, cluster.namespace)
        except errors.NotFound:
            return None
        values = decoded(secret, (layout.ROOT_PASSWORD_KEY, layout.ROOT_USER_KEY))
        password = values.get(layout.ROOT_PASSWORD_KEY)
        return Credentials(values.get(layout.ROOT_USER_KEY) or "root", password) if password else None
