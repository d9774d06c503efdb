"""The custom resources the operator serves: ``InnoDBCluster`` and ``MySQLBackup``.

This package imports nothing from the operator; the CRD YAML in ``manifests/crds/`` is
generated from it (``python -m innodb_api.crd``); ``types`` parses the objects and
``validation`` checks what the CRD schema cannot.
"""

GROUP = "mysql.innodb-operator.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

INNODBCLUSTER_KIND = "InnoDBCluster"
INNODBCLUSTER_PLURAL = "innodbclusters"

MYSQLBACKUP_KIND = "MySQLBackup"
MYSQLBACKUP_PLURAL = "mysqlbackups"
