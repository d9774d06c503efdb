"""The custom resources the operator serves: ``InnoDBCluster`` and (later) ``MySQLBackup``.

This package imports nothing from the operator; the CRD YAML in ``manifests/crds/`` is
generated from it (``python -m innodb_api.crd``).
"""

GROUP = "mysql.innodb-operator.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

INNODBCLUSTER_KIND = "InnoDBCluster"
INNODBCLUSTER_PLURAL = "innodbclusters"
