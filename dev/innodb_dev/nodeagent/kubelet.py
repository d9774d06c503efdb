"""The kubelet endpoints ``kubectl logs`` and ``kubectl exec`` reach through the API server.

One HTTPS server per Node on the node's InternalIP (the pod bridge's gateway, where the API
server on the host reaches it), its port published in the Node's
``status.daemonEndpoints.kubeletEndpoint.Port``. The serving certificate is signed by the
control plane's CA (the API server verifies it: ``--kubelet-certificate-authority``); a client
must present a certificate from the same CA whose common name is the API server's kubelet
client (``--kubelet-client-certificate``), so only the API server, which has already
authorized the user for ``pods/log`` or ``pods/exec``, gets in. (Kubelet would also ask the
API server to authorize that client with a SubjectAccessReview; the agent trusts the one
identity instead.)

  * ``GET /containerLogs/{namespace}/{pod}/{container}``: the container's log (:mod:`.logs`)
    with ``follow``, ``previous``, ``timestamps``, ``tailLines``, ``sinceSeconds``,
    ``sinceTime`` and ``limitBytes`` as kubelet takes them.
  * ``GET|POST /exec/{namespace}/{pod}/{container}?command=...&input=&output=&error=&tty=``:
    runs the command inside the running container (its namespaces, root, user and
    environment; :func:`.container.exec_process`) over a WebSocket with the
    ``v5.channel.k8s.io`` subprotocol (``v4`` also accepted): binary messages whose first byte
    is the channel (0 stdin, 1 stdout, 2 stderr, 3 the final status, 4 terminal resize; in v5,
    255 closes the stream named by the second byte). The Node declares
    ``ExtendWebSocketsToKubelet`` in ``status.declaredFeatures``, so kube-apiserver (v1.36, where
    that gate is on by default) proxies kubectl's WebSocket here as it is instead of
    translating it to SPDY. SPDY requests are refused with a message saying so.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import signal
import ssl
import struct
import termios
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from innodb_dev.controlplane import KUBELET_CLIENT_USER
from innodb_dev.nodeagent import container, logs
from innodb_dev.nodeagent.network import listening_socket

if TYPE_CHECKING:
    from innodb_dev.nodeagent.pods import PodWorker, Running

WEBSOCKET_FEATURE = "ExtendWebSocketsToKubelet"
PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255

PodLookup = Callable[[str, str, str], "PodWorker | None"]   # (node, namespace, name)


def server_context(cert: Path, key: Path, ca: Path) -> ssl.SSLContext:
    """TLS for the endpoints: our certificate; clients must show one signed by ``ca``."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(ca))
    ctx.load_cert_chain(str(cert), str(key))
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def _flag(query: Any, name: str) -> bool:
    return str(query.get(name, "")).lower() in ("1", "true")


def _status(exit_code: int | None, message: str = "") -> bytes:
    """The metav1.Status kubectl reads from the error channel when the command ends."""
    if exit_code == 0:
        body: dict[str, Any] = {"metadata": {}, "status": "Success"}
    elif exit_code is None:
        body = {"metadata": {}, "status": "Failure", "reason": "InternalError", "code": 500,
                "message": message or "the command could not be run"}
    else:
        body = {"metadata": {}, "status": "Failure", "reason": "NonZeroExitCode",
                "message": f"command terminated with non-zero exit code: exit status {exit_code}",
                "details": {"causes": [{"reason": "ExitCode", "message": str(exit_code)}]}}
    return json.dumps(body).encode()


