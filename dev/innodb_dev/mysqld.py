"""Real ``mysqld`` 9.7 processes on loopback, one address per instance, as pods would have.

    with MysqlFleet.start(3, logdir=tmp_path) as fleet:
        a, b, c = fleet.instances        # 127.0.<block>.1, .2, .3
        a.host, a.port, a.x_port         # "127.0.57.1", 3306, 33060
        a.gr_local_address               # "127.0.57.1:33062" (see "Group Replication" below)
        a.sql("SELECT @@server_uuid")    # one statement as root over TCP; rows as tuples
        a.kill(); a.start()              # SIGKILL (a crash), then start again on the same datadir
        a.stop(); a.restart()            # graceful SIGTERM and wait

Configuration. What the fleet runs is what ships: each instance's ``my.cnf`` includes the
operator's own ``00-operator.cnf`` (rendered by ``innodb_operator.builders.config``), then the
instance's identity and addresses (``01-instance.cnf``, a pod's ``01-pod.cnf`` plus paths and
listeners), then :data:`FLEET_OVERLAY` (the few documented differences: root user, the MYSQL
communication stack, small and fast settings), then ``extra_settings``. See the comment above
:data:`FLEET_CLUSTER`.

Where things are. The binaries live in the MySQL root filesystem (:mod:`innodb_dev.mysqlroot`)
and run through ``chroot``; the chroot shares the host's network namespace. Datadirs live
inside the root (``<root>/var/lib/innodb-test/<fleet>/<n>``) so the chrooted server sees
them; they are removed when the fleet ends, after the error logs are copied to ``logdir``.

Addresses. Each fleet claims a block ``127.0.<random>.0/24`` under a lock file (concurrent
test sessions never share one) after checking that its ports are free on every address,
and puts the instance addresses on ``lo`` as ``/32`` for the fleet's lifetime (removed at
the end; a dead session's leftovers are removed by the next claim of that block). Every
listener binds to the instance's own address only: classic 3306, X 33060, admin 33062+n-1.

Group Replication in one network namespace (learned the hard way, 9.7.4):
  * GCS refuses a ``group_replication_local_address`` whose IP is not on an interface
    ("There is no local IP address matching the one configured for the local node"):
    127.0.0.1/8 on ``lo`` is not enough, hence the ``/32`` addresses.
  * The XCOM stack listens on the wildcard address (``*:33061``), so a second instance cannot
    use 33061 ("Unable to announce tcp port 33061. Port already in use?") and XCOM would break
    the loopback-only rule anyway.
  * A member skips every seed whose port equals its own and whose IP is local ("::join()::
    Skipping own address"): in one namespace all members' IPs are local, so equal ports
    mean no member ever contacts another. Local addresses need distinct ports.
  Therefore the fleet uses ``group_replication_communication_stack=MYSQL`` with each
  instance's local address on its own admin port (``admin_address`` = its IP,
  ``admin_port`` = 33062+n-1). The recovery account then also needs
  ``GROUP_REPLICATION_STREAM`` and ``SERVICE_CONNECTION_ADMIN`` and must exist on every
  member, with ``CHANGE REPLICATION SOURCE TO SOURCE_USER=.., SOURCE_PASSWORD=.. FOR CHANNEL
  'group_replication_recovery'``, before the member starts Group Replication.

Speed. ``mysqld --initialize-insecure`` (~3 s) runs once per server version and
initialisation settings into a template datadir, which is copied for each instance (~0.1 s);
the template has no ``auto.cnf`` and no binary logs, so each copy gets its own
``server_uuid`` and an empty ``gtid_executed``. On its first start an instance runs a
private ``--init-file`` (mode 0600, deleted once the server answers; ``sql_log_bin=0`` so it
makes no GTIDs) giving ``root@'%'`` and ``root@localhost`` the fleet's random password,
which is never printed or logged. ``stop()`` is graceful but takes ~3 s with the GR plugin
loaded (the server waits 2 s for the plugin's sessions); the fleet's teardown SIGKILLs
instead, since the datadirs are deleted anyway.

Run alone for poking: ``python -m innodb_dev.mysqld [N]`` (the password goes to a 0600 file).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import mysql.connector

from innodb_api.types import Cluster
from innodb_dev import mysqlroot
from innodb_operator.builders import initconf_data, layout

CLASSIC_PORT = 3306
X_PORT = 33060
ADMIN_PORT_BASE = 33062  # instance n: admin interface and GR local address on 33062 + n - 1
SPARE_BASE = 200  # 127.0.<block>.200+k: extra addresses for clients of the fleet (a router)
ROOT_USER = "root"

_LOCK_DIR = Path(tempfile.gettempdir()) / "innodb-operator-loopback"
_TEST_DIR = "var/lib/innodb-test"
_TEMPLATE_DIR = "var/lib/innodb-test-templates"

# The server configuration is the product's: ``00-operator.cnf`` is what the operator ships in
# every cluster's initconf ConfigMap (innodb_operator.builders.config.operator_cnf), rendered for a
# cluster named "fleet", verbatim. Each instance's my.cnf includes, in the order a pod's my.cnf
# includes 00-operator.cnf, 01-pod.cnf and 99-extra.cnf:
#   00-operator.cnf  the product's settings (binary log "fleet-bin", GTIDs, plugins, GR options);
#   01-instance.cnf  what 01-pod.cnf holds in a pod (server_id, report_host, the GR local address),
#                    plus where the instance lives: its datadir, sockets, pid and error log, and
#                    every listener on its own loopback address (see "Addresses");
#   50-fleet.cnf     FLEET_OVERLAY, the explicit differences of a fleet in one network namespace
#                    on a small machine, each with its reason;
#   99-extra.cnf     the caller's ``extra_settings``, as spec.mycnf would be.
FLEET_CLUSTER = Cluster.from_object({"metadata": {"name": "fleet", "namespace": "innodb-dev"},
                                     "spec": {"secretName": "fleet-root"}})
BINLOG_BASENAME = f"{FLEET_CLUSTER.name}-bin"   # the product's log_bin=<cluster>-bin

FLEET_OVERLAY = """\
# The fleet's differences from the operator's settings (00-operator.cnf), each with its reason.
[mysqld]
# The MySQL root filesystem has no mysql user; the server runs as root (a pod runs as uid 27).
user=root
# All members share one network namespace, where XCom would listen on *:33061 for every member
# and skip seeds on local addresses (see innodb_dev.mysqld's docstring); pods use XCOM.
loose_group_replication_communication_stack=MYSQL
# Clients connect from loopback addresses that no DNS knows; never look them up.
skip_name_resolve=ON
host_cache_size=0
# Small and fast on a shared machine, durability traded for speed: the datadirs are thrown away.
innodb_buffer_pool_size=64M
innodb_redo_log_capacity=8M
innodb_flush_log_at_trx_commit=2
innodb_doublewrite=OFF
sync_binlog=0
max_connections=200
# The tests read the error log.
log_error_verbosity=3
"""


def _operator_cnf() -> str:
    return initconf_data(FLEET_CLUSTER)[layout.OPERATOR_CNF]


def write_layout(directory: Path, name: str, *, inner: str, instance: str, extra: str = "") -> Path:
    """Write ``<name>.cnf`` (``!include`` lines) and ``<name>.cnf.d/*.cnf`` into ``directory``.

    ``inner`` is ``directory`` as the chrooted server sees it; ``instance`` and ``extra`` are
    the bodies of ``01-instance.cnf`` and ``99-extra.cnf`` (``[mysqld]`` settings).
    """
    parts = {layout.OPERATOR_CNF: _operator_cnf(), "01-instance.cnf": "[mysqld]\n" + instance,
             "50-fleet.cnf": FLEET_OVERLAY, layout.EXTRA_CNF: "[mysqld]\n" + extra}
    folder = directory / f"{name}.cnf.d"
    folder.mkdir(parents=True, exist_ok=True)
    for file_name, text in parts.items():
        (folder / file_name).write_text(text)
    main = directory / f"{name}.cnf"
    main.write_text("# Written by innodb_dev.mysqld: the operator's settings, this instance's, the fleet's.\n"
                    + "".join(f"!include {inner}/{name}.cnf.d/{file_name}\n" for file_name in parts))
    return main


def _say(message: str) -> None:
    print(f"[mysqld] {message}", file=sys.stderr, flush=True)


class MysqldError(RuntimeError):
    """A fleet-managed server failed to start, stop or answer."""


def require_root() -> Path:
    """The MySQL root filesystem; raise with the install command if there is none."""
    root = mysqlroot.cached_root()
    if root is None:
        raise MysqldError(f"MySQL root filesystem is missing; install it with: {mysqlroot.INSTALL_HINT}")
    return root


def server_version(root: Path) -> str:
    """``mysqld --version`` of the root, e.g. ``9.7.4-2``."""
    out = subprocess.run(["chroot", str(root), "/usr/sbin/mysqld", "--version"],
                         capture_output=True, text=True, check=True, timeout=60).stdout
    return out.split(" Ver ", 1)[1].split()[0]


def _sql_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


# --- loopback blocks -------------------------------------------------------------------


def _ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30, check=False)


@dataclass
class LoopbackBlock:
    """A claimed ``127.0.<third>.0/24``; its lock file is held while the fleet lives."""

    third: int
    lock: IO[str] = field(repr=False)
    assigned: list[str] = field(default_factory=list)

    def address(self, n: int) -> str:
        return f"127.0.{self.third}.{n}"

    def assign(self, count: int) -> None:
        """Put addresses 1..count on ``lo`` as /32 (Group Replication insists; see above)."""
        for n in range(1, count + 1):
            address = self.address(n)
            result = _ip("addr", "add", f"{address}/32", "dev", "lo")
            if result.returncode != 0 and "File exists" not in result.stderr:
                raise MysqldError(f"ip addr add {address}/32 dev lo failed: {result.stderr.strip()}")
            self.assigned.append(address)

    def release(self) -> None:
        for address in self.assigned:
            _ip("addr", "del", f"{address}/32", "dev", "lo")
        self.assigned.clear()
        with contextlib.suppress(OSError):
            fcntl.flock(self.lock, fcntl.LOCK_UN)
        self.lock.close()


def _stale_addresses(third: int) -> list[str]:
    out = _ip("-4", "-o", "addr", "show", "dev", "lo").stdout
    prefix = f"127.0.{third}."
    return [word.split("/")[0] for word in out.split() if word.startswith(prefix)]


def _ports(n: int) -> tuple[int, ...]:
    return (CLASSIC_PORT, X_PORT, ADMIN_PORT_BASE + n - 1)


def _ports_free(host: str, ports: Sequence[int]) -> bool:
    for port in ports:
        with socket.socket() as s:
            try:
                s.bind((host, port))
            except OSError:
                return False
    return True


def claim_block(count: int, *, attempts: int = 64) -> LoopbackBlock:
    """Claim a loopback block whose first ``count`` addresses have all their ports free."""
    _LOCK_DIR.mkdir(parents=True, exist_ok=True)
    for third in random.SystemRandom().sample(range(16, 250), attempts):
        handle = (_LOCK_DIR / f"127.0.{third}.lock").open("a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            continue
        block = LoopbackBlock(third, handle)
        for stale in _stale_addresses(third):  # we hold the lock: nobody else owns them
            _ip("addr", "del", f"{stale}/32", "dev", "lo")
        if not all(_ports_free(block.address(n), _ports(n)) for n in range(1, count + 1)):
            block.release()
            continue
        try:
            block.assign(count)
        except BaseException:
            block.release()
            raise
        return block
    raise MysqldError(f"no free loopback block for {count} instances after {attempts} tries")


# --- the initialised-datadir template --------------------------------------------------


def _template(root: Path, version: str) -> Path:
    """An initialised, empty datadir for this server version (built once, then reused)."""
    key = hashlib.sha256(f"{version}\n{_operator_cnf()}{FLEET_OVERLAY}".encode()).hexdigest()[:12]
    base = root / _TEMPLATE_DIR
    target = base / f"{version}-{key}"
    if (target / "mysql.ibd").exists():
        return target
    base.mkdir(parents=True, exist_ok=True)
    with (base / f"{version}-{key}.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / "mysql.ibd").exists():
            return target
        started = time.monotonic()
        work = Path(tempfile.mkdtemp(prefix="init-", dir=base))
        try:
            _initialize(root, work)
            data = work / "data"
            for name in ("auto.cnf", "ib_buffer_pool"):
                (data / name).unlink(missing_ok=True)
            for binlog in data.glob(f"{BINLOG_BASENAME}.*"):
                binlog.unlink()
            shutil.rmtree(data / "#innodb_temp", ignore_errors=True)
            data.rename(target)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        _say(f"initialised the datadir template for mysqld {version} in {time.monotonic() - started:.1f}s")
    return target


def _initialize(root: Path, workdir: Path) -> None:
    """``mysqld --initialize-insecure`` into ``workdir/data`` with the instances' settings.

    As in a pod (init-datadir.sh runs it with the pod's my.cnf), the product's settings are
    read at initialisation too; the GR ones are ``loose_``, since the plugin is not loaded then.
    """
    inner = "/" + str(workdir.relative_to(root))
    (workdir / "tmp").mkdir(parents=True, exist_ok=True)
    config = write_layout(workdir, "init", inner=inner, instance=(
        f"datadir={inner}/data\ntmpdir={inner}/tmp\nlog_error={inner}/init.log\n"
        f"socket={inner}/init.sock\npid_file={inner}/init.pid\nmysqlx=OFF\nskip_networking=ON\nserver_id=1\n"))
    result = subprocess.run(["chroot", str(root), "/usr/sbin/mysqld", f"--defaults-file={inner}/{config.name}",
                             "--initialize-insecure", "--user=root"],
                            capture_output=True, text=True, timeout=300, check=False)
    if result.returncode != 0:
        log = (workdir / "init.log").read_text(errors="replace") if (workdir / "init.log").exists() else ""
        raise MysqldError(f"mysqld --initialize-insecure failed ({result.returncode}):\n{result.stderr}\n{log}")


# --- one instance --------------------------------------------------------------------


@dataclass
class MysqlInstance:
    """One mysqld with its own address, datadir and config; see the module docstring."""

    name: str
    host: str
    server_id: int
    root: Path
    directory: Path
    password: str = field(repr=False)
    port: int = CLASSIC_PORT
    x_port: int = X_PORT
    admin_port: int = ADMIN_PORT_BASE
    extra_settings: str = ""
    _popen: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _first_start: bool = field(default=True, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    # --- paths and addresses ---------------------------------------------------------

    def inner(self, path: Path) -> str:
        """The path as the chrooted server sees it."""
        return "/" + str(path.relative_to(self.root))

    @property
    def datadir(self) -> Path:
        return self.directory / "data"

    @property
    def config_file(self) -> Path:
        return self.directory / "my.cnf"

    @property
    def error_log(self) -> Path:
        return self.directory / "error.log"

    @property
    def address(self) -> str:
        """``host:port`` of the classic protocol."""
        return f"{self.host}:{self.port}"

    @property
    def gr_local_address(self) -> str:
        """What ``group_replication_local_address`` is set to: the instance's admin port."""
        return f"{self.host}:{self.admin_port}"

    def connection_params(self, **overrides: Any) -> dict[str, Any]:
        """Keyword arguments for ``mysql.connector.connect``: root over TCP, autocommit."""
        params: dict[str, Any] = {"host": self.host, "port": self.port, "user": ROOT_USER,
                                  "password": self.password, "connection_timeout": 5, "autocommit": True}
        params.update(overrides)
        return params

    # --- setup -----------------------------------------------------------------------

    def prepare(self, template: Path | None) -> None:
        """Write the config and the datadir (a copy of ``template``, or a fresh initialise)."""
        (self.directory / "tmp").mkdir(parents=True, exist_ok=True)
        self.write_config()
        if template is not None:
            shutil.copytree(template, self.datadir, symlinks=True)
        else:
            _initialize(self.root, self.directory)
            (self.directory / "init.cnf").unlink(missing_ok=True)
            shutil.rmtree(self.directory / "init.cnf.d", ignore_errors=True)

    def write_config(self) -> None:
        """``my.cnf`` and ``my.cnf.d/``: the product's settings, this instance's, the fleet's (see above)."""
        d = self.inner(self.directory)
        write_layout(self.directory, "my", inner=d, extra=self.extra_settings, instance=(
            # The counterpart of a pod's 01-pod.cnf: identity and the group's local address.
            f"server_id={self.server_id}\n"
            f"report_host={self.host}\nreport_port={self.port}\n"
            f"loose_group_replication_local_address={self.gr_local_address}\n"
            # Where this instance lives, instead of a pod's /var/lib/mysql and /var/run/mysqld.
            f"datadir={d}/data\ntmpdir={d}/tmp\nsocket={d}/mysqld.sock\nmysqlx_socket={d}/mysqlx.sock\n"
            f"pid_file={d}/mysqld.pid\nlog_error={d}/error.log\n"
            # Every listener on the instance's own address; the admin port carries GR (MYSQL stack).
            f"bind_address={self.host}\nport={self.port}\n"
            f"mysqlx_bind_address={self.host}\nmysqlx_port={self.x_port}\n"
            f"admin_address={self.host}\nadmin_port={self.admin_port}\n"
            f"[client]\nsocket={d}/mysqld.sock\n"))

    def _write_init_file(self) -> Path:
        pw = _sql_string(self.password)
        path = self.directory / "init-root.sql"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(
                "SET SESSION sql_log_bin = 0;\n"
                f"CREATE USER IF NOT EXISTS 'root'@'%' IDENTIFIED BY {pw};\n"
                "GRANT ALL PRIVILEGES ON *.* TO 'root'@'%' WITH GRANT OPTION;\n"
                "GRANT PROXY ON ''@'' TO 'root'@'%' WITH GRANT OPTION;\n"
                f"ALTER USER 'root'@'localhost' IDENTIFIED BY {pw};\n"
                "SET SESSION sql_log_bin = 1;\n"
            )
        return path

    # --- lifecycle -------------------------------------------------------------------

    @property
    def is_running(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    @property
    def pid(self) -> int | None:
        return self._popen.pid if self._popen is not None and self._popen.poll() is None else None

    def returncode(self) -> int | None:
        return None if self._popen is None else self._popen.poll()

    def start(self, *, wait: bool = True, timeout: float = 60.0) -> None:
        """Start mysqld (no-op if running); by default wait until it answers SQL."""
        with self._lock:
            if not self.is_running:
                argv = ["chroot", str(self.root), "/usr/sbin/mysqld",
                        f"--defaults-file={self.inner(self.config_file)}", "--user=root"]
                if self._first_start:
                    argv.append(f"--init-file={self.inner(self._write_init_file())}")
                with (self.directory / "stdout.log").open("ab") as out:
                    self._popen = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                                   stdin=subprocess.DEVNULL, start_new_session=True)
        if wait:
            self.wait_until_ready(time.monotonic() + timeout)

    def wait_until_ready(self, deadline: float) -> None:
        """Poll until root can run ``SELECT 1`` over TCP; raise (with the log's tail) at the deadline."""
        last: Exception | None = None
        while True:
            if not self.is_running:
                raise MysqldError(f"{self.name} ({self.address}) exited with {self.returncode()}:\n{self.log_tail()}")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise MysqldError(f"{self.name} ({self.address}) not ready: {last}\n{self.log_tail()}")
            try:
                conn = mysql.connector.connect(**self.connection_params(connection_timeout=max(1, int(remaining))))
            except mysql.connector.Error as exc:
                last = exc
                time.sleep(0.05)
                continue
            try:
                cur = conn.cursor()
                cur.execute("SELECT 1")
                cur.fetchall()
            finally:
                conn.close()
            break
        if self._first_start:
            self._first_start = False
            (self.directory / "init-root.sql").unlink(missing_ok=True)

    def stop(self, grace: float = 60.0) -> None:
        """Graceful shutdown (SIGTERM) and wait; SIGKILL if it takes longer than ``grace``."""
        with self._lock:
            popen = self._popen
            if popen is None or popen.poll() is not None:
                return
            with contextlib.suppress(ProcessLookupError):
                popen.send_signal(signal.SIGTERM)
            try:
                popen.wait(grace)
            except subprocess.TimeoutExpired:
                _say(f"{self.name} did not stop within {grace:.0f}s; SIGKILL")
                with contextlib.suppress(ProcessLookupError):
                    popen.kill()
                popen.wait(10)

    def kill(self) -> None:
        """SIGKILL: a crash. The datadir stays for the next ``start()``."""
        with self._lock:
            popen = self._popen
            if popen is None or popen.poll() is not None:
                return
            with contextlib.suppress(ProcessLookupError):
                popen.kill()
            popen.wait(10)

    def restart(self, *, timeout: float = 60.0) -> None:
        self.stop()
        self.start(timeout=timeout)

    # --- use -------------------------------------------------------------------------

    def sql(self, statement: str, params: Sequence[Any] | dict[str, Any] | None = None,
            **connect: Any) -> list[tuple[Any, ...]]:
        """Run one statement (as root unless ``connect`` overrides) and return its rows."""
        conn: Any = mysql.connector.connect(**self.connection_params(**connect))
        try:
            cur = conn.cursor()
            cur.execute(statement, params)
            return [tuple(r) for r in cur.fetchall()] if cur.with_rows else []
        finally:
            conn.close()

    def log_text(self) -> str:
        try:
            return self.error_log.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])


# --- a fleet ---------------------------------------------------------------------------


@dataclass
class MysqlFleet:
    """N instances on one claimed loopback block, sharing one root password."""

    root: Path
    directory: Path
    block: LoopbackBlock
    instances: list[MysqlInstance]
    password: str = field(repr=False)
    logdir: Path | None = None
    timings: dict[str, float] = field(default_factory=dict)

    @classmethod
    @contextlib.contextmanager
    def start(cls, count: int = 3, *, logdir: Path | None = None, use_template: bool = True,
              extra_settings: str = "", timeout: float = 90.0) -> Iterator[MysqlFleet]:
        """Claim addresses, prepare datadirs (in parallel), start all and wait; end all on exit."""
        root = require_root()
        started = time.monotonic()
        _reap_stale(root / _TEST_DIR)
        block = claim_block(count)
        fleet_dir = root / _TEST_DIR / f"{os.getpid()}-{secrets.token_hex(4)}"
        password = secrets.token_urlsafe(18)
        fleet = cls(root=root, directory=fleet_dir, block=block, password=password, logdir=logdir, instances=[
            MysqlInstance(name=f"mysql-{n}", host=block.address(n), server_id=block.third * 1000 + n,
                          root=root, directory=fleet_dir / str(n), password=password,
                          admin_port=ADMIN_PORT_BASE + n - 1, extra_settings=extra_settings)
            for n in range(1, count + 1)
        ])
        try:
            fleet_dir.mkdir(parents=True)
            (fleet_dir / "owner.pid").write_text(str(os.getpid()))
            template = _template(root, server_version(root)) if use_template else None
            fleet.timings["template"] = time.monotonic() - started
            with ThreadPoolExecutor(max_workers=count) as pool:
                list(pool.map(lambda i: i.prepare(template), fleet.instances))
            fleet.timings["prepare"] = time.monotonic() - started - fleet.timings["template"]
            before_start = time.monotonic()
            fleet.start_all(timeout=timeout)
            fleet.timings["start"] = time.monotonic() - before_start
            fleet.timings["total"] = time.monotonic() - started
            yield fleet
        finally:
            fleet.kill_all()
            fleet.collect_logs()
            shutil.rmtree(fleet_dir, ignore_errors=True)
            block.release()

    def spare_address(self, k: int = 0) -> str:
        """An address in the fleet's block for something else (e.g. a router): 127.0.<b>.200+k."""
        return self.block.address(SPARE_BASE + k)

    def start_all(self, *, timeout: float = 90.0) -> None:
        for instance in self.instances:
            instance.start(wait=False)
        deadline = time.monotonic() + timeout
        with ThreadPoolExecutor(max_workers=len(self.instances)) as pool:
            list(pool.map(lambda i: i.wait_until_ready(deadline), self.instances))

    def stop_all(self) -> None:
        """Graceful shutdown of every instance, in parallel."""
        with ThreadPoolExecutor(max_workers=max(1, len(self.instances))) as pool:
            list(pool.map(lambda i: i.stop(), self.instances))

    def kill_all(self) -> None:
        for instance in self.instances:
            instance.kill()

    def collect_logs(self) -> None:
        """Copy each instance's error log, stdout and config (my.cnf and my.cnf.d/) to ``logdir/<name>/``."""
        if self.logdir is None:
            return
        for instance in self.instances:
            target = self.logdir / instance.name
            target.mkdir(parents=True, exist_ok=True)
            for name in ("error.log", "stdout.log", "my.cnf"):
                src = instance.directory / name
                if src.exists():
                    shutil.copy2(src, target / name)
            if (instance.directory / "my.cnf.d").is_dir():
                shutil.copytree(instance.directory / "my.cnf.d", target / "my.cnf.d", dirs_exist_ok=True)

    def __getitem__(self, index: int) -> MysqlInstance:
        return self.instances[index]

    def __len__(self) -> int:
        return len(self.instances)


def _reap_stale(base: Path) -> None:
    """Remove fleet directories whose owning test session is gone and whose servers are down."""
    if not base.is_dir():
        return
    for entry in base.iterdir():
        try:
            owner = int((entry / "owner.pid").read_text())
        except (OSError, ValueError):
            continue
        if _pid_alive(owner) or any(_pidfile_alive(p) for p in entry.glob("*/mysqld.pid")):
            continue
        shutil.rmtree(entry, ignore_errors=True)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _pidfile_alive(pidfile: Path) -> bool:
    try:
        return _pid_alive(int(pidfile.read_text().strip()))
    except (OSError, ValueError):
        return False


def main(argv: list[str]) -> int:
    count = int(argv[0]) if argv else 3
    with MysqlFleet.start(count) as fleet:
        pw = fleet.directory / "password"
        fd = os.open(pw, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(fleet.password)
        for i in fleet.instances:
            print(f"{i.name}: {i.address}  x={i.host}:{i.x_port}  gr={i.gr_local_address}  datadir={i.datadir}")
        print(f"started in {fleet.timings['total']:.1f}s; root's password is in {pw} (0600); Ctrl-C ends all")
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
