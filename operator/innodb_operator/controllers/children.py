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
  * :meth:`ChildApplier.ensure_all` applies in order every child that needs a write. Changes
    to existing children are all or nothing for what the API server rejects as invalid: each
    is first applied as a dry run, and only when all pass are they applied for real. New
    children are not dry-run (one may need another to exist first: a RoleBinding's Role), so
    a rejected creation leaves the children created before it in place. A 422 (dry run or
    real) raises :class:`Rejected` naming the child and the API server's field errors without
    the rejected values (:attr:`~innodb_operator.kube.errors.Invalid.field_errors`). A
    rejection is remembered per (desired object, live resourceVersion): the same invalid
    object is not sent again until either changes.
  * Secrets are compared and applied through ``data`` (base64), never ``stringData``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from innodb_operator.kube import errors
from innodb_operator.kube.client import KubeClient
from innodb_operator.kube.resources import ResourceType

Child = tuple[ResourceType, Mapping[str, Any], Mapping[str, Any] | None]
"""(resource type, desired object, live object or None)."""

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


class Rejected(Exception):
    """The API server refused a child as invalid (422); nothing was written in that pass."""

    def __init__(self, kind: str, name: str, message: str) -> None:
        super().__init__(f"{kind} {name}: {message}")
        self.kind = kind
        self.name = name
        self.message = message


Slot = tuple[str, str, str]


class ChildApplier:
    """Server-side apply of children, skipping writes that would change nothing."""

    def __init__(self, client: KubeClient) -> None:
        self._client = client
        self._applied: dict[Slot, tuple[str, str]] = {}
        self._rejected: dict[Slot, tuple[str, str, str]] = {}  # slot -> (fingerprint, live version, message)
        self._owned: dict[str, set[Slot]] = {}  # owner key -> the slots its children use

    async def ensure(self, rt: ResourceType, desired: Mapping[str, Any], live: Mapping[str, Any] | None) -> bool:
        """Make ``live`` hold ``desired``; True when a write was made."""
        desired = _prepared(rt, desired)
        if not self._needs_write(rt, desired, live):
            return False
        await self._apply(rt, desired)
        return True

    async def ensure_all(self, children: Sequence[Child], *, owner: str = "") -> list[Child]:
        """Apply, in order, every child its live object does not cover; the ones written.

        Raises :class:`Rejected` when the API server refuses one; when it refuses a change to
        an existing child, that happens in the dry run, before anything is written. ``owner``
        (the cluster's key) lets :meth:`forget_owner` drop what is remembered for them.
        """
        if owner:
            self._owned.setdefault(owner, set()).update(_slot(rt, desired) for rt, desired, _ in children)
        pending = [(rt, desired, live) for rt, desired, live in children
                   if self._needs_write(rt, _prepared(rt, desired), live)]
        for rt, desired, live in pending:  # a known rejection costs no request at all
            self._raise_if_rejected(rt, _prepared(rt, desired), live)
        for rt, desired, live in pending:
            if live is not None:
                await self._dry_run(rt, _prepared(rt, desired), live)
        for rt, desired, live in pending:
            prepared = _prepared(rt, desired)
            try:
                await self._apply(rt, prepared)
            except errors.Invalid as exc:
                raise self._reject(rt, prepared, live, exc) from exc
        return pending

    def forget(self, rt: ResourceType, namespace: str, name: str) -> None:
        self._applied.pop((rt.name, namespace, name), None)
        self._rejected.pop((rt.name, namespace, name), None)

    def forget_owner(self, owner: str) -> None:
        """The owner is gone: drop what was remembered for all its children."""
        for slot in self._owned.pop(owner, set()):
            self._applied.pop(slot, None)
            self._rejected.pop(slot, None)

    # --- internals -----------------------------------------------------------------

    def _needs_write(self, rt: ResourceType, desired: Mapping[str, Any], live: Mapping[str, Any] | None) -> bool:
        if live is None:
            return True
        remembered = self._applied.get(_slot(rt, desired))
        return not covers(live, desired) and remembered != (_fingerprint(desired), _version(live))

    def _raise_if_rejected(self, rt: ResourceType, desired: Mapping[str, Any], live: Mapping[str, Any] | None) -> None:
        remembered = self._rejected.get(_slot(rt, desired))
        if remembered is not None and remembered[:2] == (_fingerprint(desired), _version(live)):
            raise Rejected(rt.kind, desired["metadata"]["name"], remembered[2])

    async def _dry_run(self, rt: ResourceType, desired: Mapping[str, Any], live: Mapping[str, Any] | None) -> None:
        try:
            await self._client.apply(rt, dict(desired), desired["metadata"].get("namespace"), dry_run=True)
        except errors.Invalid as exc:
            raise self._reject(rt, desired, live, exc) from exc
        self._rejected.pop(_slot(rt, desired), None)

    async def _apply(self, rt: ResourceType, desired: Mapping[str, Any]) -> None:
        result = await self._client.apply(rt, dict(desired), desired["metadata"].get("namespace"))
        self._applied[_slot(rt, desired)] = (_fingerprint(desired), _version(result))

    def _reject(self, rt: ResourceType, desired: Mapping[str, Any], live: Mapping[str, Any] | None,
                exc: errors.KubeError) -> Rejected:
        message = exc.field_errors if isinstance(exc, errors.Invalid) else exc.server_message
        self._rejected[_slot(rt, desired)] = (_fingerprint(desired), _version(live), message)
        return Rejected(rt.kind, desired["metadata"]["name"], message)


def _prepared(rt: ResourceType, desired: Mapping[str, Any]) -> Mapping[str, Any]:
    return secret_as_data(desired) if rt.kind == "Secret" else desired


def _slot(rt: ResourceType, desired: Mapping[str, Any]) -> Slot:
    meta = desired["metadata"]
    return rt.name, meta.get("namespace", ""), meta["name"]


def _version(obj: Mapping[str, Any] | None) -> str:
    return str(((obj or {}).get("metadata") or {}).get("resourceVersion", ""))
