"""The node agent runs ``prom/mysqld-exporter`` as Debian's mysqld_exporter, beside mysqld in one pod.

No operator here: a hand-written pod with a mysqld container and an exporter sidecar, as the
operator's server pods will have, scraped by the local environment's Prometheus
(:mod:`innodb_dev.monitoring`) found through the API server.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from e2e.conftest import apply, pod, shell_container
from innodb_dev import monitoring
from innodb_dev.localenv import LocalEnv
from innodb_dev.waiting import wait_until

EXPORTER_IMAGE = "prom/mysqld-exporter:v0.17.2"


def server_pod_with_exporter(name: str, password: str) -> list[dict[str, Any]]:
    """mysqld on 127.0.0.1 only, and an exporter sidecar reaching it there (the pod's network namespace)."""
    init = (f"CREATE USER IF NOT EXISTS 'exporter'@'127.0.0.1' IDENTIFIED BY '{password}' "
            "WITH MAX_USER_CONNECTIONS 3;\n"
            "GRANT PROCESS, REPLICATION CLIENT, SELECT ON *.* TO 'exporter'@'127.0.0.1';\n")
    script = ("set -e; [ -d /var/lib/mysql/data/mysql ] || mysqld --no-defaults --initialize-insecure --user=root "
              "--datadir=/var/lib/mysql/data; exec mysqld --no-defaults --user=root --datadir=/var/lib/mysql/data "
              "--mysqlx=OFF --bind-address=127.0.0.1 --secure-file-priv= --init-file=/init/init.sql")
    exporter = {
        "name": "metrics", "image": EXPORTER_IMAGE,
        "args": ["--mysqld.address=127.0.0.1:3306", "--mysqld.username=exporter", "--web.listen-address=:9104"],
        "env": [{"name": "MYSQLD_EXPORTER_PASSWORD",
                 "valueFrom": {"secretKeyRef": {"name": f"{name}-exporter", "key": "password"}}}],
        "ports": [{"name": "metrics", "containerPort": 9104}],
        "readinessProbe": {"httpGet": {"path": "/metrics", "port": "metrics"}, "periodSeconds": 1},
        "securityContext": {"readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False},
        # a path the host does not have: the agent must not create it there
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"},
                         {"name": "exporter", "mountPath": "/etc/mysqld-exporter", "readOnly": True}],
    }
    server = pod(name, shell_container("mysql", script, readinessProbe={
        "exec": {"command": ["mysqladmin", "ping"]}, "periodSeconds": 1},
        volumeMounts=[{"name": "data", "mountPath": "/var/lib/mysql"}, {"name": "init", "mountPath": "/init"}]),
        exporter,
        volumes=[{"name": "data", "emptyDir": {}}, {"name": "init", "secret": {"secretName": f"{name}-init"}},
                 {"name": "tmp", "emptyDir": {}}, {"name": "exporter", "secret": {"secretName": f"{name}-exporter"}}])
    server["metadata"]["labels"] = {"app.kubernetes.io/name": "mysql-innodbcluster",
                                    "mysql.innodb-operator.dev/cluster": name}
    return [
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": f"{name}-init"}, "stringData": {"init.sql": init}},
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": f"{name}-exporter"},
         "stringData": {"password": password}},
        server,
    ]


def waiting(env: LocalEnv, namespace: str, name: str, container: str) -> dict[str, Any]:
    obj = json.loads(env.kubectl("get", "pod", "-n", namespace, name, "-o", "json").stdout)
    status = next((s for s in (obj.get("status") or {}).get("containerStatuses") or [] if s["name"] == container), {})
    return dict((status.get("state") or {}).get("waiting") or {})


@pytest.fixture
def prom(env: LocalEnv, tmp_path: Path) -> Iterator[monitoring.Prometheus]:
    with monitoring.running(tmp_path / "prometheus", env.kubeconfig) as prometheus:
        yield prometheus


def test_the_exporter_sidecar_reads_mysqld_over_the_pods_loopback_and_prometheus_scrapes_it(
        env: LocalEnv, namespace: str, prom: monitoring.Prometheus) -> None:
    password = secrets.token_hex(8)
    apply(env, namespace, *server_pod_with_exporter("db", password))
    labels = f'job="{monitoring.EXPORTER_JOB}",namespace="{namespace}",pod="db",container="metrics",cluster="db"'

    def mysql_up() -> bool:
        return [s["value"][1] for s in prom.query(f"mysql_up{{{labels}}}")] == ["1"]
    wait_until(mysql_up, 180, interval=1.0, message=f"mysql_up 1 from the exporter in {namespace}/db; "
               f"targets: {[t['labels'] for t in prom.targets()]}")
    [connections] = prom.query(f"mysql_global_variables_max_connections{{{labels}}}")
    assert connections["value"][1] == "151"  # the default of the mysqld beside it (started with --no-defaults)

    pid = env.container_pid(namespace, "db", "metrics")
    assert Path(os.readlink(f"/proc/{pid}/exe")) == monitoring.mysqld_exporter_binary()  # Debian's, as the image
    mounted = subprocess.run(["nsenter", "-t", str(pid), "-m", "-r", "--", "cat", "/etc/mysqld-exporter/password"],
                             capture_output=True, text=True, check=True).stdout
    assert mounted == password  # the Secret is there inside the container...
    assert not Path("/etc/mysqld-exporter").exists()  # ...and nothing was made on the host


def test_an_exporter_tag_other_than_debians_version_is_a_clear_error_on_the_pod(env: LocalEnv, namespace: str) -> None:
    apply(env, namespace, pod("old", {"name": "metrics", "image": "prom/mysqld-exporter:v0.15.1"}))
    wait_until(lambda: waiting(env, namespace, "old", "metrics").get("reason") == "ErrImagePull", 60,
               message="ErrImagePull on pod old")
    message = waiting(env, namespace, "old", "metrics")["message"]
    assert f"mysqld_exporter {monitoring.exporter_version()} only" in message, message
