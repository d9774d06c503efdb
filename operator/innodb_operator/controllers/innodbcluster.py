"""Reconcile one ``InnoDBCluster`` key.

Contract (level-triggered): a pass never asks which event woke it. It reads the
cluster from the cache, computes the status it should have, writes ``/status`` only
when that differs from what is stored, and asks to be looked at again after the
poll interval while the cluster exists. A key whose object is gone is forgotten.

This is the runtime's first reconcile; child resources and the group engine arrive
with the API and clustering work and plug in here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import structlog

from innodb_api import GROUP, INNODBCLUSTER_KIND, INNODBCLUSTER_PLURAL, VERSION
from innodb_operator.controllers.runner import Result
from innodb_operator.kube import errors
from innodb_operator.kube.client import KubeClient
from innodb_operator.kube.resources import ResourceType

log = structlog.get_logger(__name__)

INNODBCLUSTERS = ResourceType(GROUP, VERSION, INNODBCLUSTER_PLURAL, INNODBCLUSTER_KIND)


def desired_status(cluster: Any) -> dict[str, Any]:
    """The status this pass can vouch for (pure)."""
    return {"observedGeneration": cluster["metadata"].get("generation", 0)}


def status_differs(current: Any, desired: dict[str, Any]) -> bool:
    current = current or {}
    return any(current.get(k) != v for k, v in desired.items())


class ClusterReader(Protocol):
    """Read access to cached clusters (a Lister, or several behind one face)."""

    def get(self, namespace: str, name: str) -> Mapping[str, Any] | None: ...


class InnoDBClusterReconciler:
    """Reads clusters from ``clusters``; writes status through ``client``."""

    def __init__(self, client: KubeClient, clusters: ClusterReader, *, poll_seconds: float) -> None:
        self._client = client
        self._clusters = clusters
        self._poll = poll_seconds

    async def reconcile(self, key: str) -> Result:
        namespace, _, name = key.partition("/")
        cluster = self._clusters.get(namespace, name)
        if cluster is None:
            log.debug("cluster is gone")
            return Result()
        desired = desired_status(cluster)
        if status_differs(cluster.get("status"), desired):
            try:
                await self._client.patch_status(INNODBCLUSTERS, name, desired, namespace)
            except errors.NotFound:
                return Result()
            log.info("status updated", observed_generation=desired["observedGeneration"])
        return Result(requeue_after=self._poll)
