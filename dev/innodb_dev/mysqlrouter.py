"""A real ``mysqlrouter`` 9.7 process (from the MySQL root filesystem, through ``chroot``).

    workdir = router_workdir()                        # <root>/var/lib/innodb-test/router-<id>
    write_config(workdir, RW_ONLY.format(...))        # or the output of a bootstrap
    with MysqlRouter(workdir).running(ports=[(host, 6446)]) as router:
        ...                                           # clients connect to host:6446
    result = bootstrap(["root@127.0.57.1:3306", "--directory", inner(workdir), ...],
                       password=fleet.password)       # runs `mysqlrouter --bootstrap ...`
    result.returncode, result.output                  # everything it printed (password fed on stdin)

The router reads and writes only inside the root, so its directory lives there too;
:func:`inner` turns a host path into the path the chrooted router sees. Bootstrapping is
only plumbing here: ``mysqlrouter --bootstrap`` refuses a server without the
``mysql_innodb_cluster_metadata`` schema, which the operator will create later. The
password goes to the router on stdin (never on the command line, never printed). Pass
``--conf-bind-address <loopback>`` and ``--disable-rest`` (or an ``--https-port`` bound to
loopback) to a bootstrap, or the generated config listens on every interface.

Every process is ended on exit (SIGTERM, then SIGKILL), also when the body failed.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from innodb_dev.mysqld import MysqldError, require_root

_TEST_DIR = "var/lib/innodb-test"

# A static config: classic protocol, read-write to the first reachable destination.
STATIC_CONFIG = """\
[DEFAULT]
logging_folder={dir}
runtime_folder={dir}
data_folder={dir}

[logger]
level=INFO

