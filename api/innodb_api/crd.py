"""CustomResourceDefinitions for ``InnoDBCluster`` and ``MySQLBackup``, generated in Python.

Contract:
  * :func:`all_crds` returns both CRDs (``apiextensions.k8s.io/v1``) with structural schemas:
    every field typed and described (``kubectl explain`` is the manual), ranges, enums,
    patterns and defaults the API server applies, and CEL rules for what must not change
    after creation. Spec field names are exactly those :mod:`innodb_api.types` parses.
  * What a schema cannot express (the Secret, ``mycnf`` content, references between
    profiles and schedules) is checked by :mod:`innodb_api.validation`.
  * ``python -m innodb_api.crd [DIR]`` writes one YAML file per CRD (default
    ``manifests/crds``); ``--docs PATH`` writes the field reference (``docs/crd-reference.md``).
    Unit tests fail when the committed files differ from what this module generates.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, get_args

import yaml

from innodb_api import (
    API_VERSION,
    GROUP,
    INNODBCLUSTER_KIND,
    INNODBCLUSTER_PLURAL,
    MYSQLBACKUP_KIND,
    MYSQLBACKUP_PLURAL,
    VERSION,
    validation,
)
from innodb_api import types as t
from innodb_api.schema import (
    Schema,
    boolean,
    free_form,
    integer,
    list_map,
    obj,
    rule,
    string,
    string_map,
    unchanged,
    walk,
)

VERSION_PATTERN = r"^\d+\.\d+\.\d+$"
CLUSTER_NAME_MAX_LENGTH = 40
"""Child names add suffixes (``-instances``, ``-router-<hash>``) and must stay DNS labels."""

MYCNF_MAX_LENGTH = 65536
CONDITION_TYPE_PATTERN = (r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
                          r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$")
CONDITION_REASON_PATTERN = r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"

DATADIR_IMMUTABLE = ("datadirVolumeClaimTemplate cannot change after the cluster is created (a StatefulSet's "
                     "volume claim templates are fixed): restore the previous value, or create a new cluster "
                     "with the new template and seed it from a backup (initDB)")
BASE_SERVER_ID_IMMUTABLE = ("baseServerId cannot change after the cluster is created (members keep their "
                            "server_id in the group and the binary logs): restore the previous value")
BACKUP_PROFILE_CHOICE = ("set exactly one of backupProfileName (a profile of the cluster) or backupProfile "
                         "(an inline profile)")
BACKUP_SPEC_IMMUTABLE = ("clusterName, backupProfileName and backupProfile cannot change once the backup exists: "
                         "create a new MySQLBackup instead")
INITDB_CHOICE = "initDB seeds from one source: set either dump or clone, not both"
METRICS_PORT_TAKEN = ("metrics.webPort must differ from the ports mysqld listens on in the pod "
                      "(3306, 33060, 33061, 33062): choose another, e.g. the default 9104")


# -- shared pieces -----------------------------------------------------------------------------

def _storage(description: str, claim: str) -> Schema:
    return obj(description, {
        "persistentVolumeClaim": obj(f"{claim} It must exist in the cluster's namespace.", {
            "claimName": string("Name of the PersistentVolumeClaim.", min_length=1),
        }, required=["claimName"]),
    }, required=["persistentVolumeClaim"])


def _dump_instance() -> Schema:
    return obj("A logical dump of the whole instance (all user schemas), taken from a secondary when one is "
               "online.", {
                   "dumpOptions": free_form("Options for the dump (for example excludeTables), passed through "
                                            "as given."),
                   "storage": _storage("Where dumps are written: one directory per backup.",
                                       "The PersistentVolumeClaim dumps are written to."),
               }, required=["storage"])


def _profile_properties() -> dict[str, Schema]:
    return {"dumpInstance": _dump_instance()}


def _conditions(types: str) -> Schema:
    item = obj("One aspect of the object's state, in the standard Kubernetes condition shape.", {
        "type": string("Condition type in CamelCase, e.g. Ready, Available, Progressing, Degraded, SpecValid.",
                       max_length=316, pattern=CONDITION_TYPE_PATTERN),
        "status": string("True, False or Unknown.", enum=["True", "False", "Unknown"]),
        "observedGeneration": integer("The metadata.generation this condition was computed from.", minimum=0,
                                      format="int64"),
        "lastTransitionTime": string("When status last changed.", format="date-time"),
        "reason": string("Machine-readable CamelCase reason for the last transition.", min_length=1,
                         max_length=1024, pattern=CONDITION_REASON_PATTERN),
        "message": string("What is going on, or what must be fixed, for a person.", max_length=32768),
    }, required=["type", "status", "lastTransitionTime", "reason", "message"])
    return list_map(f"Conditions, at most one per type: {types}", item, keys=["type"])


def _crd(*, kind: str, plural: str, short_names: list[str], description: str, spec: Schema, status: Schema,
         columns: list[dict[str, Any]], metadata: Schema | None = None) -> dict[str, Any]:
    properties: dict[str, Schema] = {}
    if metadata is not None:
        properties["metadata"] = metadata
    properties["spec"] = spec
    properties["status"] = status
    root = obj(description, properties, required=["spec"])
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": plural,
                "singular": kind.lower(),
                "shortNames": short_names,
                "categories": ["mysql"],
            },
            "versions": [{
                "name": VERSION,
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "additionalPrinterColumns": columns,
                "schema": {"openAPIV3Schema": root},
            }],
        },
    }


def _column(name: str, type_: str, path: str, description: str, priority: int = 0) -> dict[str, Any]:
    column: dict[str, Any] = {"name": name, "type": type_, "jsonPath": path, "description": description}
    if priority:
        column["priority"] = priority
    return column


_AGE = {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}


# -- InnoDBCluster --------------------------------------------------------------------------------

def cluster_spec_schema() -> Schema:
    """``InnoDBCluster.spec``."""
    return obj("The desired cluster. Field names follow the MySQL Operator's v2 schema.", {
        "instances": integer("Number of MySQL server instances (Group Replication members). The group needs "
                             "3 to survive the loss of one member.", default=t.DEFAULT_INSTANCES,
                             minimum=t.MIN_INSTANCES, maximum=t.MAX_INSTANCES),
        "router": obj("MySQL Router, which routes clients to the primary (port 6446) or the secondaries (6447).", {
            "instances": integer("Number of MySQL Router pods; 0 runs none.", default=t.DEFAULT_ROUTER_INSTANCES,
                                 minimum=0),
            "version": string("MySQL Router version, e.g. 9.7.0. Defaults to the server version.",
                              pattern=VERSION_PATTERN),
            "podSpec": free_form("Merged into the router pods' spec (resources, affinity, tolerations, ...)."),
            "podLabels": string_map("Extra labels for the router pods."),
            "podAnnotations": string_map("Extra annotations for the router pods."),
        }, default={}),
        "secretName": string("Name of a Secret in the cluster's namespace holding the root account: key "
                             "rootPassword (required), rootUser (default root) and rootHost (default %).",
                             min_length=1),
        "version": string("MySQL server version, e.g. 9.7.0. Changing it restarts the members one at a time "
                          "on the new image, secondaries first; a downgrade, or an upgrade past the next LTS "
                          "series, is refused (UnsupportedVersionChange).",
                          default=t.DEFAULT_VERSION, pattern=VERSION_PATTERN),
        "imageRepository": string(f"Registry and path the server and router images are pulled from "
                                  f"({t.SERVER_IMAGE_NAME} and {t.ROUTER_IMAGE_NAME}).",
                                  default=t.DEFAULT_IMAGE_REPOSITORY, min_length=1),
        "imagePullPolicy": string("When the kubelet pulls images.", enum=list(get_args(t.PullPolicy)),
                                  default="IfNotPresent"),
        "imagePullSecrets": list_map("Secrets for pulling images from a private registry.", obj(
            "A reference to a docker-registry Secret.",
            {"name": string("Name of the Secret.", min_length=1)}, required=["name"]), keys=["name"]),
        "serviceAccountName": string("ServiceAccount the server pods run as; the operator creates one when "
                                     "unset."),
        "baseServerId": integer("server_id of member 0; member N gets baseServerId + N. Fixed after creation.",
                                default=t.DEFAULT_BASE_SERVER_ID, minimum=0, maximum=t.MAX_BASE_SERVER_ID,
                                format="int64"),
        "tlsUseSelfSigned": boolean("Let mysqld generate self-signed certificates for client and group "
                                    "connections.", default=False),
        "mycnf": string("Extra my.cnf content, applied verbatim (as 99-extra.cnf), e.g. "
                        "\"[mysqld]\\nmax_connections=300\\n\". Options the operator owns (server_id, "
                        "gtid_mode, group_replication_*, ...) are rejected; changes roll the members one by one.",
                        max_length=MYCNF_MAX_LENGTH),
        "groupMode": string("Group Replication mode: one writable primary, or every member writable. Changing "
                            "it switches the running group.", enum=list(get_args(t.GroupMode)),
                            default="SinglePrimary"),
        "podSpec": free_form("Merged into the server pods' spec (resources, affinity, tolerations, ...)."),
        "podLabels": string_map("Extra labels for the server pods."),
        "podAnnotations": string_map("Extra annotations for the server pods."),
        "datadirVolumeClaimTemplate": free_form(
            f"PersistentVolumeClaim spec for each member's data directory (default: {t.DEFAULT_DATADIR_SIZE}, "
            f"default StorageClass). Fixed after creation."),
        "service": obj("The Service clients connect to (it fronts the routers).", {
            "type": string("Service type.", enum=list(get_args(t.ServiceType)), default="ClusterIP"),
            "annotations": string_map("Annotations for the Service, e.g. for a cloud load balancer."),
        }, default={}),
        "backupProfiles": list_map("Named ways to take a backup, referenced by backupSchedules and MySQLBackup "
                                   "objects.", obj("A backup profile.", {
                                       "name": string("Name of the profile, unique in the cluster.", min_length=1),
                                       **_profile_properties(),
                                   }, required=["name", "dumpInstance"]), keys=["name"]),
        "backupSchedules": list_map("Backups taken on a schedule (one CronJob each).", obj("A backup schedule.", {
            "name": string("Name of the schedule, unique in the cluster.", min_length=1),
            "schedule": string("When to take a backup, in cron syntax, e.g. \"0 3 * * *\".", min_length=1),
            "backupProfileName": string("The backupProfiles entry to use.", min_length=1),
            "enabled": boolean("Whether the schedule runs (false suspends it).", default=True),
            "timeZone": string("Time zone of schedule, e.g. Europe/Berlin (default: the controller's, "
                               "usually UTC)."),
            "deleteBackupData": boolean("Whether deleting a MySQLBackup made by this schedule also deletes "
                                        "its data.", default=False),
        }, required=["name", "schedule", "backupProfileName"]), keys=["name"]),
        "initDB": obj("Seed a new cluster instead of starting empty (only read at creation).", {
            "dump": obj("Load a dump taken by a MySQLBackup.", {
                "path": string("Directory of the dump inside the claim (a MySQLBackup's status.output)."),
                "storage": _storage("Where the dump is.", "The PersistentVolumeClaim that holds the dump."),
            }, required=["storage"]),
            "clone": obj("Clone a running server over the network (MySQL clone plugin).", {
                "donorUrl": string("The donor, as user@host:port or host:port.", min_length=1),
                "rootUser": string("Account used on the donor.", default=t.DEFAULT_CLONE_ROOT_USER, min_length=1),
                "secretKeyRef": obj("Secret with the donor account's password.", {
                    "name": string("Name of a Secret with key rootPassword.", min_length=1),
                }, required=["name"]),
            }, required=["donorUrl", "secretKeyRef"]),
        }, rules=[rule("!(has(self.dump) && has(self.clone))", INITDB_CHOICE)]),
        "metrics": obj("Prometheus metrics for each server: a MySQL exporter sidecar (container metrics) that "
                       "logs in as an account the operator creates with PROCESS, REPLICATION CLIENT and SELECT on "
                       "performance_schema. It is part of the pod template: on a running cluster a change reaches "
                       "a member when its pod is next recreated.", {
            "enable": boolean("Run the exporter sidecar in every server pod.", default=False),
            "webPort": integer("Port the exporter listens on (container port and headless Service port named "
                               "metrics).", default=t.DEFAULT_METRICS_WEB_PORT, minimum=1, maximum=65535),
            "image": string("The exporter image (flags as in prom/mysqld-exporter 0.15 and later).",
                            default=t.DEFAULT_METRICS_IMAGE, min_length=1),
        }, rules=[rule("!has(self.webPort) || !(self.webPort in [3306, 33060, 33061, 33062])", METRICS_PORT_TAKEN,
                       field_path=".webPort")]),
    }, required=["secretName"], rules=[
        rule(unchanged("datadirVolumeClaimTemplate"), DATADIR_IMMUTABLE, field_path=".datadirVolumeClaimTemplate",
             reason="FieldValueForbidden"),
        rule(unchanged("baseServerId"), BASE_SERVER_ID_IMMUTABLE, field_path=".baseServerId",
             reason="FieldValueForbidden"),
    ])


def cluster_status_schema() -> Schema:
    """``InnoDBCluster.status`` (written by the operator only)."""
    return obj("The observed cluster, written by the operator.", {
        "observedGeneration": integer("The metadata.generation the operator last acted on.", minimum=0,
                                      format="int64"),
        "conditions": _conditions("SpecValid (False: its message says what in the spec to fix), Ready, Available "
                                  "and Progressing, written by the object reconcile; GroupOnline (the group's own "
                                  "state), Degraded (fewer members online than asked for) and CredentialsValid "
                                  "(False: the operator's MySQL accounts do not work, and which Secret to fix), "
                                  "written by the group manager."),
        "cluster": obj("The group as the operator last saw it.", {
            "status": string("State of the group: ONLINE (all members online), ONLINE_PARTIAL (quorum, some "
                             "members missing), NO_QUORUM, SPLIT_BRAIN, OFFLINE (no member running the group), "
                             "PENDING/INITIALIZING (being created), FINALIZING (being deleted: routers, then the "
                             "members leave one at a time, the primary last); *_UNCERTAIN when some members "
                             "could not be reached. It is the group's own state even while the spec is invalid "
                             "(see the SpecValid condition).", enum=list(get_args(t.ClusterState))),
            "onlineInstances": integer("Members ONLINE in the group.", minimum=0),
            "instances": integer("Members the last applied spec asks for (the group manager keeps the group to "
                                 "it while a newer spec is invalid).", minimum=0),
            "primary": string("Pod name of the primary (single-primary mode); empty when unknown."),
            "groupMode": string("Mode the group runs in.", enum=list(get_args(t.GroupMode))),
            "groupName": string("Group Replication group name (a UUID): the object's uid when the operator first "
                                "saw the cluster, then kept, so that datadirs from another group are recognised."),
            "members": list_map("Every member the operator knows about.", obj("One member.", {
                "name": string("Pod name of the member.", min_length=1),
                "role": string("PRIMARY or SECONDARY; empty when not in the group."),
                "state": string("Group Replication member state: ONLINE, RECOVERING, OFFLINE, ERROR, "
                                "UNREACHABLE; MISSING when its pod does not run; ACCESS_DENIED when the server "
                                "refuses the operator's account (its state is then unknown)."),
                "version": string("MySQL server version the member runs."),
            }, required=["name"]), keys=["name"]),
            "createTime": string("When the operator first saw the group exist (it bootstrapped it, or found it "
                                 "running or configured on a member); kept once set.", format="date-time"),
            "next": obj("What the group manager does next, or why it does nothing.", {
                "reason": string("CamelCase code: the cause of the next action (NoGroup, MemberMissing, ScaleDown, "
                                 "ModeChange, CompleteOutage), Converged, a wait that ends by itself "
                                 "(WaitingForPods, WaitingForRecovery, WaitingForHeir, WaitingForExpel, "
                                 "WaitingForMembers, MembersUnreachable), or a block that needs a person "
                                 "(SplitBrain, NoQuorum, OutageUnproven, GtidsDiverged, ErrantTransactions, "
                                 "ForeignGroup); CredentialsLost while the operator resets its own lost passwords "
                                 "(see the CredentialsValid condition)."),
                "message": string("The same for a person: what happens next, or what to do."),
                "action": string("The group action of that pass: Bootstrap, Join, Leave, Reboot, SetPrimary, "
                                 "SetMode or ForceQuorum; absent when there is none."),
                "target": string("Pod the action is about."),
            }),
            "rollout": obj("A rolling restart under way (absent when every member runs the StatefulSet's "
                           "current pod template): the group manager restarts one member at a time, "
                           "secondaries first, the primary last after moving the primary away.", {
                "revision": string("The StatefulSet's update revision the members are moving to."),
                "updated": integer("Wanted members whose pod runs that revision.", minimum=0),
                "total": integer("Wanted members.", minimum=0),
                "progress": string("updated/total, for kubectl get -o wide."),
                "member": string("Pod being restarted by this pass; empty between restarts."),
                "message": string("What the roll does, or what it waits for (naming the member)."),
            }),
            "request": obj("The answer to the last request made with the annotation "
                           "mysql.innodb-operator.dev/request (kubectl innodb switchover|reboot|force-quorum); "
                           "each request id is answered once.", {
                "id": string("The request's id."),
                "action": string("switchover, reboot or force-quorum; empty when the annotation did not parse."),
                "member": string("The pod the request named."),
                "outcome": string("Done: the effect holds (it was done, or held already). Refused: nothing was "
                                  "done; the message says why and what to do.", enum=["Done", "Refused"]),
                "message": string("What was done, or why not (with the transactions a refused request would "
                                  "lose, per member)."),
                "time": string("When the operator answered.", format="date-time"),
            }),
        }),
        "router": obj("The MySQL Router Deployment.", {
            "instances": integer("Routers the spec asks for.", minimum=0),
            "readyInstances": integer("Routers ready to serve.", minimum=0),
            "version": string("MySQL Router version the routers run."),
        }),
    })


def innodbcluster_crd() -> dict[str, Any]:
    """The ``InnoDBCluster`` CRD (short name ``ic``)."""
    return _crd(
        kind=INNODBCLUSTER_KIND, plural=INNODBCLUSTER_PLURAL, short_names=["ic"],
        description="A MySQL InnoDB Cluster: a Group Replication group of MySQL servers fronted by MySQL Router.",
        metadata={"type": "object", "properties": {
            "name": string(f"Name of the cluster; at most {CLUSTER_NAME_MAX_LENGTH} characters so that the "
                           f"names of its children stay valid.", max_length=CLUSTER_NAME_MAX_LENGTH),
        }},
        spec=cluster_spec_schema(), status=cluster_status_schema(),
        columns=[
            _column("Status", "string", ".status.cluster.status", "State of the group"),
            _column("Online", "integer", ".status.cluster.onlineInstances", "Members ONLINE in the group"),
            _column("Instances", "integer", ".spec.instances", "Members asked for"),
            _column("Routers", "integer", ".spec.router.instances", "Routers asked for"),
            _AGE,
            _column("Primary", "string", ".status.cluster.primary", "Pod of the primary", priority=1),
            _column("Mode", "string", ".status.cluster.groupMode", "Group mode", priority=1),
            _column("Next", "string", ".status.cluster.next.action", "The group manager's next action", priority=1),
            _column("Reason", "string", ".status.cluster.next.reason",
                    "Why that action, or why none (a block needing a person included)", priority=1),
            _column("Rollout", "string", ".status.cluster.rollout.progress",
                    "Members on the current pod template during a rolling restart", priority=1),
        ],
    )


# -- MySQLBackup --------------------------------------------------------------------------------

def backup_spec_schema() -> Schema:
    """``MySQLBackup.spec``."""
    return obj("One backup of an InnoDBCluster, taken once.", {
        "clusterName": string("The InnoDBCluster to back up, in the same namespace.", min_length=1),
        "backupProfileName": string("A backupProfiles entry of the cluster to use.", min_length=1),
        "backupProfile": obj("An inline backup profile, used instead of backupProfileName.",
                             _profile_properties(), required=["dumpInstance"]),
        "deleteBackupData": boolean("Whether deleting this object also deletes the dump.", default=False),
    }, required=["clusterName"], rules=[
        rule("has(self.backupProfileName) != has(self.backupProfile)", BACKUP_PROFILE_CHOICE),
        rule(" && ".join(["self.clusterName == oldSelf.clusterName", unchanged("backupProfileName"),
                          unchanged("backupProfile")]), BACKUP_SPEC_IMMUTABLE, reason="FieldValueForbidden"),
    ])


def backup_status_schema() -> Schema:
    """``MySQLBackup.status`` (written by the operator only)."""
    return obj("The backup's progress and result, written by the operator.", {
        "status": string("Phase of the backup.", enum=list(get_args(t.BackupPhase))),
        "startTime": string("When the dump started.", format="date-time"),
        "completionTime": string("When the dump finished (Completed or Failed).", format="date-time"),
        "elapsedTime": string("How long the dump took, e.g. 1m23s."),
        "output": string("Where the dump went: the directory inside the claim (use it as initDB.dump.path)."),
        "source": string("Pod the dump was taken from."),
        "size": string("Size of the dump, e.g. 158Mi."),
        "message": string("What happened, or why the backup failed and what to do."),
        "observedGeneration": integer("The metadata.generation the operator last acted on.", minimum=0,
                                      format="int64"),
        "conditions": _conditions("Complete or Failed when the backup has ended, and SpecValid (False: its "
                                  "message says what in the spec to fix)."),
    })


def mysqlbackup_crd() -> dict[str, Any]:
    """The ``MySQLBackup`` CRD (short name ``mbk``)."""
    return _crd(
        kind=MYSQLBACKUP_KIND, plural=MYSQLBACKUP_PLURAL, short_names=["mbk"],
        description="A logical backup (dump) of an InnoDBCluster onto a PersistentVolumeClaim.",
        spec=backup_spec_schema(), status=backup_status_schema(),
        columns=[
            _column("Cluster", "string", ".spec.clusterName", "The cluster backed up"),
            _column("Status", "string", ".status.status", "Phase of the backup"),
            _column("Output", "string", ".status.output", "Where the dump went"),
            _AGE,
        ],
    )


def all_crds() -> list[dict[str, Any]]:
    """Every CRD the operator serves, in install order."""
    return [innodbcluster_crd(), mysqlbackup_crd()]


def render(crd: dict[str, Any]) -> str:
    """One CRD as the YAML committed under ``manifests/crds``."""
    header = "# Generated by `python -m innodb_api.crd`; do not edit.\n"
    return header + yaml.safe_dump(crd, sort_keys=False, width=120)


def write(directory: Path) -> list[Path]:
    """Write ``<plural>.<group>.yaml`` per CRD into ``directory``; return the paths."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for crd in all_crds():
        path = directory / f"{crd['metadata']['name']}.yaml"
        path.write_text(render(crd))
        written.append(path)
    return written


