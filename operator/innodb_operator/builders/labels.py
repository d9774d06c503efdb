"""Labels and annotations every child carries.

Contract:
  * Every child carries ``app.kubernetes.io/{name,instance,component,managed-by,version}`` and
    ``mysql.innodb-operator.dev/cluster``. ``name`` is ``mysql-innodbcluster`` for servers (and
    cluster-wide objects and backups) and ``mysql-router`` for routers; ``component`` is
    ``database``, ``router`` or ``backup``; ``version`` is the server version, or the router
    version for router objects.
  * Selectors use only the stable labels (never ``version``), so a selector never changes for
    the life of a cluster.
  * User ``podLabels``/``podAnnotations`` go on pod templates only; on a key conflict ours win.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from innodb_api import GROUP
from innodb_api.types import Cluster

NAME = "app.kubernetes.io/name"
INSTANCE = "app.kubernetes.io/instance"
COMPONENT = "app.kubernetes.io/component"
MANAGED_BY = "app.kubernetes.io/managed-by"
VERSION = "app.kubernetes.io/version"
CLUSTER = f"{GROUP}/cluster"

MANAGED_BY_VALUE = "innodb-operator"
SERVER_APP = "mysql-innodbcluster"
ROUTER_APP = "mysql-router"

CONFIG_HASH_ANNOTATION = f"{GROUP}/config-hash"
CREDENTIALS_HASH_ANNOTATION = f"{GROUP}/credentials-hash"
APPLIED_INSTANCES_ANNOTATION = f"{GROUP}/instances"
APPLIED_GROUP_MODE_ANNOTATION = f"{GROUP}/group-mode"
BACKUP_SCHEDULE_ANNOTATION = f"{GROUP}/backup-schedule"

Component = Literal["database", "router", "backup"]


def selector(cluster: Cluster, component: Component) -> dict[str, str]:
    """The stable labels: what selectors match on (sorted by key, like every label map here)."""
    return _sorted({
        NAME: ROUTER_APP if component == "router" else SERVER_APP,
        INSTANCE: cluster.name,
        COMPONENT: component,
        MANAGED_BY: MANAGED_BY_VALUE,
        CLUSTER: cluster.name,
    })


def labels(cluster: Cluster, component: Component) -> dict[str, str]:
    """Selector labels plus the version of the software the component runs."""
    version = cluster.spec.router_version if component == "router" else cluster.spec.version
    return _sorted({**selector(cluster, component), VERSION: version})


def server_selector(cluster: Cluster) -> dict[str, str]:
    return selector(cluster, "database")


def router_selector(cluster: Cluster) -> dict[str, str]:
    return selector(cluster, "router")


def with_user(ours: Mapping[str, str], user: Mapping[str, str]) -> dict[str, str]:
    """User labels/annotations merged under ours (ours win on conflict), sorted by key."""
    return _sorted({**user, **ours})


def _sorted(values: Mapping[str, str]) -> dict[str, str]:
    return {k: values[k] for k in sorted(values)}
