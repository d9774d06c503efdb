"""Cluster metrics and lifecycle Events: what a pass found changed, and what Prometheus is served."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from test_groupmanager import KEY, Setup

from fakeapi import b64
from innodb_operator.builders.status import GroupStatus, MemberStatus, NextStep
from innodb_operator.controllers.lifecycle import Lifecycle, Timing, container_stopped_at, group_sample
from innodb_operator.observability.clusters import ClusterMetrics, ObjectSample

NS, NAME = KEY.split("/")


def group(members: dict[str, tuple[str, str]], *, state: str = "ONLINE", primary: str = "",
          mode: str = "SinglePrimary", observed: bool = True) -> GroupStatus:
    return GroupStatus(state=state, explanation="because", group_name="g", instances=3, next=NextStep("Converged", ""),
                       members=tuple(MemberStatus(n, s, r) for n, (s, r) in members.items()),
                       online=sum(1 for s, _ in members.values() if s == "ONLINE"), primary=primary, mode=mode,
                       observed=observed)


HEALTHY = {"c-0": ("ONLINE", "PRIMARY"), "c-1": ("ONLINE", "SECONDARY"), "c-2": ("ONLINE", "SECONDARY")}
PRIMARY_DOWN = {"c-0": ("UNREACHABLE", ""), "c-1": ("ONLINE", "SECONDARY"), "c-2": ("ONLINE", "SECONDARY")}
NEW_PRIMARY = {"c-0": ("UNREACHABLE", ""), "c-1": ("ONLINE", "PRIMARY"), "c-2": ("ONLINE", "SECONDARY")}
BACK = {"c-0": ("ONLINE", "SECONDARY"), "c-1": ("ONLINE", "PRIMARY"), "c-2": ("ONLINE", "SECONDARY")}


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, {"namespace": NS, "cluster": NAME, **labels})


# --- the lifecycle of a failover ---------------------------------------------------------------


def test_the_first_pass_is_a_baseline_and_says_nothing() -> None:
    changes = Lifecycle().step(KEY, group(PRIMARY_DOWN, state="ONLINE_PARTIAL"), 0.0, clones={"c-1": "2026-01-01"})
    assert (changes.notices, changes.primary_changes, changes.rejoins, changes.clones) == ((), 0, 0, 0)


def test_a_failover_is_timed_from_the_loss_observed_to_the_new_primary_online() -> None:
    life = Lifecycle()
    life.step(KEY, group(HEALTHY, primary="c-0"), 100.0)
    lost = life.step(KEY, group(PRIMARY_DOWN, state="ONLINE_PARTIAL", primary="c-0"), 101.0)
    assert [(n.type, n.reason) for n in lost.notices] == [("Warning", "MemberUnreachable"),
                                                         ("Warning", "ClusterStateChanged")]
    assert "c-0" in lost.notices[0].message and lost.primary_changes == 0
    assert "ONLINE -> ONLINE_PARTIAL: because" in lost.notices[1].message
    elected = life.step(KEY, group(NEW_PRIMARY, state="ONLINE_PARTIAL", primary="c-1"), 107.5)
    assert elected.primary_changes == 1 and elected.failover_seconds == 6.5
    (notice,) = elected.notices
    assert (notice.reason, notice.type) == ("FailoverObserved", "Warning")
    assert "from c-0 to c-1: 6.5 s" in notice.message
    back = life.step(KEY, group(BACK, primary="c-1"), 130.0)
    assert [n.reason for n in back.notices] == ["MemberRejoined", "ClusterStateChanged"]
    assert back.rejoins == 1 and back.primary_changes == 0 and back.notices[1].type == "Normal"


def test_a_failover_is_timed_from_the_container_termination_to_the_new_primarys_own_log_line() -> None:
    life = Lifecycle()
    life.step(KEY, group(HEALTHY, primary="c-0"), 100.0, timing=Timing(promoted={"c-0": 50.0}))
    life.step(KEY, group(PRIMARY_DOWN, state="ONLINE_PARTIAL", primary="c-0"), 108.0,
              timing=Timing(stopped={"c-0": 103.0}))
    elected = life.step(KEY, group(NEW_PRIMARY, state="ONLINE_PARTIAL", primary="c-1"), 130.0,
                        timing=Timing(stopped={"c-0": 103.0}, promoted={"c-1": 124.25}))
    assert elected.failover_seconds == 21.25, "termination at 103 to c-1 taking writes at 124.25"
    assert "from c-0 to c-1: 21.2 s from c-0 lost to c-1 taking writes" in elected.notices[0].message


def test_a_termination_from_before_the_member_became_primary_does_not_time_the_failover() -> None:
    life = Lifecycle()
    life.step(KEY, group(HEALTHY, primary="c-0"), 100.0, timing=Timing(stopped={"c-0": 20.0}, promoted={"c-0": 60.0}))
    life.step(KEY, group(PRIMARY_DOWN, state="ONLINE_PARTIAL", primary="c-0"), 110.0,
              timing=Timing(stopped={"c-0": 20.0}))
    elected = life.step(KEY, group(NEW_PRIMARY, state="ONLINE_PARTIAL", primary="c-1"), 120.0,
                        timing=Timing(stopped={"c-0": 20.0}, promoted={"c-1": 90.0}))
    assert elected.failover_seconds == 10.0, "observed loss to the pass: an old crash or log line is no evidence"


def test_a_crash_and_election_between_two_passes_is_timed_by_the_evidence_alone() -> None:
    life = Lifecycle()
    life.step(KEY, group(HEALTHY, primary="c-0"), 100.0)
    crashed = life.step(KEY, group(NEW_PRIMARY, state="ONLINE_PARTIAL", primary="c-1"), 140.0,
                        timing=Timing(stopped={"c-0": 110.0}, promoted={"c-1": 131.5}))
    assert crashed.primary_changes == 1 and crashed.failover_seconds == 21.5


def test_a_group_mode_changed_outside_the_spec_is_a_warning_and_a_declared_change_is_not() -> None:
    multi = {n: ("ONLINE", "PRIMARY") for n in HEALTHY}
    life = Lifecycle()
    life.step(KEY, group(HEALTHY, primary="c-0"), 0.0, declared_mode="SinglePrimary")
    by_hand = life.step(KEY, group(multi, mode="MultiPrimary"), 1.0, declared_mode="SinglePrimary")
    (notice,) = [n for n in by_hand.notices if n.reason == "GroupModeChangedOutsideSpec"]
    assert notice.type == "Warning"
    assert "from SinglePrimary to MultiPrimary outside the operator" in notice.message
    assert "switches it back" in notice.message and "spec.groupMode" in notice.message
    back = life.step(KEY, group(HEALTHY, primary="c-0"), 2.0, declared_mode="SinglePrimary")
    assert "GroupModeChangedOutsideSpec" not in [n.reason for n in back.notices]
    declared = life.step(KEY, group(multi, mode="MultiPrimary"), 3.0, declared_mode="MultiPrimary")
    assert "GroupModeChangedOutsideSpec" not in [n.reason for n in declared.notices], "the operator's own switch"


def test_the_container_termination_is_read_from_state_or_last_state() -> None:
    def pod(**parts: dict[str, object]) -> dict[str, object]:
        return {"status": {"containerStatuses": [{"name": "metrics", "state": {"terminated": {
            "finishedAt": "2026-01-01T00:09:00Z"}}}, {"name": "mysql", **parts}]}}

    assert container_stopped_at(pod(state={"running": {}}), "mysql") is None
    assert container_stopped_at(pod(state={"running": {}}, lastState={"terminated": {
        "finishedAt": "2026-01-01T00:00:10Z"}}), "mysql") == 1767225610.0
    assert container_stopped_at(pod(state={"terminated": {"finishedAt": "2026-01-01T00:00:20Z"}}, lastState={
        "terminated": {"finishedAt": "2026-01-01T00:00:10Z"}}), "mysql") == 1767225620.0
    assert container_stopped_at({"status": {}}, "mysql") is None


def test_a_switch_seen_in_one_pass_counts_without_a_duration() -> None:
    life = Lifecycle()
    life.step(KEY, group(HEALTHY, primary="c-0"), 0.0)
    switched = life.step(KEY, group(BACK, primary="c-1"), 30.0)
    assert switched.primary_changes == 1 and switched.failover_seconds is None
    assert [n.reason for n in switched.notices] == ["PrimaryChanged"]


def test_the_same_primary_back_is_no_failover_and_unobserved_passes_change_nothing() -> None:
    life = Lifecycle()
    life.step(KEY, group(HEALTHY, primary="c-0"), 0.0)
    life.step(KEY, group(PRIMARY_DOWN, state="ONLINE_PARTIAL", primary="c-0"), 1.0)
    assert life.step(KEY, group({}, state="", observed=False), 2.0).notices == ()
    again = life.step(KEY, group(HEALTHY, primary="c-0"), 3.0)
    assert again.primary_changes == 0 and again.failover_seconds is None and again.rejoins == 1
    later = life.step(KEY, group(BACK, primary="c-1"), 50.0)
    assert later.failover_seconds is None, "the earlier loss was over when c-0 came back"


def test_a_member_the_group_removed_from_its_view_while_unreachable_was_expelled() -> None:
    life = Lifecycle()
    life.step(KEY, group(HEALTHY, primary="c-0"), 0.0, view={"c-0": "ONLINE", "c-1": "ONLINE", "c-2": "ONLINE"})
    down = life.step(KEY, group(NEW_PRIMARY, state="ONLINE_PARTIAL", primary="c-1"), 1.0,
                     view={"c-0": "UNREACHABLE", "c-1": "ONLINE", "c-2": "ONLINE"})
    assert "MemberExpelled" not in [n.reason for n in down.notices]
    unknown = life.step(KEY, group(NEW_PRIMARY, state="ONLINE_PARTIAL", primary="c-1"), 2.0, view=None)
    assert "MemberExpelled" not in [n.reason for n in unknown.notices], "no ONLINE member answered: no news"
    rejoining = {"c-0": ("RECOVERING", "SECONDARY"), "c-1": ("ONLINE", "PRIMARY"), "c-2": ("ONLINE", "SECONDARY")}
    expelled = life.step(KEY, group(rejoining, state="ONLINE_PARTIAL", primary="c-1"), 3.0,
                         view={"c-0": "RECOVERING", "c-1": "ONLINE", "c-2": "ONLINE"})
    (notice,) = [n for n in expelled.notices if n.reason == "MemberExpelled"]
    assert notice.message.startswith("c-0 was expelled") and "now RECOVERING, rejoining" in notice.message
    blip = Lifecycle()
    blip.step(KEY, group(HEALTHY, primary="c-0"), 0.0, view={"c-0": "ONLINE", "c-1": "UNREACHABLE", "c-2": "ONLINE"})
    back = blip.step(KEY, group(HEALTHY, primary="c-0"), 1.0, view={"c-0": "ONLINE", "c-1": "ONLINE", "c-2": "ONLINE"})
    assert back.notices == (), "reachable again without leaving the view: not expelled"
    restarted = Lifecycle()
    restarted.step(KEY, group(HEALTHY, primary="c-0"), 10.0, view=dict.fromkeys(HEALTHY, "ONLINE"))
    restarted.step(KEY, group(HEALTHY, primary="c-0"), 13.0, view=dict.fromkeys(HEALTHY, "ONLINE"),
                   timing=Timing(stopped={"c-0": 11.0}))  # killed at 11: the group has not noticed yet
    restarted.step(KEY, group(NEW_PRIMARY, state="ONLINE_PARTIAL", primary="c-1"), 16.0,
                   view={"c-0": "UNREACHABLE", "c-1": "ONLINE", "c-2": "ONLINE"}, timing=Timing(stopped={"c-0": 11.0}))
    swapped = restarted.step(KEY, group(BACK, primary="c-1"), 40.0, view=dict.fromkeys(HEALTHY, "ONLINE"),
                             timing=Timing(stopped={"c-0": 11.0}))
    (notice,) = [n for n in swapped.notices if n.reason == "MemberExpelled"]
    assert "c-0 was expelled" in notice.message and "restarted one joined" in notice.message
    blip_view = {"c-0": "UNREACHABLE", "c-1": "ONLINE", "c-2": "ONLINE"}
    again = restarted.step(KEY, group(BACK, primary="c-1"), 50.0, view=blip_view, timing=Timing(stopped={"c-0": 11.0}))
    back = restarted.step(KEY, group(BACK, primary="c-1"), 52.0, view=dict.fromkeys(HEALTHY, "ONLINE"),
                          timing=Timing(stopped={"c-0": 11.0}))
    assert "MemberExpelled" not in [n.reason for n in (*again.notices, *back.notices)], \
        "a blip after the rejoin: the termination is older than the join"


def test_members_leaving_in_error_and_new_clones_are_told() -> None:
    life = Lifecycle()
    life.step(KEY, group(HEALTHY, primary="c-0"), 0.0, clones={"c-1": "t1"})
    changes = life.step(KEY, group({"c-0": ("ONLINE", "PRIMARY"), "c-1": ("ERROR", ""), "c-2": ("OFFLINE", "")},
                                   state="ONLINE_PARTIAL", primary="c-0"), 1.0, clones={"c-1": "t1", "c-3": "t2"})
    assert [n.reason for n in changes.notices] == ["MemberExpelled", "MemberLeft", "ClusterStateChanged"]
    assert changes.clones == 1, "c-3's clone is new; c-1's was there at the baseline"
    forgotten = Lifecycle()
    assert forgotten.step(KEY, group(HEALTHY, primary="c-0"), 0.0).notices == ()


# --- what Prometheus is served -----------------------------------------------------------------


def test_every_state_is_exported_and_forget_removes_every_series() -> None:
    registry = CollectorRegistry()
    metrics = ClusterMetrics(registry)
    metrics.report_group(NS, NAME, group_sample(group(PRIMARY_DOWN, state="ONLINE_PARTIAL"), reached=True,
                                                wall_now=1234.5))
    metrics.report_objects(NS, NAME, ObjectSample(routers_desired=2, routers_ready=1, members_updated=3))
    metrics.count(NS, NAME, "primary_changes")
    metrics.observe_failover(NS, NAME, 7.5)
    assert sample(registry, "innodb_cluster_members", state="ONLINE") == 2
    assert sample(registry, "innodb_cluster_members", state="UNREACHABLE") == 1
    assert sample(registry, "innodb_cluster_members", state="ERROR") == 0
    assert sample(registry, "innodb_cluster_members_by_role", role="PRIMARY") == 0
    assert sample(registry, "innodb_cluster_members_by_role", role="SECONDARY") == 2
    assert sample(registry, "innodb_cluster_member_info", member="c-0", state="UNREACHABLE", role="") == 1
    assert sample(registry, "innodb_cluster_state", state="ONLINE_PARTIAL") == 1
    assert sample(registry, "innodb_cluster_state", state="ONLINE") == 0
    assert sample(registry, "innodb_cluster_group_mode", mode="SinglePrimary") == 1
    assert (sample(registry, "innodb_cluster_instances_desired"), sample(registry, "innodb_cluster_instances_online")
            ) == (3, 2)
    assert (sample(registry, "innodb_cluster_routers_desired"), sample(registry, "innodb_cluster_routers_ready"),
            sample(registry, "innodb_cluster_members_updated")) == (2, 1, 3)
    assert sample(registry, "innodb_cluster_last_observation_timestamp_seconds") == 1234.5
    assert sample(registry, "innodb_cluster_primary_changes_total") == 1
    assert sample(registry, "innodb_cluster_rejoins_total") == 0
    assert sample(registry, "innodb_cluster_failover_duration_seconds_bucket", le="6.0") == 0
    assert sample(registry, "innodb_cluster_failover_duration_seconds_bucket", le="8.0") == 1
    assert sample(registry, "innodb_cluster_failover_duration_seconds_sum") == 7.5
    metrics.forget(NS, NAME)
    assert f'cluster="{NAME}"' not in generate_latest(registry).decode()


def test_a_pass_that_reached_no_member_keeps_the_last_observation_time() -> None:
    registry = CollectorRegistry()
    metrics = ClusterMetrics(registry)
    metrics.report_group(NS, NAME, group_sample(group(HEALTHY), reached=True, wall_now=100.0))
    metrics.report_group(NS, NAME, group_sample(group({}, state="OFFLINE_UNCERTAIN"), reached=False, wall_now=200.0))
    assert sample(registry, "innodb_cluster_last_observation_timestamp_seconds") == 100.0
    assert sample(registry, "innodb_cluster_state", state="OFFLINE_UNCERTAIN") == 1


# --- through the group manager, on a fake group -----------------------------------------------


async def test_the_group_manager_reports_a_crashed_primary_and_a_deleted_cluster() -> None:
    s = Setup()
    registry = CollectorRegistry()
    metrics = ClusterMetrics(registry)
    s.reconciler = s.make(metrics=metrics, wall=lambda: 42.0)
    await s.run(5)
    assert sample(registry, "innodb_cluster_members_by_role", role="PRIMARY") == 1
    assert sample(registry, "innodb_cluster_members_by_role", role="SECONDARY") == 2
    assert sample(registry, "innodb_cluster_last_observation_timestamp_seconds") == 42.0
    s.world.crash(0)
    await s.run(2)
    assert sample(registry, "innodb_cluster_primary_changes_total") == 1
    assert sample(registry, "innodb_cluster_members", state="ONLINE") == 2
    assert "PrimaryChanged" in s.api.event_reasons("Normal")
    assert "MemberUnreachable" in s.api.event_reasons("Warning")
    s.api.cluster["metadata"]["deletionTimestamp"] = "2030-01-01T00:00:00Z"
    await s.run()
    assert f'cluster="{NAME}"' not in generate_latest(registry).decode()


# --- the exporter's account ----------------------------------------------------------------------


async def test_the_exporters_account_exists_on_every_member_only_while_metrics_are_on() -> None:
    s = Setup()
    s.api.cluster["spec"]["metrics"] = {"enable": True}
    secret = s.api.objects[("Secret", "c-privsecrets")]
    secret["data"]["metricsPassword"] = b64("metrics-secret-pw")
    await s.run(5)
    assert [srv.accounts.get("innodbop-metrics") for srv in s.world.servers] == ["metrics-secret-pw"] * 3
    s.api.cluster["spec"]["metrics"] = {"enable": False}
    await s.run(2)
    assert [srv.accounts.get("innodbop-metrics") for srv in s.world.servers] == [None] * 3
