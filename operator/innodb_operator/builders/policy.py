"""The ``<name>-pdb`` PodDisruptionBudget (policy/v1).

Contract: at most one server pod is voluntarily disrupted at a time (maxUnavailable 1), so a
drain takes members away one by one and the group keeps quorum. Selects the server pods.
"""

from __future__ import annotations

from innodb_api.types import Cluster

from . import labels, names
from .meta import Obj, new_object


def build_pdb(cluster: Cluster) -> Obj:
    pdb = new_object("policy/v1", "PodDisruptionBudget", cluster, names.pdb_name(cluster.name),
                     labels.labels(cluster, "database"))
    pdb["spec"] = {"maxUnavailable": 1, "selector": {"matchLabels": labels.server_selector(cluster)}}
    return pdb
