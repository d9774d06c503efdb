"""Debian's Prometheus finds pods through the real API server (``kubernetes_sd_configs``, role pod).

No node agent runs in this tier, so the pods never start: the test gives them an IP itself
(``127.0.0.1``, through the status subresource, as kubelet would) and serves their metrics from
this process. What is real: the API server, Prometheus's discovery, relabelling, scrapes, rule
evaluation and HTTP API, with the configuration ``./dev/up`` uses (:mod:`innodb_dev.monitoring`).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from innodb_dev import monitoring
from innodb_dev.controlplane import ControlPlane
from innodb_dev.waiting import wait_until
from kube.conftest import kubectl

# What the stub serves as every pod's /metrics: one series with namespace and cluster labels of its own,
# as the operator's cluster metrics carry them, and one without.
METRICS = (b"# TYPE innodb_test_cluster_status gauge\n"
           b'innodb_test_cluster_status{namespace="elsewhere",cluster="c1"} 1\n'
           b"# TYPE innodb_test_plain gauge\ninnodb_test_plain 1\n")


class _Metrics(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/metrics" else 404)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.end_headers()
        if self.path == "/metrics":
            self.wfile.write(METRICS)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def metrics_port() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Metrics)
    thread = threading.Thread(target=server.serve_forever, name="metrics-stub", daemon=True)
    thread.start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture(scope="module")
def prometheus(control_plane: ControlPlane,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[monitoring.Prometheus]:
    try:
        monitoring.prometheus_binary()
    except monitoring.NotInstalled as exc:
        pytest.fail(str(exc), pytrace=False)
    with monitoring.running(tmp_path_factory.mktemp("prometheus"), control_plane.kubeconfig) as prom:
        yield prom


def stub_pod(name: str, labels: dict[str, str], *containers: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels},
            "spec": {"serviceAccountName": "stub", "automountServiceAccountToken": False,
                     "containers": [{"image": "registry.invalid/stub", **c} for c in containers]}}


def create_pods(cp: ControlPlane, namespace: str, *pods: dict[str, Any]) -> None:
    """Pods bound to no node (so nothing runs them), each given ``127.0.0.1`` as its IP as kubelet would.

    They use a ServiceAccount of their own, created with them: the namespace's ``default`` one
    comes from the controller manager a few seconds after the namespace, on a fresh control plane.
    """
    account = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "stub"}}
    kubectl(cp, "create", "-n", namespace, "-f", "-",
            stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": [account, *pods]}))
    for pod in pods:
        kubectl(cp, "patch", "pod", "-n", namespace, pod["metadata"]["name"], "--subresource=status",
                "--type=merge", "-p", json.dumps({"status": {"podIP": "127.0.0.1", "podIPs": [{"ip": "127.0.0.1"}]}}))


def test_prometheus_scrapes_the_operator_and_exporter_pods_it_discovers_through_the_api_server(
        control_plane: ControlPlane, prometheus: monitoring.Prometheus, namespace: str, metrics_port: int) -> None:
    create_pods(
        control_plane, namespace,
        stub_pod("operator-abc", {"app.kubernetes.io/name": "mysql-operator"},
                 {"name": "operator", "ports": [{"name": "metrics", "containerPort": metrics_port},
                                                {"name": "health", "containerPort": metrics_port + 1}]}),
        stub_pod("mycluster-0", {"app.kubernetes.io/name": "mysql-innodbcluster",
                                 "mysql.innodb-operator.dev/cluster": "mycluster"},
                 {"name": "mysql", "ports": [{"name": "mysql", "containerPort": 3306}]},
                 {"name": "metrics", "ports": [{"name": "metrics", "containerPort": metrics_port}]}),
        stub_pod("bystander", {"app": "bystander"},
                 {"name": "web", "ports": [{"name": "metrics", "containerPort": metrics_port}]}))

    def ours() -> dict[str, dict[str, Any]]:
        return {t["labels"]["pod"]: t for t in prometheus.targets() if t["labels"].get("namespace") == namespace}

    wait_until(lambda: {p: t["health"] for p, t in ours().items()} == {"operator-abc": "up", "mycluster-0": "up"},
               20, interval=0.2, message=f"both targets up; targets: {ours()}")
    targets = ours()
    assert targets["operator-abc"]["labels"] == {
        "job": "innodb-operator", "instance": f"127.0.0.1:{metrics_port}", "namespace": namespace,
        "pod": "operator-abc", "container": "operator"}
    assert targets["mycluster-0"]["labels"] == {
        "job": "mysqld-exporter", "instance": f"127.0.0.1:{metrics_port}", "namespace": namespace,
        "pod": "mycluster-0", "container": "metrics", "cluster": "mycluster"}
    assert targets["operator-abc"]["scrapeUrl"] == f"http://127.0.0.1:{metrics_port}/metrics"

    def dropped() -> list[str]:
        return [t["discoveredLabels"]["__meta_kubernetes_pod_name"] for t in prometheus.targets("dropped")
                if t["discoveredLabels"].get("__meta_kubernetes_namespace") == namespace]
    wait_until(lambda: "bystander" in dropped(), 10, interval=0.2, message="bystander discovered (and dropped)")
    assert "bystander" not in ours()

    def series(promql: str) -> list[dict[str, str]]:
        return [s["metric"] for s in prometheus.query(promql)]

    # honor_labels on the operator's job: a metric's own namespace stays; the pod's fills in where it has none.
    operator = f'job="innodb-operator",pod="operator-abc",container="operator",instance="127.0.0.1:{metrics_port}"'
    wait_until(lambda: series(f"innodb_test_plain{{{operator}}}"), 10, interval=0.2,
               message="a scrape of the operator pod")
    [operator_status] = series(f"innodb_test_cluster_status{{{operator}}}")
    assert (operator_status["namespace"], operator_status["cluster"]) == ("elsewhere", "c1"), operator_status
    [operator_plain] = series(f"innodb_test_plain{{{operator}}}")
    assert operator_plain["namespace"] == namespace
    # the exporter's job keeps the target's labels (the scraped ones become exported_*)
    wait_until(lambda: series(f'innodb_test_plain{{job="mysqld-exporter",namespace="{namespace}"}}'), 10,
               interval=0.2, message="a scrape of the exporter container")
    [exporter_status] = series(f'innodb_test_cluster_status{{job="mysqld-exporter",namespace="{namespace}"}}')
    assert exporter_status["namespace"] == namespace and exporter_status["cluster"] == "mycluster"
    assert (exporter_status["exported_namespace"], exporter_status["exported_cluster"]) == ("elsewhere", "c1")
    assert prometheus.query(f'up{{job="innodb-operator",namespace="{namespace}"}}')[0]["value"][1] == "1"

    # a deleted pod is no target any more
    kubectl(control_plane, "delete", "pod", "-n", namespace, "mycluster-0", "--grace-period=0", "--force")
    wait_until(lambda: set(ours()) == {"operator-abc"}, 20, interval=0.2, message="mycluster-0's target gone")


def test_rule_files_load_on_reload_and_their_alerts_fire(prometheus: monitoring.Prometheus, tmp_path: Path) -> None:
    rules = tmp_path / "alerts.yaml"
    rules.write_text("groups:\n- name: test\n  rules:\n  - alert: AlwaysFiring\n    expr: vector(1) > 0\n"
                     "    labels: {severity: info}\n    annotations: {summary: always}\n")
    assert monitoring.check_rules(rules) == ""
    prometheus.reload(rule_files=[rules])
    assert [g["name"] for g in prometheus.rules()] == ["test"]
    wait_until(lambda: any(a["labels"]["alertname"] == "AlwaysFiring" and a["state"] == "firing"
                           for a in prometheus.alerts()), 15, interval=0.2, message="AlwaysFiring to fire")

    broken = tmp_path / "broken.yaml"
    broken.write_text("groups:\n- name: broken\n  rules:\n  - alert: Broken\n    expr: up{\n")
    assert "broken.yaml" in monitoring.check_rules(broken)
    with pytest.raises(monitoring.PrometheusError, match=r"broken\.yaml"):
        prometheus.reload(rule_files=[broken])
    assert [g["name"] for g in prometheus.rules()] == ["test"]  # it kept the configuration it had
    prometheus.reload(rule_files=[])
    assert prometheus.rules() == []
