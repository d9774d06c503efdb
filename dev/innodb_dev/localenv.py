"""The whole product on this machine: control plane, node agents, operator and a cluster via Helm.

    ./dev/up            # set up what is missing, start everything, install the journey, wait ONLINE,
                        # then Prometheus (innodb_dev.monitoring) scraping the operator and exporter sidecars
    ./dev/down          # stop it (data kept: the next ./dev/up brings the same cluster back)
    ./dev/down --wipe   # stop it and delete its data

In tests: ``with LocalEnv.start(workdir) as env: ...`` gives a running control plane and
node agents (nothing installed); :func:`install_operator` / :func:`install_cluster` do the
journey's Helm steps. Teardown stops the agent (every pod gets SIGTERM), then the control
plane, and :meth:`LocalEnv.leftovers` says what, if anything, stayed behind.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes
import mysql.connector

from innodb_api import GROUP, INNODBCLUSTER_PLURAL, VERSION
from innodb_dev import REPO, monitoring, toolchain
from innodb_dev.controlplane import ControlPlane
from innodb_dev.nodeagent import addons, logs, network
from innodb_dev.nodeagent.node import AGENT_INFO, AgentInfo, read_agent_info
from innodb_dev.nodeagent.pods import pid_file
from innodb_dev.waiting import wait_until

DEFAULT_DIR = REPO / ".localenv"
OPERATOR_NS, OPERATOR_RELEASE = "mysql-operator", "mysql-operator"
CLUSTER_NS, CLUSTER_RELEASE = "mysql-cluster", "mycluster"
DEV_UP_VALUES: dict[str, Any] = {"metrics": {"enable": True}}
"""What ``./dev/up`` adds to the journey's values: the exporter sidecars its Prometheus scrapes."""


def _say(message: str) -> None:
    print(f"[localenv] {message}", flush=True)


