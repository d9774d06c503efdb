"""A fake Kubernetes API for reconcile unit tests: objects in one namespace, and what was written.

It stands in for :class:`innodb_operator.kube.client.KubeClient` where a test asserts "objects
in, API actions out". Server-side apply of ``/status`` merges like the API server does for the
``InnoDBCluster`` schema: each field manager owns the top-level fields and the conditions (by
``type``) it applied, and an apply replaces exactly what that manager owned before.
"""

from __future__ import annotations

import base64
import copy
import itertools
from collections.abc import Mapping
from typing import Any

from innodb_api import API_VERSION
from innodb_operator.kube import errors
from innodb_operator.kube.resources import ResourceType

NS = "ns"
REJECTION = 'StatefulSet.apps "c" is invalid: spec.template.spec.containers[1].name: Required value'


def b64(value: str) -> str:
    return base64.b64encode(value.encode()).decode()


def unb64(data: Mapping[str, str]) -> dict[str, str]:
    return {k: base64.b64decode(v).decode() for k, v in data.items()}


class FakeApi:
    """Objects by (kind, name) in one namespace; applies merge ``data`` like server-side apply does."""

    def __init__(self, *, instances: int = 3, root_password: str = "sakila") -> None:
        self.objects: dict[tuple[str, str], dict[str, Any]] = {}
        self.writes: list[tuple[str, str, str]] = []  # (verb, kind, name), dry runs included
        self._versions = itertools.count(2)
        self.field_manager = "innodb-operator"
        self.status_owners: dict[str, tuple[set[str], set[str]]] = {}  # manager -> (fields, condition types)
        self.cluster: dict[str, Any] = {
            "apiVersion": API_VERSION, "kind": "InnoDBCluster",
            "metadata": {"name": "c", "namespace": NS, "uid": "6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
                         "generation": 1, "resourceVersion": "1"},
            "spec": {"secretName": "c-secret", "instances": instances, "router": {"instances": 1}},
        }
        self.put({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "c-secret", "namespace": NS},
                  "data": {"rootPassword": b64(root_password)}})

    def with_field_manager(self, field_manager: str) -> FakeApi:
        view = copy.copy(self)
        view.field_manager = field_manager
        return view

    def put(self, obj: dict[str, Any]) -> dict[str, Any]:
        stored = copy.deepcopy(obj)
        stored["metadata"]["resourceVersion"] = str(next(self._versions))
        self.objects[(obj["kind"], obj["metadata"]["name"])] = stored
        return copy.deepcopy(stored)

    async def get(self, rt: ResourceType, name: str, namespace: str | None = None) -> dict[str, Any]:
        found = self.objects.get((rt.kind, name))
        if found is None:
            raise errors.NotFound(f"get {rt.name}: not found", status=404)
        return copy.deepcopy(found)

    async def list(self, rt: ResourceType, namespace: str | None = None, *, label_selector: str | None = None,
                   **_: Any) -> tuple[list[dict[str, Any]], str]:
        wanted = dict(pair.split("=", 1) for pair in (label_selector or "").split(",") if pair)
        found = [copy.deepcopy(o) for (kind, _name), o in self.objects.items() if kind == rt.kind
                 and wanted.items() <= ((o.get("metadata") or {}).get("labels") or {}).items()]
        return found, "1"

    async def apply(self, rt: ResourceType, body: dict[str, Any], namespace: str | None = None,
                    *, subresource: str | None = None, dry_run: bool = False) -> dict[str, Any]:
        name = body["metadata"]["name"]
        if subresource == "status":
            self.writes.append(("status", self.field_manager, name))
            self._apply_status(body["status"])
            return copy.deepcopy(self.cluster)
        self.writes.append(("dry-run" if dry_run else "apply", rt.kind, name))
        containers = (((body.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or []
        if any("name" not in c for c in containers):
            raise errors.Invalid(f"apply {rt.name}: {REJECTION}", status=422, server_message=REJECTION,
                                 field_errors="spec.template.spec.containers[1].name: Required value")
        if dry_run:
            return copy.deepcopy(body)
        merged = copy.deepcopy(self.objects.get((rt.kind, name)) or {})
        data = {**(merged.get("data") or {}), **(body.get("data") or {})}
        merged.update(copy.deepcopy(body))
        if data:
            merged["data"] = data
        return self.put(merged)

    def _apply_status(self, part: dict[str, Any]) -> None:
        status = copy.deepcopy(self.cluster.get("status") or {})
        fields, types = self.status_owners.get(self.field_manager, (set(), set()))
        for f in fields - set(part):
            status.pop(f, None)
        new_types = {c["type"] for c in part.get("conditions") or []}
        kept = [c for c in status.get("conditions") or [] if c["type"] not in (types | new_types)]
        for key, value in part.items():
            if key != "conditions":
                status[key] = copy.deepcopy(value)
        status["conditions"] = kept + copy.deepcopy(part.get("conditions") or [])
        self.status_owners[self.field_manager] = ({k for k in part if k != "conditions"}, new_types)
        self.cluster["status"] = status
        self.cluster["metadata"]["resourceVersion"] = str(next(self._versions))

    async def create(self, rt: ResourceType, body: dict[str, Any], namespace: str | None = None) -> dict[str, Any]:
        self.writes.append(("create", rt.kind, body["metadata"]["name"]))
        return self.put(body)

    async def merge_patch(self, rt: ResourceType, name: str, patch: dict[str, Any],
                          namespace: str | None = None) -> dict[str, Any]:
        self.writes.append(("patch", rt.kind, name))
        if rt.kind == "InnoDBCluster":  # metadata only (the finalizer), guarded by resourceVersion
            meta = self.cluster["metadata"]
            wanted = dict(patch.get("metadata") or {})
            if wanted.pop("resourceVersion", meta.get("resourceVersion")) != meta.get("resourceVersion"):
                raise errors.Conflict(f"patch {rt.name}: the object has been modified", status=409)
            meta.update(copy.deepcopy(wanted))
            meta["resourceVersion"] = str(next(self._versions))
            return copy.deepcopy(self.cluster)
        return self.put({**self.objects[(rt.kind, name)], **patch})

    async def delete(self, rt: ResourceType, name: str, namespace: str | None = None) -> dict[str, Any]:
        self.writes.append(("delete", rt.kind, name))
        return self.objects.pop((rt.kind, name))

    # --- what tests look at ----------------------------------------------------------------

    def events(self, type_: str | None = None) -> list[dict[str, Any]]:
        return [o for (kind, _), o in self.objects.items() if kind == "Event" and type_ in (None, o["type"])]

    def event_reasons(self, type_: str | None = None) -> list[str]:
        return [e["reason"] for e in self.events(type_)]

    def child_writes(self) -> list[tuple[str, str, str]]:
        return [w for w in self.writes if w[0] in ("apply", "delete")]

    def condition(self, type_: str) -> dict[str, Any]:
        return next(c for c in self.cluster["status"]["conditions"] if c["type"] == type_)


class Cache:
    """A reader of one kind; ``hidden`` names are missing from it (a lagging or label-filtered watch)."""

    def __init__(self, api: FakeApi, kind: str) -> None:
        self.api, self.kind, self.hidden = api, kind, set[str]()

    def get(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        if self.kind == "InnoDBCluster":
            return copy.deepcopy(self.api.cluster)
        if name in self.hidden:
            return None
        return copy.deepcopy(self.api.objects.get((self.kind, name)))

    def list(self, namespace: str) -> list[Mapping[str, Any]]:
        return [copy.deepcopy(o) for (kind, name), o in self.api.objects.items()
                if kind == self.kind and name not in self.hidden]
