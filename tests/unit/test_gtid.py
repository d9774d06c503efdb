"""GTID sets: parsing and MySQL's canonical text, table by table (expected strings from a 9.7 server)."""

from __future__ import annotations

import pytest

from innodb_operator.mysql.gtid import MAX_GNO, Gtid, GtidParseError, GtidSet, errant

A = "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa"
B = "bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb"
C = "3e11fa47-71ca-11e1-9e33-c80aa9429562"


# What ``SELECT GTID_SUBTRACT(text, '')`` printed on mysqld 9.7.4 for each input.
CANONICAL = [
    ("", ""),
    (",", ""),
    (f"{A}:1-5", f"{A}:1-5"),
    (f"{A}:5", f"{A}:5"),
    (f"{A}:5-5", f"{A}:5"),
    (f"{A}:1-3:4-6", f"{A}:1-6"),
    (f"{A}:4-6:1-2", f"{A}:1-2:4-6"),
    (f"{A}:1-10:3-4", f"{A}:1-10"),
    (f"{B}:3-4:1, {A}:5,{A.upper()}:6-7:zz:1:Ab:2-3:ab:4", f"{A}:5-7:ab:2-4:zz:1,\n{B}:1:3-4"),
    (f"{A}", ""),
    (f"{A}:tag", ""),
    (f"{A}:3-1", ""),
    (A.replace("-", "") + ":1", f"{A}:1"),
    ("{" + A + "}:1", f"{A}:1"),
    (f" {A} : 1 - 3 ,\n {B}:1", f"{A}:1-3,\n{B}:1"),
    (f"{A}:1,,{A}:2", f"{A}:1-2"),
    (f"{A}:{MAX_GNO}", f"{A}:{MAX_GNO}"),
    (f"{A}:_x:1", f"{A}:_x:1"),
    (f"{A}:{'a' * 32}:1", f"{A}:{'a' * 32}:1"),
    (f"{A}:1:t:2:1:3", f"{A}:1:t:1-3"),
    (f"{A}:t:1:t:5", f"{A}:t:1:5"),
    (f"{C}:1-7:mytag:1", f"{C}:1-7:mytag:1"),
]

MALFORMED = [
    f"{A}:0",
    f"{A}:{MAX_GNO + 1}",
    f"{A}:1:tag:",
    f"{A}:1x:1",
    f"{A}:{'a' * 33}:1",
    f"{A}:",
    f"{A}:1-2-3",
    f"{A}:-1",
    "not-a-uuid:1",
    f"{A[:-1]}:1",
    f"{A}x:1",
    f"{A}:t-x:1",
]


@pytest.mark.parametrize(("text", "canonical"), CANONICAL)
def test_parse_then_print_gives_mysqls_canonical_text(text: str, canonical: str) -> None:
    parsed = GtidSet.parse(text)
    assert str(parsed) == canonical
    assert GtidSet.parse(str(parsed)) == parsed


@pytest.mark.parametrize("text", MALFORMED)
def test_malformed_sets_are_rejected(text: str) -> None:
    with pytest.raises(GtidParseError):
        GtidSet.parse(text)


def test_none_and_empty_are_the_empty_set() -> None:
    assert GtidSet.parse(None) == GtidSet.parse("") == GtidSet()
    assert GtidSet().is_empty and not GtidSet() and GtidSet().count == 0
    assert str(GtidSet()) == ""


