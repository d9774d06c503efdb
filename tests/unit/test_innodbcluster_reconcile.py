"""The object reconcile against a fake API: passwords are never replaced; API rejections become status."""

from __future__ import annotations

import copy
from typing import Any

from fakeapi import Cache, FakeApi, unb64
from innodb_operator.builders import REQUIRED_PASSWORD_KEYS
from innodb_operator.controllers.innodbcluster import CHILD_TYPES, InnoDBClusterReconciler
from innodb_operator.controllers.runner import Result
from innodb_operator.kube.events import EventRecorder

PRIV = "c-privsecrets"

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


GROUP_PART = {"cluster": {"status": "ONLINE", "onlineInstances": 3, "instances": 3, "primary": "c-0",
                          "members": [], "groupName": "g", "createTime": "2030-01-01T00:00:00Z",
                          "next": {"reason": "Converged", "message": "nothing to do"}},
              "conditions": [{"type": "GroupOnline", "status": "True", "reason": "Online", "message": "ONLINE",
                              "lastTransitionTime": "2030-01-01T00:00:00Z", "observedGeneration": 1}]}


async def test_once_the_group_existed_lost_passwords_are_never_generated_and_no_child_changes() -> None:
    api = FakeApi()
    rec, _ = reconciler(api)
    await rec.reconcile("ns/c")
    api.with_field_manager("innodb-operator-group")._apply_status(copy.deepcopy(GROUP_PART))
    del api.objects[("Secret", PRIV)]  # someone deletes the operator's Secret from a running cluster
    api.writes.clear()
    assert await rec.reconcile("ns/c") == Result(requeue_after=30)
    assert ("Secret", PRIV) not in api.objects, "new passwords over a running group lock the operator out"
    assert api.child_writes() == []


async def test_the_object_reconcile_writes_its_part_and_keeps_the_group_managers() -> None:
    api = FakeApi()
    rec, _ = reconciler(api)
    await rec.reconcile("ns/c")
    api.with_field_manager("innodb-operator-group")._apply_status(copy.deepcopy(GROUP_PART))
    deployment = copy.deepcopy(api.objects[("Deployment", "c-router")])
    deployment["status"] = {"readyReplicas": 1, "replicas": 1, "updatedReplicas": 1, "observedGeneration": 1}
    api.put(deployment)
    await rec.reconcile("ns/c")
    status = api.cluster["status"]
    assert status["cluster"] == GROUP_PART["cluster"]
    assert {c["type"] for c in status["conditions"]} == {"GroupOnline", "SpecValid", "Ready", "Available",
                                                          "Progressing"}
    assert api.condition("Ready")["status"] == "True", "Ready reads the group's part: ONLINE, router ready"
    api.writes.clear()
    await rec.reconcile("ns/c")
    assert api.writes == [], "an idle pass writes nothing"


async def test_the_finalizer_is_added_once_and_a_deletion_stops_the_routers_and_applies_nothing_else() -> None:
    from innodb_operator.controllers.kinds import FINALIZER

    api = FakeApi()
    rec, _ = reconciler(api)
    await rec.reconcile("ns/c")
    assert api.cluster["metadata"]["finalizers"] == [FINALIZER]
    assert api.objects[("Deployment", "c-router")]["spec"]["replicas"] == 1
    api.writes.clear()
    await rec.reconcile("ns/c")
    assert not [w for w in api.writes if w[1] == "InnoDBCluster" and w[0] == "patch"], "added once"
    api.cluster["metadata"]["deletionTimestamp"] = "2026-12-03T12:00:00Z"
    api.writes.clear()
    await rec.reconcile("ns/c")
    assert api.writes == [("patch", "Deployment", "c-router")]
    assert api.objects[("Deployment", "c-router")]["spec"]["replicas"] == 0
    api.writes.clear()
    await rec.reconcile("ns/c")
    assert api.writes == [], "the routers are asked to stop once"
    assert api.cluster["metadata"]["finalizers"] == [FINALIZER], "the group manager releases it"