# -- reference documentation --------------------------------------------------------------------

def _type_of(node: Schema) -> str:
    kind = str(node.get("type", "object"))
    if kind == "array":
        return f"[]{_type_of(node['items'])}"
    if kind == "object" and "additionalProperties" in node:
        return f"map[string]{node['additionalProperties']['type']}"
    if node.get("x-kubernetes-preserve-unknown-fields"):
        return "object (free-form)"
    if "format" in node and kind == "string":
        return f"string ({node['format']})"
    return kind


def _constraints(node: Schema, required: bool) -> str:
    parts = ["required"] if required else []
    if "enum" in node:
        parts.append("one of " + ", ".join(f"`{v}`" for v in node["enum"]))
    if "minimum" in node or "maximum" in node:
        parts.append(f"{node.get('minimum', '')}..{node.get('maximum', '')}")
    if "pattern" in node and len(node["pattern"]) < 40:
        parts.append(f"pattern `{node['pattern']}`")
    if "minLength" in node:
        parts.append(f"min length {node['minLength']}")
    if "maxLength" in node:
        parts.append(f"max length {node['maxLength']}")
    if node.get("x-kubernetes-list-type") == "map":
        parts.append("keyed by " + ", ".join(f"`{k}`" for k in node["x-kubernetes-list-map-keys"]))
    return "; ".join(parts)


