"""One pod on one node, run the way kubelet runs it.

Lifecycle of a :class:`PodWorker`:
  1. Sandbox: a network namespace with its own IP (:mod:`.network`), the pod's directory,
     its volumes (:mod:`.volumes`); until they are ready the containers wait in
     ``ContainerCreating`` and the reason is on the pod.
  2. Init containers, one at a time, in order, each to a zero exit (restarted with back-off
     on failure unless ``restartPolicy: Never``, which fails the pod).
  3. The main containers, each supervised: started, probed (startup, then liveness and
     readiness), restarted by ``restartPolicy`` with kubelet's back-off (at once the first
     time, then 10 s doubling to 5 min; reset after 10 min of running), ``restartCount``
     counted.
  4. Termination when the pod gets a ``deletionTimestamp`` (delete, eviction): SIGTERM to
     every container, up to the grace period, then SIGKILL; then the pod object is deleted
     for good (grace 0, the uid as precondition) and the sandbox removed. Logs stay in
     ``<state>/logs``.
Status (phase, conditions, container statuses, pod IP, start times) is written to the API
whenever it changes, and only then.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import functools
import os
import shutil
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from innodb_dev.nodeagent import container, images, logs, probes
from innodb_dev.nodeagent.rest import ApiError, Rest
from innodb_dev.nodeagent.volumes import VolumeNotReady, Volumes

if TYPE_CHECKING:
    from innodb_dev.nodeagent.node import NodeContext

BACKOFF_START, BACKOFF_MAX, BACKOFF_RESET = 10.0, 300.0, 600.0


def now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ConfigError(Exception):
    """The container cannot be configured (missing Secret key, unknown image)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass
class Running:
    """One container's runtime state, as its status reports it."""

    spec: dict[str, Any]
    restart_count: int = 0
    state: dict[str, Any] = field(default_factory=lambda: {"waiting": {"reason": "ContainerCreating"}})
    last_state: dict[str, Any] = field(default_factory=dict)
    ready: bool = False
    pid: int | None = None
    process: asyncio.subprocess.Process | None = None
    sandbox: container.Spec | None = None
    log: logs.ContainerLog | None = None   # the current (or last) instance's log
    kill_reason: str = ""
    _started: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    @property
    def name(self) -> str:
        return str(self.spec["name"])

    @property
    def started(self) -> bool:
        """The startup probe has passed (or there is none) since the container last started."""
        return self._started.is_set()

    @started.setter
    def started(self, value: bool) -> None:
        if value:
            self._started.set()
        else:
            self._started.clear()

    async def wait_started(self) -> None:
        await self._started.wait()

    def status(self, init: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name, "image": self.spec["image"], "imageID": f"agent://{self.spec['image']}",
            "restartCount": self.restart_count, "ready": self.ready, "state": self.state,
            "lastState": self.last_state,
        }
        if self.pid:
            out["containerID"] = f"agent://{self.pid}"
        if not init:
            out["started"] = self.started
        return out


