"""``innodb-operator backup create``: record one backup run as a ``MySQLBackup`` object.

A scheduled backup's CronJob runs this; the operator then takes the dump and reports it
in the object's status. Names are ``<cluster>-<schedule or "manual">-<UTC timestamp>``,
so runs sort by time and never collide within a second.
"""

from __future__ import annotations

import datetime as dt
import sys

from innodb_operator.controllers.kinds import MYSQLBACKUPS
from innodb_operator.kube import errors
from innodb_operator.kube.client import connect

_MAX_NAME = 63


def backup_name(cluster: str, schedule: str, now: dt.datetime) -> str:
    stamp = now.strftime("%Y%m%d%H%M%S")
    prefix = f"{cluster}-{schedule or 'manual'}"[: _MAX_NAME - len(stamp) - 1].rstrip("-")
    return f"{prefix}-{stamp}"


async def create_backup(*, namespace: str, cluster: str, profile: str, schedule: str, kubeconfig: str | None) -> int:
    """Create the MySQLBackup; exit code 0 when created, 1 with a message otherwise."""
    name = backup_name(cluster, schedule, dt.datetime.now(dt.UTC))
    body = {
        "apiVersion": MYSQLBACKUPS.api_version, "kind": MYSQLBACKUPS.kind,
        "metadata": {"name": name, "namespace": namespace, "labels": {
            "mysql.innodb-operator.dev/cluster": cluster,
            **({"mysql.innodb-operator.dev/schedule": schedule} if schedule else {}),
        }},
        "spec": {"clusterName": cluster, "backupProfileName": profile},
    }
    client = await connect(kubeconfig)
    try:
        await client.create(MYSQLBACKUPS, body, namespace)
    except errors.KubeError as exc:
        print(f"innodb-operator: could not create MySQLBackup {namespace}/{name}: {exc.message}", file=sys.stderr)
        return 1
    finally:
        await client.close()
    print(f"created MySQLBackup {namespace}/{name}")
    return 0
