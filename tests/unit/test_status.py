"""compute_status: the conditions and summary a pass reports, and when lastTransitionTime moves."""

from __future__ import annotations

from typing import Any

import pytest

from innodb_api.types import Cluster
from innodb_api.validation import FieldError
from innodb_operator.builders.status import Observed, compute_status

T1, T2, T3 = "2030-01-01T00:00:00Z", "2030-01-01T00:01:00Z", "2030-01-01T00:02:00Z"
BAD_MYCNF = FieldError("spec.mycnf", "OwnedOption", "server_id is set by the operator")


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


def conditions(status: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}


CASES = [
    ("invalid spec", [BAD_MYCNF], Observed(workload(3, 3), workload(1, 1)), "INVALID", 3, {
        "SpecValid": ("False", "OwnedOption"), "Ready": ("False", "InvalidSpec"),
        "Available": ("True", "MembersOnline")}),
    ("pending: nothing created yet", [], Observed(), "PENDING", 0, {
        "SpecValid": ("True", "Valid"), "Ready": ("False", "MembersNotOnline"),
        "Available": ("False", "NotServing"), "Progressing": ("True", "ScalingServers"),
        "Degraded": ("True", "MembersOffline")}),
    ("pending: created, none ready", [], Observed(workload(0, 3), workload(0, 1)), "PENDING", 0, {
        "SpecValid": ("True", "Valid"), "Ready": ("False", "MembersNotOnline"),
        "Available": ("False", "NotServing"), "Progressing": ("False", "Stable"),
        "Degraded": ("True", "MembersOffline")}),
    ("partial", [], Observed(workload(2, 3), workload(1, 1)), "ONLINE_PARTIAL", 2, {
        "SpecValid": ("True", "Valid"), "Ready": ("False", "MembersNotOnline"),
        "Available": ("True", "Serving"), "Progressing": ("False", "Stable"),
        "Degraded": ("True", "MembersOffline")}),
    ("online", [], Observed(workload(3, 3), workload(1, 1)), "ONLINE", 3, {
        "SpecValid": ("True", "Valid"), "Ready": ("True", "AllMembersOnline"),
        "Available": ("True", "Serving"), "Progressing": ("False", "Stable"),
        "Degraded": ("False", "NotDegraded")}),
    ("routers not ready", [], Observed(workload(3, 3), workload(0, 1)), "ONLINE", 3, {
        "SpecValid": ("True", "Valid"), "Ready": ("False", "RoutersNotReady"),
        "Available": ("False", "NotServing"), "Progressing": ("False", "Stable"),
        "Degraded": ("False", "NotDegraded")}),
    ("routers rolling out", [], Observed(workload(3, 3), workload(1, 1) | {"metadata": {"generation": 3}}),
     "ONLINE", 3, {"Progressing": ("True", "ScalingRouters"), "Degraded": ("False", "NotDegraded")}),
]


@pytest.mark.parametrize(("case", "problems", "observed", "state", "online", "expected"), CASES,
                         ids=[c[0] for c in CASES])
def test_conditions_and_summary(case: str, problems: list[FieldError], observed: Observed, state: str,
                                online: int, expected: dict[str, tuple[str, str]]) -> None:
    status = compute_status(cluster(), problems, observed, None, T1)
    got = conditions(status)
    assert {k: got[k] for k in expected} == expected
    assert status["cluster"]["status"] == state and status["cluster"]["onlineInstances"] == online
    assert status["cluster"]["instances"] == 3 and status["observedGeneration"] == 4
    assert all(c["observedGeneration"] == 4 and c["lastTransitionTime"] == T1 for c in status["conditions"])
    assert all(c["message"] for c in status["conditions"])


def test_an_invalid_spec_names_the_field_in_the_spec_valid_message() -> None:
    status = compute_status(cluster(), [BAD_MYCNF], Observed(), None, T1)
    (spec_valid,) = [c for c in status["conditions"] if c["type"] == "SpecValid"]
    assert spec_valid["message"].startswith("spec.mycnf: server_id is set by the operator")


def test_degraded_says_how_many_members_are_missing() -> None:
    status = compute_status(cluster(instances=5), [], Observed(workload(0, 5), workload(1, 1)), None, T1)
    (degraded,) = [c for c in status["conditions"] if c["type"] == "Degraded"]
    assert degraded["status"] == "True" and degraded["message"] == "5 of 5 members not online."


def test_an_unchanged_cluster_yields_the_previous_status_unchanged() -> None:
    observed = Observed(workload(2, 3), workload(1, 1))
    first = compute_status(cluster(), [], observed, None, T1)
    again = compute_status(cluster(), [], observed, first, T2)
    assert again == first


def test_last_transition_time_moves_only_for_conditions_that_flip() -> None:
    first = compute_status(cluster(), [], Observed(workload(2, 3), workload(1, 1)), None, T1)
    # Another member drops: Degraded stays True with a new message, so its time stays.
    second = compute_status(cluster(), [], Observed(workload(1, 3), workload(1, 1)), first, T2)
    (degraded,) = [c for c in second["conditions"] if c["type"] == "Degraded"]
    assert degraded["message"] == "2 of 3 members not online." and degraded["lastTransitionTime"] == T1
    # All members online: Ready and Degraded flip, the rest keep their times.
    third = compute_status(cluster(), [], Observed(workload(3, 3), workload(1, 1)), second, T3)
    times = {c["type"]: (c["status"], c["lastTransitionTime"]) for c in third["conditions"]}
    assert times == {"SpecValid": ("True", T1), "Ready": ("True", T3), "Available": ("True", T1),
                     "Progressing": ("False", T1), "Degraded": ("False", T3)}
