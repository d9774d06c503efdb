"""Pod volumes as directories, placed where containers expect them (see :mod:`.container`).

  * ``emptyDir``: a directory under the pod's directory, removed with the pod.
  * ``configMap`` / ``secret`` / ``downwardAPI`` / ``projected``: files written from the API
    objects (``items``, ``defaultMode``, ``optional`` honoured) and refreshed by
    :func:`refresh` while the pod runs, so a changed ConfigMap shows in the mounted file, as
    with kubelet (a ``subPath`` mount is a snapshot, as with kubelet). A projected
    ``serviceAccountToken`` is a real token from the TokenRequest API, renewed at 80% of its
    life.
  * ``persistentVolumeClaim``: the bound PersistentVolume's ``hostPath`` directory, which
    outlives the pod (see :mod:`.provisioner`). An unbound claim makes the pod wait.

Ownership follows ``fsGroup`` like kubelet's: group-owned by it, setgid, group-writable.
"""

from __future__ import annotations

import base64
import json
import os
import time
from pathlib import Path
from typing import Any

from innodb_dev.nodeagent.rest import Rest

TOKEN_SECONDS = 3607


class VolumeNotReady(Exception):
    """A volume cannot be set up yet (missing object, unbound claim); the reason says which."""


def _write_atomic(path: Path, data: bytes, mode: int, gid: int | None) -> None:
    if path.exists() and path.read_bytes() == data and (path.stat().st_mode & 0o7777) == mode:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.chmod(mode)
    if gid is not None:
        os.chown(tmp, 0, gid)
    os.replace(tmp, path)


def _owned_dir(path: Path, gid: int | None) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    if gid is not None:
        os.chown(path, 0, gid)
        path.chmod(0o2775)
    else:
        path.chmod(0o777)
    return path


def _field(pod: dict[str, Any], path: str) -> str:
    meta = pod["metadata"]
    if path.startswith("metadata.labels[") or path.startswith("metadata.annotations["):
        key = path.split("[", 1)[1].rstrip("]").strip("'\"")
        return str((meta.get("labels" if "labels" in path else "annotations") or {}).get(key, ""))
    if path in ("metadata.labels", "metadata.annotations"):
        values = meta.get(path.split(".")[1]) or {}
        return "\n".join(f'{k}="{v}"' for k, v in sorted(values.items()))
    value: Any = {"metadata": meta, "spec": pod.get("spec", {}), "status": pod.get("status", {})}
    for part in path.split("."):
        value = value.get(part, "") if isinstance(value, dict) else ""
    return str(value)


