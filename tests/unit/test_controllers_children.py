"""covers() and ChildApplier: write a child only when the live object does not hold it yet."""

from __future__ import annotations

import base64
import copy
from typing import Any

import pytest

from innodb_operator.controllers.children import ChildApplier, Rejected, covers
from innodb_operator.kube import errors, resources
from innodb_operator.kube.resources import ResourceType

# --- covers ---------------------------------------------------------------------------


@pytest.mark.parametrize(("live", "desired", "expected"), [
    # quantities compare by value
    ("500m", "0.5", True),
    ("0.5", "500m", True),
    ("1Gi", "1024Mi", True),
    ("1G", "1Gi", False),
    ("1", "1000m", True),
    ("2", "1", False),
    ("1e3", "1k", True),
    ("abc", "abd", False),
    ({"cpu": "500m", "memory": "1Gi"}, {"cpu": "0.5"}, True),
    # empty values match missing ones, in both directions
    ({}, {"annotations": {}}, True),
    ({}, {"args": []}, True),
    ({}, {"name": ""}, True),
    ({"labels": None}, {"labels": {}}, True),
    ({"a": {}}, {"a": None}, True),
    ({}, {"a": "x"}, False),
    # extra live fields (server defaults, other managers) are ignored
    ({"a": 1, "b": 2, "defaulted": {"x": 1}}, {"a": 1}, True),
    ({"a": 1}, {"a": 1, "b": 2}, False),
    # lists: same length, element-wise, in order
    ([{"name": "a", "x": 1}, {"name": "b"}], [{"name": "a"}, {"name": "b"}], True),
    ([{"name": "a"}], [{"name": "a"}, {"name": "b"}], False),
    ([{"name": "a"}, {"name": "b"}], [{"name": "a"}], False),
    ([{"name": "b"}, {"name": "a"}], [{"name": "a"}, {"name": "b"}], False),
    (None, [], True),
    (None, ["x"], False),
    # bools are not ints
    (True, True, True),
    (False, False, True),
    (1, True, False),
    (True, 1, False),
    (0, False, False),
    ({}, {"enabled": False}, False),
    # plain scalars
    (3, 3, True),
    (3, 4, False),
    ("3", 3, False),
])
def test_covers(live: Any, desired: Any, expected: bool) -> None:
    assert covers(live, desired) is expected


# --- ChildApplier -------------------------------------------------------------------------


