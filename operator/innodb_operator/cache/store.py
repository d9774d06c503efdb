"""An indexed, in-memory store of read-only Kubernetes objects (client-go's ``Indexer``).

Contract:
  * Keys: ``"namespace/name"`` for namespaced objects, ``"name"`` for cluster-scoped
    ones (:func:`key_of`). One object per key; ``add`` and ``update`` are both upserts.
  * Immutability: every object is deep-frozen on the way in (:func:`freeze`): mappings
    become :class:`FrozenDict` and lists :class:`FrozenList`, subclasses of ``dict`` and
    ``list`` that raise ``TypeError`` on any mutation. They still are ``dict``/``list``
    for ``isinstance``, ``json.dumps``, ``==`` and reading, so they can be handed to any
    code that only reads. :func:`thaw` (or ``copy.deepcopy``) returns a plain, mutable
    deep copy for callers that want to edit and send an object. Freezing costs one copy
    per stored version; reading costs nothing, and the same object is returned to every
    reader.
  * Indices: named index functions map an object to zero or more string values;
    :meth:`Store.by_index` returns the objects currently indexed under a value. Indices
    are updated in the same step as the object itself, so they are always exact: after
    an update the object is found only under its new values, after a delete nowhere.
    The ``namespace`` index (:func:`by_namespace`) is always present; :func:`by_owner_uid`
    and :func:`by_label` are the other built-ins.
  * :meth:`Store.replace` swaps in a full list and reports the difference as
    :class:`Change` records: ``ADDED`` for new keys, ``MODIFIED`` for keys whose
    resourceVersion changed (an unchanged resourceVersion keeps the stored object and
    reports nothing), and exactly one ``DELETED``, carrying the last known object, for
    each key that is not in the new list.
  * Single event loop, no locks: all methods are synchronous and must be called from
    one thread; every method leaves the store consistent before it returns.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal, NoReturn

NAMESPACE_INDEX = "namespace"
OWNER_UID_INDEX = "owner_uid"

ChangeType = Literal["ADDED", "MODIFIED", "DELETED"]
IndexFunc = Callable[[Mapping[str, Any]], Iterable[str]]

_READ_ONLY = "cached objects are read-only; use thaw(obj) or copy.deepcopy(obj) for a mutable copy"


# --- read-only JSON values -----------------------------------------------------------


class FrozenDict(dict[str, Any]):
    """A ``dict`` that refuses mutation; values are frozen too (see :func:`freeze`)."""

    __slots__ = ()

    def _read_only(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError(_READ_ONLY)

    __setitem__ = _read_only
    __delitem__ = _read_only
    __ior__ = _read_only
    clear = _read_only
    pop = _read_only
    popitem = _read_only
    setdefault = _read_only
    update = _read_only

    def __copy__(self) -> dict[str, Any]:
        return dict(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> dict[str, Any]:
        thawed: dict[str, Any] = thaw(self)
        return thawed

    def __reduce__(self) -> tuple[Any, ...]:
        return (FrozenDict, (dict(self),))


class FrozenList(list[Any]):
    """A ``list`` that refuses mutation; items are frozen too (see :func:`freeze`)."""

    __slots__ = ()

    def _read_only(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError(_READ_ONLY)

    __setitem__ = _read_only
    __delitem__ = _read_only
    __iadd__ = _read_only
    __imul__ = _read_only
    append = _read_only
    extend = _read_only
    insert = _read_only
    pop = _read_only
    remove = _read_only
    clear = _read_only
    sort = _read_only
    reverse = _read_only

    def __copy__(self) -> list[Any]:
        return list(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> list[Any]:
        thawed: list[Any] = thaw(self)
        return thawed

    def __reduce__(self) -> tuple[Any, ...]:
        return (FrozenList, (list(self),))


def freeze(value: Any) -> Any:
    """A deep, read-only copy of a JSON value (already frozen values are returned as is)."""
    if isinstance(value, FrozenDict | FrozenList):
        return value
    if isinstance(value, Mapping):
        return FrozenDict({key: freeze(item) for key, item in value.items()})
    if isinstance(value, list | tuple):
        return FrozenList(freeze(item) for item in value)
    return value


def freeze_object(obj: Mapping[str, Any]) -> FrozenDict:
    """:func:`freeze` for a whole object (always a mapping)."""
    frozen = freeze(obj)
    assert isinstance(frozen, FrozenDict)
    return frozen


def thaw(value: Any) -> Any:
    """A plain, mutable deep copy of a (possibly frozen) JSON value."""
    if isinstance(value, Mapping):
        return {key: thaw(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [thaw(item) for item in value]
    return value


# --- keys and index functions --------------------------------------------------------


def _metadata(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    metadata = obj.get("metadata")
    return metadata if isinstance(metadata, Mapping) else {}


def key_of(obj: Mapping[str, Any]) -> str:
    """``"namespace/name"``, or ``"name"`` for a cluster-scoped object."""
    metadata = _metadata(obj)
    name = metadata.get("name")
    if not name:
        raise ValueError("object has no metadata.name")
    namespace = metadata.get("namespace")
    return f"{namespace}/{name}" if namespace else str(name)


def make_key(namespace: str | None, name: str) -> str:
    """The store key for ``namespace``/``name`` (``namespace`` empty or None: cluster-scoped)."""
    return f"{namespace}/{name}" if namespace else name


def resource_version_of(obj: Mapping[str, Any]) -> str:
    return str(_metadata(obj).get("resourceVersion") or "")


def by_namespace(obj: Mapping[str, Any]) -> list[str]:
    """Index function: the object's namespace (none for cluster-scoped objects)."""
    namespace = _metadata(obj).get("namespace")
    return [str(namespace)] if namespace else []


