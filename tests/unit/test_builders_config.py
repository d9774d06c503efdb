"""The initconf ConfigMap: operator settings, the user's mycnf verbatim, scripts, config hash."""

from __future__ import annotations

import re

import pytest
from test_builders_cases import JOURNEY, children_of, cluster_of, with_spec

from innodb_operator.builders import build_initconf, build_statefulset, config_hash, initconf_data
from innodb_operator.builders.labels import CONFIG_HASH_ANNOTATION
from innodb_operator.builders.server_pod import server_pod_spec


def _cnf_settings(text: str, section: str = "mysqld") -> list[tuple[str, str]]:
    settings, current = [], None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            current = line.strip("[]")
        elif current == section:
            key, _, value = line.partition("=")
            settings.append((key.replace("-", "_"), value))
    return settings


def test_operator_cnf_holds_the_settings_the_operator_owns() -> None:
    cnf = initconf_data(cluster_of(JOURNEY))["00-operator.cnf"]
    settings = _cnf_settings(cnf)
    values = dict(settings)
    assert values["gtid_mode"] == "ON" and values["enforce_gtid_consistency"] == "ON"
    assert values["log_bin"] == "mycluster-bin" and values["skip_replica_start"] == "ON"
    assert values["datadir"] == "/var/lib/mysql" and values["port"] == "3306" and values["mysqlx_port"] == "33060"
    assert values["secure_file_priv"] == "NULL"
    assert set(values["disabled_storage_engines"].split(",")) >= {"MyISAM", "MEMORY", "BLACKHOLE", "FEDERATED"}
    assert values["loose_group_replication_communication_stack"] == "XCOM"
    assert values["loose_group_replication_start_on_boot"] == "OFF"
    assert sorted(v for k, v in settings if k == "plugin_load_add") == ["group_replication.so", "mysql_clone.so"]


def test_operator_cnf_is_valid_on_9_7() -> None:
    settings = dict(_cnf_settings(initconf_data(cluster_of(JOURNEY))["00-operator.cnf"]))
    removed_in_9 = {"binlog_transaction_dependency_tracking", "transaction_write_set_extraction",
                    "master_info_repository", "relay_log_info_repository", "log_slave_updates",
                    "skip_slave_start", "default_authentication_plugin", "binlog_format"}
    assert not removed_in_9 & set(settings)
    gr = [k for k in settings if "group_replication" in k]
    assert gr and all(k.startswith("loose_group_replication_") for k in gr)


def test_user_mycnf_is_stored_verbatim() -> None:
    mycnf = "[mysqld]\nmax_connections = 300   \n# comment ä\n\n[client]\ndefault-character-set=utf8mb4"
    data = initconf_data(cluster_of(with_spec(JOURNEY, mycnf=mycnf)))
    assert data["99-extra.cnf"] == mycnf
    assert initconf_data(cluster_of(with_spec(JOURNEY, mycnf="")))["99-extra.cnf"] == ""


def test_the_configmap_carries_the_files_and_scripts() -> None:
    cm = build_initconf(cluster_of(JOURNEY))
    assert cm["metadata"]["name"] == "mycluster-initconf"
    assert sorted(cm["data"]) == ["00-operator.cnf", "99-extra.cnf", "init-conf.sh", "init-datadir.sh",
                                  "liveness.sh", "readiness.sh"]


@pytest.mark.parametrize("script", ["init-conf.sh", "init-datadir.sh", "liveness.sh", "readiness.sh"])
def test_scripts_are_strict_bash_and_never_trace_or_echo_credentials(script: str) -> None:
    text = initconf_data(cluster_of(JOURNEY))[script]
    assert text.startswith("#!/bin/bash\n")
    assert "set -euo pipefail" in text
    assert not re.search(r"set -[a-z]*x|set -o xtrace|bash -x", text)
    for line in text.splitlines():
        if re.search(r"\b(echo|printf)\b", line) and "PASSWORD" in line:
            assert "> \"$client_cnf\"" in line or "cnf_str" in line, line


def test_init_conf_derives_the_pod_identity() -> None:
    text = initconf_data(cluster_of(with_spec(JOURNEY, baseServerId=4000)))["init-conf.sh"]
    assert "BASE_SERVER_ID=4000\n" in text
    assert "INSTANCES_DOMAIN=mycluster-instances.mysql-cluster.svc.cluster.local\n" in text
    assert "server_id=$server_id" in text and "report_host=$fqdn" in text
    assert "loose_group_replication_local_address=$fqdn:$GR_PORT" in text and "GR_PORT=33061\n" in text


def test_scripts_read_only_env_their_containers_get() -> None:
    cluster = cluster_of(JOURNEY)
    data, pod = initconf_data(cluster), server_pod_spec(cluster)
    containers = {c["name"]: c for c in pod["initContainers"] + pod["containers"]}
    referenced = set(re.findall(r"\$\{?(MYSQL_[A-Z_]+)", data["init-datadir.sh"]))
    provided = {e["name"] for e in containers["initdatadir"].get("env", [])}
    assert referenced and referenced <= provided, referenced - provided
    # The readiness probe takes the admin account from the files of the mounted Secret.
    assert not re.findall(r"\$\{?(MYSQL_[A-Z_]+)", data["readiness.sh"])
    mounts = {m["mountPath"] for m in containers["mysql"]["volumeMounts"]}
    assert "ADMIN_DIR=/etc/innodb-operator/admin\n" in data["readiness.sh"] and "/etc/innodb-operator/admin" in mounts


def test_init_datadir_takes_credentials_from_the_environment_only() -> None:
    text = initconf_data(cluster_of(JOURNEY))["init-datadir.sh"]
    assert "mysqld --initialize-insecure --init-file=" in text
    assert "/mnt/initconf" not in text  # nothing read from the ConfigMap but the script itself
    assert "sql_log_bin = 0" in text and "IDENTIFIED BY $(sql_str \"$MYSQL_ROOT_PASSWORD\")" in text


def test_readiness_requires_online_and_liveness_only_an_answer() -> None:
    data = initconf_data(cluster_of(JOURNEY))
    assert "replication_group_members" in data["readiness.sh"] and '== "ONLINE"' in data["readiness.sh"]
    assert "mysqladmin" in data["liveness.sh"] and " ping" in data["liveness.sh"]
    assert "replication_group_members" not in data["liveness.sh"]


def test_config_hash_is_canonical_and_sensitive_to_every_value() -> None:
    data = {"a": "1", "b": "2"}
    assert config_hash(data) == config_hash({"b": "2", "a": "1"})
    assert re.fullmatch(r"[0-9a-f]{64}", config_hash(data))
    assert len({config_hash(data), config_hash({"a": "1", "b": "3"}), config_hash({"a": "1"}),
                config_hash({"a": "1", "b": "2", "c": ""})}) == 4


def test_the_pod_template_carries_the_hash_of_the_configmap_it_mounts() -> None:
    cluster = cluster_of(JOURNEY)
    annotations = build_statefulset(cluster)["spec"]["template"]["metadata"]["annotations"]
    assert annotations[CONFIG_HASH_ANNOTATION] == config_hash(build_initconf(cluster)["data"])
    other = children_of(with_spec(JOURNEY, mycnf="[mysqld]\nmax_connections=301\n"))
    sts = next(c for c in other if c["kind"] == "StatefulSet")
    changed = sts["spec"]["template"]["metadata"]["annotations"][CONFIG_HASH_ANNOTATION]
    assert changed != annotations[CONFIG_HASH_ANNOTATION]
