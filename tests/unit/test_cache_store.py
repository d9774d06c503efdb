"""Store, indices, freezing and the lister (no event loop needed)."""

from __future__ import annotations

import copy
import json
import pickle
from collections.abc import Callable

import pytest
from scripted_watch import obj

from innodb_operator.cache import (
    NAMESPACE_INDEX,
    OWNER_UID_INDEX,
    FrozenDict,
    FrozenList,
    Lister,
    Store,
    by_label,
    by_namespace,
    by_owner_uid,
    freeze,
    key_of,
    label_index_name,
    make_key,
    thaw,
)

INSTANCE = "app.kubernetes.io/instance"
INSTANCE_INDEX = label_index_name(INSTANCE)


def indexed_store() -> Store:
    return Store({OWNER_UID_INDEX: by_owner_uid, INSTANCE_INDEX: by_label(INSTANCE)})


def names(objects: list[FrozenDict]) -> list[str]:
    return [o["metadata"]["name"] for o in objects]


def test_key_of_namespaced_and_cluster_scoped() -> None:
    assert key_of(obj("a", "1", namespace="ns1")) == "ns1/a"
    assert key_of(obj("node-1", "1", namespace=None)) == "node-1"
    assert make_key("ns1", "a") == "ns1/a"
    assert make_key(None, "node-1") == make_key("", "node-1") == "node-1"
    with pytest.raises(ValueError):
        key_of({"metadata": {"namespace": "ns1"}})


def test_builtin_index_functions() -> None:
    o = obj("a", "1", labels={INSTANCE: "c1"}, owners=["u1", "u2"])
    assert by_namespace(o) == ["ns1"]
    assert by_namespace(obj("n", "1", namespace=None)) == []
    assert by_owner_uid(o) == ["u1", "u2"]
    assert by_owner_uid(obj("b", "1")) == []
    assert by_label(INSTANCE)(o) == ["c1"]
    assert by_label(INSTANCE)(obj("b", "1")) == []


def test_store_add_get_list_keys_delete() -> None:
    store = Store()
    assert store.add(obj("a", "1")) is None
    assert store.add(obj("b", "1", namespace=None)) is None
    previous = store.update(obj("a", "2"))
    assert previous is not None and previous["metadata"]["resourceVersion"] == "1"
    assert store.keys() == ["ns1/a", "b"]
    got = store.get("ns1/a")
    assert got is not None and got["metadata"]["resourceVersion"] == "2"
    assert len(store.list()) == 2
    removed = store.delete("ns1/a")
    assert removed is not None and removed["metadata"]["resourceVersion"] == "2"
    assert store.delete(obj("a", "2")) is None
    assert store.delete(obj("b", "9", namespace=None)) is not None
    assert store.keys() == [] and len(store) == 0


