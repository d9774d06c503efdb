"""The Helm charts with real Helm against a real API server; the operator under the chart's RBAC."""

from __future__ import annotations

import json
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from innodb_dev import toolchain
from innodb_dev.controlplane import ControlPlane
from innodb_dev.operator_process import OperatorProcess, wait_until
from kube.conftest import kubectl
from kube.test_cluster_children import EXPECTED_CHILDREN, children, converge, get_json, root_secret

REPO = Path(__file__).resolve().parents[2]
OPERATOR_CHART = REPO / "charts" / "mysql-operator"
CLUSTER_CHART = REPO / "charts" / "mysql-innodbcluster"
JOURNEY_VALUES = {
    "credentials": {"root": {"password": "sakila"}},
    "serverConfig": {"mycnf": "[mysqld]\nmax_connections=300\n"},
    "tls": {"useSelfSigned": True},
}


def helm(cp: ControlPlane | None, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    argv = [str(toolchain.binaries().helm), *args]
    if cp is not None:
        argv += ["--kubeconfig", str(cp.kubeconfig)]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=180)
    if check and result.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture
def journey_values(tmp_path: Path) -> Path:
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(JOURNEY_VALUES))
    return path


def test_both_charts_lint_clean(journey_values: Path) -> None:
    for chart, extra in ((OPERATOR_CHART, []), (CLUSTER_CHART, ["-f", str(journey_values)])):
        result = helm(None, "lint", "--strict", str(chart), *extra)
        assert "0 chart(s) failed" in result.stdout


def test_cluster_chart_renders_the_journey_values_into_a_secret_and_an_innodbcluster(journey_values: Path) -> None:
    out = helm(None, "template", "mycluster", str(CLUSTER_CHART), "-n", "mysql-cluster", "-f", str(journey_values))
    docs = {d["kind"]: d for d in yaml.safe_load_all(out.stdout) if d}
    assert docs["Secret"]["stringData"]["rootPassword"] == "sakila"
    spec = docs["InnoDBCluster"]["spec"]
    assert docs["InnoDBCluster"]["metadata"]["name"] == "mycluster"
    assert spec["secretName"] == docs["Secret"]["metadata"]["name"]
    assert spec["mycnf"] == "[mysqld]\nmax_connections=300\n"
    assert spec["tlsUseSelfSigned"] is True
    assert spec["instances"] == 3 and spec["router"]["instances"] == 1


def test_cluster_chart_without_a_password_says_which_value_to_set() -> None:
    result = helm(None, "template", "mycluster", str(CLUSTER_CHART), check=False)
    assert result.returncode != 0
    assert "credentials.root.password is required" in result.stderr


@pytest.fixture
def operator_release(control_plane: ControlPlane) -> Iterator[tuple[str, str]]:
    """The operator chart installed in a namespace of its own: (release, namespace)."""
    release = f"op-{secrets.token_hex(3)}"
    helm(control_plane, "install", release, str(OPERATOR_CHART), "-n", release, "--create-namespace", "--wait=false")
    yield release, release
    helm(control_plane, "uninstall", release, "-n", release, check=False)
    kubectl(control_plane, "delete", "namespace", release, "--wait=false", check=False)


def service_account_kubeconfig(cp: ControlPlane, release: str, namespace: str, path: Path) -> Path:
    token = kubectl(cp, "create", "token", release, "-n", namespace, "--duration=1h").strip()
    config = json.loads(cp.kubeconfig.read_text())
    config["users"] = [{"name": "sa", "user": {"token": token}}]
    config["contexts"][0]["context"]["user"] = "sa"
    path.write_text(json.dumps(config))
    return path


def test_install_then_reuse_values_upgrades_scale_servers_and_routers_then_uninstall(
    control_plane: ControlPlane, namespace: str, journey_values: Path, tmp_path: Path,
    operator_release: tuple[str, str], operators: list[OperatorProcess],
) -> None:
    release, op_namespace = operator_release
    assert get_json(control_plane, op_namespace, "deployment", release)["spec"]["replicas"] == 1
    proc = OperatorProcess(service_account_kubeconfig(control_plane, release, op_namespace, tmp_path / "kc"),
                           tmp_path / "operator.log", identity="chart-sa",
                           extra_args=["--namespaces", namespace, "--lease-namespace", op_namespace,
                                       "--lease-name", release, "--poll-seconds", "5"])
    operators.append(proc.start())

    helm(control_plane, "install", "mycluster", str(CLUSTER_CHART), "-n", namespace, "-f", str(journey_values))
    converge(control_plane, namespace, EXPECTED_CHILDREN - {("serviceaccount", "mycluster-backup"),
                                                            ("role", "mycluster-backup"),
                                                            ("rolebinding", "mycluster-backup")})

    def replicas(kind: str, name: str) -> int:
        obj = children(control_plane, namespace).get((kind, name))
        return int(obj["spec"]["replicas"]) if obj else -1

    assert replicas("statefulset", "mycluster") == 3 and replicas("deployment", "mycluster-router") == 1
    helm(control_plane, "upgrade", "mycluster", str(CLUSTER_CHART), "-n", namespace, "--reuse-values",
         "--set", "serverInstances=5")
    wait_until(lambda: replicas("statefulset", "mycluster") == 5, 30, message="5 server replicas")
    helm(control_plane, "upgrade", "mycluster", str(CLUSTER_CHART), "-n", namespace, "--reuse-values",
         "--set", "routerInstances=3")
    wait_until(lambda: replicas("deployment", "mycluster-router") == 3, 30, message="3 router replicas")
    assert replicas("statefulset", "mycluster") == 5
    table = kubectl(control_plane, "get", "ic", "mycluster", "-n", namespace)
    header, row = table.splitlines()[:2]
    columns = dict(zip(header.split(), row.split(), strict=False))
    assert columns.get("INSTANCES") == "5" and columns.get("ROUTERS") == "3", table
    secret = get_json(control_plane, namespace, "secret", "mycluster-cluster-secret")
    assert secret["data"]["rootPassword"] == "c2FraWxh"  # the password survived both upgrades

    helm(control_plane, "uninstall", "mycluster", "-n", namespace)
    wait_until(lambda: not children(control_plane, namespace), 90, interval=0.5,
               message="uninstall to remove the cluster and the garbage collector its children")


