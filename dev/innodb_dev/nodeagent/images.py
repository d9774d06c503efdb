"""Which images the agent can run, and what each one is on this machine.

An image maps to a root filesystem plus the image's default entrypoint, command, user and
PATH. Tags are ignored except that the MySQL images must carry the version in the MySQL root
(a different tag would be a different server: refused, with the versions we have).

  * ``*/mysql/community-server`` -> the MySQL root filesystem (Debian's mysql-server-core),
    copy-on-write per container (overlayfs), like a container's image layers.
  * ``*/mysql/community-router`` -> the same root; its entrypoint is :data:`ROUTER_ENTRYPOINT`,
    our own script with the documented behaviour of the image's: wait for the group, bootstrap
    against it with ``MYSQL_HOST``/``MYSQL_PORT``/``MYSQL_USER``/``MYSQL_PASSWORD``, then run.
  * ``innodb-operator`` (any registry) -> the host's filesystem with this checkout's virtual
    environment; the entrypoint is ``innodb-operator``. It runs as root whatever the pod asks:
    the host's Python lives under ``/root``, which no other user can enter.

Anything else is an error the agent reports on the pod (``ErrImagePull``), as a node that
cannot pull the image would.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from innodb_dev import REPO, mysqlroot

IMAGE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
ENTRYPOINT_PATH = "/usr/local/bin/agent-router-entrypoint.sh"

ROUTER_ENTRYPOINT = r"""#!/bin/bash
# Stand-in for the MySQL Router image's entrypoint (node agent): wait until the group has
# MYSQL_INNODB_CLUSTER_MEMBERS members ONLINE, bootstrap, then run the router in the foreground.
set -euo pipefail
: "${MYSQL_HOST:?}" "${MYSQL_PORT:=3306}" "${MYSQL_USER:?}" "${MYSQL_PASSWORD:?}"
members="${MYSQL_INNODB_CLUSTER_MEMBERS:-1}"
dir=/tmp/mysqlrouter
umask 077
cnf="$(mktemp /tmp/client.XXXXXX)"
trap 'rm -f "$cnf"' EXIT
printf '[client]\nuser="%s"\npassword="%s"\n' "$MYSQL_USER" "$MYSQL_PASSWORD" > "$cnf"
query="SELECT COUNT(*) FROM performance_schema.replication_group_members WHERE MEMBER_STATE = 'ONLINE'"
until online="$(mysql --defaults-extra-file="$cnf" -h "$MYSQL_HOST" -P "$MYSQL_PORT" --connect-timeout=3 \
                 -N -B -e "$query" 2>/dev/null)" && [[ "$online" -ge "$members" ]]; do
  echo "router-entrypoint: waiting for $members ONLINE member(s) at $MYSQL_HOST:$MYSQL_PORT"
  sleep 2
done
options=(--directory "$dir" --force --conf-use-sockets --report-host "$(hostname)")
if [[ "${MYSQL_CREATE_ROUTER_USER:-1}" == "0" ]]; then
  options+=(--account "$MYSQL_USER" --account-create never)
  answers="$(printf '%s\n%s\n' "$MYSQL_PASSWORD" "$MYSQL_PASSWORD")"
else
  answers="$(printf '%s\n' "$MYSQL_PASSWORD")"
fi
# shellcheck disable=SC2086
mysqlrouter --bootstrap "$MYSQL_USER@$MYSQL_HOST:$MYSQL_PORT" "${options[@]}" \
  ${MYSQL_ROUTER_BOOTSTRAP_EXTRA_OPTIONS:-} <<< "$answers"
rm -f "$cnf"
exec mysqlrouter --config "$dir/mysqlrouter.conf"
"""


class UnknownImage(Exception):
    """The agent has no local program for this image."""


@dataclass(frozen=True)
class Image:
    name: str
    rootfs: Path | None            # None: the host's filesystem
    entrypoint: tuple[str, ...]
    cmd: tuple[str, ...] = ()
    user: int | None = 0           # None: honour the pod's runAsUser
    files: tuple[tuple[str, str, int], ...] = ()   # (path, content, mode) added on top of the root
    keep: tuple[str, ...] = ()     # host paths the image is made of: stay visible whatever is mounted

    @property
    def host_root(self) -> bool:
        return self.rootfs is None


def _repository(image: str) -> tuple[str, str]:
    name, _, tag = image.rpartition(":") if ":" in image.rsplit("/", 1)[-1] else (image, "", "latest")
    return name, tag


def resolve(image: str) -> Image:
    repository, tag = _repository(image)
    if repository.endswith("/innodb-operator") or repository == "innodb-operator":
        entry = Path(sys.executable).with_name("innodb-operator")
        keep = tuple(dict.fromkeys(str(Path(p).resolve()) for p in (REPO, sys.prefix, sys.base_prefix)))
        return Image(image, None, (str(entry),), ("run",), keep=keep)
    if repository.endswith("mysql/community-server") or repository.endswith("mysql/community-router"):
        root = mysqlroot.cached_root()
        if root is None:
            raise UnknownImage(f"no MySQL root filesystem for {image}; install it with: {mysqlroot.INSTALL_HINT}")
        have = _mysql_version(root)
        if tag != "latest" and not have.startswith(tag):
            raise UnknownImage(f"{image}: this machine has MySQL {have} only")
        if repository.endswith("community-server"):
            return Image(image, root, (), ("mysqld",), user=None)
        return Image(image, root, (ENTRYPOINT_PATH,), (), user=None,
                     files=((ENTRYPOINT_PATH, ROUTER_ENTRYPOINT, 0o755),))
    raise UnknownImage(f"the node agent cannot run image {image!r} (it runs the MySQL server and router "
                       "images and innodb-operator)")


def _mysql_version(root: Path) -> str:
    return mysqlroot.cached_versions().get("mysql-server-core", root.name.removeprefix("mysql-root-"))