def by_owner_uid(obj: Mapping[str, Any]) -> list[str]:
    """Index function: the uid of every owner reference (controller or not)."""
    refs = _metadata(obj).get("ownerReferences") or []
    return [str(ref["uid"]) for ref in refs if isinstance(ref, Mapping) and ref.get("uid")]


def by_label(label_key: str) -> IndexFunc:
    """Index function factory: the value of label ``label_key``, if the object has it."""

    def index(obj: Mapping[str, Any]) -> list[str]:
        labels = _metadata(obj).get("labels") or {}
        value = labels.get(label_key) if isinstance(labels, Mapping) else None
        return [] if value is None else [str(value)]

    index.__name__ = f"by_label({label_key!r})"
    return index


def label_index_name(label_key: str) -> str:
    """Conventional index name for :func:`by_label`: ``"label:<key>"``."""
    return f"label:{label_key}"


# --- the store -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Change:
    """One applied change: ``object`` is the new object (for ``DELETED`` the final or
    last known state); ``old`` is the replaced object for ``MODIFIED``, else None."""

    type: ChangeType
    key: str
    object: FrozenDict
    old: FrozenDict | None = None


def same_version(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """True when ``new`` is the same version of the object as ``old``."""
    old_rv, new_rv = resource_version_of(old), resource_version_of(new)
    if old_rv or new_rv:
        return old_rv == new_rv
    return old == new


class Store:
    """Objects by key, plus named indices. See the module docstring for the contract."""

    def __init__(
        self,
        indexers: Mapping[str, IndexFunc] | None = None,
        *,
        key_func: Callable[[Mapping[str, Any]], str] = key_of,
    ) -> None:
        self._key_func = key_func
        self._items: dict[str, FrozenDict] = {}
        self._indexers: dict[str, IndexFunc] = {NAMESPACE_INDEX: by_namespace, **(indexers or {})}
        # index name -> value -> keys
        self._indices: dict[str, dict[str, set[str]]] = {name: {} for name in self._indexers}
        # key -> index name -> values the key is indexed under (to unindex exactly)
        self._indexed: dict[str, dict[str, tuple[str, ...]]] = {}

    # --- reads

    def get(self, key: str) -> FrozenDict | None:
        return self._items.get(key)

    def list(self) -> builtins.list[FrozenDict]:
        return list(self._items.values())

    def keys(self) -> builtins.list[str]:
        return list(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._items))

    def index_names(self) -> builtins.list[str]:
        return list(self._indexers)

    def index_keys(self, index_name: str, value: str) -> builtins.list[str]:
        """Keys indexed under ``value`` in ``index_name``, sorted. KeyError: no such index."""
        return sorted(self._indices[index_name].get(value, ()))

    def index_values(self, index_name: str) -> builtins.list[str]:
        """Every value that currently has at least one object in ``index_name``, sorted."""
        return sorted(self._indices[index_name])

    def by_index(self, index_name: str, value: str) -> builtins.list[FrozenDict]:
        """Objects indexed under ``value`` in ``index_name``, by key. KeyError: no such index."""
        return [self._items[key] for key in self.index_keys(index_name, value)]

    def key_of(self, obj: Mapping[str, Any]) -> str:
        return self._key_func(obj)

    # --- writes

    def add_indexer(self, name: str, index_func: IndexFunc) -> None:
        """Add an index and build it over the objects already stored."""
        if name in self._indexers:
            raise ValueError(f"index {name!r} already exists")
        self._indexers[name] = index_func
        self._indices[name] = {}
        for key, obj in self._items.items():
            values = self._index_values(index_func, obj)
            self._indexed[key][name] = values
            for value in values:
                self._indices[name].setdefault(value, set()).add(key)

    def add(self, obj: Mapping[str, Any]) -> FrozenDict | None:
        """Insert or replace; returns the previous object under the key, if any."""
        frozen = freeze_object(obj)
        key = self._key_func(frozen)
        old = self._items.get(key)
        self._put(key, frozen)
        return old

    update = add

    def delete(self, obj_or_key: Mapping[str, Any] | str) -> FrozenDict | None:
        """Remove by object or key; returns the removed object (None if absent)."""
        key = obj_or_key if isinstance(obj_or_key, str) else self._key_func(obj_or_key)
        return self._remove(key)

    def replace(
        self,
        objects: Iterable[Mapping[str, Any]],
        *,
        on_change: Callable[[Change], None] | None = None,
    ) -> builtins.list[Change]:
        """Make the store hold exactly ``objects`` and return what changed.

        Changes are applied one by one, in list order, then deletions in store order;
        ``on_change`` (if given) is called after each one is applied, so it sees the
        store exactly as of that change.
        """
        changes: builtins.list[Change] = []

        def record(change: Change) -> None:
            changes.append(change)
            if on_change is not None:
                on_change(change)

        seen: set[str] = set()
        for obj in objects:
            frozen = freeze_object(obj)
            key = self._key_func(frozen)
            seen.add(key)
            old = self._items.get(key)
            if old is None:
                self._put(key, frozen)
                record(Change("ADDED", key, frozen))
            elif not same_version(old, frozen):
                self._put(key, frozen)
                record(Change("MODIFIED", key, frozen, old))
        for key in [key for key in self._items if key not in seen]:
            old = self._remove(key)
            assert old is not None
            record(Change("DELETED", key, old))
        return changes

    # --- internals

    @staticmethod
    def _index_values(index_func: IndexFunc, obj: FrozenDict) -> tuple[str, ...]:
        return tuple(dict.fromkeys(index_func(obj)))

    def _put(self, key: str, obj: FrozenDict) -> None:
        old_values = self._indexed.get(key, {})
        new_values = {name: self._index_values(fn, obj) for name, fn in self._indexers.items()}
        for name, values in new_values.items():
            previous = old_values.get(name, ())
            if previous == values:
                continue
            index = self._indices[name]
            for value in previous:
                self._unindex(index, value, key)
            for value in values:
                index.setdefault(value, set()).add(key)
        self._indexed[key] = new_values
        self._items[key] = obj

    def _remove(self, key: str) -> FrozenDict | None:
        old = self._items.pop(key, None)
        if old is None:
            return None
        for name, values in self._indexed.pop(key, {}).items():
            index = self._indices[name]
            for value in values:
                self._unindex(index, value, key)
        return old

    @staticmethod
    def _unindex(index: dict[str, set[str]], value: str, key: str) -> None:
        keys = index.get(value)
        if keys is not None:
            keys.discard(key)
            if not keys:
                del index[value]
