"""Which images the agent can run, and what each one is on this machine.

An image maps to a root filesystem plus the image's default entrypoint, command, user and
PATH. Tags are ignored except that the MySQL images must carry the version in the MySQL root
(a different tag would be a different server: refused, with the versions we have). One stand-in
is served plainly: the next patch's tag (9.7.5 for a 9.7.4 root) runs the same binaries, so that
a ``spec.version`` change can be rolled here (:func:`stand_in_tag`); mysqld reports 9.7.4.

  * ``*/mysql/community-server`` -> the MySQL root filesystem (Debian's mysql-server-core),
    copy-on-write per container (overlayfs), like a container's image layers.
  * ``*/mysql/community-router`` -> the same root (``mysqlrouter``, the ``mysql`` client, bash).
    The stock image's own entrypoint script is not in that root, so a container of this image
    must say what to run (``command``), as the operator's router Deployment does: it runs the
    product's ``router-entrypoint.sh`` from its ConfigMap, the same code as in production.
  * ``innodb-operator`` (any registry) -> the host's filesystem with this checkout's virtual
    environment; the entrypoint is ``innodb-operator``. It runs as root whatever the pod asks:
    the host's Python lives under ``/root``, which no other user can enter.
  * ``*/prom/mysqld-exporter`` and ``*/prometheus/mysqld-exporter`` -> Debian's
    prometheus-mysqld-exporter (:mod:`innodb_dev.monitoring`), on the host's filesystem like the
    operator (the binary needs only libc); the entrypoint is that binary, as the stock image's is
    ``/bin/mysqld_exporter``, so a container sets ``args`` only. A tag must name the version in
    the cache (``v0.17.2``) or be ``latest``. Root whatever the pod asks, for the same reason.

Anything else is an error the agent reports on the pod (``ErrImagePull``), as a node that
cannot pull the image would.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from innodb_dev import REPO, monitoring, mysqlroot

IMAGE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
EXPORTER_REPOSITORIES = ("prom/mysqld-exporter", "prometheus/mysqld-exporter")


class UnknownImage(Exception):
    """The agent has no local program for this image."""


@dataclass(frozen=True)
class Image:
    name: str
    rootfs: Path | None            # None: the host's filesystem
    entrypoint: tuple[str, ...]
    cmd: tuple[str, ...] = ()
    user: int | None = 0           # None: honour the pod's runAsUser
    keep: tuple[str, ...] = ()     # host paths the image is made of: stay visible whatever is mounted
    missing_entrypoint: str = ""   # why the image cannot run without a command, when it cannot

    @property
    def host_root(self) -> bool:
        return self.rootfs is None


def _repository(image: str) -> tuple[str, str]:
    image = image.split("@", 1)[0]  # a digest names no version we could check
    name, _, tag = image.rpartition(":") if ":" in image.rsplit("/", 1)[-1] else (image, "", "latest")
    return name, tag


def stand_in_tag(have: str) -> str:
    """The one tag served from the installed MySQL binaries besides their own: the next patch
    release (9.7.4 -> 9.7.5). Only one MySQL version is packaged here; this lets a version change
    be rolled locally. It exercises the operator's roll, not MySQL's upgrade: mysqld still
    reports ``have``."""
    parts = have.split("-", 1)[0].split(".")  # Debian's 9.7.4-2: upstream 9.7.4, package revision 2
    if len(parts) != 3 or not parts[2].isdigit():
        return have
    return f"{parts[0]}.{parts[1]}.{int(parts[2]) + 1}"


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
        if tag != "latest" and not have.startswith(tag) and tag != stand_in_tag(have):
            raise UnknownImage(f"{image}: this machine has MySQL {have} only (and {stand_in_tag(have)}, "
                               f"the same binaries under the next patch's tag)")
        if repository.endswith("community-server"):
            return Image(image, root, (), ("mysqld",), user=None)
        return Image(image, root, (), (), user=None, missing_entrypoint=(
            "the node agent does not have the MySQL Router image's stock entrypoint; set the container's "
            "command (the operator's router Deployment runs router-entrypoint.sh from its ConfigMap)"))
    if any(repository == r or repository.endswith("/" + r) for r in EXPORTER_REPOSITORIES):
        return _exporter(image, tag)
    raise UnknownImage(f"the node agent cannot run image {image!r} (it runs the MySQL server and router "
                       "images, innodb-operator and prom/mysqld-exporter)")


def _exporter(image: str, tag: str) -> Image:
    try:
        binary = monitoring.mysqld_exporter_binary()
    except monitoring.NotInstalled:
        raise UnknownImage(f"no mysqld_exporter for {image}; install it with: {monitoring.INSTALL_HINT}") from None
    have = monitoring.exporter_version()
    if tag != "latest" and tag.removeprefix("v") != have:
        raise UnknownImage(f"{image}: this machine has mysqld_exporter {have} only")
    return Image(image, None, (str(binary),), keep=(str(binary.parent),))


def _mysql_version(root: Path) -> str:
    return mysqlroot.cached_versions().get("mysql-server-core", root.name.removeprefix("mysql-root-"))
