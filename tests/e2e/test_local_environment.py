"""The local environment's main path: both charts installed as the journey does, ONLINE, served."""

from __future__ import annotations

import secrets
import time

from harness.localenv import (
    CLUSTER_NS,
    CLUSTER_RELEASE,
    OPERATOR_NS,
    LocalEnv,
    cluster_status,
    install_cluster,
    install_operator,
    sql,
    wait_online,
)
from harness.waiting import wait_until


def test_helm_installed_cluster_comes_online_and_answers_through_the_router(env: LocalEnv) -> None:
    password = secrets.token_urlsafe(12)
    started = time.monotonic()
    install_operator(env)
    install_cluster(env, password)
    wait_online(env, instances=3, routers=1, timeout=600)
    online = time.monotonic() - started
    operator = env.kubectl("get", "deploy,pod", "-n", OPERATOR_NS).stdout
    assert "1/1" in operator, operator

    router = env.service_address(CLUSTER_NS, CLUSTER_RELEASE)
    primary = cluster_status(env)["cluster"]["primary"]

    def hostname_via_rw() -> str | None:
        try:
            return str(sql(router, 6446, password, "SELECT @@hostname")[0][0])
        except Exception:
            return None

    wait_until(hostname_via_rw, 60, message="the router's RW port to answer")
    assert hostname_via_rw() == primary
    table = env.kubectl("get", "innodbcluster", "-n", CLUSTER_NS).stdout
    assert CLUSTER_RELEASE in table and "ONLINE" in table, table
    password_seen = [line for line in env.agent_log().splitlines() if password in line]
    assert not password_seen, "the root password appeared in the node agent's log"
    print(f"\nhelm install (operator + cluster) to ONLINE with a ready router: {online:.1f}s; "
          f"RW port answers from {primary}\n{table}")
