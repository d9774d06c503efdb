"""The two status parts: what each loop reports, and when lastTransitionTime moves."""

from __future__ import annotations

from typing import Any

import pytest

from innodb_api.types import Cluster
from innodb_api.validation import FieldError
from innodb_operator.builders.status import (
    CredentialsProblem,
    GroupStatus,
    MemberStatus,
    NextStep,
    Observed,
    group_status,
    object_status,
)

T1, T2, T3 = "2030-01-01T00:00:00Z", "2030-01-01T00:01:00Z", "2030-01-01T00:02:00Z"
BAD_MYCNF = FieldError("spec.mycnf", "OwnedOption", "server_id is set by the operator")
CONVERGED = NextStep("Converged", "nothing to do")


def cluster(instances: int = 3, routers: int = 1) -> Cluster:
    return Cluster.from_object({
        "metadata": {"name": "c", "namespace": "ns", "uid": "u", "generation": 4},
        "spec": {"secretName": "c-secret", "instances": instances, "router": {"instances": routers}},
    })


def workload(ready: int, replicas: int) -> dict[str, Any]:
    """A StatefulSet or Deployment that has rolled out ``replicas`` with ``ready`` of them ready."""
    return {"metadata": {"generation": 2},
            "status": {"observedGeneration": 2, "replicas": replicas, "updatedReplicas": replicas,
                       "readyReplicas": ready}}


def group(state: str = "ONLINE", online: int = 3, instances: int = 3, **kwargs: Any) -> GroupStatus:
    members = tuple(MemberStatus(f"c-{i}", "ONLINE" if i < online else "MISSING") for i in range(instances))
    return GroupStatus(state, "explained", "g-1", instances, kwargs.pop("next", CONVERGED), members, online,
                       **kwargs)


def with_group(g: GroupStatus) -> dict[str, Any]:
    """A previous status holding the group manager's part only."""
    return group_status(g, 4, None, T1)


def merged(*parts: dict[str, Any]) -> dict[str, Any]:
    """The stored status when each loop applied its part (conditions merge by type)."""
    out: dict[str, Any] = {}
    for part in parts:
        out.update({k: v for k, v in part.items() if k != "conditions"})
        out["conditions"] = [*out.get("conditions", []), *part.get("conditions", [])]
    return out


def conditions(status: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}


OBJECT_CASES = [
    ("invalid spec: the group part still says ONLINE elsewhere", [BAD_MYCNF], group(),
     Observed(workload(3, 3), workload(1, 1)),
     {"SpecValid": ("False", "OwnedOption"), "Ready": ("False", "InvalidSpec"), "Available": ("True", "Serving")}),
    ("nothing created yet", [], None, Observed(),
     {"SpecValid": ("True", "Valid"), "Ready": ("False", "MembersNotOnline"), "Available": ("False", "NotServing"),
      "Progressing": ("True", "ScalingServers")}),
    ("partial", [], group("ONLINE_PARTIAL", 2), Observed(workload(2, 3), workload(1, 1)),
     {"Ready": ("False", "MembersNotOnline"), "Available": ("True", "Serving"), "Progressing": ("False", "Stable")}),
    ("online", [], group(), Observed(workload(3, 3), workload(1, 1)),
     {"SpecValid": ("True", "Valid"), "Ready": ("True", "AllMembersOnline"), "Available": ("True", "Serving"),
      "Progressing": ("False", "Stable")}),
    ("routers not ready", [], group(), Observed(workload(3, 3), workload(0, 1)),
     {"Ready": ("False", "RoutersNotReady"), "Available": ("False", "NotServing")}),
    ("routers rolling out", [], group(), Observed(workload(3, 3), workload(1, 1) | {"metadata": {"generation": 3}}),
     {"Progressing": ("True", "ScalingRouters")}),
]


@pytest.mark.parametrize(("case", "problems", "grp", "observed", "expected"), OBJECT_CASES,
                         ids=[c[0] for c in OBJECT_CASES])
def test_the_object_part(case: str, problems: list[FieldError], grp: GroupStatus | None, observed: Observed,
                         expected: dict[str, tuple[str, str]]) -> None:
    previous = with_group(grp) if grp is not None else None
    status = object_status(cluster(), problems, observed, previous, T1)
    got = conditions(status)
    assert {k: got[k] for k in expected} == expected
    assert set(got) <= {"SpecValid", "Ready", "Available", "Progressing"}
    assert "cluster" not in status, "the group's part is the group manager's"
    assert status["observedGeneration"] == 4 and status["router"]["instances"] == 1
    assert all(c["observedGeneration"] == 4 and c["lastTransitionTime"] == T1 and c["message"]
               for c in status["conditions"])


def test_an_invalid_spec_names_the_field_and_says_the_group_is_kept_healthy() -> None:
    status = object_status(cluster(), [BAD_MYCNF], Observed(), None, T1)
    (spec_valid,) = [c for c in status["conditions"] if c["type"] == "SpecValid"]
    assert spec_valid["message"].startswith("spec.mycnf: server_id is set by the operator")
    assert "last applied spec" in spec_valid["message"]


