"""The group manager's reconcile: caches and a fake group in, SQL effects, status, Events and cadence out."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from fakeapi import NS, Cache, FakeApi, unb64
from fakegroup import FakeSession, World, gtids, uuid_of
from innodb_api.requests import REQUEST_ANNOTATION, Request, RequestAction
from innodb_api.types import Cluster
from innodb_operator.builders import build_private_secret, build_statefulset, labels
from innodb_operator.builders.secrets import ADMIN_USERNAME, REPLICATION_USERNAME, ROUTER_USERNAME
from innodb_operator.clock import FakeClock
from innodb_operator.clustering import messages
from innodb_operator.clustering.manager import GroupManager
from innodb_operator.clustering.model import GroupMode
from innodb_operator.controllers import finalizer
from innodb_operator.controllers import groupmanager as gm
from innodb_operator.controllers import groupview as gv
from innodb_operator.controllers.runner import Result, enqueue_labelled
from innodb_operator.kube.events import EventRecorder
from innodb_operator.mysql.errors import QueryError
from innodb_operator.workqueue import RateLimitingQueue

PASSWORDS = {"adminPassword": "admin-secret-pw", "replicationPassword": "repl-secret-pw",
             "routerPassword": "router-secret-pw", "backupPassword": "backup-secret-pw"}
UID = "6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
DOMAIN = "c-instances.ns.svc.cluster.local"
KEY = f"{NS}/c"


def host(i: int) -> str:
    return f"c-{i}.{DOMAIN}"


def pod(ordinal: int, *, ip: str | None = "10.0.0.1", phase: str = "Running", cluster_label: str = "c",
        component: str = "database", name: str | None = None, ready: bool = False) -> dict[str, Any]:
    status: dict[str, Any] = {"phase": phase, "conditions": [{"type": "Ready", "status": str(ready)}]}
    if ip:
        status["podIP"] = ip
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name or f"c-{ordinal}", "namespace": NS,
                         "labels": {"mysql.innodb-operator.dev/cluster": cluster_label,
                                    "app.kubernetes.io/component": component}},
            "status": status}


class Setup:
    """A cluster object, its applied StatefulSet and Secret, its pods, and the group behind them."""

    def __init__(self, instances: int = 3, *, pods: int | None = None, root_password: str = "sakila") -> None:
        self.api = FakeApi(instances=instances, root_password=root_password)
        self.world = World(max(instances, pods or 0), host=host,
                           accounts={ADMIN_USERNAME: PASSWORDS["adminPassword"], "root": "sakila"})
        cluster = Cluster.from_object(self.api.cluster)
        self.api.put(build_statefulset(cluster))
        self.api.put(build_private_secret(cluster, PASSWORDS))
        for i in range(instances if pods is None else pods):
            self.api.put(pod(i, ready=True))
        self.manager = GroupManager(self.world.connector())
        self.clock = FakeClock()
        self.reconciler = self.make()

    def make(self, **kwargs: Any) -> gm.GroupManagerReconciler:
        """The reconciler on these caches; ``kwargs`` go to its constructor (e.g. ``metrics``)."""
        api = self.api
        return gm.GroupManagerReconciler(
            api, Cache(api, "InnoDBCluster"), Cache(api, "StatefulSet"), Cache(api, "Secret"),  # type: ignore[arg-type]
            Cache(api, "Pod"), manager=self.manager, events=EventRecorder(api, "replica-a"),  # type: ignore[arg-type]
            cadence=gm.Cadence(fast=2, poll=30, deadline=30, grace=30), clock=self.clock, **kwargs)

    async def run(self, passes: int = 1) -> Result:
        result = Result()
        for _ in range(passes):
            result = await self.reconciler.reconcile(KEY)
            self.world.settle()
        return result

    def summary(self) -> dict[str, Any]:
        return dict(self.api.cluster["status"]["cluster"])

    def form(self) -> None:
        self.world.form([0, 1, 2], name=UID, replication=(REPLICATION_USERNAME, PASSWORDS["replicationPassword"]))


# --- pure parts ----------------------------------------------------------------------------


def cluster(instances: int = 3) -> Cluster:
    return Cluster.from_object({"metadata": {"name": "c", "namespace": NS, "uid": UID, "generation": 2},
                                "spec": {"secretName": "s", "instances": instances, "router": {"instances": 1}}})


def test_server_pods_are_the_clusters_database_pods_by_ordinal() -> None:
    pods = [pod(0), pod(2), pod(1, cluster_label="other"), pod(3, component="router"),
            pod(4, name="c-router-abc"), pod(5, name="c-05")]
    assert sorted(gv.server_pods(cluster(), pods)) == [0, 2]


@pytest.mark.parametrize(("case", "obj", "running"), [
    ("running with an IP", pod(0), True),
    ("pending, no IP yet", pod(0, ip=None, phase="Pending"), False),
    ("terminated", pod(0, phase="Failed"), False),
    ("completed", pod(0, phase="Succeeded"), False),
])
def test_a_pod_is_contacted_only_when_it_may_run_a_server(case: str, obj: dict[str, Any], running: bool) -> None:
    assert gv.is_running(obj) is running


def test_the_manager_looks_after_the_applied_ordinals_and_any_pod_left_above_them() -> None:
    assert gv.instance_count(3, []) == 3
    assert gv.instance_count(3, [0, 1, 2, 3, 4]) == 5  # scale-down not finished
    assert gv.instance_count(1, [0, 3]) == 4


def test_targets_are_pod_dns_names_on_3306_with_the_group_on_33061() -> None:
    targets = gv.build_targets(cluster(), 3, running={0, 2})
    assert [(t.index, str(t.endpoint), t.group_address, t.running, t.name) for t in targets] == [
        (0, f"c-0.{DOMAIN}:3306", f"c-0.{DOMAIN}:33061", True, "c-0"),
        (1, f"c-1.{DOMAIN}:3306", f"c-1.{DOMAIN}:33061", False, "c-1"),
        (2, f"c-2.{DOMAIN}:3306", f"c-2.{DOMAIN}:33061", True, "c-2"),
    ]


def test_the_shape_is_the_applied_statefulsets_not_the_newer_spec() -> None:
    applied = build_statefulset(cluster(3))
    newer = Cluster.from_object({**copy.deepcopy(applied), "metadata": {"name": "c", "namespace": NS, "uid": UID},
                                 "spec": {"secretName": "s", "instances": 5, "groupMode": "MultiPrimary"}})
    assert gv.desired_shape(newer, applied) == (3, GroupMode.SINGLE_PRIMARY)
    assert gv.desired_shape(newer, None) == (5, GroupMode.MULTI_PRIMARY), "nothing applied yet"


def test_the_group_name_is_the_recorded_one_else_the_uid() -> None:
    assert gv.group_name_for(cluster(), None) == UID
    recorded = "0b7a4c1e-2d3f-4e5a-8b6c-7d8e9f0a1b2c"
    assert gv.group_name_for(cluster(), {"cluster": {"groupName": recorded.upper()}}) == recorded
    other = Cluster.from_object({"metadata": {"name": "c", "namespace": NS, "uid": "not-a-uuid"},
                                 "spec": {"secretName": "s"}})
    assert gv.group_name_for(other, None) == gv.group_name_for(other, None) != UID


def test_a_pod_event_enqueues_its_cluster_by_label() -> None:
    queue: RateLimitingQueue[str] = RateLimitingQueue("t-pods")
    on_add, on_update, on_delete = enqueue_labelled(queue, "mysql.innodb-operator.dev/cluster")
    p = pod(0) | {"metadata": {**pod(0)["metadata"], "resourceVersion": "1"}}
    on_add(p)
    assert len(queue) == 1
    on_update(p, p)  # a resync: nothing new
    on_delete({"metadata": {"name": "x", "namespace": NS, "labels": {}}})  # not a cluster's pod
    assert len(queue) == 1


# --- the reconcile ---------------------------------------------------------------------------


async def test_from_empty_pods_to_an_online_group_with_status_and_events() -> None:
    s = Setup()
    assert await s.run() == Result(requeue_after=2), "an action was taken: look again soon"
    assert s.summary()["next"]["action"] == "Bootstrap" and s.summary()["next"]["target"] == "c-0"
    await s.run(4)
    summary = s.summary()
    assert summary["status"] == "ONLINE" and summary["primary"] == "c-0" and summary["groupName"] == UID
    assert summary["createTime"] and summary["next"] == {"reason": "Converged", "message": "nothing to do"}
    assert [(m["name"], m["state"], m["role"]) for m in summary["members"]] == [
        ("c-0", "ONLINE", "PRIMARY"), ("c-1", "ONLINE", "SECONDARY"), ("c-2", "ONLINE", "SECONDARY")]
    assert s.api.condition("GroupOnline")["status"] == "True"
    assert s.api.event_reasons("Normal") == ["Bootstrapped", "Joined", "Joined"]
    assert {w[1] for w in s.api.writes if w[0] == "status"} == {"innodb-operator-group"}
    assert await s.run() == Result(requeue_after=30), "settled: the poll"
    s.api.writes.clear()
    await s.run(3)
    assert s.api.writes == [], "an idle converged group costs no API write"


async def test_without_running_pods_nothing_is_contacted_and_every_member_is_missing() -> None:
    s = Setup(pods=0)
    await s.run()
    assert s.world.connects == 0
    summary = s.summary()
    assert summary["status"] == "PENDING" and summary["next"]["reason"] == "WaitingForPods"
    assert summary["members"] == [{"name": f"c-{i}", "state": "MISSING", "role": ""} for i in range(3)]


async def test_an_invalid_newer_spec_does_not_stop_healing_with_the_applied_one() -> None:
    s = Setup()
    s.form()
    s.api.cluster["spec"] = {**s.api.cluster["spec"], "instances": 5, "mycnf": "[mysqld]\nserver_id=7\n",
                             "secretName": "deleted"}
    s.world.crash(0)  # the primary's mysqld dies...
    s.world.expel()
    s.world.servers[0].persisted["start_on_boot"] = "OFF"
    s.world.restart(0)  # ...and comes back outside the group
    await s.run(3)
    assert s.summary()["status"] == "ONLINE" and s.summary()["instances"] == 3
    assert s.world.servers[0].state() == "ONLINE", "rejoined with the last applied spec"
    assert len(s.world.servers) == 3


async def test_a_complete_outage_is_rebooted_from_the_most_advanced_member() -> None:
    s = Setup()
    s.form()
    s.world.crash(0)
    s.world.expel()
    s.world.write(3)  # 1 and 2 hold three more transactions than 0
    for i in (1, 2):
        s.world.crash(i)
    for i in range(3):
        s.world.restart(i)  # start-on-boot finds no group: every member OFFLINE
    await s.run()
    assert s.api.event_reasons("Normal")[-1] == "Rebooted"
    assert "c-1" in s.api.events("Normal")[-1]["message"]
    await s.run(3)
    assert s.summary()["status"] == "ONLINE" and len(s.world.groups_named(UID)) == 1


async def test_a_blocked_group_warns_once_and_waits_for_the_poll() -> None:
    s = Setup()
    s.form()
    s.world.crash(1)
    s.world.crash(2)
    for _ in range(3):
        assert await s.run() == Result(requeue_after=30)
    warnings = s.api.events("Warning")
    assert [w["reason"] for w in warnings] == ["GroupBlocked"] and warnings[0]["count"] == 1
    assert s.summary()["next"]["reason"] == "NoQuorum" and s.api.condition("GroupOnline")["reason"] == "NoQuorum"


async def test_a_group_waiting_on_its_own_is_looked_at_soon_then_backs_off_up_to_the_poll() -> None:
    s = Setup()
    s.form()
    s.world.servers[2].alive = False  # unreachable for the operator; nothing to do but wait
    delays = []
    for _ in range(20):
        delays.append((await s.reconciler.reconcile(KEY)).requeue_after)
        s.clock.advance(delays[-1] or 0)
    assert delays == [2] * 15 + [4, 8, 16, 30, 30], "every 2 s for the grace period, then doubling"
    s.world.servers[1].alive = False  # something else happens: a new situation, soon again
    assert (await s.reconciler.reconcile(KEY)).requeue_after == 2
    s.world.servers[1].alive = s.world.servers[2].alive = True
    assert (await s.reconciler.reconcile(KEY)).requeue_after == 30, "ONLINE: the poll"


async def test_a_member_refusing_the_admin_account_is_a_condition_naming_account_and_secret() -> None:
    s = Setup()
    s.form()
    s.world.servers[1].accounts[ADMIN_USERNAME] = "changed-by-hand"
    await s.run()
    condition = s.api.condition("CredentialsValid")
    assert condition["status"] == "False" and condition["reason"] == "AccessDenied"
    assert ADMIN_USERNAME in condition["message"] and "ns/c-privsecrets" in condition["message"]
    assert "c-1" in condition["message"] and "ns/c-secret" in condition["message"]
    member = next(m for m in s.summary()["members"] if m["name"] == "c-1")
    assert member["state"] == "ACCESS_DENIED"
    assert "AccessDenied" in s.api.event_reasons("Warning")


async def test_lost_passwords_are_recovered_through_root_and_written_back() -> None:
    s = Setup()
    s.form()
    await s.run(2)  # metadata, router account, status with members
    before = s.world.servers[0].executed
    del s.api.objects[("Secret", "c-privsecrets")]
    assert await s.run() == Result(requeue_after=2)
    secret = unb64(s.api.objects[("Secret", "c-privsecrets")]["data"])
    assert secret["adminPassword"] != PASSWORDS["adminPassword"]
    for server in s.world.servers:
        assert server.accounts[ADMIN_USERNAME] == secret["adminPassword"]
        assert server.accounts[ROUTER_USERNAME] == secret["routerPassword"]
        assert server.recovery_credentials == (REPLICATION_USERNAME, secret["replicationPassword"])
    assert s.world.servers[0].executed != before, "reset on the primary, replicated through the group"
    (event,) = [e for e in s.api.events("Normal") if e["reason"] == "AccountsRecovered"]
    assert "ns/c-privsecrets" in event["message"] and "ns/c-secret" in event["message"]
    assert not [e for e in s.api.events() if secret["adminPassword"] in e["message"]]
    await s.run(2)
    assert s.summary()["status"] == "ONLINE" and s.api.condition("CredentialsValid")["status"] == "True"


async def test_with_root_refused_too_a_condition_names_both_secrets_and_no_member_is_touched() -> None:
    s = Setup(root_password="wrong")
    s.form()
    await s.run(2)
    del s.api.objects[("Secret", "c-privsecrets")]
    state = [(list(x.statements), x.executed, dict(x.accounts)) for x in s.world.servers]
    await s.run(2)
    condition = s.api.condition("CredentialsValid")
    assert condition["status"] == "False" and condition["reason"] == "RootDenied"
    assert "ns/c-privsecrets" in condition["message"] and "ns/c-secret" in condition["message"]
    assert [(list(x.statements), x.executed, dict(x.accounts)) for x in s.world.servers] == state
    assert ("Secret", "c-privsecrets") not in s.api.objects
    assert s.api.event_reasons("Warning").count("RootDenied") == 1


async def test_an_unexpected_error_reaches_the_runner() -> None:
    s = Setup()

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug")

    s.manager.run_pass = broken  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match="a bug"):
        await s.reconciler.reconcile(KEY)


async def test_a_deleted_cluster_drops_what_was_remembered_for_it() -> None:
    s = Setup()
    s.form()
    await s.run(2)
    s.api.cluster["metadata"]["deletionTimestamp"] = "2030-01-01T00:00:00Z"
    assert await s.run() == Result()
    assert s.reconciler._said == {} and s.reconciler._waiting == {}
    assert s.manager._upkept == {}


def reworded(table: dict[Any, str]) -> dict[Any, str]:
    return {key: f"In other words: {value} (said differently)" for key, value in table.items()}


async def journey(monkeypatch: pytest.MonkeyPatch, change: Callable[[], None]) -> list[object]:
    """Form a group from empty pods, lose quorum, and record what the operator did and said (not how)."""
    change()
    s = Setup()
    seen: list[object] = []
    for step in range(6):
        result = await s.reconciler.reconcile(KEY)
        s.world.settle()
        summary = s.summary()
        seen.append((step, result.requeue_after, summary["status"], summary["next"]["reason"],
                     summary["next"].get("action"), [m["state"] for m in summary["members"]]))
    s.world.crash(1)
    s.world.crash(2)
    for step in range(2):
        result = await s.reconciler.reconcile(KEY)
        seen.append(("lost", step, result.requeue_after, s.summary()["status"], s.summary()["next"]["reason"]))
    seen.append([(e["type"], e["reason"], e["count"]) for e in s.api.events()])
    seen.append([(s_.index, list(s_.statements)) for s_ in s.world.servers])
    monkeypatch.undo()
    return seen


async def test_changing_every_message_changes_no_behaviour(monkeypatch: pytest.MonkeyPatch) -> None:
    before = await journey(monkeypatch, lambda: None)

    def reword() -> None:
        monkeypatch.setattr(messages, "PLAN_MESSAGES", reworded(messages.PLAN_MESSAGES))
        monkeypatch.setattr(messages, "DONE_MESSAGES", reworded(messages.DONE_MESSAGES))
        monkeypatch.setattr(messages, "REFUSAL_MESSAGES", reworded(messages.REFUSAL_MESSAGES))

    after = await journey(monkeypatch, reword)
    assert after == before


async def test_the_reworded_messages_are_what_status_and_events_say(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(messages, "PLAN_MESSAGES", reworded(messages.PLAN_MESSAGES))
    monkeypatch.setattr(messages, "DONE_MESSAGES", reworded(messages.DONE_MESSAGES))
    s = Setup()
    await s.run()
    assert s.summary()["next"]["message"].startswith("In other words: bootstrapping")
    assert s.api.events("Normal")[0]["message"].startswith("In other words: Bootstrapped")




async def test_only_a_lost_key_is_replaced_and_through_the_admin_account_not_root() -> None:
    s = Setup()
    s.form()
    await s.run(2)  # the router account exists
    secret = copy.deepcopy(s.api.objects[("Secret", "c-privsecrets")])
    del secret["data"]["routerPassword"]
    s.api.put(secret)
    s.world.logins.clear()
    await s.run()
    now = unb64(s.api.objects[("Secret", "c-privsecrets")]["data"])
    assert now["adminPassword"] == PASSWORDS["adminPassword"]
    assert now["replicationPassword"] == PASSWORDS["replicationPassword"]
    assert now["routerPassword"] and now["routerPassword"] != PASSWORDS["routerPassword"]
    assert all(server.accounts[ROUTER_USERNAME] == now["routerPassword"] for server in s.world.servers)
    assert "root" not in s.world.logins
    assert all(server.recovery_credentials[1] == PASSWORDS["replicationPassword"] for server in s.world.servers)


async def test_a_full_outage_with_the_secret_lost_is_recovered_member_by_member_then_rebooted() -> None:
    s = Setup()
    s.form()
    await s.run(2)
    for i in range(3):
        s.world.crash(i)
    for i in range(3):
        s.world.restart(i)  # nobody finds a group: every member OFFLINE, no writer anywhere
    del s.api.objects[("Secret", "c-privsecrets")]
    before = [server.executed for server in s.world.servers]
    await s.run()
    secret = unb64(s.api.objects[("Secret", "c-privsecrets")]["data"])
    assert [server.executed for server in s.world.servers] == before, "reset outside the binary log: no GTID"
    assert all(server.accounts[ADMIN_USERNAME] == secret["adminPassword"] for server in s.world.servers)
    assert all(server.recovery_credentials == (REPLICATION_USERNAME, secret["replicationPassword"])
               for server in s.world.servers)
    await s.run(4)
    assert s.summary()["status"] == "ONLINE" and "Rebooted" in s.api.event_reasons("Normal")


async def test_an_action_that_fails_the_same_way_again_backs_off(monkeypatch: pytest.MonkeyPatch) -> None:
    s = Setup()
    s.form()
    s.world.crash(2)
    s.world.expel()
    s.world.servers[2].persisted["start_on_boot"] = "OFF"
    s.world.restart(2)
    original = FakeSession.start_group

    async def refused_start(self: FakeSession, *, bootstrap: bool) -> None:
        if self.endpoint.host == host(2):
            raise QueryError(f"{self.endpoint}: (3092) the server is not configured properly", errno=3092)
        await original(self, bootstrap=bootstrap)

    monkeypatch.setattr(FakeSession, "start_group", refused_start)
    delays = [(await s.reconciler.reconcile(KEY)).requeue_after for _ in range(6)]
    assert delays == [2, 4, 8, 16, 30, 30]
    assert s.api.event_reasons("Warning") == ["GroupActionIncomplete"], "said once"


async def test_a_recovery_that_gets_nowhere_backs_off() -> None:
    s = Setup(root_password="wrong")
    s.form()
    await s.run(2)
    del s.api.objects[("Secret", "c-privsecrets")]
    delays = [(await s.reconciler.reconcile(KEY)).requeue_after for _ in range(5)]
    assert delays == [2, 4, 8, 16, 30]


async def test_a_pass_cut_off_by_its_deadline_is_retried_with_backoff_and_writes_nothing() -> None:
    s = Setup()
    s.form()
    await s.run()
    s.world.servers[1].hung = True  # its connections are accepted and never answered
    s.reconciler = gm.GroupManagerReconciler(
        s.api, Cache(s.api, "InnoDBCluster"), Cache(s.api, "StatefulSet"), Cache(s.api, "Secret"),  # type: ignore[arg-type]
        Cache(s.api, "Pod"), manager=s.manager, events=EventRecorder(s.api, "replica-a"),  # type: ignore[arg-type]
        cadence=gm.Cadence(fast=2, poll=30, deadline=0.05))
    s.api.writes.clear()
    assert [(await s.reconciler.reconcile(KEY)).requeue_after for _ in range(2)] == [2, 4]
    assert s.api.writes == []


# --- requests: switchover, force quorum, reboot -----------------------------------------------


def ask(s: Setup, action: str, member: str, request_id: str = "r1", *, accept: bool = False) -> None:
    s.api.cluster["metadata"].setdefault("annotations", {})[REQUEST_ANNOTATION] = Request(
        request_id, RequestAction(action), member, accept).annotation()


def answer(s: Setup) -> dict[str, Any]:
    return dict(s.summary()["request"])


async def test_a_switchover_request_moves_the_primary_once_and_is_answered_in_status_and_an_event() -> None:
    s = Setup()
    s.form()
    ask(s, "switchover", "c-2")
    await s.run()
    assert s.world.groups_named(UID)[0].primary == uuid_of(2)
    got = answer(s)
    assert (got["id"], got["action"], got["member"], got["outcome"]) == ("r1", "switchover", "c-2", "Done")
    assert got["message"] == "c-2 is the primary now" and got["time"]
    assert s.api.events("Normal")[-1]["reason"] == "RequestDone"
    assert "r1" in s.api.events("Normal")[-1]["message"] and "c-2" in s.api.events("Normal")[-1]["message"]
    s.world.groups_named(UID)[0].primary = uuid_of(0)  # moved back by hand: the answered request stays answered
    await s.run(2)
    assert s.world.groups_named(UID)[0].primary == uuid_of(0)
    assert answer(s)["id"] == "r1" and s.api.event_reasons().count("RequestDone") == 1


async def test_a_request_that_cannot_be_done_is_refused_with_why_and_nothing_changes() -> None:
    s = Setup()
    s.form()
    s.world.crash(1)
    s.world.expel()
    ask(s, "switchover", "c-1")
    await s.run()
    assert answer(s)["outcome"] == "Refused" and "cannot reach c-1" in answer(s)["message"]
    assert s.world.groups_named(UID)[0].primary == uuid_of(0)
    assert s.api.events("Warning")[-1]["reason"] == "RequestRefused"
    ask(s, "force-quorum", "c-0", "r2")
    await s.run()
    assert answer(s)["outcome"] == "Done" and "has quorum; nothing to force" in answer(s)["message"]


@pytest.mark.parametrize(("annotation", "says"), [
    ("not json", "is not JSON"),
    ('{"id": "x", "action": "failover", "member": "c-1"}', "must be one of switchover, reboot, force-quorum"),
    ('{"id": "x", "action": "switchover", "member": "c-1", "force": true}', "unknown keys force"),
    ('{"id": "x", "action": "switchover", "member": "c-9"}', "c-9 is not a server of this cluster"),
])
async def test_a_malformed_request_is_refused_with_what_to_fix_without_touching_mysql(annotation: str,
                                                                                    says: str) -> None:
    s = Setup()
    s.form()
    s.api.cluster["metadata"]["annotations"] = {REQUEST_ANNOTATION: annotation}
    await s.run(2)
    assert answer(s)["outcome"] == "Refused" and says in answer(s)["message"], answer(s)
    assert s.api.event_reasons("Warning").count("RequestRefused") == 1
    assert all(st in ("metadata", "router account") for sv in s.world.servers for st in sv.statements)


async def test_quorum_lost_for_good_is_forced_only_on_request_from_the_named_survivor() -> None:
    s = Setup()
    s.form()
    s.world.crash(1)
    s.world.crash(2)
    await s.run(2)
    assert s.summary()["status"] == "NO_QUORUM", "nothing forced by itself"
    assert not any("force" in st for sv in s.world.servers for st in sv.statements)
    ask(s, "force-quorum", "c-0")
    await s.run()
    assert answer(s)["outcome"] == "Done", answer(s)
    assert "not compared with c-1, c-2" in answer(s)["message"], "the unreachable ones are named"
    assert s.world.servers[0].statements[-1] == f"force members {host(0)}"
    assert s.api.event_reasons("Normal")[-2:] == ["QuorumForced", "RequestDone"]
    await s.run()
    assert s.summary()["status"] == "ONLINE_UNCERTAIN" and s.summary()["primary"] == "c-0"
    for i in (1, 2):
        s.world.restart(i)  # they come back and rejoin the forced group
    await s.run(4)
    assert s.summary()["status"] == "ONLINE" and len(s.world.groups_named(UID)) == 1


async def test_forcing_quorum_from_a_member_missing_transactions_is_refused_with_the_numbers_unless_accepted() -> None:
    s = Setup()
    s.form()
    s.world.crash(1)
    s.world.crash(2)
    behind = s.world.servers[1]  # came back outside the group, holding 4 transactions c-0 never got
    behind.alive, behind.persisted["start_on_boot"] = True, "OFF"
    behind.executed = behind.executed | gtids(UID, 11, 14)
    ask(s, "force-quorum", "c-0")
    await s.run()
    got = answer(s)
    assert got["outcome"] == "Refused" and "4 only on c-1" in got["message"] and "accepting data loss" in got["message"]
    assert not any("force" in st for st in s.world.servers[0].statements)
    ask(s, "force-quorum", "c-0", "r2", accept=True)
    await s.run()
    assert answer(s)["outcome"] == "Done" and "losing 4 only on c-1" in answer(s)["message"]


async def test_an_outage_the_operator_cannot_prove_is_rebooted_from_the_named_member_on_request() -> None:
    s = Setup()
    s.form()
    for i in range(3):
        s.world.crash(i)
    for i in (0, 1):
        s.world.restart(i)  # c-2 stays down: the outage is not provable
    await s.run()
    assert s.summary()["next"]["reason"] == "OutageUnproven"
    s.world.write(0)
    s.world.servers[1].executed = s.world.servers[1].executed | gtids(UID, 11, 12)
    ask(s, "reboot", "c-0")
    await s.run()
    assert answer(s)["outcome"] == "Refused" and "2 only on c-1" in answer(s)["message"]
    ask(s, "reboot", "c-1", "r2")
    await s.run()
    assert answer(s)["outcome"] == "Done" and "not compared with c-2" in answer(s)["message"]
    assert s.world.groups_named(UID)[0].primary == uuid_of(1)
    await s.run(3)
    assert s.summary()["status"] == "ONLINE_UNCERTAIN" and s.world.servers[0].state() == "ONLINE"


# --- deletion ------------------------------------------------------------------------------


def delete(s: Setup, *, ago: float = 0.0) -> None:
    """What the API server does on a delete while our finalizer holds the object."""
    import datetime as dt

    when = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=ago)
    meta = s.api.cluster["metadata"]
    meta["finalizers"] = ["someone.else/keep", finalizer.FINALIZER]
    meta["deletionTimestamp"] = when.strftime("%Y-%m-%dT%H:%M:%SZ")


async def test_deletion_stops_the_routers_then_the_secondaries_then_the_primary_then_lets_go() -> None:
    s = Setup()
    s.form()
    router_labels = labels.router_selector(Cluster.from_object(s.api.cluster))
    s.api.put({"apiVersion": "v1", "kind": "Pod", "status": {"phase": "Running"},
               "metadata": {"name": "c-router-1", "namespace": NS, "labels": router_labels}})
    delete(s)
    await s.run()
    assert s.summary()["status"] == "FINALIZING"
    assert "waiting for the routers to stop first (c-router-1)" in s.summary()["next"]["message"]
    assert len(s.world.groups_named(UID)[0].members) == 3, "no member leaves while a router may route to it"
    del s.api.objects[("Pod", "c-router-1")]
    left = []
    for _ in range(3):
        await s.run()
        assert s.summary()["status"] == "FINALIZING" and s.api.cluster["metadata"]["finalizers"][-1] == (
            finalizer.FINALIZER)
        left.append(s.api.events("Normal")[-1]["message"])
    assert [m.split()[0] for m in left] == ["c-2", "c-1", "c-0"] and all("left the group" in m for m in left), left
    assert not s.world.groups_named(UID) or not s.world.groups_named(UID)[0].members
    await s.run()
    assert s.api.cluster["metadata"]["finalizers"] == ["someone.else/keep"], "ours is gone, nobody else's"
    assert s.api.event_reasons("Normal")[-1] == "GroupStopped"


async def test_a_deletion_with_the_group_gone_already_lets_go_at_once() -> None:
    s = Setup()
    delete(s)
    await s.run()
    assert s.api.cluster["metadata"]["finalizers"] == ["someone.else/keep"]


async def test_a_deletion_that_cannot_stop_the_group_lets_go_after_its_time_with_a_warning() -> None:
    s = Setup()
    s.form()
    delete(s, ago=finalizer.RELEASE_AFTER + 1)
    await s.run()
    assert s.api.cluster["metadata"]["finalizers"] == ["someone.else/keep"]
    assert s.api.event_reasons("Warning")[-1] == "FinalizerReleased"