def forbidden_responses(cp: ControlPlane, user: str) -> list[str]:
    return [f"{e['verb']} {e['requestURI']}" for e in cp.audit_events(user=user)
            if (e.get("responseStatus") or {}).get("code") == 403]


@pytest.mark.parametrize("scope", ["cluster-wide", "namespaced"])
def test_the_operator_under_the_chart_rbac_reconciles_without_a_single_forbidden(
    control_plane: ControlPlane, namespace: str, tmp_path: Path, operators: list[OperatorProcess], scope: str,
) -> None:
    release = f"op-{secrets.token_hex(3)}"
    extra = ["--set", f"watchNamespaces={{{namespace}}}"] if scope == "namespaced" else []
    helm(control_plane, "install", release, str(OPERATOR_CHART), "-n", release, "--create-namespace", *extra)
    try:
        rules: list[dict[str, Any]] = []
        for kind in ("clusterrole", "role"):
            for ns in ([release] if kind == "clusterrole" else [release, namespace]):
                found = get_json(control_plane, ns, kind, "-l", f"app.kubernetes.io/instance={release}")
                rules += [r for item in (found or {}).get("items", []) for r in item.get("rules", [])]
        assert rules, "the chart installed no RBAC rules"
        for rule in rules:
            for key in ("verbs", "resources", "apiGroups"):
                assert "*" not in rule.get(key, []), f"wildcard in {key}: {rule}"

        proc = OperatorProcess(service_account_kubeconfig(control_plane, release, release, tmp_path / "kc"),
                               tmp_path / "operator.log", identity="rbac",
                               extra_args=["--namespaces", namespace, "--lease-namespace", release,
                                           "--lease-name", release, "--poll-seconds", "5"])
        operators.append(proc.start())
        wait_until(lambda: proc.get("/readyz")[0] == 200, 30, message="the operator to be ready")
        kubectl(control_plane, "apply", "-f", "-", stdin=json.dumps(root_secret(namespace)))
        from kube.test_cluster_children import cluster_manifest

        kubectl(control_plane, "apply", "-f", "-", stdin=json.dumps(cluster_manifest(namespace)))
        converge(control_plane, namespace, EXPECTED_CHILDREN)
        user = f"system:serviceaccount:{release}:{release}"
        assert forbidden_responses(control_plane, user) == []
        assert proc.metric("innodb_operator_api_requests_total", code="403") is None
        assert [e for e in control_plane.audit_events(user=user) if e["verb"] == "create"], \
            "the audit log shows no request from the chart's ServiceAccount"
    finally:
        helm(control_plane, "uninstall", release, "-n", release, check=False)
        kubectl(control_plane, "delete", "namespace", release, "--wait=false", check=False)


@pytest.mark.parametrize(("path", "extra"), [("manifests/operator.yaml", []),
                                             ("manifests/operator-namespaced.yaml",
                                              ["--set", "watchNamespaces={mysql-cluster}"])])
def test_rendered_manifests_match_the_chart(path: str, extra: list[str]) -> None:
    rendered = helm(None, "template", "mysql-operator", str(OPERATOR_CHART), "--namespace", "mysql-operator",
                    "--include-crds", *extra).stdout
    committed = (REPO / path).read_text().split("\n", 1)[1]
    assert committed == rendered, f"{path} is stale: run ./dev/render-manifests and commit the result"


def test_the_chart_ships_exactly_the_generated_crds() -> None:
    generated = {p.name: p.read_text() for p in (REPO / "manifests" / "crds").glob("*.yaml")}
    shipped = {p.name: p.read_text() for p in (OPERATOR_CHART / "crds").glob("*.yaml")}
    assert shipped == generated, "charts/mysql-operator/crds is stale: run ./dev/render-manifests"
