"""The server pod spec, before the user's ``podSpec`` is merged in.

Contract:
  * Init containers ``initconf`` (runs init-conf.sh) and ``initdatadir`` (runs
    init-datadir.sh), then the ``mysql`` container (``mysqld``), all on ``spec.server_image``
    with ``spec.imagePullPolicy``, as uid/gid 27, non-root, no privilege escalation, no
    capabilities.
  * Credentials reach the containers only through Secrets: secretKeyRef env for the init
    container's init-file (the user's Secret: ``rootPassword``, ``rootUser`` and ``rootHost``
    optional; ``<name>-privsecrets``: the admin account), and the admin account's two keys of
    ``<name>-privsecrets`` as read-only files at /etc/innodb-operator/admin for the readiness
    probe, which follow a reset of that account without a restart.
  * Probes: startup and liveness run liveness.sh (the server answers at all; startup allows
    an hour), readiness runs readiness.sh (ONLINE in the group). Termination grace is 120 s so
    a member can leave the group cleanly.
  * Volumes: the ``datadir`` claim at /var/lib/mysql, the initconf ConfigMap read-only,
    emptyDirs for the generated config (/etc/my.cnf, /etc/my.cnf.d), the socket dir and /tmp.
  * Pods of one cluster prefer distinct nodes (preferred anti-affinity on kubernetes.io/hostname).
"""

from __future__ import annotations

from innodb_api.types import Cluster

from . import labels, layout, names, secrets
from .meta import Obj, secret_env

TERMINATION_GRACE_SECONDS = 120
STARTUP_PERIOD_SECONDS = 10
STARTUP_FAILURE_THRESHOLD = 360  # one hour: crash recovery of a large datadir can take long


def container_security_context() -> Obj:
    return {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}, "runAsNonRoot": True}


