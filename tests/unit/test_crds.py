"""The committed CRD YAML is exactly what the API types generate."""

from __future__ import annotations

from pathlib import Path

from innodb_api import crd

CRD_DIR = Path(__file__).resolve().parents[2] / "manifests" / "crds"


def test_committed_crds_are_not_stale() -> None:
    for generated in crd.all_crds():
        path = CRD_DIR / f"{generated['metadata']['name']}.yaml"
        assert path.exists(), f"{path} missing: run `innodb-operator crds manifests/crds`"
        assert path.read_text() == crd.render(generated), (
            f"{path.name} is stale: run `innodb-operator crds manifests/crds` and commit the result"
        )
    committed = {p.name for p in CRD_DIR.glob("*.yaml")}
    assert committed == {f"{c['metadata']['name']}.yaml" for c in crd.all_crds()}
