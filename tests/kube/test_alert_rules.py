"""The alert rules and dashboard with the real tools: promtool checks and unit-tests the rules and
every dashboard query, Helm renders the PrometheusRule and the dashboard ConfigMap from the same files.

No control plane: promtool (from ``innodb_dev.monitoring``) and Helm (``innodb_dev.toolchain``),
both installed by ./dev/setup. A missing tool fails the test with the command that installs it.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from innodb_dev import toolchain

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "mysql-operator"
RULES = CHART / "files" / "alerts.yaml"
DASHBOARD = CHART / "files" / "dashboard.json"
RULE_TESTS = Path(__file__).with_name("alerts_test.yaml")
API = "monitoring.coreos.com/v1/PrometheusRule"
# What Grafana puts in place of the dashboard's variables, for checking its queries with promtool.
GRAFANA_VARIABLES = {"namespace": ".*", "cluster": ".*", "operator_job": "innodb-operator",
                     "__rate_interval": "2m", "__interval": "1m", "__range": "6h"}


def promtool() -> Path:
    try:
        from innodb_dev import monitoring
    except ImportError as exc:  # pragma: no cover - the module ships with ./dev/setup's monitoring step
        pytest.fail(f"innodb_dev.monitoring is missing ({exc}); promtool cannot be located", pytrace=False)
    try:
        return monitoring.promtool_binary()
    except monitoring.NotInstalled as exc:
        pytest.fail(str(exc), pytrace=False)


def run_promtool(*args: str, cwd: Path = REPO) -> str:
    result = subprocess.run([str(promtool()), *args], capture_output=True, text=True, timeout=120, cwd=cwd)
    assert result.returncode == 0, f"promtool {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def helm_template(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    binary = toolchain.binaries().helm
    if not binary.exists():
        pytest.fail(f"helm not installed ({binary} missing); run: {toolchain.INSTALL_HINT}", pytrace=False)
    result = subprocess.run([str(binary), "template", "mysql-operator", str(CHART), "-n", "mysql-operator", *args],
                            capture_output=True, text=True, timeout=120)
    if check:
        assert result.returncode == 0, f"helm template {' '.join(args)}:\n{result.stderr}"
    return result


def rendered(*args: str) -> dict[str, dict[str, Any]]:
    """Every rendered object by kind (the chart renders at most one of each kind this test looks at)."""
    return {d["kind"]: d for d in yaml.safe_load_all(helm_template(*args).stdout) if d}


def plain_groups() -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = yaml.safe_load(RULES.read_text())["groups"]
    return groups


def test_promtool_checks_the_rules_file() -> None:
    out = run_promtool("check", "rules", str(RULES))
    count = sum(len(g["rules"]) for g in plain_groups())
    assert f"SUCCESS: {count} rules found" in out


def test_promtool_unit_tests_of_the_alerts_pass() -> None:
    """NotOnline and MembersBelowSpec fire and resolve, OperatorViewStale fires, and the others (alerts_test.yaml)."""
    text = RULE_TESTS.read_text()
    for alert in ("InnoDBClusterNotOnline", "InnoDBClusterMembersBelowSpec", "InnoDBOperatorViewStale"):
        assert f"alertname: {alert}" in text
    assert "SUCCESS" in run_promtool("test", "rules", RULE_TESTS.name, cwd=RULE_TESTS.parent)


def grafana_substitute(expr: str) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        assert name in GRAFANA_VARIABLES, f"unknown dashboard variable ${name} in {expr}"
        return GRAFANA_VARIABLES[name]
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", value, expr)


def test_every_dashboard_query_is_valid_promql(tmp_path: Path) -> None:
    doc = json.loads(DASHBOARD.read_text())
    exprs: dict[str, str] = {}

    def collect(panels: list[dict[str, Any]]) -> None:
        for panel in panels:
            for target in panel.get("targets", []):
                exprs[f"dashboard:panel{panel['id']}_{target['refId']}"] = target["expr"]
            collect(panel.get("panels", []))

    collect(doc["panels"])
    for var in doc["templating"]["list"]:
        query = var.get("query")
        query = query.get("query") if isinstance(query, dict) else query
        inner = re.fullmatch(r"label_values\((.*), \w+\)", query or "")
        if inner:
            exprs[f"dashboard:variable_{var['name']}"] = inner.group(1)
    assert len(exprs) > 40
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": name, "expr": grafana_substitute(expr)} for name, expr in exprs.items()]}]}
    path = tmp_path / "dashboard-queries.yaml"
    path.write_text(yaml.safe_dump(rules, sort_keys=False))
    assert f"SUCCESS: {len(exprs)} rules found" in run_promtool("check", "rules", str(path))


# ---------------------------------------------------------------- Helm

def test_the_prometheusrule_renders_only_with_its_api_or_when_forced() -> None:
    assert "PrometheusRule" not in rendered()
    assert "PrometheusRule" not in rendered("--api-versions", API)            # alerts.enabled is false
    assert "PrometheusRule" not in rendered("--set", "alerts.enabled=true")   # no such API
    assert "PrometheusRule" in rendered("--set", "alerts.enabled=true", "--api-versions", API)
    assert "PrometheusRule" in rendered("--set", "alerts.enabled=true", "--set", "alerts.force=true")


def test_the_prometheusrule_holds_the_plain_files_rules_unchanged() -> None:
    rule = rendered("--set", "alerts.enabled=true", "--api-versions", API,
                    "--set", "alerts.labels.release=kube-prometheus-stack")["PrometheusRule"]
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["metadata"]["name"] == "mysql-operator" and rule["metadata"]["namespace"] == "mysql-operator"
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert rule["metadata"]["labels"]["app.kubernetes.io/name"] == "mysql-operator"
    assert rule["spec"] == {"groups": plain_groups()}


def test_for_overrides_and_the_runbook_base_change_only_those_fields(tmp_path: Path) -> None:
    base = "https://git.example.com/innodb-operator/blob/main/docs/alerts.md"
    spec = rendered("--set", "alerts.enabled=true", "--api-versions", API,
                    "--set", "alerts.for.notOnline=1m", "--set", "alerts.for.viewStale=1h30m",
                    "--set", "alerts.for.membersBelowSpec=", "--set", f"alerts.runbookBaseUrl={base}",
                    )["PrometheusRule"]["spec"]
    expected = copy.deepcopy(plain_groups())
    for group in expected:
        for rule in group["rules"]:
            rule["for"] = {"InnoDBClusterNotOnline": "1m", "InnoDBOperatorViewStale": "1h30m"}.get(
                rule["alert"], rule["for"])  # an empty value keeps the file's
            rule["annotations"]["runbook_url"] = f"{base}#{rule['alert'].lower()}"
    assert spec == {"groups": expected}
    (tmp_path / "rendered.yaml").write_text(yaml.safe_dump(spec))
    run_promtool("check", "rules", str(tmp_path / "rendered.yaml"))


@pytest.mark.parametrize(("setting", "message"), [
    ("alerts.for.notonline=5m", "alerts.for.notonline: no such alert; the keys are backupFailed, "),
    ("alerts.for.notOnline=5", 'alerts.for.notOnline: "5" is not a Prometheus duration'),
])
def test_a_wrong_for_override_fails_the_render_and_says_why(setting: str, message: str) -> None:
    result = helm_template("--set", "alerts.enabled=true", "--set", "alerts.force=true", "--set", setting,
                           check=False)
    assert result.returncode != 0 and message in result.stderr, result.stderr


def test_the_dashboard_configmap_carries_the_dashboard_file() -> None:
    assert "ConfigMap" not in rendered()
    config_map = rendered("--set", "dashboard.enabled=true", "--set", "dashboard.namespace=monitoring",
                          "--set", "dashboard.annotations.grafana_folder=MySQL")["ConfigMap"]
    meta = config_map["metadata"]
    assert meta["name"] == "mysql-operator-dashboard" and meta["namespace"] == "monitoring"
    assert meta["labels"]["grafana_dashboard"] == "1" and meta["annotations"] == {"grafana_folder": "MySQL"}
    assert json.loads(config_map["data"]["innodb-cluster.json"]) == json.loads(DASHBOARD.read_text())


def test_the_chart_lints_clean_with_alerts_and_dashboard_on() -> None:
    binary = toolchain.binaries().helm
    if not binary.exists():
        pytest.fail(f"helm not installed ({binary} missing); run: {toolchain.INSTALL_HINT}", pytrace=False)
    result = subprocess.run([str(binary), "lint", "--strict", str(CHART), "--set", "alerts.enabled=true",
                             "--set", "alerts.force=true", "--set", "dashboard.enabled=true"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "0 chart(s) failed" in result.stdout, result.stdout + result.stderr
