"""The shipped alert rules, runbooks and Grafana dashboard agree with each other and with the metric names.

Pure file checks: the rules file parses and every alert carries what Alertmanager and a person
need, its runbook section exists, the dashboard's queries only name metrics the operator (or
the MySQL exporter) exports. promtool and Helm run in tests/kube/test_alert_rules.py.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "mysql-operator"
RULES = CHART / "files" / "alerts.yaml"
DASHBOARD = CHART / "files" / "dashboard.json"
VALUES = CHART / "values.yaml"
RUNBOOKS = REPO / "docs" / "alerts.md"

# The metric contract (docs/metrics.md): the operator's cluster and runtime series.
HISTOGRAMS = {
    "innodb_cluster_failover_duration_seconds",
    "workqueue_queue_duration_seconds",
    "workqueue_work_duration_seconds",
    "controller_runtime_reconcile_time_seconds",
    "rest_client_request_duration_seconds",
}
CONTRACT = HISTOGRAMS | {
    "innodb_cluster_members",
    "innodb_cluster_members_by_role",
    "innodb_cluster_member_info",
    "innodb_cluster_state",
    "innodb_cluster_instances_desired",
    "innodb_cluster_instances_online",
    "innodb_cluster_primary_changes_total",
    "innodb_cluster_rejoins_total",
    "innodb_cluster_reboots_total",
    "innodb_cluster_clones_total",
    "innodb_cluster_group_mode",
    "innodb_cluster_routers_desired",
    "innodb_cluster_routers_ready",
    "innodb_cluster_members_updated",
    "innodb_cluster_last_observation_timestamp_seconds",
    "innodb_cluster_backups_total",
    "innodb_cluster_backup_last_success_timestamp_seconds",
    "innodb_cluster_backup_last_duration_seconds",
    "innodb_cluster_backup_last_size_bytes",
    "workqueue_depth",
    "workqueue_adds_total",
    "workqueue_retries_total",
    "workqueue_unfinished_work_seconds",
    "workqueue_longest_running_processor_seconds",
    "controller_runtime_reconcile_total",
    "controller_runtime_reconcile_errors_total",
    "controller_runtime_max_concurrent_reconciles",
    "controller_runtime_active_workers",
    "rest_client_requests_total",
    "leader_election_master_status",
}
SERIES_NAMES = CONTRACT | {f"{h}_{suffix}" for h in HISTOGRAMS for suffix in ("bucket", "sum", "count")}
EXPORTER_PREFIX = "mysql_"  # mysqld_exporter's own names (job mysqld-exporter)

PROMQL_FUNCTIONS = {
    # aggregation operators
    "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk", "topk",
    "quantile", "limitk", "limit_ratio",
    # functions
    "abs", "absent", "absent_over_time", "acos", "acosh", "asin", "asinh", "atan", "atanh", "avg_over_time",
    "ceil", "changes", "clamp", "clamp_max", "clamp_min", "cos", "cosh", "count_over_time", "day_of_month",
    "day_of_week", "day_of_year", "days_in_month", "deg", "delta", "deriv", "exp", "floor", "histogram_avg",
    "histogram_count", "histogram_fraction", "histogram_quantile", "histogram_stddev", "histogram_stdvar",
    "histogram_sum", "holt_winters", "hour", "idelta", "increase", "irate", "label_join", "label_replace",
    "last_over_time", "ln", "log10", "log2", "mad_over_time", "max_over_time", "min_over_time", "minute",
    "month", "pi", "predict_linear", "present_over_time", "quantile_over_time", "rad", "rate", "resets",
    "round", "scalar", "sgn", "sin", "sinh", "sort", "sort_by_label", "sort_by_label_desc", "sort_desc",
    "sqrt", "stddev_over_time", "stdvar_over_time", "sum_over_time", "tan", "tanh", "time", "timestamp",
    "vector", "year",
}
PROMQL_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless",
                   "offset", "atan2", "inf", "nan"}
SEVERITIES = {"critical", "warning", "info"}
DURATION = re.compile(r"^(\d+(ms|s|m|h|d|w|y))+$")

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_IDENT = re.compile(r"(?<![\w:.$])([A-Za-z_:][\w:]*)(\s*\()?")


def promql_names(expr: str) -> tuple[set[str], set[str]]:
    """(metric names, function names) an expression uses; strings, matchers and label lists dropped."""
    text = _STRING.sub('""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)      # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)     # ranges and subqueries
    text = _GROUPING.sub(" ", text)             # by (...), on (...), group_left (...)
    text = re.sub(r"\$\{?\w+\}?", " ", text)    # Grafana variables outside strings
    metrics: set[str] = set()
    functions: set[str] = set()
    for match in _IDENT.finditer(text):
        name, call = match.group(1), match.group(2)
        if name.lower() in PROMQL_KEYWORDS:
            continue
        (functions if call else metrics).add(name)
    return metrics, functions


def unknown_names(expr: str) -> list[str]:
    metrics, functions = promql_names(expr)
    bad = [f"metric {m}" for m in sorted(metrics) if m not in SERIES_NAMES and not m.startswith(EXPORTER_PREFIX)]
    return bad + [f"function {f}" for f in sorted(functions) if f not in PROMQL_FUNCTIONS]


def test_the_name_extraction_sees_through_promql_syntax() -> None:
    expr = ('histogram_quantile(0.99, sum by (name, le) (rate(workqueue_work_duration_seconds_bucket'
            '{job="$operator_job", name=~"a|b"}[$__rate_interval]))) > 25 * 3600 '
            'or on (namespace) group_left (cluster) vector(0) unless foo_total offset 1h')
    assert promql_names(expr) == ({"workqueue_work_duration_seconds_bucket", "foo_total"},
                                  {"histogram_quantile", "sum", "rate", "vector"})
    assert unknown_names(expr) == ["metric foo_total"]
    assert unknown_names("sum(rate(nonsense_function(x)[5m]))") == ["metric x", "function nonsense_function"]


# ---------------------------------------------------------------- alert rules

def rules_file() -> dict[str, Any]:
    doc = yaml.safe_load(RULES.read_text())
    assert isinstance(doc, dict) and set(doc) == {"groups"}, "a plain Prometheus rules file: one key, groups"
    return doc


def alerts() -> list[dict[str, Any]]:
    return [rule for group in rules_file()["groups"] for rule in group["rules"]]


def helm_key(alert: str) -> str:
    """The alerts.for.<key> the chart's template derives from an alert name (keep in step with it)."""
    short = alert.removeprefix("InnoDBCluster").removeprefix("InnoDBOperator")
    return short[:1].lower() + short[1:]


def anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    found = set()
    for line in markdown.splitlines():
        heading = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if heading:
            text = re.sub(r"[^\w\- ]", "", heading.group(1).lower().replace("`", ""))
            found.add(text.replace(" ", "-"))
    return found


def runbook_section(alert: str) -> str:
    text = RUNBOOKS.read_text()
    start = text.index(f"\n## {alert}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end != -1 else None]


def test_the_rules_file_parses_into_named_groups_of_alerts() -> None:
    groups = rules_file()["groups"]
    assert [g["name"] for g in groups] == ["innodb-cluster", "innodb-operator"]
    assert all(a.get("alert") for a in alerts()), "recording rules do not belong in this file"
    names = [str(a["alert"]) for a in alerts()]
    assert len(names) == len(set(names))
    assert len({helm_key(n) for n in names}) == len(names), "two alerts map to one alerts.for key"
    for rule in alerts():
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule["alert"]


@pytest.mark.parametrize("rule", alerts(), ids=lambda r: r["alert"])
def test_every_alert_has_severity_summary_description_and_a_runbook_that_exists(rule: dict[str, Any]) -> None:
    name = rule["alert"]
    assert rule["labels"]["severity"] in SEVERITIES
    assert DURATION.match(str(rule["for"])), f"{name}: for: {rule['for']!r}"
    notes = rule["annotations"]
    assert set(notes) == {"summary", "description", "runbook_url"}
    assert rule["annotations"]["runbook_url"] == f"docs/alerts.md#{name.lower()}"
    assert name.lower() in anchors(RUNBOOKS.read_text()), f"docs/alerts.md has no section {name}"
    if re.search(r"by \(namespace, cluster", rule["expr"]):
        for field in ("summary", "description"):
            assert "{{ $labels.namespace }}/{{ $labels.cluster }}" in notes[field], f"{name}: {field}"


@pytest.mark.parametrize("rule", alerts(), ids=lambda r: r["alert"])
def test_every_alert_queries_only_contract_metrics(rule: dict[str, Any]) -> None:
    assert unknown_names(rule["expr"]) == [], rule["alert"]
    for query in re.findall(r"`([^`]*)`", rule["annotations"]["description"]):  # printf'd into `query`
        assert unknown_names(query) == [], f"{rule['alert']}: {query}"


@pytest.mark.parametrize("rule", alerts(), ids=lambda r: r["alert"])
def test_the_runbook_table_and_section_state_each_alerts_severity_for_and_helm_key(rule: dict[str, Any]) -> None:
    name, severity, wait = rule["alert"], rule["labels"]["severity"], rule["for"]
    row = f"| [{name}](#{name.lower()}) | {severity} | `{wait}` | `alerts.for.{helm_key(name)}` |"
    assert row in RUNBOOKS.read_text().splitlines()
    assert f"`{wait}`" in runbook_section(name), f"the {name} section does not say for `{wait}`"


def test_values_document_every_for_key_and_override_none_by_default() -> None:
    values = yaml.safe_load(VALUES.read_text())["alerts"]
    assert values["enabled"] is False and values["force"] is False
    assert values["for"] == {}, "defaults live in files/alerts.yaml only"
    text = VALUES.read_text()
    block = text[text.index("\nalerts:"):]
    for rule in alerts():
        assert re.search(rf"\b{helm_key(rule['alert'])}\b", block), f"values.yaml does not list {rule['alert']}"


# ---------------------------------------------------------------- dashboard

def dashboard() -> dict[str, Any]:
    doc = json.loads(DASHBOARD.read_text())
    assert isinstance(doc, dict)
    return doc


def all_panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from all_panels(panel.get("panels", []))  # a collapsed row holds its panels


def query_panels() -> list[dict[str, Any]]:
    return [p for p in all_panels(dashboard()["panels"]) if p["type"] != "row"]


def test_the_dashboard_has_a_prometheus_datasource_and_namespace_and_cluster_variables() -> None:
    doc = dashboard()
    assert 36 <= doc["schemaVersion"] <= 41
    assert doc["uid"] and doc["title"]
    variables = {v["name"]: v for v in doc["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    for name in ("namespace", "cluster"):
        var = variables[name]
        assert var["type"] == "query" and var["datasource"]["uid"] == "${datasource}"
        query = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
        match = re.fullmatch(r"label_values\((.*), (\w+)\)", query)
        assert match and match.group(2) == name, query
        assert match.group(1).startswith("innodb_cluster_instances_desired")
        assert unknown_names(match.group(1)) == []
    ids = [p["id"] for p in all_panels(doc["panels"])]
    assert len(ids) == len(set(ids)), "panel ids must be unique"


@pytest.mark.parametrize("panel", query_panels(), ids=lambda p: p["title"])
def test_every_panel_queries_prometheus_with_contract_metrics(panel: dict[str, Any]) -> None:
    assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
    exprs = [t.get("expr", "") for t in panel.get("targets", [])]
    assert exprs and all(e.strip() for e in exprs), "every panel has targets, each with an expr"
    refs = [t["refId"] for t in panel["targets"]]
    assert len(refs) == len(set(refs))
    for expr in exprs:
        assert expr.count("(") == expr.count(")") and expr.count("{") == expr.count("}"), expr
        assert unknown_names(expr) == [], expr


def test_the_dashboard_shows_every_metric_of_the_contract() -> None:
    used = set()
    for panel in query_panels():
        for target in panel["targets"]:
            used |= promql_names(target["expr"])[0]
    shown = {name for name in CONTRACT if name in used or any(f"{name}_{s}" in used for s in ("bucket", "count"))}
    assert shown == CONTRACT, f"not on the dashboard: {sorted(CONTRACT - shown)}"
