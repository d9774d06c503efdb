"""What a cluster's add-ons do, for the pods the agent runs: DNS, Service proxy, volume provisioner.

  * :class:`HostsFile` stands in for cluster DNS (and for kubelet's managed ``/etc/hosts``):
    each pod gets its own hosts file, bind-mounted at ``/etc/hosts`` in its containers and
    rewritten in place whenever the answer changes. It holds what kubelet writes there (the
    pod's own IP with its hostname, and ``<hostname>.<subdomain>.<ns>.svc.cluster.local`` when
    it has a subdomain), then what cluster DNS would answer, derived as CoreDNS derives it:
    ``<svc>.<ns>.svc.cluster.local`` (and ``.svc``, ``<svc>.<ns>``) for Services with a
    ClusterIP; for headless Services, ``<svc>.<ns>.svc.cluster.local`` for each endpoint and
    ``<hostname>.<svc>.<ns>.svc.cluster.local`` for each endpoint with a hostname (a pod whose
    ``subdomain`` names the Service), taken from the EndpointSlices and published only when
    the endpoint is ready or the Service has ``publishNotReadyAddresses: true`` (then the
    EndpointSlice controller marks every endpoint ready anyway). So a pod is not resolvable
    by other pods before it is ready unless its Service says so, as in Kubernetes. Other
    pods' short hostnames and search domains are not resolved.
  * :class:`ServiceProxy` stands in for kube-proxy: every port of every ClusterIP Service
    is served on the ClusterIP itself in the Service namespace (pods route the Service CIDR
    there, see :mod:`.network`), and on the host
    on a loopback address (``127.<k>.x.y`` for ClusterIP ``10.96.x.y``, ``k`` per
    environment) for the tests and the user. A connection goes round-robin to the Service's
    ready endpoints (EndpointSlices), as a plain TCP relay; ``default/kubernetes`` goes to the
    API server.
  * :class:`Provisioner` stands in for a storage provisioner: a pending claim gets a
    PersistentVolume backed by a directory under the environment's state (``hostPath``, no
    node affinity: like network storage it follows the pod to any node), reclaim policy
    Retain, so data outlives pods.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import functools
import ipaddress
import itertools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from innodb_dev.nodeagent.network import SERVICE_CIDR, in_netns, listening_socket
from innodb_dev.nodeagent.rest import ApiError, Rest

DOMAIN = "svc.cluster.local"


LOCALHOST = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"


def dns_records(services: list[dict[str, Any]], slices: list[dict[str, Any]]) -> str:
    """Hosts-file lines for what cluster DNS answers (see the module docstring)."""
    lines = []
    for svc in sorted(services, key=lambda s: (s["metadata"]["namespace"], s["metadata"]["name"])):
        ns, name = svc["metadata"]["namespace"], svc["metadata"]["name"]
        cluster_ip = svc["spec"].get("clusterIP")
        if cluster_ip and cluster_ip != "None":
            lines.append(f"{cluster_ip}\t{name}.{ns}.{DOMAIN} {name}.{ns}.svc {name}.{ns}")
            continue
        publish_not_ready = bool(svc["spec"].get("publishNotReadyAddresses"))
        for ip, hostname in _endpoints(slices, ns, name, ready_only=not publish_not_ready):
            names = [f"{hostname}.{name}.{ns}.{DOMAIN}"] if hostname else []
            lines.append(f"{ip}\t{' '.join([*names, f'{name}.{ns}.{DOMAIN}'])}")
    return "".join(f"{line}\n" for line in lines)


def pod_entries(pod: dict[str, Any], ip: str) -> str:
    """What kubelet writes about the pod itself into its /etc/hosts."""
    spec = pod["spec"]
    hostname = spec.get("hostname") or pod["metadata"]["name"]
    fqdn = f"{hostname}.{spec['subdomain']}.{pod['metadata']['namespace']}.{DOMAIN}" if spec.get("subdomain") else ""
    return f"{ip}\t{' '.join(n for n in (fqdn, hostname) if n)}\n"


def _endpoints(slices: list[dict[str, Any]], ns: str, service: str, *,
               ready_only: bool) -> list[tuple[str, str]]:
    """(address, hostname or "") of a Service's endpoints, sorted."""
    found: set[tuple[str, str]] = set()
    for eps in slices:
        meta = eps["metadata"]
        if meta["namespace"] != ns or (meta.get("labels") or {}).get("kubernetes.io/service-name") != service:
            continue
        for endpoint in eps.get("endpoints") or []:
            if ready_only and not (endpoint.get("conditions") or {}).get("ready", False):
                continue
            hostname = str(endpoint.get("hostname") or "")
            found |= {(str(address), hostname) for address in endpoint.get("addresses") or []}
    return sorted(found)


