"""Merge a user's ``podSpec`` fragment into the pod spec the operator builds.

Contract (pure; neither input is modified, the result shares no mutable state with them):
  * Top-level keys of the user's fragment replace ours, except ``containers``,
    ``initContainers`` and ``volumes``, which merge by ``name``: an entry with a new name is
    appended (in the user's order, after ours); a volume with one of our names replaces ours
    whole (a volume source is a one-of); a container with one of our names is merged field by
    field with :func:`merge_container`.
  * In a merged container, dict fields (``resources``, ``securityContext``, ...) merge
    recursively with the user's values winning; ``env`` and ``ports`` merge by ``name`` and
    ``volumeMounts`` by ``mountPath`` (user entries replace ours with the same key, new ones
    are appended); ``envFrom`` is appended; any other field is replaced by the user's value.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .meta import Obj

_BY_NAME_LISTS = ("containers", "initContainers", "volumes")
ItemMerge = Callable[[Mapping[str, Any], Mapping[str, Any]], Obj]
_CONTAINER_LIST_KEYS = {"env": "name", "ports": "name", "volumeMounts": "mountPath"}


def merge_dicts(base: Mapping[str, Any], override: Mapping[str, Any]) -> Obj:
    """Recursive merge of two JSON-like dicts; ``override`` wins, lists are replaced."""
    merged: Obj = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge_dicts(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def merge_by_key(base: Sequence[Any], override: Sequence[Any], key: str,
                 merge_item: ItemMerge | None = None) -> list[Any]:
    """Merge two lists of dicts keyed by ``key``: ours keep their order, new entries append.

    Entries in ``override`` with a key already in ``base`` replace it, or are combined with
    ``merge_item(ours, theirs)`` when given. Entries without the key are appended.
    """
    result = [copy.deepcopy(item) for item in base]
    index = {item.get(key): i for i, item in enumerate(result) if isinstance(item, Mapping) and key in item}
    for item in override:
        position = index.get(item.get(key)) if isinstance(item, Mapping) and key in item else None
        if position is None:
            result.append(copy.deepcopy(item))
        elif merge_item is not None:
            result[position] = merge_item(result[position], item)
        else:
            result[position] = copy.deepcopy(item)
    return result


def merge_container(base: Mapping[str, Any], override: Mapping[str, Any]) -> Obj:
    merged: Obj = copy.deepcopy(dict(base))
    for field, value in override.items():
        ours = merged.get(field)
        if field in _CONTAINER_LIST_KEYS and isinstance(ours, list) and isinstance(value, list):
            merged[field] = merge_by_key(ours, value, _CONTAINER_LIST_KEYS[field])
        elif field == "envFrom" and isinstance(ours, list) and isinstance(value, list):
            merged[field] = ours + [copy.deepcopy(v) for v in value if v not in ours]
        elif isinstance(value, Mapping) and isinstance(ours, Mapping):
            merged[field] = merge_dicts(ours, value)
        else:
            merged[field] = copy.deepcopy(value)
    return merged


def merge_pod_spec(base: Mapping[str, Any], override: Mapping[str, Any]) -> Obj:
    merged: Obj = copy.deepcopy(dict(base))
    for field, value in override.items():
        ours = merged.get(field)
        if field in _BY_NAME_LISTS and isinstance(ours, list) and isinstance(value, list):
            merged[field] = merge_by_key(ours, value, "name", None if field == "volumes" else merge_container)
        else:
            merged[field] = copy.deepcopy(value)
    return merged
