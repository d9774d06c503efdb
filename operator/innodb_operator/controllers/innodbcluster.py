"""The object reconcile: one ``InnoDBCluster`` key -> validate, apply children, report its status part.

Contract (level-triggered; the pass never asks which event woke it):
  1. Read the cluster from the cache; a missing or deleting cluster needs nothing (the
     garbage collector removes children through their owner references), and what was
     remembered for it is dropped.
  2. Validate what the schema cannot (the user's Secret, ``mycnf``, backup schedules).
     An invalid spec changes no child: it sets ``SpecValid=False`` with the reason, and
     emits one Warning event naming the field when the condition flips. The group manager
     (:mod:`.groupmanager`) is not affected: it keeps the group to the last applied spec.
  3. Compute every desired child with the pure builders and server-side-apply those the
     live objects do not already cover. CronJobs of removed or disabled schedules are deleted.
     Passwords for internal accounts come from ``<name>-privsecrets`` (the cache, then the
     live Secret when the cache lacks one); missing ones are generated only while the group
     has never existed. Once it has, lost passwords are the group manager's to recover
     through the root account, and until it has written them back no child is changed.
     A child the API server rejects as invalid (422, e.g. a bad ``podSpec``) is treated like
     an invalid spec: no existing child is changed (changes are dry-run first),
     ``SpecValid=False`` with reason ``RejectedByAPIServer`` and the server's field errors
     without the rejected values, and the pass waits for the next poll without raising.
  4. Compute its part of the status (``SpecValid``, ``Ready``, ``Available``, ``Progressing``,
     ``observedGeneration``, ``router``) and server-side-apply it only when it differs.
  5. Report the workloads' figures to the cluster metrics (routers desired and ready, server pods
     on the StatefulSet's current template); a deleted cluster's series are dropped.
  6. Ask to be looked at again after the poll interval, while the cluster exists.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

import structlog

from innodb_api import API_VERSION, INNODBCLUSTER_KIND
from innodb_api.types import Cluster
from innodb_api.validation import FieldError, validate_cluster
from innodb_operator.builders import REQUIRED_PASSWORD_KEYS, cronjob_names, desired_children, private_secret_name
from innodb_operator.builders.names import router_deployment_name
from innodb_operator.builders.secrets import OPTIONAL_PASSWORD_KEYS, complete, passwords_from_secret
from innodb_operator.builders.status import Observed, group_existed, object_part, object_status, running_versions
from innodb_operator.controllers import finalizer
from innodb_operator.controllers.children import ChildApplier, Rejected
from innodb_operator.controllers.groupview import server_replicas
from innodb_operator.controllers.kinds import INNODBCLUSTERS, ObjectReader, cached_cluster, now_rfc3339
from innodb_operator.controllers.runner import Result
from innodb_operator.kube import errors, resources
from innodb_operator.kube.client import KubeClient
from innodb_operator.kube.events import EventRecorder
from innodb_operator.kube.resources import ResourceType
from innodb_operator.observability.clusters import ClusterMetrics, ObjectSample

log = structlog.get_logger(__name__)

CHILD_TYPES: dict[str, ResourceType] = {
    rt.kind: rt for rt in (
        resources.SECRETS, resources.CONFIGMAPS, resources.SERVICE_ACCOUNTS, resources.ROLES,
        resources.ROLEBINDINGS, resources.SERVICES, resources.STATEFULSETS, resources.DEPLOYMENTS,
        resources.PDBS, resources.CRONJOBS,
    )
}


def object_sample(observed: Observed) -> ObjectSample:
    """The cluster metrics of the workloads as the cache shows them (0 for what does not exist yet)."""
    router, statefulset = observed.router or {}, observed.statefulset or {}
    return ObjectSample(
        routers_desired=int((router.get("spec") or {}).get("replicas") or 0),
        routers_ready=int((router.get("status") or {}).get("readyReplicas") or 0),
        members_updated=int((statefulset.get("status") or {}).get("updatedReplicas") or 0),
    )


def _condition(status: Mapping[str, Any] | None, type_: str) -> Mapping[str, Any] | None:
    for condition in (status or {}).get("conditions") or []:
        if condition.get("type") == type_:
            return condition  # type: ignore[no-any-return]
    return None


class InnoDBClusterReconciler:
    """Reads from the caches in ``clusters`` and ``children``; writes through ``client``."""

    def __init__(
        self, client: KubeClient, clusters: ObjectReader, children: Mapping[str, ObjectReader], *,
        events: EventRecorder, poll_seconds: float, operator_image: str, metrics: ClusterMetrics | None = None,
    ) -> None:
        self._client = client
        self._clusters = clusters
        self._children = children
        self._events = events
        self._poll = poll_seconds
        self._operator_image = operator_image
        self._applier = ChildApplier(client)
        self._metrics = metrics if metrics is not None else ClusterMetrics()

    def forget(self, key: str) -> None:
        namespace, _, name = key.partition("/")
        self._applier.forget_owner(key)
        self._events.forget(namespace, name)
        self._metrics.forget(namespace, name)

    async def reconcile(self, key: str) -> Result:
        obj = cached_cluster(self._clusters, key)
        if obj is None:
            self.forget(key)
            return Result()
        namespace, name = obj["metadata"]["namespace"], obj["metadata"]["name"]
        cluster = Cluster.from_object(obj)
        if finalizer.deleting(obj):
            return await self._deleting(obj, cluster)
        await finalizer.add(self._client, obj)
        previous = obj.get("status") or {}
        user_secret = await self._read_user_secret(namespace, cluster.spec.secret_name)
        problems = validate_cluster(dict(obj.get("spec") or {}), secret=user_secret,
                                    running=running_versions(previous))
        if problems:
            log.info("spec invalid; children left as they are", problems=[p.field for p in problems])
        else:
            passwords = await self._passwords(namespace, name, previous)
            if passwords is None:
                log.info("private Secret lost after the group existed; the group manager recovers it",
                         child=private_secret_name(name))
                return Result(requeue_after=self._poll)
            problems = await self._apply_children(key, obj, cluster, passwords)
            if problems:
                log.info("the API server rejected a child; children left as they are",
                         child=problems[0].field, error=problems[0].message)
        observed = Observed(
            statefulset=self._children["StatefulSet"].get(namespace, name),
            router=self._children["Deployment"].get(namespace, f"{name}-router"),
        )
        self._metrics.report_objects(namespace, name, object_sample(observed))
        status = object_status(cluster, problems, observed, previous, now_rfc3339())
        if status != object_part(previous):
            body = {"apiVersion": API_VERSION, "kind": INNODBCLUSTER_KIND,
                    "metadata": {"name": name, "namespace": namespace}, "status": status}
            try:
                await self._client.apply(INNODBCLUSTERS, body, namespace, subresource="status")
            except errors.NotFound:
                return Result()
            log.info("status updated", conditions={c["type"]: c["status"] for c in status["conditions"]})
            await self._announce_validity(obj, previous, status)
        return Result(requeue_after=self._poll)

    async def _deleting(self, obj: Mapping[str, Any], cluster: Cluster) -> Result:
        """Being deleted: nothing is applied any more; the routers stop first (the group manager
        stops the members after them, see :mod:`.finalizer`); ``obj`` is held by the finalizer."""
        router = self._children["Deployment"].get(cluster.namespace, router_deployment_name(cluster.name))
        if router is not None and (router.get("spec") or {}).get("replicas") != 0:
            log.info("cluster being deleted: stopping the routers first")
            await finalizer.stop_routers(self._client, cluster.namespace, cluster.name)
        return Result(requeue_after=self._poll)

    async def _read_user_secret(self, namespace: str, name: str) -> dict[str, Any] | None:
        if not name:
            return None
        try:
            return await self._client.get(resources.SECRETS, name, namespace)
        except errors.NotFound:
            return None

    async def _passwords(self, namespace: str, name: str, status: Mapping[str, Any]) -> dict[str, str] | None:
        """The internal passwords: existing values always win; missing required keys are generated
        only while the group has never existed (None once it has: the group manager recovers them);
        a missing optional one (the exporter's) is generated whenever.

        The cache may lag (or not hold the Secret at all, e.g. when its labels were changed),
        so whenever it lacks a key, the live Secret is read before anything is decided.
        """
        secret_name = private_secret_name(name)
        stored = passwords_from_secret(self._children["Secret"].get(namespace, secret_name))
        if not complete(stored):
            try:
                live = passwords_from_secret(await self._client.get(resources.SECRETS, secret_name, namespace))
            except errors.NotFound:
                live = {}
            stored = {**stored, **live}
        if not complete(stored) and group_existed(status):
            return None
        keys = REQUIRED_PASSWORD_KEYS + OPTIONAL_PASSWORD_KEYS
        missing = [key for key in keys if not stored.get(key)]
        if missing:
            log.info("generating internal passwords", child=secret_name, keys=missing)
        return {key: stored.get(key) or secrets.token_urlsafe(24) for key in keys}

    async def _apply_children(self, key: str, obj: Mapping[str, Any], cluster: Cluster,
                              passwords: Mapping[str, str]) -> list[FieldError]:
        """Apply what differs; the API server's rejection as a problem (then no existing child changed)."""
        namespace = cluster.namespace
        wanted = desired_children(cluster, passwords=passwords, operator_image=self._operator_image,
                                  server_replicas=server_replicas(cluster, obj.get("status")))
        children = [(CHILD_TYPES[child["kind"]], child,
                     self._children[child["kind"]].get(namespace, child["metadata"]["name"])) for child in wanted]
        try:
            written = await self._applier.ensure_all(children, owner=key)
        except Rejected as exc:
            return [FieldError(f"{exc.kind} {exc.name}", "RejectedByAPIServer",
                               f"rejected by the API server: {exc.message}")]
        for rt, child, live in written:
            child_name = child["metadata"]["name"]
            verb = "Created" if live is None else "Updated"
            log.info(f"{verb.lower()} child", kind=rt.kind, child=child_name)
            await self._events.emit(obj, "Normal", verb, f"{verb} {rt.kind} {child_name}")
        keep = cronjob_names(cluster)
        for cronjob in self._children["CronJob"].list(namespace):
            cj_name = cronjob["metadata"]["name"]
            owners = cronjob["metadata"].get("ownerReferences") or []
            if cj_name in keep or not any(o.get("uid") == cluster.uid for o in owners):
                continue
            try:
                await self._client.delete(resources.CRONJOBS, cj_name, namespace)
            except errors.NotFound:
                continue
            self._applier.forget(resources.CRONJOBS, namespace, cj_name)
            log.info("deleted child", kind="CronJob", child=cj_name)
            await self._events.emit(obj, "Normal", "Deleted",
                                    f"Deleted CronJob {cj_name} (schedule removed or disabled)")
        return []

    async def _announce_validity(self, obj: Mapping[str, Any], previous: Mapping[str, Any],
                                 status: Mapping[str, Any]) -> None:
        before, after = _condition(previous, "SpecValid"), _condition(status, "SpecValid")
        if after is None or (before is not None and before.get("status") == after.get("status")
                             and before.get("message") == after.get("message")):
            return
        if after["status"] == "False":
            await self._events.emit(obj, "Warning", str(after["reason"]), str(after["message"]))
        elif before is not None:
            await self._events.emit(obj, "Normal", "SpecValid", "The spec is valid again; applying it.")
