"""The custom resource types, as the kube layer addresses them."""

from __future__ import annotations

from innodb_api import (
    GROUP,
    INNODBCLUSTER_KIND,
    INNODBCLUSTER_PLURAL,
    MYSQLBACKUP_KIND,
    MYSQLBACKUP_PLURAL,
    VERSION,
)
from innodb_operator.kube.resources import ResourceType

INNODBCLUSTERS = ResourceType(GROUP, VERSION, INNODBCLUSTER_PLURAL, INNODBCLUSTER_KIND)
MYSQLBACKUPS = ResourceType(GROUP, VERSION, MYSQLBACKUP_PLURAL, MYSQLBACKUP_KIND)
