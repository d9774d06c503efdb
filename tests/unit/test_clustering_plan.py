"""The group manager's decisions, pure: special cases, and properties over random snapshots."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from innodb_operator.clustering.messages import plan_message
from innodb_operator.clustering.model import (
    Desired,
    GroupMode,
    Instance,
    Member,
    MemberState,
    Role,
    Snapshot,
    unreachable,
)
from innodb_operator.clustering.plan import Action, Kind, Plan, Reason, next_action
from innodb_operator.clustering.state import decide, has_majority


class G(frozenset[int]):
    """A GTID set stand-in: transaction numbers of one source, as a set."""

    def is_superset(self, other: G) -> bool:  # type: ignore[override]
        return self.issuperset(other)

    @property
    def is_empty(self) -> bool:
        return not self


def g(*numbers: int) -> G:
    return G(numbers)


def upto(n: int) -> G:
    return G(range(1, n + 1))


ON, REC, OFF, ERR, UNR, MISS = (MemberState.ONLINE, MemberState.RECOVERING, MemberState.OFFLINE,
                                MemberState.ERROR, MemberState.UNREACHABLE, MemberState.MISSING)


def inst(index: int, state: MemberState = MISS, *, gtids: G | None = None, purged: G | None = None,
         configured: bool = True, role: Role = Role.NONE) -> Instance:
    return Instance(index=index, address=f"m-{index}", uuid=f"uuid-{index}", state=state, role=role,
                    gtid_executed=gtids if gtids is not None else g(),
                    gtid_purged=purged if purged is not None else g(),
                    group_name="grp" if configured else "")


def group(states: dict[int, MemberState], primary: int | None = 0, gtids: G | None = None,
          purged: G | None = None, extra: tuple[Instance, ...] = (), multi: bool = False) -> list[Instance]:
    """Instances in one group whose view lists ``states``; each member reports the same view."""
    def role(i: int, s: MemberState) -> Role:
        if s != ON:
            return Role.NONE
        return Role.PRIMARY if multi or i == primary else Role.SECONDARY

    view = tuple(Member(f"uuid-{i}", f"m-{i}", s, role(i, s)) for i, s in sorted(states.items()))
    out = []
    for i, s in sorted(states.items()):
        if s == UNR:
            out.append(unreachable(i, f"m-{i}"))
            continue
        role = Role.PRIMARY if (multi or i == primary) and s == ON else Role.SECONDARY
        out.append(replace(inst(i, s, gtids=gtids or upto(10), purged=purged or g(), role=role), view=view))
    return out + list(extra)


def snap(instances: list[Instance] | tuple[Instance, ...], desired: int = 3, **kwargs: object) -> Snapshot:
    return Snapshot(tuple(instances), Desired(instances=desired, **kwargs))  # type: ignore[arg-type]


def plan(s: Snapshot) -> Plan:
    return next_action(s, decide(s))


# The named scenarios (observed from a fake group, planned, executed) are in test_group_scenarios.py.


def test_reboot_counts_transactions_still_in_a_relay_log() -> None:
    """A member that received (but had not applied) the last certified writes is the most advanced."""
    applied_more = inst(0, OFF, gtids=upto(8))
    received_more = replace(inst(1, OFF, gtids=upto(6)), gtid_total=upto(10))
    s = snap([applied_more, received_more, inst(2, OFF, gtids=upto(5))])
    action = plan(s).action
    assert action is not None and action.kind == Kind.REBOOT and action.target == 1


def test_a_leave_that_would_cost_the_majority_waits() -> None:
    # view {0 ON, 1 ON, 2 UNREACHABLE}: scale to 1 would remove 1, leaving {0, 2-unreachable}
    s = snap(group({0: ON, 1: ON, 2: UNR}), desired=1)
    result = plan(s)
    assert result.action is None and result.reason == Reason.WAITING_FOR_EXPEL and result.subjects == (1,)


def test_group_mode_is_read_from_the_members_setting_not_from_counting_primaries() -> None:
    one_member_multi = [replace(i, single_primary=False) for i in group({0: ON}, multi=True)]
    s = snap(one_member_multi, desired=1, mode=GroupMode.MULTI_PRIMARY)
    assert decide(s).mode == GroupMode.MULTI_PRIMARY
    assert plan(s).action is None


def test_joins_carry_the_groups_current_mode() -> None:
    multi = [replace(i, single_primary=False) for i in group({0: ON, 1: ON}, multi=True)]
    s = snap([*multi, inst(2, configured=False)], mode=GroupMode.SINGLE_PRIMARY)
    action = plan(s).action
    assert action is not None and action.kind == Kind.JOIN and action.mode == GroupMode.MULTI_PRIMARY


def test_clone_is_chosen_only_when_no_donor_still_has_what_the_joiner_lacks() -> None:
    purged = snap([*group({0: ON, 1: ON}, purged=upto(5)), inst(2, configured=False)])
    assert plan(purged).action.clone is True  # type: ignore[union-attr]
    covered = snap([*group({0: ON, 1: ON}, purged=upto(5)), inst(2, OFF, gtids=upto(6))])
    assert plan(covered).action.clone is False  # type: ignore[union-attr]


def test_the_primary_is_handed_to_the_most_caught_up_member_before_its_restart() -> None:
    members = group({0: ON, 1: ON, 2: ON}, primary=1)
    members[0] = replace(members[0], gtid_executed=upto(9))  # behind: not the heir
    handover = plan(snap(members, hand_over_from=1))
    assert (handover.reason, handover.action) == (Reason.HANDOVER, Action(Kind.SET_PRIMARY, 2))
    assert "moving the primary from m-1 to m-2 before m-1 restarts" in plan_message(
        handover, lambda i: f"m-{i}")
    assert plan(snap(members, hand_over_from=2)).reason == Reason.CONVERGED, "not the primary: nothing to move"
    waiting = plan(snap(group({0: ON, 1: ON, 2: REC}, primary=1), hand_over_from=1))
    assert waiting.action is None, "not while a member is still recovering"


def with_versions(members: list[Instance], versions: dict[int, str]) -> list[Instance]:
    """Every instance's view lists each member's MySQL version (MEMBER_VERSION)."""
    def view(i: Instance) -> tuple[Member, ...]:
        return tuple(replace(m, version=versions[int(m.uuid.removeprefix("uuid-"))]) for m in i.view)
    return [replace(i, view=view(i)) for i in members]


def test_in_a_mixed_version_group_only_a_member_on_the_lowest_version_takes_the_primary() -> None:
    members = group({0: ON, 1: ON, 2: ON}, primary=1)
    members[2] = replace(members[2], gtid_executed=upto(11))  # the most caught up, but upgraded
    mixed = with_versions(members, {0: "9.7.4", 1: "9.7.4", 2: "9.7.5"})
    handover = plan(snap(mixed, hand_over_from=1))
    assert handover.action == Action(Kind.SET_PRIMARY, 0), "Group Replication refuses 9.7.5 while 9.7.4 runs"
    last = with_versions(members, {0: "9.7.5", 1: "9.7.4", 2: "9.7.5"})
    assert plan(snap(last, hand_over_from=1)).reason == Reason.CONVERGED, "no member may take over: no handover"
    unknown = with_versions(members, {0: "9.7.5", 1: "9.7.4", 2: ""})
    assert plan(snap(unknown, hand_over_from=1)).action == Action(Kind.SET_PRIMARY, 2), "versions unknown: any"


def test_at_deletion_members_leave_highest_first_and_the_primary_last_forced() -> None:
    members = group({0: ON, 1: ON, 2: ON}, primary=1)
    assert plan(snap(members, finalizing=True)) == Plan(Action(Kind.LEAVE, 2), Reason.FINALIZING, (2,))
    two = group({0: ON, 1: ON}, primary=1)
    assert plan(snap(two, finalizing=True)).action == Action(Kind.LEAVE, 0), "a secondary before the primary"
    last = group({1: ON}, primary=1)
    assert plan(snap(last, finalizing=True)).action == Action(Kind.LEAVE, 1, forced=True)
    multi = group({0: ON, 1: ON}, multi=True)
    assert plan(snap(multi, finalizing=True)).action == Action(Kind.LEAVE, 1), "multi-primary: ordinal 0 last"
    down = [unreachable(0, "m-0"), inst(1, OFF), inst(2, OFF)]
    assert plan(snap(down, finalizing=True)) == Plan(None, Reason.FINALIZED), "nothing in a group: done"
    broken = group({0: ON, 1: UNR, 2: UNR}, primary=0)
    assert plan(snap(broken, finalizing=True)).action == Action(Kind.LEAVE, 0, forced=True), "no quorum: still"


def test_refusals_are_typed_and_name_the_instances_they_are_about() -> None:
    divergent = snap([inst(0, OFF, gtids=g(1, 3)), inst(1, OFF, gtids=g(1, 4)), inst(2, OFF, gtids=g(1))])
    assert plan(divergent) == Plan(None, Reason.GTIDS_DIVERGED)
    uncertain = snap([inst(0, OFF, gtids=upto(9)), unreachable(1, "m-1"), inst(2, OFF)])
    assert plan(uncertain) == Plan(None, Reason.OUTAGE_UNPROVEN, (1,))
    assert plan(uncertain).blocked and not Reason.WAITING_FOR_PODS.needs_person


def test_an_instance_of_another_group_blocks_everything_else() -> None:
    theirs = [replace(i, group_name="theirs") for i in group({0: ON, 1: ON, 2: ON})]
    s = Snapshot(tuple(theirs), Desired(instances=3, group_name="mine"))
    assert plan(s) == Plan(None, Reason.FOREIGN_GROUP, (0, 1, 2))
    same = Snapshot(tuple(replace(i, group_name="MINE") for i in theirs), Desired(instances=3, group_name="mine"))
    assert plan(same).reason == Reason.CONVERGED, "group names compare without case"


def test_majority_rule_counts_unreachable_members_against_quorum() -> None:
    m = lambda s: Member("u", "a", s)  # noqa: E731
    assert has_majority((m(ON), m(ON), m(UNR)))
    assert not has_majority((m(ON), m(UNR), m(UNR)))
    assert not has_majority((m(ON), m(UNR)))
    assert not has_majority(())


# --- properties over random snapshots --------------------------------------------------

states = st.sampled_from([ON, REC, OFF, ERR, UNR, MISS])


@st.composite
def snapshots(draw: st.DrawFn) -> Snapshot:
    n = draw(st.integers(1, 5))
    instances = []
    views: list[tuple[Member, ...]] = []
    for _ in range(draw(st.integers(0, 2))):  # zero, one or two (possibly conflicting) group views
        members = draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=n, unique=True))
        views.append(tuple(Member(f"uuid-{i}", f"m-{i}", draw(states), draw(st.sampled_from(list(Role))))
                           for i in sorted(members)))
    for i in range(n):
        if draw(st.booleans()) and draw(st.booleans()):
            instances.append(unreachable(i, f"m-{i}"))
            continue
        view = draw(st.sampled_from(views)) if views and draw(st.booleans()) else ()
        own = next((m.state for m in view if m.uuid == f"uuid-{i}"), None)
        state = own if own in (ON, REC) else draw(st.sampled_from([OFF, ERR, MISS]))
        instances.append(Instance(
            index=i, address=f"m-{i}", uuid=f"uuid-{i}", state=state, view=view if state in (ON, REC) else (),
            gtid_executed=G(draw(st.sets(st.integers(1, 6)))), gtid_purged=G(draw(st.sets(st.integers(1, 3)))),
            group_name=draw(st.sampled_from(["", "grp"]))))
    desired = Desired(instances=draw(st.integers(1, 5)), mode=draw(st.sampled_from(list(GroupMode))),
                      group_name=draw(st.sampled_from(["", "grp", "other"])))
    return Snapshot(tuple(instances), desired)


@settings(max_examples=400, deadline=None)
@given(snapshots())
def test_never_bootstrap_while_any_instance_is_in_a_group_unreachable_or_configured_before(s: Snapshot) -> None:
    action = plan(s).action
    if action is not None and action.kind == Kind.BOOTSTRAP:
        assert all(i.reachable and not i.in_group and not i.ever_configured for i in s.instances)


@settings(max_examples=400, deadline=None)
@given(snapshots())
def test_reboot_only_after_a_proven_outage_from_an_instance_holding_every_transaction(s: Snapshot) -> None:
    action = plan(s).action
    if action is not None and action.kind == Kind.REBOOT:
        assert not any(i.in_group for i in s.instances)
        assert all(i.reachable for i in s.instances)
        target = s.by_index(action.target)
        assert target is not None and target.gtid_executed is not None
        assert all(target.gtid_executed.is_superset(o.gtid_executed) for o in s.instances  # type: ignore[arg-type]
                   if o.gtid_executed is not None)


@settings(max_examples=400, deadline=None)
@given(snapshots())
def test_membership_changes_only_with_quorum_and_never_remove_a_wanted_member(s: Snapshot) -> None:
    diagnosis = decide(s)
    action = next_action(s, diagnosis).action
    if action is not None and action.kind in (Kind.JOIN, Kind.LEAVE, Kind.SET_PRIMARY, Kind.SET_MODE):
        assert diagnosis.state.has_quorum
    if action is not None and action.kind == Kind.LEAVE:
        assert action.target >= s.desired.instances


@settings(max_examples=400, deadline=None)
@given(snapshots())
def test_every_plan_explains_itself_and_a_blocked_plan_never_acts(s: Snapshot) -> None:
    result = plan(s)
    assert plan_message(result, lambda i: f"pod-{i}")
    assert not (result.blocked and result.action is not None)


@settings(max_examples=400, deadline=None)
@given(snapshots())
def test_nothing_is_done_to_a_cluster_holding_another_groups_instances(s: Snapshot) -> None:
    foreign = [i for i in s.instances if i.reachable and i.group_name and s.desired.group_name
               and i.group_name != s.desired.group_name]
    if foreign:
        assert plan(s).action is None


@settings(max_examples=400, deadline=None)
@given(snapshots())
def test_a_planned_leave_never_costs_the_group_its_majority(s: Snapshot) -> None:
    diagnosis = decide(s)
    action = next_action(s, diagnosis).action
    if action is not None and action.kind == Kind.LEAVE:
        leaver = s.by_index(action.target)
        assert leaver is not None
        rest = [m for m in diagnosis.view if m.uuid != leaver.uuid]
        assert sum(1 for m in rest if m.state != UNR) * 2 > len(rest)


@settings(max_examples=200, deadline=None)
@given(snapshots())
def test_a_second_bootstrap_is_impossible_once_any_instance_reports_a_group(s: Snapshot) -> None:
    after = Snapshot(tuple(replace(i, group_name="grp") if i.index == 0 else i for i in s.instances), s.desired)
    action = plan(after).action
    assert action is None or action.kind != Kind.BOOTSTRAP
