"""A spec change touches exactly the child fields it should, and nothing else.

Each test builds every child before and after one spec change and compares the structural
diff (kind, name, path of every changed leaf) with the exact expected set.
"""

from __future__ import annotations

from typing import Any

from test_builders_cases import CUSTOM, JOURNEY, Path, children_of, flatten, structural_diff, with_spec

from innodb_operator.builders.labels import (
    APPLIED_GROUP_MODE_ANNOTATION,
    APPLIED_INSTANCES_ANNOTATION,
    CONFIG_HASH_ANNOTATION,
    VERSION,
)

STS = ("StatefulSet", "mycluster")
ROUTER = ("Deployment", "mycluster-router")
ROUTER_OBJECTS = (ROUTER, ("Service", "mycluster"), ("ConfigMap", "mycluster-router-scripts"))
TEMPLATE: Path = ("spec", "template")
POD: Path = (*TEMPLATE, "spec")


def test_instances_changes_only_statefulset_replicas_and_the_applied_shape() -> None:
    # The router's MYSQL_INNODB_CLUSTER_MEMBERS is a constant "1" (see builders.router), so
    # scaling the servers never restarts the routers. The set's own annotation records the
    # applied count for the group manager (not the pod template: no restart).
    changed = structural_diff(children_of(JOURNEY), children_of(with_spec(JOURNEY, instances=5)))
    assert changed == {(*STS, ("spec", "replicas")),
                       (*STS, ("metadata", "annotations", APPLIED_INSTANCES_ANNOTATION))}


def test_router_instances_changes_only_deployment_replicas() -> None:
    changed = structural_diff(children_of(JOURNEY), children_of(with_spec(JOURNEY, router={"instances": 3})))
    assert changed == {(*ROUTER, ("spec", "replicas"))}


def test_mycnf_changes_only_extra_cnf_and_the_config_hash() -> None:
    after = with_spec(JOURNEY, mycnf="[mysqld]\nmax_connections=500\n")
    changed = structural_diff(children_of(JOURNEY), children_of(after))
    assert changed == {
        ("ConfigMap", "mycluster-initconf", ("data", "99-extra.cnf")),
        (*STS, (*TEMPLATE, "metadata", "annotations", CONFIG_HASH_ANNOTATION)),
    }


def test_pod_spec_changes_only_the_touched_pod_template_fields() -> None:
    pod_spec = {
        "nodeSelector": {"disktype": "ssd"},
        "containers": [{"name": "mysql", "resources": {"limits": {"memory": "2Gi"}}}],
    }
    changed = structural_diff(children_of(JOURNEY), children_of(with_spec(JOURNEY, podSpec=pod_spec)))
    assert changed == {
        (*STS, (*POD, "nodeSelector", "disktype")),
        (*STS, (*POD, "containers", "[name=mysql]", "resources", "limits", "memory")),
    }


def _version_label_paths(children: list[dict[str, Any]], *, include_router: bool) -> set[tuple[str, str, Path]]:
    """Every path of a version label in ``children`` (router objects only if asked)."""
    paths = set()
    for child in children:
        ident = (str(child["kind"]), str(child["metadata"]["name"]))
        if ident in ROUTER_OBJECTS and not include_router:
            continue
        paths |= {(*ident, path) for path in flatten(child) if path[-1] == VERSION}
    return paths


def test_version_changes_server_images_and_version_labels_and_router_image_when_router_version_unset() -> None:
    before = children_of(JOURNEY)
    changed = structural_diff(before, children_of(with_spec(JOURNEY, version="9.7.1")))
    images = {
        (*STS, (*POD, "initContainers", "[name=initconf]", "image")),
        (*STS, (*POD, "initContainers", "[name=initdatadir]", "image")),
        (*STS, (*POD, "containers", "[name=mysql]", "image")),
        (*ROUTER, (*POD, "containers", "[name=router]", "image")),
    }
    labels = _version_label_paths(before, include_router=True)
    # metadata of every child, plus the StatefulSet, Deployment and CronJob (job and pod) templates
    assert len(labels) == len(before) + 2 + 2
    assert changed == images | labels


def test_version_leaves_the_router_alone_when_router_version_is_set() -> None:
    pinned = with_spec(JOURNEY, router={"instances": 1, "version": "9.7.0"})
    before = children_of(pinned)
    changed = structural_diff(before, children_of(with_spec(pinned, version="9.7.1")))
    assert not {c for c in changed if c[:2] in ROUTER_OBJECTS}
    assert (*STS, (*POD, "containers", "[name=mysql]", "image")) in changed
    assert changed == _version_label_paths(before, include_router=False) | {
        (*STS, (*POD, "initContainers", "[name=initconf]", "image")),
        (*STS, (*POD, "initContainers", "[name=initdatadir]", "image")),
        (*STS, (*POD, "containers", "[name=mysql]", "image")),
    }


def test_disabling_a_schedule_removes_only_its_cronjob() -> None:
    schedules = [dict(s, enabled=False) for s in JOURNEY["spec"]["backupSchedules"]]
    changed = structural_diff(children_of(JOURNEY), children_of(with_spec(JOURNEY, backupSchedules=schedules)))
    assert changed == {("CronJob", "mycluster-schedule-ref-cb", ())}


def test_no_change_no_diff() -> None:
    assert structural_diff(children_of(CUSTOM), children_of(CUSTOM)) == set()


def test_a_new_router_password_changes_the_secret_and_rolls_the_routers_only() -> None:
    from test_builders_cases import OPERATOR_IMAGE, PASSWORDS, cluster_of

    from innodb_operator.builders import desired_children
    from innodb_operator.builders.labels import CREDENTIALS_HASH_ANNOTATION

    def built(router_password: str) -> list[dict[str, Any]]:
        return desired_children(cluster_of(JOURNEY), passwords={**PASSWORDS, "routerPassword": router_password},
                                operator_image=OPERATOR_IMAGE)

    changed = structural_diff(built("first-password"), built("second-password"))
    assert changed == {
        ("Secret", "mycluster-privsecrets", ("data", "routerPassword")),
        (*ROUTER, (*TEMPLATE, "metadata", "annotations", CREDENTIALS_HASH_ANNOTATION)),
    }


def test_group_mode_changes_only_the_applied_shape_of_the_statefulset() -> None:
    changed = structural_diff(children_of(JOURNEY), children_of(with_spec(JOURNEY, groupMode="MultiPrimary")))
    assert changed == {(*STS, ("metadata", "annotations", APPLIED_GROUP_MODE_ANNOTATION))}, \
        "a mode switch is the group manager's SQL: no member restarts"