def pod_security_context(uid: int) -> Obj:
    return {
        "fsGroup": uid,
        "fsGroupChangePolicy": "OnRootMismatch",
        "runAsGroup": uid,
        "runAsNonRoot": True,
        "runAsUser": uid,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _script_command(script: str) -> list[str]:
    return ["bash", f"{layout.INITCONF_DIR}/{script}"]


def _mount(volume: str, path: str, *, sub_path: str | None = None, read_only: bool = False) -> Obj:
    mount: Obj = {"name": volume, "mountPath": path}
    if sub_path:
        mount["subPath"] = sub_path
    if read_only:
        mount["readOnly"] = True
    return mount


def _server_mounts() -> list[Obj]:
    """What mysqld (and the init container that runs it) sees."""
    return [
        _mount(layout.DATADIR_VOLUME, layout.DATADIR),
        _mount(layout.INITCONF_VOLUME, layout.INITCONF_DIR, read_only=True),
        _mount(layout.MYCNFDATA_VOLUME, layout.MY_CNF, sub_path="my.cnf", read_only=True),
        _mount(layout.MYCNFDATA_VOLUME, layout.MY_CNF_D, sub_path="my.cnf.d", read_only=True),
        _mount(layout.RUN_VOLUME, layout.RUN_DIR),
        _mount(layout.TMP_VOLUME, layout.TMP_DIR),
    ]


def _admin_env(cluster: Cluster) -> list[Obj]:
    secret = names.private_secret_name(cluster.name)
    return [
        secret_env(layout.ENV_ADMIN_USER, secret, secrets.ADMIN_USER_KEY),
        secret_env(layout.ENV_ADMIN_PASSWORD, secret, secrets.ADMIN_PASSWORD_KEY),
    ]


def _root_env(cluster: Cluster) -> list[Obj]:
    user_secret = cluster.spec.secret_name
    return [
        secret_env(layout.ENV_ROOT_PASSWORD, user_secret, layout.ROOT_PASSWORD_KEY),
        secret_env(layout.ENV_ROOT_USER, user_secret, layout.ROOT_USER_KEY, optional=True),
        secret_env(layout.ENV_ROOT_HOST, user_secret, layout.ROOT_HOST_KEY, optional=True),
    ]


def _base_container(cluster: Cluster, name: str) -> Obj:
    return {
        "name": name,
        "image": cluster.spec.server_image,
        "imagePullPolicy": cluster.spec.image_pull_policy,
        "securityContext": container_security_context(),
    }


def initconf_container(cluster: Cluster) -> Obj:
    return {
        **_base_container(cluster, "initconf"),
        "command": _script_command(layout.INIT_CONF_SH),
        "volumeMounts": [
            _mount(layout.INITCONF_VOLUME, layout.INITCONF_DIR, read_only=True),
            _mount(layout.MYCNFDATA_VOLUME, layout.MYCNFDATA_DIR),
        ],
    }


def initdatadir_container(cluster: Cluster) -> Obj:
    return {
        **_base_container(cluster, "initdatadir"),
        "command": _script_command(layout.INIT_DATADIR_SH),
        "env": _root_env(cluster) + _admin_env(cluster),
        "volumeMounts": _server_mounts(),
    }


def _exec_probe(script: str, *, period: int, timeout: int, failures: int) -> Obj:
    return {
        "exec": {"command": _script_command(script)},
        "periodSeconds": period,
        "timeoutSeconds": timeout,
        "failureThreshold": failures,
        "successThreshold": 1,
    }


def mysql_container(cluster: Cluster) -> Obj:
    return {
        **_base_container(cluster, "mysql"),
        "command": ["mysqld"],
        "ports": [
            {"name": "mysql", "containerPort": layout.MYSQL_PORT, "protocol": "TCP"},
            {"name": "mysqlx", "containerPort": layout.MYSQLX_PORT, "protocol": "TCP"},
            {"name": "gr-xcom", "containerPort": layout.GR_PORT, "protocol": "TCP"},
        ],
        "volumeMounts": [*_server_mounts(),
                         _mount(layout.ADMIN_CREDENTIALS_VOLUME, layout.ADMIN_CREDENTIALS_DIR, read_only=True)],
        "startupProbe": _exec_probe(layout.LIVENESS_SH, period=STARTUP_PERIOD_SECONDS, timeout=10,
                                    failures=STARTUP_FAILURE_THRESHOLD),
        "livenessProbe": _exec_probe(layout.LIVENESS_SH, period=15, timeout=10, failures=6),
        "readinessProbe": _exec_probe(layout.READINESS_SH, period=5, timeout=10, failures=3),
    }


def volumes(cluster: Cluster) -> list[Obj]:
    return [
        {"name": layout.INITCONF_VOLUME,
         "configMap": {"name": names.initconf_name(cluster.name), "defaultMode": 0o444}},
        {"name": layout.MYCNFDATA_VOLUME, "emptyDir": {}},
        {"name": layout.RUN_VOLUME, "emptyDir": {}},
        {"name": layout.TMP_VOLUME, "emptyDir": {}},
        # The readiness probe logs in with these files, not with environment variables: when the
        # operator resets its accounts (the Secret was lost), the files follow the new Secret
        # without a restart of the member.
        {"name": layout.ADMIN_CREDENTIALS_VOLUME,
         "secret": {"secretName": names.private_secret_name(cluster.name), "defaultMode": 0o440,
                    "items": [{"key": secrets.ADMIN_USER_KEY, "path": secrets.ADMIN_USER_KEY},
                              {"key": secrets.ADMIN_PASSWORD_KEY, "path": secrets.ADMIN_PASSWORD_KEY}]}},
    ]


def anti_affinity(selector: dict[str, str]) -> Obj:
    return {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{
        "weight": 100,
        "podAffinityTerm": {"labelSelector": {"matchLabels": selector}, "topologyKey": "kubernetes.io/hostname"},
    }]}}


def server_pod_spec(cluster: Cluster) -> Obj:
    spec: Obj = {
        "serviceAccountName": names.server_service_account_name(cluster),
        "automountServiceAccountToken": False,
        "terminationGracePeriodSeconds": TERMINATION_GRACE_SECONDS,
        "securityContext": pod_security_context(layout.MYSQL_UID),
        "affinity": anti_affinity(labels.server_selector(cluster)),
        "initContainers": [initconf_container(cluster), initdatadir_container(cluster)],
        "containers": [mysql_container(cluster)],
        "volumes": volumes(cluster),
    }
    if cluster.spec.image_pull_secrets:
        spec["imagePullSecrets"] = [{"name": n} for n in cluster.spec.image_pull_secrets]
    return spec
