"""The node agent behaves as kubelet does, seen through the real API server and controllers."""

from __future__ import annotations

import json
import os
import pty
import re
import secrets
import select
import signal
import subprocess
import time
from typing import Any

from e2e.conftest import apply, create_namespace, pod, server_image, shell_container
from innodb_dev import toolchain
from innodb_dev.localenv import LocalEnv, leftovers
from innodb_dev.waiting import wait_until

LOOP = "while :; do sleep 0.2; done"


def pod_obj(env: LocalEnv, namespace: str, name: str) -> dict[str, Any] | None:
    result = env.kubectl("get", "pod", "-n", namespace, name, "-o", "json", check=False)
    if result.returncode != 0:
        return None
    return dict(json.loads(result.stdout))


def container_status(env: LocalEnv, namespace: str, name: str, container: str) -> dict[str, Any]:
    obj = pod_obj(env, namespace, name) or {}
    statuses = (obj.get("status") or {}).get("containerStatuses") or []
    return next((s for s in statuses if s["name"] == container), {})


def is_ready(env: LocalEnv, namespace: str, name: str) -> bool:
    obj = pod_obj(env, namespace, name) or {}
    conditions = (obj.get("status") or {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def in_container(env: LocalEnv, namespace: str, name: str, container: str, *command: str) -> str:
    pid = env.container_pid(namespace, name, container)
    result = subprocess.run(["nsenter", "-t", str(pid), "-m", "-r", "-w", "--", *command],
                            capture_output=True, text=True, check=True)
    return result.stdout


def test_init_containers_run_first_in_order(env: LocalEnv, namespace: str) -> None:
    apply(env, namespace, pod(
        "ordered",
        shell_container("main", f"cat /work/order; echo main >> /work/order; {LOOP}",
                        volumeMounts=[{"name": "work", "mountPath": "/work"}]),
        initContainers=[
            shell_container("first", "echo first >> /work/order",
                            volumeMounts=[{"name": "work", "mountPath": "/work"}]),
            shell_container("second", "echo second >> /work/order",
                            volumeMounts=[{"name": "work", "mountPath": "/work"}]),
        ],
        volumes=[{"name": "work", "emptyDir": {}}]))
    wait_until(lambda: container_status(env, namespace, "ordered", "main").get("state", {}).get("running"), 60,
               message="the main container to run")
    assert in_container(env, namespace, "ordered", "main", "cat", "/work/order").split() == ["first", "second", "main"]
    obj = pod_obj(env, namespace, "ordered")
    assert obj is not None
    inits = obj["status"]["initContainerStatuses"]
    assert [s["state"]["terminated"]["reason"] for s in inits] == ["Completed", "Completed"]
    assert inits[1]["state"]["terminated"]["finishedAt"] <= obj["status"]["containerStatuses"][0]["state"][
        "running"]["startedAt"]


def test_a_changed_configmap_shows_in_the_mounted_file(env: LocalEnv, namespace: str) -> None:
    apply(env, namespace, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"},
                           "data": {"greeting": "hello"}},
          pod("reader", shell_container("main", LOOP, volumeMounts=[{"name": "cfg", "mountPath": "/cfg"}]),
              volumes=[{"name": "cfg", "configMap": {"name": "settings"}}]))
    wait_until(lambda: container_status(env, namespace, "reader", "main").get("state", {}).get("running"), 60,
               message="the container to run")
    assert in_container(env, namespace, "reader", "main", "cat", "/cfg/greeting") == "hello"
    env.kubectl("patch", "configmap", "-n", namespace, "settings", "-p", '{"data":{"greeting":"changed"}}')
    wait_until(lambda: in_container(env, namespace, "reader", "main", "cat", "/cfg/greeting") == "changed", 30,
               message="the new ConfigMap value in the mounted file")


def ready_endpoints(env: LocalEnv, namespace: str, service: str) -> list[str]:
    slices = env.get("endpointslices", "-n", namespace, "-l", f"kubernetes.io/service-name={service}")["items"]
    return [a for s in slices for e in s.get("endpoints") or [] if (e.get("conditions") or {}).get("ready")
            for a in e["addresses"]]


def test_a_failing_readiness_probe_takes_the_pod_out_of_its_service(env: LocalEnv, namespace: str) -> None:
    readiness = {"exec": {"command": ["test", "-f", "/tmp/ready"]}, "periodSeconds": 1, "failureThreshold": 1}
    apply(env, namespace,
          pod("web", shell_container("main", f"touch /tmp/ready; {LOOP}", readinessProbe=readiness)),
          {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
           "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}})
    wait_until(lambda: is_ready(env, namespace, "web"), 60, message="the pod to become Ready")
    ip = (pod_obj(env, namespace, "web") or {})["status"]["podIP"]
    wait_until(lambda: ready_endpoints(env, namespace, "web") == [ip], 30, message="the pod among the endpoints")

    in_container(env, namespace, "web", "main", "rm", "/tmp/ready")
    wait_until(lambda: not is_ready(env, namespace, "web"), 30, message="the pod to become NotReady")
    wait_until(lambda: ready_endpoints(env, namespace, "web") == [], 30, message="the pod out of the endpoints")
    assert container_status(env, namespace, "web", "main")["state"].get("running"), "NotReady, but still running"


def test_a_killed_process_is_restarted_and_counted(env: LocalEnv, namespace: str) -> None:
    apply(env, namespace, pod("crashy", shell_container("main", LOOP)))
    wait_until(lambda: container_status(env, namespace, "crashy", "main").get("state", {}).get("running"), 60,
               message="the container to run")
    first = env.container_pid(namespace, "crashy", "main")
    os.kill(first, signal.SIGKILL)
    wait_until(lambda: container_status(env, namespace, "crashy", "main").get("restartCount") == 1
               and container_status(env, namespace, "crashy", "main")["state"].get("running"), 30,
               message="restartCount 1 and running again")
    status = container_status(env, namespace, "crashy", "main")
    assert status["lastState"]["terminated"]["exitCode"] == 137, status
    assert env.container_pid(namespace, "crashy", "main") != first


def _delete_and_time(env: LocalEnv, namespace: str, name: str) -> float:
    started = time.monotonic()
    env.kubectl("delete", "pod", "-n", namespace, name, "--wait=false")
    wait_until(lambda: pod_obj(env, namespace, name) is None, 60, interval=0.1, message=f"{name} to be gone")
    return time.monotonic() - started


def test_deleting_a_pod_sends_sigterm_and_honours_the_grace_period(env: LocalEnv, namespace: str) -> None:
    graceful = shell_container("main", "trap 'echo got SIGTERM; sleep 2; echo cleaned up; exit 0' TERM; "
                               "while :; do sleep 0.2 & wait $!; done")
    stubborn = shell_container("main", "trap 'echo ignoring SIGTERM' TERM; while :; do sleep 0.2 & wait $!; done")
    apply(env, namespace, pod("graceful", graceful, terminationGracePeriodSeconds=30),
          pod("stubborn", stubborn, terminationGracePeriodSeconds=3))
    for name in ("graceful", "stubborn"):
        wait_until(lambda n=name: container_status(env, namespace, n, "main").get("state", {}).get("running"), 60,
                   message=f"{name} to run")
    graceful_took = _delete_and_time(env, namespace, "graceful")
    log = env.container_log(namespace, "graceful", "main")
    assert "got SIGTERM" in log and "cleaned up" in log, log
    assert 2.0 <= graceful_took < 30, f"a process that exits 2 s after SIGTERM was gone after {graceful_took:.1f}s"

    stubborn_took = _delete_and_time(env, namespace, "stubborn")
    assert "ignoring SIGTERM" in env.container_log(namespace, "stubborn", "main")
    assert 3.0 <= stubborn_took < 15, f"grace 3 s: SIGKILL expected after 3 s, gone after {stubborn_took:.1f}s"
    print(f"\nexits 2 s after SIGTERM: gone after {graceful_took:.1f}s; "
          f"ignores SIGTERM with grace 3 s: gone after {stubborn_took:.1f}s")


def test_claim_data_survives_the_pod_and_returns_with_the_recreated_statefulset_pod(
        env: LocalEnv, namespace: str) -> None:
    script = f"[ -f /data/first-boot ] || date +%s%N > /data/first-boot; {LOOP}"
    apply(env, namespace, {
        "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "keeper"},
        "spec": {"serviceName": "keeper", "replicas": 1, "selector": {"matchLabels": {"app": "keeper"}},
                 "template": {"metadata": {"labels": {"app": "keeper"}}, "spec": {
                     "terminationGracePeriodSeconds": 1,
                     "containers": [shell_container("main", script,
                                                    volumeMounts=[{"name": "data", "mountPath": "/data"}])]}},
                 "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
                     "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]}})

    def running_uid() -> str | None:
        obj = pod_obj(env, namespace, "keeper-0")
        if obj and container_status(env, namespace, "keeper-0", "main").get("state", {}).get("running"):
            return str(obj["metadata"]["uid"])
        return None

    wait_until(running_uid, 90, message="keeper-0 to run")
    first_uid = running_uid()
    stamp = in_container(env, namespace, "keeper-0", "main", "cat", "/data/first-boot")
    env.kubectl("delete", "pod", "-n", namespace, "keeper-0")
    wait_until(lambda: running_uid() not in (None, first_uid), 90, message="the StatefulSet to recreate keeper-0")
    assert in_container(env, namespace, "keeper-0", "main", "cat", "/data/first-boot") == stamp


def test_an_image_the_agent_cannot_run_is_a_clear_error_on_the_pod(env: LocalEnv, namespace: str) -> None:
    apply(env, namespace, pod("foreign", {"name": "main", "image": "docker.io/library/nginx:1.27"}))

    def waiting() -> dict[str, Any]:
        return dict(container_status(env, namespace, "foreign", "main").get("state", {}).get("waiting") or {})

    wait_until(lambda: waiting().get("reason") == "ErrImagePull", 60, message="ErrImagePull on the pod")
    assert "nginx" in waiting()["message"] and "cannot run image" in waiting()["message"]


def test_teardown_leaves_no_process_mount_namespace_or_address(tmp_path_factory: Any) -> None:
    workdir = tmp_path_factory.mktemp("teardown")
    with LocalEnv.start(workdir, nodes=1, stop_grace=5) as local:
        create_namespace(local, "t")
        apply(local, "t", pod("server", shell_container("main", LOOP)),
              pod("mysqld", {"name": "mysqld", "image": server_image(), "command": ["mysqld", "--help"]},
                  restartPolicy="Never"))
        wait_until(lambda: container_status(local, "t", "server", "main").get("state", {}).get("running"), 60,
                   message="the pod to run")
        assert local.leftovers(), "a running environment must show its processes and namespaces"
        tag = local.tag
    assert leftovers(workdir, tag) == []


# --- the kubelet endpoints through the API server: kubectl logs and kubectl exec ----------------------------

STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z ")


def running(env: LocalEnv, namespace: str, name: str, container: str = "main") -> bool:
    return bool(container_status(env, namespace, name, container).get("state", {}).get("running"))


def test_kubectl_logs_reads_the_container_log_through_the_api_server(env: LocalEnv, namespace: str) -> None:
    script = ('for i in 1 2 3; do echo "line $i"; done; '
              'if [ ! -f /data/ran ]; then touch /data/ran; echo "first run"; exit 3; fi; '
              f'echo "second run"; {LOOP}')
    apply(env, namespace, pod("talker", shell_container("main", script, volumeMounts=[
        {"name": "data", "mountPath": "/data"}]), volumes=[{"name": "data", "emptyDir": {}}]),
        pod("counter", shell_container("main", 'for i in $(seq 1 15); do echo "tick $i"; sleep 0.1; done'),
            restartPolicy="Never"),
        pod("streams", shell_container("main", f"echo to stdout; echo to stderr >&2; {LOOP}")))
    wait_until(lambda: container_status(env, namespace, "talker", "main").get("restartCount") == 1
               and running(env, namespace, "talker"), 60, message="talker restarted once and running")
    wait_until(lambda: "second run" in env.kubectl("logs", "-n", namespace, "talker").stdout, 30,
               message="the second run's output in kubectl logs")

    current = env.kubectl("logs", "-n", namespace, "talker").stdout
    assert current == "line 1\nline 2\nline 3\nsecond run\n", current
    previous = env.kubectl("logs", "-n", namespace, "talker", "--previous").stdout
    assert previous == "line 1\nline 2\nline 3\nfirst run\n", previous
    assert env.kubectl("logs", "-n", namespace, "talker", "--tail=2").stdout == "line 3\nsecond run\n"
    stamped = env.kubectl("logs", "-n", namespace, "talker", "--timestamps").stdout.splitlines()
    assert len(stamped) == 4 and all(STAMP.match(line) for line in stamped), stamped
    assert [STAMP.sub("", line) for line in stamped] == current.splitlines()
    assert env.kubectl("logs", "-n", namespace, "talker", "--limit-bytes=9").stdout == "line 1\nli"
    assert env.kubectl("logs", "-n", namespace, "talker", "--since=1h").stdout == current
    # stdout and stderr are both the container's log (their order between the two pipes is not kept).
    wait_until(lambda: sorted(env.kubectl("logs", "-n", namespace, "streams").stdout.splitlines())
               == ["to stderr", "to stdout"], 60, message="both streams of pod streams in its log")

    # -f streams until the container ends, then returns.
    wait_until(lambda: running(env, namespace, "counter") or "tick" in env.kubectl(
        "logs", "-n", namespace, "counter", check=False).stdout, 60, message="counter to start")
    followed = env.kubectl("logs", "-n", namespace, "counter", "-f", timeout=60).stdout
    assert followed == "".join(f"tick {i}\n" for i in range(1, 16)), followed
    missing = env.kubectl("logs", "-n", namespace, "talker", "-c", "nope", check=False)
    assert missing.returncode != 0 and "nope" in missing.stderr


def mysqld_pod(name: str, password: str) -> list[dict[str, Any]]:
    """A standalone mysqld (no operator) whose root@localhost password is ``password``."""
    init = f"ALTER USER 'root'@'localhost' IDENTIFIED BY '{password}';\n"
    script = ("set -e; [ -d /var/lib/mysql/data/mysql ] || mysqld --no-defaults --initialize-insecure --user=root "
              "--datadir=/var/lib/mysql/data; exec mysqld --no-defaults --user=root --datadir=/var/lib/mysql/data "
              "--mysqlx=OFF --bind-address=127.0.0.1 --secure-file-priv= --init-file=/init/init.sql")
    return [
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": f"{name}-init"}, "stringData": {"init.sql": init}},
        pod(name, shell_container("main", script, readinessProbe={
            "exec": {"command": ["mysqladmin", "ping"]}, "periodSeconds": 1},
            volumeMounts=[{"name": "data", "mountPath": "/var/lib/mysql"}, {"name": "init", "mountPath": "/init"}]),
            volumes=[{"name": "data", "emptyDir": {}}, {"name": "init", "secret": {"secretName": f"{name}-init"}}]),
    ]


def test_kubectl_exec_runs_the_mysql_client_inside_the_container(env: LocalEnv, namespace: str) -> None:
    password = secrets.token_hex(8)
    apply(env, namespace, *mysqld_pod("db", password))
    wait_until(lambda: is_ready(env, namespace, "db"), 120, message="mysqld in pod db to answer")

    def answers() -> bool:
        probe = env.kubectl("exec", "-n", namespace, "db", "-c", "main", "--", "mysql", "-uroot",
                            f"-p{password}", "-e", "SELECT 1", check=False)
        return probe.returncode == 0
    wait_until(answers, 60, message="root's password set by the init file")

    # As the journey runs it: kubectl exec POD -c CONTAINER -- mysql -uroot -p... -e 'SELECT 1'
    result = env.kubectl("exec", "-n", namespace, "db", "-c", "main", "--", "mysql", "-uroot", f"-p{password}",
                         "-e", "SELECT 1")
    assert result.stdout == "1\n1\n", result.stdout
    assert "Using a password on the command line" in result.stderr  # stderr comes on its own channel
    assert "Using a password" not in result.stdout

    piped = env.kubectl("exec", "-i", "-n", namespace, "db", "--", "mysql", "-uroot", f"-p{password}", "-N",
                        input="SELECT 1 + 1;\nSELECT @@hostname;\n")
    assert piped.stdout == "2\ndb\n", piped.stdout  # stdin reached mysql, and its end ended it

    denied = env.kubectl("exec", "-n", namespace, "db", "--", "mysql", "-uroot", "-pwrong", "-e", "SELECT 1",
                         check=False)
    assert denied.returncode == 1, (denied.returncode, denied.stderr)
    assert "Access denied for user 'root'@'localhost'" in denied.stderr
    assert "command terminated with exit code 1" in denied.stderr

    inside = env.kubectl("exec", "-n", namespace, "db", "--", "bash", "-c", "id -u; hostname; echo $HOME")
    assert inside.stdout.split() == ["0", "db", "/"], inside.stdout


def test_kubectl_exec_with_a_terminal_runs_an_interactive_mysql_session(env: LocalEnv, namespace: str) -> None:
    password = secrets.token_hex(8)
    apply(env, namespace, *mysqld_pod("tty", password))
    wait_until(lambda: is_ready(env, namespace, "tty"), 120, message="mysqld in pod tty to answer")
    wait_until(lambda: env.kubectl("exec", "-n", namespace, "tty", "--", "mysql", "-uroot", f"-p{password}", "-e",
                                   "SELECT 1", check=False).returncode == 0, 60, message="root's password")
    # kubectl exec -it, with kubectl on a terminal of its own as a user's would be.
    master, slave = pty.openpty()
    kubectl = subprocess.Popen(
        [str(toolchain.binaries().kubectl), "--kubeconfig", str(env.kubeconfig), "exec", "-it", "-n", namespace,
         "tty", "--", "mysql", "-uroot", f"-p{password}"], stdin=slave, stdout=slave, stderr=slave)
    os.close(slave)
    seen = bytearray()

    def saw(text: bytes) -> bool:
        while select.select([master], [], [], 0.2)[0]:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen.extend(chunk)
        return text in seen

    def expect(*texts: bytes, timeout: float = 60) -> None:
        try:
            wait_until(lambda: all(saw(t) for t in texts), timeout, message=f"{texts!r} on kubectl's terminal")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; it showed {bytes(seen)!r}") from None

    try:
        expect(b"mysql> ")
        os.write(master, b"SELECT 40 + 2 AS answer;\r")
        expect(b"| answer |", b"|     42 |", timeout=30)
        os.write(master, b"exit\r")
        expect(b"Bye", timeout=30)
        wait_until(lambda: kubectl.poll() is not None, 30, message="kubectl exec to end with mysql")
        assert kubectl.returncode == 0
    finally:
        if kubectl.poll() is None:
            kubectl.kill()
            kubectl.wait()
        os.close(master)


# --- DNS: a pod behind a headless Service is published only when Kubernetes would -----------------------------

def resolve(env: LocalEnv, namespace: str, pod_name: str, name: str) -> str:
    """The address ``name`` has inside ``pod_name`` ("" when it does not resolve)."""
    pid = env.container_pid(namespace, pod_name, "main")
    result = subprocess.run(["nsenter", "-t", str(pid), "-m", "-r", "-w", "--", "getent", "hosts", name],
                            capture_output=True, text=True, check=False)
    return result.stdout.split()[0] if result.returncode == 0 and result.stdout else ""


def test_a_headless_service_publishes_a_pod_when_ready_or_when_it_publishes_not_ready_addresses(
        env: LocalEnv, namespace: str) -> None:
    readiness = {"exec": {"command": ["test", "-f", "/tmp/ready"]}, "periodSeconds": 1, "failureThreshold": 1}

    def headless(name: str, publish: bool) -> dict[str, Any]:
        return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
                "spec": {"clusterIP": "None", "publishNotReadyAddresses": publish, "selector": {"group": name},
                         "ports": [{"port": 3306}]}}

    def member(name: str, group: str) -> dict[str, Any]:
        obj = pod(name, shell_container("main", LOOP, readinessProbe=readiness), hostname=name, subdomain=group)
        obj["metadata"]["labels"]["group"] = group
        return obj

    apply(env, namespace, headless("strict", False), headless("eager", True), member("strict-0", "strict"),
          member("eager-0", "eager"), pod("client", shell_container("main", LOOP)))
    for name in ("strict-0", "eager-0", "client"):
        wait_until(lambda n=name: running(env, namespace, n), 60, message=f"{name} to run")
    domain = f"{namespace}.svc.cluster.local"
    ips = {n: (pod_obj(env, namespace, n) or {})["status"]["podIP"] for n in ("strict-0", "eager-0")}

    # publishNotReadyAddresses: resolvable while not ready (as StatefulSet members must be).
    wait_until(lambda: resolve(env, namespace, "client", f"eager-0.eager.{domain}") == ips["eager-0"], 30,
               message="eager-0 resolvable before it is ready")
    assert not is_ready(env, namespace, "eager-0")
    # Not ready, not published: once the EndpointSlice lists strict-0 as not ready and a later change
    # (a new Service) has reached the pods, strict-0 must still not resolve.
    wait_until(lambda: any(e.get("conditions", {}).get("ready") is False for s in env.get(
        "endpointslices", "-n", namespace, "-l", "kubernetes.io/service-name=strict")["items"]
        for e in s.get("endpoints") or []), 30, message="strict-0 in its EndpointSlice, not ready")
    apply(env, namespace, {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "marker"},
                           "spec": {"selector": {"app": "none"}, "ports": [{"port": 80}]}})
    wait_until(lambda: resolve(env, namespace, "client", f"marker.{domain}"), 30, message="the marker Service")
    assert resolve(env, namespace, "client", f"strict-0.strict.{domain}") == ""
    assert resolve(env, namespace, "client", f"strict.{domain}") == ""
    # A pod always knows its own names (kubelet writes them into its /etc/hosts); others' short names never.
    assert resolve(env, namespace, "strict-0", f"strict-0.strict.{domain}") == ips["strict-0"]
    assert resolve(env, namespace, "client", "strict-0") == ""

    in_container(env, namespace, "strict-0", "main", "touch", "/tmp/ready")
    wait_until(lambda: resolve(env, namespace, "client", f"strict-0.strict.{domain}") == ips["strict-0"], 30,
               message="strict-0 resolvable once ready")
    assert resolve(env, namespace, "client", f"strict.{domain}") == ips["strict-0"]