class KubeletServer:
    """The endpoints of one Node; see the module docstring."""

    def __init__(self, node: str, lookup: PodLookup, say: Callable[[str], None]) -> None:
        self.node = node
        self._lookup = lookup
        self._say = say
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def start(self, host: str, tls: ssl.SSLContext) -> int:
        app = web.Application(middlewares=[self._authenticate])
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/containerLogs/{namespace}/{pod}/{container}", self._logs)
        app.router.add_route("GET", "/exec/{namespace}/{pod}/{container}", self._exec)
        app.router.add_route("POST", "/exec/{namespace}/{pod}/{container}", self._exec)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        sock = listening_socket(host, 0)
        self.port = int(sock.getsockname()[1])
        await web.SockSite(self._runner, sock, ssl_context=tls, shutdown_timeout=1.0).start()
        return self.port

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # --- plumbing ---------------------------------------------------------------------------

    @web.middleware
    async def _authenticate(self, request: web.Request,
                            handler: Callable[[web.Request], Any]) -> web.StreamResponse:
        peer = request.transport.get_extra_info("peercert") if request.transport is not None else None
        subject = {key: value for rdn in (peer or {}).get("subject", ()) for key, value in rdn}
        if subject.get("commonName") != KUBELET_CLIENT_USER:
            raise web.HTTPForbidden(text=f"forbidden: only {KUBELET_CLIENT_USER} may use the node agent's endpoints\n")
        response: web.StreamResponse = await handler(request)
        return response

    def _target(self, request: web.Request) -> tuple[PodWorker, Running]:
        namespace, name = request.match_info["namespace"], request.match_info["pod"]
        worker = self._lookup(self.node, namespace, name)
        if worker is None:
            raise web.HTTPNotFound(text=f"pod {namespace}/{name} does not exist on node {self.node}\n")
        found = worker.find_container(request.match_info["container"])
        if found is None:
            raise web.HTTPNotFound(text=f"container {request.match_info['container']!r} is not in pod "
                                        f"{namespace}/{name}\n")
        return worker, found

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    # --- logs ---------------------------------------------------------------------------------

    async def _logs(self, request: web.Request) -> web.StreamResponse:
        worker, c = self._target(request)
        query = request.query
        kept = logs.instances(worker.log_dir, c.name)
        current = c.log
        if _flag(query, "previous"):
            older = [p for p in kept if current is None or p != current.path]
            if not older:
                raise web.HTTPBadRequest(text=f'previous terminated container "{c.name}" in pod '
                                              f'"{worker.name}" not found\n')
            path, following = older[-1], None
        elif current is not None:
            path, following = current.path, current
        elif kept:
            path, following = kept[-1], None
        else:
            reason = (c.state.get("waiting") or {}).get("reason", "ContainerCreating")
            raise web.HTTPBadRequest(text=f'container "{c.name}" in pod "{worker.name}" is waiting to start: '
                                          f"{reason}\n")
        try:
            since_ns = (time.time_ns() - int(float(query["sinceSeconds"]) * 1e9) if "sinceSeconds" in query
                        else logs.parse_time(query["sinceTime"]) if "sinceTime" in query else None)
            tail = int(query["tailLines"]) if "tailLines" in query else None
            limit = int(query["limitBytes"]) if "limitBytes" in query else None
        except ValueError as exc:
            raise web.HTTPBadRequest(text=f"invalid log options: {exc}\n") from None
        entries, offset = logs.read(path)
        renderer = logs.Renderer(timestamps=_flag(query, "timestamps"), limit=limit)
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        await response.prepare(request)
        await response.write(renderer.feed(logs.select(entries, tail_lines=tail, since_ns=since_ns)))
        if _flag(query, "follow") and following is not None and not renderer.exhausted:
            async for batch in following.follow(offset):
                await response.write(renderer.feed(batch))
                if renderer.exhausted:
                    break
        await response.write_eof()
        return response

    # --- exec ---------------------------------------------------------------------------------

    async def _exec(self, request: web.Request) -> web.StreamResponse:
        worker, c = self._target(request)
        query = request.query
        command = query.getall("command", [])
        # kubelet's names for them (the API server's are stdin, stdout, stderr, tty).
        stdin, stdout, stderr, tty = (_flag(query, k) for k in ("input", "output", "error", "tty"))
        stderr = stderr and not tty  # a terminal has one output stream, as with kubelet
        if not command:
            raise web.HTTPBadRequest(text="you must specify at least 1 command\n")
        if not (stdin or stdout or stderr):
            raise web.HTTPBadRequest(text="you must specify at least one of stdin, stdout, stderr\n")
        ws = web.WebSocketResponse(protocols=PROTOCOLS, compress=False, autoping=True, max_msg_size=1 << 22)
        if not ws.can_prepare(request).ok:
            raise web.HTTPBadRequest(text="the node agent serves exec over WebSocket only (v5.channel.k8s.io, "
                                          "via the ExtendWebSocketsToKubelet path); SPDY is not supported\n")
        if c.pid is None or c.sandbox is None or c.process is None:
            raise web.HTTPBadRequest(text=f'container "{c.name}" in pod "{worker.name}" is not running\n')
        await ws.prepare(request)
        v5 = ws.ws_protocol == PROTOCOLS[0]
        self._say(f"exec in {worker.namespace}/{worker.name}/{c.name}: {command[0]} (stdin={stdin} tty={tty})")
        session = await _ExecSession.start(ws, c.pid, c.sandbox, command, stdin=stdin, stdout=stdout,
                                           stderr=stderr, tty=tty, v5=v5)
        await session.run()
        return ws


