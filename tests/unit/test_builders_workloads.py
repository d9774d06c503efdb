"""The workload children: StatefulSet, Services, router Deployment, PDB, RBAC, Secret, CronJobs."""

from __future__ import annotations

import base64
import re
from typing import Any

import pytest
from test_builders_cases import CUSTOM, JOURNEY, OPERATOR_IMAGE, PASSWORDS, children_of, cluster_of, with_spec

from innodb_operator.builders import (
    REQUIRED_PASSWORD_KEYS,
    build_backup_role,
    build_cronjobs,
    build_instances_service,
    build_pdb,
    build_private_secret,
    build_router_deployment,
    build_router_service,
    build_statefulset,
    cronjob_name,
    cronjob_names,
    passwords_from_secret,
)
from innodb_operator.builders.config import config_hash
from innodb_operator.builders.router import build_router_scripts, router_scripts_data


def _by_name(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {i["name"]: i for i in items}


def test_statefulset_shape() -> None:
    sts = build_statefulset(cluster_of(JOURNEY))
    spec = sts["spec"]
    assert (sts["metadata"]["name"], spec["serviceName"], spec["replicas"]) == ("mycluster", "mycluster-instances", 3)
    assert spec["podManagementPolicy"] == "Parallel" and spec["updateStrategy"] == {"type": "OnDelete"}
    assert spec["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}
    pod = spec["template"]["spec"]
    assert [c["name"] for c in pod["initContainers"]] == ["initconf", "initdatadir"]
    mysql = _by_name(pod["containers"])["mysql"]
    assert mysql["image"] == "container-registry.oracle.com/mysql/community-server:9.7.4"
    assert {p["name"]: p["containerPort"] for p in mysql["ports"]} == {"mysql": 3306, "mysqlx": 33060, "gr-xcom": 33061}
    assert mysql["livenessProbe"]["exec"]["command"][-1].endswith("liveness.sh")
    assert mysql["readinessProbe"]["exec"]["command"][-1].endswith("readiness.sh")
    startup = mysql["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 1800
    assert pod["terminationGracePeriodSeconds"] == 120
    assert pod["securityContext"]["runAsUser"] == 27 and pod["securityContext"]["fsGroup"] == 27
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert all(c["securityContext"]["allowPrivilegeEscalation"] is False for c in pod["initContainers"] + [mysql])
    term = pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]["podAffinityTerm"]
    assert term["topologyKey"] == "kubernetes.io/hostname"
    assert term["labelSelector"]["matchLabels"] == spec["selector"]["matchLabels"]
    assert pod["serviceAccountName"] == "mycluster-sa"
    mounts = {m["mountPath"]: m["name"] for m in mysql["volumeMounts"]}
    assert mounts["/var/lib/mysql"] == "datadir" and mounts["/etc/my.cnf.d"] == "mycnfdata"
    volumes = _by_name(pod["volumes"])
    assert volumes["initconf"]["configMap"]["name"] == "mycluster-initconf"
    assert "emptyDir" in volumes["mycnfdata"] and "emptyDir" in volumes["tmp"]
    (claim,) = spec["volumeClaimTemplates"]
    assert claim["metadata"]["name"] == "datadir"
    assert claim["spec"] == {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "2Gi"}}}


def test_statefulset_takes_the_users_claim_template_and_pull_settings() -> None:
    spec = build_statefulset(cluster_of(CUSTOM))["spec"]
    assert spec["volumeClaimTemplates"][0]["spec"]["storageClassName"] == "fast-ssd"
    assert spec["volumeClaimTemplates"][0]["spec"]["resources"] == {"requests": {"storage": "50Gi"}}
    pod = spec["template"]["spec"]
    assert pod["imagePullSecrets"] == [{"name": "regcred"}]
    assert {c["imagePullPolicy"] for c in pod["initContainers"] + pod["containers"] if c["name"] != "log-shipper"} \
        == {"Always"}


