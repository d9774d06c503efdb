"""The committed CRD YAML and reference docs are exactly what the API types generate, and the
generated schemas are structural, fully described and consistent with themselves."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from innodb_api import API_VERSION, GROUP, crd
from innodb_api.schema import walk

ROOT = Path(__file__).resolve().parents[2]
CRD_DIR = ROOT / "manifests" / "crds"
DOCS = ROOT / "docs" / "crd-reference.md"


def by_kind(kind: str) -> dict[str, Any]:
    [found] = [c for c in crd.all_crds() if c["spec"]["names"]["kind"] == kind]
    return found


def root_schema(kind: str) -> dict[str, Any]:
    schema: dict[str, Any] = by_kind(kind)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def test_committed_crds_are_not_stale() -> None:
    for generated in crd.all_crds():
        path = CRD_DIR / f"{generated['metadata']['name']}.yaml"
        assert path.exists(), f"{path} missing: run `python -m innodb_api.crd manifests/crds`"
        assert path.read_text() == crd.render(generated), (
            f"{path.name} is stale: run `python -m innodb_api.crd manifests/crds` and commit the result"
        )
        assert yaml.safe_load(path.read_text()) == generated
    committed = {p.name for p in CRD_DIR.glob("*.yaml")}
    assert committed == {
        f"innodbclusters.{GROUP}.yaml", f"mysqlbackups.{GROUP}.yaml",
    }


def test_committed_reference_docs_are_not_stale() -> None:
    assert DOCS.read_text() == crd.render_docs(), (
        "docs/crd-reference.md is stale: run `python -m innodb_api.crd --docs docs/crd-reference.md`"
    )


def test_reference_docs_list_every_field_of_every_kind() -> None:
    text = crd.render_docs()
    for kind in ("InnoDBCluster", "MySQLBackup"):
        schema = root_schema(kind)
        for part in ("spec", "status"):
            for path, _ in walk(schema["properties"][part], part):
                assert f"| `{path}` |" in text, f"{kind} {path} missing from the reference"
    assert "`default_authentication_plugin` | 8.4.0 | use authentication_policy" in text
    assert "| `server_id` |" in text


def test_cli_writes_yaml_and_docs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert crd.main([str(tmp_path / "crds")]) == 0
    assert sorted(p.name for p in (tmp_path / "crds").iterdir()) == sorted(
        f"{c['metadata']['name']}.yaml" for c in crd.all_crds())
    assert crd.main(["--docs", str(tmp_path / "ref.md")]) == 0
    assert (tmp_path / "ref.md").read_text() == crd.render_docs()
    assert "ref.md" in capsys.readouterr().out


@pytest.mark.parametrize("kind", ["InnoDBCluster", "MySQLBackup"])
def test_every_field_is_typed_and_described(kind: str) -> None:
    """Structural (every node typed) and useful to `kubectl explain` (every node described)."""
    schema = root_schema(kind)
    for path, node in walk(schema):
        if path in ("metadata",):
            continue
        assert node.get("type") in {"object", "array", "string", "integer", "boolean"}, path
        assert len(node.get("description", "")) >= 10, f"{kind} {path} has no useful description"


@pytest.mark.parametrize("kind", ["InnoDBCluster", "MySQLBackup"])
def test_list_map_keys_are_required_and_defaults_sit_in_range(kind: str) -> None:
    for path, node in walk(root_schema(kind)):
        if node.get("x-kubernetes-list-type") == "map":
            for key in node["x-kubernetes-list-map-keys"]:
                assert key in node["items"]["required"], f"{path}: key {key} must be required"
        if "default" in node and node["type"] == "integer":
            assert node.get("minimum", node["default"]) <= node["default"] <= node.get("maximum", node["default"])
        if "default" in node and "enum" in node:
            assert node["default"] in node["enum"], path


@pytest.mark.parametrize("kind", ["InnoDBCluster", "MySQLBackup"])
def test_printer_columns_point_at_schema_fields(kind: str) -> None:
    fields = {f".{path}" for path, _ in walk(root_schema(kind))}
    version = by_kind(kind)["spec"]["versions"][0]
    for column in version["additionalPrinterColumns"]:
        assert column["jsonPath"] == ".metadata.creationTimestamp" or column["jsonPath"] in fields, column


def test_names_short_names_and_subresources() -> None:
    cluster, backup = by_kind("InnoDBCluster"), by_kind("MySQLBackup")
    assert cluster["metadata"]["name"] == f"innodbclusters.{GROUP}"
    assert cluster["spec"]["names"]["shortNames"] == ["ic"]
    assert backup["metadata"]["name"] == f"mysqlbackups.{GROUP}"
    assert backup["spec"]["names"]["shortNames"] == ["mbk"]
    for c in (cluster, backup):
        assert c["spec"]["names"]["categories"] == ["mysql"]
        [version] = c["spec"]["versions"]
        assert f"{c['spec']['group']}/{version['name']}" == API_VERSION
        assert version["subresources"] == {"status": {}}
        assert version["served"] and version["storage"]
    assert [col["name"] for col in cluster["spec"]["versions"][0]["additionalPrinterColumns"]][:5] == [
        "Status", "Online", "Instances", "Routers", "Age"]
    assert [col["name"] for col in backup["spec"]["versions"][0]["additionalPrinterColumns"]] == [
        "Cluster", "Status", "Output", "Age"]


def test_status_is_typed_not_free_form() -> None:
    for kind in ("InnoDBCluster", "MySQLBackup"):
        status = root_schema(kind)["properties"]["status"]
        assert "x-kubernetes-preserve-unknown-fields" not in status
        assert status["properties"]["conditions"]["x-kubernetes-list-map-keys"] == ["type"]


def test_immutable_fields_have_transition_rules_naming_the_field() -> None:
    rules = root_schema("InnoDBCluster")["properties"]["spec"]["x-kubernetes-validations"]
    by_field = {r.get("fieldPath"): r for r in rules}
    for name in ("datadirVolumeClaimTemplate", "baseServerId"):
        assert "oldSelf" in by_field[f".{name}"]["rule"]
        assert by_field[f".{name}"]["message"].startswith(f"{name} cannot change")
