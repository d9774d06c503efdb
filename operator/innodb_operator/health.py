"""HTTP endpoints: ``/healthz``, ``/readyz`` and ``/metrics``.

  * ``/healthz``: 200 while the process's event loop answers at all.
  * ``/readyz``: 200 when ``ready()`` says so, else 503 with the reason in the body.
    The entry point defines ready as: every informer has synced and, with leader
    election on, this replica is leading or standing by with a recent look at the Lease.
  * ``/metrics``: the operator's registry in Prometheus text format (served on its own
    port when it differs from the health port).
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from innodb_operator.observability.metrics import REGISTRY

ReadyCheck = Callable[[], tuple[bool, str]]


async def _healthz(_: web.Request) -> web.Response:
    return web.Response(text="ok\n")


def _readyz(ready: ReadyCheck) -> Callable[[web.Request], object]:
    async def handler(_: web.Request) -> web.Response:
        ok, reason = ready()
        return web.Response(status=200 if ok else 503, text=(reason or ("ok" if ok else "not ready")) + "\n")

    return handler


async def _metrics(_: web.Request) -> web.Response:
    body = generate_latest(REGISTRY)
    response = web.Response(body=body)
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response


class HttpEndpoints:
    """Starts one or two aiohttp sites; :meth:`stop` closes them."""

    def __init__(self, *, bind: str, health_port: int, metrics_port: int, ready: ReadyCheck) -> None:
        self._bind = bind
        self._health_port = health_port
        self._metrics_port = metrics_port
        self._ready = ready
        self._runners: list[web.AppRunner] = []

    async def start(self) -> None:
        health = web.Application()
        health.router.add_get("/healthz", _healthz)
        health.router.add_get("/readyz", _readyz(self._ready))  # type: ignore[arg-type]
        apps = [(health, self._health_port)]
        if self._metrics_port == self._health_port:
            health.router.add_get("/metrics", _metrics)
        elif self._metrics_port:
            metrics = web.Application()
            metrics.router.add_get("/metrics", _metrics)
            apps.append((metrics, self._metrics_port))
        for app, port in apps:
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            await web.TCPSite(runner, self._bind, port).start()
            self._runners.append(runner)

    async def stop(self) -> None:
        for runner in self._runners:
            await runner.cleanup()
        self._runners.clear()
