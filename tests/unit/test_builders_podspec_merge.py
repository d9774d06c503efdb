"""The user's podSpec merged into ours: top-level keys replace, named lists merge by name."""

from __future__ import annotations

import copy
from typing import Any

from innodb_operator.builders.podspec_merge import merge_by_key, merge_container, merge_dicts, merge_pod_spec


def _ours() -> dict[str, Any]:
    return {
        "serviceAccountName": "x-sa",
        "securityContext": {"runAsUser": 27, "fsGroup": 27},
        "initContainers": [{"name": "initconf", "image": "server:1"}],
        "containers": [{
            "name": "mysql",
            "image": "server:1",
            "env": [{"name": "A", "value": "1"},
                    {"name": "B", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}],
            "ports": [{"name": "mysql", "containerPort": 3306}],
            "volumeMounts": [{"name": "cnf", "mountPath": "/etc/my.cnf", "subPath": "my.cnf"},
                             {"name": "cnf", "mountPath": "/etc/my.cnf.d", "subPath": "my.cnf.d"}],
            "securityContext": {"runAsNonRoot": True, "capabilities": {"drop": ["ALL"]}},
        }],
        "volumes": [{"name": "cnf", "emptyDir": {}}, {"name": "tmp", "emptyDir": {}}],
    }


def test_top_level_keys_replace_ours() -> None:
    merged = merge_pod_spec(_ours(), {"securityContext": {"runAsUser": 1000}, "nodeSelector": {"disk": "ssd"}})
    assert merged["securityContext"] == {"runAsUser": 1000}
    assert merged["nodeSelector"] == {"disk": "ssd"}
    assert merged["serviceAccountName"] == "x-sa"


def test_container_with_our_name_merges_field_by_field() -> None:
    merged = merge_pod_spec(_ours(), {"containers": [{
        "name": "mysql",
        "resources": {"requests": {"cpu": "1"}},
        "env": [{"name": "TZ", "value": "UTC"}, {"name": "A", "value": "2"}],
        "securityContext": {"readOnlyRootFilesystem": True},
    }]})
    (mysql,) = merged["containers"]
    assert mysql["image"] == "server:1"
    assert mysql["resources"] == {"requests": {"cpu": "1"}}
    assert mysql["env"] == [{"name": "A", "value": "2"},
                            {"name": "B", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
                            {"name": "TZ", "value": "UTC"}]
    assert mysql["securityContext"] == {"runAsNonRoot": True, "capabilities": {"drop": ["ALL"]},
                                        "readOnlyRootFilesystem": True}


def test_new_containers_are_appended_after_ours_in_the_users_order() -> None:
    merged = merge_pod_spec(_ours(), {"containers": [{"name": "b-sidecar"}, {"name": "a-sidecar"}],
                                      "initContainers": [{"name": "seed", "image": "busybox"}]})
    assert [c["name"] for c in merged["containers"]] == ["mysql", "b-sidecar", "a-sidecar"]
    assert [c["name"] for c in merged["initContainers"]] == ["initconf", "seed"]


def test_volumes_merge_by_name_and_a_same_named_volume_replaces_ours_whole() -> None:
    merged = merge_pod_spec(_ours(), {"volumes": [{"name": "tmp", "emptyDir": {"medium": "Memory"}},
                                                  {"name": "extra", "configMap": {"name": "c"}}]})
    assert merged["volumes"] == [{"name": "cnf", "emptyDir": {}}, {"name": "tmp", "emptyDir": {"medium": "Memory"}},
                                 {"name": "extra", "configMap": {"name": "c"}}]


def test_volume_mounts_merge_by_mount_path_and_ports_by_name() -> None:
    merged = merge_container(_ours()["containers"][0], {
        "volumeMounts": [{"name": "cnf", "mountPath": "/etc/my.cnf.d", "subPath": "other"},
                         {"name": "logs", "mountPath": "/var/log/mysql"}],
        "ports": [{"name": "metrics", "containerPort": 9104}],
    })
    assert merged["volumeMounts"] == [
        {"name": "cnf", "mountPath": "/etc/my.cnf", "subPath": "my.cnf"},
        {"name": "cnf", "mountPath": "/etc/my.cnf.d", "subPath": "other"},
        {"name": "logs", "mountPath": "/var/log/mysql"},
    ]
    assert [p["name"] for p in merged["ports"]] == ["mysql", "metrics"]


def test_fields_we_do_not_set_are_taken_and_lists_replace() -> None:
    override = {"args": ["b"], "envFrom": [{"configMapRef": {"name": "e"}}]}
    merged = merge_container({"name": "c", "args": ["a"]}, override)
    assert merged == {"name": "c", "args": ["b"], "envFrom": [{"configMapRef": {"name": "e"}}]}


def test_env_from_is_appended_without_duplicates() -> None:
    ours = {"name": "c", "envFrom": [{"secretRef": {"name": "s"}}]}
    merged = merge_container(ours, {"envFrom": [{"secretRef": {"name": "s"}}, {"configMapRef": {"name": "m"}}]})
    assert merged["envFrom"] == [{"secretRef": {"name": "s"}}, {"configMapRef": {"name": "m"}}]


def test_entries_without_the_key_are_appended() -> None:
    assert merge_by_key([{"name": "a"}], [{"image": "x"}], "name") == [{"name": "a"}, {"image": "x"}]


def test_empty_override_gives_an_equal_copy() -> None:
    ours = _ours()
    merged = merge_pod_spec(ours, {})
    assert merged == ours
    assert merged is not ours and merged["containers"] is not ours["containers"]


def test_inputs_are_never_modified_and_never_shared_with_the_result() -> None:
    ours, theirs = _ours(), {"containers": [{"name": "mysql", "resources": {"limits": {"cpu": "1"}}},
                                            {"name": "side", "env": [{"name": "X", "value": "y"}]}],
                             "volumes": [{"name": "tmp", "emptyDir": {"medium": "Memory"}}],
                             "tolerations": [{"key": "db", "operator": "Exists"}]}
    ours_before, theirs_before = copy.deepcopy(ours), copy.deepcopy(theirs)
    merged = merge_pod_spec(ours, theirs)
    assert (ours, theirs) == (ours_before, theirs_before)
    merged["containers"][0]["resources"]["limits"]["cpu"] = "9"
    merged["containers"][1]["env"][0]["value"] = "z"
    merged["volumes"][1]["emptyDir"]["medium"] = "Disk"
    merged["tolerations"][0]["key"] = "other"
    merged["securityContext"]["runAsUser"] = 0
    assert (ours, theirs) == (ours_before, theirs_before)


def test_merge_dicts_is_recursive_and_override_wins() -> None:
    merged = merge_dicts({"a": {"b": 1, "c": 2}, "l": [1]}, {"a": {"c": 3}, "l": [2]})
    assert merged == {"a": {"b": 1, "c": 3}, "l": [2]}