GROUP_CASES = [
    ("online", group(), {"GroupOnline": ("True", "Online"), "Degraded": ("False", "NotDegraded"),
                         "CredentialsValid": ("True", "Accepted")}),
    ("partial", group("ONLINE_PARTIAL", 2), {"GroupOnline": ("False", "OnlinePartial"),
                                             "Degraded": ("True", "MembersOffline")}),
    ("outage not proven", group("OFFLINE_UNCERTAIN", 0, next=NextStep("OutageUnproven", "c-2 cannot be reached")),
     {"GroupOnline": ("False", "OfflineUncertain"), "Degraded": ("True", "MembersOffline")}),
    ("credentials refused", group(credentials=CredentialsProblem("AccessDenied", "refused on c-1")),
     {"GroupOnline": ("True", "Online"), "CredentialsValid": ("False", "AccessDenied")}),
]


@pytest.mark.parametrize(("case", "grp", "expected"), GROUP_CASES, ids=[c[0] for c in GROUP_CASES])
def test_the_group_part(case: str, grp: GroupStatus, expected: dict[str, tuple[str, str]]) -> None:
    status = group_status(grp, 4, None, T1)
    got = conditions(status)
    assert {k: got[k] for k in expected} == expected
    assert set(got) == {"GroupOnline", "Degraded", "CredentialsValid"}
    summary = status["cluster"]
    assert summary["status"] == grp.state and summary["onlineInstances"] == grp.online
    assert summary["next"]["reason"] == grp.next.reason and summary["next"]["message"] == grp.next.message


def test_the_next_step_carries_the_action_and_its_target_when_there_is_one() -> None:
    step = NextStep("MemberMissing", "joining c-2 to the group (clone)", "Join", "c-2")
    summary = group_status(group("ONLINE_PARTIAL", 2, next=step), 4, None, T1)["cluster"]
    assert summary["next"] == {"reason": "MemberMissing", "message": "joining c-2 to the group (clone)",
                               "action": "Join", "target": "c-2"}
    message = next(c["message"] for c in group_status(group(next=step), 4, None, T1)["conditions"]
                   if c["type"] == "GroupOnline")
    assert "joining c-2" in message


def test_degraded_says_how_many_members_are_missing() -> None:
    status = group_status(group("PENDING", 0, 5), 4, None, T1)
    (degraded,) = [c for c in status["conditions"] if c["type"] == "Degraded"]
    assert degraded["status"] == "True" and degraded["message"] == "5 of 5 members not online."


def test_an_unchanged_cluster_yields_each_previous_part_unchanged() -> None:
    observed = Observed(workload(2, 3), workload(1, 1))
    first_group = group_status(group("ONLINE_PARTIAL", 2), 4, None, T1)
    first = object_status(cluster(), [], observed, first_group, T1)
    assert object_status(cluster(), [], observed, merged(first_group, first), T2) == first
    assert group_status(group("ONLINE_PARTIAL", 2), 4, merged(first_group, first), T2) == first_group


def test_group_name_and_create_time_are_kept_once_recorded() -> None:
    before = group_status(group("PENDING", 0), 4, None, T1)
    assert "createTime" not in before["cluster"]
    first = group_status(group(exists=True), 4, before, T2)
    assert first["cluster"]["createTime"] == T2 and first["cluster"]["groupName"] == "g-1"
    later = group_status(GroupStatus("OFFLINE", "x", "other", 3, CONVERGED), 4, first, T3)
    assert later["cluster"]["createTime"] == T2 and later["cluster"]["groupName"] == "g-1", "sticky"


def test_a_pass_that_could_not_look_keeps_what_was_seen_and_says_why() -> None:
    seen = group_status(group(exists=True), 4, None, T1)
    lost = GroupStatus("", "", "g-1", 3, NextStep("CredentialsLost", "reset through root"), observed=False,
                       credentials=CredentialsProblem("RootDenied", "root refused"))
    after = group_status(lost, 4, seen, T2)
    kept = {k: v for k, v in after["cluster"].items() if k != "next"}
    assert kept == {k: v for k, v in seen["cluster"].items() if k != "next"}
    assert after["cluster"]["next"] == {"reason": "CredentialsLost", "message": "reset through root"}
    assert conditions(after) == {"GroupOnline": ("True", "Online"), "Degraded": ("False", "NotDegraded"),
                                 "CredentialsValid": ("False", "RootDenied")}


def test_last_transition_time_moves_only_for_conditions_that_flip() -> None:
    first = group_status(group("ONLINE_PARTIAL", 2), 4, None, T1)
    second = group_status(group("ONLINE_PARTIAL", 1), 4, first, T2)  # another member drops
    (degraded,) = [c for c in second["conditions"] if c["type"] == "Degraded"]
    assert degraded["message"] == "2 of 3 members not online." and degraded["lastTransitionTime"] == T1
    third = group_status(group(), 4, second, T3)
    times = {c["type"]: (c["status"], c["lastTransitionTime"]) for c in third["conditions"]}
    assert times == {"GroupOnline": ("True", T3), "Degraded": ("False", T3), "CredentialsValid": ("True", T1)}


def test_every_cluster_state_is_in_the_api_and_has_a_condition_reason() -> None:
    from typing import get_args

    from innodb_api.types import ClusterState as ApiState
    from innodb_operator.builders import status
    from innodb_operator.clustering.state import ClusterState

    states = {s.value for s in ClusterState} | {"FINALIZING"}  # the group manager's own, at deletion
    assert states == set(get_args(ApiState)) == set(status._STATE_REASONS)
