"""The edge contracts in pyproject.toml name every operator module except the edge itself."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "operator" / "innodb_operator"


def top_level_modules() -> set[str]:
    found = {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    found |= {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    return {f"innodb_operator.{name}" for name in found}


def contract(name: str) -> dict[str, object]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    contracts = config["tool"]["importlinter"]["contracts"]
    return next(c for c in contracts if c["name"] == name)


@pytest.mark.parametrize(("name", "edge", "forbidden"), [
    ("only kube/ talks to the Kubernetes client libraries", "innodb_operator.kube", {"kubernetes_asyncio"}),
    ("only mysql/ talks to the MySQL driver", "innodb_operator.mysql", {"mysql"}),
])
def test_an_edge_contract_covers_every_module_but_the_edge(name: str, edge: str, forbidden: set[str]) -> None:
    found = contract(name)
    assert forbidden <= set(found["forbidden_modules"])  # type: ignore[call-overload]
    expected = (top_level_modules() - {edge}) | {"innodb_api"}
    assert set(found["source_modules"]) == expected  # type: ignore[call-overload]
