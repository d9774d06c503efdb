"""A minimal async REST client for the node agent: raw JSON in and out, bearer-token auth.

The agent talks to kube-apiserver like kubelet does, but needs only a handful of verbs on
plain dicts, so it stays independent of the operator's own client code (which it tests).
"""

from __future__ import annotations

import json
import ssl
from pathlib import Path
from typing import Any

import aiohttp


class ApiError(Exception):
    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"HTTP {status}: {body[:300]}")
        self.status = status


class Rest:
    """``get/post/patch/put/delete`` of paths like ``/api/v1/pods``; JSON dicts only."""

    def __init__(self, kubeconfig: Path) -> None:
        config = json.loads(kubeconfig.read_text())
        cluster = config["clusters"][0]["cluster"]
        self.server: str = cluster["server"]
        self._token: str = config["users"][0]["user"]["token"]
        self._ssl = ssl.create_default_context(cafile=cluster["certificate-authority"])
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Rest:
        self._session = aiohttp.ClientSession(
            headers={"Authorization": f"Bearer {self._token}", "Accept": "application/json"},
            timeout=aiohttp.ClientTimeout(total=30), connector=aiohttp.TCPConnector(ssl=self._ssl, limit=32))
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()

    async def _call(self, method: str, path: str, body: Any = None, *, content_type: str = "application/json",
                    params: dict[str, str] | None = None) -> Any:
        assert self._session is not None
        data = None if body is None else json.dumps(body)
        headers = {"Content-Type": content_type} if body is not None else {}
        async with self._session.request(method, self.server + path, data=data, headers=headers,
                                         params=params) as response:
            text = await response.text()
            if response.status >= 400:
                raise ApiError(response.status, text)
            return json.loads(text) if text else None

    async def get(self, path: str, **params: str) -> Any:
        return await self._call("GET", path, params=params or None)

    async def get_or_none(self, path: str) -> Any:
        try:
            return await self.get(path)
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise

    async def items(self, path: str, **params: str) -> list[dict[str, Any]]:
        return list((await self.get(path, **params)).get("items") or [])

    async def post(self, path: str, body: Any) -> Any:
        return await self._call("POST", path, body)

    async def put(self, path: str, body: Any) -> Any:
        return await self._call("PUT", path, body)

    async def merge_patch(self, path: str, body: Any) -> Any:
        return await self._call("PATCH", path, body, content_type="application/merge-patch+json")

    async def delete(self, path: str, body: Any = None) -> Any:
        try:
            return await self._call("DELETE", path, body)
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise
