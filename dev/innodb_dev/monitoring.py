"""Prometheus, promtool and mysqld_exporter from Debian, and a Prometheus runner for the local environment.

    python -m innodb_dev.monitoring ensure    # download and extract once (~36 MB of .debs), print the directory
    python -m innodb_dev.monitoring path      # print the cached directory, or fail saying how to install it
    python -m innodb_dev.monitoring run       # Prometheus against ./dev/up's control plane, until Ctrl-C

Installation: Debian's stable suite (trixie) ships ``prometheus`` and ``promtool`` (2.53.3) and
``prometheus-mysqld-exporter`` (0.17.2) as Go binaries that need only libc (>= 2.34), so they
run directly on this host. The suite's ``InRelease`` is checked with ``gpgv`` against Debian's
archive keyring (the one apt uses), the package index against the checksum it signs, and every
.deb against the checksum in the index; then ``dpkg-deb -x`` extracts them into
``~/.cache/innodb-operator/monitoring-prometheus-<version>-mysqld-exporter-<version>/`` (built
in a ``.partial`` directory, renamed when complete). A pointer file names the current one, so
a warm machine needs no network. The Debian mirror is the one this machine's apt uses.

Runner: :func:`start` writes a ``prometheus.yml`` and starts Prometheus on the host, on
``127.0.0.1`` and a free port, discovering targets as it would in a cluster: Kubernetes
service discovery (``role: pod``) against the real API server, through a kubeconfig. The host
reaches pod IPs over the node agent's bridge, so it scrapes pods directly:

  * job ``innodb-operator``: container ports named ``metrics`` of the operator's pods (label
    ``app.kubernetes.io/name=mysql-operator``, as the chart sets it), with ``honor_labels``:
    the operator's cluster metrics carry ``namespace`` and ``cluster`` of their own, which the
    target's ``namespace`` must not overwrite;
  * job ``mysqld-exporter``: the container named ``metrics`` (port named ``metrics``) of the
    server pods (``app.kubernetes.io/name=mysql-innodbcluster``), the exporter sidecar; its
    series also get ``cluster`` from the pod's ``mysql.innodb-operator.dev/cluster`` label.

Every target gets ``namespace``, ``pod`` and ``container`` from the pod. The handle queries the
HTTP API (``query``, ``targets``, ``alerts``, ``rules``), reloads the configuration
(``--web.enable-lifecycle``) and stops the process. Debian's package has no web UI to speak
of (the React UI is not packaged; ``/`` says so, and the classic pages' JavaScript comes from
Debian packages not installed here): the HTTP API is what there is.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import lzma
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import yaml

from innodb_dev import REPO
from innodb_dev.mysqlroot import debian_mirror
from innodb_dev.toolchain import cache_root

SUITE = "trixie"
PACKAGES = ("prometheus", "promtool", "prometheus-mysqld-exporter")
TESTED_VERSIONS = {"prometheus": "2.53.3+ds1-2", "promtool": "2.53.3+ds1-2",
                   "prometheus-mysqld-exporter": "0.17.2-1+b4"}
KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
INSTALL_HINT = ("./dev/setup  (installs Prometheus and mysqld_exporter from Debian trixie into "
                "~/.cache/innodb-operator)")
_POINTER = "monitoring.json"
_BINARIES = {"prometheus": "usr/bin/prometheus", "promtool": "usr/bin/promtool",
             "mysqld_exporter": "usr/bin/prometheus-mysqld-exporter"}

OPERATOR_JOB, EXPORTER_JOB = "innodb-operator", "mysqld-exporter"
OPERATOR_APP = "mysql-operator"            # app.kubernetes.io/name of the operator chart's pods
SERVER_APP = "mysql-innodbcluster"         # app.kubernetes.io/name of the server pods
METRICS = "metrics"                        # the port name both jobs keep; the exporter sidecar's name
RETENTION = "2h"


class NotInstalled(RuntimeError):
    """Prometheus or mysqld_exporter is not in the cache."""


def _say(message: str) -> None:
    print(f"[monitoring] {message}", flush=True)


# --- installation ---------------------------------------------------------------------------------

def cached_root() -> Path | None:
    """The current extracted directory, or None."""
    try:
        root = Path(json.loads((cache_root() / _POINTER).read_text())["path"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return root if all(os.access(root / rel, os.X_OK) for rel in _BINARIES.values()) else None


def cached_versions() -> dict[str, str]:
    """The package versions of the current cached directory (empty when unknown)."""
    try:
        versions = json.loads((cache_root() / _POINTER).read_text()).get("versions") or {}
    except (OSError, ValueError, AttributeError):
        return {}
    return {str(k): str(v) for k, v in versions.items()}


def _binary(name: str) -> Path:
    root = cached_root()
    if root is None:
        raise NotInstalled(f"{name} is not installed (no {cache_root() / _POINTER} naming a complete "
                           f"directory); install it with: {INSTALL_HINT}")
    return root / _BINARIES[name]


def prometheus_binary() -> Path:
    """Debian's ``prometheus`` in the cache; :class:`NotInstalled` (naming ./dev/setup) when missing."""
    return _binary("prometheus")


