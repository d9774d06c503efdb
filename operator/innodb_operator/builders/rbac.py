"""ServiceAccounts and RBAC of the cluster's pods.

Contract:
  * ``<name>-sa``: the server pods' ServiceAccount, built only when ``spec.serviceAccountName``
    is unset (the user's account is used as is otherwise).
  * ``<name>-backup`` ServiceAccount, Role and RoleBinding for the backup CronJob pods, least
    privilege and no wildcards: create/get/list ``mysqlbackups`` and get this one
    ``innodbcluster``, in the cluster's namespace only.
"""

from __future__ import annotations

from innodb_api import GROUP, INNODBCLUSTER_PLURAL
from innodb_api.types import Cluster

from . import labels, names
from .meta import Obj, new_object

MYSQLBACKUP_PLURAL = "mysqlbackups"


def build_server_service_account(cluster: Cluster) -> Obj | None:
    if cluster.spec.service_account_name:
        return None
    return new_object("v1", "ServiceAccount", cluster, names.default_server_service_account_name(cluster.name),
                      labels.labels(cluster, "database"))


def build_backup_service_account(cluster: Cluster) -> Obj:
    name = names.backup_name(cluster.name)
    return new_object("v1", "ServiceAccount", cluster, name, labels.labels(cluster, "backup"))


def build_backup_role(cluster: Cluster) -> Obj:
    role = new_object("rbac.authorization.k8s.io/v1", "Role", cluster, names.backup_name(cluster.name),
                      labels.labels(cluster, "backup"))
    role["rules"] = [
        {"apiGroups": [GROUP], "resources": [MYSQLBACKUP_PLURAL], "verbs": ["create", "get", "list"]},
        {"apiGroups": [GROUP], "resources": [INNODBCLUSTER_PLURAL], "resourceNames": [cluster.name], "verbs": ["get"]},
    ]
    return role


def build_backup_role_binding(cluster: Cluster) -> Obj:
    name = names.backup_name(cluster.name)
    binding = new_object("rbac.authorization.k8s.io/v1", "RoleBinding", cluster, name, labels.labels(cluster, "backup"))
    binding["roleRef"] = {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name}
    binding["subjects"] = [{"kind": "ServiceAccount", "name": name, "namespace": cluster.namespace}]
    return binding