@dataclass
class LocalEnv:
    workdir: Path
    cp: ControlPlane
    agent: subprocess.Popen[bytes]
    tag: str

    @classmethod
    @contextlib.contextmanager
    def start(cls, workdir: Path, *, nodes: int = 3, stop_grace: float = 30.0) -> Iterator[LocalEnv]:
        """Start the control plane and one agent process serving ``nodes`` Nodes; stop both on exit."""
        workdir.mkdir(parents=True, exist_ok=True)
        workdir.chmod(0o700)  # tokens, passwords and the cluster's data live here
        tag = secrets.token_hex(2)
        with ControlPlane.start(workdir / "controlplane") as cp:
            state = workdir / "agent"
            (state / AGENT_INFO).unlink(missing_ok=True)
            log = open(workdir / "node-agent.log", "ab")  # noqa: SIM115 - closed below
            env = {**os.environ, "PYTHONPATH": str(REPO / "dev")}
            agent = subprocess.Popen(
                [sys.executable, "-m", "innodb_dev.nodeagent", "--kubeconfig", str(cp.kubeconfig),
                 "--state-dir", str(state), "--tag", tag, "--stop-grace", str(stop_grace),
                 "--pki-dir", str(cp.pki_dir),
                 "--nodes", ",".join(f"node-{i}" for i in range(1, nodes + 1))],
                stdout=log, stderr=subprocess.STDOUT, env=env)
            self = cls(workdir, cp, agent, tag)
            try:
                wait_until(lambda: (state / AGENT_INFO).exists() or agent.poll() is not None, 60,
                           message="the node agent to register its nodes")
                if agent.poll() is not None:
                    raise RuntimeError(f"the node agent exited: {self.agent_log()[-2000:]}")
                _say(f"node agent up: {nodes} nodes (log {workdir / 'node-agent.log'})")
                yield self
            finally:
                self.stop_agent()
                if "api" in self.__dict__:
                    self.api.close()  # type: ignore[no-untyped-call]  # kubernetes.client.ApiClient.close: no annotations
                log.close()

    # --- handles -------------------------------------------------------------------------

    @property
    def kubeconfig(self) -> Path:
        return self.cp.kubeconfig

    @functools.cached_property
    def api(self) -> kubernetes.client.ApiClient:
        """A synchronous client (the ``kubernetes`` package) as admin, for polls that would fork kubectl."""
        client: kubernetes.client.ApiClient = kubernetes.config.new_client_from_config(  # type: ignore[no-untyped-call]
            config_file=str(self.kubeconfig))  # (kubernetes.config has no annotations)
        return client

    @property
    def state(self) -> Path:
        return self.workdir / "agent"

    def agent_info(self) -> AgentInfo:
        return read_agent_info(self.state)

    def agent_log(self) -> str:
        return (self.workdir / "node-agent.log").read_text(errors="replace")

    def kubectl(self, *args: str, input: str | None = None, check: bool = True,
                timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return _run([str(toolchain.binaries().kubectl), "--kubeconfig", str(self.kubeconfig), *args],
                    input=input, check=check, timeout=timeout)

    def get(self, *args: str) -> Any:
        return json.loads(self.kubectl("get", *args, "-o", "json").stdout)

    def helm(self, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return _run([str(toolchain.binaries().helm), "--kubeconfig", str(self.kubeconfig), *args],
                    check=check, timeout=timeout)

    def service_address(self, namespace: str, name: str) -> str:
        """The host-side loopback address of a ClusterIP Service (ports as the Service's)."""
        spec = kubernetes.client.CoreV1Api(self.api).read_namespaced_service(name, namespace).spec
        if spec is None or not spec.cluster_ip or spec.cluster_ip == "None":
            raise LookupError(f"Service {namespace}/{name} has no ClusterIP")
        return addons.host_address(spec.cluster_ip, self.agent_info()["service_octet"])

    def container_pid(self, namespace: str, pod: str, container: str) -> int:
        path = pid_file(self.state, namespace, pod, container)
        if path is None:
            raise LookupError(f"no running container {container} in {namespace}/{pod}")
        return int(path.read_text())

    def container_log(self, namespace: str, pod: str, container: str) -> str:
        """What the container wrote (every kept start, oldest first) in the newest pod of that name."""
        pods = sorted((p for p in (self.state / "logs" / namespace).glob(f"{pod}-*") if (p / container).is_dir()),
                      key=lambda p: p.stat().st_mtime)
        return logs.decode_all(pods[-1], container) if pods else ""

    # --- teardown -------------------------------------------------------------------------

    def stop_agent(self, timeout: float = 120) -> None:
        if self.agent.poll() is None:
            self.agent.send_signal(signal.SIGTERM)
            try:
                self.agent.wait(timeout)
            except subprocess.TimeoutExpired:
                self.agent.kill()
                self.agent.wait()
        network.cleanup(self.tag)

    def leftovers(self) -> list[str]:
        """Processes, mounts, namespaces, links and addresses of this environment still around."""
        return leftovers(self.workdir, self.tag)


def leftovers(workdir: Path, tag: str) -> list[str]:
    found = network.leftovers(tag)
    marker = str(workdir)
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            root = os.readlink(proc / "root")
        except OSError:
            continue
        if marker in cmdline or marker in root:
            found.append(f"process {proc.name}: {cmdline[:120]}")
    mounts: set[str] = set()
    for info in Path("/proc").glob("[0-9]*/mountinfo"):  # every process's mount namespace
        try:
            mounts |= {line.split()[4] for line in info.read_text().splitlines() if marker in line}
        except OSError:
            continue
    found += [f"mount {m}" for m in sorted(mounts)]
    addresses = subprocess.run(["ip", "-o", "addr"], capture_output=True, text=True, check=False).stdout
    found += [f"address {line}" for line in addresses.splitlines() if f"ioc{tag}" in line]
    return found


def _run(argv: list[str], *, input: str | None = None, check: bool = True,
         timeout: float = 120) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=timeout, check=False)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:1] + argv[3:])} failed ({result.returncode}): "
                           f"{result.stderr.strip() or result.stdout.strip()}")
    return result


# --- the journey's Helm steps -----------------------------------------------------------------

def install_operator(env: LocalEnv, *, extra: tuple[str, ...] = ()) -> None:
    env.helm("upgrade", "--install", OPERATOR_RELEASE, str(REPO / "charts" / "mysql-operator"),
             "-n", OPERATOR_NS, "--create-namespace", "--set", "pollSeconds=10", *extra)


