"""The ``<name>`` StatefulSet of server pods.

Contract:
  * serviceName ``<name>-instances``; replicas = ``spec.instances``, or more while members
    above it have not left the group yet (``replicas``, see the object reconcile); podManagementPolicy
    Parallel; updateStrategy OnDelete (the operator restarts members one at a time, group
    aware); PVCs are retained when the set is deleted or scaled down.
  * Selector = the stable server labels; the pod template carries the server labels and the
    user's ``podLabels``, the user's ``podAnnotations`` and the ``config-hash`` annotation
    (ours win on conflict). The user's ``podSpec`` is merged with
    :func:`.podspec_merge.merge_pod_spec`.
  * volumeClaimTemplates: ``datadir`` from ``datadirVolumeClaimTemplate`` (its top-level keys
    over the default ReadWriteOnce, 2Gi). Its labels are the stable ones only, because a
    StatefulSet's claim templates cannot change after creation.
  * The set's own annotations record the group's shape of the spec it was built from
    (``instances``, ``group-mode``): the last applied spec, which the group manager keeps
    the group to while a newer spec is invalid (:func:`applied_shape` reads it back).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from innodb_api.types import DEFAULT_DATADIR_SIZE, Cluster, GroupMode

from . import labels, layout, names
from .config import config_hash, initconf_data
from .meta import Obj, new_object
from .podspec_merge import merge_dicts, merge_pod_spec
from .server_pod import server_pod_spec


def datadir_claim_template(cluster: Cluster) -> Obj:
    default: Obj = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": DEFAULT_DATADIR_SIZE}}}
    spec = {**default, **merge_dicts({}, cluster.spec.datadir_volume_claim_template)}
    return {
        "metadata": {"name": layout.DATADIR_VOLUME, "labels": dict(sorted(labels.server_selector(cluster).items()))},
        "spec": spec,
    }


def pod_template(cluster: Cluster) -> Obj:
    annotations = {labels.CONFIG_HASH_ANNOTATION: config_hash(initconf_data(cluster))}
    return {
        "metadata": {
            "labels": labels.with_user(labels.labels(cluster, "database"), cluster.spec.pod_labels),
            "annotations": labels.with_user(annotations, cluster.spec.pod_annotations),
        },
        "spec": merge_pod_spec(server_pod_spec(cluster), cluster.spec.pod_spec),
    }


def build_statefulset(cluster: Cluster, *, replicas: int | None = None) -> Obj:
    name = names.statefulset_name(cluster.name)
    sts = new_object("apps/v1", "StatefulSet", cluster, name, labels.labels(cluster, "database"), {
        labels.APPLIED_INSTANCES_ANNOTATION: str(cluster.spec.instances),
        labels.APPLIED_GROUP_MODE_ANNOTATION: cluster.spec.group_mode,
    })
    sts["spec"] = {
        "serviceName": names.instances_service_name(cluster.name),
        "replicas": cluster.spec.instances if replicas is None else max(replicas, cluster.spec.instances),
        "podManagementPolicy": "Parallel",
        "updateStrategy": {"type": "OnDelete"},
        "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"},
        "selector": {"matchLabels": labels.server_selector(cluster)},
        "template": pod_template(cluster),
        "volumeClaimTemplates": [datadir_claim_template(cluster)],
    }
    return sts


def applied_shape(statefulset: Mapping[str, Any]) -> tuple[int, GroupMode] | None:
    """(instances, group mode) of the spec ``statefulset`` was built from; None if it does not say."""
    annotations = (statefulset.get("metadata") or {}).get("annotations") or {}
    instances = str(annotations.get(labels.APPLIED_INSTANCES_ANNOTATION) or "")
    mode = annotations.get(labels.APPLIED_GROUP_MODE_ANNOTATION)
    if not instances.isdigit() or mode not in ("SinglePrimary", "MultiPrimary"):
        return None
    return int(instances), mode