class _ExecSession:
    """One exec: the process, its streams and the WebSocket that carries them."""

    def __init__(self, ws: web.WebSocketResponse, proc: asyncio.subprocess.Process, *, tty_master: int | None,
                 stdout: bool, stderr: bool, v5: bool) -> None:
        self.ws = ws
        self.proc = proc
        self.master = tty_master
        self.want_stdout, self.want_stderr = stdout, stderr
        self.v5 = v5
        self._send_lock = asyncio.Lock()

    @classmethod
    async def start(cls, ws: web.WebSocketResponse, pid: int, spec: container.Spec, command: list[str], *,
                    stdin: bool, stdout: bool, stderr: bool, tty: bool, v5: bool) -> _ExecSession:
        proc, master = await container.exec_process(pid, spec, command, stdin=stdin, stdout=stdout,
                                                    stderr=stderr, tty=tty)
        if master is not None:
            os.set_blocking(master, False)  # read and written from the event loop
        session = cls(ws, proc, tty_master=master, stdout=stdout, stderr=stderr, v5=v5)
        for channel, wanted in ((STDOUT, stdout), (STDERR, stderr), (ERROR, True)):
            if wanted:  # kubelet opens each stream with an empty message
                await session.send(channel, b"")
        return session

    async def send(self, channel: int, data: bytes) -> None:
        async with self._send_lock:
            if not self.ws.closed:
                await self.ws.send_bytes(bytes([channel]) + data)

    async def run(self) -> None:
        inbound = asyncio.create_task(self._inbound())
        outputs = []
        if self.master is not None:
            outputs.append(asyncio.create_task(self._pump_fd(self.master, STDOUT)))
        else:
            if self.proc.stdout is not None:
                outputs.append(asyncio.create_task(self._pump(self.proc.stdout, STDOUT)))
            if self.proc.stderr is not None:
                outputs.append(asyncio.create_task(self._pump(self.proc.stderr, STDERR)))
        exited = asyncio.create_task(self._finish(outputs))
        try:
            done, _ = await asyncio.wait({inbound, exited}, return_when=asyncio.FIRST_COMPLETED)
            if exited not in done:  # the client went away first: end the command, as kubelet does
                _kill_group(self.proc.pid)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(exited), 5)
        finally:
            for task in (inbound, exited, *outputs):
                task.cancel()
            await asyncio.gather(inbound, exited, *outputs, return_exceptions=True)
            _kill_group(self.proc.pid)
            if self.master is not None:
                with contextlib.suppress(OSError):
                    os.close(self.master)
            await self.ws.close()

    async def _finish(self, outputs: list[asyncio.Task[None]]) -> None:
        await asyncio.gather(*outputs, return_exceptions=True)
        code = await self.proc.wait()
        await self.send(ERROR, _status(code if code >= 0 else 128 - code))

    async def _pump(self, reader: asyncio.StreamReader, channel: int) -> None:
        while data := await reader.read(32 * 1024):
            await self.send(channel, data)

    async def _pump_fd(self, fd: int, channel: int) -> None:
        loop = asyncio.get_running_loop()
        readable = asyncio.Event()
        loop.add_reader(fd, readable.set)
        try:
            while True:
                await readable.wait()
                readable.clear()
                try:
                    data = os.read(fd, 32 * 1024)
                except BlockingIOError:
                    continue
                except OSError:  # EIO: every holder of the terminal's other end is gone
                    return
                if not data:
                    return
                await self.send(channel, data)
        finally:
            loop.remove_reader(fd)

    async def _inbound(self) -> None:
        async for message in self.ws:
            if message.type != WSMsgType.BINARY or not message.data:
                continue
            data: bytes = message.data
            channel, payload = data[0], data[1:]
            if channel == STDIN and payload:
                await self._write_stdin(payload)
            elif channel == RESIZE and self.master is not None:
                with contextlib.suppress(ValueError, KeyError, OSError):
                    size = json.loads(payload)
                    fcntl.ioctl(self.master, termios.TIOCSWINSZ,
                                struct.pack("HHHH", int(size["Height"]), int(size["Width"]), 0, 0))
            elif channel == CLOSE and self.v5 and payload[:1] == bytes([STDIN]):
                await self._close_stdin()

    async def _write_stdin(self, data: bytes) -> None:
        if self.master is not None:
            await _write_all(self.master, data)
        elif self.proc.stdin is not None:
            with contextlib.suppress(OSError, ConnectionError):
                self.proc.stdin.write(data)
                await self.proc.stdin.drain()

    async def _close_stdin(self) -> None:
        if self.master is not None:
            await self._write_stdin(b"\x04")  # end of input on a terminal
        elif self.proc.stdin is not None:
            with contextlib.suppress(OSError, ConnectionError):
                self.proc.stdin.close()


async def _write_all(fd: int, data: bytes) -> None:
    """Write ``data`` to a non-blocking ``fd``, waiting for room when it is full; drop it if the fd is gone."""
    loop = asyncio.get_running_loop()
    while data:
        try:
            data = data[os.write(fd, data):]
        except BlockingIOError:
            room: asyncio.Future[None] = loop.create_future()
            loop.add_writer(fd, _resolve, room)
            try:
                await room
            finally:
                loop.remove_writer(fd)
        except OSError:
            return


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
