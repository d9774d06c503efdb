"""Events: a repeat bumps the existing Event's count; an expired Event is created afresh."""

from __future__ import annotations

import copy
from typing import Any

from innodb_api import API_VERSION
from innodb_operator.kube import errors
from innodb_operator.kube.events import EventRecorder
from innodb_operator.kube.resources import ResourceType

CLUSTER = {"apiVersion": API_VERSION, "kind": "InnoDBCluster",
           "metadata": {"name": "c", "namespace": "ns", "uid": "u-1", "resourceVersion": "7"}}


class FakeEvents:
    """Stores Events by name; records every call."""

    def __init__(self) -> None:
        self.stored: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, str]] = []

    async def create(self, rt: ResourceType, body: dict[str, Any], namespace: str | None = None) -> dict[str, Any]:
        name = body["metadata"]["name"]
        self.calls.append(("create", name))
        if name in self.stored:
            raise errors.Conflict("events: already exists", status=409)
        self.stored[name] = copy.deepcopy(body)
        return body

    async def merge_patch(self, rt: ResourceType, name: str, patch: dict[str, Any],
                          namespace: str | None = None) -> dict[str, Any]:
        self.calls.append(("patch", name))
        if name not in self.stored:
            raise errors.NotFound("events: not found", status=404)
        self.stored[name].update(patch)
        return self.stored[name]


def recorder() -> tuple[EventRecorder, FakeEvents]:
    client = FakeEvents()
    return EventRecorder(client, "replica-a"), client  # type: ignore[arg-type]


async def test_a_repeated_event_bumps_the_count_of_the_existing_one() -> None:
    rec, client = recorder()
    for _ in range(3):
        await rec.emit(CLUSTER, "Warning", "InvalidSpec", "spec.mycnf: bad")
    assert [verb for verb, _ in client.calls] == ["create", "patch", "patch"]
    (event,) = client.stored.values()
    assert event["count"] == 3 and event["involvedObject"]["uid"] == "u-1"


async def test_a_repeat_of_an_expired_event_creates_a_fresh_one() -> None:
    rec, client = recorder()
    await rec.emit(CLUSTER, "Normal", "Created", "Created Secret c-privsecrets")
    await rec.emit(CLUSTER, "Normal", "Created", "Created Secret c-privsecrets")
    client.stored.clear()  # the API server expired it
    await rec.emit(CLUSTER, "Normal", "Created", "Created Secret c-privsecrets")
    assert [verb for verb, _ in client.calls] == ["create", "patch", "patch", "create"]
    (event,) = client.stored.values()
    assert event["count"] == 1 and event["reason"] == "Created"
    await rec.emit(CLUSTER, "Normal", "Created", "Created Secret c-privsecrets")
    assert next(iter(client.stored.values()))["count"] == 2  # counting restarts from the fresh Event


async def test_an_event_left_by_an_earlier_process_is_aggregated_into() -> None:
    rec, client = recorder()
    await rec.emit(CLUSTER, "Normal", "Created", "x")
    other = EventRecorder(client, "replica-b")  # type: ignore[arg-type]  # a new process, same API server
    await other.emit(CLUSTER, "Normal", "Created", "x")
    assert [verb for verb, _ in client.calls] == ["create", "create", "patch"]
    assert len(client.stored) == 1
