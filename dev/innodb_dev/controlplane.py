"""A real Kubernetes control plane on loopback: etcd, kube-apiserver, controller-manager, scheduler.

    with ControlPlane.start(workdir) as cp:
        cp.kubeconfig            # admin kubeconfig (user "admin", group system:masters)
        cp.kubeconfig_for("innodb-operator")   # a distinct user, so the audit log can tell it apart
        cp.restart_apiserver()   # stop and start kube-apiserver on the same port and etcd
        cp.audit_events(user="innodb-operator")

Every server listens on 127.0.0.1 only, with certificates from a CA made per run.
Users authenticate with static bearer tokens. kube-apiserver runs RBAC and the Node
authorizer, the default admission plugins plus NodeRestriction, and writes a
Metadata-level audit log. Teardown stops every process (SIGTERM, then SIGKILL) even
when the caller failed, and removes nothing the caller did not ask it to.

Run it alone for poking with kubectl: ``python -m innodb_dev.controlplane``.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from innodb_api.crd import all_crds
from innodb_dev import toolchain
from innodb_dev.pki import issue, write_pki

OPERATOR_USER = "innodb-operator"
# The API server's identity toward kubelets (the node agent's endpoints accept only it).
KUBELET_CLIENT_USER = "kube-apiserver-kubelet-client"
# kube-apiserver v1.36 proxies kubectl's exec WebSocket (v5.channel.k8s.io) to a kubelet that
# declares ExtendWebSocketsToKubelet in its Node status (NodeDeclaredFeatures), instead of
# translating it to SPDY. Both gates are beta and on by default in v1.36; they are named here
# because the node agent serves exec over WebSocket only.
FEATURE_GATES = "ExtendWebSocketsToKubelet=true,NodeDeclaredFeatures=true"
# How pods reach the API server (the ``kubernetes`` Service's ClusterIP and DNS names):
# the serving certificate carries them so in-cluster clients verify it.
IN_CLUSTER_NAMES = ("10.96.0.1", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
                    "kubernetes.default.svc.cluster.local")

_AUDIT_POLICY = """\
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
  - level: None
    users: ["system:kube-controller-manager", "system:kube-scheduler", "system:apiserver"]
  - level: None
    userGroups: ["system:serviceaccounts:kube-system", "system:nodes"]
  - level: Metadata
"""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _say(message: str) -> None:
    print(f"[controlplane] {message}", file=sys.stderr, flush=True)


@dataclass
class _Process:
    name: str
    argv: list[str]
    log: Path
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = self.log.open("ab")
        self.popen = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def stop(self, grace: float = 10.0) -> None:
        if self.popen is None or self.popen.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGTERM)
        try:
            self.popen.wait(grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(5)

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@dataclass
class ControlPlane:
    """Handles to a running control plane. Build one with :meth:`start`."""

    workdir: Path
    api_port: int
    ca_file: Path
    tokens: dict[str, str]
    audit_log: Path
    processes: dict[str, _Process] = field(default_factory=dict)

    # --- lifecycle -----------------------------------------------------------------

    @classmethod
    @contextlib.contextmanager
    def start(cls, workdir: Path | None = None, *, timeout: float = 120.0) -> Iterator[ControlPlane]:
        """Start every component and wait until the API server is ready; stop all on exit."""
        bins = toolchain.binaries()
        missing = bins.control_plane_missing()
        if missing:
            raise RuntimeError(
                f"control plane binaries are missing ({', '.join(str(p) for p in missing)}); "
                f"install them with: {toolchain.INSTALL_HINT}"
            )
        owned_tmp = workdir is None
        root = Path(tempfile.mkdtemp(prefix="controlplane-")) if workdir is None else workdir
        root.mkdir(parents=True, exist_ok=True)
        cp = cls._configure(root, bins)
        try:
            cp._start_all(timeout)
            yield cp
        finally:
            cp.stop()
            if owned_tmp:
                shutil.rmtree(root, ignore_errors=True)

    @classmethod
    def _configure(cls, root: Path, bins: toolchain.Binaries) -> ControlPlane:
        pki = write_pki(root / "pki", ["127.0.0.1", "localhost", *IN_CLUSTER_NAMES])
        tokens = {"admin": secrets.token_hex(16), OPERATOR_USER: secrets.token_hex(16),
                  "system:kube-controller-manager": secrets.token_hex(16),
                  "system:kube-scheduler": secrets.token_hex(16)}
        groups = {"admin": "system:masters", OPERATOR_USER: "system:masters",
                  "system:kube-controller-manager": "", "system:kube-scheduler": ""}
        (root / "tokens.csv").write_text(
            "".join(f'{tok},{user},{user},"{groups[user]}"\n' for user, tok in tokens.items())
        )
        (root / "tokens.csv").chmod(0o600)
        (root / "audit-policy.yaml").write_text(_AUDIT_POLICY)
        etcd_port, etcd_peer, api_port = free_port(), free_port(), free_port()
        kcm_port, sched_port = free_port(), free_port()
        cp = cls(workdir=root, api_port=api_port, ca_file=pki["ca"], tokens=tokens,
                 audit_log=root / "audit.log")
        kubelet_cert, kubelet_key = issue(root / "pki", "kubelet-client", common_name=KUBELET_CLIENT_USER,
                                          organizations=("system:masters",), client=True)
        logs = root / "logs"
        logs.mkdir(exist_ok=True)
        cp.processes["etcd"] = _Process("etcd", [
            str(bins.etcd), "--name=test", f"--data-dir={root / 'etcd'}",
            f"--listen-client-urls=http://127.0.0.1:{etcd_port}",
            f"--advertise-client-urls=http://127.0.0.1:{etcd_port}",
            f"--listen-peer-urls=http://127.0.0.1:{etcd_peer}",
            f"--initial-advertise-peer-urls=http://127.0.0.1:{etcd_peer}",
            f"--initial-cluster=test=http://127.0.0.1:{etcd_peer}",
            "--unsafe-no-fsync=true", "--quota-backend-bytes=4294967296", "--log-level=warn",
        ], logs / "etcd.log")
        cp.processes["kube-apiserver"] = _Process("kube-apiserver", [
            str(bins.kube_apiserver),
            f"--etcd-servers=http://127.0.0.1:{etcd_port}",
            "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", f"--secure-port={api_port}",
            f"--cert-dir={root / 'apiserver-certs'}",
            f"--tls-cert-file={pki['serving']}", f"--tls-private-key-file={pki['serving_key']}",
            f"--client-ca-file={pki['ca']}",
            f"--token-auth-file={root / 'tokens.csv'}",
            "--authorization-mode=Node,RBAC",
            "--enable-admission-plugins=NodeRestriction",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={pki['sa_pub']}",
            f"--service-account-signing-key-file={pki['sa_key']}",
            "--service-cluster-ip-range=10.96.0.0/16",
            "--allow-privileged=true",
            f"--audit-policy-file={root / 'audit-policy.yaml'}",
            f"--audit-log-path={cp.audit_log}", "--audit-log-format=json",
            "--audit-log-mode=blocking",
            "--endpoint-reconciler-type=none",
            # Kubelets (the node agent) serve logs and exec on their Node's InternalIP, with a
            # certificate from our CA; the API server authenticates to them with its own.
            f"--kubelet-certificate-authority={pki['ca']}",
            f"--kubelet-client-certificate={kubelet_cert}", f"--kubelet-client-key={kubelet_key}",
            "--kubelet-preferred-address-types=InternalIP",
            f"--feature-gates={FEATURE_GATES}",
            "--v=1",
        ], logs / "kube-apiserver.log")
        kcm_kubeconfig = cp._write_kubeconfig("system:kube-controller-manager")
        sched_kubeconfig = cp._write_kubeconfig("system:kube-scheduler")
        cp.processes["kube-controller-manager"] = _Process("kube-controller-manager", [
            str(bins.kube_controller_manager),
            f"--kubeconfig={kcm_kubeconfig}",
            f"--authentication-kubeconfig={kcm_kubeconfig}",
            f"--authorization-kubeconfig={kcm_kubeconfig}",
            "--bind-address=127.0.0.1", f"--secure-port={kcm_port}",
            f"--cert-dir={root / 'kcm-certs'}",
            "--controllers=*,-nodeipam,-service-lb-controller,-cloud-node-lifecycle",
            f"--service-account-private-key-file={pki['sa_key']}",
            f"--root-ca-file={pki['ca']}",
            "--use-service-account-credentials=true",
            "--leader-elect=false",
            "--concurrent-statefulset-syncs=5", "--concurrent-gc-syncs=20",
            "--v=1",
        ], logs / "kube-controller-manager.log")
        cp.processes["kube-scheduler"] = _Process("kube-scheduler", [
            str(bins.kube_scheduler),
            f"--kubeconfig={sched_kubeconfig}",
            f"--authentication-kubeconfig={sched_kubeconfig}",
            f"--authorization-kubeconfig={sched_kubeconfig}",
            "--bind-address=127.0.0.1", f"--secure-port={sched_port}",
            f"--cert-dir={root / 'scheduler-certs'}",
            "--leader-elect=false", "--v=1",
        ], logs / "kube-scheduler.log")
        cp._write_kubeconfig("admin", path=root / "kubeconfig")
        cp._write_kubeconfig(OPERATOR_USER)
        return cp

    def _start_all(self, timeout: float) -> None:
        started = time.monotonic()
        for name in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"):
            self.processes[name].start()
            if name == "etcd":
                self._wait(self._etcd_healthy, "etcd", timeout)
            if name == "kube-apiserver":
                self._wait_apiserver(timeout)
        _say(f"control plane {toolchain.KUBERNETES_VERSION} ready in {time.monotonic() - started:.1f}s "
             f"at https://127.0.0.1:{self.api_port} (kubeconfig {self.kubeconfig})")

    def stop(self) -> None:
        """Stop every process, newest first. Safe to call twice."""
        for name in ("kube-scheduler", "kube-controller-manager", "kube-apiserver", "etcd"):
            proc = self.processes.get(name)
            if proc is not None:
                proc.stop()

    def restart_apiserver(self, timeout: float = 60.0) -> None:
        """Stop kube-apiserver, start it again with the same flags, wait until ready."""
        api = self.processes["kube-apiserver"]
        api.stop()
        api.start()
        self._wait_apiserver(timeout)

    @contextlib.contextmanager
    def second_apiserver(self, timeout: float = 60.0) -> Iterator[Path]:
        """Another kube-apiserver on the same etcd (a second control-plane node); yields its admin kubeconfig.

        Lets a test change objects while the main API server is down, as happens when a
        client loses its server but the cluster lives on.
        """
        port = free_port()
        argv = [
            f"--secure-port={port}" if a.startswith("--secure-port=")
            else f"--cert-dir={self.workdir / 'apiserver2-certs'}" if a.startswith("--cert-dir=")
            else f"--audit-log-path={self.workdir / 'audit-2.log'}" if a.startswith("--audit-log-path=")
            else a
            for a in self.processes["kube-apiserver"].argv
        ]
        proc = _Process("kube-apiserver-2", argv, self.workdir / "logs" / "kube-apiserver-2.log")
        config = json.loads(self.kubeconfig.read_text())
        config["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{port}"
        kubeconfig = self.workdir / "kubeconfig-apiserver-2"
        kubeconfig.write_text(json.dumps(config))
        proc.start()
        try:
            ctx = ssl.create_default_context(cafile=str(self.ca_file))

            def ready() -> bool:
                req = urllib.request.Request(f"https://127.0.0.1:{port}/readyz",
                                             headers={"Authorization": f"Bearer {self.tokens['admin']}"})
                try:
                    with urllib.request.urlopen(req, timeout=2, context=ctx) as resp:
                        return int(resp.status) == 200
                except OSError:
                    return False

            deadline = time.monotonic() + timeout
            while not ready():
                if not proc.alive() or time.monotonic() > deadline:
                    raise RuntimeError(f"second kube-apiserver did not become ready:\n{proc.tail()}")
                time.sleep(0.2)
            yield kubeconfig
        finally:
            proc.stop()

    def stop_apiserver(self) -> None:
        self.processes["kube-apiserver"].stop()

    def start_apiserver(self, timeout: float = 60.0) -> None:
        self.processes["kube-apiserver"].start()
        self._wait_apiserver(timeout)

    # --- access --------------------------------------------------------------------

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.api_port}"

    @property
    def kubeconfig(self) -> Path:
        return self.workdir / "kubeconfig"

    @property
    def pki_dir(self) -> Path:
        """The CA (certificate and key) and the certificates it signed; the node agent signs its own here."""
        return self.workdir / "pki"

    def kubeconfig_for(self, user: str) -> Path:
        return self.workdir / f"kubeconfig-{user.replace(':', '-')}"

    def _write_kubeconfig(self, user: str, path: Path | None = None) -> Path:
        path = path or self.kubeconfig_for(user)
        config = {
            "apiVersion": "v1", "kind": "Config", "current-context": "test",
            "clusters": [{"name": "test", "cluster": {"server": self.server,
                                                      "certificate-authority": str(self.ca_file)}}],
            "users": [{"name": user, "user": {"token": self.tokens[user]}}],
            "contexts": [{"name": "test", "context": {"cluster": "test", "user": user}}],
        }
        path.write_text(json.dumps(config, indent=2))
        path.chmod(0o600)
        return path

    def request(self, path: str, user: str = "admin", timeout: float = 5.0) -> tuple[int, bytes]:
        """GET ``path`` as ``user``; returns (status, body). No exception for HTTP errors."""
        ctx = ssl.create_default_context(cafile=str(self.ca_file))
        req = urllib.request.Request(self.server + path,
                                     headers={"Authorization": f"Bearer {self.tokens[user]}"})
        try:
            with urllib.request.urlopen(req, timeout=timeout, context=ctx) as resp:
                return int(resp.status), bytes(resp.read())
        except urllib.error.HTTPError as err:
            return int(err.code), err.read()

    def audit_events(self, user: str | None = None, since: float = 0.0) -> list[dict[str, Any]]:
        """Audit events (stage ResponseComplete) for ``user``, received at or after ``since`` (epoch)."""
        events: list[dict[str, Any]] = []
        if not self.audit_log.exists():
            return events
        with self.audit_log.open() as f:
            for line in f:
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                if event.get("stage") != "ResponseComplete":
                    continue
                if user is not None and event.get("user", {}).get("username") != user:
                    continue
                if since and _epoch(event.get("requestReceivedTimestamp", "")) < since:
                    continue
                events.append(event)
        return events

    # --- waiting -------------------------------------------------------------------

    def _etcd_healthy(self) -> bool:
        return self.processes["etcd"].alive() and _tcp_open(
            int(self.processes["etcd"].argv[3].rsplit(":", 1)[1]))

    def _wait_apiserver(self, timeout: float) -> None:
        def ready() -> bool:
            try:
                status, _ = self.request("/readyz", timeout=2)
            except OSError:
                return False
            return status == 200
        self._wait(ready, "kube-apiserver", timeout)

    def _wait(self, check: Any, what: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for proc in self.processes.values():
                if proc.popen is not None and not proc.alive():
                    raise RuntimeError(f"{proc.name} exited with {proc.popen.returncode}:\n{proc.tail()}")
            if check():
                return
            time.sleep(0.2)
        waited = self.processes.get(what)
        raise TimeoutError(f"{what} not ready within {timeout}s:\n{waited.tail() if waited else ''}")


def _tcp_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _epoch(timestamp: str) -> float:
    try:
        return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def main() -> int:
    """Start the control plane in the foreground until Ctrl-C; print how to reach it."""
    workdir = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="controlplane-"))
    with ControlPlane.start(workdir) as cp:
        subprocess.run([str(toolchain.binaries().kubectl), "--kubeconfig", str(cp.kubeconfig), "apply", "-f", "-"],
                       input="\n---\n".join(json.dumps(c) for c in all_crds()), text=True, check=True,
                       stdout=subprocess.DEVNULL)
        print(f"kubeconfig: {cp.kubeconfig}")
        print(f"export KUBECONFIG={cp.kubeconfig}")
        print(f"try:        {toolchain.binaries().kubectl} --kubeconfig {cp.kubeconfig} get --raw /version")
        print("Ctrl-C stops it.", flush=True)
        stop_signals = {signal.SIGINT, signal.SIGTERM}
        signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
        signal.sigwait(stop_signals)
    return 0


if __name__ == "__main__":
    sys.exit(main())