class Volumes:
    """The volumes of one pod, under ``root``."""

    def __init__(self, rest: Rest, pod: dict[str, Any], root: Path) -> None:
        self._rest = rest
        self._pod = pod
        self.root = root
        self.namespace = pod["metadata"]["namespace"]
        self.fs_group: int | None = (pod["spec"].get("securityContext") or {}).get("fsGroup")
        self.paths: dict[str, Path] = {}
        self._token_expiry: dict[str, float] = {}

    async def setup(self) -> None:
        """Materialise every volume; raise :class:`VolumeNotReady` naming what is missing."""
        for volume in self._pod["spec"].get("volumes") or []:
            self.paths[volume["name"]] = await self._materialise(volume)

    async def refresh(self) -> None:
        for volume in self._pod["spec"].get("volumes") or []:
            if any(k in volume for k in ("configMap", "secret", "downwardAPI", "projected")):
                try:
                    await self._materialise(volume)
                except VolumeNotReady:
                    continue

    async def _materialise(self, volume: dict[str, Any]) -> Path:
        target = self.root / str(volume["name"])
        if "emptyDir" in volume:
            return _owned_dir(target, self.fs_group)
        if "persistentVolumeClaim" in volume:
            return await self._claim(volume["persistentVolumeClaim"]["claimName"])
        files = await self._files(volume)
        _owned_dir(target, self.fs_group)
        for rel, (data, mode) in files.items():
            _write_atomic(target / rel, data, mode, self.fs_group)
        return target

    async def _files(self, volume: dict[str, Any]) -> dict[str, tuple[bytes, int]]:
        if "configMap" in volume:
            return await self._object_files("configmaps", volume["configMap"], 0o644)
        if "secret" in volume:
            source = {**volume["secret"], "name": volume["secret"]["secretName"]}
            return await self._object_files("secrets", source, 0o644)
        if "downwardAPI" in volume:
            return self._downward(volume["downwardAPI"], 0o644)
        projected = volume["projected"]
        mode = projected.get("defaultMode", 0o644)
        files: dict[str, tuple[bytes, int]] = {}
        for source in projected.get("sources") or []:
            if "configMap" in source:
                files |= await self._object_files("configmaps", {**source["configMap"], "defaultMode": mode}, mode)
            elif "secret" in source:
                files |= await self._object_files("secrets", {**source["secret"], "defaultMode": mode}, mode)
            elif "downwardAPI" in source:
                files |= self._downward({**source["downwardAPI"], "defaultMode": mode}, mode)
            elif "serviceAccountToken" in source:
                files |= await self._token(volume["name"], source["serviceAccountToken"], mode)
        return files

    async def _object_files(self, kind: str, source: dict[str, Any], default: int) -> dict[str, tuple[bytes, int]]:
        obj = await self._rest.get_or_none(f"/api/v1/namespaces/{self.namespace}/{kind}/{source['name']}")
        if obj is None:
            if source.get("optional"):
                return {}
            raise VolumeNotReady(f"{kind[:-1]} {source['name']!r} not found")
        data = {k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()} if kind == "secrets" else \
            {k: v.encode() for k, v in (obj.get("data") or {}).items()} | \
            {k: base64.b64decode(v) for k, v in (obj.get("binaryData") or {}).items()}
        mode = source.get("defaultMode", default)
        items = source.get("items")
        if not items:
            return {key: (value, mode) for key, value in data.items()}
        files = {}
        for item in items:
            if item["key"] not in data:
                if source.get("optional"):
                    continue
                raise VolumeNotReady(f"{kind[:-1]} {source['name']!r} has no key {item['key']!r}")
            files[item["path"]] = (data[item["key"]], item.get("mode", mode))
        return files

    def _downward(self, source: dict[str, Any], default: int) -> dict[str, tuple[bytes, int]]:
        mode = source.get("defaultMode", default)
        return {item["path"]: (_field(self._pod, item["fieldRef"]["fieldPath"]).encode(), item.get("mode", mode))
                for item in source.get("items") or [] if "fieldRef" in item}

    async def _token(self, volume: str, source: dict[str, Any], mode: int) -> dict[str, tuple[bytes, int]]:
        path = self.root / volume / source["path"]
        if path.exists() and time.time() < self._token_expiry.get(volume, 0):
            return {source["path"]: (path.read_bytes(), mode)}
        meta, spec = self._pod["metadata"], self._pod["spec"]
        seconds = int(source.get("expirationSeconds", TOKEN_SECONDS))
        request = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {
            "audiences": [source["audience"]] if source.get("audience") else [],
            "expirationSeconds": seconds,
            "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": meta["name"], "uid": meta["uid"]}}}
        account = spec.get("serviceAccountName") or "default"
        answer = await self._rest.post(
            f"/api/v1/namespaces/{self.namespace}/serviceaccounts/{account}/token", request)
        self._token_expiry[volume] = time.time() + 0.8 * seconds
        return {source["path"]: (answer["status"]["token"].encode(), mode)}

    async def _claim(self, claim: str) -> Path:
        pvc = await self._rest.get_or_none(f"/api/v1/namespaces/{self.namespace}/persistentvolumeclaims/{claim}")
        if pvc is None:
            raise VolumeNotReady(f"persistentvolumeclaim {claim!r} not found")
        volume_name = (pvc.get("spec") or {}).get("volumeName")
        if not volume_name or (pvc.get("status") or {}).get("phase") != "Bound":
            raise VolumeNotReady(f"persistentvolumeclaim {claim!r} is not bound yet")
        pv = await self._rest.get(f"/api/v1/persistentvolumes/{volume_name}")
        host_path = ((pv.get("spec") or {}).get("hostPath") or {}).get("path")
        if not host_path:
            raise VolumeNotReady(f"persistentvolume {volume_name!r} has no hostPath the agent can mount")
        return _owned_dir(Path(host_path), self.fs_group)


def describe(paths: dict[str, Path]) -> str:
    return json.dumps({k: str(v) for k, v in paths.items()})