class FakeApplyClient:
    """Stores applied objects by name, bumping resourceVersion on every real write."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, str]] = []  # ("apply" | "dry-run", name)
        self.invalid: dict[str, str] = {}  # name -> the API server's message
        self.version = 100

    async def apply(self, rt: ResourceType, body: dict[str, Any], namespace: str | None = None,
                    *, dry_run: bool = False) -> dict[str, Any]:
        name = body["metadata"]["name"]
        self.calls.append(("dry-run" if dry_run else "apply", name))
        if name in self.invalid:
            raise errors.Invalid(f"apply {rt.name}: {self.invalid[name]}", status=422,
                                 server_message=self.invalid[name])
        if dry_run:
            return copy.deepcopy(body)
        self.version += 1
        stored = copy.deepcopy(body)
        # The API server normalises and defaults what it stores.
        stored["metadata"]["resourceVersion"] = str(self.version)
        stored.setdefault("spec", {})["defaulted"] = True
        self.objects[name] = stored
        return copy.deepcopy(stored)

    def foreign_edit(self, name: str, **spec: Any) -> dict[str, Any]:
        self.version += 1
        self.objects[name]["spec"].update(spec)
        self.objects[name]["metadata"]["resourceVersion"] = str(self.version)
        return copy.deepcopy(self.objects[name])

    def applies(self) -> list[str]:
        return [name for verb, name in self.calls if verb == "apply"]


def config_map(name: str = "c-initconf", **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "ns"},
            "spec": {}, "data": data or {"a": "1"}}


def statefulset(replicas: int = 3, name: str = "c") -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": name, "namespace": "ns"},
            "spec": {"replicas": replicas}}


def applier() -> tuple[ChildApplier, FakeApplyClient]:
    client = FakeApplyClient()
    return ChildApplier(client), client  # type: ignore[arg-type]


async def test_a_missing_child_is_applied_and_a_covered_one_is_not() -> None:
    app, client = applier()
    assert await app.ensure(resources.CONFIGMAPS, config_map(), None) is True
    live = client.objects["c-initconf"]
    assert await app.ensure(resources.CONFIGMAPS, config_map(), live) is False
    # A live object with extra server-side fields still covers the desired one.
    assert live["spec"]["defaulted"] is True
    assert client.applies() == ["c-initconf"]


async def test_a_child_the_live_object_does_not_cover_is_applied() -> None:
    app, client = applier()
    await app.ensure(resources.CONFIGMAPS, config_map(a="1"), None)
    live = client.objects["c-initconf"]
    assert await app.ensure(resources.CONFIGMAPS, config_map(a="2"), live) is True
    assert client.objects["c-initconf"]["data"] == {"a": "2"}
    assert client.applies() == ["c-initconf", "c-initconf"]


async def test_the_same_desired_object_is_not_reapplied_to_the_live_version_its_apply_produced() -> None:
    app, client = applier()
    desired = statefulset()
    desired["spec"]["quirk"] = "normalised-away"  # the server drops it: covers() can never be True
    await app.ensure(resources.STATEFULSETS, desired, None)
    live = client.objects["c"]
    live["spec"].pop("quirk")
    assert not covers(live, desired)
    for _ in range(3):
        assert await app.ensure(resources.STATEFULSETS, desired, live) is False
    assert client.applies() == ["c"]


async def test_a_foreign_change_bumps_the_resource_version_and_is_repaired() -> None:
    app, client = applier()
    desired = statefulset(replicas=3)
    desired["spec"]["quirk"] = "normalised-away"
    await app.ensure(resources.STATEFULSETS, desired, None)
    client.objects["c"]["spec"].pop("quirk")
    live = client.foreign_edit("c", replicas=1)  # someone scales it by hand: a new resourceVersion
    assert await app.ensure(resources.STATEFULSETS, desired, live) is True
    assert client.objects["c"]["spec"]["replicas"] == 3
    assert client.applies() == ["c", "c"]


async def test_secrets_are_compared_through_data_not_string_data() -> None:
    app, client = applier()
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "ns"},
              "stringData": {"k": "v"}}
    await app.ensure(resources.SECRETS, secret, None)
    live = client.objects["s"]
    assert "stringData" not in live and live["data"] == {"k": base64.b64encode(b"v").decode()}
    assert await app.ensure(resources.SECRETS, secret, live) is False


async def test_ensure_all_writes_nothing_when_the_api_server_rejects_one_child() -> None:
    app, client = applier()
    await app.ensure_all([(resources.CONFIGMAPS, config_map(a="1"), None),
                          (resources.STATEFULSETS, statefulset(3), None)])
    cm, sts = client.objects["c-initconf"], client.objects["c"]
    client.calls.clear()
    client.invalid["c"] = 'StatefulSet.apps "c" is invalid: spec.template.spec.containers[1].name: Required value'
    children = [(resources.CONFIGMAPS, config_map(a="2"), cm), (resources.STATEFULSETS, statefulset(5), sts)]
    with pytest.raises(Rejected) as raised:
        await app.ensure_all(children)
    assert (raised.value.kind, raised.value.name) == ("StatefulSet", "c")
    assert raised.value.message.endswith("containers[1].name: Required value")
    assert client.applies() == [] and client.objects["c-initconf"]["data"] == {"a": "1"}
    # The same rejected objects against the same live versions are not sent again.
    client.calls.clear()
    with pytest.raises(Rejected):
        await app.ensure_all(children)
    assert client.calls == []
    # Fixed: both are written.
    del client.invalid["c"]
    written = await app.ensure_all([(resources.CONFIGMAPS, config_map(a="2"), cm),
                                    (resources.STATEFULSETS, statefulset(4), sts)])
    assert [child[1]["metadata"]["name"] for child in written] == ["c-initconf", "c"]
    assert client.objects["c"]["spec"]["replicas"] == 4 and client.objects["c-initconf"]["data"] == {"a": "2"}


async def test_ensure_all_sends_nothing_for_covered_children() -> None:
    app, client = applier()
    await app.ensure_all([(resources.CONFIGMAPS, config_map(), None)])
    client.calls.clear()
    assert await app.ensure_all([(resources.CONFIGMAPS, config_map(), client.objects["c-initconf"])]) == []
    assert client.calls == []


async def test_new_children_are_created_without_a_dry_run_and_a_rejected_one_is_not_resent() -> None:
    app, client = applier()
    client.invalid["c"] = 'StatefulSet.apps "c" is invalid: spec.template.spec.containers[1].name: Required value'
    children = [(resources.CONFIGMAPS, config_map(), None), (resources.STATEFULSETS, statefulset(), None)]
    with pytest.raises(Rejected):
        await app.ensure_all(children)
    # A creation may need an earlier child to exist (a RoleBinding's Role): no dry run, in order.
    assert client.calls == [("apply", "c-initconf"), ("apply", "c")]
    client.calls.clear()
    with pytest.raises(Rejected):
        await app.ensure_all([(resources.CONFIGMAPS, config_map(), client.objects["c-initconf"]),
                              (resources.STATEFULSETS, statefulset(), None)])
    assert client.calls == []