def test_instances_service_is_headless_and_publishes_not_ready_members() -> None:
    svc = build_instances_service(cluster_of(JOURNEY))
    assert svc["metadata"]["name"] == "mycluster-instances"
    assert svc["spec"]["clusterIP"] == "None" and svc["spec"]["publishNotReadyAddresses"] is True
    assert {p["name"]: p["port"] for p in svc["spec"]["ports"]} == {"mysql": 3306, "mysqlx": 33060, "gr-xcom": 33061}
    assert svc["spec"]["selector"]["app.kubernetes.io/component"] == "database"


def test_router_service_ports_type_and_annotations() -> None:
    journey = build_router_service(cluster_of(JOURNEY))
    assert journey["metadata"]["name"] == "mycluster" and journey["spec"]["type"] == "ClusterIP"
    assert "annotations" not in journey["metadata"]
    assert {p["name"]: (p["port"], p["targetPort"]) for p in journey["spec"]["ports"]} == {
        "mysql-rw": (6446, 6446), "mysql-ro": (6447, 6447), "mysqlx-rw": (6448, 6448), "mysqlx-ro": (6449, 6449),
        "mysql-rw-split": (6450, 6450), "router-rest": (8443, 8443),
        "mysql": (3306, 6446), "mysqlx": (33060, 6448)}, "the default ports of both protocols reach the primary"
    assert journey["spec"]["selector"]["app.kubernetes.io/component"] == "router"
    custom = build_router_service(cluster_of(CUSTOM))
    assert custom["spec"]["type"] == "NodePort"
    assert custom["metadata"]["annotations"] == {"example.com/owner": "payments", "example.com/tier": "db"}


