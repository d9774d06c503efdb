"""The resource types the operator talks to, and how their URLs are formed."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote


@dataclass(frozen=True)
class ResourceType:
    """One REST resource: ``group`` is "" for the core API."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def name(self) -> str:
        """``plural`` or ``plural.group``: the label used in metrics and logs."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def path(self, namespace: str | None = None, name: str | None = None, subresource: str | None = None) -> str:
        """The request path; ``namespace=None`` on a namespaced type means all namespaces."""
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{quote(namespace, safe='')}"
        base += f"/{self.plural}"
        if name is not None:
            base += f"/{quote(name, safe='')}"
            if subresource:
                base += f"/{subresource}"
        return base


NAMESPACES = ResourceType("", "v1", "namespaces", "Namespace", namespaced=False)
PODS = ResourceType("", "v1", "pods", "Pod")
SERVICES = ResourceType("", "v1", "services", "Service")
CONFIGMAPS = ResourceType("", "v1", "configmaps", "ConfigMap")
SECRETS = ResourceType("", "v1", "secrets", "Secret")
SERVICE_ACCOUNTS = ResourceType("", "v1", "serviceaccounts", "ServiceAccount")
EVENTS = ResourceType("", "v1", "events", "Event")
PVCS = ResourceType("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim")
STATEFULSETS = ResourceType("apps", "v1", "statefulsets", "StatefulSet")
DEPLOYMENTS = ResourceType("apps", "v1", "deployments", "Deployment")
PDBS = ResourceType("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget")
CRONJOBS = ResourceType("batch", "v1", "cronjobs", "CronJob")
JOBS = ResourceType("batch", "v1", "jobs", "Job")
ROLES = ResourceType("rbac.authorization.k8s.io", "v1", "roles", "Role")
ROLEBINDINGS = ResourceType("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding")
LEASES = ResourceType("coordination.k8s.io", "v1", "leases", "Lease")
CRDS = ResourceType(
    "apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", namespaced=False
)
