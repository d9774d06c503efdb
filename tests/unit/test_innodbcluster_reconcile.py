"""The InnoDBCluster reconcile against a fake API: passwords are never replaced; API rejections become status."""

from __future__ import annotations

import base64
import copy
from collections.abc import Mapping
from typing import Any

from innodb_api import API_VERSION
from innodb_operator.builders import REQUIRED_PASSWORD_KEYS
from innodb_operator.builders.status import GroupStatus, MemberStatus
from innodb_operator.controllers.group import GroupDriver, Notice, Outcome
from innodb_operator.controllers.innodbcluster import CHILD_TYPES, InnoDBClusterReconciler
from innodb_operator.controllers.runner import Result
from innodb_operator.kube import errors
from innodb_operator.kube.events import EventRecorder
from innodb_operator.kube.resources import ResourceType

NS = "ns"
PRIV = "c-privsecrets"
REJECTION = 'StatefulSet.apps "c" is invalid: spec.template.spec.containers[1].name: Required value'


def b64(value: str) -> str:
    return base64.b64encode(value.encode()).decode()


def unb64(data: Mapping[str, str]) -> dict[str, str]:
    return {k: base64.b64decode(v).decode() for k, v in data.items()}


class FakeApi:
    """Objects by (kind, name) in one namespace; applies merge ``data`` like server-side apply does."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], dict[str, Any]] = {}
        self.writes: list[tuple[str, str, str]] = []  # (verb, kind, name), dry runs included
        self.version = 1
        self.cluster: dict[str, Any] = {
            "apiVersion": API_VERSION, "kind": "InnoDBCluster",
            "metadata": {"name": "c", "namespace": NS, "uid": "u-1", "generation": 1, "resourceVersion": "1"},
            "spec": {"secretName": "c-secret", "instances": 3, "router": {"instances": 1}},
        }
        self.put({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "c-secret", "namespace": NS},
                  "data": {"rootPassword": b64("sakila")}})

    def put(self, obj: dict[str, Any]) -> dict[str, Any]:
        self.version += 1
        stored = copy.deepcopy(obj)
        stored["metadata"]["resourceVersion"] = str(self.version)
        self.objects[(obj["kind"], obj["metadata"]["name"])] = stored
        return copy.deepcopy(stored)

    async def get(self, rt: ResourceType, name: str, namespace: str | None = None) -> dict[str, Any]:
        found = self.objects.get((rt.kind, name))
        if found is None:
            raise errors.NotFound(f"get {rt.name}: not found", status=404)
        return copy.deepcopy(found)

    async def apply(self, rt: ResourceType, body: dict[str, Any], namespace: str | None = None,
                    *, dry_run: bool = False) -> dict[str, Any]:
        name = body["metadata"]["name"]
        self.writes.append(("dry-run" if dry_run else "apply", rt.kind, name))
        containers = (((body.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or []
        if any("name" not in c for c in containers):
            raise errors.Invalid(f"apply {rt.name}: {REJECTION}", status=422, server_message=REJECTION)
        if dry_run:
            return copy.deepcopy(body)
        merged = copy.deepcopy(self.objects.get((rt.kind, name)) or {})
        data = {**(merged.get("data") or {}), **(body.get("data") or {})}
        merged.update(copy.deepcopy(body))
        if data:
            merged["data"] = data
        return self.put(merged)

    async def patch_status(self, rt: ResourceType, name: str, status: dict[str, Any],
                           namespace: str | None = None) -> dict[str, Any]:
        self.writes.append(("status", rt.kind, name))
        self.cluster["status"] = copy.deepcopy(status)
        return copy.deepcopy(self.cluster)

    async def create(self, rt: ResourceType, body: dict[str, Any], namespace: str | None = None) -> dict[str, Any]:
        self.writes.append(("create", rt.kind, body["metadata"]["name"]))
        return self.put(body)

    async def merge_patch(self, rt: ResourceType, name: str, patch: dict[str, Any],
                          namespace: str | None = None) -> dict[str, Any]:
        self.writes.append(("patch", rt.kind, name))
        return self.put({**self.objects[(rt.kind, name)], **patch})

    async def delete(self, rt: ResourceType, name: str, namespace: str | None = None) -> dict[str, Any]:
        self.writes.append(("delete", rt.kind, name))
        return self.objects.pop((rt.kind, name))

    def events(self, type_: str) -> list[dict[str, Any]]:
        return [o for (kind, _), o in self.objects.items() if kind == "Event" and o["type"] == type_]

    def child_writes(self) -> list[tuple[str, str, str]]:
        return [w for w in self.writes if w[0] in ("apply", "delete")]


class Cache:
    """A reader of one kind; ``hidden`` names are missing from it (a lagging or label-filtered watch)."""

    def __init__(self, api: FakeApi, kind: str) -> None:
        self.api, self.kind, self.hidden = api, kind, set[str]()

    def get(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        if self.kind == "InnoDBCluster":
            return copy.deepcopy(self.api.cluster)
        if name in self.hidden:
            return None
        return copy.deepcopy(self.api.objects.get((self.kind, name)))

    def list(self, namespace: str) -> list[Mapping[str, Any]]:
        return [copy.deepcopy(o) for (kind, name), o in self.api.objects.items()
                if kind == self.kind and name not in self.hidden]


def reconciler(api: FakeApi) -> tuple[InnoDBClusterReconciler, dict[str, Cache]]:
    caches = {kind: Cache(api, kind) for kind in CHILD_TYPES}
    rec = InnoDBClusterReconciler(
        api, Cache(api, "InnoDBCluster"), caches,  # type: ignore[arg-type]
        events=EventRecorder(api, "replica-a"), poll_seconds=30, operator_image="op:1",  # type: ignore[arg-type]
    )
    return rec, caches


def passwords(api: FakeApi) -> dict[str, str]:
    data = unb64(api.objects[("Secret", PRIV)]["data"])
    return {k: data[k] for k in REQUIRED_PASSWORD_KEYS}


def spec_valid(api: FakeApi) -> dict[str, Any]:
    return next(c for c in api.cluster["status"]["conditions"] if c["type"] == "SpecValid")


async def test_passwords_are_generated_once_and_kept_across_passes_and_processes() -> None:
    api = FakeApi()
    rec, _ = reconciler(api)
    assert await rec.reconcile("ns/c") == Result(requeue_after=30)
    first = passwords(api)
    assert sorted(first) == sorted(REQUIRED_PASSWORD_KEYS) and all(first.values())
    await rec.reconcile("ns/c")
    fresh, _ = reconciler(api)  # a restarted operator
    await fresh.reconcile("ns/c")
    assert passwords(api) == first


async def test_a_secret_missing_from_the_cache_is_read_live_and_its_passwords_kept() -> None:
    api = FakeApi()
    rec, _ = reconciler(api)
    await rec.reconcile("ns/c")
    first = passwords(api)
    fresh, caches = reconciler(api)
    caches["Secret"].hidden.add(PRIV)  # the watch lags, or the Secret lost the operator's label
    await fresh.reconcile("ns/c")
    assert passwords(api) == first


async def test_only_a_missing_key_gets_a_new_password() -> None:
    api = FakeApi()
    rec, _ = reconciler(api)
    await rec.reconcile("ns/c")
    first = passwords(api)
    secret = copy.deepcopy(api.objects[("Secret", PRIV)])
    del secret["data"]["routerPassword"]  # someone removes one key
    api.put(secret)
    await rec.reconcile("ns/c")
    now = passwords(api)
    assert now["routerPassword"] and now["routerPassword"] != first["routerPassword"]
    assert {k: v for k, v in now.items() if k != "routerPassword"} == {
        k: v for k, v in first.items() if k != "routerPassword"}


async def test_a_child_the_api_server_rejects_becomes_spec_valid_false_and_nothing_is_written() -> None:
    api = FakeApi()
    rec, _ = reconciler(api)
    await rec.reconcile("ns/c")
    assert spec_valid(api)["status"] == "True"
    api.cluster["spec"] = {**api.cluster["spec"], "instances": 5, "mycnf": "[mysqld]\nmax_connections=500\n",
                           "podSpec": {"containers": [{"image": "x"}]}}
    api.cluster["metadata"]["generation"] = 2
    api.writes.clear()
    for _ in range(3):  # no exception: the pass reports and waits for the next poll
        assert await rec.reconcile("ns/c") == Result(requeue_after=30)
    condition = spec_valid(api)
    assert condition["status"] == "False" and condition["reason"] == "RejectedByAPIServer"
    assert "spec.template.spec.containers[1].name: Required value" in condition["message"]
    assert "StatefulSet c" in condition["message"]
    assert api.child_writes() == [], "the ConfigMap must not change while the StatefulSet is rejected"
    warnings = api.events("Warning")
    assert len(warnings) == 1 and warnings[0]["reason"] == "RejectedByAPIServer" and warnings[0]["count"] == 1
    assert "containers[1].name" in warnings[0]["message"]
    # Later passes with the same spec send nothing more (the rejection is remembered).
    assert [w for w in api.writes if w[0] == "dry-run"] == [("dry-run", "ConfigMap", "c-initconf"),
                                                           ("dry-run", "StatefulSet", "c")]
    # Fixed: everything is applied and SpecValid turns True again.
    api.cluster["spec"]["podSpec"] = {"containers": [{"name": "sidecar", "image": "x"}]}
    await rec.reconcile("ns/c")
    assert spec_valid(api)["status"] == "True"
    assert {("apply", "ConfigMap", "c-initconf"), ("apply", "StatefulSet", "c")} <= set(api.child_writes())


class ScriptedGroup(GroupDriver):
    """A group driver that reports a fixed outcome (the engine itself is tested elsewhere)."""

    def __init__(self, outcome: Outcome | None) -> None:
        super().__init__()
        self.outcome = outcome
        self.calls = 0

    async def drive(self, cluster: Any, pods: Any, passwords: Any, status: Any, *, poll: float) -> Outcome | None:
        self.calls += 1
        assert set(passwords) == set(REQUIRED_PASSWORD_KEYS)
        return self.outcome


async def test_the_group_pass_sets_members_requeue_and_events() -> None:
    api = FakeApi()
    members = tuple(MemberStatus(f"c-{i}", "ONLINE", "PRIMARY" if i == 0 else "SECONDARY") for i in range(3))
    outcome = Outcome(GroupStatus("ONLINE", "g-1", members, online=3, primary="c-0", known=True),
                      requeue_after=2.0, events=(Notice("Normal", "Joined", "Joined c-2 to the group (clone)"),))
    group = ScriptedGroup(outcome)
    rec = InnoDBClusterReconciler(
        api, Cache(api, "InnoDBCluster"), {kind: Cache(api, kind) for kind in CHILD_TYPES},  # type: ignore[arg-type]
        events=EventRecorder(api, "replica-a"), poll_seconds=30, operator_image="op:1",  # type: ignore[arg-type]
        group=group,
    )
    assert await rec.reconcile("ns/c") == Result(requeue_after=2.0)
    summary = api.cluster["status"]["cluster"]
    assert summary["status"] == "ONLINE" and summary["primary"] == "c-0" and summary["groupName"] == "g-1"
    assert [m["state"] for m in summary["members"]] == ["ONLINE"] * 3
    assert [e["reason"] for e in api.events("Normal") if e["reason"] == "Joined"] == ["Joined"]
    # The engine could not run: come back soon, keep what was known.
    group.outcome = None
    assert await rec.reconcile("ns/c") == Result(requeue_after=2.0)
    assert api.cluster["status"]["cluster"]["members"] == summary["members"]
    # An invalid spec: no group pass at all.
    api.cluster["spec"] = {**api.cluster["spec"], "secretName": "missing"}
    calls = group.calls
    assert await rec.reconcile("ns/c") == Result(requeue_after=30)
    assert group.calls == calls


async def test_without_server_pods_the_group_is_pending_and_every_member_missing() -> None:
    api = FakeApi()
    rec, _ = reconciler(api)
    assert await rec.reconcile("ns/c") == Result(requeue_after=30)
    summary = api.cluster["status"]["cluster"]
    assert summary["status"] == "PENDING" and summary["groupName"]
    assert summary["members"] == [{"name": f"c-{i}", "state": "MISSING", "role": ""} for i in range(3)]
    api.writes.clear()
    await rec.reconcile("ns/c")
    assert api.writes == [], "an idle pass writes nothing"