def test_router_deployment_bootstraps_from_its_environment() -> None:
    dep = build_router_deployment(cluster_of(JOURNEY))
    assert dep["metadata"]["name"] == "mycluster-router" and dep["spec"]["replicas"] == 1
    (router,) = dep["spec"]["template"]["spec"]["containers"]
    assert router["image"] == "container-registry.oracle.com/mysql/community-router:9.7.4"
    env = _by_name(router["env"])
    assert env["MYSQL_HOST"]["value"] == "mycluster-instances.mysql-cluster.svc.cluster.local"
    assert env["MYSQL_PORT"]["value"] == "3306"
    assert env["MYSQL_USER"]["valueFrom"]["secretKeyRef"] == {"name": "mycluster-privsecrets", "key": "routerUsername"}
    assert env["MYSQL_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "mycluster-privsecrets",
                                                                  "key": "routerPassword"}
    assert env["MYSQL_INNODB_CLUSTER_MEMBERS"]["value"] == "1"
    assert [p["containerPort"] for p in router["ports"]] == [6446, 6447, 6448, 6449, 6450, 8443]
    assert router["startupProbe"]["tcpSocket"] == {"port": 6446}, "ready once it first routes writes"
    assert router["readinessProbe"]["tcpSocket"] == {"port": 8443}, "and stays so while it runs, primary or not"
    assert dep["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True


def test_router_takes_its_version_pod_spec_labels_and_annotations() -> None:
    dep = build_router_deployment(cluster_of(CUSTOM))
    template = dep["spec"]["template"]
    (router,) = template["spec"]["containers"]
    assert router["image"] == "registry.example.com/mysql/community-router:9.7.1"
    assert router["resources"] == {"limits": {"cpu": "500m"}}
    assert template["metadata"]["labels"]["team"] == "payments"
    assert template["metadata"]["annotations"] == {
        "example.com/router": "yes",
        "mysql.innodb-operator.dev/config-hash": config_hash(router_scripts_data())}
    assert dep["spec"]["replicas"] == 2


def test_router_runs_our_entrypoint_from_its_configmap() -> None:
    cluster = cluster_of(JOURNEY)
    configmap = build_router_scripts(cluster)
    assert configmap["metadata"]["name"] == "mycluster-router-scripts"
    assert configmap["metadata"]["labels"]["app.kubernetes.io/component"] == "router"
    pod = build_router_deployment(cluster)["spec"]["template"]["spec"]
    (router,) = pod["containers"]
    assert router["command"] == ["bash", "/mnt/router-scripts/router-entrypoint.sh"]
    assert {"name": "router-scripts", "mountPath": "/mnt/router-scripts", "readOnly": True} in router["volumeMounts"]
    assert {"name": "router-scripts", "configMap": {"name": "mycluster-router-scripts", "defaultMode": 0o444}} in (
        pod["volumes"])
    script = configmap["data"]["router-entrypoint.sh"]
    assert script.startswith("#!/bin/bash\n") and "set -euo pipefail" in script
    assert "--account \"$MYSQL_USER\" --account-create never" in script
    assert "--report-host" in script and "--conf-use-sockets" in script
    assert script.rstrip().endswith('exec mysqlrouter --config "$ROUTER_DIR/mysqlrouter.conf"')
    # The password is only ever printed into a pipe or a 0600 file by bash's printf, never an argument.
    uses = [line.strip() for line in script.splitlines() if "$MYSQL_PASSWORD" in line and not line.startswith(": ")]
    assert uses and all(line.removeprefix("until ").startswith("printf ") for line in uses), uses


def test_a_changed_router_script_rolls_the_routers() -> None:
    before = build_router_deployment(cluster_of(JOURNEY))["spec"]["template"]["metadata"]["annotations"]
    assert before["mysql.innodb-operator.dev/config-hash"] == config_hash(
        build_router_scripts(cluster_of(JOURNEY))["data"])


def test_pdb_allows_one_disruption_of_server_pods() -> None:
    pdb = build_pdb(cluster_of(JOURNEY))
    assert (pdb["apiVersion"], pdb["metadata"]["name"]) == ("policy/v1", "mycluster-pdb")
    assert pdb["spec"]["maxUnavailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] == "database"


def test_backup_role_is_least_privilege() -> None:
    rules = build_backup_role(cluster_of(JOURNEY))["rules"]
    assert rules == [
        {"apiGroups": ["mysql.innodb-operator.dev"], "resources": ["mysqlbackups"], "verbs": ["create", "get", "list"]},
        {"apiGroups": ["mysql.innodb-operator.dev"], "resources": ["innodbclusters"], "resourceNames": ["mycluster"],
         "verbs": ["get"]},
    ]
    flat = str(rules)
    assert "*" not in flat


def test_private_secret_holds_fixed_usernames_and_the_given_passwords() -> None:
    secret = build_private_secret(cluster_of(JOURNEY), PASSWORDS)
    assert secret["metadata"]["name"] == "mycluster-privsecrets" and secret["type"] == "Opaque"
    decoded = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert decoded == {"adminUsername": "innodbop-admin", "routerUsername": "innodbop-router",
                       "backupUsername": "innodbop-backup", "replicationUsername": "innodbop-repl",
                       "metricsUsername": "innodbop-metrics", **PASSWORDS}
    assert passwords_from_secret(secret) == PASSWORDS
    assert set(REQUIRED_PASSWORD_KEYS) == {"adminPassword", "routerPassword", "backupPassword", "replicationPassword"}
    assert PASSWORDS["metricsPassword"], "the exporter's password is optional and kept when given"
    without = build_private_secret(cluster_of(JOURNEY), {k: PASSWORDS[k] for k in REQUIRED_PASSWORD_KEYS})
    assert "metricsPassword" not in without["data"]


@pytest.mark.parametrize("passwords", [{}, {k: "" for k in REQUIRED_PASSWORD_KEYS},
                                       {**PASSWORDS, "rootPassword": "nope-secret"}])
def test_private_secret_refuses_missing_or_unknown_keys_without_echoing_values(passwords: dict[str, str]) -> None:
    with pytest.raises(ValueError) as err:
        build_private_secret(cluster_of(JOURNEY), passwords)
    assert "nope-secret" not in str(err.value) and "test-" not in str(err.value)


def test_one_cronjob_per_enabled_schedule() -> None:
    cluster = cluster_of(JOURNEY)
    (job,) = build_cronjobs(cluster, OPERATOR_IMAGE)
    assert cronjob_names(cluster) == {"mycluster-schedule-ref-cb"} == {job["metadata"]["name"]}
    spec = job["spec"]
    assert spec["schedule"] == "*/30 * * * *" and spec["concurrencyPolicy"] == "Forbid"
    assert "timeZone" not in spec
    assert spec["successfulJobsHistoryLimit"] <= 5 and spec["failedJobsHistoryLimit"] <= 5
    pod = spec["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "mycluster-backup" and pod["restartPolicy"] == "Never"
    (container,) = pod["containers"]
    assert container["image"] == OPERATOR_IMAGE
    assert container["args"] == ["backup", "create", "--namespace", "mysql-cluster", "--cluster", "mycluster",
                                 "--schedule", "schedule-ref", "--profile", "dump-instance-profile-pvc"]


def test_cronjob_time_zone_and_long_names() -> None:
    cluster = cluster_of(CUSTOM)
    (job,) = build_cronjobs(cluster, OPERATOR_IMAGE)
    assert job["spec"]["timeZone"] == "Europe/Berlin"
    name = job["metadata"]["name"]
    assert name == cronjob_name(cluster, "nightly-full-dump-to-the-long-term-retention-volume")
    assert len(name) <= 52 and name.endswith("-cb") and name.startswith("orders-nightly")


@pytest.mark.parametrize("schedule", ["x" * 60, "Nightly_Backup", "a", "-odd-", "y" * 44])
def test_cronjob_names_are_valid_bounded_deterministic_and_distinct(schedule: str) -> None:
    cluster = cluster_of(JOURNEY)
    name = cronjob_name(cluster, schedule)
    assert len(name) <= 52 and re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name)
    assert name == cronjob_name(cluster, schedule)
    assert name != cronjob_name(cluster, schedule + "2")


def test_cronjob_names_skip_disabled_schedules() -> None:
    schedules = [dict(s, enabled=True) for s in JOURNEY["spec"]["backupSchedules"]]
    cluster = cluster_of(with_spec(JOURNEY, backupSchedules=schedules))
    assert cronjob_names(cluster) == {"mycluster-schedule-ref-cb", "mycluster-schedule-disabled-cb"}
    assert [c["metadata"]["name"] for c in build_cronjobs(cluster, OPERATOR_IMAGE)] == sorted(cronjob_names(cluster))
    assert cronjob_names(cluster_of(with_spec(JOURNEY, backupSchedules=[]))) == frozenset()
    assert not [c for c in children_of(with_spec(JOURNEY, backupSchedules=[])) if c["kind"] == "CronJob"]


def test_a_scale_down_keeps_each_pod_until_its_member_has_left_the_group() -> None:
    from innodb_operator.controllers.groupview import server_replicas

    three = cluster_of(JOURNEY)  # spec.instances 3

    def status(**states: str) -> dict[str, Any]:
        return {"cluster": {"members": [{"name": f"mycluster-{i}", "state": s} for i, s in states.items()]}}

    assert server_replicas(three, None) == 3
    assert server_replicas(three, status(**{"0": "ONLINE", "3": "ONLINE", "4": "ONLINE"})) == 5
    assert server_replicas(three, status(**{"3": "ONLINE", "4": "OFFLINE"})) == 4, "4 left: its pod may go"
    assert server_replicas(three, status(**{"3": "UNREACHABLE"})) == 4, "still in the view: wait for the expel"
    assert server_replicas(three, status(**{"3": "OFFLINE", "4": "MISSING"})) == 3
    assert server_replicas(three, status(**{"1": "OFFLINE"})) == 3, "never fewer than the spec"
    assert build_statefulset(three, replicas=5)["spec"]["replicas"] == 5
    assert build_statefulset(three, replicas=1)["spec"]["replicas"] == 3