def promtool_binary() -> Path:
    """Debian's ``promtool`` in the cache; :class:`NotInstalled` when missing."""
    return _binary("promtool")


def mysqld_exporter_binary() -> Path:
    """Debian's mysqld_exporter (``prometheus-mysqld-exporter``) in the cache; :class:`NotInstalled` when missing."""
    return _binary("mysqld_exporter")


def exporter_version() -> str:
    """The exporter's upstream version (``0.17.2``), from the cached package version."""
    version = cached_versions().get("prometheus-mysqld-exporter", "")
    return re.split(r"[-+~]", version, maxsplit=1)[0] if version else ""


def _fetch(url: str, timeout: float = 300) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return bytes(resp.read())


def _signed_release(mirror: str) -> str:
    """The suite's Release text, as signed (``gpgv`` against Debian's archive keyring)."""
    if not KEYRING.is_file() or not shutil.which("gpgv"):
        raise SystemExit(f"gpgv and {KEYRING} are needed to check Debian's signature "
                         "(apt-get install gpgv debian-archive-keyring)")
    with tempfile.TemporaryDirectory(prefix="monitoring-release-") as tmp:
        signed = Path(tmp) / "InRelease"
        signed.write_bytes(_fetch(f"{mirror}/dists/{SUITE}/InRelease"))
        out = subprocess.run(["gpgv", "--quiet", "--keyring", str(KEYRING), "--output", "-", str(signed)],
                             capture_output=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"{SUITE}'s InRelease does not verify against {KEYRING}: "
                           f"{out.stderr.decode(errors='replace').strip()}")
    return out.stdout.decode("utf-8", "replace")


def _index(mirror: str) -> dict[str, dict[str, str]]:
    """``{package: {Version, Filename, SHA256}}`` for :data:`PACKAGES`, from the signed amd64 index."""
    release = _signed_release(mirror)
    sha256 = release.split("\nSHA256:", 1)[-1]
    match = re.search(r"^ ([0-9a-f]{64})\s+\d+\s+main/binary-amd64/Packages\.xz$", sha256, re.M)
    if not match:
        raise RuntimeError(f"{SUITE}'s Release has no checksum for main/binary-amd64/Packages.xz")
    _say(f"reading the {SUITE} package index for {', '.join(PACKAGES)}")
    packed = _fetch(f"{mirror}/dists/{SUITE}/main/binary-amd64/Packages.xz")
    if hashlib.sha256(packed).hexdigest() != match.group(1):
        raise RuntimeError(f"{SUITE}'s Packages.xz does not match the checksum its Release signs")
    found: dict[str, dict[str, str]] = {}
    for stanza in lzma.decompress(packed).decode("utf-8", "replace").split("\n\n"):
        fields = dict(re.findall(r"^(Package|Version|Filename|SHA256): (\S+)$", stanza, re.M))
        if fields.get("Package") in PACKAGES and {"Version", "Filename", "SHA256"} <= fields.keys():
            found[fields["Package"]] = fields
    missing = set(PACKAGES) - set(found)
    if missing:
        raise RuntimeError(f"{SUITE} has no {', '.join(sorted(missing))}")
    return found


