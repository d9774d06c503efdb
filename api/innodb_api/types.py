"""Typed views of the custom resources, with defaults.

Contract:
  * ``ClusterSpec.from_dict(spec)`` turns the raw ``spec`` of an ``InnoDBCluster`` (as the API
    server stores it, already checked by the CRD schema) into frozen dataclasses with every
    default filled in. It never raises for a schema-valid spec; fields the schema cannot
    check are checked by :mod:`innodb_api.validation`.
  * Field names follow the incumbent operator's published v2 schema where the feature is the
    same, so manifests port by changing ``apiVersion``. ``groupMode`` is our own addition.
  * Free-form Kubernetes fragments (``podSpec``, ``datadirVolumeClaimTemplate``, dump
    options) stay plain dicts: the operator merges them, it does not interpret them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

DEFAULT_VERSION = "9.7.4"
DEFAULT_IMAGE_REPOSITORY = "container-registry.oracle.com/mysql"
SERVER_IMAGE_NAME = "community-server"
ROUTER_IMAGE_NAME = "community-router"
DEFAULT_INSTANCES = 3
DEFAULT_ROUTER_INSTANCES = 1
DEFAULT_BASE_SERVER_ID = 1000
DEFAULT_DATADIR_SIZE = "2Gi"
DEFAULT_METRICS_WEB_PORT = 9104
DEFAULT_METRICS_IMAGE = "prom/mysqld-exporter:v0.17.2"
DEFAULT_CLONE_ROOT_USER = "root"
MIN_INSTANCES = 1
MAX_INSTANCES = 9
MAX_BASE_SERVER_ID = 4294967195
"""server_id is 32-bit; leave room above the base for the member ordinals (as the incumbent does)."""

GroupMode = Literal["SinglePrimary", "MultiPrimary"]
PullPolicy = Literal["Always", "IfNotPresent", "Never"]
ServiceType = Literal["ClusterIP", "NodePort", "LoadBalancer"]
ClusterState = Literal[
    "ONLINE", "ONLINE_PARTIAL", "ONLINE_UNCERTAIN", "OFFLINE", "OFFLINE_UNCERTAIN", "NO_QUORUM",
    "SPLIT_BRAIN", "PENDING", "INITIALIZING", "FINALIZING",
]
"""``status.cluster.status``: the group's state as the group manager last saw it."""


def _str_map(value: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in (value or {}).items()}


@dataclass(frozen=True)
class RouterSpec:
    instances: int = DEFAULT_ROUTER_INSTANCES
    version: str | None = None
    pod_spec: dict[str, Any] = field(default_factory=dict)
    pod_labels: dict[str, str] = field(default_factory=dict)
    pod_annotations: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, raw: dict[str, Any] | None) -> RouterSpec:
        raw = raw or {}
        return cls(
            instances=int(raw.get("instances", DEFAULT_ROUTER_INSTANCES)),
            version=raw.get("version"),
            pod_spec=dict(raw.get("podSpec") or {}),
            pod_labels=_str_map(raw.get("podLabels")),
            pod_annotations=_str_map(raw.get("podAnnotations")),
        )


@dataclass(frozen=True)
class ServiceSpec:
    type: ServiceType = "ClusterIP"
    annotations: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, raw: dict[str, Any] | None) -> ServiceSpec:
        raw = raw or {}
        return cls(type=raw.get("type", "ClusterIP"), annotations=_str_map(raw.get("annotations")))


@dataclass(frozen=True)
class BackupProfile:
    """A named way to take a backup: a logical dump of the instance onto a PVC."""

    name: str
    dump_options: dict[str, Any] = field(default_factory=dict)
    claim_name: str | None = None

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> BackupProfile:
        dump = raw.get("dumpInstance") or {}
        storage = dump.get("storage") or {}
        pvc = storage.get("persistentVolumeClaim") or {}
        return cls(name=str(raw["name"]), dump_options=dict(dump.get("dumpOptions") or {}),
                   claim_name=pvc.get("claimName"))


@dataclass(frozen=True)
class BackupSchedule:
    name: str
    schedule: str
    backup_profile_name: str
    enabled: bool = True
    time_zone: str | None = None
    delete_backup_data: bool = False

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> BackupSchedule:
        return cls(
            name=str(raw["name"]), schedule=str(raw["schedule"]),
            backup_profile_name=str(raw.get("backupProfileName", "")),
            enabled=bool(raw.get("enabled", True)), time_zone=raw.get("timeZone"),
            delete_backup_data=bool(raw.get("deleteBackupData", False)),
        )


@dataclass(frozen=True)
class InitDB:
    """Seed a new cluster: from a dump on a PVC, or by cloning a live donor."""

    dump_claim_name: str | None = None
    dump_path: str | None = None
    clone_donor_url: str | None = None
    clone_root_user: str = DEFAULT_CLONE_ROOT_USER
    clone_secret_name: str | None = None

    @classmethod
    def from_dict(cls, raw: dict[str, Any] | None) -> InitDB | None:
        if not raw:
            return None
        dump = raw.get("dump") or {}
        clone = raw.get("clone") or {}
        return cls(
            dump_claim_name=((dump.get("storage") or {}).get("persistentVolumeClaim") or {}).get("claimName"),
            dump_path=dump.get("path"),
            clone_donor_url=clone.get("donorUrl"),
            clone_root_user=clone.get("rootUser", DEFAULT_CLONE_ROOT_USER),
            clone_secret_name=(clone.get("secretKeyRef") or {}).get("name"),
        )


