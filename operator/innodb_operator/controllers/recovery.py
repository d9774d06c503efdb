"""Recover the operator's own MySQL accounts when ``<name>-privsecrets`` loses passwords after the group existed.

Contract (:meth:`AccountRecovery.run`, one attempt per call):
  * Only the lost passwords (missing or undecodable keys) are replaced; the others are kept.
    The reset logs in as the operator's admin account when its password is still there and
    works, else as the root account of ``spec.secretName``; the group is observed as that
    account (the snapshot is real: members, states, roles).
  * :func:`innodb_operator.clustering.credentials.recover` sets the new passwords. Only once
    that succeeded is ``<name>-privsecrets`` written again (the same Secret the object
    reconcile would build), with an ``AccountsRecovered`` Event naming the Secrets and the
    accounts; an attempt that fails leaves everything as it was and is tried again later with
    fresh passwords.
  * When no account works (``RecoveryImpossible``: the user's Secret has no readable root
    password; ``RootDenied``: MySQL refuses root everywhere), no member is touched, the last
    observed state of the group stands in status, and ``CredentialsValid=False`` names the
    Secrets and what to fix. ``RecoveryPending``: no member can take the reset right now.
  * No password appears in an Event, the status or a log line.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import structlog

from innodb_api.types import Cluster
from innodb_operator.builders import layout, names
from innodb_operator.builders.secrets import (
    ACCOUNTS,
    ADMIN_PASSWORD_KEY,
    ADMIN_USERNAME,
    OPTIONAL_PASSWORD_KEYS,
    REQUIRED_PASSWORD_KEYS,
    build_private_secret,
    decoded,
)
from innodb_operator.builders.status import CredentialsProblem, GroupStatus, NextStep
from innodb_operator.clustering.credentials import Recovery, RecoveryOutcome
from innodb_operator.clustering.manager import GroupManager, GroupSpec, PassReport
from innodb_operator.clustering.messages import names as listed
from innodb_operator.clustering.model import Desired
from innodb_operator.clustering.plan import Plan, Reason
from innodb_operator.clustering.seam import Target
from innodb_operator.controllers.groupview import (
    Notice,
    group_spec,
    namer,
    notices,
    report_status,
    unobserved_status,
)
from innodb_operator.kube import errors, resources
from innodb_operator.kube.client import KubeClient
from innodb_operator.mysql.connection import Credentials, Secret

log = structlog.get_logger(__name__)

LOST = "CredentialsLost"
"""``status.cluster.next.reason`` while the operator's passwords are being recovered."""


@dataclass(frozen=True)
class Attempt:
    """What one recovery attempt reports: its status part, Events, and whether it is settled."""

    group: GroupStatus
    notices: list[Notice]
    outcome: str
    """A fingerprint for the caller's backoff: the same outcome again means nothing moved."""
    recovered: bool