def journey_values(password: str) -> str:
    return json.dumps({
        "credentials": {"root": {"user": "root", "password": password, "host": "%"}},
        "serverConfig": {"mycnf": "[mysqld]\nmax_connections=300\n"},
        "tls": {"useSelfSigned": True},
    }, indent=2)


def install_cluster(env: LocalEnv, password: str, *, namespace: str = CLUSTER_NS, release: str = CLUSTER_RELEASE,
                    extra: tuple[str, ...] = (), values_extra: dict[str, Any] | None = None) -> Path:
    """``helm upgrade --install`` of the cluster chart with the journey's values (file mode 0600).

    ``values_extra`` adds top-level keys to the values file (``./dev/up``: ``metrics``).
    """
    values = env.workdir / f"values-{namespace}-{release}.yaml"
    content = journey_values(password)
    if values_extra:
        content = json.dumps({**json.loads(content), **values_extra}, indent=2)
    _write_private(values, content)
    env.helm("upgrade", "--install", release, str(REPO / "charts" / "mysql-innodbcluster"),
             "-n", namespace, "--create-namespace", "-f", str(values), *extra)
    return values


def cluster_summary(env: LocalEnv, namespace: str = CLUSTER_NS, name: str = CLUSTER_RELEASE) -> str:
    pods = env.get("pods", "-n", namespace).get("items", [])
    parts = []
    for pod in sorted(pods, key=lambda p: p["metadata"]["name"]):
        statuses = (pod.get("status") or {}).get("containerStatuses") or []
        ready = sum(1 for s in statuses if s.get("ready"))
        restarts = sum(int(s.get("restartCount", 0)) for s in statuses)
        phase = (pod.get("status") or {}).get("phase", "?")
        restarted = f" r{restarts}" if restarts else ""
        parts.append(f"{pod['metadata']['name']} {phase} {ready}/{len(statuses)}{restarted}")
    ic = env.kubectl("get", "innodbcluster", "-n", namespace, name, "--no-headers", "-o",
                     "custom-columns=S:.status.cluster.status,O:.status.cluster.onlineInstances", check=False)
    return f"cluster: {' '.join(ic.stdout.split()) or '-'} | pods: {', '.join(parts) or '-'}"


def cluster_status(env: LocalEnv, namespace: str = CLUSTER_NS, name: str = CLUSTER_RELEASE) -> dict[str, Any]:
    """The InnoDBCluster's status ({} while it has none, or does not exist)."""
    try:
        obj = kubernetes.client.CustomObjectsApi(env.api).get_namespaced_custom_object(
            GROUP, VERSION, namespace, INNODBCLUSTER_PLURAL, name)
    except kubernetes.client.ApiException as exc:
        if exc.status == 404:
            return {}
        raise
    return dict((obj.get("status") if isinstance(obj, dict) else None) or {})


def router_ready(env: LocalEnv, namespace: str = CLUSTER_NS, name: str = CLUSTER_RELEASE) -> int:
    """Ready replicas of the cluster's router Deployment (0 while it does not exist)."""
    try:
        deployment = kubernetes.client.AppsV1Api(env.api).read_namespaced_deployment(f"{name}-router", namespace)
    except kubernetes.client.ApiException as exc:
        if exc.status == 404:
            return 0
        raise
    return int(deployment.status.ready_replicas or 0) if deployment.status is not None else 0


def wait_online(env: LocalEnv, *, instances: int = 3, routers: int = 1, timeout: float = 900,
                namespace: str = CLUSTER_NS, name: str = CLUSTER_RELEASE, progress: bool = True) -> float:
    """Wait until the cluster reports ONLINE with ``instances`` members and ``routers`` ready routers."""
    started = time.monotonic()
    last = ""

    def done() -> bool:
        nonlocal last
        summary = cluster_summary(env, namespace, name)
        if progress and summary != last:
            _say(f"{time.monotonic() - started:5.0f}s {summary}")
            last = summary
        status = cluster_status(env, namespace, name)
        cluster = status.get("cluster") or {}
        online = sum(1 for m in cluster.get("members") or [] if m.get("state") == "ONLINE")
        return (cluster.get("status") == "ONLINE" and online >= instances
                and router_ready(env, namespace, name) >= routers)

    wait_until(done, timeout, interval=2.0, message=f"{namespace}/{name} ONLINE with {instances} members")
    return time.monotonic() - started


