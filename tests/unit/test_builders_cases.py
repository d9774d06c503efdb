"""Shared material for the builder tests: the clusters, YAML rendering and a structural diff.

The two clusters are the journey's (``mycluster`` in ``mysql-cluster``) and a customised one
(``orders`` in ``payments``). Other ``test_builders_*`` modules import from here.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

import yaml

from innodb_api.types import Cluster
from innodb_operator.builders import REQUIRED_PASSWORD_KEYS, desired_children
from innodb_operator.builders.secrets import OPTIONAL_PASSWORD_KEYS

OPERATOR_IMAGE = "ghcr.io/example/innodb-operator:0.1.0"
PASSWORDS = {key: f"test-{key}-Zq8!x" for key in REQUIRED_PASSWORD_KEYS + OPTIONAL_PASSWORD_KEYS}

JOURNEY: dict[str, Any] = {
    "apiVersion": "mysql.innodb-operator.dev/v1alpha1",
    "kind": "InnoDBCluster",
    "metadata": {"name": "mycluster", "namespace": "mysql-cluster", "generation": 1,
                 "uid": "6b1f3c2e-8d4a-4e9b-9a51-0c7d2f1e3a01"},
    "spec": {
        "secretName": "mycluster-cluster-secret",
        "tlsUseSelfSigned": True,
        "instances": 3,
        "router": {"instances": 1},
        "mycnf": "[mysqld]\nmax_connections=300\n",
        "backupProfiles": [{
            "name": "dump-instance-profile-pvc",
            "dumpInstance": {
                "dumpOptions": {"excludeTables": ["employees.salaries"]},
                "storage": {"persistentVolumeClaim": {"claimName": "backup-volume-claim-1"}},
            },
        }],
        "backupSchedules": [
            {"name": "schedule-ref", "schedule": "*/30 * * * *",
             "backupProfileName": "dump-instance-profile-pvc", "enabled": True},
            {"name": "schedule-disabled", "schedule": "0 3 * * *",
             "backupProfileName": "dump-instance-profile-pvc", "enabled": False},
        ],
    },
}

CUSTOM: dict[str, Any] = {
    "apiVersion": "mysql.innodb-operator.dev/v1alpha1",
    "kind": "InnoDBCluster",
    "metadata": {"name": "orders", "namespace": "payments", "generation": 4,
                 "uid": "0d2c9a77-51e4-4f0b-8a3c-5e6f7a8b9c02"},
    "spec": {
        "secretName": "orders-root",
        "instances": 5,
        "groupMode": "MultiPrimary",
        "imageRepository": "registry.example.com/mysql",
        "imagePullPolicy": "Always",
        "imagePullSecrets": [{"name": "regcred"}],
        "serviceAccountName": "orders-db",
        "baseServerId": 2000,
        "mycnf": "[mysqld]\ninnodb_buffer_pool_size=3G\nbinlog_expire_logs_seconds=604800\n",
        "podLabels": {"team": "payments", "app.kubernetes.io/name": "not-ours"},
        "podAnnotations": {"prometheus.io/scrape": "true"},
        "podSpec": {
            "priorityClassName": "db-critical",
            "nodeSelector": {"node-role.example.com/database": "true"},
            "containers": [
                {"name": "mysql",
                 "resources": {"requests": {"cpu": "2", "memory": "4Gi"}, "limits": {"memory": "4Gi"}},
                 "env": [{"name": "TZ", "value": "UTC"}]},
                {"name": "log-shipper", "image": "fluent/fluent-bit:3.2",
                 "volumeMounts": [{"name": "shipper-config", "mountPath": "/fluent-bit/etc"}]},
            ],
            "volumes": [{"name": "shipper-config", "configMap": {"name": "orders-fluent-bit"}}],
        },
        "service": {"type": "NodePort",
                    "annotations": {"example.com/owner": "payments", "example.com/tier": "db"}},
        "datadirVolumeClaimTemplate": {
            "storageClassName": "fast-ssd",
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": "50Gi"}},
        },
        "router": {
            "instances": 2,
            "version": "9.7.1",
            "podSpec": {"containers": [{"name": "router", "resources": {"limits": {"cpu": "500m"}}}]},
            "podLabels": {"team": "payments"},
            "podAnnotations": {"example.com/router": "yes"},
        },
        "backupProfiles": [{"name": "nightly", "dumpInstance": {
            "storage": {"persistentVolumeClaim": {"claimName": "orders-backups"}}}}],
        "metrics": {"enable": True, "webPort": 9200},
        "backupSchedules": [
            {"name": "nightly-full-dump-to-the-long-term-retention-volume", "schedule": "15 1 * * *",
             "backupProfileName": "nightly", "timeZone": "Europe/Berlin"},
        ],
    },
}

CASES: dict[str, dict[str, Any]] = {"journey": JOURNEY, "custom": CUSTOM}


def cluster_of(raw: Mapping[str, Any]) -> Cluster:
    return Cluster.from_object(copy.deepcopy(dict(raw)))


def children_of(raw: Mapping[str, Any]) -> list[dict[str, Any]]:
    return desired_children(cluster_of(raw), passwords=PASSWORDS, operator_image=OPERATOR_IMAGE)


def with_spec(raw: Mapping[str, Any], **changes: Any) -> dict[str, Any]:
    """A copy of ``raw`` with top-level spec fields replaced."""
    out = copy.deepcopy(dict(raw))
    out["spec"].update(copy.deepcopy(changes))
    return out


# --- YAML ----------------------------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def to_yaml(obj: Any) -> str:
    return yaml.dump(obj, Dumper=_Dumper, sort_keys=True, default_flow_style=False, width=4096, allow_unicode=True)


def golden_file_name(obj: Mapping[str, Any]) -> str:
    return f"{str(obj['kind']).lower()}-{obj['metadata']['name']}.yaml"


def plain(obj: Any) -> Any:
    """The object as JSON would carry it."""
    return json.loads(json.dumps(obj))


# --- structural diff -----------------------------------------------------------------------

Path = tuple[str, ...]


def _list_keys(items: list[Any]) -> list[str]:
    for key in ("name", "mountPath"):
        if all(isinstance(i, dict) and key in i for i in items):
            values = [str(i[key]) for i in items]
            if len(set(values)) == len(values):
                return [f"[{key}={v}]" for v in values]
    return [f"[{n}]" for n in range(len(items))]


def flatten(obj: Any, prefix: Path = ()) -> dict[Path, Any]:
    """Leaf values by path; list items of dicts are addressed by name (or mountPath)."""
    if isinstance(obj, dict) and obj:
        out: dict[Path, Any] = {}
        for key, value in obj.items():
            out.update(flatten(value, (*prefix, str(key))))
        return out
    if isinstance(obj, list) and obj:
        out = {}
        for key, value in zip(_list_keys(obj), obj, strict=True):
            out.update(flatten(value, (*prefix, key)))
        return out
    return {prefix: obj}


def by_identity(children: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(c["kind"], c["metadata"]["name"]): c for c in children}


def structural_diff(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> set[tuple[str, str, Path]]:
    """Every (kind, name, path) that differs; a child added or removed shows with path ()."""
    old, new = by_identity(before), by_identity(after)
    changed: set[tuple[str, str, Path]] = {(*ident, ()) for ident in old.keys() ^ new.keys()}
    for ident in old.keys() & new.keys():
        a, b = flatten(old[ident]), flatten(new[ident])
        changed |= {(*ident, path) for path in a.keys() | b.keys() if a.get(path, ...) != b.get(path, ...)}
    return changed


def test_cases_parse_with_their_defaults() -> None:
    journey, custom = cluster_of(JOURNEY), cluster_of(CUSTOM)
    assert (journey.spec.instances, journey.spec.router.instances, journey.spec.version) == (3, 1, "9.7.4")
    assert (custom.spec.instances, custom.spec.group_mode, custom.spec.router_version) == (5, "MultiPrimary", "9.7.1")


def test_flatten_addresses_named_items_by_name() -> None:
    flat = flatten({"a": [{"name": "x", "v": 1}, {"name": "y", "v": 2}], "m": [{"mountPath": "/p", "name": "d"},
                                                                           {"mountPath": "/q", "name": "d"}]})
    assert flat == {("a", "[name=x]", "name"): "x", ("a", "[name=x]", "v"): 1,
                    ("a", "[name=y]", "name"): "y", ("a", "[name=y]", "v"): 2,
                    ("m", "[mountPath=/p]", "mountPath"): "/p", ("m", "[mountPath=/p]", "name"): "d",
                    ("m", "[mountPath=/q]", "mountPath"): "/q", ("m", "[mountPath=/q]", "name"): "d"}