def test_indices_follow_add_update_delete() -> None:
    store = indexed_store()
    store.add(obj("a", "1", namespace="ns1", labels={INSTANCE: "c1"}, owners=["u1"]))
    store.add(obj("b", "1", namespace="ns1", labels={INSTANCE: "c2"}, owners=["u1", "u2"]))
    store.add(obj("c", "1", namespace="ns2", labels={INSTANCE: "c1"}))

    assert names(store.by_index(NAMESPACE_INDEX, "ns1")) == ["a", "b"]
    assert names(store.by_index(NAMESPACE_INDEX, "ns2")) == ["c"]
    assert names(store.by_index(OWNER_UID_INDEX, "u1")) == ["a", "b"]
    assert names(store.by_index(OWNER_UID_INDEX, "u2")) == ["b"]
    assert names(store.by_index(INSTANCE_INDEX, "c1")) == ["a", "c"]
    assert names(store.by_index(INSTANCE_INDEX, "c2")) == ["b"]

    # Update: b loses owner u1 and moves to cluster c1; a loses its label.
    store.update(obj("b", "2", namespace="ns1", labels={INSTANCE: "c1"}, owners=["u2"]))
    store.update(obj("a", "2", namespace="ns1", owners=["u1"]))
    assert names(store.by_index(OWNER_UID_INDEX, "u1")) == ["a"]
    assert names(store.by_index(OWNER_UID_INDEX, "u2")) == ["b"]
    assert names(store.by_index(INSTANCE_INDEX, "c1")) == ["b", "c"]
    assert store.by_index(INSTANCE_INDEX, "c2") == []
    assert store.index_values(INSTANCE_INDEX) == ["c1"]
    # The returned objects are the updated versions.
    assert [o["metadata"]["resourceVersion"] for o in store.by_index(INSTANCE_INDEX, "c1")] == ["2", "1"]

    # Delete: gone from every index, and empty values disappear.
    store.delete("ns1/b")
    assert store.by_index(OWNER_UID_INDEX, "u2") == []
    assert names(store.by_index(INSTANCE_INDEX, "c1")) == ["c"]
    assert names(store.by_index(NAMESPACE_INDEX, "ns1")) == ["a"]
    assert store.index_values(OWNER_UID_INDEX) == ["u1"]
    store.delete("ns2/c")
    assert store.index_values(NAMESPACE_INDEX) == ["ns1"]
    assert store.index_values(INSTANCE_INDEX) == []

    with pytest.raises(KeyError):
        store.by_index("no-such-index", "x")


def test_add_indexer_indexes_existing_objects() -> None:
    store = Store()
    store.add(obj("a", "1", labels={"tier": "db"}))
    store.add_indexer("tier", by_label("tier"))
    assert names(store.by_index("tier", "db")) == ["a"]
    store.update(obj("a", "2", labels={"tier": "web"}))
    assert store.by_index("tier", "db") == []
    assert names(store.by_index("tier", "web")) == ["a"]
    with pytest.raises(ValueError):
        store.add_indexer("tier", by_label("tier"))


def test_replace_reports_adds_changed_updates_and_one_delete_per_vanished_key() -> None:
    store = indexed_store()
    store.replace([obj("keep", "1"), obj("change", "1", owners=["u1"]), obj("gone", "1", owners=["u1"])])
    seen = []
    changes = store.replace(
        [obj("keep", "1"), obj("change", "2", owners=["u2"]), obj("new", "5")],
        on_change=lambda c: seen.append((c.type, c.key, len(store))),
    )
    assert [(c.type, c.key) for c in changes] == [
        ("MODIFIED", "ns1/change"), ("ADDED", "ns1/new"), ("DELETED", "ns1/gone"),
    ]
    # on_change sees the store as of each change, applied one by one.
    assert seen == [("MODIFIED", "ns1/change", 3), ("ADDED", "ns1/new", 4), ("DELETED", "ns1/gone", 3)]
    modified, _, deleted = changes
    assert modified.old is not None and modified.old["metadata"]["resourceVersion"] == "1"
    assert modified.object["metadata"]["resourceVersion"] == "2"
    assert deleted.object["metadata"]["name"] == "gone"
    assert sorted(store.keys()) == ["ns1/change", "ns1/keep", "ns1/new"]
    assert store.by_index(OWNER_UID_INDEX, "u1") == []
    assert names(store.by_index(OWNER_UID_INDEX, "u2")) == ["change"]
    assert store.replace([]) and store.keys() == []


