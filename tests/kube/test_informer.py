"""The reflector and informer against a real kube-apiserver: an exact cache through disconnects."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

from innodb_dev.controlplane import ControlPlane
from innodb_dev.tcpproxy import CuttableProxy
from innodb_dev.waiting import eventually
from innodb_operator.cache import Informer
from innodb_operator.kube.client import KubeClient, connect
from innodb_operator.kube.listwatch import ResourceListWatch
from innodb_operator.kube.resources import CONFIGMAPS
from innodb_operator.observability.metrics import REGISTRY


def proxied_kubeconfig(cp: ControlPlane, proxy: CuttableProxy, path: Path) -> Path:
    config = json.loads(cp.kubeconfig.read_text())
    config["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{proxy.port}"
    path.write_text(json.dumps(config))
    return path


async def bounded(calls: Iterable[Callable[[], Awaitable[Any]]], limit: int = 16) -> None:
    gate = asyncio.Semaphore(limit)

    async def one(call: Callable[[], Awaitable[Any]]) -> None:
        async with gate:
            await call()

    await asyncio.gather(*(one(c) for c in calls))


def configmap(name: str, value: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"v": value}}


class Churn:
    """Creates, updates and deletes ConfigMaps directly (never through the proxy)."""

    def __init__(self, kube: KubeClient, namespace: str) -> None:
        self.kube = kube
        self.namespace = namespace
        self.live: list[str] = []
        self.deleted: list[str] = []
        self.created = 0

    async def create(self, count: int) -> None:
        names = [f"cm-{self.created + i:04d}" for i in range(count)]
        self.created += count
        await bounded(lambda n=n: self.kube.create(CONFIGMAPS, configmap(n, "0"), self.namespace) for n in names)
        self.live.extend(names)

    async def update(self, count: int, value: str) -> None:
        targets = self.live[:count]
        await bounded(lambda n=n: self.kube.merge_patch(CONFIGMAPS, n, {"data": {"v": value}}, self.namespace)
                      for n in targets)

    async def delete(self, count: int) -> None:
        targets, self.live = self.live[-count:], self.live[:-count]
        await bounded(lambda n=n: self.kube.delete(CONFIGMAPS, n, self.namespace) for n in targets)
        self.deleted.extend(targets)


def watch_restarts(resource: str) -> float:
    total = 0.0
    for metric in REGISTRY.collect():
        for sample in metric.samples:
            if sample.name == "innodb_operator_watch_restarts_total" and sample.labels.get("resource") == resource:
                total += sample.value
    return total


async def test_cache_equals_a_fresh_list_after_500_objects_churned_through_two_cut_watches(
    control_plane: ControlPlane, kube: KubeClient, namespace: str, tmp_path: Path
) -> None:
    proxy = CuttableProxy(control_plane.api_port)
    informer_client = await connect(str(proxied_kubeconfig(control_plane, proxy, tmp_path / "kubeconfig")))
    informer = Informer(ResourceListWatch(informer_client, CONFIGMAPS, namespace))
    deletes: Counter[str] = Counter()
    seen: set[str] = set()
    informer.add_handler(on_add=lambda obj: seen.add(obj["metadata"]["name"]),
                         on_delete=lambda obj: deletes.update([obj["metadata"]["name"]]))
    restarts_before = watch_restarts("configmaps")
    task = asyncio.create_task(informer.run())

    async def fresh() -> dict[str, str]:
        items, _ = await kube.list(CONFIGMAPS, namespace)
        return {i["metadata"]["name"]: i["metadata"]["resourceVersion"] for i in items}

    def cached() -> dict[str, str]:
        return {o["metadata"]["name"]: o["metadata"]["resourceVersion"] for o in informer.lister.list()}

    async def caught_up() -> None:
        async def same() -> bool:
            return cached() == await fresh()

        await eventually(same, timeout=60, what="the cache to equal a fresh list")

    try:
        assert await informer.wait_for_sync(30)
        churn = Churn(kube, namespace)

        await churn.create(200)
        await caught_up()
        with proxy.down():  # first cut: the informer sees none of this until it relists
            await churn.delete(50)
            await churn.update(50, "1")
            await churn.create(100)
        deleted_while_cut = set(churn.deleted)
        await churn.update(50, "2")
        await churn.delete(50)
        await churn.create(100)
        await caught_up()
        with proxy.down():  # second cut
            await churn.create(100)
            await churn.delete(50)
            await churn.update(50, "3")
        assert churn.created == 500

        await caught_up()
        assert len([n for n in cached() if n.startswith("cm-")]) == 500 - 150
        assert proxy.cuts >= 2 and watch_restarts("configmaps") - restarts_before >= 2
        # Objects deleted while the watch was cut are reported by the relist...
        assert deleted_while_cut <= set(deletes)
        # ...and every deleted object the cache ever held is reported exactly once, nothing else.
        assert deletes == Counter(n for n in churn.deleted if n in seen)
        assert set(deletes.values()) == {1}
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await informer_client.close()
        proxy.close()


async def test_cache_is_exact_after_an_api_server_restart_with_changes_made_while_it_was_down(
    control_plane: ControlPlane, kube: KubeClient, namespace: str
) -> None:
    informer_client = await connect(str(control_plane.kubeconfig))
    informer = Informer(ResourceListWatch(informer_client, CONFIGMAPS, namespace))
    deletes: Counter[str] = Counter()
    informer.add_handler(on_delete=lambda obj: deletes.update([obj["metadata"]["name"]]))
    task = asyncio.create_task(informer.run())
    try:
        assert await informer.wait_for_sync(30)
        churn = Churn(kube, namespace)
        await churn.create(60)
        # 60 + the namespace's kube-root-ca.crt
        await eventually(lambda: len(informer.lister.list()) >= 61, timeout=30, what="60 objects cached")

        control_plane.stop_apiserver()
        try:
            # While the informer's server is down, another API server of the same cluster serves writes.
            with control_plane.second_apiserver() as other_kubeconfig:
                other = await connect(str(other_kubeconfig))
                try:
                    while_down = Churn(other, namespace)
                    while_down.live, while_down.created = list(churn.live), churn.created
                    await while_down.delete(20)
                    await while_down.update(20, "changed-while-down")
                    await while_down.create(20)
                finally:
                    await other.close()
        finally:
            control_plane.start_apiserver()

        async def fresh() -> dict[str, str]:
            items, _ = await kube.list(CONFIGMAPS, namespace)
            return {i["metadata"]["name"]: i["metadata"]["resourceVersion"] for i in items}

        async def same() -> bool:
            cached = {o["metadata"]["name"]: o["metadata"]["resourceVersion"] for o in informer.lister.list()}
            return cached == await fresh()

        await eventually(same, timeout=60, what="the cache to equal a fresh list after the restart")
        assert deletes == Counter(while_down.deleted)
        changed = [o for o in informer.lister.list() if (o.get("data") or {}).get("v") == "changed-while-down"]
        assert len(changed) == 20
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await informer_client.close()
