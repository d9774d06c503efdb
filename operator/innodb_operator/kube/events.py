"""Kubernetes Events (``core/v1``) about the operator's objects.

Contract:
  * :meth:`EventRecorder.emit` writes one Event for ``(object, type, reason, message)``; the
    same tuple again within the process bumps ``count`` on the existing Event instead of
    creating another (the way kubectl describe aggregates them). When that Event is gone
    (Events expire, by default after an hour), a fresh one is created with ``count: 1``.
  * Callers emit on *changes* (a condition flipping, an action taken), never on every pass,
    so an idle cluster causes no Event writes.
  * Messages must not contain secrets; recording never raises (a failed Event is logged).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from typing import Any, Literal

import structlog

from innodb_operator.kube import errors
from innodb_operator.kube.client import KubeClient
from innodb_operator.kube.resources import EVENTS

log = structlog.get_logger(__name__)

EventType = Literal["Normal", "Warning"]
COMPONENT = "innodb-operator"


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class EventRecorder:
    """Creates and aggregates Events in the involved object's namespace."""

    def __init__(self, client: KubeClient, instance: str) -> None:
        self._client = client
        self._instance = instance
        self._counts: dict[tuple[str, str], dict[str, int]] = {}

    async def emit(self, obj: Mapping[str, Any], type_: EventType, reason: str, message: str) -> None:
        meta = obj["metadata"]
        namespace = meta.get("namespace") or "default"
        digest = hashlib.sha256(f"{meta.get('uid')}/{type_}/{reason}/{message}".encode()).hexdigest()[:12]
        name = f"{meta['name']}.{digest}"
        now = _now()
        counts = self._counts.setdefault((namespace, meta["name"]), {})
        count = counts.get(name, 0) + 1
        counts[name] = count
        try:
            if count > 1:
                try:
                    await self._aggregate(name, namespace, count, now)
                    return
                except errors.NotFound:
                    # The Event expired (or was deleted): start a fresh one.
                    count = counts[name] = 1
            await self._client.create(EVENTS, {
                "apiVersion": "v1", "kind": "Event",
                "metadata": {"name": name, "namespace": namespace},
                "involvedObject": {"apiVersion": obj.get("apiVersion"), "kind": obj.get("kind"),
                                   "name": meta["name"], "namespace": namespace, "uid": meta.get("uid"),
                                   "resourceVersion": meta.get("resourceVersion")},
                "type": type_, "reason": reason, "message": message[:1024],
                "source": {"component": COMPONENT}, "reportingComponent": COMPONENT,
                "reportingInstance": self._instance,
                "firstTimestamp": now, "lastTimestamp": now, "count": 1,
            }, namespace)
        except errors.Conflict:
            # Created by an earlier process with the same content: aggregate into it.
            try:
                await self._aggregate(name, namespace, count, now)
            except errors.KubeError as exc:
                log.warning("event not recorded", reason=reason, error=repr(exc))
        except errors.KubeError as exc:
            log.warning("event not recorded", reason=reason, error=repr(exc))

    def forget(self, namespace: str, name: str) -> None:
        """The object is gone: drop the counts kept for its Events."""
        self._counts.pop((namespace, name), None)

    async def _aggregate(self, name: str, namespace: str, count: int, now: str) -> None:
        await self._client.merge_patch(EVENTS, name, {"count": count, "lastTimestamp": now}, namespace)
