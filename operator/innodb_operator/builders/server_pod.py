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
  * With ``spec.metrics.enable``, a ``metrics`` container runs the MySQL exporter
    (``spec.metrics.image``) on ``spec.metrics.webPort`` (container port ``metrics``), logging in
    over 127.0.0.1 as the metrics account of ``<name>-privsecrets`` (its password in the
    environment, from the Secret); as nobody (65534), read-only root, no capabilities.
  * Pods of one cluster prefer distinct nodes (preferred anti-affinity on kubernetes.io/hostname).
"""

from __future__ import annotations

from innodb_api.types import Cluster

from . import labels, layout, names, secrets
from .meta import Obj, secret_env

MYSQL_CONTAINER = "mysql"
"""The server container's name (the lifecycle reads its terminations from the pod status)."""
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
        **_base_container(cluster, MYSQL_CONTAINER),
        "command": ["mysqld"],
        "terminationMessagePolicy": "FallbackToLogsOnError",  # mysqld's last error lines, if it fails
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


EXPORTER_UID = 65534
EXPORTER_COLLECTORS = (
    "--collect.perf_schema.replication_group_members",
    "--collect.perf_schema.replication_group_member_stats",
)
"""Collected besides the exporter's defaults: the group as each member sees it."""


def metrics_container(cluster: Cluster) -> Obj:
    port = cluster.spec.metrics.web_port
    return {
        "name": "metrics",
        "image": cluster.spec.metrics.image,
        "imagePullPolicy": cluster.spec.image_pull_policy,
        "args": [f"--mysqld.address=127.0.0.1:{layout.MYSQL_PORT}", f"--mysqld.username={secrets.METRICS_USERNAME}",
                 f"--web.listen-address=:{port}", *EXPORTER_COLLECTORS],
        "env": [secret_env("MYSQLD_EXPORTER_PASSWORD", names.private_secret_name(cluster.name),
                           secrets.METRICS_PASSWORD_KEY)],
        "ports": [{"name": "metrics", "containerPort": port, "protocol": "TCP"}],
        "readinessProbe": {"httpGet": {"path": "/", "port": "metrics"}, "periodSeconds": 10, "timeoutSeconds": 5},
        "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "128Mi"}},
        "securityContext": {**container_security_context(), "readOnlyRootFilesystem": True,
                            "runAsUser": EXPORTER_UID, "runAsGroup": EXPORTER_UID},
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


def _sidecars(cluster: Cluster) -> list[Obj]:
    return [metrics_container(cluster)] if cluster.spec.metrics.enable else []


def server_pod_spec(cluster: Cluster) -> Obj:
    spec: Obj = {
        "serviceAccountName": names.server_service_account_name(cluster),
        "automountServiceAccountToken": False,
        "terminationGracePeriodSeconds": TERMINATION_GRACE_SECONDS,
        "securityContext": pod_security_context(layout.MYSQL_UID),
        "affinity": anti_affinity(labels.server_selector(cluster)),
        "initContainers": [initconf_container(cluster), initdatadir_container(cluster)],
        "containers": [mysql_container(cluster), *_sidecars(cluster)],
        "volumes": volumes(cluster),
    }
    if cluster.spec.image_pull_secrets:
        spec["imagePullSecrets"] = [{"name": n} for n in cluster.spec.image_pull_secrets]
    return spec