def test_stored_objects_are_deep_frozen_and_do_not_alias_the_input() -> None:
    raw = obj("a", "1", labels={"x": "1"}, owners=["u1"])
    store = Store()
    store.add(raw)
    raw["metadata"]["labels"]["x"] = "changed-after-add"
    cached = store.get("ns1/a")
    assert cached is not None
    assert cached["metadata"]["labels"]["x"] == "1"
    assert isinstance(cached, dict) and isinstance(cached, FrozenDict)
    refs = cached["metadata"]["ownerReferences"]
    assert isinstance(refs, list) and isinstance(refs, FrozenList)
    mutations: list[Callable[[], object]] = [
        lambda: cached.__setitem__("spec", {}),
        lambda: cached["metadata"].__delitem__("labels"),
        lambda: cached["metadata"]["labels"].update(y="2"),
        lambda: cached["metadata"].setdefault("annotations", {}),
        lambda: cached.pop("spec"),
        cached.clear,
        lambda: refs.append({}),
        lambda: refs[0].__setitem__("uid", "u9"),
        refs.sort,
        lambda: refs.__setitem__(0, {}),
    ]
    for mutate in mutations:
        with pytest.raises(TypeError, match="read-only"):
            mutate()
    with pytest.raises(TypeError):
        cached["metadata"]["labels"] |= {"y": "2"}
    assert cached == obj("a", "1", labels={"x": "1"}, owners=["u1"])


def test_frozen_objects_serialize_and_copy_to_plain_mutable_values() -> None:
    frozen = freeze(obj("a", "1", labels={"x": "1"}, owners=["u1"]))
    assert json.loads(json.dumps(frozen)) == frozen
    for mutable in (thaw(frozen), copy.deepcopy(frozen)):
        assert type(mutable) is dict and type(mutable["metadata"]["ownerReferences"]) is list
        mutable["metadata"]["labels"]["x"] = "2"
        mutable["metadata"]["ownerReferences"].append({"uid": "u2"})
        assert frozen["metadata"]["labels"]["x"] == "1"
    shallow = copy.copy(frozen)
    assert type(shallow) is dict
    shallow["spec"] = {"replicas": 3}
    assert frozen["spec"] == {}
    assert pickle.loads(pickle.dumps(frozen)) == frozen
    assert freeze(frozen) is frozen


def test_lister_get_list_selector_and_index() -> None:
    store = indexed_store()
    for o in (
        obj("a", "1", namespace="ns1", labels={INSTANCE: "c1", "role": "primary"}, owners=["u1"]),
        obj("b", "1", namespace="ns1", labels={INSTANCE: "c1", "role": "secondary"}),
        obj("c", "1", namespace="ns2", labels={INSTANCE: "c2"}),
        obj("node", "1", namespace=None),
    ):
        store.add(o)
    lister = Lister(store)
    got = lister.get("ns1", "a")
    assert got is not None and got["metadata"]["name"] == "a"
    assert lister.get("ns2", "a") is None
    assert lister.get(None, "node") is not None
    assert lister.get_by_key("ns2/c") is not None
    assert names(lister.list()) == ["node", "a", "b", "c"]  # by key: "node" < "ns1/a"
    assert names(lister.list(namespace="ns1")) == ["a", "b"]
    assert names(lister.list(label_selector={INSTANCE: "c1"})) == ["a", "b"]
    assert names(lister.list(namespace="ns1", label_selector={INSTANCE: "c1", "role": "primary"})) == ["a"]
    assert lister.list(namespace="ns3") == []
    assert names(lister.by_index(OWNER_UID_INDEX, "u1")) == ["a"]
    assert names(lister.by_index(INSTANCE_INDEX, "c2")) == ["c"]
    assert len(lister) == 4
    assert not hasattr(lister, "add") and not hasattr(lister, "delete") and not hasattr(lister, "replace")


def test_lister_returns_objects_that_cannot_be_mutated() -> None:
    store = Store()
    store.add(obj("a", "1", labels={"x": "1"}))
    lister = Lister(store)
    for got in (lister.get("ns1", "a"), lister.list()[0], lister.by_index(NAMESPACE_INDEX, "ns1")[0]):
        assert got is not None
        with pytest.raises(TypeError):
            got["metadata"]["labels"]["x"] = "2"
        with pytest.raises(TypeError):
            got["status"] = {}
    again = lister.get("ns1", "a")
    assert again is not None and again["metadata"]["labels"] == {"x": "1"} and "status" not in again
    # Callers that need to edit take a mutable copy.
    editable = thaw(again)
    editable["metadata"]["labels"]["x"] = "2"
    assert lister.list()[0]["metadata"]["labels"]["x"] == "1"
