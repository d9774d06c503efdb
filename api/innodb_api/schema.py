"""Small builders for structural OpenAPI v3 schemas, as CustomResourceDefinitions need them.

Contract:
  * Every builder returns a fresh plain ``dict`` (JSON-ready) and requires a ``description``:
    ``kubectl explain`` shows it, and ``docs/crd-reference.md`` is generated from it. Ranges and
    defaults are appended to the description, since ``kubectl explain`` prints neither.
  * The output is structural in the Kubernetes sense: every node has a ``type``; free-form
    fragments are explicit (:func:`free_form`); lists keyed by a field are list-maps.
  * :func:`unchanged` writes the CEL transition rule that keeps an optional field fixed after
    creation (present or absent, and equal), for use on the parent object.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

Schema = dict[str, Any]


def _described(description: str, node: Schema) -> Schema:
    if not description.strip():
        raise ValueError("every schema node needs a description")
    return {"description": description, **node}


def _with_limits(description: str, *, default: Any = None, minimum: int | None = None,
                 maximum: int | None = None) -> str:
    """``description`` plus the range and default, which ``kubectl explain`` does not print."""
    notes = []
    if minimum is not None and maximum is not None:
        notes.append(f"Range: {minimum} to {maximum}.")
    elif minimum is not None:
        notes.append(f"Minimum: {minimum}.")
    elif maximum is not None:
        notes.append(f"Maximum: {maximum}.")
    if default is not None:
        notes.append(f"Default: {json.dumps(default) if isinstance(default, bool) else default}.")
    return " ".join([description, *notes])


def _put(node: Schema, key: str, value: Any) -> None:
    if value is not None:
        node[key] = value


def string(description: str, *, default: str | None = None, enum: Sequence[str] | None = None,
           pattern: str | None = None, min_length: int | None = None, max_length: int | None = None,
           format: str | None = None) -> Schema:
    """A string, optionally constrained."""
    node: Schema = {"type": "string"}
    _put(node, "format", format)
    _put(node, "enum", list(enum) if enum is not None else None)
    _put(node, "pattern", pattern)
    _put(node, "minLength", min_length)
    _put(node, "maxLength", max_length)
    _put(node, "default", default)
    return _described(_with_limits(description, default=default), node)


def integer(description: str, *, default: int | None = None, minimum: int | None = None,
            maximum: int | None = None, format: str | None = None) -> Schema:
    """An integer, optionally bounded (inclusive)."""
    node: Schema = {"type": "integer"}
    _put(node, "format", format)
    _put(node, "minimum", minimum)
    _put(node, "maximum", maximum)
    _put(node, "default", default)
    return _described(_with_limits(description, default=default, minimum=minimum, maximum=maximum), node)


def boolean(description: str, *, default: bool | None = None) -> Schema:
    node: Schema = {"type": "boolean"}
    _put(node, "default", default)
    return _described(_with_limits(description, default=default), node)


def obj(description: str, properties: Mapping[str, Schema], *, required: Iterable[str] = (),
        rules: Sequence[Schema] = (), default: Mapping[str, Any] | None = None) -> Schema:
    """An object with known properties; ``rules`` are CEL ``x-kubernetes-validations``."""
    required = list(required)
    unknown = [name for name in required if name not in properties]
    if unknown:
        raise ValueError(f"required fields without a schema: {unknown}")
    node: Schema = {"type": "object"}
    if required:
        node["required"] = required
    node["properties"] = dict(properties)
    if rules:
        node["x-kubernetes-validations"] = list(rules)
    if default is not None:
        node["default"] = dict(default)
    return _described(description, node)


def string_map(description: str) -> Schema:
    """A map of string to string (labels, annotations)."""
    return _described(description, {"type": "object", "additionalProperties": {"type": "string"}})


def free_form(description: str) -> Schema:
    """An object the API server stores as given (a Kubernetes fragment the operator merges)."""
    return _described(description, {"type": "object", "x-kubernetes-preserve-unknown-fields": True})


def list_map(description: str, items: Schema, *, keys: Sequence[str], max_items: int | None = None) -> Schema:
    """A list of objects keyed by ``keys``: the API server rejects duplicate keys and
    server-side apply merges items by key."""
    missing = [k for k in keys if k not in items.get("required", []) and "default" not in items["properties"][k]]
    if missing:
        raise ValueError(f"list-map keys must be required or defaulted: {missing}")
    node: Schema = {"type": "array", "items": items, "x-kubernetes-list-type": "map",
                    "x-kubernetes-list-map-keys": list(keys)}
    _put(node, "maxItems", max_items)
    return _described(description, node)


def rule(expression: str, message: str, *, field_path: str | None = None, reason: str | None = None) -> Schema:
    """One CEL validation rule; ``field_path`` (e.g. ``.baseServerId``) names the field in errors."""
    node: Schema = {"rule": expression, "message": message}
    _put(node, "fieldPath", field_path)
    _put(node, "reason", reason)
    return node


def unchanged(field: str) -> str:
    """CEL (a transition rule on the parent): ``field`` is neither added, removed nor changed."""
    return (f"has(self.{field}) == has(oldSelf.{field}) && "
            f"(!has(self.{field}) || self.{field} == oldSelf.{field})")


def walk(schema: Schema, path: str = "") -> Iterable[tuple[str, Schema]]:
    """Every node below ``schema`` as ``(path, node)``, depth first; list items add ``[]``."""
    for name, child in (schema.get("properties") or {}).items():
        child_path = f"{path}.{name}" if path else name
        yield child_path, child
        if child.get("type") == "array":
            yield from walk(child["items"], f"{child_path}[]")
        else:
            yield from walk(child, child_path)