_LIMIT_NOTES = re.compile(r"( (Range: -?\d+ to -?\d+|Minimum: -?\d+|Maximum: -?\d+)\.)?( Default: .*\.)?$")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _field_table(root: Schema, prefix: str) -> list[str]:
    lines = ["| Field | Type | Default | Constraints | Description |", "|---|---|---|---|---|"]
    parents: dict[str, Schema] = {prefix: root}
    for path, node in walk(root, prefix):
        parent_path, _, name = path.rpartition(".")
        parent = parents.get(parent_path.removesuffix("[]"), {})
        if parent.get("type") == "array":
            parent = parent["items"]
        parents[path] = node
        default = f"`{json.dumps(node['default'])}`" if "default" in node else ""
        required = name in parent.get("required", [])
        lines.append(f"| `{path}` | {_cell(_type_of(node))} | {_cell(default)} | "
                     f"{_cell(_constraints(node, required))} | {_cell(_LIMIT_NOTES.sub('', node['description']))} |")
    return lines


def _rules(root: Schema, prefix: str) -> list[str]:
    found = [(prefix, root), *walk(root, prefix)]
    lines = []
    for path, node in found:
        for item in node.get("x-kubernetes-validations", []):
            lines.append(f"| `{path}` | `{_cell(item['rule'])}` | {_cell(item['message'])} |")
    if not lines:
        return []
    return ["Rules the API server checks (CEL):", "", "| On | Rule | Message |", "|---|---|---|", *lines, ""]


