"""Metrics about the clusters the operator manages, prefixed ``innodb_cluster_``.

Contract:
  * Every series carries the labels ``namespace`` and ``cluster``; :meth:`ClusterMetrics.forget`
    removes every series of a cluster at once (the cluster was deleted), counters included.
  * The group manager reports what a pass saw (:class:`GroupSample`) and what happened
    (counts and failover durations); the object reconcile reports the Kubernetes side
    (:class:`ObjectSample`). Nothing here knows the clustering types: states, roles and modes
    arrive as strings, and a state-set arrives with every value it can take, so a value that
    is not current is exported as 0 rather than missing.
  * :data:`CLUSTER_METRICS` is the process's instance, in the operator's registry; tests make
    their own :class:`ClusterMetrics` and read it through :meth:`ClusterMetrics.collect`.
  * Values are computed at scrape time from the last report; nothing here does I/O, and
    no label value is ever a secret (member names are pod names).
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from innodb_operator.observability.metrics import REGISTRY

PREFIX = "innodb_cluster"
FAILOVER_BUCKETS = (1.0, 2.0, 4.0, 6.0, 8.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0, 120.0, 300.0)
COUNTED = ("primary_changes", "rejoins", "clones", "reboots")
"""The counters a cluster has (``innodb_cluster_<name>_total``)."""


@dataclass(frozen=True)
class Member:
    name: str
    state: str
    role: str = ""


@dataclass(frozen=True)
class GroupSample:
    """What one group-manager pass saw of the group."""

    members: tuple[Member, ...]
    member_states: tuple[str, ...]
    """Every member state there is (each exported, 0 when no member is in it)."""
    state: Mapping[str, bool]
    """The cluster state as a state-set: every state, True for the current one."""
    mode: Mapping[str, bool]
    """The group mode as a state-set (all False while unknown)."""
    instances_desired: int
    """Members the last applied spec asks for."""
    instances_online: int
    observed_at: float | None = None
    """Unix time of this observation, when it reached the group."""


@dataclass(frozen=True)
class ObjectSample:
    """What the object reconcile saw of the cluster's workloads."""

    routers_desired: int
    routers_ready: int
    members_updated: int
    """Server pods running the StatefulSet's update revision (rolling-restart progress)."""


@dataclass
class _Histogram:
    buckets: list[int] = field(default_factory=lambda: [0] * len(FAILOVER_BUCKETS))
    count: int = 0
    total: float = 0.0

    def observe(self, value: float) -> None:
        index = bisect.bisect_left(FAILOVER_BUCKETS, value)
        for i in range(index, len(self.buckets)):
            self.buckets[i] += 1
        self.count += 1
        self.total += value


@dataclass
class _Cluster:
    group: GroupSample | None = None
    objects: ObjectSample | None = None
    last_observation: float | None = None
    counters: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTED, 0))
    failovers: _Histogram = field(default_factory=_Histogram)


