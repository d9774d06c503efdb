"""Everything one ``InnoDBCluster`` owns, in the order to apply it.

Contract: :func:`desired_children` is pure and deterministic: the same cluster, passwords and
operator image give equal lists; inputs are never modified and no two children share a
mutable object. Order: dependencies first (private Secret, initconf and router-scripts
ConfigMaps, ServiceAccounts, backup Role and RoleBinding), then Services, the StatefulSet, the router
Deployment, the PodDisruptionBudget and the backup CronJobs (by name).
"""

from __future__ import annotations

from collections.abc import Mapping

from innodb_api.types import Cluster

from .backup import build_cronjobs
from .config import build_initconf
from .meta import Obj
from .policy import build_pdb
from .rbac import (
    build_backup_role,
    build_backup_role_binding,
    build_backup_service_account,
    build_server_service_account,
)
from .router import build_router_deployment, build_router_scripts
from .secrets import ROUTER_PASSWORD_KEY, build_private_secret
from .services import build_instances_service, build_router_service
from .statefulset import build_statefulset


def desired_children(cluster: Cluster, *, passwords: Mapping[str, str], operator_image: str,
                     server_replicas: int | None = None) -> list[Obj]:
    """Every child of ``cluster``; ``server_replicas``: the StatefulSet's replicas when members
    above ``spec.instances`` are still to leave the group (never fewer than ``spec.instances``)."""
    server_sa = build_server_service_account(cluster)
    return [
        build_private_secret(cluster, passwords),
        build_initconf(cluster),
        build_router_scripts(cluster),
        *([server_sa] if server_sa is not None else []),
        build_backup_service_account(cluster),
        build_backup_role(cluster),
        build_backup_role_binding(cluster),
        build_instances_service(cluster),
        build_router_service(cluster),
        build_statefulset(cluster, replicas=server_replicas),
        build_router_deployment(cluster, passwords[ROUTER_PASSWORD_KEY]),
        build_pdb(cluster),
        *build_cronjobs(cluster, operator_image),
    ]