def render_docs() -> str:
    """``docs/crd-reference.md``: every field of every CRD, generated from the schemas."""
    out = [
        "# Custom resource reference",
        "",
        "<!-- Generated by `python -m innodb_api.crd --docs docs/crd-reference.md`; do not edit. -->",
        "",
        f"API group `{GROUP}`, version `{VERSION}` (`apiVersion: {API_VERSION}`). The same text is "
        "available from the cluster: `kubectl explain innodbcluster.spec --recursive`. What the schema "
        "cannot check (the Secret, `mycnf` content, references between fields) the operator checks and "
        "reports as a False `SpecValid` condition.",
        "",
    ]
    for crd in all_crds():
        names = crd["spec"]["names"]
        version = crd["spec"]["versions"][0]
        root = version["schema"]["openAPIV3Schema"]
        out += [f"## {names['kind']}", "", root["description"], "",
                f"Plural `{names['plural']}`, short name{'s' if len(names['shortNames']) > 1 else ''} "
                + ", ".join(f"`{s}`" for s in names["shortNames"])
                + f", category `{', '.join(names['categories'])}`; namespaced; status subresource.", "",
                "`kubectl get` columns: " + ", ".join(
                    f"{c['name']}{' (wide)' if c.get('priority') else ''}"
                    for c in version["additionalPrinterColumns"]),
                ""]
        for part in ("metadata", "spec", "status"):
            if part not in root["properties"]:
                continue
            node = root["properties"][part]
            out += [f"### {names['kind']}.{part}", "", node.get("description", "Standard object metadata."), ""]
            out += _rules(node, part)
            out += _field_table(node, part)
            out.append("")
    out += _operator_checks()
    return "\n".join(out).rstrip("\n") + "\n"


