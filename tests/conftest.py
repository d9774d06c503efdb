"""Test tiers by folder: tests/<tier>/... gets the ``<tier>`` marker (unit, kube, mysql, e2e)."""

from __future__ import annotations

import pytest

TIERS = ("unit", "kube", "mysql", "e2e")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        parts = item.path.parts
        for tier in TIERS:
            if tier in parts and parts[parts.index(tier) - 1] == "tests":
                item.add_marker(getattr(pytest.mark, tier))
