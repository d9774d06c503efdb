"""The two Services: ``<name>-instances`` (headless, server pods) and ``<name>`` (the router).

Contract:
  * ``<name>-instances``: clusterIP None and publishNotReadyAddresses true, so every member
    has a DNS name (``<pod>.<name>-instances.<ns>.svc.cluster.local``) before it is ONLINE;
    ports mysql 3306, mysqlx 33060, gr-xcom 33061, and with ``spec.metrics.enable`` the
    exporter's ``metrics`` port; selects the server pods.
  * ``<name>``: type and annotations from ``spec.service``; ports mysql-rw 6446, mysql-ro
    6447, mysqlx-rw 6448, mysqlx-ro 6449, mysql-rw-split 6450, router-rest 8443, and the
    default ports of both protocols as aliases of read-write: mysql 3306 -> 6446 and mysqlx
    33060 -> 6448; selects the router pods. Node ports are left to the API server.
"""

from __future__ import annotations

from innodb_api.types import Cluster

from . import labels, layout, names
from .meta import Obj, new_object


def _port(name: str, port: int, target: int | None = None) -> Obj:
    return {"name": name, "port": port, "targetPort": port if target is None else target, "protocol": "TCP"}


def build_instances_service(cluster: Cluster) -> Obj:
    name = names.instances_service_name(cluster.name)
    svc = new_object("v1", "Service", cluster, name, labels.labels(cluster, "database"))
    svc["spec"] = {
        "clusterIP": "None",
        "publishNotReadyAddresses": True,
        "ports": [
            _port("mysql", layout.MYSQL_PORT),
            _port("mysqlx", layout.MYSQLX_PORT),
            _port("gr-xcom", layout.GR_PORT),
            *([_port("metrics", cluster.spec.metrics.web_port)] if cluster.spec.metrics.enable else []),
        ],
        "selector": labels.server_selector(cluster),
    }
    return svc


def build_router_service(cluster: Cluster) -> Obj:
    name = names.router_service_name(cluster.name)
    svc = new_object("v1", "Service", cluster, name, labels.labels(cluster, "router"), cluster.spec.service.annotations)
    svc["spec"] = {
        "type": cluster.spec.service.type,
        "ports": [*(_port(name, port) for name, port in layout.ROUTER_PORTS),
                  *(_port(name, port, target) for name, port, target in layout.ROUTER_SERVICE_ALIASES)],
        "selector": labels.router_selector(cluster),
    }
    return svc