class PodWorker:
    """Runs one pod until it is deleted; :meth:`update` feeds it the latest object."""

    def __init__(self, node: NodeContext, pod: dict[str, Any]) -> None:
        self.node = node
        self.pod = pod
        meta = pod["metadata"]
        self.uid: str = meta["uid"]
        self.namespace: str = meta["namespace"]
        self.name: str = meta["name"]
        self.dir = node.state_dir / "pods" / self.namespace / f"{self.name}-{self.uid[:8]}"
        self.log_dir = node.state_dir / "logs" / self.namespace / f"{self.name}-{self.uid[:8]}"
        self.netns = ""
        self.ip = ""
        self.hosts_file = Path()
        self.start_time = ""
        self.initialized = False
        self.phase = "Pending"
        self.message = ""
        self.init: list[Running] = [Running(c) for c in pod["spec"].get("initContainers") or []]
        self.main: list[Running] = [Running(c) for c in pod["spec"].get("containers") or []]
        self.volumes: Volumes | None = None
        self._deleting = asyncio.Event()
        self._changed = asyncio.Event()
        self._written: dict[str, Any] | None = None
        self.task: asyncio.Task[None] | None = None
        self._agent_stopping = False
        self._captures: set[asyncio.Task[None]] = set()

    @property
    def rest(self) -> Rest:
        return self.node.rest

    def log(self, message: str) -> None:
        self.node.say(f"{self.namespace}/{self.name}: {message}")

    # --- feed from the agent -------------------------------------------------------

    def update(self, pod: dict[str, Any]) -> None:
        self.pod = pod
        if pod["metadata"].get("deletionTimestamp"):
            self._deleting.set()

    def delete_now(self) -> None:
        """The object is gone from the API (force-deleted): stop everything at once."""
        self.pod = {**self.pod, "metadata": {**self.pod["metadata"], "deletionGracePeriodSeconds": 0,
                                             "deletionTimestamp": now()}}
        self._deleting.set()

    def shutdown(self, grace: float) -> None:
        """The agent is stopping: stop the containers within ``grace``, leave the pod object alone."""
        self._agent_stopping = True
        self.pod = {**self.pod, "metadata": {**self.pod["metadata"],
                                             "deletionGracePeriodSeconds": min(grace, self._grace())}}
        self._deleting.set()

    @property
    def finished(self) -> bool:
        return self.task is not None and self.task.done()

    @property
    def deleting(self) -> bool:
        return self._deleting.is_set()

    def find_container(self, name: str) -> Running | None:
        """The init or main container called ``name``."""
        return next((c for c in self.init + self.main if c.name == name), None)

    # --- main flow ------------------------------------------------------------------

    async def run(self) -> None:
        writer = asyncio.create_task(self._status_writer())
        stopper = asyncio.create_task(self._stop_when_deleted())
        try:
            if not self._deleting.is_set():
                await self._setup_sandbox()
            if not self._deleting.is_set() and await self._run_init_containers():
                self.initialized = True
                self._changed.set()
                await self._run_main_containers()
            await stopper
            await self._finish_deletion()
        finally:
            for task in (writer, stopper):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            self._kill_all()
            self._remove_sandbox()
            await self._end_captures()

    async def _setup_sandbox(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.netns, self.ip = await asyncio.to_thread(self.node.network.add_pod)
        self.hosts_file = self.node.hosts.add_pod(self.pod, self.ip)
        self.start_time = now()
        self.volumes = Volumes(self.rest, self.pod, self.dir / "volumes")
        while not self._deleting.is_set():
            try:
                await self.volumes.setup()
                self.message = ""
                break
            except (VolumeNotReady, ApiError) as exc:
                self._set_message(f"waiting for volumes: {exc}")
                await self._pause(1.0)
        self._changed.set()
        self.log(f"sandbox ready: ip {self.ip}, netns {self.netns}")

    def _set_message(self, message: str) -> None:
        if message != self.message:
            self.message = message
            self.log(message)
            self._changed.set()

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._deleting.wait(), seconds)

    async def _run_init_containers(self) -> bool:
        policy = self.pod["spec"].get("restartPolicy", "Always")
        for c in self.init:
            c.state = {"waiting": {"reason": "PodInitializing"}}
        for c in self.init:
            backoff = 0.0
            while not self._deleting.is_set():
                code = await self._run_once(c, probe=False)
                if code == 0:
                    c.ready = True
                    self._changed.set()
                    break
                if code is None or self._deleting.is_set():
                    return False
                if policy == "Never":
                    self.phase, self.message = "Failed", f"init container {c.name} exited with {code}"
                    self._changed.set()
                    return False
                c.restart_count += 1
                backoff = BACKOFF_START if backoff == 0 else min(BACKOFF_MAX, backoff * 2)
                self._crash_wait(c, backoff)
                await self._pause(backoff)
            else:
                return False
        return not self._deleting.is_set()

    async def _run_main_containers(self) -> None:
        for c in self.main:
            c.state = {"waiting": {"reason": "ContainerCreating"}}
        self.phase = "Pending"
        tasks = [asyncio.create_task(self._supervise(c)) for c in self.main]
        refresher = asyncio.create_task(self._refresh_volumes())
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in (*tasks, refresher):
                task.cancel()
            await asyncio.gather(*tasks, refresher, return_exceptions=True)
        policy = self.pod["spec"].get("restartPolicy", "Always")
        if not self._deleting.is_set() and policy != "Always":
            failed = any((c.state.get("terminated") or {}).get("exitCode", 1) != 0 for c in self.main)
            self.phase = "Failed" if failed else "Succeeded"
            self._changed.set()
            await self._deleting.wait()

    async def _supervise(self, c: Running) -> None:
        policy = self.pod["spec"].get("restartPolicy", "Always")
        backoff = 0.0
        while not self._deleting.is_set():
            started = time.monotonic()
            code = await self._run_once(c, probe=True)
            if code is None or self._deleting.is_set():
                return
            if policy == "Never" or (policy == "OnFailure" and code == 0):
                return
            if time.monotonic() - started > BACKOFF_RESET:
                backoff = 0.0
            c.restart_count += 1
            if backoff:
                self._crash_wait(c, backoff)
                await self._pause(backoff)
            backoff = BACKOFF_START if backoff == 0 else min(BACKOFF_MAX, backoff * 2)

    def _crash_wait(self, c: Running, backoff: float) -> None:
        c.state = {"waiting": {"reason": "CrashLoopBackOff",
                               "message": f"back-off {backoff:.0f}s restarting failed container={c.name}"}}
        self._changed.set()

    @staticmethod
    async def _terminated(c: Running, code: int, started_at: str) -> dict[str, Any]:
        """The container status's ``terminated`` for an exit with ``code`` (negative: a signal);
        a failure under FallbackToLogsOnError carries the end of the log, as kubelet's does."""
        reason = c.kill_reason or ("Completed" if code == 0 else "Error")
        exit_code = code if code >= 0 else 128 - code  # killed by a signal: 128 + its number, as runtimes report
        terminated: dict[str, Any] = {"exitCode": exit_code, "reason": reason, "startedAt": started_at,
                                      "finishedAt": now(), "containerID": f"agent://{c.pid}"}
        if code < 0:
            terminated["signal"] = -code
        if exit_code != 0 and c.spec.get("terminationMessagePolicy") == "FallbackToLogsOnError" and c.log:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(c.log.finished.wait(), 2.0)
            if message := logs.termination_message(c.log.path):
                terminated["message"] = message
        return terminated

    async def _run_once(self, c: Running, *, probe: bool) -> int | None:
        """Start ``c`` and wait for it to exit; its exit code, or None when it never started."""
        while True:
            try:
                spec = await self._container_spec(c)
                break
            except (ConfigError, ApiError, OSError) as exc:
                reason = exc.reason if isinstance(exc, ConfigError) else "CreateContainerConfigError"
                c.state = {"waiting": {"reason": reason, "message": str(exc)}}
                self._set_message(f"container {c.name}: {exc}")
                await self._pause(2.0)
                if self._deleting.is_set():
                    return None
        if self._deleting.is_set():
            return None
        c.sandbox = spec
        log = logs.ContainerLog(logs.instance_path(self.log_dir, c.name, c.restart_count))
        c.process, stdout, stderr = await container.start(spec)
        c.log = log
        capture = asyncio.create_task(log.capture(stdout, stderr), name=f"log {self.name}/{c.name}")
        self._captures.add(capture)
        capture.add_done_callback(self._captures.discard)
        c.pid = c.process.pid
        if self._deleting.is_set():  # deleted while starting: the stopper has already taken its list
            with contextlib.suppress(ProcessLookupError):
                os.killpg(c.pid, signal.SIGKILL)
        (self.dir / f"{c.name}.pid").write_text(str(c.pid))
        started_at = now()
        c.state = {"running": {"startedAt": started_at}}
        c.kill_reason = ""
        if not probe or "startupProbe" not in c.spec:
            c.started = True
        c.ready = False if probe and "readinessProbe" in c.spec else probe
        if self.phase == "Pending" and probe:
            self.phase = "Running"
        self._set_message("")
        self._changed.set()
        self.log(f"started container {c.name} (pid {c.pid})")
        probe_tasks = [asyncio.create_task(self._probe_loop(c, kind)) for kind in
                       ("startupProbe", "livenessProbe", "readinessProbe") if probe and kind in c.spec]
        code = await c.process.wait()
        for task in probe_tasks:
            task.cancel()
        await asyncio.gather(*probe_tasks, return_exceptions=True)
        terminated = await self._terminated(c, code, started_at)
        exit_code = int(terminated["exitCode"])
        c.state, c.last_state = {"terminated": terminated}, {"terminated": terminated}
        c.ready = False if probe else c.ready
        c.started = False
        c.process = None
        self._changed.set()
        self.log(f"container {c.name} exited with {exit_code} ({terminated['reason']})")
        return exit_code

    async def _container_spec(self, c: Running) -> container.Spec:
        try:
            image = images.resolve(c.spec["image"])
        except images.UnknownImage as exc:
            raise ConfigError("ErrImagePull", str(exc)) from None
        pod_spec = self.pod["spec"]
        security = {**(pod_spec.get("securityContext") or {}), **(c.spec.get("securityContext") or {})}
        uid = image.user if image.user is not None else int(security.get("runAsUser", 0))
        gid = 0 if image.user is not None else int(security.get("runAsGroup", uid))
        fs_group = (pod_spec.get("securityContext") or {}).get("fsGroup")
        groups = tuple(g for g in {fs_group, *(pod_spec.get("securityContext") or {}).get("supplementalGroups", [])}
                       if g is not None and g != gid)
        argv = tuple(c.spec.get("command") or image.entrypoint) + tuple(
            c.spec.get("args") or ([] if c.spec.get("command") else image.cmd))
        if not argv:
            raise ConfigError("CreateContainerError", f"image {c.spec['image']} has no default command here"
                              + (f": {image.missing_entrypoint}" if image.missing_entrypoint else ""))
        mounts, workdir = self._mounts(c.spec), self.dir / "containers" / c.name
        problem = container.host_layer_problem(image, [m.target for m in mounts], workdir)
        if problem:
            raise ConfigError("CreateContainerConfigError", problem)
        return container.Spec(
            image=image, argv=argv, env=await self._env(c.spec), mounts=mounts,
            netns=self.netns, hostname=self._hostname(), uid=uid, gid=gid, groups=groups,
            workdir=workdir, hosts_file=self.hosts_file,
            resolv_file=self.node.hosts.resolv_conf,
            working_dir=c.spec.get("workingDir", ""))

    def _hostname(self) -> str:
        return str(self.pod["spec"].get("hostname") or self.name)

    def _mounts(self, spec: dict[str, Any]) -> tuple[container.Mount, ...]:
        assert self.volumes is not None
        mounts = []
        for m in spec.get("volumeMounts") or []:
            source = self.volumes.paths.get(m["name"])
            if source is None:
                raise ConfigError("CreateContainerConfigError", f"volume {m['name']!r} is not defined")
            if m.get("subPath"):
                source = source / m["subPath"]
                if not source.exists():
                    source.mkdir(parents=True)
            mounts.append(container.Mount(source, m["mountPath"], bool(m.get("readOnly"))))
        return tuple(mounts)

    async def _env(self, spec: dict[str, Any]) -> dict[str, str]:
        env: dict[str, str] = dict(self.node.service_env)
        for source in spec.get("envFrom") or []:
            prefix = source.get("prefix", "")
            for kind, key in (("configmaps", "configMapRef"), ("secrets", "secretRef")):
                if key in source:
                    data = await self._object_data(kind, source[key]["name"], bool(source[key].get("optional")))
                    env.update({prefix + k: v for k, v in data.items()})
        for var in spec.get("env") or []:
            if "value" in var or "valueFrom" not in var:
                env[var["name"]] = _expand(str(var.get("value", "")), env)
                continue
            source = var["valueFrom"]
            if "fieldRef" in source:
                env[var["name"]] = self._field(source["fieldRef"]["fieldPath"])
            for kind, key in (("configmaps", "configMapKeyRef"), ("secrets", "secretKeyRef")):
                if key in source:
                    ref = source[key]
                    data = await self._object_data(kind, ref["name"], bool(ref.get("optional")))
                    if ref["key"] in data:
                        env[var["name"]] = data[ref["key"]]
                    elif not ref.get("optional"):
                        where = f"{kind[:-1]} {self.namespace}/{ref['name']}"
                        raise ConfigError("CreateContainerConfigError", f"couldn't find key {ref['key']} in {where}")
        return env

    def _field(self, path: str) -> str:
        values: dict[str, str] = {
            "metadata.name": self.name, "metadata.namespace": self.namespace, "metadata.uid": self.uid,
            "spec.nodeName": self.node.name,
            "spec.serviceAccountName": str(self.pod["spec"].get("serviceAccountName", "default")),
            "status.podIP": self.ip, "status.hostIP": self.node.host_ip}
        if path in values:
            return values[path]
        if path.startswith("metadata.labels["):
            labels = self.pod["metadata"].get("labels") or {}
            return str(labels.get(path[16:-1].strip("'\""), ""))
        return ""

    async def _object_data(self, kind: str, name: str, optional: bool) -> dict[str, str]:
        obj = await self.rest.get_or_none(f"/api/v1/namespaces/{self.namespace}/{kind}/{name}")
        if obj is None:
            if optional:
                return {}
            raise ConfigError("CreateContainerConfigError", f"{kind[:-1]} {self.namespace}/{name} not found")
        data = obj.get("data") or {}
        if kind == "secrets":
            return {k: base64.b64decode(v).decode(errors="replace") for k, v in data.items()}
        return dict(data)

    async def _refresh_volumes(self) -> None:
        assert self.volumes is not None
        while True:
            await asyncio.sleep(2.0)  # kubelet's sync period is about a minute; shorter is still honest
            with contextlib.suppress(ApiError, OSError):
                await self.volumes.refresh()

    # --- probes ------------------------------------------------------------------------

    async def _probe_loop(self, c: Running, kind: str) -> None:
        probe = c.spec[kind]
        period = float(probe.get("periodSeconds", 10))
        success_needed = int(probe.get("successThreshold", 1))
        failures_allowed = int(probe.get("failureThreshold", 3))
        ports = {p["name"]: int(p["containerPort"]) for p in c.spec.get("ports") or [] if p.get("name")}
        if kind != "startupProbe":
            await c.wait_started()
        await asyncio.sleep(float(probe.get("initialDelaySeconds", 0)))
        successes = failures = 0
        while True:
            assert c.sandbox is not None and c.pid is not None
            ok, message = await probes.attempt(probe, pod_ip=self.ip, ports=ports,
                                               run=functools.partial(container.exec_in, c.pid, c.sandbox))
            successes, failures = (successes + 1, 0) if ok else (0, failures + 1)
            if kind == "startupProbe":
                if ok:
                    c.started = True
                    self._changed.set()
                    return
                if failures >= failures_allowed:
                    await self._kill_container(c, "StartupProbe", message)
                    return
            elif kind == "livenessProbe" and failures >= failures_allowed:
                await self._kill_container(c, "Unhealthy", f"liveness probe failed: {message}")
                return
            elif kind == "readinessProbe":
                ready = c.ready
                if successes >= success_needed:
                    ready = True
                elif failures >= failures_allowed:
                    ready = False
                if ready != c.ready:
                    c.ready = ready
                    self.log(f"container {c.name} {'ready' if ready else 'not ready: ' + message}")
                    self._changed.set()
            await asyncio.sleep(period)

    async def _kill_container(self, c: Running, reason: str, message: str) -> None:
        self.log(f"killing container {c.name}: {message}")
        c.kill_reason = reason
        probe = c.spec.get("livenessProbe" if reason == "Unhealthy" else "startupProbe") or {}
        grace = float(probe.get("terminationGracePeriodSeconds")
                      or self.pod["spec"].get("terminationGracePeriodSeconds", 30))
        await self._stop_processes([c], grace)

    # --- termination -------------------------------------------------------------------

    def _grace(self) -> float:
        meta = self.pod["metadata"]
        value = meta.get("deletionGracePeriodSeconds")
        if value is None:
            value = self.pod["spec"].get("terminationGracePeriodSeconds", 30)
        return float(value)

    async def _stop_when_deleted(self) -> None:
        await self._deleting.wait()
        grace = self._grace()
        running = [c for c in self.init + self.main if c.process is not None]
        if running:
            self.log(f"terminating: SIGTERM to {', '.join(c.name for c in running)}, grace {grace:.0f}s")
        await self._stop_processes(running, grace)

    async def _finish_deletion(self) -> None:
        if self._agent_stopping:
            return
        self._changed.set()
        await self._write_status()
        meta = self.pod["metadata"]
        for attempt in range(30):
            try:
                await self.rest.delete(f"/api/v1/namespaces/{self.namespace}/pods/{self.name}",
                                       {"gracePeriodSeconds": 0, "preconditions": {"uid": meta["uid"]}})
                break
            except ApiError as exc:
                if exc.status == 409:  # a newer pod of the same name: ours is gone already
                    break
                self.log(f"final delete failed (attempt {attempt + 1}): {exc}")
            except OSError as exc:
                self.log(f"final delete failed (attempt {attempt + 1}): {exc}")
            await asyncio.sleep(1.0)
        self.log("deleted")

    async def _stop_processes(self, running: list[Running], grace: float) -> None:
        for c in running:
            if c.process is not None and c.process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(c.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for c in running:
            proc = c.process
            if proc is None:
                continue
            try:
                await asyncio.wait_for(asyncio.shield(proc.wait()), max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                self.log(f"container {c.name} outlived its grace period: SIGKILL")
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                await proc.wait()
        for _ in range(100):  # let the supervisors record the exits
            if all(c.process is None for c in running):
                break
            await asyncio.sleep(0.05)

    def _kill_all(self) -> None:
        for c in self.init + self.main:
            if c.process is not None and c.process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(c.process.pid, signal.SIGKILL)

    async def _end_captures(self) -> None:
        """Let the log pipes drain (every writer is gone with the sandbox), then stop reading them."""
        if self._captures:
            _, pending = await asyncio.wait(set(self._captures), timeout=5)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    def _remove_sandbox(self) -> None:
        if self.netns:
            self.node.network.remove_pod(self.netns)
            self.node.hosts.remove_pod(self.hosts_file)
        shutil.rmtree(self.dir, ignore_errors=True)

    # --- status ---------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        ready = bool(self.main) and all(c.ready for c in self.main) and self.phase == "Running"
        scheduled = next((c for c in (self.pod.get("status") or {}).get("conditions") or []
                          if c.get("type") == "PodScheduled"), {"type": "PodScheduled", "status": "True"})
        conditions = [
            {"type": "PodReadyToStartContainers", "status": "True" if self.netns else "False"},
            {"type": "Initialized", "status": "True" if self.initialized else "False"},
            {"type": "Ready", "status": "True" if ready else "False"},
            {"type": "ContainersReady", "status": "True" if ready else "False"},
            scheduled,
        ]
        status: dict[str, Any] = {
            "phase": self.phase, "conditions": conditions, "hostIP": self.node.host_ip,
            "hostIPs": [{"ip": self.node.host_ip}],
            "initContainerStatuses": [c.status(True) for c in self.init],
            "containerStatuses": [c.status(False) for c in self.main],
            "message": self.message or None,
        }
        if self.ip:
            status |= {"podIP": self.ip, "podIPs": [{"ip": self.ip}]}
        if self.start_time:
            status["startTime"] = self.start_time
        return status

    async def _status_writer(self) -> None:
        while True:
            await self._changed.wait()
            self._changed.clear()
            try:
                await self._write_status()
            except Exception as exc:
                self.log(f"status writer error: {exc!r}")
            await asyncio.sleep(0.1)

    async def _write_status(self) -> None:
        status = self.status()
        if status == self._written:
            return
        previous = {c["type"]: c for c in (self.pod.get("status") or {}).get("conditions") or []}
        stamped = dict(status)
        stamped["conditions"] = [
            {**c, "lastTransitionTime": previous[c["type"]].get("lastTransitionTime")
             if c["type"] in previous and previous[c["type"]].get("status") == c["status"] else now()}
            for c in status["conditions"]]
        try:
            answer = await self.rest.merge_patch(
                f"/api/v1/namespaces/{self.namespace}/pods/{self.name}/status", {"status": stamped})
            self.pod = {**self.pod, "status": answer.get("status", stamped)}
            self._written = status
        except ApiError as exc:
            if exc.status != 404:
                self.log(f"status write failed: {exc}")
                self._changed.set()
        except OSError as exc:
            self.log(f"status write failed: {exc}")
            self._changed.set()


def _expand(value: str, env: dict[str, str]) -> str:
    """``$(VAR)`` references to earlier variables, as kubelet expands them."""
    out, i = [], 0
    while i < len(value):
        if value.startswith("$$", i):
            out.append("$")
            i += 2
        elif value.startswith("$(", i) and ")" in value[i:]:
            end = value.index(")", i)
            name = value[i + 2:end]
            out.append(env.get(name, f"$({name})"))
            i = end + 1
        else:
            out.append(value[i])
            i += 1
    return "".join(out)


def pid_file(state_dir: Path, namespace: str, pod: str, container_name: str) -> Path | None:
    """The pid file of a running container (tests use it to kill the process)."""
    matches = sorted((state_dir / "pods" / namespace).glob(f"{pod}-*/{container_name}.pid"),
                     key=lambda p: p.stat().st_mtime)
    return matches[-1] if matches else None


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