def _directory_name(versions: dict[str, str]) -> str:
    return f"monitoring-prometheus-{versions['prometheus']}-mysqld-exporter-{versions['prometheus-mysqld-exporter']}"


def _write_pointer(root: Path, versions: dict[str, str]) -> None:
    pointer = cache_root() / _POINTER
    tmp = pointer.with_name(pointer.name + ".tmp")
    tmp.write_text(json.dumps({"path": str(root), "versions": versions}, indent=2))
    tmp.replace(pointer)


@contextlib.contextmanager
def _lock() -> Iterator[None]:
    cache_root().mkdir(parents=True, exist_ok=True)
    with open(cache_root() / "monitoring.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def ensure() -> Path:
    """Return the extracted directory, downloading and extracting it first if there is none. Idempotent."""
    existing = cached_root()
    if existing is not None:
        _say(f"cached: {existing}")
        return existing
    with _lock():
        existing = cached_root()
        if existing is not None:
            return existing
        if not shutil.which("dpkg-deb"):
            raise SystemExit("dpkg-deb is needed to extract Debian packages (it comes with dpkg)")
        mirror = debian_mirror()
        index = _index(mirror)
        versions = {name: index[name]["Version"] for name in PACKAGES}
        for name, version in versions.items():
            if version != TESTED_VERSIONS[name]:
                _say(f"note: {SUITE} now has {name} {version} (this project was tested with {TESTED_VERSIONS[name]})")
        root = cache_root() / _directory_name(versions)
        if not all(os.access(root / rel, os.X_OK) for rel in _BINARIES.values()):
            _extract(mirror, index, root)
        _write_pointer(root, versions)
        return root


def _extract(mirror: str, index: dict[str, dict[str, str]], root: Path) -> None:
    started = time.monotonic()
    partial = root.with_name(root.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    with tempfile.TemporaryDirectory(prefix="monitoring-debs-", dir=cache_root()) as tmp:
        for name in PACKAGES:
            entry = index[name]
            _say(f"downloading {name} {entry['Version']} ({entry['Filename']})")
            data = _fetch(f"{mirror}/{entry['Filename']}")
            if hashlib.sha256(data).hexdigest() != entry["SHA256"]:
                raise RuntimeError(f"{entry['Filename']} does not match the checksum in {SUITE}'s index")
            deb = Path(tmp) / Path(entry["Filename"]).name
            deb.write_bytes(data)
            subprocess.run(["dpkg-deb", "-x", str(deb), str(partial)], check=True)
    for name, rel in _BINARIES.items():
        out = subprocess.run([str(partial / rel), "--version"], capture_output=True, text=True, check=False)
        if out.returncode != 0:
            raise RuntimeError(f"{name} from {SUITE} does not run on this host: {(out.stderr or out.stdout).strip()}")
    (partial / "versions.json").write_text(json.dumps({n: index[n]["Version"] for n in PACKAGES}, indent=2))
    shutil.rmtree(root, ignore_errors=True)
    partial.rename(root)
    _say(f"extracted in {time.monotonic() - started:.0f}s: {root}")


# --- the runner ------------------------------------------------------------------------------------

def _kubernetes_sd(kubeconfig: Path) -> list[dict[str, Any]]:
    return [{"role": "pod", "kubeconfig_file": str(kubeconfig)}]


def _keep(meta: str, regex: str) -> dict[str, Any]:
    return {"source_labels": [meta], "regex": regex, "action": "keep"}


def _target_labels() -> list[dict[str, Any]]:
    return [
        {"source_labels": ["__meta_kubernetes_pod_phase"], "regex": "Succeeded|Failed", "action": "drop"},
        {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
        {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
        {"source_labels": ["__meta_kubernetes_pod_container_name"], "target_label": "container"},
    ]


def config(kubeconfig: Path, *, rule_files: Sequence[Path] = (), evaluation_interval: str = "2s",
           scrape_interval: str = "2s") -> dict[str, Any]:
    """The ``prometheus.yml`` :func:`start` writes (see the module docstring for the jobs)."""
    app = "__meta_kubernetes_pod_label_app_kubernetes_io_name"
    return {
        "global": {"scrape_interval": scrape_interval, "scrape_timeout": scrape_interval,
                   "evaluation_interval": evaluation_interval},
        "rule_files": [str(Path(p).resolve()) for p in rule_files],
        "scrape_configs": [
            {"job_name": OPERATOR_JOB, "honor_labels": True, "kubernetes_sd_configs": _kubernetes_sd(kubeconfig),
             "relabel_configs": [
                 _keep(app, OPERATOR_APP),
                 _keep("__meta_kubernetes_pod_container_port_name", METRICS),
                 *_target_labels()]},
            {"job_name": EXPORTER_JOB, "kubernetes_sd_configs": _kubernetes_sd(kubeconfig),
             "relabel_configs": [
                 _keep(app, SERVER_APP),
                 _keep("__meta_kubernetes_pod_container_name", METRICS),
                 _keep("__meta_kubernetes_pod_container_port_name", METRICS),
                 *_target_labels(),
                 {"source_labels": ["__meta_kubernetes_pod_label_mysql_innodb_operator_dev_cluster"],
                  "target_label": "cluster"}]},
        ],
    }


class PrometheusError(RuntimeError):
    """Prometheus answered with an error, or did not start."""


def _write_config(path: Path, content: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(yaml.safe_dump(content, sort_keys=False))
    tmp.replace(path)


@dataclass
class Prometheus:
    """A running Prometheus (see :func:`start`); stop it with :meth:`stop` or by leaving ``with``."""

    url: str
    workdir: Path
    kubeconfig: Path
    process: subprocess.Popen[bytes]
    rule_files: tuple[Path, ...] = ()
    evaluation_interval: str = "2s"
    scrape_interval: str = "2s"
    _log: IO[bytes] | None = field(default=None, repr=False)

    @property
    def config_file(self) -> Path:
        return self.workdir / "prometheus.yml"

    @property
    def log_file(self) -> Path:
        return self.workdir / "prometheus.log"

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_file.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def write_config(self) -> None:
        _write_config(self.config_file, config(self.kubeconfig, rule_files=self.rule_files,
                                               evaluation_interval=self.evaluation_interval,
                                               scrape_interval=self.scrape_interval))

    # --- HTTP API ------------------------------------------------------------------------------

    def _request(self, path: str, *, method: str = "GET", params: dict[str, str] | None = None,
                 timeout: float = 10.0) -> bytes:
        url = self.url + path + (f"?{urllib.parse.urlencode(params)}" if params else "")
        request = urllib.request.Request(url, method=method)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as resp:
                return bytes(resp.read())
        except urllib.error.HTTPError as exc:
            raise PrometheusError(f"{method} {path}: HTTP {exc.code}: {exc.read().decode(errors='replace').strip()}"
                                  ) from None

    def api(self, path: str, **params: str) -> Any:
        """The ``data`` of a ``/api/v1/<path>`` answer; :class:`PrometheusError` when its status is not success."""
        answer = json.loads(self._request(f"/api/v1/{path}", params=params))
        if answer.get("status") != "success":
            raise PrometheusError(f"/api/v1/{path}: {answer.get('errorType')}: {answer.get('error')}")
        return answer["data"]

    def query(self, promql: str) -> list[dict[str, Any]]:
        """An instant query: the result's samples (``{"metric": {...}, "value": [time, "text"]}``).

        A scalar or string result comes back as one sample with no labels.
        """
        data = self.api("query", query=promql)
        if data["resultType"] in ("scalar", "string"):
            return [{"metric": {}, "value": data["result"]}]
        return list(data["result"])

    def targets(self, state: str = "active") -> list[dict[str, Any]]:
        """``/api/v1/targets``: the active targets (``labels``, ``scrapePool``, ``health``, ``lastError``...).

        ``state="dropped"`` gives the discovered targets the relabelling dropped.
        """
        data = self.api("targets", state=state)
        return list(data.get("droppedTargets" if state == "dropped" else "activeTargets") or [])

    def alerts(self) -> list[dict[str, Any]]:
        """``/api/v1/alerts``: pending and firing alerts (``labels``, ``annotations``, ``state``, ``activeAt``)."""
        return list(self.api("alerts").get("alerts") or [])

    def rules(self) -> list[dict[str, Any]]:
        """``/api/v1/rules``: the loaded rule groups, each with its rules, their health and last error."""
        return list(self.api("rules").get("groups") or [])

    def ready(self) -> bool:
        try:
            self._request("/-/ready", timeout=2.0)
        except (OSError, PrometheusError):
            return False
        return True

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Wait up to ``timeout`` seconds for ``/-/ready``; :class:`PrometheusError` (with its log) if it exits."""
        deadline = time.monotonic() + timeout
        while not self.ready():
            if self.process.poll() is not None:
                raise PrometheusError(f"prometheus exited with {self.process.returncode}:\n{self.log_tail()}")
            if time.monotonic() >= deadline:
                raise PrometheusError(f"prometheus not ready after {timeout}s at {self.url}:\n{self.log_tail()}")
            time.sleep(0.1)

    def reload(self, *, rule_files: Sequence[Path] | None = None) -> None:
        """Rewrite ``prometheus.yml`` (with new ``rule_files`` if given) and ``POST /-/reload``.

        Returns once Prometheus has applied it; :class:`PrometheusError` with its message when it refuses
        (a broken rule file, say), in which case it keeps the previous configuration.
        """
        previous = self.rule_files
        if rule_files is not None:
            self.rule_files = tuple(Path(p) for p in rule_files)
        self.write_config()
        logged = self.log_file.stat().st_size if self.log_file.exists() else 0
        try:
            self._request("/-/reload", method="POST", timeout=30.0)
        except PrometheusError as exc:
            self.rule_files = previous  # what it still runs, and what a restart would read
            self.write_config()
            with open(self.log_file, "rb") as log:
                log.seek(logged)
                errors = [line for line in log.read().decode(errors="replace").splitlines() if "level=error" in line]
            raise PrometheusError("\n".join([str(exc), *errors])) from None

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM, up to ``grace`` seconds, then SIGKILL. Idempotent."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(grace)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> Prometheus:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def start(workdir: Path, kubeconfig: Path, *, rule_files: Sequence[Path] = (), evaluation_interval: str = "2s",
          scrape_interval: str = "2s", host: str = "127.0.0.1", port: int = 0,
          timeout: float = 30.0) -> Prometheus:
    """Start Prometheus on ``host:port`` (0: a free port), its state in ``workdir``; return it once ready.

    ``workdir`` holds ``prometheus.yml``, ``prometheus.log`` and the TSDB (``data/``, retention
    :data:`RETENTION`). ``kubeconfig`` is the one service discovery uses (the local control
    plane's admin, as an in-cluster Prometheus would use its ServiceAccount). ``rule_files`` are
    loaded as they are (plain Prometheus rule files). The caller stops it (:meth:`Prometheus.stop`,
    or ``with start(...) as prom:``).
    """
    binary, root = prometheus_binary(), cached_root()
    assert root is not None
    workdir.mkdir(parents=True, exist_ok=True)
    rules = tuple(Path(p) for p in rule_files)
    _write_config(workdir / "prometheus.yml", config(Path(kubeconfig), rule_files=rules,
                                                     evaluation_interval=evaluation_interval,
                                                     scrape_interval=scrape_interval))
    for attempt in range(5):
        chosen = port or _free_port(host)
        argv = [str(binary), f"--config.file={workdir / 'prometheus.yml'}", f"--web.listen-address={host}:{chosen}",
                f"--storage.tsdb.path={workdir / 'data'}", f"--storage.tsdb.retention.time={RETENTION}",
                "--web.enable-lifecycle",
                f"--web.local-assets={root / 'usr/share/prometheus/web'}",
                f"--web.console.templates={root / 'etc/prometheus/consoles'}",
                f"--web.console.libraries={root / 'etc/prometheus/console_libraries'}"]
        log = open(workdir / "prometheus.log", "ab")  # noqa: SIM115 - closed by Prometheus.stop
        try:
            process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                       start_new_session=True)  # not in the terminal's Ctrl-C: its owner stops it
        except BaseException:
            log.close()
            raise
        prom = Prometheus(url=f"http://{host}:{chosen}", workdir=workdir, kubeconfig=Path(kubeconfig),
                          process=process, rule_files=rules, evaluation_interval=evaluation_interval,
                          scrape_interval=scrape_interval, _log=log)
        try:
            prom.wait_ready(timeout)
            return prom
        except PrometheusError:
            prom.stop()
            if not port and attempt < 4 and "address already in use" in prom.log_tail(600):
                continue  # the free port was taken in between: another one
            raise
        except BaseException:
            prom.stop()
            raise
    raise AssertionError("unreachable")


@contextlib.contextmanager
def running(workdir: Path, kubeconfig: Path, **kwargs: Any) -> Iterator[Prometheus]:
    """``with running(workdir, kubeconfig) as prom:`` -- :func:`start`, stopped on exit."""
    prom = start(workdir, kubeconfig, **kwargs)
    try:
        yield prom
    finally:
        prom.stop()


def check_rules(path: Path) -> str:
    """``promtool check rules``: "" when ``path`` is a valid rule file, else promtool's complaint."""
    out = subprocess.run([str(promtool_binary()), "check", "rules", str(path)], capture_output=True, text=True,
                         check=False)
    return "" if out.returncode == 0 else (out.stderr or out.stdout).strip()


CHART_ALERTS = REPO / "charts" / "mysql-operator" / "files" / "alerts.yaml"
"""The operator chart's alert rules (a plain Prometheus rule file), loaded by ``./dev/up`` when present."""


def preferred_port(host: str = "127.0.0.1", port: int = 9090) -> int:
    """``port`` if nothing on this host listens there, else 0 (a free one)."""
    return port if _port_free(host, port) else 0


# --- command line ----------------------------------------------------------------------------------

def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m innodb_dev.monitoring")
    parser.add_argument("command", nargs="?", default="ensure", choices=["ensure", "path", "run"])
    parser.add_argument("--kubeconfig", type=Path, default=REPO / ".localenv" / "controlplane" / "kubeconfig",
                        help="run: the API server to discover pods from (default: ./dev/up's)")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="run: where prometheus.yml, its log and data go (default: a temporary directory)")
    parser.add_argument("--rule-file", type=Path, action="append", default=[], help="run: a rule file (repeatable)")
    parser.add_argument("--port", type=int, default=0, help="run: port on 127.0.0.1 (default: a free one)")
    args = parser.parse_args(argv)
    if args.command == "ensure":
        print(ensure())
        return 0
    if args.command == "path":
        root = cached_root()
        if root is None:
            print(f"Prometheus and mysqld_exporter are not installed; install them with: {INSTALL_HINT}",
                  file=sys.stderr)
            return 1
        print(root)
        return 0
    if not args.kubeconfig.exists():
        print(f"no kubeconfig at {args.kubeconfig} (start ./dev/up, or pass --kubeconfig)", file=sys.stderr)
        return 1
    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)  # kill stops Prometheus too (it has a session of its own)
    signal.signal(signal.SIGINT, interrupt)
    with contextlib.ExitStack() as stack:
        workdir = args.workdir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="prometheus-")))
        prom = stack.enter_context(running(workdir, args.kubeconfig, rule_files=args.rule_file, port=args.port))
        print(f"Prometheus: {prom.url} (config {prom.config_file}, log {prom.log_file}); Ctrl-C stops it",
              flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while prom.process.poll() is None:
                time.sleep(0.5)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
