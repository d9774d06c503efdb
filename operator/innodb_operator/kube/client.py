"""The only code that talks HTTP to the Kubernetes API.

Contract:
  * Bodies in and out are plain JSON dicts, exactly as the API server sends them.
  * Every failure raises from :mod:`innodb_operator.kube.errors`; the client
    library's exceptions never escape this module.
  * Every request, including each watch, is counted once in
    ``innodb_operator_api_requests_total{verb,resource,code}`` and in client-go's
    ``rest_client_requests_total{code,method,host}`` (``code`` is 0 when no HTTP response
    arrived), and timed until its response headers in ``rest_client_request_duration_seconds``.
  * Server-side apply uses the client's field manager (:attr:`KubeClient.field_manager`),
    so the operator owns the same fields across restarts and replicas; a client made with
    :meth:`KubeClient.with_field_manager` shares the connection under another manager (the
    group manager owns its part of the status that way).
  * A watch is an async iterator that ends when the server's ``timeoutSeconds`` runs
    out; an ``ERROR`` event is raised as an exception (410 as :class:`Gone`), never
    handed back as an ordinary event, and the iterator never restarts by itself.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any, Literal
from urllib.parse import urlsplit

import aiohttp
from kubernetes_asyncio import client as k8s_client
from kubernetes_asyncio import config as k8s_config

from innodb_operator.kube import errors
from innodb_operator.kube.resources import PODS, ResourceType
from innodb_operator.observability.metrics import API_REQUESTS, REST_CLIENT_DURATION, REST_CLIENT_REQUESTS

Body = dict[str, Any]
Verb = Literal["get", "list", "watch", "create", "update", "patch", "apply", "delete"]

FIELD_MANAGER = "innodb-operator"
_DEFAULT_TIMEOUT = aiohttp.ClientTimeout(total=30, sock_connect=10)


class KubeClient:
    """An API client bound to one cluster; use :func:`connect` to make one."""

    def __init__(self, api_client: Any, field_manager: str = FIELD_MANAGER) -> None:
        self._api = api_client
        self.field_manager = field_manager
        configuration = getattr(api_client, "configuration", None)
        self._host = urlsplit(str(getattr(configuration, "host", "") or "")).netloc

    def with_field_manager(self, field_manager: str) -> KubeClient:
        """The same connection, applying under another field manager (e.g. a second status writer)."""
        return KubeClient(self._api, field_manager)

    async def close(self) -> None:
        await self._api.close()

    async def __aenter__(self) -> KubeClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- reads ---------------------------------------------------------------------

    async def get(self, rt: ResourceType, name: str, namespace: str | None = None) -> Body:
        return await self._json("get", rt, "GET", rt.path(namespace, name))

    async def list(
        self,
        rt: ResourceType,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        page_size: int = 500,
    ) -> tuple[list[Body], str]:
        """All objects (paged transparently) and the list's resourceVersion."""
        items: list[Body] = []
        query: dict[str, str] = {"limit": str(page_size)}
        if label_selector:
            query["labelSelector"] = label_selector
        if field_selector:
            query["fieldSelector"] = field_selector
        while True:
            page = await self._json("list", rt, "GET", rt.path(namespace), query=query)
            items.extend(page.get("items") or [])
            meta = page.get("metadata") or {}
            token = meta.get("continue")
            if not token:
                return items, str(meta.get("resourceVersion", ""))
            query = {**query, "continue": token}

    async def watch(
        self,
        rt: ResourceType,
        namespace: str | None = None,
        *,
        resource_version: str,
        timeout_seconds: int,
        allow_bookmarks: bool = True,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> AsyncIterator[Body]:
        """Events ``{"type", "object"}`` from ``resource_version`` until the server times out."""
        query = {
            "watch": "true",
            "resourceVersion": resource_version,
            "timeoutSeconds": str(timeout_seconds),
            "allowWatchBookmarks": "true" if allow_bookmarks else "false",
        }
        if label_selector:
            query["labelSelector"] = label_selector
        if field_selector:
            query["fieldSelector"] = field_selector
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=timeout_seconds + 30)
        response = await self._send("watch", rt, "GET", rt.path(namespace), query=query, timeout=timeout)
        try:
            buffer = b""
            async for chunk in response.content.iter_any():
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    if line.strip():
                        yield _watch_event(line)
            if buffer.strip():
                yield _watch_event(buffer)
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise errors.TransportError(f"watch {rt.name}: {exc!r}") from exc
        finally:
            response.release()

    # --- writes --------------------------------------------------------------------

    async def create(self, rt: ResourceType, body: Body, namespace: str | None = None) -> Body:
        return await self._json("create", rt, "POST", rt.path(namespace), body=body,
                                query={"fieldManager": self.field_manager})

    async def replace(self, rt: ResourceType, body: Body, namespace: str | None = None) -> Body:
        """PUT the whole object; fails with Conflict when its resourceVersion is stale."""
        name = body["metadata"]["name"]
        return await self._json("update", rt, "PUT", rt.path(namespace, name), body=body,
                                query={"fieldManager": self.field_manager})

    async def merge_patch(
        self, rt: ResourceType, name: str, patch: Body, namespace: str | None = None,
        *, subresource: str | None = None,
    ) -> Body:
        return await self._json(
            "patch", rt, "PATCH", rt.path(namespace, name, subresource), body=patch,
            content_type="application/merge-patch+json", query={"fieldManager": self.field_manager},
        )

    async def patch_status(self, rt: ResourceType, name: str, status: Body, namespace: str | None = None) -> Body:
        """Merge-patch the status subresource with ``{"status": status}``."""
        return await self.merge_patch(rt, name, {"status": status}, namespace, subresource="status")

    async def apply(
        self, rt: ResourceType, body: Body, namespace: str | None = None,
        *, subresource: str | None = None, force: bool = True, dry_run: bool = False,
    ) -> Body:
        """Server-side apply ``body`` (which must carry apiVersion, kind, metadata.name).

        With ``dry_run`` the API server validates and admits the change but stores nothing.
        """
        name = body["metadata"]["name"]
        query = {"fieldManager": self.field_manager, "force": "true" if force else "false"}
        if dry_run:
            query["dryRun"] = "All"
        return await self._json(
            "apply", rt, "PATCH", rt.path(namespace, name, subresource), body=body,
            content_type="application/apply-patch+yaml", query=query,
        )

    async def delete(
        self, rt: ResourceType, name: str, namespace: str | None = None,
        *, propagation: Literal["Foreground", "Background", "Orphan"] = "Background",
        preconditions: Mapping[str, str] | None = None,
    ) -> Body:
        body: Body = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": propagation}
        if preconditions:
            body["preconditions"] = dict(preconditions)
        return await self._json("delete", rt, "DELETE", rt.path(namespace, name), body=body)

    async def evict(self, name: str, namespace: str) -> None:
        """Ask the API server to evict a pod (``pods/eviction``): it deletes the pod gracefully
        unless a PodDisruptionBudget forbids it now (:class:`~.errors.TooManyRequests`)."""
        body: Body = {"apiVersion": "policy/v1", "kind": "Eviction",
                      "metadata": {"name": name, "namespace": namespace}}
        await self._json("create", PODS, "POST", PODS.path(namespace, name, "eviction"), body=body)

    # --- transport -----------------------------------------------------------------

    async def _json(
        self, verb: Verb, rt: ResourceType, method: str, path: str, *,
        query: Mapping[str, str] | None = None, body: Body | None = None,
        content_type: str = "application/json",
    ) -> Body:
        response = await self._send(verb, rt, method, path, query=query, body=body, content_type=content_type)
        try:
            data = await response.read()
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise errors.TransportError(f"{verb} {rt.name}: reading response: {exc!r}") from exc
        finally:
            response.release()
        parsed: Body = json.loads(data) if data else {}
        return parsed

    async def _send(
        self, verb: Verb, rt: ResourceType, method: str, path: str, *,
        query: Mapping[str, str] | None = None, body: Body | None = None,
        content_type: str = "application/json", timeout: aiohttp.ClientTimeout = _DEFAULT_TIMEOUT,
    ) -> aiohttp.ClientResponse:
        """Send one request; return the response when it is 2xx, else raise and release it."""
        started = time.monotonic()
        try:
            response: aiohttp.ClientResponse = await self._api.call_api(
                path, method,
                query_params=list((query or {}).items()),
                header_params={"Accept": "application/json", "Content-Type": content_type},
                body=body,
                auth_settings=["BearerToken"],
                _preload_content=False,
                _request_timeout=timeout,
            )
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            self._count(verb, rt, method, 0, started)
            raise errors.TransportError(f"{verb} {rt.name}: {exc!r}") from exc
        self._count(verb, rt, method, response.status, started)
        if 200 <= response.status < 300:
            return response
        try:
            raw = await response.read()
        except (TimeoutError, aiohttp.ClientError):
            raw = b""
        finally:
            response.release()
        raise _status_error(response.status, raw, response.headers.get("Retry-After"), f"{verb} {rt.name}")

    def _count(self, verb: Verb, rt: ResourceType, method: str, code: int, started: float) -> None:
        API_REQUESTS.labels(verb=verb, resource=rt.name, code=str(code)).inc()
        REST_CLIENT_REQUESTS.labels(code=str(code), method=method, host=self._host).inc()
        REST_CLIENT_DURATION.labels(verb=method, host=self._host).observe(time.monotonic() - started)


