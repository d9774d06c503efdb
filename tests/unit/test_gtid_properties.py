"""GTID set arithmetic against a model (plain Python sets of (uuid, tag, gno)), with Hypothesis."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from innodb_operator.mysql.gtid import Gtid, GtidSet

UUIDS = ["11111111-1111-1111-1111-111111111111", "22222222-2222-2222-2222-222222222222",
         "ffffffff-0000-0000-0000-000000000000"]
TAGS = ["", "", "a", "tag_2"]

Model = frozenset[tuple[str, str, int]]


@st.composite
def gtid_sets(draw: st.DrawFn) -> GtidSet:
    items: dict[tuple[str, str], list[tuple[int, int]]] = {}
    for _ in range(draw(st.integers(0, 6))):
        key = (draw(st.sampled_from(UUIDS)), draw(st.sampled_from(TAGS)))
        start = draw(st.integers(1, 40))
        items.setdefault(key, []).append((start, start + draw(st.integers(0, 8))))
    return GtidSet(items)


def model(s: GtidSet) -> Model:
    return frozenset((g.uuid, g.tag, g.gno) for g in s)


def from_model(m: Model) -> GtidSet:
    return GtidSet.of(*(Gtid(u, n, t) for u, t, n in m))


@settings(max_examples=300)
@given(gtid_sets(), gtid_sets())
def test_operations_agree_with_the_set_model(a: GtidSet, b: GtidSet) -> None:
    assert model(a | b) == model(a) | model(b)
    assert model(a - b) == model(a) - model(b)
    assert model(a & b) == model(a) & model(b)
    assert a.is_subset(b) == (model(a) <= model(b))
    assert a.count == len(model(a))
    assert a.is_empty == (not model(a))


@settings(max_examples=300)
@given(gtid_sets())
def test_print_then_parse_is_identity_and_canonical(a: GtidSet) -> None:
    text = str(a)
    assert GtidSet.parse(text) == a
    assert str(GtidSet.parse(text)) == text
    assert from_model(model(a)) == a  # one canonical form whatever the intervals looked like
    assert GtidSet.parse(a.to_string(", ")) == a


@given(gtid_sets(), gtid_sets(), gtid_sets())
def test_union_and_subtract_laws(a: GtidSet, b: GtidSet, c: GtidSet) -> None:
    empty = GtidSet()
    assert a | b == b | a
    assert (a | b) | c == a | (b | c)
    assert a | a == a and a | empty == a
    assert a - a == empty and a - empty == a and empty - a == empty
    assert (a - b) & b == empty
    assert (a - b) | (a & b) == a
    assert a - (b | c) == (a - b) - c
    assert a <= a | b and a - b <= a
    assert (a <= b <= a) == (a == b)


@given(gtid_sets(), gtid_sets())
def test_subset_is_consistent_with_subtraction_and_union(a: GtidSet, b: GtidSet) -> None:
    assert a.is_subset(b) == (a - b).is_empty == (a | b == b) == (a & b == a)
    assert b.is_superset(a) == a.is_subset(b)
    assert (a < b) == (a.is_subset(b) and a != b)


@given(gtid_sets(), st.sampled_from(UUIDS), st.sampled_from(TAGS), st.integers(1, 60))
def test_membership_matches_the_model(a: GtidSet, uuid: str, tag: str, gno: int) -> None:
    assert (Gtid(uuid, gno, tag) in a) == ((uuid, tag, gno) in model(a))