class HostsFile:
    """The hosts files of the agent's pods (one each) and the resolv.conf they share."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self._records = ""
        self._pods: dict[Path, str] = {}   # file -> the pod's own lines
        # No DNS server runs here: a lookup past the hosts file (say mysqld's reverse lookup of a
        # client's address) must fail at once, not wait for the host's unreachable resolver.
        self.resolv_conf = directory / "resolv.conf"
        self.resolv_conf.write_text("# node agent: cluster names are in /etc/hosts; no DNS server here\n"
                                    "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")
        self.resolv_conf.chmod(0o644)

    def add_pod(self, pod: dict[str, Any], ip: str) -> Path:
        """Create the pod's hosts file (to bind-mount at /etc/hosts) and keep it current."""
        path = self.directory / f"{pod['metadata']['uid']}.hosts"
        self._pods[path] = pod_entries(pod, ip)
        path.write_text(self._content(path))
        path.chmod(0o644)
        return path

    def remove_pod(self, path: Path) -> None:
        self._pods.pop(path, None)
        path.unlink(missing_ok=True)

    def _content(self, path: Path) -> str:
        return ("# Written by the node agent: this pod's names (as kubelet writes them), then cluster DNS.\n"
                f"{LOCALHOST}{self._pods[path]}{self._records}")

    def update(self, services: list[dict[str, Any]], slices: list[dict[str, Any]]) -> None:
        records = dns_records(services, slices)
        if records == self._records:
            return
        self._records = records
        for path in list(self._pods):
            # In place (same inode): containers see it through a bind mount of this very file.
            with contextlib.suppress(FileNotFoundError), open(path, "r+") as out:
                out.write(self._content(path))
                out.truncate()


def host_address(cluster_ip: str, octet: int) -> str:
    """The host-side loopback address serving ClusterIP ``10.96.x.y``: ``127.<octet>.x.y``."""
    net = ipaddress.IPv4Network(SERVICE_CIDR)
    offset = int(ipaddress.IPv4Address(cluster_ip)) - int(net.network_address)
    return str(ipaddress.IPv4Address(int(ipaddress.IPv4Address(f"127.{octet}.0.0")) + offset))


class ServiceProxy:
    """Relays ClusterIP traffic to ready endpoints; see the module docstring."""

    def __init__(self, octet: int, netns: str, apiserver: tuple[str, int], say: Callable[[str], None]) -> None:
        self.octet = octet
        self._netns = netns
        self._apiserver = apiserver
        self._say = say
        self._targets: dict[tuple[str, int], list[tuple[str, int]]] = {}
        self._rr: dict[tuple[str, int], itertools.count[int]] = {}
        self._servers: dict[tuple[str, str, int], asyncio.AbstractServer] = {}  # (netns or "", ip, port)

    def update(self, services: list[dict[str, Any]], slices: list[dict[str, Any]]) -> None:
        targets: dict[tuple[str, int], list[tuple[str, int]]] = {}
        for svc in services:
            ip = svc["spec"].get("clusterIP")
            if not ip or ip == "None":
                continue
            ns, name = svc["metadata"]["namespace"], svc["metadata"]["name"]
            for port in svc["spec"].get("ports") or []:
                if (ns, name) == ("default", "kubernetes"):
                    targets[(ip, int(port["port"]))] = [self._apiserver]
                    continue
                targets[(ip, int(port["port"]))] = self._endpoints(slices, ns, name, port)
        self._targets = targets

    @staticmethod
    def _endpoints(slices: list[dict[str, Any]], ns: str, name: str, port: dict[str, Any]) -> list[tuple[str, int]]:
        out = []
        for eps in slices:
            meta = eps["metadata"]
            if meta["namespace"] != ns or (meta.get("labels") or {}).get("kubernetes.io/service-name") != name:
                continue
            number = next((int(p["port"]) for p in eps.get("ports") or []
                           if (p.get("name") or "") == (port.get("name") or "")), None)
            if number is None:
                continue
            for endpoint in eps.get("endpoints") or []:
                if (endpoint.get("conditions") or {}).get("ready", False):
                    out += [(address, number) for address in endpoint.get("addresses") or []]
        return sorted(out)

    async def sync_listeners(self) -> None:
        wanted = {("", host_address(ip, self.octet), port) for ip, port in self._targets}
        wanted |= {(self._netns, ip, port) for ip, port in self._targets}
        for key in set(self._servers) - wanted:
            self._servers.pop(key).close()
        for key in sorted(wanted - set(self._servers)):
            netns, ip, port = key
            cluster_ip = ip if netns else self._cluster_ip(ip)
            try:
                if netns:
                    sock = await asyncio.to_thread(in_netns, netns, functools.partial(listening_socket, ip, port))
                else:
                    sock = listening_socket(ip, port)
            except OSError as exc:
                self._say(f"service proxy: cannot listen on {ip}:{port} {netns}: {exc}")
                continue
            self._servers[key] = await asyncio.start_server(
                functools.partial(self._relay, target=(cluster_ip, port)), sock=sock)

    def _cluster_ip(self, host_ip: str) -> str:
        offset = int(ipaddress.IPv4Address(host_ip)) - int(ipaddress.IPv4Address(f"127.{self.octet}.0.0"))
        return str(ipaddress.IPv4Network(SERVICE_CIDR).network_address + offset)

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *,
                     target: tuple[str, int]) -> None:
        endpoints = self._targets.get(target) or []
        if not endpoints:
            writer.close()
            return
        counter = self._rr.setdefault(target, itertools.count())
        host, port = endpoints[next(counter) % len(endpoints)]
        try:
            up_reader, up_writer = await asyncio.wait_for(asyncio.open_connection(host, port), 5)
        except (OSError, TimeoutError):
            writer.close()
            return
        await asyncio.gather(_pump(reader, up_writer), _pump(up_reader, writer), return_exceptions=True)

    def close(self) -> None:
        for server in self._servers.values():
            server.close()
        self._servers.clear()


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (OSError, asyncio.IncompleteReadError):
        pass
    finally:
        with contextlib.suppress(OSError, RuntimeError):
            if writer.can_write_eof():
                writer.write_eof()
        writer.close()


