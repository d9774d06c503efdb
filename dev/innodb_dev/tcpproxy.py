"""A loopback TCP proxy that a test can cut: every connection through it drops at once.

Used to sever an informer's watch while the test keeps talking to the API server
directly, so objects change while the informer is disconnected.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading
from collections.abc import Iterator


class CuttableProxy:
    """Forwards 127.0.0.1:<port> to ``target``; :meth:`cut` drops connections, :meth:`refuse` blocks new ones."""

    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self._target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.setblocking(False)
        self.port = int(self._listener.getsockname()[1])
        self._lock = threading.Lock()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._refusing = False
        self._stopped = threading.Event()
        self.cuts = 0
        self._thread = threading.Thread(target=self._loop, name="cuttable-proxy", daemon=True)
        self._thread.start()

    def cut(self) -> None:
        """Close every open connection (both ends)."""
        with self._lock:
            pairs, self._pairs = self._pairs, []
            self.cuts += 1
        for a, b in pairs:
            for s in (a, b):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()

    @contextlib.contextmanager
    def down(self) -> Iterator[None]:
        """Cut, and refuse new connections until the block ends."""
        self._refusing = True
        self.cut()
        try:
            yield
        finally:
            self._refusing = False

    def close(self) -> None:
        self._stopped.set()
        self._thread.join(5)
        self.cut()
        self._listener.close()

    def _loop(self) -> None:
        sel = selectors.DefaultSelector()
        sel.register(self._listener, selectors.EVENT_READ)
        while not self._stopped.is_set():
            with self._lock:
                pairs = list(self._pairs)
            registered = {self._listener}
            for a, b in pairs:
                for s, peer in ((a, b), (b, a)):
                    if s.fileno() >= 0:
                        with contextlib.suppress(KeyError, ValueError, OSError):
                            sel.register(s, selectors.EVENT_READ, peer)
                            registered.add(s)
            try:
                ready = sel.select(timeout=0.1)
            except (OSError, ValueError):
                ready = []
            for key, _ in ready:
                if key.fileobj is self._listener:
                    self._accept()
                    continue
                self._pump(key.fileobj, key.data)  # type: ignore[arg-type]
            for s in registered - {self._listener}:
                with contextlib.suppress(KeyError, ValueError, OSError):
                    sel.unregister(s)
        sel.close()

    def _accept(self) -> None:
        try:
            client, _ = self._listener.accept()
        except OSError:
            return
        if self._refusing:
            client.close()
            return
        try:
            upstream = socket.create_connection(self._target, timeout=5)
        except OSError:
            client.close()
            return
        client.setblocking(False)
        upstream.setblocking(False)
        with self._lock:
            self._pairs.append((client, upstream))

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            data = src.recv(65536)
            if data:
                dst.setblocking(True)
                dst.sendall(data)
                dst.setblocking(False)
                return
        except OSError:
            pass
        with self._lock:
            self._pairs = [p for p in self._pairs if src not in p]
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.close()
