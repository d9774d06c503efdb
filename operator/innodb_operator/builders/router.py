"""The ``<name>-router`` Deployment (MySQL Router) and its ``<name>-router-scripts`` ConfigMap.

Contract:
  * replicas = ``router.instances``; image ``spec.router_image`` (``router.version``, else the
    server version); the pod template carries the router labels plus ``router.podLabels`` and
    ``router.podAnnotations`` (ours win) and the ``config-hash`` annotation of the scripts
    ConfigMap (a changed script rolls the routers); ``router.podSpec`` is merged like the server's.
  * The container's ``command`` is our entrypoint, ``router-entrypoint.sh`` from the
    ``<name>-router-scripts`` ConfigMap (mounted read-only at ``/mnt/router-scripts``; see
    :mod:`.scripts`), not the image's: production and the local environment run the same code.
    It bootstraps against ``MYSQL_HOST`` = the headless Service's DNS name on ``MYSQL_PORT``
    3306, as ``MYSQL_USER``/``MYSQL_PASSWORD`` = the operator's router account (secretKeyRef
    into ``<name>-privsecrets``), reusing that account instead of creating one per pod start.
  * The environment is also what the stock image's own entrypoint reads
    (``MYSQL_CREATE_ROUTER_USER=0`` is for it alone), so a ``router.podSpec`` container
    ``router`` whose ``command`` is the image's entrypoint runs that instead (docs/children.md).
  * ``MYSQL_INNODB_CLUSTER_MEMBERS`` is "1", not ``instances``: the entrypoint waits for at least
    that many ONLINE members, so tying it to ``instances`` would keep routers from starting while
    any member is down and restart every router on a server scale. "1" still holds the bootstrap
    until a group exists.
  * The template's ``credentials-hash`` annotation is a digest of the router account's password
    (never the password): when the password changes (the operator reset its accounts after the
    Secret was lost), the routers roll and bootstrap with the new one, since a running router
    keeps the password it bootstrapped with.
  * Rolling updates never drop below the desired count (maxUnavailable 0); routers prefer
    distinct nodes; ready when port 6446 accepts connections; uid 999, non-root.
"""

from __future__ import annotations

from innodb_api.types import Cluster

from . import labels, layout, names, scripts, secrets
from .config import config_hash, credentials_hash
from .meta import Obj, new_object, secret_env
from .podspec_merge import merge_pod_spec
from .server_pod import anti_affinity, container_security_context, pod_security_context

ROUTER_WAIT_FOR_MEMBERS = "1"
ROUTER_SCRIPTS_DIR = "/mnt/router-scripts"
ROUTER_SCRIPTS_VOLUME = "router-scripts"
ROUTER_ENTRYPOINT_SH = "router-entrypoint.sh"


def router_scripts_name(cluster_name: str) -> str:
    """The ConfigMap holding the router container's entrypoint."""
    return f"{cluster_name}-router-scripts"


def router_scripts_data() -> dict[str, str]:
    return {ROUTER_ENTRYPOINT_SH: scripts.router_entrypoint()}


def build_router_scripts(cluster: Cluster) -> Obj:
    configmap = new_object("v1", "ConfigMap", cluster, router_scripts_name(cluster.name),
                           labels.labels(cluster, "router"))
    configmap["data"] = router_scripts_data()
    return configmap


ROUTER_STARTUP_PERIOD_SECONDS = 1
ROUTER_STARTUP_FAILURES = 3600
"""An hour for the first route: the entrypoint waits for ONLINE members before it bootstraps."""


def router_env(cluster: Cluster) -> list[Obj]:
    secret = names.private_secret_name(cluster.name)
    return [
        {"name": "MYSQL_HOST", "value": names.instances_domain(cluster)},
        {"name": "MYSQL_PORT", "value": str(layout.MYSQL_PORT)},
        secret_env("MYSQL_USER", secret, secrets.ROUTER_USER_KEY),
        secret_env("MYSQL_PASSWORD", secret, secrets.ROUTER_PASSWORD_KEY),
        {"name": "MYSQL_CREATE_ROUTER_USER", "value": "0"},
        {"name": "MYSQL_INNODB_CLUSTER_MEMBERS", "value": ROUTER_WAIT_FOR_MEMBERS},
    ]


def router_container(cluster: Cluster) -> Obj:
    return {
        "name": "router",
        "image": cluster.spec.router_image,
        "imagePullPolicy": cluster.spec.image_pull_policy,
        "command": ["bash", f"{ROUTER_SCRIPTS_DIR}/{ROUTER_ENTRYPOINT_SH}"],
        "env": router_env(cluster),
        "ports": [{"name": name, "containerPort": port, "protocol": "TCP"} for name, port in layout.ROUTER_PORTS],
        # Ready once it first routes writes (the startup probe); from then on while it runs. Router
        # closes its RW port while the group has no primary: a readiness probe on that port took it
        # out of the Service during a failover and kept it out for up to a period after the new
        # primary (every router has the same view, so none could have served in its place).
        "startupProbe": {
            "tcpSocket": {"port": layout.ROUTER_RW_PORT},
            "periodSeconds": ROUTER_STARTUP_PERIOD_SECONDS,
            "timeoutSeconds": 1,
            "failureThreshold": ROUTER_STARTUP_FAILURES,
            "successThreshold": 1,
        },
        "readinessProbe": {
            "tcpSocket": {"port": layout.ROUTER_REST_PORT},
            "periodSeconds": 5,
            "timeoutSeconds": 3,
            "failureThreshold": 3,
            "successThreshold": 1,
        },
        "securityContext": container_security_context(),
        "volumeMounts": [
            {"name": "tmp", "mountPath": layout.TMP_DIR},
            {"name": ROUTER_SCRIPTS_VOLUME, "mountPath": ROUTER_SCRIPTS_DIR, "readOnly": True},
        ],
    }


def router_pod_spec(cluster: Cluster) -> Obj:
    spec: Obj = {
        "automountServiceAccountToken": False,
        "securityContext": pod_security_context(layout.ROUTER_UID),
        "affinity": anti_affinity(labels.router_selector(cluster)),
        "containers": [router_container(cluster)],
        "volumes": [
            {"name": "tmp", "emptyDir": {}},
            {"name": ROUTER_SCRIPTS_VOLUME,
             "configMap": {"name": router_scripts_name(cluster.name), "defaultMode": 0o444}},
        ],
    }
    if cluster.spec.image_pull_secrets:
        spec["imagePullSecrets"] = [{"name": n} for n in cluster.spec.image_pull_secrets]
    return spec


def build_router_deployment(cluster: Cluster, router_password: str = "") -> Obj:
    router = cluster.spec.router
    deployment = new_object("apps/v1", "Deployment", cluster, names.router_deployment_name(cluster.name),
                            labels.labels(cluster, "router"))
    annotations = {labels.CONFIG_HASH_ANNOTATION: config_hash(router_scripts_data())}
    if router_password:
        annotations[labels.CREDENTIALS_HASH_ANNOTATION] = credentials_hash(router_password)
    template_meta: Obj = {
        "labels": labels.with_user(labels.labels(cluster, "router"), router.pod_labels),
        "annotations": labels.with_user(annotations, router.pod_annotations),
    }
    deployment["spec"] = {
        "replicas": router.instances,
        "selector": {"matchLabels": labels.router_selector(cluster)},
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
        "template": {"metadata": template_meta, "spec": merge_pod_spec(router_pod_spec(cluster), router.pod_spec)},
    }
    return deployment
