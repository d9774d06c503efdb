"""An InnoDB Cluster installed with the chart on the local environment, seen as a user sees it."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mysql.connector
import yaml

from innodb_dev import toolchain
from innodb_dev.localenv import REPO, LocalEnv, cluster_status, install_cluster, router_ready, wait_online
from innodb_dev.waiting import wait_until

CHART = str(REPO / "charts" / "mysql-innodbcluster")


@dataclass
class Cluster:
    env: LocalEnv
    namespace: str
    release: str
    password: str = field(repr=False)

    # --- what kubectl shows -------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        return cluster_status(self.env, self.namespace, self.release)

    def members(self) -> dict[str, dict[str, Any]]:
        return {m["name"]: m for m in (self.status().get("cluster") or {}).get("members") or []}

    def primary(self) -> str:
        return str((self.status().get("cluster") or {}).get("primary") or "")

    def pod(self, name: str) -> dict[str, Any]:
        return dict(self.env.get("pod", "-n", self.namespace, name))

    def pod_uid(self, name: str) -> str | None:
        """The pod's uid, or None while it does not exist (deleted, not yet recreated)."""
        result = self.env.kubectl("get", "pod", "-n", self.namespace, name, "-o", "jsonpath={.metadata.uid}",
                                  check=False)
        return result.stdout.strip() or None if result.returncode == 0 else None

    def pod_ip(self, name: str) -> str:
        return str(self.pod(name)["status"]["podIP"])

    def server_pods(self) -> list[dict[str, Any]]:
        selector = f"mysql.innodb-operator.dev/cluster={self.release},app.kubernetes.io/component=database"
        return list(self.env.get("pods", "-n", self.namespace, "-l", selector)["items"])

    def member_addresses(self) -> list[tuple[str, str, int]]:
        return [(p["metadata"]["name"], p["status"]["podIP"], 3306) for p in self.server_pods()
                if (p.get("status") or {}).get("podIP")]

    def plugin(self, action: str, member: str, *extra: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
        """``kubectl innodb ACTION <cluster> --to MEMBER``, found by kubectl on PATH as users find it."""
        bin_dir = str(Path(sys.executable).parent)
        env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
               "KUBECONFIG": str(self.env.kubeconfig)}
        argv = [str(toolchain.binaries().kubectl), "innodb", action, self.release, "--to", member,
                "-n", self.namespace, *extra]
        return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=timeout, check=False)

    def datadir(self, member: str) -> Path:
        """The host directory behind the member's datadir claim (the local provisioner's hostPath)."""
        claim = self.env.get("pvc", "-n", self.namespace, f"datadir-{member}")
        volume = self.env.get("pv", claim["spec"]["volumeName"])
        return Path(volume["spec"]["hostPath"]["path"])

    @property
    def router(self) -> str:
        return self.env.service_address(self.namespace, self.release)

    # --- SQL ------------------------------------------------------------------------------------

    def connect(self, host: str, port: int = 3306, **options: Any) -> Any:
        return mysql.connector.connect(host=host, port=port, user="root", password=self.password,
                                       connection_timeout=5, autocommit=True, use_pure=True, **options)

    def query(self, host: str, port: int, statement: str) -> list[tuple[Any, ...]]:
        conn = self.connect(host, port)
        try:
            cur = conn.cursor()
            cur.execute(statement)
            return list(cur.fetchall())
        finally:
            conn.close()

    def rw(self, statement: str) -> list[tuple[Any, ...]]:
        return self.query(self.router, 6446, statement)

    def on_member(self, name: str, statement: str) -> list[tuple[Any, ...]]:
        return self.query(self.pod_ip(name), 3306, statement)

    def answers_rw(self) -> bool:
        try:
            self.rw("SELECT 1")
            return True
        except mysql.connector.Error:
            return False

    # --- changes --------------------------------------------------------------------------------

    def helm_upgrade(self, *sets: str) -> None:
        args = [a for s in sets for a in ("--set", s)]
        self.env.helm("upgrade", self.release, CHART, "-n", self.namespace, "--reuse-values", *args)

    def helm_upgrade_values(self, values: dict[str, Any]) -> None:
        """``helm upgrade --reuse-values -f`` a values file (for multi-line values such as mycnf)."""
        with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
            yaml.safe_dump(values, f)
            f.flush()
            self.env.helm("upgrade", self.release, CHART, "-n", self.namespace, "--reuse-values", "-f", f.name)

    def wait_online(self, instances: int = 3, routers: int = 1, timeout: float = 600) -> float:
        return wait_online(self.env, instances=instances, routers=routers, timeout=timeout,
                           namespace=self.namespace, name=self.release, progress=False)

    def wait_members(self, count: int, timeout: float = 600) -> float:
        """Exactly ``count`` members, all ONLINE, the cluster ONLINE and the RW port answering."""
        def settled() -> bool:
            members = self.members()
            return (len(members) == count and all(m["state"] == "ONLINE" for m in members.values())
                    and (self.status().get("cluster") or {}).get("status") == "ONLINE" and self.answers_rw())
        return wait_until(settled, timeout, interval=1.0, message=f"{count} members ONLINE")

    def routers_ready(self) -> int:
        return router_ready(self.env, self.namespace, self.release)


def install(env: LocalEnv, namespace: str, release: str, password: str, *sets: str) -> tuple[Cluster, float]:
    """Install the cluster chart with the journey's values and ``sets`` (``--set`` values);
    (cluster, seconds until ONLINE + router)."""
    started = time.monotonic()
    install_cluster(env, password, namespace=namespace, release=release,
                    extra=tuple(a for s in sets for a in ("--set", s)))
    cluster = Cluster(env, namespace, release, password)
    cluster.wait_online()
    wait_until(cluster.answers_rw, 120, interval=0.5, message="the router's RW port")
    return cluster, time.monotonic() - started


def uninstall(cluster: Cluster) -> None:
    env = cluster.env
    env.helm("uninstall", cluster.release, "-n", cluster.namespace, "--wait", "--timeout", "240s", check=False)
    env.kubectl("delete", "namespace", cluster.namespace, "--wait=false", check=False)
