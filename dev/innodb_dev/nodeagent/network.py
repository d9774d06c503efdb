"""Pod networking: one network namespace per pod on a bridge the environment owns.

Why not pod IPs on ``lo``: Group Replication's XCom listens on the wildcard address, so two
members in one network namespace cannot both use port 33061, and a member skips seeds whose
IP is local. Real pods each have their own namespace; so do ours.

Layout (``tag`` is the environment's short id, so several environments can coexist):
  * bridge ``ioc<tag>`` in the host namespace, holding ``10.<a>.<b>.1/24``;
  * per pod: namespace ``ioc-<tag>-<n>`` with ``lo`` up, ``eth0`` (a veth whose host end
    ``ioc<tag>p<n>`` is on the bridge) holding the pod IP ``10.<a>.<b>.<n>/24``, a default
    route via the bridge, and the Service CIDR routed to the Service namespace;
  * the Service namespace ``ioc-<tag>-svc`` (``10.<a>.<b>.254``, veth ``ioc<tag>s``) where the
    whole Service CIDR is local (``ip route add local``), so the agent's Service proxy can
    listen on any ClusterIP there without taking a port from any pod (kube-proxy rewrites
    packets instead; there is no netfilter here);
  * nothing else: no NAT, no forwarding, no host firewall change. The host reaches pod IPs
    over the bridge; pods reach nothing outside the bridge except through the Service proxy.

:func:`cleanup` removes everything of a tag (processes in its namespaces included), so a
crashed agent's leftovers go away on the next start or ``down``.
"""

from __future__ import annotations

import contextlib
import ctypes
import ipaddress
import os
import socket
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

SERVICE_CIDR = "10.96.0.0/16"
NETNS_DIR = Path("/run/netns")
_CLONE_NEWNET = 0x40000000
T = TypeVar("T")


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True)


def _links() -> str:
    return _ip("-o", "link", "show").stdout


def _used_subnets() -> set[str]:
    return {line.split()[0] for line in _ip("route", "show").stdout.splitlines() if line and line[0].isdigit()}


class Network:
    """The bridge of one environment and the pod namespaces on it."""

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.bridge = f"ioc{tag}"
        self.subnet = self._pick_subnet()
        self.gateway = str(self.subnet.network_address + 1)
        self.service_ip = str(self.subnet.network_address + 254)
        self.service_netns = f"ioc-{tag}-svc"
        self._next = 2
        self._lock = threading.Lock()

    def _pick_subnet(self) -> ipaddress.IPv4Network:
        used = _used_subnets()
        seed = int(self.tag, 16)
        for attempt in range(256):
            value = (seed + attempt * 7919) % (56 * 256)
            net = ipaddress.IPv4Network(f"10.{200 + value // 256}.{value % 256}.0/24")
            if str(net) not in used:
                return net
        raise RuntimeError("no free 10.200-255.x.0/24 subnet for the pod network")

    def up(self) -> None:
        cleanup(self.tag)
        _ip("link", "add", self.bridge, "type", "bridge")
        _ip("addr", "add", f"{self.gateway}/{self.subnet.prefixlen}", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")
        self._plug(self.service_netns, f"ioc{self.tag}s", self.service_ip)
        _ip("-n", self.service_netns, "route", "add", "local", SERVICE_CIDR, "dev", "lo")

    def _plug(self, netns: str, host_end: str, ip: str) -> None:
        """A new namespace with ``lo`` up and ``eth0`` (``ip``) on the bridge through a veth pair."""
        _ip("netns", "add", netns)
        _ip("-n", netns, "link", "set", "lo", "up")
        _ip("link", "add", host_end, "type", "veth", "peer", "name", "eth0", "netns", netns)
        _ip("link", "set", host_end, "master", self.bridge, "up")
        _ip("-n", netns, "addr", "add", f"{ip}/{self.subnet.prefixlen}", "dev", "eth0")
        _ip("-n", netns, "link", "set", "eth0", "up")

    def add_pod(self) -> tuple[str, str]:
        """Create a pod namespace; return (namespace name, pod IP)."""
        with self._lock:
            n = self._next
            self._next += 1
        if n >= 254:
            raise RuntimeError(f"pod network {self.subnet} is full")
        netns, host_end = f"ioc-{self.tag}-{n}", f"ioc{self.tag}p{n}"
        ip = str(self.subnet.network_address + n)
        self._plug(netns, host_end, ip)
        _ip("-n", netns, "route", "add", "default", "via", self.gateway)
        _ip("-n", netns, "route", "add", SERVICE_CIDR, "via", self.service_ip)
        return netns, ip

    def remove_pod(self, netns: str) -> None:
        kill_namespace_processes(netns)
        _ip("netns", "del", netns, check=False)  # deleting the namespace deletes its veth pair

    def down(self) -> None:
        cleanup(self.tag)


def namespaces(tag: str) -> list[str]:
    prefix = f"ioc-{tag}-"
    return sorted(p.name for p in NETNS_DIR.glob(f"{prefix}*")) if NETNS_DIR.exists() else []


def kill_namespace_processes(netns: str) -> None:
    pids = _ip("netns", "pids", netns, check=False).stdout.split()
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), 9)


def cleanup(tag: str) -> None:
    """Remove every namespace, veth and the bridge of ``tag``, killing what runs inside."""
    for netns in namespaces(tag):
        kill_namespace_processes(netns)
        _ip("netns", "del", netns, check=False)
    for line in _links().splitlines():
        name = line.split(":")[1].strip().split("@")[0] if ":" in line else ""
        if name.startswith(f"ioc{tag}"):
            _ip("link", "del", name, check=False)


def leftovers(tag: str) -> list[str]:
    """What of ``tag`` is still on the host (empty after a clean teardown)."""
    found = [f"netns {n}" for n in namespaces(tag)]
    found += [f"link {line.split(':')[1].strip()}" for line in _links().splitlines()
              if ":" in line and line.split(":")[1].strip().startswith(f"ioc{tag}")]
    return found


def in_netns(netns: str, fn: Callable[[], T]) -> T:
    """Run ``fn`` on a fresh thread that has entered ``netns`` (sockets it makes stay there)."""
    libc = ctypes.CDLL(None, use_errno=True)
    result: list[T] = []
    error: list[BaseException] = []

    def run() -> None:
        try:
            fd = os.open(NETNS_DIR / netns, os.O_RDONLY)
            try:
                if libc.setns(fd, _CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), f"setns({netns})")
            finally:
                os.close(fd)
            result.append(fn())
        except BaseException as exc:
            error.append(exc)

    thread = threading.Thread(target=run, name=f"netns-{netns}")
    thread.start()
    thread.join()
    if error:
        raise error[0]
    return result[0]


def listening_socket(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.setblocking(False)
    return sock
