"""Object headers: apiVersion, kind and metadata with labels and the owner reference.

Contract: every child is owned by its ``InnoDBCluster`` through exactly one ownerReference
(controller and blockOwnerDeletion true), lives in the cluster's namespace and carries the
labels of :mod:`.labels`. Annotations appear only when there are some.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from innodb_api import API_VERSION, INNODBCLUSTER_KIND
from innodb_api.types import Cluster

Obj = dict[str, Any]


def owner_reference(cluster: Cluster) -> Obj:
    return {
        "apiVersion": API_VERSION,
        "kind": INNODBCLUSTER_KIND,
        "name": cluster.name,
        "uid": cluster.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def object_meta(cluster: Cluster, name: str, labels: Mapping[str, str],
                annotations: Mapping[str, str] | None = None) -> Obj:
    meta: Obj = {
        "name": name,
        "namespace": cluster.namespace,
        "labels": dict(sorted(labels.items())),
        "ownerReferences": [owner_reference(cluster)],
    }
    if annotations:
        meta["annotations"] = dict(sorted(annotations.items()))
    return meta


def new_object(api_version: str, kind: str, cluster: Cluster, name: str, labels: Mapping[str, str],
               annotations: Mapping[str, str] | None = None) -> Obj:
    return {"apiVersion": api_version, "kind": kind,
            "metadata": object_meta(cluster, name, labels, annotations)}


def secret_env(env_name: str, secret_name: str, key: str, *, optional: bool = False) -> Obj:
    """An env var read from a Secret: credentials never appear as literal values."""
    ref: Obj = {"name": secret_name, "key": key}
    if optional:
        ref["optional"] = True
    return {"name": env_name, "valueFrom": {"secretKeyRef": ref}}
