"""What the cache needs from the API server: a consistent list, then a watch from it.

Contract (implemented in ``kube/`` by ``ResourceListWatch``; tests use a scripted fake):

  * ``resource`` names the resource for metrics and logs (``"pods"``,
    ``"innodbclusters.mysql.oracle-free.dev"``).
  * ``list()`` returns every object of the resource (in the source's scope: one
    namespace or all, maybe label-filtered) as of one consistent resourceVersion,
    read with resourceVersion ``""`` (most recent, served from etcd), plus that
    resourceVersion.
  * ``watch(rv, timeout_seconds=..., allow_bookmarks=...)`` returns an async iterator of
    every change after ``rv``, in the order the server committed them. It ends normally
    when the server's ``timeoutSeconds`` expires. It raises
    :class:`~innodb_operator.kube.errors.Gone` when ``rv`` is too old (410) and another
    :class:`~innodb_operator.kube.errors.KubeError` for other failures. It may instead
    yield a raw ``{"type": "ERROR", "object": <Status>}`` event; the consumer treats a
    Status ``code`` of 410 as ``Gone`` and anything else as an error.
  * Objects are plain JSON dicts as the server sent them; the consumer may keep them and
    the source must not modify them afterwards.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Protocol, TypedDict


class ObjectList(TypedDict):
    items: list[dict[str, Any]]
    resource_version: str


class WatchEvent(TypedDict):
    type: str  # "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR"
    object: dict[str, Any]


class ListWatch(Protocol):
    @property
    def resource(self) -> str:
        """For metrics and logs, e.g. ``"pods"`` or ``"innodbclusters.mysql.oracle-free.dev"``."""
        ...

    async def list(self) -> ObjectList:
        """A consistent list (resourceVersion ``""``, i.e. the most recent)."""
        ...

    def watch(
        self, resource_version: str, *, timeout_seconds: int, allow_bookmarks: bool
    ) -> AsyncIterator[WatchEvent]:
        """Events after ``resource_version``; ends when the server's timeout expires.

        Raises ``Gone`` for 410 and other ``KubeError`` subclasses for failures; may
        also yield a raw ``ERROR`` event carrying a Status dict with ``code``.
        """
        ...