@dataclass(frozen=True)
class MetricsSpec:
    enable: bool = False
    web_port: int = DEFAULT_METRICS_WEB_PORT
    image: str = DEFAULT_METRICS_IMAGE

    @classmethod
    def from_dict(cls, raw: dict[str, Any] | None) -> MetricsSpec:
        raw = raw or {}
        return cls(enable=bool(raw.get("enable", False)), web_port=int(raw.get("webPort", DEFAULT_METRICS_WEB_PORT)),
                   image=str(raw.get("image") or DEFAULT_METRICS_IMAGE))


@dataclass(frozen=True)
class ClusterSpec:
    """``InnoDBCluster.spec`` with defaults applied."""

    secret_name: str
    instances: int = DEFAULT_INSTANCES
    version: str = DEFAULT_VERSION
    image_repository: str = DEFAULT_IMAGE_REPOSITORY
    image_pull_policy: PullPolicy = "IfNotPresent"
    image_pull_secrets: tuple[str, ...] = ()
    service_account_name: str | None = None
    base_server_id: int = DEFAULT_BASE_SERVER_ID
    tls_use_self_signed: bool = False
    mycnf: str = ""
    group_mode: GroupMode = "SinglePrimary"
    pod_spec: dict[str, Any] = field(default_factory=dict)
    pod_labels: dict[str, str] = field(default_factory=dict)
    pod_annotations: dict[str, str] = field(default_factory=dict)
    datadir_volume_claim_template: dict[str, Any] = field(default_factory=dict)
    router: RouterSpec = field(default_factory=RouterSpec)
    service: ServiceSpec = field(default_factory=ServiceSpec)
    backup_profiles: tuple[BackupProfile, ...] = ()
    backup_schedules: tuple[BackupSchedule, ...] = ()
    init_db: InitDB | None = None
    metrics: MetricsSpec = field(default_factory=MetricsSpec)

    @property
    def router_version(self) -> str:
        return self.router.version or self.version

    @property
    def server_image(self) -> str:
        return f"{self.image_repository}/{SERVER_IMAGE_NAME}:{self.version}"

    @property
    def router_image(self) -> str:
        return f"{self.image_repository}/{ROUTER_IMAGE_NAME}:{self.router_version}"

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> ClusterSpec:
        return cls(
            secret_name=str(raw.get("secretName", "")),
            instances=int(raw.get("instances", DEFAULT_INSTANCES)),
            version=str(raw.get("version", DEFAULT_VERSION)),
            image_repository=str(raw.get("imageRepository", DEFAULT_IMAGE_REPOSITORY)),
            image_pull_policy=raw.get("imagePullPolicy", "IfNotPresent"),
            image_pull_secrets=tuple(s["name"] for s in raw.get("imagePullSecrets") or [] if s.get("name")),
            service_account_name=raw.get("serviceAccountName"),
            base_server_id=int(raw.get("baseServerId", DEFAULT_BASE_SERVER_ID)),
            tls_use_self_signed=bool(raw.get("tlsUseSelfSigned", False)),
            mycnf=str(raw.get("mycnf", "")),
            group_mode=raw.get("groupMode", "SinglePrimary"),
            pod_spec=dict(raw.get("podSpec") or {}),
            pod_labels=_str_map(raw.get("podLabels")),
            pod_annotations=_str_map(raw.get("podAnnotations")),
            datadir_volume_claim_template=dict(raw.get("datadirVolumeClaimTemplate") or {}),
            router=RouterSpec.from_dict(raw.get("router")),
            service=ServiceSpec.from_dict(raw.get("service")),
            backup_profiles=tuple(BackupProfile.from_dict(p) for p in raw.get("backupProfiles") or []),
            backup_schedules=tuple(BackupSchedule.from_dict(s) for s in raw.get("backupSchedules") or []),
            init_db=InitDB.from_dict(raw.get("initDB")),
            metrics=MetricsSpec.from_dict(raw.get("metrics")),
        )


@dataclass(frozen=True)
class Cluster:
    """What builders need to know about one ``InnoDBCluster`` object."""

    name: str
    namespace: str
    uid: str
    generation: int
    spec: ClusterSpec

    @classmethod
    def from_object(cls, obj: Any) -> Cluster:
        meta = obj["metadata"]
        return cls(name=meta["name"], namespace=meta["namespace"], uid=meta.get("uid", ""),
                   generation=int(meta.get("generation", 0)), spec=ClusterSpec.from_dict(dict(obj.get("spec") or {})))


BackupPhase = Literal["Pending", "Running", "Completed", "Failed"]


@dataclass(frozen=True)
class BackupSpec:
    """``MySQLBackup.spec``: which cluster, and a profile by name or inline."""

    cluster_name: str
    backup_profile_name: str | None = None
    backup_profile: BackupProfile | None = None
    delete_backup_data: bool = False

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> BackupSpec:
        inline = raw.get("backupProfile")
        return cls(
            cluster_name=str(raw.get("clusterName", "")),
            backup_profile_name=raw.get("backupProfileName"),
            backup_profile=BackupProfile.from_dict({"name": "inline", **inline}) if inline else None,
            delete_backup_data=bool(raw.get("deleteBackupData", False)),
        )