@pytest.mark.parametrize(("left", "right", "union", "minus", "both"), [
    (f"{A}:1-5", f"{A}:3-8", f"{A}:1-8", f"{A}:1-2", f"{A}:3-5"),
    (f"{A}:1-5", f"{B}:1-5", f"{A}:1-5,\n{B}:1-5", f"{A}:1-5", ""),
    (f"{A}:1-10", f"{A}:2:4-5:9", f"{A}:1-10", f"{A}:1:3:6-8:10", f"{A}:2:4-5:9"),
    (f"{A}:1-3", f"{A}:4-6", f"{A}:1-6", f"{A}:1-3", ""),
    (f"{A}:1-5:t:1-5", f"{A}:t:2-3", f"{A}:1-5:t:1-5", f"{A}:1-5:t:1:4-5", f"{A}:t:2-3"),
    (f"{A}:1-5", f"{A}:t:1-5", f"{A}:1-5:t:1-5", f"{A}:1-5", ""),
    ("", f"{A}:1", f"{A}:1", "", ""),
])
def test_union_subtract_intersection_tables(left: str, right: str, union: str, minus: str, both: str) -> None:
    a, b = GtidSet.parse(left), GtidSet.parse(right)
    assert str(a | b) == union
    assert str(a - b) == minus
    assert str(a & b) == both


@pytest.mark.parametrize(("inner", "outer", "subset"), [
    ("", "", True),
    ("", f"{A}:1", True),
    (f"{A}:2-3", f"{A}:1-5", True),
    (f"{A}:2-6", f"{A}:1-5", False),
    (f"{A}:1-5", f"{A}:1-2:3-5", True),
    (f"{A}:t:1", f"{A}:1", False),
    (f"{A}:1,\n{B}:1", f"{A}:1-9", False),
])
def test_subset(inner: str, outer: str, subset: bool) -> None:
    assert GtidSet.parse(inner).is_subset(GtidSet.parse(outer)) is subset
    assert (GtidSet.parse(inner) <= GtidSet.parse(outer)) is subset


def test_count_membership_and_single_gtids() -> None:
    s = GtidSet.parse(f"{A}:1-5:10:t:3,{B}:7")
    assert s.count == 8
    assert Gtid(A, 10) in s and Gtid(A, 3, "t") in s and f"{B}:7" in s
    assert Gtid(A, 6) not in s and Gtid(A, 1, "t") not in s
    assert s.uuids == {A, B}
    assert s.intervals(A) == ((1, 5), (10, 10)) and s.intervals(A, "T") == ((3, 3),)
    assert Gtid.parse(f"{A.upper()}:Tag:4") == Gtid(A, 4, "tag")
    assert str(Gtid(A, 4, "tag")) == f"{A}:tag:4"
    assert GtidSet.of(Gtid(A, 1), Gtid(A, 2), Gtid(B, 1, "x")) == GtidSet.parse(f"{A}:1-2,{B}:x:1")
    with pytest.raises(GtidParseError):
        Gtid.parse(f"{A}:1-2")


def test_huge_sets_count_without_enumerating() -> None:
    s = GtidSet.parse(f"{A}:1-{MAX_GNO}")
    assert s.count == MAX_GNO
    assert s - GtidSet.parse(f"{A}:2-{MAX_GNO}") == GtidSet.parse(f"{A}:1")


def test_errant_transactions_are_what_the_instance_has_beyond_the_group() -> None:
    group = GtidSet.parse(f"{A}:1-100")
    assert errant(GtidSet.parse(f"{A}:1-50"), group).is_empty  # behind: fine, it can catch up
    extra = errant(GtidSet.parse(f"{A}:1-50,{B}:1-2"), group)
    assert str(extra) == f"{B}:1-2"


def test_sets_are_hashable_values_with_a_compact_repr() -> None:
    a1 = GtidSet.parse(f"{A}:1-2:3")
    a2 = GtidSet({(A.upper(), ""): [(3, 3), (1, 2)]})
    assert a1 == a2 and hash(a1) == hash(a2) and len({a1, a2}) == 1
    assert repr(GtidSet.parse(f"{A}:1,{B}:2")) == f"GtidSet('{A}:1,{B}:2')"
    assert GtidSet.parse(f"{A}:1,{B}:2").to_string(",") == f"{A}:1,{B}:2"


def test_constructor_validates() -> None:
    with pytest.raises(GtidParseError):
        GtidSet({("nope", ""): [(1, 1)]})
    with pytest.raises(GtidParseError):
        GtidSet({(A, "9bad"): [(1, 1)]})
    with pytest.raises(GtidParseError):
        GtidSet({(A, ""): [(0, 1)]})
