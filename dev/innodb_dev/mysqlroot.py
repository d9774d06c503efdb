"""A root filesystem holding MySQL 9.7 server, client and Router from Debian's unstable suite.

The host's libraries are too old for these packages, so they live in a minimal Debian
root of their own (``debootstrap --variant=minbase sid``) and run through ``chroot``.

    python -m innodb_dev.mysqlroot ensure     # build once (about a minute, ~700 MB), print its path
    python -m innodb_dev.mysqlroot path       # print the cached root, or fail saying how to build it

The root is cached under ``~/.cache/innodb-operator/mysql-root-<server version>``; a
pointer file names the current one, so a warm machine needs no network at all. The
Debian mirror is the one this machine's apt already uses.
"""

from __future__ import annotations

import json
import lzma
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from innodb_dev.toolchain import cache_root

SUITE = "sid"
PACKAGES = ("mysql-server-core", "mysql-client-core", "mysql-router")
EXTRA = ("ca-certificates", "iproute2", "procps", "bash", "coreutils")
INSTALL_HINT = "./dev/setup  (builds the MySQL root filesystem into ~/.cache/innodb-operator)"
_POINTER = "mysql-root.json"


def _say(message: str) -> None:
    print(f"[mysqlroot] {message}", flush=True)


def debian_mirror() -> str:
    """The Debian archive URL this machine's apt is configured with."""
    candidates = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]
    for path in candidates:
        if not path.is_file() or path.suffix not in ("", ".list", ".sources"):
            continue
        text = path.read_text(errors="replace")
        urls: list[str] = re.findall(r"(?:URIs:\s*|^deb\s+(?:\[[^\]]*\]\s+)?)(\S+)", text, re.M)
        for url in urls:
            if url.rstrip("/").endswith("/debian"):
                return url.rstrip("/")
    raise RuntimeError("no Debian archive found in /etc/apt/sources.list{,.d}; cannot build the MySQL root")


def cached_root() -> Path | None:
    """The current cached root, or None."""
    pointer = cache_root() / _POINTER
    try:
        root = Path(json.loads(pointer.read_text())["path"])
    except (OSError, ValueError, KeyError):
        return None
    return root if (root / "usr" / "sbin" / "mysqld").exists() else None


def cached_versions() -> dict[str, str]:
    """The package versions the current cached root was built from (empty when unknown)."""
    try:
        versions = json.loads((cache_root() / _POINTER).read_text()).get("versions") or {}
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in versions.items()}


def _versions(mirror: str) -> dict[str, str]:
    url = f"{mirror}/dists/{SUITE}/main/binary-amd64/Packages.xz"
    _say(f"reading the {SUITE} package index for {', '.join(PACKAGES)}")
    with urllib.request.urlopen(url, timeout=120) as resp:
        text = lzma.decompress(resp.read()).decode("utf-8", "replace")
    found: dict[str, str] = {}
    for stanza in text.split("\n\n"):
        name = re.search(r"^Package: (\S+)$", stanza, re.M)
        version = re.search(r"^Version: (\S+)$", stanza, re.M)
        if name and version and name.group(1) in PACKAGES:
            found[name.group(1)] = version.group(1)
    missing = set(PACKAGES) - set(found)
    if missing:
        raise RuntimeError(f"{SUITE} has no {', '.join(sorted(missing))}")
    return found


def _ensure_debootstrap() -> None:
    if shutil.which("debootstrap"):
        return
    if os.geteuid() != 0:
        raise SystemExit("debootstrap is missing; install it (apt-get install debootstrap) and re-run")
    _say("installing debootstrap (apt-get)")
    subprocess.run(["apt-get", "update", "-qq"], check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["apt-get", "install", "-y", "-qq", "debootstrap"], check=True, stdout=subprocess.DEVNULL)


def ensure() -> Path:
    """Return the MySQL root, building it first if there is none. Idempotent."""
    existing = cached_root()
    if existing is not None:
        _say(f"cached: {existing}")
        return existing
    if os.geteuid() != 0:
        raise SystemExit("building the MySQL root filesystem needs root (debootstrap, chroot)")
    _ensure_debootstrap()
    mirror = debian_mirror()
    versions = _versions(mirror)
    root = cache_root() / f"mysql-root-{versions['mysql-server-core']}"
    partial = root.with_name(root.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.parent.mkdir(parents=True, exist_ok=True)
    _say(f"debootstrap {SUITE} with {', '.join(f'{k} {v}' for k, v in versions.items())} "
         f"into {root} (first time only: about a minute, ~700 MB)")
    started = time.monotonic()
    subprocess.run(["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES + EXTRA)}",
                    SUITE, str(partial), mirror], check=True)
    _prepare(partial)
    shutil.rmtree(root, ignore_errors=True)
    partial.rename(root)
    (cache_root() / _POINTER).write_text(json.dumps({"path": str(root), "versions": versions}, indent=2))
    _say(f"built in {time.monotonic() - started:.0f}s: {root}")
    return root


def _prepare(root: Path) -> None:
    """Small fixes the minimal root needs to run mysqld and mysqlrouter as the tests do."""
    shutil.rmtree(root / "var" / "cache" / "apt" / "archives", ignore_errors=True)
    (root / "var" / "cache" / "apt" / "archives" / "partial").mkdir(parents=True, exist_ok=True)
    for sub in ("run/mysqld", "var/lib/mysql-files"):
        (root / sub).mkdir(parents=True, exist_ok=True)


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "ensure"
    if command == "ensure":
        print(ensure())
        return 0
    if command == "path":
        root = cached_root()
        if root is None:
            print(f"no MySQL root filesystem; build it with: {INSTALL_HINT}", file=sys.stderr)
            return 1
        print(root)
        return 0
    print("usage: python -m innodb_dev.mysqlroot [ensure|path]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
