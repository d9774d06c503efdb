"""Keep the InnoDB Cluster metadata, the router account and the exporter's account current, on the writer.

Contract:
  * :func:`writer` is where replicated writes go: the primary, or in multi-primary mode the
    lowest ONLINE member; None without quorum.
  * :func:`ensure` makes the metadata list exactly ``members`` and the router account exist
    with its grants (its password reset only when the router cannot log in with it), and the
    exporter's account exist with its password when metrics are on (dropped when they are off),
    through the seam. It never raises for MySQL trouble: the :class:`UpkeepResult` says what
    happened.
  * The caller remembers the :class:`UpkeepKey` of the last success and calls again only when
    it differs, so an idle converged cluster costs no SQL write.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import structlog

from innodb_operator.clustering.model import GroupMode
from innodb_operator.clustering.seam import Connector, Target
from innodb_operator.clustering.state import Diagnosis
from innodb_operator.mysql.connection import Credentials
from innodb_operator.mysql.errors import AccessDenied, MysqlError
from innodb_operator.mysql.metadata import MetadataMember, MetadataSchemaError, cluster_id_for

log = structlog.get_logger(__name__)


class UpkeepOutcome(StrEnum):
    ENSURED = "Ensured"
    FOREIGN_SCHEMA = "ForeignSchema"   # the metadata schema holds objects the operator did not make
    FAILED = "Failed"                  # temporary: the writer did not answer, a statement failed


@dataclass(frozen=True)
class UpkeepKey:
    """What the metadata and router account were ensured for. ``router_digest`` is a SHA-256
    of the router password (memory only), so a changed password is noticed."""

    group_name: str
    members: frozenset[tuple[str, str]]
    multi_primary: bool
    router_user: str
    router_digest: str
    metrics_digest: str = ""
    """SHA-256 of the exporter's password; "" when metrics are off."""


@dataclass(frozen=True)
class UpkeepResult:
    outcome: UpkeepOutcome
    key: UpkeepKey
    wrote: bool = False
    router_account_changed: bool = False
    detail: str = ""
    """For logs and the ForeignSchema Warning: the server's or the schema check's words."""


def writer(diagnosis: Diagnosis) -> int | None:
    """Where metadata is written: the primary, or in multi-primary mode the lowest ONLINE member."""
    if not diagnosis.state.has_quorum:
        return None
    if diagnosis.primary is not None:
        return diagnosis.primary
    if diagnosis.mode == GroupMode.MULTI_PRIMARY and diagnosis.online:
        return min(diagnosis.online)
    return None


def _digest(credentials: Credentials | None) -> str:
    return hashlib.sha256(credentials.password.reveal().encode()).hexdigest() if credentials is not None else ""


def key_for(group_name: str, members: Sequence[MetadataMember], multi_primary: bool, router: Credentials,
            metrics: Credentials | None = None) -> UpkeepKey:
    return UpkeepKey(group_name, frozenset((m.uuid, m.address) for m in members), multi_primary, router.user,
                     _digest(router), _digest(metrics))


async def ensure(connector: Connector, target: Target, *, admin: Credentials, router: Credentials,
                 cluster_name: str, group_name: str, members: Sequence[MetadataMember], multi_primary: bool,
                 connect_timeout: float, read_timeout: float, metrics: Credentials | None = None,
                 metrics_user: str = "") -> UpkeepResult:
    """Ensure the metadata and the accounts on ``target`` (the writer). ``metrics``: the exporter's
    account, or None to drop ``metrics_user`` (no exporter)."""
    key = key_for(group_name, members, multi_primary, router, metrics)
    try:
        server = await connector.connect(target.endpoint, admin, connect_timeout=connect_timeout,
                                         read_timeout=read_timeout)
        try:
            wrote = await server.ensure_metadata(cluster_name=cluster_name, cluster_id=cluster_id_for(group_name),
                                                 group_name=group_name, members=members,
                                                 multi_primary=multi_primary)
            reset = not await _can_log_in(connector, target, router, connect_timeout)
            change = await server.ensure_router_account(router.user, router.password, reset_password=reset)
            if metrics is not None:
                await server.ensure_metrics_account(metrics.user, metrics.password)
            elif metrics_user:
                await server.ensure_metrics_account(metrics_user, None)
        finally:
            await server.close()
    except MetadataSchemaError as exc:
        return UpkeepResult(UpkeepOutcome.FOREIGN_SCHEMA, key, detail=exc.message)
    except (MysqlError, ValueError) as exc:
        return UpkeepResult(UpkeepOutcome.FAILED, key, detail=str(exc))
    return UpkeepResult(UpkeepOutcome.ENSURED, key, wrote=wrote, router_account_changed=change.changed)


async def _can_log_in(connector: Connector, target: Target, credentials: Credentials, timeout: float) -> bool:
    try:
        server = await connector.connect(target.endpoint, credentials, connect_timeout=timeout, read_timeout=timeout)
    except AccessDenied:
        return False
    await server.close()
    return True
