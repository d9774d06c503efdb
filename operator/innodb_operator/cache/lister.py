"""Read-only views over a :class:`~innodb_operator.cache.store.Store` (client-go's listers).

Contract:
  * A :class:`Lister` only reads; it has no way to change the store. What it returns is
    the cached object itself, deep-frozen (``FrozenDict``): any attempt to mutate it
    raises ``TypeError``. Use :func:`~innodb_operator.cache.store.thaw` (or
    ``copy.deepcopy``) for a mutable copy before editing.
  * Reads are served from memory and never block; they reflect every event the informer
    has applied so far (the cache is eventually consistent with the API server, never
    ahead of it). A missing object returns ``None``, not an error.
  * ``list`` filters by namespace through the namespace index and by equality-based
    label selector (``matchLabels`` semantics: every given label must match); results
    are sorted by key so callers get a stable order.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from typing import Any

from innodb_operator.cache.store import NAMESPACE_INDEX, FrozenDict, Store, make_key


def matches_labels(obj: Mapping[str, Any], selector: Mapping[str, str] | None) -> bool:
    """True when every ``key: value`` of ``selector`` is a label of ``obj`` (empty: all)."""
    if not selector:
        return True
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return all(labels.get(key) == value for key, value in selector.items())


class Lister:
    """Read-only access to one informer's cache."""

    __slots__ = ("_store",)

    def __init__(self, store: Store) -> None:
        self._store = store

    def get(self, namespace: str | None, name: str) -> FrozenDict | None:
        """The cached object, or None. ``namespace`` None or ``""``: cluster-scoped."""
        return self._store.get(make_key(namespace, name))

    def get_by_key(self, key: str) -> FrozenDict | None:
        """The cached object under a store key (``"namespace/name"`` or ``"name"``)."""
        return self._store.get(key)

    def list(
        self, namespace: str | None = None, label_selector: Mapping[str, str] | None = None
    ) -> builtins.list[FrozenDict]:
        """Cached objects, optionally in one namespace and matching ``label_selector``."""
        if namespace:
            objects = self._store.by_index(NAMESPACE_INDEX, namespace)
        else:
            store = self._store
            objects = [obj for obj in map(store.get, sorted(store.keys())) if obj is not None]
        return [obj for obj in objects if matches_labels(obj, label_selector)]

    def by_index(self, index_name: str, value: str) -> builtins.list[FrozenDict]:
        """Objects indexed under ``value`` in ``index_name`` (KeyError: unknown index)."""
        return self._store.by_index(index_name, value)

    def keys(self) -> builtins.list[str]:
        return self._store.keys()

    def __len__(self) -> int:
        return len(self._store)
