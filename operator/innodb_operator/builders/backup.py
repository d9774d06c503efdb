"""One CronJob per enabled backup schedule.

Contract:
  * Name ``<name>-<schedule>-cb`` when that is a valid DNS label of at most 52 characters (the
    Job controller appends 11); otherwise a lowercased, truncated stem plus 8 hex digits of
    the sha256 of ``<name>/<schedule>``, so the name is deterministic and distinct per schedule.
    :func:`cronjob_names` is the set the controller keeps; any other CronJob of the cluster
    belongs to a removed or disabled schedule.
  * Each run is a pod of the operator image (``operator_image``, passed in) running
    ``backup create --namespace <ns> --cluster <name> --schedule <schedule> --profile <profile>``
    as the ``<name>-backup`` ServiceAccount, which creates a ``MySQLBackup``; the backup itself
    is the operator's job. Runs never overlap (concurrencyPolicy Forbid); history is small.
"""

from __future__ import annotations

import hashlib
import re

from innodb_api.types import BackupSchedule, Cluster

from . import labels, names
from .meta import Obj, new_object
from .server_pod import container_security_context

MAX_CRONJOB_NAME = 52
_SUFFIX = "-cb"
_DIGEST_CHARS = 8
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
HISTORY_LIMIT = 3
BACKOFF_LIMIT = 2


def cronjob_name(cluster: Cluster, schedule_name: str) -> str:
    plain = f"{cluster.name}-{schedule_name}{_SUFFIX}"
    if len(plain) <= MAX_CRONJOB_NAME and _DNS_LABEL.fullmatch(plain):
        return plain
    digest = hashlib.sha256(f"{cluster.name}/{schedule_name}".encode()).hexdigest()[:_DIGEST_CHARS]
    stem = re.sub(r"[^a-z0-9-]+", "-", f"{cluster.name}-{schedule_name}".lower())
    stem = stem[: MAX_CRONJOB_NAME - len(_SUFFIX) - _DIGEST_CHARS - 1].strip("-")
    return f"{stem}-{digest}{_SUFFIX}" if stem else f"{digest}{_SUFFIX}"


def enabled_schedules(cluster: Cluster) -> list[BackupSchedule]:
    return [s for s in cluster.spec.backup_schedules if s.enabled]


def cronjob_names(cluster: Cluster) -> frozenset[str]:
    return frozenset(cronjob_name(cluster, s.name) for s in enabled_schedules(cluster))


def backup_args(cluster: Cluster, schedule: BackupSchedule) -> list[str]:
    return ["backup", "create", "--namespace", cluster.namespace, "--cluster", cluster.name,
            "--schedule", schedule.name, "--profile", schedule.backup_profile_name]


def build_cronjob(cluster: Cluster, schedule: BackupSchedule, operator_image: str) -> Obj:
    backup_labels = labels.labels(cluster, "backup")
    annotations = {labels.BACKUP_SCHEDULE_ANNOTATION: schedule.name}
    cronjob = new_object("batch/v1", "CronJob", cluster, cronjob_name(cluster, schedule.name), backup_labels,
                         annotations)
    pod_spec: Obj = {
        "serviceAccountName": names.backup_name(cluster.name),
        "restartPolicy": "Never",
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [{
            "name": "backup",
            "image": operator_image,
            "imagePullPolicy": "IfNotPresent",
            "args": backup_args(cluster, schedule),
            "securityContext": container_security_context(),
        }],
    }
    def template_meta() -> Obj:
        return {"labels": dict(sorted(backup_labels.items())), "annotations": dict(annotations)}

    spec: Obj = {
        "schedule": schedule.schedule,
        "concurrencyPolicy": "Forbid",
        "successfulJobsHistoryLimit": HISTORY_LIMIT,
        "failedJobsHistoryLimit": HISTORY_LIMIT,
        "jobTemplate": {
            "metadata": template_meta(),
            "spec": {"backoffLimit": BACKOFF_LIMIT, "template": {"metadata": template_meta(), "spec": pod_spec}},
        },
    }
    if schedule.time_zone:
        spec["timeZone"] = schedule.time_zone
    cronjob["spec"] = spec
    return cronjob


def build_cronjobs(cluster: Cluster, operator_image: str) -> list[Obj]:
    jobs = [build_cronjob(cluster, s, operator_image) for s in enabled_schedules(cluster)]
    return sorted(jobs, key=lambda job: str(job["metadata"]["name"]))
