"""The ``<name>-privsecrets`` Secret: the operator's own MySQL accounts.

Contract:
  * Usernames are fixed (``innodbop-admin``, ``innodbop-router``, ``innodbop-backup``,
    ``innodbop-repl``, ``innodbop-metrics``); passwords are generated at the edge and passed in,
    under the keys of :data:`REQUIRED_PASSWORD_KEYS`, plus :data:`OPTIONAL_PASSWORD_KEYS` (the
    exporter's: nothing in the group depends on it, so it may be generated at any time). A
    missing or unknown key is a ``ValueError`` whose message names keys, never values.
  * The Secret is written as ``data`` (base64), the form the API server stores, so the
    controller can compare desired and observed without a spurious write;
    :func:`passwords_from_secret` reads the passwords back so they are generated only once
    (and, once the group exists, never again: lost ones are recovered, not regenerated).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping
from typing import Any

from innodb_api.types import Cluster

from . import labels, names
from .meta import Obj, new_object

ADMIN_USERNAME = "innodbop-admin"
ROUTER_USERNAME = "innodbop-router"
BACKUP_USERNAME = "innodbop-backup"
REPLICATION_USERNAME = "innodbop-repl"
METRICS_USERNAME = "innodbop-metrics"

ADMIN_USER_KEY, ADMIN_PASSWORD_KEY = "adminUsername", "adminPassword"
ROUTER_USER_KEY, ROUTER_PASSWORD_KEY = "routerUsername", "routerPassword"
BACKUP_USER_KEY, BACKUP_PASSWORD_KEY = "backupUsername", "backupPassword"
REPLICATION_USER_KEY, REPLICATION_PASSWORD_KEY = "replicationUsername", "replicationPassword"
METRICS_USER_KEY, METRICS_PASSWORD_KEY = "metricsUsername", "metricsPassword"

USERNAMES: Mapping[str, str] = {
    ADMIN_USER_KEY: ADMIN_USERNAME,
    BACKUP_USER_KEY: BACKUP_USERNAME,
    METRICS_USER_KEY: METRICS_USERNAME,
    REPLICATION_USER_KEY: REPLICATION_USERNAME,
    ROUTER_USER_KEY: ROUTER_USERNAME,
}

ACCOUNTS: Mapping[str, str] = {
    ADMIN_USERNAME: ADMIN_PASSWORD_KEY,
    BACKUP_USERNAME: BACKUP_PASSWORD_KEY,
    REPLICATION_USERNAME: REPLICATION_PASSWORD_KEY,
    ROUTER_USERNAME: ROUTER_PASSWORD_KEY,
}
"""Each account's user name -> the key of its password."""

REQUIRED_PASSWORD_KEYS: tuple[str, ...] = (
    ADMIN_PASSWORD_KEY, BACKUP_PASSWORD_KEY, REPLICATION_PASSWORD_KEY, ROUTER_PASSWORD_KEY,
)
OPTIONAL_PASSWORD_KEYS: tuple[str, ...] = (METRICS_PASSWORD_KEY,)
"""Kept when present, generated when missing whatever the group's history (see the contract)."""


def _b64(value: str) -> str:
    return base64.b64encode(value.encode()).decode()


def build_private_secret(cluster: Cluster, passwords: Mapping[str, str]) -> Obj:
    keys = REQUIRED_PASSWORD_KEYS + OPTIONAL_PASSWORD_KEYS
    missing = sorted(k for k in REQUIRED_PASSWORD_KEYS if not passwords.get(k))
    unknown = sorted(set(passwords) - set(keys))
    if missing or unknown:
        raise ValueError(f"private secret passwords: missing {missing}, unknown {unknown}")
    values = {**USERNAMES, **{k: passwords[k] for k in keys if passwords.get(k)}}
    name = names.private_secret_name(cluster.name)
    secret = new_object("v1", "Secret", cluster, name, labels.labels(cluster, "database"))
    secret["type"] = "Opaque"
    secret["data"] = {k: _b64(values[k]) for k in sorted(values)}
    return secret


def passwords_from_secret(secret: Mapping[str, Any] | None) -> dict[str, str]:
    """The passwords an existing private Secret holds (``data``, or ``stringData`` if present).

    A key whose value is empty or does not decode (not base64, not UTF-8) is left out, like
    a missing one: the caller decides what a lost password means.
    """
    return decoded(secret, REQUIRED_PASSWORD_KEYS + OPTIONAL_PASSWORD_KEYS)


def decoded(secret: Mapping[str, Any] | None, keys: Iterable[str]) -> dict[str, str]:
    """The non-empty values of ``keys`` in any Secret (``stringData`` over base64 ``data``);
    a value that does not decode is left out."""
    found: dict[str, str] = {}
    data = (secret or {}).get("data") or {}
    string_data = (secret or {}).get("stringData") or {}
    for key in keys:
        if string_data.get(key):
            found[key] = str(string_data[key])
        elif data.get(key):
            try:
                value = base64.b64decode(str(data[key]), validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                continue
            if value:
                found[key] = value
    return found


def complete(passwords: Mapping[str, str]) -> bool:
    """Whether every required password is there."""
    return all(passwords.get(key) for key in REQUIRED_PASSWORD_KEYS)