def _status_error(status: int, raw: bytes, retry_after: str | None, what: str) -> errors.KubeError:
    try:
        payload = json.loads(raw) if raw else {}
    except ValueError:
        payload = {}
    message = payload.get("message") or raw.decode("utf-8", "replace")[:500] or f"HTTP {status}"
    retry = float(retry_after) if retry_after and retry_after.isdigit() else None
    causes = (payload.get("details") or {}).get("causes") or []
    return errors.from_status(status, f"{what}: {message}", payload.get("reason", ""), retry, server_message=message,
                              causes=[c for c in causes if isinstance(c, dict)])


def _watch_event(line: bytes) -> Body:
    try:
        event: Body = json.loads(line)
    except ValueError as exc:
        raise errors.TransportError(f"malformed watch event: {line[:200]!r}") from exc
    if event.get("type") == "ERROR":
        status = event.get("object") or {}
        raise errors.from_status(int(status.get("code") or 500), f"watch: {status.get('message', '')}",
                                 status.get("reason", ""))
    return event


async def connect(kubeconfig: str | None = None, context: str | None = None, *, qps_pool: int = 16) -> KubeClient:
    """A client from the in-cluster service account, or from a kubeconfig file.

    With ``kubeconfig=None`` the in-cluster config is tried first, then the default
    kubeconfig locations (``$KUBECONFIG``, ``~/.kube/config``).
    """
    configuration = k8s_client.Configuration()
    if kubeconfig is None:
        try:
            k8s_config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        except k8s_config.ConfigException:
            await k8s_config.load_kube_config(context=context, client_configuration=configuration)
    else:
        await k8s_config.load_kube_config(config_file=kubeconfig, context=context,
                                          client_configuration=configuration)
    configuration.connection_pool_maxsize = qps_pool
    return KubeClient(k8s_client.ApiClient(configuration=configuration))