class Provisioner:
    def __init__(self, rest: Rest, root: Path, say: Callable[[str], None]) -> None:
        self._rest = rest
        self._root = root
        self._say = say

    async def sync(self, claims: list[dict[str, Any]]) -> None:
        for pvc in claims:
            spec, meta = pvc["spec"], pvc["metadata"]
            if spec.get("volumeName") or (pvc.get("status") or {}).get("phase") == "Bound" or meta.get(
                    "deletionTimestamp"):
                continue
            name = f"pv-{meta['namespace']}-{meta['name']}"[:200] + f"-{meta['uid'][:8]}"
            path = self._root / name
            path.mkdir(parents=True, exist_ok=True)
            os.chmod(path, 0o755)
            pv = {"apiVersion": "v1", "kind": "PersistentVolume",
                  "metadata": {"name": name, "labels": {"innodb-operator.dev/node-agent": "provisioned"}},
                  "spec": {"capacity": {"storage": ((spec.get("resources") or {}).get("requests") or {}).get(
                      "storage", "1Gi")},
                      "accessModes": spec.get("accessModes") or ["ReadWriteOnce"],
                      "persistentVolumeReclaimPolicy": "Retain",
                      "storageClassName": spec.get("storageClassName") or "",
                      "volumeMode": spec.get("volumeMode", "Filesystem"),
                      "hostPath": {"path": str(path), "type": "Directory"},
                      "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                                   "namespace": meta["namespace"], "name": meta["name"], "uid": meta["uid"]}}}
            try:
                await self._rest.post("/api/v1/persistentvolumes", pv)
                self._say(f"provisioned {name} for claim {meta['namespace']}/{meta['name']} at {path}")
            except ApiError as exc:
                if exc.status != 409:
                    self._say(f"provisioning {name} failed: {exc}")


def claim_loopback_octet(tag: str) -> tuple[int, int]:
    """A second octet for host-side Service addresses no other live environment holds.

    Returns (octet, fd of the held lock file); the claim lasts while the fd is open.
    """
    seed = int(tag, 16)
    for attempt in range(100):
        octet = 100 + (seed + attempt) % 100
        fd = os.open(f"/tmp/innodb-agent-loopback-127.{octet}.lock", os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue
        return octet, fd
    raise RuntimeError("no free 127.<k>.0.0/16 block for Service addresses")


def release_loopback_octet(octet: int, fd: int) -> None:
    with contextlib.suppress(OSError):
        os.unlink(f"/tmp/innodb-agent-loopback-127.{octet}.lock")
    os.close(fd)
