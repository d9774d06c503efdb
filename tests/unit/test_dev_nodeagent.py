"""Pure parts of the node agent (innodb_dev): what its stand-in DNS publishes."""

from __future__ import annotations

from typing import Any

from innodb_dev.nodeagent import addons


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