class AccountRecovery:
    """One recovery attempt per call; ``client`` reads the user's Secret and writes the private one."""

    def __init__(self, client: KubeClient, manager: GroupManager) -> None:
        self._client = client
        self._manager = manager

    async def run(self, key: str, cluster: Cluster, targets: tuple[Target, ...], desired: Desired,
                  pods: Mapping[int, Mapping[str, Any]], kept: Mapping[str, str]) -> Attempt:
        """``kept``: the passwords ``<name>-privsecrets`` still holds."""
        private = f"{cluster.namespace}/{names.private_secret_name(cluster.name)}"
        user = f"{cluster.namespace}/{cluster.spec.secret_name}"
        lost = [k for k in REQUIRED_PASSWORD_KEYS if not kept.get(k)]
        passwords = {k: kept.get(k) or secrets.token_urlsafe(24) for k in REQUIRED_PASSWORD_KEYS}
        passwords.update({k: kept[k] for k in OPTIONAL_PASSWORD_KEYS if kept.get(k)})  # the exporter's: kept as is
        spec = group_spec(key, cluster, targets, desired, passwords)
        resets = {name: Secret(passwords[k]) for name, k in ACCOUNTS.items() if k in lost}
        logins = await self._logins(cluster, kept)
        if not logins:
            return self._stuck(spec, "RecoveryImpossible", (
                f"The operator's passwords are lost (Secret {private} lacks {', '.join(lost)}) and Secret {user} "
                f"has no readable rootPassword, so its accounts cannot be reset; no member was changed. Restore "
                f"{user}."))
        how, report, outcome = await self._reset(spec, logins, resets)
        if outcome.outcome == RecoveryOutcome.LOGIN_DENIED:
            return self._stuck(spec, "RootDenied", (
                f"The operator's passwords are lost (Secret {private} lacks {', '.join(lost)}), and MySQL refused "
                f"the root account of Secret {user} on every member it reached; no member was changed. Put a "
                f"rootPassword (and rootUser, rootHost) that logs in from the operator into {user}, and the "
                f"operator resets its accounts."))
        if outcome.outcome == RecoveryOutcome.NO_TARGET:
            problem = CredentialsProblem("RecoveryPending", (
                f"The operator's passwords are lost (Secret {private} lacks {', '.join(lost)}); it resets them "
                f"through {how} as soon as a member can take the change"
                f"{': ' + outcome.detail if outcome.detail else ''}."))
            step = NextStep(LOST, problem.message)
            group = report_status(cluster, spec, report, pods, credentials=problem, step=step)
            return Attempt(group, notices(spec, report, group), f"pending:{outcome.detail}", recovered=False)
        await self._client.apply(resources.SECRETS, build_private_secret(cluster, passwords), cluster.namespace)
        message = _recovered(outcome, private, how, spec)
        log.warning("operator accounts recovered", accounts=list(outcome.accounts), through=how,
                    stale=list(outcome.stale))
        group = replace(report_status(cluster, spec, report, pods, step=NextStep(LOST, message)), credentials=None)
        said = [Notice("Normal", "AccountsRecovered", message), *notices(spec, report, group)]
        return Attempt(group, said, "recovered", recovered=True)

    async def _reset(self, spec: GroupSpec, logins: list[tuple[str, Credentials]],
                     resets: Mapping[str, Secret]) -> tuple[str, PassReport, Recovery]:
        """Through the first login that is not refused everywhere: (which, what it saw, the outcome)."""
        tried: tuple[str, PassReport, Recovery] | None = None
        for how, login in logins:
            snapshot, diagnosis = await self._manager.observe(spec, login)
            outcome = await self._manager.recover(spec, snapshot, diagnosis, login=login, passwords=resets)
            tried = how, PassReport(snapshot, diagnosis, Plan(None, Reason.MEMBERS_UNREACHABLE)), outcome
            if outcome.outcome != RecoveryOutcome.LOGIN_DENIED:
                break
        assert tried is not None, "called with at least one login"
        return tried

    def _stuck(self, spec: GroupSpec, reason: str, message: str) -> Attempt:
        problem = CredentialsProblem(reason, message)
        group = unobserved_status(spec, NextStep(LOST, message), problem)
        said = [Notice("Warning", reason, message, "credentials", (reason,))]
        return Attempt(group, said, reason, recovered=False)

    async def _logins(self, cluster: Cluster, kept: Mapping[str, str]) -> list[tuple[str, Credentials]]:
        """The accounts to reset through, best first: the operator's admin account if its
        password is still there, then the root account of the user's Secret."""
        found = []
        if kept.get(ADMIN_PASSWORD_KEY):
            found.append(("the operator's admin account", Credentials(ADMIN_USERNAME, kept[ADMIN_PASSWORD_KEY])))
        try:
            secret = await self._client.get(resources.SECRETS, cluster.spec.secret_name, cluster.namespace)
        except errors.NotFound:
            return found
        values = decoded(secret, (layout.ROOT_PASSWORD_KEY, layout.ROOT_USER_KEY))
        if values.get(layout.ROOT_PASSWORD_KEY):
            found.append((f"the root account of Secret {cluster.namespace}/{cluster.spec.secret_name}",
                          Credentials(values.get(layout.ROOT_USER_KEY) or "root", values[layout.ROOT_PASSWORD_KEY])))
        return found


def _recovered(outcome: Recovery, private: str, how: str, spec: GroupSpec) -> str:
    stale = (f"; {listed(outcome.stale, namer(spec))} still hold the old ones and are updated when they next "
             "join" if outcome.stale else "")
    return (f"Secret {private} had lost passwords: reset {', '.join(outcome.accounts) or 'no account'} through "
            f"{how} and wrote {private} again{stale}.")
