"""Probe handlers as kubelet runs them: exec, httpGet, tcpSocket; one attempt each."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

ExecFn = Callable[[list[str], float], Awaitable[tuple[int, bytes]]]


def _port(value: Any, ports: dict[str, int]) -> int:
    if isinstance(value, int) or str(value).isdigit():
        return int(value)
    if value not in ports:
        raise ValueError(f"no container port named {value!r}")
    return ports[value]


async def attempt(probe: dict[str, Any], *, pod_ip: str, ports: dict[str, int], run: ExecFn) -> tuple[bool, str]:
    """Run the probe once; (success, message)."""
    timeout = float(probe.get("timeoutSeconds", 1))
    try:
        if "exec" in probe:
            code, out = await run(list(probe["exec"]["command"]), timeout)
            return code == 0, out.decode(errors="replace")[-200:]
        if "tcpSocket" in probe:
            host = probe["tcpSocket"].get("host") or pod_ip
            _, writer = await asyncio.wait_for(
                asyncio.open_connection(host, _port(probe["tcpSocket"]["port"], ports)), timeout)
            writer.close()
            return True, ""
        if "httpGet" in probe:
            return await _http_get(probe["httpGet"], pod_ip, ports, timeout)
    except (OSError, TimeoutError, ValueError) as exc:
        return False, str(exc) or type(exc).__name__
    return False, "unsupported probe handler (the agent runs exec, httpGet and tcpSocket)"


async def _http_get(spec: dict[str, Any], pod_ip: str, ports: dict[str, int], timeout: float) -> tuple[bool, str]:
    host, port = spec.get("host") or pod_ip, _port(spec["port"], ports)
    if spec.get("scheme", "HTTP").upper() != "HTTP":
        return False, "the agent probes plain HTTP only"
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    try:
        headers = "".join(f"{h['name']}: {h['value']}\r\n" for h in spec.get("httpHeaders") or [])
        writer.write(f"GET {spec.get('path', '/')} HTTP/1.0\r\nHost: {host}:{port}\r\n"
                     f"User-Agent: kube-probe/agent\r\n{headers}\r\n".encode())
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), timeout)
    finally:
        writer.close()
    parts = status_line.decode(errors="replace").split()
    code = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    return 200 <= code < 400, f"HTTP {code}"