def sql(host: str, port: int, password: str, statement: str, *, user: str = "root") -> list[tuple[Any, ...]]:
    conn = mysql.connector.connect(host=host, port=port, user=user, password=password,
                                   connection_timeout=5, ssl_disabled=False)
    try:
        cursor = conn.cursor()
        cursor.execute(statement)
        return [tuple(row) for row in cursor.fetchall()]
    finally:
        conn.close()


# --- the developer command ------------------------------------------------------------------------

def _password(workdir: Path) -> str:
    path = workdir / "root-password"
    if not path.exists():
        _write_private(path, secrets.token_urlsafe(12))
    return path.read_text().strip()


def _write_private(path: Path, content: str) -> None:
    """Write ``content`` to a file no other user can read, at any moment."""
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(content)


def start_prometheus(env: LocalEnv, stack: contextlib.ExitStack, *,
                     exporters: int = 3) -> tuple[monitoring.Prometheus | None, str]:
    """Prometheus for ``./dev/up`` (stopped with ``stack``), and the line that says where it is.

    It waits (up to a minute) until it scrapes the operator and ``exporters`` sidecars that reach
    their mysqld (``mysql_up``), and says what it scrapes.

    It loads the operator chart's alert rules when that file exists and ``promtool`` accepts it.
    A Prometheus that cannot start is reported, never a reason to stop the environment.
    """
    rules = []
    try:
        if monitoring.CHART_ALERTS.exists():
            problem = monitoring.check_rules(monitoring.CHART_ALERTS)
            if problem:
                _say(f"Prometheus: not loading {monitoring.CHART_ALERTS.relative_to(REPO)}: {problem}")
            else:
                rules.append(monitoring.CHART_ALERTS)
        prom = monitoring.start(env.workdir / "prometheus", env.kubeconfig, rule_files=rules,
                                port=monitoring.preferred_port())
    except (monitoring.NotInstalled, monitoring.PrometheusError, OSError) as exc:
        _say(f"Prometheus did not start: {exc}")
        return None, ""
    stack.callback(prom.stop)

    def count(promql: str) -> int:
        try:
            return sum(1 for s in prom.query(promql) if s["value"][1] == "1")
        except (OSError, monitoring.PrometheusError):
            return 0
    operator = f'up{{job="{monitoring.OPERATOR_JOB}"}}'
    sidecars = f'mysql_up{{job="{monitoring.EXPORTER_JOB}",namespace="{CLUSTER_NS}",cluster="{CLUSTER_RELEASE}"}}'
    with contextlib.suppress(AssertionError):
        wait_until(lambda: count(operator) >= 1 and count(sidecars) >= exporters, 60, interval=0.5,
                   message="Prometheus to scrape the operator and the exporter sidecars")
    if count(operator) and count(sidecars) >= exporters:
        scraping = "scrapes the operator and the exporter sidecars"
    else:
        scraping = (f"scrapes {'the operator' if count(operator) else 'no operator'} and {count(sidecars)} of "
                    f"{exporters} exporter sidecars so far: see {prom.url}/api/v1/targets")
    loaded = f"; rules from {monitoring.CHART_ALERTS.relative_to(REPO)}" if rules else ""
    return prom, f"Prometheus: {prom.url} ({scraping}{loaded})"


def _print_connection(env: LocalEnv, password_file: Path, prometheus: str = "") -> None:
    router = env.service_address(CLUSTER_NS, CLUSTER_RELEASE)
    kubectl = toolchain.binaries().kubectl
    extra = f"{prometheus}\n" if prometheus else ""
    print(f"""
InnoDB Cluster {CLUSTER_NS}/{CLUSTER_RELEASE} is ONLINE. Connect through MySQL Router:
  read-write:  ./dev/mysql -h {router} -P 6446 -u root
  read-only:   ./dev/mysql -h {router} -P 6447 -u root
  (the Service {CLUSTER_RELEASE}.{CLUSTER_NS} is served on the host at {router}; ./dev/mysql is
   the MySQL client of the servers' build and takes the password from {password_file})
kubectl:
  export KUBECONFIG={env.kubeconfig}
  alias kubectl={kubectl}
  kubectl get innodbcluster -n {CLUSTER_NS}
  kubectl get pods -n {CLUSTER_NS} -o wide
  kubectl logs -n {CLUSTER_NS} {CLUSTER_RELEASE}-0 -c mysql
  kubectl exec -it -n {CLUSTER_NS} {CLUSTER_RELEASE}-0 -c mysql -- mysql -uroot -p
Logs: containers in {env.state / 'logs'}, node agent {env.workdir / 'node-agent.log'},
      control plane {env.cp.workdir / 'logs'}.
{extra}Stop with Ctrl-C or ./dev/down (data kept; ./dev/down --wipe deletes it).
""", flush=True)