def _operator_checks() -> list[str]:
    out = [
        "## Checked by the operator",
        "",
        "These are checked on every reconcile (`innodb_api.validation`); a problem sets the `SpecValid` "
        "condition to False with the reason below and a message naming the field and the fix. Nothing is "
        "changed in the cluster until the spec is valid again.",
        "",
        "| Field | Reason | Problem |",
        "|---|---|---|",
        "| `spec.secretName` | `SecretNameMissing`, `SecretNotFound`, `SecretKeyMissing`, `SecretKeyEmpty`, "
        "`SecretKeyInvalid` | "
        f"The Secret must exist and have a non-empty `{validation.ROOT_PASSWORD_KEY}`; "
        + ", ".join(f"`{k}`" for k in validation.OPTIONAL_SECRET_KEYS) + " are optional but not empty. "
        "Messages never contain a value. |",
        "| `spec.version`, `spec.router.version` | `UnsupportedVersion` | "
        f"Versions before {'.'.join(map(str, validation.MIN_VERSION))} are not supported. |",
        "| `spec.version` | `UnsupportedVersionChange` | A downgrade below a version a member runs, or an "
        "upgrade past the next LTS series after the oldest member's (MySQL's upgrade paths: 8.4 LTS, 9.x "
        "Innovation, 9.7 LTS, then calendar versions). The StatefulSet keeps the running version. |",
        "| `spec.mycnf` | `InvalidMycnf` | Not an option file: an option outside a `[section]`, an option or "
        "section given twice (`-` and `_` are the same), `!include`, or a line that is not `name=value`. |",
        "| `spec.mycnf` | `MycnfOwnedOption` | Sets an option the operator owns (table below), also with a "
        "`loose-`, `skip-`, `disable-` or `enable-` prefix. |",
        "| `spec.mycnf` | `MycnfRemovedOption` | Sets an option the target MySQL version no longer has "
        "(table below); mysqld would refuse to start. `loose-` options are exempt (mysqld only warns). |",
        "| `spec.backupProfiles[].name` | `DuplicateBackupProfile` | Two profiles with one name. |",
        "| `spec.backupSchedules[].name` | `DuplicateBackupSchedule` | Two schedules with one name. |",
        "| `spec.backupSchedules[].backupProfileName` | `UnknownBackupProfile` | No profile of that name. |",
        "| `spec.backupSchedules[].schedule` | `InvalidSchedule` | Not five cron fields or a macro such as "
        "`@daily`. |",
        "| MySQLBackup `spec.clusterName` | `ClusterNotFound` | No InnoDBCluster of that name. |",
        "| MySQLBackup `spec.backupProfileName` | `UnknownBackupProfile` | The cluster has no such profile. |",
        "",
        "`mycnf` options the operator owns (only sections mysqld reads: `[mysqld]`, `[server]` and "
        "`[mysqld-MAJOR.MINOR]` of the target version):",
        "",
        "| Option | Why the operator owns it |",
        "|---|---|",
    ]
    out += [f"| `{name}` | {_cell(why)} |" for name, why in validation.OWNED_OPTIONS.items()]
    out += [f"| `{prefix}*` | {_cell(why)} |" for prefix, why in validation.OWNED_PREFIXES.items()]
    out += ["", "`mycnf` options removed from MySQL:", "", "| Option | Removed in | Instead |", "|---|---|---|"]
    out += [f"| `{name}` | {'.'.join(map(str, info.removed_in))} | {_cell(info.instead)} |"
            for name, info in sorted(validation.REMOVED_OPTIONS.items(), key=lambda kv: (kv[1].removed_in, kv[0]))]
    return [*out, ""]


def write_docs(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_docs())
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m innodb_api.crd", description=__doc__.splitlines()[0])
    parser.add_argument("directory", nargs="?", default="manifests/crds", help="where to write the CRD YAML")
    parser.add_argument("--docs", metavar="PATH", help="write the field reference (Markdown) here instead")
    args = parser.parse_args(argv)
    if args.docs:
        print(write_docs(Path(args.docs)))
    else:
        for written_path in write(Path(args.directory)):
            print(written_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
