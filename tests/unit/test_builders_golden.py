"""Golden files: every child of every case, as YAML, under ``tests/unit/golden/<case>/``.

One file per child, named ``<kind>-<name>.yaml``. A changed object, a missing file or a file
no child matches fails the test. After an intended change, regenerate and review the diff:

    UPDATE_GOLDEN=1 .venv/bin/pytest tests/unit/test_builders_golden.py
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import pytest
import yaml
from test_builders_cases import CASES, children_of, golden_file_name, plain, to_yaml

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"


def _rewrite(case_dir: Path, rendered: dict[str, str]) -> None:
    case_dir.mkdir(parents=True, exist_ok=True)
    for stale in case_dir.glob("*.yaml"):
        if stale.name not in rendered:
            stale.unlink()
    for name, text in rendered.items():
        path = case_dir / name
        if not path.exists() or path.read_text() != text:
            path.write_text(text)


@pytest.mark.parametrize("case", sorted(CASES))
def test_children_match_golden_files(case: str) -> None:
    children = children_of(CASES[case])
    rendered = {golden_file_name(child): to_yaml(child) for child in children}
    assert len(rendered) == len(children), "two children would share a golden file name"
    case_dir = GOLDEN / case
    if UPDATE:
        _rewrite(case_dir, rendered)
    on_disk = {p.name for p in case_dir.glob("*.yaml")}
    assert not sorted(set(rendered) - on_disk), f"missing golden files (run with UPDATE_GOLDEN=1): {case_dir}"
    assert not sorted(on_disk - set(rendered)), "golden files no child matches (run with UPDATE_GOLDEN=1)"
    for child in children:
        name = golden_file_name(child)
        stored = (case_dir / name).read_text()
        if yaml.safe_load(stored) != plain(child):
            diff = "".join(difflib.unified_diff(stored.splitlines(True), rendered[name].splitlines(True),
                                                f"golden/{case}/{name}", "built"))
            pytest.fail(f"{name} differs from its golden file (UPDATE_GOLDEN=1 regenerates):\n{diff}")


def test_golden_directory_holds_only_known_cases() -> None:
    assert {p.name for p in GOLDEN.iterdir() if p.is_dir()} == set(CASES)
