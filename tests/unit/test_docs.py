"""Docs change with the code: the runtime page lists every setting, the metrics page every metric family."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

from innodb_operator.observability.metrics import REGISTRY
from innodb_operator.settings import ENV_PREFIX, Settings

RUNTIME_DOC = Path(__file__).resolve().parents[2] / "docs" / "runtime.md"
METRICS_DOC = RUNTIME_DOC.with_name("metrics.md")


def test_every_setting_is_documented_with_its_flag_and_variable() -> None:
    text = RUNTIME_DOC.read_text()
    for f in fields(Settings):
        flag = "--" + f.name.replace("_", "-")
        assert f"`{flag}`" in text, f"{flag} missing from docs/runtime.md"
        assert f"`{ENV_PREFIX}{f.name.upper()}`" in text


def test_every_metric_family_is_documented() -> None:
    text = METRICS_DOC.read_text()
    names = {metric.name for metric in REGISTRY.collect()}
    documented = {n for n in names if f"`{n}`" in text or f"`{n}_total`" in text}
    assert names == documented, f"undocumented metrics: {sorted(names - documented)}"
    assert {"workqueue_depth", "innodb_cluster_members", "innodb_cluster_failover_duration_seconds"} <= names