class ClusterMetrics(Collector):
    """The ``innodb_cluster_*`` families, one entry per ``(namespace, cluster)``. Thread-safe."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self._lock = threading.Lock()
        self._clusters: dict[tuple[str, str], _Cluster] = {}
        if registry is not None:
            registry.register(self)

    def report_group(self, namespace: str, cluster: str, sample: GroupSample) -> None:
        with self._lock:
            entry = self._entry(namespace, cluster)
            entry.group = sample
            if sample.observed_at is not None:
                entry.last_observation = sample.observed_at

    def report_objects(self, namespace: str, cluster: str, sample: ObjectSample) -> None:
        with self._lock:
            self._entry(namespace, cluster).objects = sample

    def count(self, namespace: str, cluster: str, what: str, amount: int = 1) -> None:
        """Add ``amount`` to counter ``what`` (one of :data:`COUNTED`)."""
        if what not in COUNTED:
            raise ValueError(f"unknown cluster counter {what!r}")
        with self._lock:
            self._entry(namespace, cluster).counters[what] += amount

    def observe_failover(self, namespace: str, cluster: str, seconds: float) -> None:
        with self._lock:
            self._entry(namespace, cluster).failovers.observe(max(0.0, seconds))

    def forget(self, namespace: str, cluster: str) -> None:
        with self._lock:
            self._clusters.pop((namespace, cluster), None)

    def _entry(self, namespace: str, cluster: str) -> _Cluster:
        return self._clusters.setdefault((namespace, cluster), _Cluster())

    def describe(self) -> Iterable[Metric]:
        return []  # families vary with the clusters; nothing to check at registration

    def collect(self) -> Iterable[Metric]:
        with self._lock:
            clusters = [(key, _copy(entry)) for key, entry in sorted(self._clusters.items())]
        families = _Families()
        for (namespace, name), entry in clusters:
            families.add(namespace, name, entry)
        return families.all()


def _copy(entry: _Cluster) -> _Cluster:
    failovers = _Histogram(list(entry.failovers.buckets), entry.failovers.count, entry.failovers.total)
    return _Cluster(entry.group, entry.objects, entry.last_observation, dict(entry.counters), failovers)


class _Families:
    def __init__(self) -> None:
        base = ["namespace", "cluster"]
        g = GaugeMetricFamily
        self.members = g(f"{PREFIX}_members", "Members by Group Replication state (as the operator sees them).",
                         labels=[*base, "state"])
        self.roles = g(f"{PREFIX}_members_by_role", "ONLINE members by role.", labels=[*base, "role"])
        self.member_info = g(f"{PREFIX}_member_info", "Always 1: one series per member, with its state and role.",
                             labels=[*base, "member", "state", "role"])
        self.state = g(f"{PREFIX}_state", "The cluster state as a state-set (1: current).", labels=[*base, "state"])
        self.mode = g(f"{PREFIX}_group_mode", "The group mode as a state-set (1: current).", labels=[*base, "mode"])
        self.online = g(f"{PREFIX}_instances_online", "Wanted members ONLINE in the group.", labels=base)
        self.desired = g(f"{PREFIX}_instances_desired", "Members the last applied spec asks for.", labels=base)
        self.routers_desired = g(f"{PREFIX}_routers_desired", "Router replicas the spec asks for.", labels=base)
        self.routers_ready = g(f"{PREFIX}_routers_ready", "Router replicas ready.", labels=base)
        self.updated = g(f"{PREFIX}_members_updated",
                         "Server pods running the StatefulSet's current template (rolling-restart progress).",
                         labels=base)
        self.observed = g(f"{PREFIX}_last_observation_timestamp_seconds",
                          "Unix time of the operator's last pass that reached the group.", labels=base)
        self.counters = {
            "primary_changes": CounterMetricFamily(f"{PREFIX}_primary_changes", "Times the primary moved to "
                                                   "another member.", labels=base),
            "rejoins": CounterMetricFamily(f"{PREFIX}_rejoins", "Members back ONLINE after having left the "
                                           "group.", labels=base),
            "clones": CounterMetricFamily(f"{PREFIX}_clones", "Clones into a member (the operator saw a new "
                                          "clone operation on it).", labels=base),
            "reboots": CounterMetricFamily(f"{PREFIX}_reboots", "Reboots of the group after a complete outage.",
                                           labels=base),
        }
        self.failover = HistogramMetricFamily(
            f"{PREFIX}_failover_duration_seconds",
            "Seconds from the operator observing the primary lost to a new primary ONLINE.", labels=base)

    def add(self, namespace: str, name: str, entry: _Cluster) -> None:
        base = [namespace, name]
        group, objects = entry.group, entry.objects
        if group is not None:
            by_state = dict.fromkeys(group.member_states, 0)
            by_role = {"PRIMARY": 0, "SECONDARY": 0}
            for member in group.members:
                by_state[member.state] = by_state.get(member.state, 0) + 1
                if member.state == "ONLINE" and member.role in by_role:
                    by_role[member.role] += 1
                self.member_info.add_metric([*base, member.name, member.state, member.role], 1)
            for state, n in by_state.items():
                self.members.add_metric([*base, state], n)
            for role, n in by_role.items():
                self.roles.add_metric([*base, role], n)
            for state, on in group.state.items():
                self.state.add_metric([*base, state], 1 if on else 0)
            for mode, on in group.mode.items():
                self.mode.add_metric([*base, mode], 1 if on else 0)
            self.online.add_metric(base, group.instances_online)
            self.desired.add_metric(base, group.instances_desired)
        if objects is not None:
            self.routers_desired.add_metric(base, objects.routers_desired)
            self.routers_ready.add_metric(base, objects.routers_ready)
            self.updated.add_metric(base, objects.members_updated)
        if entry.last_observation is not None:
            self.observed.add_metric(base, entry.last_observation)
        for what, family in self.counters.items():
            family.add_metric(base, entry.counters[what])
        h = entry.failovers
        buckets = [(_bound(b), float(n)) for b, n in zip(FAILOVER_BUCKETS, h.buckets, strict=True)]
        buckets.append(("+Inf", float(h.count)))
        self.failover.add_metric(base, buckets, h.total)

    def all(self) -> list[Metric]:
        return [self.members, self.roles, self.member_info, self.state, self.mode, self.online, self.desired,
                self.routers_desired, self.routers_ready, self.updated, self.observed, *self.counters.values(),
                self.failover]


def _bound(value: float) -> str:
    return repr(float(value))


CLUSTER_METRICS = ClusterMetrics(REGISTRY)
"""The process's cluster metrics, served on ``/metrics`` with the runtime families."""
