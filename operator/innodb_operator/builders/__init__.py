"""Pure builders: an ``InnoDBCluster`` (plus explicit inputs) in, child object dicts out.

Contract: no I/O, no clock, no randomness, no logging. Passwords and the operator image come
in as arguments; images and versions come from the spec. Output is plain JSON-able
Kubernetes objects (apiVersion, kind, metadata.name/namespace/labels/ownerReferences), equal
for equal inputs. Each module's docstring states what it builds and which names are fixed.

Modules: ``names`` (child names), ``labels``, ``meta`` (headers, owner reference), ``layout``
(ports, paths, keys), ``podspec_merge``, ``config`` (initconf ConfigMap, config hash),
``scripts``, ``server_pod``, ``statefulset``, ``services``, ``router``, ``secrets``,
``policy`` (PDB), ``rbac``, ``backup`` (CronJobs), ``children`` (everything, in order).
"""

from __future__ import annotations

from .backup import build_cronjob, build_cronjobs, cronjob_name, cronjob_names
from .children import desired_children
from .config import build_initconf, config_hash, initconf_data
from .meta import Obj, owner_reference
from .names import (
    backup_name,
    initconf_name,
    instances_service_name,
    pdb_name,
    private_secret_name,
    router_deployment_name,
    router_service_name,
    server_service_account_name,
    statefulset_name,
)
from .podspec_merge import merge_container, merge_pod_spec
from .policy import build_pdb
from .rbac import (
    build_backup_role,
    build_backup_role_binding,
    build_backup_service_account,
    build_server_service_account,
)
from .router import build_router_deployment
from .secrets import REQUIRED_PASSWORD_KEYS, build_private_secret, passwords_from_secret
from .services import build_instances_service, build_router_service
from .statefulset import build_statefulset

__all__ = [
    "REQUIRED_PASSWORD_KEYS",
    "Obj",
    "backup_name",
    "build_backup_role",
    "build_backup_role_binding",
    "build_backup_service_account",
    "build_cronjob",
    "build_cronjobs",
    "build_initconf",
    "build_instances_service",
    "build_pdb",
    "build_private_secret",
    "build_router_deployment",
    "build_router_service",
    "build_server_service_account",
    "build_statefulset",
    "config_hash",
    "cronjob_name",
    "cronjob_names",
    "desired_children",
    "initconf_data",
    "initconf_name",
    "instances_service_name",
    "merge_container",
    "merge_pod_spec",
    "owner_reference",
    "passwords_from_secret",
    "pdb_name",
    "private_secret_name",
    "router_deployment_name",
    "router_service_name",
    "server_service_account_name",
    "statefulset_name",
]
