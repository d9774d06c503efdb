"""The cluster's finalizer: deletion stops the group in order before Kubernetes removes anything.

Contract:
  * The object reconcile adds ``FINALIZER`` (:mod:`.kinds`) to every InnoDBCluster not being deleted.
  * Once the object is being deleted, the object reconcile scales the router Deployment to 0
    (clients stop first) and applies nothing else; the group manager waits for the router
    pods to be gone, then makes the members leave the group one per pass (the secondaries
    first, the primary last: ``Desired.finalizing``), and releases the finalizer when no
    reachable member is in the group any more (also when the group is gone already).
  * The finalizer never holds the object for ever: after :data:`RELEASE_AFTER` seconds of
    deletion it is released whatever the group's state, with a Warning Event.
  * Every write carries the object's ``resourceVersion``: a stale cache gets a Conflict, and
    the work queue retries with a fresh object.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from innodb_api.types import Cluster
from innodb_operator.builders import labels, names
from innodb_operator.controllers.kinds import FINALIZER, INNODBCLUSTERS
from innodb_operator.kube import errors, resources
from innodb_operator.kube.client import KubeClient

RELEASE_AFTER = 600.0
"""Seconds after the deletion request at which the finalizer is released whatever happened."""


def finalizers(obj: Mapping[str, Any]) -> list[str]:
    return [str(f) for f in (obj.get("metadata") or {}).get("finalizers") or []]


def deleting(obj: Mapping[str, Any]) -> bool:
    return bool((obj.get("metadata") or {}).get("deletionTimestamp"))


def deleting_for(obj: Mapping[str, Any], now: float) -> float:
    """Seconds from the deletion request to ``now`` (epoch seconds); 0 when not being deleted or
    the time is unreadable."""
    stamp = str((obj.get("metadata") or {}).get("deletionTimestamp") or "")
    try:
        since = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0
    return max(0.0, now - since)


async def _set(client: KubeClient, obj: Mapping[str, Any], wanted: list[str]) -> None:
    meta = obj["metadata"]
    patch = {"metadata": {"finalizers": wanted, "resourceVersion": meta["resourceVersion"]}}
    try:
        await client.merge_patch(INNODBCLUSTERS, meta["name"], patch, meta["namespace"])
    except errors.NotFound:
        return


async def add(client: KubeClient, obj: Mapping[str, Any]) -> None:
    """Add ``FINALIZER`` (others' finalizers stay)."""
    if FINALIZER not in finalizers(obj):
        await _set(client, obj, [*finalizers(obj), FINALIZER])


async def release(client: KubeClient, obj: Mapping[str, Any]) -> None:
    """Remove ``FINALIZER`` (others' stay): Kubernetes deletes the object and its children."""
    if FINALIZER in finalizers(obj):
        await _set(client, obj, [f for f in finalizers(obj) if f != FINALIZER])


async def router_pods(client: KubeClient, cluster: Cluster) -> list[str]:
    """The cluster's router pods that have not terminated (a live list: only while deleting)."""
    selector = ",".join(f"{k}={v}" for k, v in labels.router_selector(cluster).items())
    pods, _ = await client.list(resources.PODS, cluster.namespace, label_selector=selector)
    return sorted(str(p["metadata"]["name"]) for p in pods
                  if (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed"))


async def stop_routers(client: KubeClient, namespace: str, cluster_name: str) -> None:
    """Scale the router Deployment to 0 (gone already: nothing to do)."""
    try:
        await client.merge_patch(resources.DEPLOYMENTS, names.router_deployment_name(cluster_name),
                                 {"spec": {"replicas": 0}}, namespace)
    except errors.NotFound:
        return
