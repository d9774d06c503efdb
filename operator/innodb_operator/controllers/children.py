"""Apply desired child objects, writing only when something differs.

Contract:
  * :func:`covers` says whether a live object already holds every field the desired one
    sets (the API server's defaults and other managers' fields are ignored; empty
    values match missing ones; Kubernetes quantities compare by value, so ``0.5`` equals
    ``500m``).
  * :meth:`ChildApplier.ensure` server-side-applies a child (one field manager, forced)
    only when the live object does not cover it. It remembers the resourceVersion each
    apply produced: if the API server normalises a field in a way :func:`covers` does not
    know, the same desired object is not re-applied to the same live version, so an idle
    cluster never loops on writes. Someone else's change (a new resourceVersion) is
    checked again and repaired.
  * Secrets are compared and applied through ``data`` (base64), never ``stringData``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from innodb_operator.kube.client import KubeClient
from innodb_operator.kube.resources import ResourceType

_QUANTITY = re.compile(r"^([+-]?[0-9.]+)([eE][+-]?[0-9]+|[numkMGTPE]|[KMGTPE]i)?$")
_SUFFIX = {
    "": Decimal(1), "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "k": Decimal(1000),
    "M": Decimal(10) ** 6, "G": Decimal(10) ** 9, "T": Decimal(10) ** 12, "P": Decimal(10) ** 15,
    "E": Decimal(10) ** 18, "Ki": Decimal(2) ** 10, "Mi": Decimal(2) ** 20, "Gi": Decimal(2) ** 30,
    "Ti": Decimal(2) ** 40, "Pi": Decimal(2) ** 50, "Ei": Decimal(2) ** 60,
}


def _quantity(value: str) -> Decimal | None:
    match = _QUANTITY.match(value)
    if not match:
        return None
    number, suffix = match.group(1), match.group(2) or ""
    try:
        if suffix[:1] in ("e", "E"):
            return Decimal(number + suffix)
        return Decimal(number) * _SUFFIX[suffix]
    except (InvalidOperation, KeyError):
        return None


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, (dict, list, str)) and len(value) == 0)


def covers(live: Any, desired: Any) -> bool:
    """True when ``live`` already holds everything ``desired`` sets."""
    if isinstance(desired, Mapping):
        if not isinstance(live, Mapping):
            return _empty(desired) and _empty(live)
        return all(
            (_empty(value) and _empty(live.get(key))) or (key in live and covers(live[key], value))
            for key, value in desired.items()
        )
    if isinstance(desired, list):
        if not isinstance(live, list):
            return not desired and _empty(live)
        return len(live) == len(desired) and all(covers(lv, dv) for lv, dv in zip(live, desired, strict=True))
    if isinstance(desired, str) and isinstance(live, str) and desired != live:
        a, b = _quantity(desired), _quantity(live)
        return a is not None and a == b
    if isinstance(desired, bool) or isinstance(live, bool):
        return desired is live
    return bool(desired == live)


def secret_as_data(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A Secret with ``stringData`` folded into base64 ``data`` (how the API server stores it)."""
    out = dict(obj)
    string_data = out.pop("stringData", None) or {}
    if string_data:
        data = dict(out.get("data") or {})
        data.update({k: base64.b64encode(str(v).encode()).decode() for k, v in string_data.items()})
        out["data"] = data
    return out


def _fingerprint(obj: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


class ChildApplier:
    """Server-side apply of children, skipping writes that would change nothing."""

    def __init__(self, client: KubeClient) -> None:
        self._client = client
        self._applied: dict[tuple[str, str, str], tuple[str, str]] = {}

    async def ensure(self, rt: ResourceType, desired: Mapping[str, Any], live: Mapping[str, Any] | None) -> bool:
        """Make ``live`` hold ``desired``; True when a write was made."""
        if rt.kind == "Secret":
            desired = secret_as_data(desired)
        meta = desired["metadata"]
        slot = (rt.name, meta.get("namespace", ""), meta["name"])
        fingerprint = _fingerprint(desired)
        if live is not None:
            live_version = str(live.get("metadata", {}).get("resourceVersion", ""))
            if covers(live, desired) or self._applied.get(slot) == (fingerprint, live_version):
                return False
        result = await self._client.apply(rt, dict(desired), meta.get("namespace"))
        self._applied[slot] = (fingerprint, str(result.get("metadata", {}).get("resourceVersion", "")))
        return True

    def forget(self, rt: ResourceType, namespace: str, name: str) -> None:
        self._applied.pop((rt.name, namespace, name), None)
