"""The composition root: one asyncio TaskGroup running informers, controllers, election, HTTP.

Lifecycle:
  1. Informers start on every replica (a follower keeps a warm cache). Two controllers share
     them: the object reconcile (children, their status part) and the group manager (SQL on
     the groups, their status part), each with its own queue and workers.
  2. With leader election on, controllers' workers start only once this replica leads;
     without it, at once. Either way, only after every informer has synced.
  3. SIGTERM or SIGINT: stop handing out keys, let in-flight reconciles finish within
     ``shutdown_grace_seconds``, release the Lease, stop informers and HTTP, exit 0.
  4. A task that dies (an informer, the elector losing its lease) stops the TaskGroup,
     and the process exits non-zero so its Deployment restarts it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import structlog

from innodb_operator.builders import labels
from innodb_operator.cache import Informer
from innodb_operator.clock import MonotonicClock
from innodb_operator.clustering.manager import GroupManager
from innodb_operator.clustering.observe import OBSERVE_CONCURRENCY
from innodb_operator.controllers.groupmanager import Cadence, GroupManagerReconciler
from innodb_operator.controllers.innodbcluster import CHILD_TYPES, InnoDBClusterReconciler
from innodb_operator.controllers.kinds import INNODBCLUSTERS
from innodb_operator.controllers.runner import (
    Controller,
    enqueue_labelled,
    enqueue_owner,
    enqueue_self,
    enqueue_self_on_spec_change,
)
from innodb_operator.health import HttpEndpoints
from innodb_operator.kube.client import KubeClient, connect
from innodb_operator.kube.events import EventRecorder
from innodb_operator.kube.listwatch import ResourceListWatch
from innodb_operator.kube.resources import PODS, ResourceType
from innodb_operator.leaderelection import LeaderElector, LostLeadership
from innodb_operator.mysql.instance import MysqlConnector
from innodb_operator.observability.clusters import CLUSTER_METRICS
from innodb_operator.observability.metrics import PrometheusQueueMetrics
from innodb_operator.settings import Settings
from innodb_operator.workqueue import RateLimitingQueue

log = structlog.get_logger(__name__)

_SA_NAMESPACE_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"


@dataclass
class Operator:
    """Everything one process runs; :meth:`ready` backs ``/readyz``."""

    settings: Settings
    client: KubeClient
    informers: list[Informer] = field(default_factory=list)
    controllers: list[Controller] = field(default_factory=list)
    elector: LeaderElector | None = None
    connector: MysqlConnector | None = None

    def ready(self) -> tuple[bool, str]:
        unsynced = [inf for inf in self.informers if not inf.has_synced]
        if unsynced:
            return False, f"{len(unsynced)} informer(s) not synced"
        if self.elector is not None and not self.elector.healthy():
            return False, "cannot reach the leader Lease"
        role = "leader" if self.elector is None or self.elector.is_leader else "standby"
        return True, f"ok ({role})"


MANAGED_BY_SELECTOR = "app.kubernetes.io/managed-by=innodb-operator"
SERVER_POD_SELECTOR = f"{MANAGED_BY_SELECTOR},{labels.COMPONENT}=database"


def _informers_for(client: KubeClient, rt: ResourceType, settings: Settings,
                   label_selector: str | None = None) -> list[Informer]:
    namespaces: list[str | None] = list(settings.namespaces) or [None]
    return [
        Informer(ResourceListWatch(client, rt, ns, label_selector=label_selector), clock=MonotonicClock(),
                 resync_period=settings.resync_seconds or None)
        for ns in namespaces
    ]


class KindReader:
    """Reads one cached kind across the per-namespace informers of that kind."""

    def __init__(self, informers: list[Informer]) -> None:
        self.informers = informers

    def get(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        for informer in self.informers:
            found = informer.lister.get(namespace, name)
            if found is not None:
                return found
        return None

    def list(self, namespace: str) -> list[Mapping[str, Any]]:
        return [obj for informer in self.informers for obj in informer.lister.list(namespace)]


def build(settings: Settings, client: KubeClient) -> Operator:
    """Wire informers, queues and controllers for ``settings``."""
    op = Operator(settings=settings, client=client)
    identity = settings.identity or f"{socket.gethostname()}_{os.getpid()}"
    queue: RateLimitingQueue[str] = RateLimitingQueue(
        "innodbcluster", clock=MonotonicClock(), metrics=PrometheusQueueMetrics())
    clusters = _informers_for(client, INNODBCLUSTERS, settings)
    for informer in clusters:
        informer.add_handler(*enqueue_self(queue))
    children: dict[str, KindReader] = {}
    child_informers: list[Informer] = []
    for kind, rt in CHILD_TYPES.items():
        informers = _informers_for(client, rt, settings, MANAGED_BY_SELECTOR)
        for informer in informers:
            informer.add_handler(*enqueue_owner(queue, INNODBCLUSTERS.kind, INNODBCLUSTERS.group))
        children[kind] = KindReader(informers)
        child_informers.extend(informers)
    # Server pods: owned by the StatefulSet, so they map to their cluster through its label.
    pods = _informers_for(client, PODS, settings, SERVER_POD_SELECTOR)
    for informer in pods:
        informer.add_handler(*enqueue_labelled(queue, labels.CLUSTER))
    events = EventRecorder(client, identity)
    reconciler = InnoDBClusterReconciler(
        client, KindReader(clusters), children, events=events,
        poll_seconds=settings.poll_seconds, operator_image=settings.operator_image, metrics=CLUSTER_METRICS,
    )
    # The group manager: its own queue and workers, fed by the same informers, so that SQL on
    # a slow group never holds up the Kubernetes side and nothing there stops the group side.
    group_queue: RateLimitingQueue[str] = RateLimitingQueue(
        "groupmanager", clock=MonotonicClock(), metrics=PrometheusQueueMetrics())
    for informer in clusters:
        informer.add_handler(*enqueue_self_on_spec_change(group_queue))
    for informer in children["StatefulSet"].informers + children["Secret"].informers:
        informer.add_handler(*enqueue_owner(group_queue, INNODBCLUSTERS.kind, INNODBCLUSTERS.group))
    for informer in pods:
        informer.add_handler(*enqueue_labelled(group_queue, labels.CLUSTER))
    op.connector = MysqlConnector(threads=settings.group_workers * (OBSERVE_CONCURRENCY + 1))
    group_manager = GroupManagerReconciler(
        client, KindReader(clusters), children["StatefulSet"], children["Secret"], KindReader(pods),
        manager=GroupManager(op.connector), events=events,
        cadence=Cadence(poll=settings.poll_seconds, deadline=settings.group_pass_deadline_seconds),
        metrics=CLUSTER_METRICS,
    )
    op.informers.extend(clusters + child_informers + pods)
    op.controllers.append(Controller("innodbcluster", reconciler, queue, clusters + child_informers,
                                     workers=settings.workers))
    op.controllers.append(Controller("groupmanager", group_manager, group_queue, clusters + child_informers + pods,
                                     workers=settings.group_workers))
    if settings.leader_election:
        op.elector = LeaderElector(
            client, name=settings.lease_name, namespace=settings.lease_namespace or _own_namespace(),
            identity=identity,
            lease_duration=settings.lease_duration_seconds, renew_period=settings.renew_period_seconds,
        )
    return op


def _own_namespace() -> str:
    try:
        with open(_SA_NAMESPACE_FILE) as f:
            return f.read().strip()
    except OSError:
        return "default"


async def run(settings: Settings) -> int:
    """Run until a signal (exit 0) or a fatal error (exit 1)."""
    client = await connect(settings.kubeconfig or None)
    op = build(settings, client)
    http = HttpEndpoints(bind=settings.bind_address, health_port=settings.health_port,
                         metrics_port=settings.metrics_port, ready=op.ready)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await http.start()
    log.info("operator starting", namespaces=list(settings.namespaces) or "all",
             leader_election=settings.leader_election, workers=settings.workers)
    exit_code = 0
    try:
        async with asyncio.TaskGroup() as group:
            informer_tasks = [group.create_task(inf.run(), name="informer") for inf in op.informers]
            controllers_task = group.create_task(_lead_then_run(op), name="controllers")
            await stop.wait()
            log.info("signal received, shutting down", grace_seconds=settings.shutdown_grace_seconds)
            await asyncio.gather(*(c.stop(settings.shutdown_grace_seconds) for c in op.controllers))
            controllers_task.cancel()
            if op.elector is not None:
                await op.elector.release()
            for task in informer_tasks:
                task.cancel()
    except* LostLeadership as group_error:
        log.error("lost leadership, exiting", error=str(group_error.exceptions[0]))
        exit_code = 1
    except* Exception:
        log.exception("fatal error, exiting")
        exit_code = 1
    finally:
        await http.stop()
        await client.close()
        if op.connector is not None:
            op.connector.close()
    log.info("operator stopped", exit_code=exit_code)
    return exit_code


async def _lead_then_run(op: Operator) -> None:
    if op.elector is None:
        await asyncio.gather(*(c.run() for c in op.controllers))
        return
    async with asyncio.TaskGroup() as group:
        group.create_task(op.elector.run(), name="leader-election")
        await op.elector.wait_until_leading()
        for controller in op.controllers:
            group.create_task(controller.run(), name=f"controller-{controller.name}")
