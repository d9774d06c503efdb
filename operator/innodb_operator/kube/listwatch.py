"""List and watch one resource type, in the shape the cache's reflector consumes.

:class:`ResourceListWatch` satisfies ``innodb_operator.cache.source.ListWatch``
structurally (the cache sits above this layer and imports nothing from here but
errors): ``list()`` returns a consistent snapshot and its resourceVersion, ``watch()``
streams events from a resourceVersion until the server's timeout and raises
:class:`~innodb_operator.kube.errors.Gone` on 410.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, TypedDict, cast

from innodb_operator.kube.client import KubeClient
from innodb_operator.kube.resources import ResourceType


class ObjectList(TypedDict):
    items: list[dict[str, Any]]
    resource_version: str


class WatchEvent(TypedDict):
    type: str
    object: dict[str, Any]


class ResourceListWatch:
    """List/watch of ``rt`` in one namespace (or all, with ``namespace=None``)."""

    def __init__(
        self, client: KubeClient, rt: ResourceType, namespace: str | None = None,
        *, label_selector: str | None = None,
    ) -> None:
        self._client = client
        self._rt = rt
        self._namespace = namespace
        self._label_selector = label_selector

    @property
    def resource(self) -> str:
        return self._rt.name

    async def list(self) -> ObjectList:
        items, resource_version = await self._client.list(
            self._rt, self._namespace, label_selector=self._label_selector
        )
        # A list response's items carry no kind/apiVersion; restore them so cached
        # objects look the same whether they came from a list or a watch.
        for item in items:
            item.setdefault("kind", self._rt.kind)
            item.setdefault("apiVersion", self._rt.api_version)
        return {"items": items, "resource_version": resource_version}

    async def watch(
        self, resource_version: str, *, timeout_seconds: int, allow_bookmarks: bool
    ) -> AsyncIterator[WatchEvent]:
        async for event in self._client.watch(
            self._rt, self._namespace, resource_version=resource_version,
            timeout_seconds=timeout_seconds, allow_bookmarks=allow_bookmarks,
            label_selector=self._label_selector,
        ):
            yield cast(WatchEvent, event)