[routing:rw]
bind_address={bind_address}
bind_port={port}
destinations={destinations}
routing_strategy=first-available
protocol=classic
"""


class RouterError(MysqldError):
    """The router failed to start or to answer."""


def inner(path: Path, root: Path | None = None) -> str:
    """The path as the chrooted router sees it."""
    return "/" + str(path.relative_to(root or require_root()))


def router_workdir(name: str = "router") -> Path:
    """A fresh, empty directory inside the root for one router (remove it when done)."""
    path = require_root() / _TEST_DIR / f"{name}-{os.getpid()}-{secrets.token_hex(4)}"
    path.mkdir(parents=True)
    return path


def static_config(workdir: Path, *, bind_address: str, port: int, destinations: Sequence[str]) -> Path:
    """Write :data:`STATIC_CONFIG` into ``workdir/mysqlrouter.conf``."""
    text = STATIC_CONFIG.format(dir=inner(workdir), bind_address=bind_address, port=port,
                                destinations=",".join(destinations))
    return write_config(workdir, text)


def write_config(workdir: Path, text: str, name: str = "mysqlrouter.conf") -> Path:
    path = workdir / name
    path.write_text(text)
    return path


@dataclass
class BootstrapResult:
    """What ``mysqlrouter --bootstrap`` did: its exit code and everything it printed."""

    argv: list[str]
    returncode: int
    output: str


def bootstrap(args: Sequence[str], *, password: str | None = None, timeout: float = 120.0) -> BootstrapResult:
    """Run ``mysqlrouter --bootstrap <args...>`` in the root and capture its output.

    ``args[0]`` is the server URI without a password (``user@host:port``); the password, if
    any, is written to the router's stdin, where it asks for it.
    """
    root = require_root()
    argv = ["chroot", str(root), "/usr/bin/mysqlrouter", "--bootstrap", *args]
    if os.geteuid() == 0 and not any(a.startswith("--user") for a in args):
        argv.append("--user=root")  # it refuses to bootstrap as root otherwise
    result = subprocess.run(argv, input=(password + "\n") if password is not None else "",
                            capture_output=True, text=True, timeout=timeout, check=False)
    return BootstrapResult(argv=argv, returncode=result.returncode, output=result.stdout + result.stderr)


def bootstrap_with_account(args: Sequence[str], *, password: str, account_password: str | None = None,
                           timeout: float = 120.0) -> BootstrapResult:
    """:func:`bootstrap` with ``--account <user>`` among ``args``: Router asks for two passwords.

    First the bootstrap user's (``args[0]``), then the account's, which it stores in its
    keyring; both go to its stdin (``account_password`` defaults to ``password``: the router
    account bootstrapping itself).
    """
    root = require_root()
    argv = ["chroot", str(root), "/usr/bin/mysqlrouter", "--bootstrap", *args]
    if os.geteuid() == 0 and not any(a.startswith("--user") for a in args):
        argv.append("--user=root")
    answers = f"{password}\n{account_password if account_password is not None else password}\n"
    result = subprocess.run(argv, input=answers, capture_output=True, text=True, timeout=timeout, check=False)
    return BootstrapResult(argv=argv, returncode=result.returncode, output=result.stdout + result.stderr)


@dataclass
class MysqlRouter:
    """One router process run from ``workdir`` (which holds its config)."""

    workdir: Path
    config: str = "mysqlrouter.conf"
    root: Path = field(default_factory=require_root)
    _popen: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def is_running(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    @property
    def pid(self) -> int | None:
        return self._popen.pid if self._popen is not None and self._popen.poll() is None else None

    @property
    def log_file(self) -> Path:
        return self.workdir / "mysqlrouter.log"

    def start(self, *, ports: Sequence[tuple[str, int]] = (), timeout: float = 30.0) -> None:
        """Start it; wait until every ``(host, port)`` accepts TCP connections."""
        if self.is_running:
            return
        argv = ["chroot", str(self.root), "/usr/bin/mysqlrouter", "-c", inner(self.workdir / self.config, self.root)]
        with (self.workdir / "stdout.log").open("ab") as out:
            self._popen = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                           start_new_session=True)
        deadline = time.monotonic() + timeout
        for host, port in ports:
            while True:
                if not self.is_running:
                    raise RouterError(f"mysqlrouter exited with {self._popen.poll()}:\n{self.output()}")
                with socket.socket() as s:
                    s.settimeout(1)
                    try:
                        s.connect((host, port))
                        break
                    except OSError:
                        pass
                if time.monotonic() > deadline:
                    raise RouterError(f"mysqlrouter not listening on {host}:{port}:\n{self.output()}")
                time.sleep(0.05)

    def stop(self, grace: float = 10.0) -> None:
        popen = self._popen
        if popen is None or popen.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            popen.send_signal(signal.SIGTERM)
        try:
            popen.wait(grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                popen.kill()
            popen.wait(10)

    def kill(self) -> None:
        if self._popen is not None and self._popen.poll() is None:
            self._popen.kill()
            self._popen.wait(10)

    @contextlib.contextmanager
    def running(self, *, ports: Sequence[tuple[str, int]] = (), timeout: float = 30.0) -> Iterator[MysqlRouter]:
        try:
            self.start(ports=ports, timeout=timeout)
            yield self
        finally:
            self.stop()

    def output(self) -> str:
        """Its log file and its stdout/stderr."""
        parts = []
        for path in (self.log_file, self.workdir / "stdout.log"):
            with contextlib.suppress(OSError):
                parts.append(path.read_text(errors="replace"))
        return "\n".join(parts)


def remove_workdir(workdir: Path, *, keep_logs_in: Path | None = None) -> None:
    """Copy the router's logs out (optional), then delete its directory."""
    if keep_logs_in is not None:
        keep_logs_in.mkdir(parents=True, exist_ok=True)
        for name in ("mysqlrouter.log", "stdout.log", "mysqlrouter.conf"):
            if (workdir / name).exists():
                shutil.copy2(workdir / name, keep_logs_in / name)
    shutil.rmtree(workdir, ignore_errors=True)