def up(workdir: Path) -> int:
    pidfile = workdir / "localenv.pid"
    if pidfile.exists() and _alive(int(pidfile.read_text() or 0)):
        _say(f"already running (pid {pidfile.read_text()}); stop it with ./dev/down")
        return 1
    started = time.monotonic()
    workdir.mkdir(parents=True, exist_ok=True)
    pidfile.write_text(str(os.getpid()))
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        with LocalEnv.start(workdir) as env, contextlib.ExitStack() as stack:  # the stack (Prometheus) ends first
            password = _password(workdir)
            _say("installing the operator: helm upgrade --install mysql-operator charts/mysql-operator "
                 f"-n {OPERATOR_NS} --create-namespace")
            install_operator(env)
            values = install_cluster(env, password, values_extra=DEV_UP_VALUES)
            _say("installed the cluster: helm upgrade --install mycluster charts/mysql-innodbcluster "
                 f"-n {CLUSTER_NS} --create-namespace -f {values}")
            wait_online(env)
            router = env.service_address(CLUSTER_NS, CLUSTER_RELEASE)
            wait_until(lambda: _hostname_via(router, password), 120, interval=1.0,
                       message="SELECT @@hostname through the router's RW port")
            host = _hostname_via(router, password)
            _say(f"SELECT @@hostname through the router (RW, {router}:6446) -> {host}")
            _, prometheus = start_prometheus(env, stack)
            _say(f"ready in {time.monotonic() - started:.0f}s")
            _print_connection(env, workdir / "root-password", prometheus)
            with contextlib.suppress(KeyboardInterrupt):
                signal.pause()
            _say(f"stopping (data kept in {workdir})")
    except KeyboardInterrupt:
        _say(f"interrupted; stopped (data kept in {workdir})")
    finally:
        pidfile.unlink(missing_ok=True)
    return 0


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _hostname_via(router: str, password: str) -> str | None:
    try:
        return str(sql(router, 6446, password, "SELECT @@hostname")[0][0])
    except Exception:
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, ValueError):
        return False
    return pid > 0


def down(workdir: Path, *, wipe: bool) -> int:
    pidfile = workdir / "localenv.pid"
    pid = int(pidfile.read_text() or 0) if pidfile.exists() else 0
    if pid and _alive(pid):
        _say(f"stopping the local environment (pid {pid})")
        os.kill(pid, signal.SIGTERM)
        wait_until(lambda: not _alive(pid), 180, interval=0.5, message="the local environment to stop")
    state = workdir / "agent"
    tag = read_agent_info(state)["tag"] if (state / AGENT_INFO).exists() else "ffff"
    stray = [line for line in leftovers(workdir, tag) if line.startswith("process ")]
    for line in stray:  # what a killed ./dev/up left running: agent, control plane, containers
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(line.split()[1].rstrip(":")), signal.SIGKILL)
    if stray:
        _say(f"stopped {len(stray)} processes a killed ./dev/up left behind")
    network.cleanup(tag)
    if wipe and workdir.exists():
        shutil.rmtree(workdir)
        _say(f"deleted {workdir}")
    _say("stopped")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m innodb_dev.localenv")
    parser.add_argument("command", choices=["up", "down"])
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--wipe", action="store_true", help="down: also delete the data")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("the local environment needs root (network namespaces, mounts, chroot)", file=sys.stderr)
        return 1
    return up(args.dir) if args.command == "up" else down(args.dir, wipe=args.wipe)


if __name__ == "__main__":
    sys.exit(main())
