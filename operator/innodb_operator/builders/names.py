"""Every child object's name, in one place.

Contract: names derive from the cluster's name (and, for CronJobs, the schedule's name, see
:mod:`.backup`) only, never from anything that can change after creation, so the controller
can find, compare and delete children by name. The cluster's pods are ``<name>-<ordinal>``,
each reachable as ``<name>-<ordinal>.<name>-instances.<namespace>.svc.cluster.local``.
"""

from __future__ import annotations

from innodb_api.types import Cluster

CLUSTER_DOMAIN = "svc.cluster.local"


def statefulset_name(cluster_name: str) -> str:
    return cluster_name


def instances_service_name(cluster_name: str) -> str:
    """The headless Service that gives every server pod a stable DNS name."""
    return f"{cluster_name}-instances"


def router_service_name(cluster_name: str) -> str:
    return cluster_name


def router_deployment_name(cluster_name: str) -> str:
    return f"{cluster_name}-router"


def initconf_name(cluster_name: str) -> str:
    return f"{cluster_name}-initconf"


def private_secret_name(cluster_name: str) -> str:
    return f"{cluster_name}-privsecrets"


def pdb_name(cluster_name: str) -> str:
    return f"{cluster_name}-pdb"


def default_server_service_account_name(cluster_name: str) -> str:
    return f"{cluster_name}-sa"


def backup_name(cluster_name: str) -> str:
    """ServiceAccount, Role and RoleBinding of the backup CronJob pods."""
    return f"{cluster_name}-backup"


def server_service_account_name(cluster: Cluster) -> str:
    """The user's ``serviceAccountName`` when set, else the one the operator creates."""
    return cluster.spec.service_account_name or default_server_service_account_name(cluster.name)


def instances_domain(cluster: Cluster) -> str:
    """``<name>-instances.<namespace>.svc.cluster.local``: the suffix of every pod's DNS name."""
    return f"{instances_service_name(cluster.name)}.{cluster.namespace}.{CLUSTER_DOMAIN}"


def pod_fqdn(cluster: Cluster, ordinal: int) -> str:
    return f"{statefulset_name(cluster.name)}-{ordinal}.{instances_domain(cluster)}"
