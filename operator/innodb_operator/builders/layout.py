"""Where things live in the pods: ports, mount paths, volume names, env names, secret keys.

Contract: these values are shared by the generated config, the scripts and the pod specs, and
the rest of the system relies on them (the clustering code connects to ``MYSQL_PORT``, the
group listens on ``GR_PORT``). Changing one is a rolling restart of every member.
"""

from __future__ import annotations

# Server ports.
MYSQL_PORT = 3306
MYSQLX_PORT = 33060
GR_PORT = 33061

# Router ports (the stock MySQL Router image's defaults after bootstrap).
ROUTER_PORTS: tuple[tuple[str, int], ...] = (
    ("mysql-rw", 6446),
    ("mysql-ro", 6447),
    ("mysqlx-rw", 6448),
    ("mysqlx-ro", 6449),
    ("mysql-rw-split", 6450),
    ("router-rest", 8443),
)
ROUTER_RW_PORT = 6446
ROUTER_X_RW_PORT = 6448
# The router Service's default-port aliases: clients that name no port reach the primary.
ROUTER_SERVICE_ALIASES: tuple[tuple[str, int, int], ...] = (
    ("mysql", MYSQL_PORT, ROUTER_RW_PORT),
    ("mysqlx", MYSQLX_PORT, ROUTER_X_RW_PORT),
)
ROUTER_REST_PORT = 8443

# Server pod paths.
DATADIR = "/var/lib/mysql"
INITCONF_DIR = "/mnt/initconf"       # the <name>-initconf ConfigMap, read-only
MYCNFDATA_DIR = "/mnt/mycnfdata"     # emptyDir the initconf container writes
MY_CNF = "/etc/my.cnf"               # subPath my.cnf of the emptyDir
MY_CNF_D = "/etc/my.cnf.d"           # subPath my.cnf.d of the emptyDir
RUN_DIR = "/var/run/mysqld"          # emptyDir: sockets and pid file
TMP_DIR = "/tmp"                     # emptyDir
ADMIN_CREDENTIALS_DIR = "/etc/innodb-operator/admin"  # the admin account's keys of <name>-privsecrets
SOCKET = f"{RUN_DIR}/mysql.sock"
MYSQLX_SOCKET = f"{RUN_DIR}/mysqlx.sock"

# Volume names.
DATADIR_VOLUME = "datadir"
INITCONF_VOLUME = "initconf"
MYCNFDATA_VOLUME = "mycnfdata"
RUN_VOLUME = "rundir"
TMP_VOLUME = "tmp"
ADMIN_CREDENTIALS_VOLUME = "admin-credentials"

# ConfigMap keys.
OPERATOR_CNF = "00-operator.cnf"
POD_CNF = "01-pod.cnf"
EXTRA_CNF = "99-extra.cnf"
INIT_CONF_SH = "init-conf.sh"
INIT_DATADIR_SH = "init-datadir.sh"
READINESS_SH = "readiness.sh"
LIVENESS_SH = "liveness.sh"

# Keys of the user's Secret (spec.secretName).
ROOT_PASSWORD_KEY = "rootPassword"
ROOT_USER_KEY = "rootUser"
ROOT_HOST_KEY = "rootHost"

# Environment variable names in the server pod.
ENV_ROOT_PASSWORD = "MYSQL_ROOT_PASSWORD"
ENV_ROOT_USER = "MYSQL_ROOT_USER"
ENV_ROOT_HOST = "MYSQL_ROOT_HOST"
ENV_ADMIN_USER = "MYSQL_OPERATOR_ADMIN_USER"
ENV_ADMIN_PASSWORD = "MYSQL_OPERATOR_ADMIN_PASSWORD"

# Users the images run as.
MYSQL_UID = 27
ROUTER_UID = 999
