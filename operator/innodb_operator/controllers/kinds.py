"""The custom resource types, as the kube layer addresses them, and what every reconcile reads with."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, Protocol

from innodb_api import (
    GROUP,
    INNODBCLUSTER_KIND,
    INNODBCLUSTER_PLURAL,
    MYSQLBACKUP_KIND,
    MYSQLBACKUP_PLURAL,
    VERSION,
)
from innodb_operator.kube.resources import ResourceType

INNODBCLUSTERS = ResourceType(GROUP, VERSION, INNODBCLUSTER_PLURAL, INNODBCLUSTER_KIND)
MYSQLBACKUPS = ResourceType(GROUP, VERSION, MYSQLBACKUP_PLURAL, MYSQLBACKUP_KIND)


class ObjectReader(Protocol):
    """Read access to one cached kind across the watched namespaces (the cache is read-only)."""

    def get(self, namespace: str, name: str) -> Mapping[str, Any] | None: ...

    def list(self, namespace: str) -> list[Mapping[str, Any]]: ...


def now_rfc3339() -> str:
    """Wall-clock time as status timestamps carry it (``lastTransitionTime``, ``createTime``)."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


FINALIZER = "mysql.innodb-operator.dev/stop-group"
"""The operator's finalizer on an InnoDBCluster (see :mod:`.finalizer`)."""


def cached_cluster(clusters: ObjectReader, key: str) -> Mapping[str, Any] | None:
    """The cluster of ``key`` (``namespace/name``) as cached, or None when it is gone, or being
    deleted with nothing left for the operator to do (its finalizer no longer holds it)."""
    namespace, _, name = key.partition("/")
    obj = clusters.get(namespace, name)
    if obj is None:
        return None
    meta = obj["metadata"]
    if meta.get("deletionTimestamp") and FINALIZER not in (meta.get("finalizers") or []):
        return None
    return obj
