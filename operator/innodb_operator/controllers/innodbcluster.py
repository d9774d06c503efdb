"""Reconcile one ``InnoDBCluster`` key: validate, apply children, report status.

Contract (level-triggered; the pass never asks which event woke it):
  1. Read the cluster from the cache; a missing or deleting cluster needs nothing (the
     garbage collector removes children through their owner references).
  2. Validate what the schema cannot (the user's Secret, ``mycnf``, backup schedules).
     An invalid spec changes no child: it sets ``SpecValid=False`` with the reason, and
     emits one Warning event naming the field when the condition flips.
  3. Compute every desired child with the pure builders and server-side-apply those the
     live objects do not already cover. CronJobs of removed or disabled schedules are deleted.
     Passwords for internal accounts come from ``<name>-privsecrets``: read from the cache,
     and live from the API server when the cache lacks the Secret or one of its keys; only a
     key missing there too gets a new password, and an existing value is never replaced.
     A child the API server rejects as invalid (422, e.g. a bad ``podSpec``) is treated like
     an invalid spec: no existing child is changed (changes are dry-run first),
     ``SpecValid=False`` with reason ``RejectedByAPIServer`` and the server's message, and
     the pass waits for the next poll without raising.
  4. With a valid spec whose children were applied, run one pass of the group engine over
     the server pods in the cache (:mod:`.group`): at most one group action, metadata and
     router account upkeep when membership changed, Events for actions and for what a person
     must act on. MySQL trouble never raises out of the pass.
  5. Compute the status (membership from the engine's snapshot); write ``/status`` only when
     it differs from the stored one.
  6. Ask to be looked at again: soon (about 2 s) while the group has something to do, else
     after the poll interval, while the cluster exists.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import secrets
from collections.abc import Mapping
from typing import Any, Protocol

import structlog

from innodb_api.types import Cluster
from innodb_api.validation import FieldError, validate_cluster
from innodb_operator.builders import REQUIRED_PASSWORD_KEYS, cronjob_names, desired_children, private_secret_name
from innodb_operator.builders.status import Observed, compute_status
from innodb_operator.controllers.children import ChildApplier, Rejected
from innodb_operator.controllers.group import FAST_REQUEUE_SECONDS, GroupDriver, Outcome
from innodb_operator.controllers.kinds import INNODBCLUSTERS
from innodb_operator.controllers.runner import Result
from innodb_operator.kube import errors, resources
from innodb_operator.kube.client import KubeClient
from innodb_operator.kube.events import EventRecorder
from innodb_operator.kube.resources import ResourceType

log = structlog.get_logger(__name__)

CHILD_TYPES: dict[str, ResourceType] = {
    rt.kind: rt for rt in (
        resources.SECRETS, resources.CONFIGMAPS, resources.SERVICE_ACCOUNTS, resources.ROLES,
        resources.ROLEBINDINGS, resources.SERVICES, resources.STATEFULSETS, resources.DEPLOYMENTS,
        resources.PDBS, resources.CRONJOBS,
    )
}


class ObjectReader(Protocol):
    """Read access to one cached kind across the watched namespaces."""

    def get(self, namespace: str, name: str) -> Mapping[str, Any] | None: ...

    def list(self, namespace: str) -> list[Mapping[str, Any]]: ...


def now_rfc3339() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _decoded(secret: Mapping[str, Any] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in ((secret or {}).get("data") or {}).items():
        try:
            out[key] = base64.b64decode(value).decode()
        except (binascii.Error, UnicodeDecodeError):
            continue
    return out


def _condition(status: Mapping[str, Any] | None, type_: str) -> Mapping[str, Any] | None:
    for condition in (status or {}).get("conditions") or []:
        if condition.get("type") == type_:
            return condition  # type: ignore[no-any-return]
    return None


class InnoDBClusterReconciler:
    """Reads from the caches in ``clusters`` and ``children``; writes through ``client``."""

    def __init__(
        self, client: KubeClient, clusters: ObjectReader, children: Mapping[str, ObjectReader], *,
        events: EventRecorder, poll_seconds: float, operator_image: str,
        pods: ObjectReader | None = None, group: GroupDriver | None = None,
    ) -> None:
        self._client = client
        self._clusters = clusters
        self._children = children
        self._pods = pods
        self._group = group or GroupDriver()
        self._events = events
        self._poll = poll_seconds
        self._operator_image = operator_image
        self._applier = ChildApplier(client)

    async def reconcile(self, key: str) -> Result:
        namespace, _, name = key.partition("/")
        obj = self._clusters.get(namespace, name)
        if obj is None or obj["metadata"].get("deletionTimestamp"):
            self._group.forget(key)
            return Result()
        cluster = Cluster.from_object(obj)
        previous = obj.get("status") or {}
        user_secret = await self._read_user_secret(namespace, cluster.spec.secret_name)
        problems = validate_cluster(dict(obj.get("spec") or {}), secret=user_secret)
        outcome: Outcome | None = None
        if problems:
            log.info("spec invalid; children left as they are", problems=[p.field for p in problems])
        else:
            passwords = await self._passwords(namespace, name)
            problems = await self._apply_children(obj, cluster, passwords)
            if problems:
                log.info("the API server rejected a child; children left as they are",
                         child=problems[0].field, error=problems[0].message)
            else:
                pods = self._pods.list(namespace) if self._pods is not None else []
                outcome = await self._group.drive(cluster, pods, passwords, previous, poll=self._poll)
                for notice in outcome.events if outcome is not None else ():
                    await self._events.emit(obj, notice.type, notice.reason, notice.message)
        observed = Observed(
            statefulset=self._children["StatefulSet"].get(namespace, name),
            router=self._children["Deployment"].get(namespace, f"{name}-router"),
            group=outcome.status if outcome is not None else None,
        )
        status = compute_status(cluster, problems, observed, previous, now_rfc3339())
        if status != previous:
            try:
                await self._client.patch_status(INNODBCLUSTERS, name, status, namespace)
            except errors.NotFound:
                return Result()
            log.info("status updated", state=status["cluster"]["status"])
            await self._announce_validity(obj, previous, status)
        if outcome is not None:
            return Result(requeue_after=outcome.requeue_after)
        if not problems:  # the group pass could not run: look again soon
            return Result(requeue_after=min(self._poll, FAST_REQUEUE_SECONDS))
        return Result(requeue_after=self._poll)

    async def _read_user_secret(self, namespace: str, name: str) -> dict[str, Any] | None:
        if not name:
            return None
        try:
            return await self._client.get(resources.SECRETS, name, namespace)
        except errors.NotFound:
            return None

    async def _passwords(self, namespace: str, name: str) -> dict[str, str]:
        """The internal passwords: existing values always win; only missing keys are generated.

        The cache may lag (or not hold the Secret at all, e.g. when its labels were changed),
        so whenever it lacks the Secret or a key, the live Secret is read before anything is
        generated.
        """
        secret_name = private_secret_name(name)
        stored = _decoded(self._children["Secret"].get(namespace, secret_name))
        if any(not stored.get(key) for key in REQUIRED_PASSWORD_KEYS):
            try:
                live = _decoded(await self._client.get(resources.SECRETS, secret_name, namespace))
            except errors.NotFound:
                live = {}
            stored = {**{k: v for k, v in stored.items() if v}, **{k: v for k, v in live.items() if v}}
        missing = [key for key in REQUIRED_PASSWORD_KEYS if not stored.get(key)]
        if missing:
            log.info("generating internal passwords", child=secret_name, keys=missing)
        return {key: stored.get(key) or secrets.token_urlsafe(24) for key in REQUIRED_PASSWORD_KEYS}

    async def _apply_children(self, obj: Mapping[str, Any], cluster: Cluster,
                              passwords: Mapping[str, str]) -> list[FieldError]:
        """Apply what differs; the API server's rejection as a problem (then no existing child changed)."""
        namespace = cluster.namespace
        wanted = desired_children(cluster, passwords=passwords, operator_image=self._operator_image)
        children = [(CHILD_TYPES[child["kind"]], child,
                     self._children[child["kind"]].get(namespace, child["metadata"]["name"])) for child in wanted]
        try:
            written = await self._applier.ensure_all(children)
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
