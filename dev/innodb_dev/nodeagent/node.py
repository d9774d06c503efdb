"""The agent process: Nodes registered and kept alive, their pods run, the add-ons kept current.

One process serves several Nodes (each registered with capacity, labels and a Ready
condition, its Lease renewed every 10 s as kubelet does) and shares one pod network, the
stand-in DNS (per-pod hosts files) and one Service proxy between them, as a cluster's nodes
share DNS and a Service network. Pods are picked up by polling the API every half second (small and
robust; no watch bookkeeping), each bound pod gets a :class:`PodWorker`.

On SIGTERM every pod is stopped (SIGTERM to its processes with a grace capped at
``--stop-grace``, then SIGKILL), the pod network is removed and the process exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import signal
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict

from innodb_dev import pki
from innodb_dev.nodeagent import addons
from innodb_dev.nodeagent.kubelet import WEBSOCKET_FEATURE, KubeletServer, server_context
from innodb_dev.nodeagent.network import Network
from innodb_dev.nodeagent.pods import PodWorker
from innodb_dev.nodeagent.rest import ApiError, Rest

AGENT_INFO = "agent.json"


class AgentInfo(TypedDict):
    """``<state>/agent.json``, written once the Nodes are registered: how to find what the agent made."""

    tag: str               # the environment's id: names of its network namespaces, links and locks
    nodes: list[str]
    pod_subnet: str
    service_octet: int     # Services are on the host at 127.<service_octet>.x.y
    pid: int


def read_agent_info(state_dir: Path) -> AgentInfo:
    raw = json.loads((state_dir / AGENT_INFO).read_text())
    return AgentInfo(tag=str(raw["tag"]), nodes=[str(n) for n in raw["nodes"]], pod_subnet=str(raw["pod_subnet"]),
                     service_octet=int(raw["service_octet"]), pid=int(raw["pid"]))


LEASE_SECONDS = 40
RENEW_SECONDS = 10
POLL_SECONDS = 0.5


def _micro_now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class NodeContext:
    """What a pod worker needs from its node and the shared add-ons."""

    name: str
    rest: Rest
    network: Network
    state_dir: Path
    hosts: addons.HostsFile
    host_ip: str
    proxy: addons.ServiceProxy
    service_env: dict[str, str] = field(default_factory=dict)

    def say(self, message: str) -> None:
        print(f"[node-agent {self.name}] {message}", flush=True)



def node_object(name: str, host_ip: str, kubelet_port: int) -> dict[str, Any]:
    capacity = {"cpu": "8", "memory": "16Gi", "pods": "110", "ephemeral-storage": "100Gi"}
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {
            "kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
            "node.kubernetes.io/instance-type": "node-agent"}},
        "spec": {},
        "status": {
            "capacity": capacity, "allocatable": capacity,
            "addresses": [{"type": "InternalIP", "address": host_ip}, {"type": "Hostname", "address": name}],
            # Where the API server reaches this node's kubelet endpoints (logs, exec): InternalIP:Port.
            "daemonEndpoints": {"kubeletEndpoint": {"Port": kubelet_port}},
            # The API server proxies exec WebSockets to kubelets that declare this (see .kubelet).
            "declaredFeatures": [WEBSOCKET_FEATURE],
            "nodeInfo": {"kubeletVersion": "v1.36.3-node-agent", "kubeProxyVersion": "", "operatingSystem": "linux",
                         "architecture": "amd64", "containerRuntimeVersion": "node-agent://1",
                         "osImage": "node agent (dev/innodb_dev/nodeagent)", "kernelVersion": os.uname().release,
                         "machineID": "", "systemUUID": "", "bootID": ""},
        },
    }


def _conditions() -> list[dict[str, Any]]:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    fine = [("MemoryPressure", "KubeletHasSufficientMemory"), ("DiskPressure", "KubeletHasNoDiskPressure"),
            ("PIDPressure", "KubeletHasSufficientPID")]
    out = [{"type": t, "status": "False", "reason": r, "message": "node agent", "lastHeartbeatTime": stamp,
            "lastTransitionTime": stamp} for t, r in fine]
    out.append({"type": "Ready", "status": "True", "reason": "KubeletReady",
                "message": "node agent is posting ready status", "lastHeartbeatTime": stamp,
                "lastTransitionTime": stamp})
    return out


class Agent:
    def __init__(self, kubeconfig: Path, state_dir: Path, tag: str, nodes: list[str], *, stop_grace: float,
                 pki_dir: Path) -> None:
        self.kubeconfig = kubeconfig
        self.pki_dir = pki_dir
        self.state_dir = state_dir
        self.tag = tag
        self.node_names = nodes
        self.stop_grace = stop_grace
        self.network = Network(tag)
        self.workers: dict[str, PodWorker] = {}
        self.contexts: dict[str, NodeContext] = {}
        self.kubelets: dict[str, KubeletServer] = {}

    def say(self, message: str) -> None:
        print(f"[node-agent] {message}", flush=True)

    async def run(self) -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        octet, lock = addons.claim_loopback_octet(self.tag)
        self.network.up()
        try:
            async with Rest(self.kubeconfig) as rest:
                api = rest.server.split("://", 1)[1]
                api_host, api_port = api.rsplit(":", 1)
                proxy = addons.ServiceProxy(octet, self.network.service_netns, (api_host, int(api_port)), self.say)
                hosts = addons.HostsFile(self.state_dir / "dns")
                provisioner = addons.Provisioner(rest, self.state_dir / "volumes", self.say)
                kubernetes = await rest.get("/api/v1/namespaces/default/services/kubernetes")
                service_env = {"KUBERNETES_SERVICE_HOST": kubernetes["spec"]["clusterIP"],
                               "KUBERNETES_SERVICE_PORT": "443", "KUBERNETES_SERVICE_PORT_HTTPS": "443",
                               "KUBERNETES_PORT": f"tcp://{kubernetes['spec']['clusterIP']}:443"}
                cert, key = pki.issue(self.pki_dir, f"node-agent-{self.tag}", common_name="node-agent",
                                      hosts=[self.network.gateway, *self.node_names])
                tls = server_context(cert, key, self.pki_dir / "ca.crt")
                for name in self.node_names:
                    self.contexts[name] = NodeContext(name, rest, self.network, self.state_dir, hosts,
                                                      self.network.gateway, proxy, service_env)
                    self.kubelets[name] = KubeletServer(name, self.find_pod, self.say)
                    await self.kubelets[name].start(self.network.gateway, tls)
                    await self._register(rest, name)
                info = AgentInfo(tag=self.tag, nodes=self.node_names, pod_subnet=str(self.network.subnet),
                                 service_octet=octet, pid=os.getpid())
                (self.state_dir / AGENT_INFO).write_text(json.dumps(info, indent=2))
                self.say(f"nodes {', '.join(self.node_names)} ready; pod network {self.network.subnet}; "
                         f"Services on the host at 127.{octet}.x.y")
                tasks = [asyncio.create_task(self._leases(rest)),
                         asyncio.create_task(self._sync_loop(rest, hosts, proxy, provisioner))]
                await stop.wait()
                self.say("stopping: every pod gets SIGTERM")
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                await self._stop_all()
                for server in self.kubelets.values():
                    await server.close()
                proxy.close()
        finally:
            self.network.down()
            addons.release_loopback_octet(octet, lock)
            self.say("stopped")
        return 0

    def find_pod(self, node: str, namespace: str, name: str) -> PodWorker | None:
        """The pod of that name on ``node`` that is running (or the newest one, if none is)."""
        found = [w for w in self.workers.values()
                 if w.node.name == node and w.namespace == namespace and w.name == name and not w.finished]
        return next((w for w in reversed(found) if not w.deleting), found[-1] if found else None)

    async def _register(self, rest: Rest, name: str) -> None:
        body = node_object(name, self.network.gateway, self.kubelets[name].port)
        try:
            await rest.post("/api/v1/nodes", body)
        except ApiError as exc:
            if exc.status != 409:
                raise
        await rest.merge_patch(f"/api/v1/nodes/{name}/status",
                               {"status": {**body["status"], "conditions": _conditions()}})
        await self._renew(rest, name)

    async def _renew(self, rest: Rest, name: str) -> None:
        path = f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{name}"
        spec = {"holderIdentity": name, "leaseDurationSeconds": LEASE_SECONDS, "renewTime": _micro_now()}
        if await rest.get_or_none(path) is None:
            await rest.post("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases",
                            {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                             "metadata": {"name": name, "namespace": "kube-node-lease"}, "spec": spec})
        else:
            await rest.merge_patch(path, {"spec": spec})

    async def _leases(self, rest: Rest) -> None:
        last_status = time.monotonic()
        while True:
            await asyncio.sleep(RENEW_SECONDS)
            refresh_status = time.monotonic() - last_status > 60
            for name in self.node_names:
                with contextlib.suppress(Exception):  # a missed renewal is retried in 10 s
                    await self._renew(rest, name)
                    if refresh_status:
                        await rest.merge_patch(f"/api/v1/nodes/{name}/status",
                                               {"status": {"conditions": _conditions()}})
            if refresh_status:
                last_status = time.monotonic()

    async def _sync_loop(self, rest: Rest, hosts: addons.HostsFile, proxy: addons.ServiceProxy,
                         provisioner: addons.Provisioner) -> None:
        while True:
            try:
                pods = await rest.items("/api/v1/pods")
                services = await rest.items("/api/v1/services")
                slices = await rest.items("/apis/discovery.k8s.io/v1/endpointslices")
                claims = await rest.items("/api/v1/persistentvolumeclaims")
            except Exception as exc:
                self.say(f"list failed (retrying): {exc!r}")
                await asyncio.sleep(1.0)
                continue
            try:
                self._sync_pods(pods)
                hosts.update(services, slices)
                proxy.update(services, slices)
                await proxy.sync_listeners()
                await provisioner.sync(claims)
            except Exception as exc:
                self.say(f"sync failed (retrying): {exc!r}")
            await asyncio.sleep(POLL_SECONDS)

    def _sync_pods(self, pods: list[dict[str, Any]]) -> None:
        seen = set()
        for pod in pods:
            node = (pod.get("spec") or {}).get("nodeName")
            if node not in self.contexts:
                continue
            uid = pod["metadata"]["uid"]
            seen.add(uid)
            worker = self.workers.get(uid)
            if worker is None:
                if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
                    continue
                worker = PodWorker(self.contexts[node], pod)
                self.workers[uid] = worker
                worker.update(pod)
                worker.task = asyncio.create_task(worker.run(), name=f"pod {pod['metadata']['name']}")
                worker.task.add_done_callback(self._report_crash)
            else:
                worker.update(pod)
        for uid, worker in list(self.workers.items()):
            if uid not in seen:
                if worker.finished:
                    self.workers.pop(uid)
                else:
                    worker.delete_now()

    def _report_crash(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            self.say(f"{task.get_name()} crashed:\n" + "".join(traceback.format_exception(task.exception())))

    async def _stop_all(self) -> None:
        for worker in self.workers.values():
            if not worker.finished:
                worker.shutdown(self.stop_grace)
        tasks = [w.task for w in self.workers.values() if w.task is not None]
        await asyncio.gather(*tasks, return_exceptions=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m innodb_dev.nodeagent", description=__doc__)
    parser.add_argument("--kubeconfig", type=Path, required=True)
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--tag", required=True, help="short hex id of the environment")
    parser.add_argument("--nodes", default="node-1,node-2,node-3")
    parser.add_argument("--stop-grace", type=float, default=30.0)
    parser.add_argument("--pki-dir", type=Path, required=True,
                        help="the control plane's CA (ca.crt, ca.key): signs the kubelet endpoints' certificate")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("the node agent needs root (network namespaces, mounts, chroot)", file=sys.stderr)
        return 1
    args.state_dir.mkdir(parents=True, exist_ok=True)
    args.state_dir.chmod(0o700)  # it holds Secret volumes and ServiceAccount tokens
    agent = Agent(args.kubeconfig, args.state_dir, args.tag, [n for n in args.nodes.split(",") if n],
                  stop_grace=args.stop_grace, pki_dir=args.pki_dir)
    return asyncio.run(agent.run())
