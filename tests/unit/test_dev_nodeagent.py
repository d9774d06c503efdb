"""Pure parts of the node agent (innodb_dev): what DNS publishes, and the CRI log format kubectl logs reads."""

from __future__ import annotations

from typing import Any

from innodb_dev.nodeagent import addons, logs


def _service(name: str, *, headless: bool = True, publish: bool = False) -> dict[str, Any]:
    spec: dict[str, Any] = {"clusterIP": "None" if headless else "10.96.0.10", "publishNotReadyAddresses": publish}
    return {"metadata": {"namespace": "ns", "name": name}, "spec": spec}


def _slice(service: str, *endpoints: tuple[str, str, bool]) -> dict[str, Any]:
    return {"metadata": {"namespace": "ns", "labels": {"kubernetes.io/service-name": service}},
            "endpoints": [{"addresses": [ip], "hostname": host, "conditions": {"ready": ready}}
                          for ip, host, ready in endpoints]}


def test_a_headless_service_publishes_ready_endpoints_only_unless_it_publishes_not_ready_ones() -> None:
    records = addons.dns_records(
        [_service("strict"), _service("eager", publish=True), _service("web", headless=False)],
        [_slice("strict", ("10.1.0.2", "strict-0", True), ("10.1.0.3", "strict-1", False)),
         _slice("eager", ("10.1.0.4", "eager-0", False))])
    lines = records.splitlines()
    assert "10.1.0.2\tstrict-0.strict.ns.svc.cluster.local strict.ns.svc.cluster.local" in lines
    assert not any("10.1.0.3" in line for line in lines), "a not-ready endpoint was published"
    assert "10.1.0.4\teager-0.eager.ns.svc.cluster.local eager.ns.svc.cluster.local" in lines
    assert "10.96.0.10\tweb.ns.svc.cluster.local web.ns.svc web.ns" in lines


def test_a_pod_knows_its_own_names_as_kubelet_writes_them() -> None:
    member = {"metadata": {"namespace": "ns", "name": "db-0"}, "spec": {"hostname": "db-0", "subdomain": "db"}}
    assert addons.pod_entries(member, "10.1.0.9") == "10.1.0.9\tdb-0.db.ns.svc.cluster.local db-0\n"
    plain = {"metadata": {"namespace": "ns", "name": "client"}, "spec": {}}
    assert addons.pod_entries(plain, "10.1.0.8") == "10.1.0.8\tclient\n"


def test_cri_log_lines_round_trip_and_render_as_kubectl_logs_prints_them() -> None:
    t0 = 1_700_000_000_123_456_789
    data = (logs.encode("stdout", b"one", partial=False, time_ns=t0)
            + logs.encode("stderr", b"tw", partial=True, time_ns=t0 + 1)
            + logs.encode("stderr", b"o", partial=False, time_ns=t0 + 2)
            + logs.encode("stdout", b"three", partial=False, time_ns=t0 + 3_000_000_000)
            + b"2023-11-14T22:13:23.1Z stdout F unfinish")  # a line still being written: not yet an entry
    entries, used = logs.parse(data)
    assert [e.content for e in entries] == [b"one\n", b"tw", b"o\n", b"three\n"]
    assert used == data.rfind(b"\n") + 1
    assert logs.Renderer(timestamps=False).feed(entries) == b"one\ntwo\nthree\n"
    stamped = logs.Renderer(timestamps=True).feed(entries).decode().splitlines()
    assert stamped[0] == "2023-11-14T22:13:20.123456789Z one"
    assert stamped[1:] == ["2023-11-14T22:13:20.12345679Z two", "2023-11-14T22:13:23.123456789Z three"]
    assert logs.Renderer(timestamps=False, limit=6).feed(entries) == b"one\ntw"
    assert logs.select(entries, tail_lines=1) == entries[-1:]
    assert logs.select(entries, tail_lines=0) == []
    assert logs.select(entries, since_ns=logs.parse_time("2023-11-14T22:13:21Z")) == entries[-1:]


def test_times_are_printed_like_go_rfc3339nano() -> None:
    assert logs.rfc3339_nano(1_700_000_000_000_000_000) == "2023-11-14T22:13:20Z"
    assert logs.rfc3339_nano(1_700_000_000_500_000_000) == "2023-11-14T22:13:20.5Z"
    assert logs.parse_time("2023-11-14T22:13:20.5Z") == 1_700_000_000_500_000_000
    assert logs.parse_time("2023-11-14T23:13:20+01:00") == 1_700_000_000_000_000_000
