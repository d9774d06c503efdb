"""Facts every child of ``desired_children`` holds: ownership, labels, secrets, purity, order."""

from __future__ import annotations

import base64
import copy
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from test_builders_cases import CASES, OPERATOR_IMAGE, PASSWORDS, children_of, cluster_of

from innodb_operator.builders import desired_children, owner_reference
from innodb_operator.builders import labels as lbl

STABLE = (lbl.NAME, lbl.INSTANCE, lbl.COMPONENT, lbl.MANAGED_BY, lbl.CLUSTER)
SECRETISH = re.compile(r"PASSWORD|PWD|SECRET|TOKEN|USER", re.I)


def _containers(child: dict[str, Any]) -> Iterator[dict[str, Any]]:
    spec = child.get("spec") or {}
    if child["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    pod = (spec.get("template") or {}).get("spec") or {}
    yield from pod.get("initContainers", [])
    yield from pod.get("containers", [])


def _selectors(child: dict[str, Any]) -> list[dict[str, str]]:
    spec = child.get("spec") or {}
    if child["kind"] == "Service":
        return [spec["selector"]]
    if "selector" in spec:
        return [spec["selector"]["matchLabels"]]
    return []


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_child_is_owned_by_the_cluster_in_its_namespace(case: str) -> None:
    cluster = cluster_of(CASES[case])
    for child in children_of(CASES[case]):
        meta = child["metadata"]
        assert meta["namespace"] == cluster.namespace
        assert meta["ownerReferences"] == [owner_reference(cluster)]
        (ref,) = meta["ownerReferences"]
        assert ref["controller"] is True and ref["blockOwnerDeletion"] is True and ref["uid"] == cluster.uid


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_child_carries_the_labels_and_selectors_use_only_stable_ones(case: str) -> None:
    cluster = cluster_of(CASES[case])
    for child in children_of(CASES[case]):
        labels = child["metadata"]["labels"]
        router = labels[lbl.COMPONENT] == "router"
        assert labels[lbl.INSTANCE] == labels[lbl.CLUSTER] == cluster.name
        assert labels[lbl.MANAGED_BY] == "innodb-operator"
        assert labels[lbl.NAME] == ("mysql-router" if router else "mysql-innodbcluster")
        assert labels[lbl.VERSION] == (cluster.spec.router_version if router else cluster.spec.version)
        for selector in _selectors(child):
            assert set(selector) == set(STABLE), child["metadata"]["name"]
            template_labels = child["spec"].get("template", {}).get("metadata", {}).get("labels")
            if template_labels is not None:
                assert selector.items() <= template_labels.items()


def test_user_pod_labels_never_override_ours() -> None:
    sts = next(c for c in children_of(CASES["custom"]) if c["kind"] == "StatefulSet")
    labels = sts["spec"]["template"]["metadata"]["labels"]
    assert labels[lbl.NAME] == "mysql-innodbcluster" and labels["team"] == "payments"


@pytest.mark.parametrize("case", sorted(CASES))
def test_credentials_reach_containers_only_through_secret_key_refs(case: str) -> None:
    children = children_of(CASES[case])
    from_secrets = set()
    for child in children:
        for container in _containers(child):
            for env in container.get("env", []):
                if SECRETISH.search(env["name"]) and env["name"] != "MYSQL_CREATE_ROUTER_USER":
                    assert "value" not in env, (container["name"], env["name"])
                    assert set(env["valueFrom"]) == {"secretKeyRef"}
                if "secretKeyRef" in env.get("valueFrom", {}):
                    from_secrets.add((container["name"], env["name"]))
    with_exporter = CASES[case]["spec"].get("metrics", {}).get("enable")
    exporter = {("metrics", "MYSQLD_EXPORTER_PASSWORD")} if with_exporter else set()
    assert from_secrets == {
        ("initdatadir", "MYSQL_ROOT_PASSWORD"), ("initdatadir", "MYSQL_ROOT_USER"), ("initdatadir", "MYSQL_ROOT_HOST"),
        ("initdatadir", "MYSQL_OPERATOR_ADMIN_USER"), ("initdatadir", "MYSQL_OPERATOR_ADMIN_PASSWORD"),
        ("router", "MYSQL_USER"), ("router", "MYSQL_PASSWORD"), *exporter,
    }
    # The readiness probe reads the admin account from files of a Secret volume instead.
    sts = next(c for c in children if c["kind"] == "StatefulSet")
    (volume,) = [v for v in sts["spec"]["template"]["spec"]["volumes"] if "secret" in v]
    assert volume["secret"]["secretName"].endswith("-privsecrets") and volume["secret"]["defaultMode"] == 0o440
    assert [i["key"] for i in volume["secret"]["items"]] == ["adminUsername", "adminPassword"]
    for child in children:
        text = json.dumps(child)
        for password in PASSWORDS.values():
            assert password not in text, f"a password in clear in {child['kind']} {child['metadata']['name']}"
    secret = next(c for c in children if c["kind"] == "Secret")
    assert {base64.b64decode(v).decode() for v in secret["data"].values()} >= set(PASSWORDS.values())


def test_the_same_input_gives_the_same_output_and_inputs_are_untouched() -> None:
    cluster = cluster_of(CASES["custom"])
    spec_before, passwords = copy.deepcopy(cluster.spec), dict(PASSWORDS)
    first = desired_children(cluster, passwords=passwords, operator_image=OPERATOR_IMAGE)
    second = desired_children(cluster, passwords=passwords, operator_image=OPERATOR_IMAGE)
    assert first == second
    assert json.dumps(first, sort_keys=False) == json.dumps(second, sort_keys=False)
    assert cluster.spec == spec_before and passwords == PASSWORDS
    assert json.loads(json.dumps(first)) == first  # plain JSON types only


def test_children_share_no_mutable_object_with_each_other_or_the_input() -> None:
    cluster = cluster_of(CASES["custom"])
    children = desired_children(cluster, passwords=PASSWORDS, operator_image=OPERATOR_IMAGE)
    seen: set[int] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict | list):
            assert id(value) not in seen, "an object appears twice in the output"
            seen.add(id(value))
            for item in value.values() if isinstance(value, dict) else value:
                walk(item)

    walk(children)
    inputs = [cluster.spec.pod_spec, cluster.spec.router.pod_spec, cluster.spec.datadir_volume_claim_template,
              cluster.spec.pod_labels, cluster.spec.service.annotations]
    for value in inputs:
        assert id(value) not in seen


def test_children_come_dependencies_first_in_a_stable_order() -> None:
    kinds = [c["kind"] for c in children_of(CASES["journey"])]
    assert kinds == ["Secret", "ConfigMap", "ConfigMap", "ServiceAccount", "ServiceAccount", "Role", "RoleBinding",
                     "Service", "Service", "StatefulSet", "Deployment", "PodDisruptionBudget", "CronJob"]
    names = [c["metadata"]["name"] for c in children_of(CASES["journey"])]
    assert names == ["mycluster-privsecrets", "mycluster-initconf", "mycluster-router-scripts", "mycluster-sa",
                     "mycluster-backup", "mycluster-backup", "mycluster-backup", "mycluster-instances", "mycluster",
                     "mycluster", "mycluster-router", "mycluster-pdb", "mycluster-schedule-ref-cb"]


def test_a_user_service_account_replaces_ours() -> None:
    children = children_of(CASES["custom"])
    assert "orders-sa" not in {c["metadata"]["name"] for c in children}
    sts = next(c for c in children if c["kind"] == "StatefulSet")
    assert sts["spec"]["template"]["spec"]["serviceAccountName"] == "orders-db"
