"""Informers over the Kubernetes API: list/watch into an indexed, read-only, in-memory cache.

Modules (each states its own contract in its docstring):

  * :mod:`.source`: the ``ListWatch`` protocol the cache consumes (implemented in ``kube/``).
  * :mod:`.store`: the indexed ``Store`` of deep-frozen objects, keys and index functions.
  * :mod:`.lister`: the read-only ``Lister`` controllers read through.
  * :mod:`.reflector`: the list-then-watch loop that keeps a store current.
  * :mod:`.informer`: ``Informer``: store + reflector + event handlers + resync.

This package imports only the stdlib, ``innodb_operator.kube.errors``,
``innodb_operator.clock`` and ``innodb_operator.observability``.
"""

from innodb_operator.cache.informer import DEFAULT_INDEXERS, EventHandler, Informer
from innodb_operator.cache.lister import Lister, matches_labels
from innodb_operator.cache.reflector import (
    Backoff,
    Reflector,
    Transform,
    error_from_status,
    strip_managed_fields,
)
from innodb_operator.cache.source import ListWatch, ObjectList, WatchEvent
from innodb_operator.cache.store import (
    NAMESPACE_INDEX,
    OWNER_UID_INDEX,
    Change,
    FrozenDict,
    FrozenList,
    IndexFunc,
    Store,
    by_label,
    by_namespace,
    by_owner_uid,
    freeze,
    key_of,
    label_index_name,
    make_key,
    resource_version_of,
    thaw,
)

__all__ = [
    "DEFAULT_INDEXERS",
    "NAMESPACE_INDEX",
    "OWNER_UID_INDEX",
    "Backoff",
    "Change",
    "EventHandler",
    "FrozenDict",
    "FrozenList",
    "IndexFunc",
    "Informer",
    "ListWatch",
    "Lister",
    "ObjectList",
    "Reflector",
    "Store",
    "Transform",
    "WatchEvent",
    "by_label",
    "by_namespace",
    "by_owner_uid",
    "error_from_status",
    "freeze",
    "key_of",
    "label_index_name",
    "make_key",
    "matches_labels",
    "resource_version_of",
    "strip_managed_fields",
    "thaw",
]
