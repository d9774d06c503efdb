"""GTID sets: parse, compare, combine and print them exactly as MySQL does (pure, no I/O).

Contract:

* :meth:`GtidSet.parse` accepts what MySQL 9.7 accepts for a GTID set (checked against
  ``GTID_SUBTRACT(text, '')`` on a real server by the ``mysql`` test tier):
  ``uuid:interval[:interval...]`` groups separated by commas, where an interval is ``n`` or
  ``a-b``; tagged GTIDs of MySQL 8.3+ (``uuid:tag:1-5``: every interval after a tag belongs
  to that tag, until the next tag); whitespace around tokens; empty groups; UUIDs in any case,
  with or without dashes or braces; tags in any case (stored lowercase, ``[a-z_][a-z0-9_]{0,31}``).
  An interval whose end is below its start, and a UUID or tag with no interval, add nothing
  (as in MySQL). Transaction numbers run from 1 to 2^63-2. Anything else raises
  :class:`GtidParseError` (a ``ValueError``).
* ``str(gtid_set)`` is MySQL's canonical text, equal to what the server prints for the same
  set (``@@gtid_executed``, ``GTID_SUBTRACT``): UUIDs sorted, lowercase; for each UUID the
  untagged intervals first, then tags in order; intervals merged and sorted; ``n-n`` as ``n``;
  groups separated by ``",\\n"``. ``parse(str(s)) == s`` for every set.
* Sets are immutable values (hashable, ``==`` by content). ``a | b`` union, ``a - b``
  subtraction, ``a & b`` intersection, ``a <= b`` / :meth:`~GtidSet.is_subset`,
  :attr:`~GtidSet.is_empty`, :attr:`~GtidSet.count` (number of transactions),
  ``gtid in s``. :func:`errant` gives the transactions an instance has that the group lacks.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

MAX_GNO = 2**63 - 2
"""The largest transaction number MySQL accepts."""

Interval = tuple[int, int]
"""Inclusive ``(first, last)``."""

Key = tuple[str, str]
"""``(uuid, tag)``; the tag is ``""`` for untagged GTIDs."""

_UUID_RE = re.compile(
    r"\{?([0-9a-fA-F]{8})-?([0-9a-fA-F]{4})-?([0-9a-fA-F]{4})-?([0-9a-fA-F]{4})-?([0-9a-fA-F]{12})\}?"
)
_TAG_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,31}")
_NUMBER_RE = re.compile(r"[0-9]+")


class GtidParseError(ValueError):
    """The text is not a GTID set MySQL would accept."""


@dataclass(frozen=True, slots=True, order=True)
class Gtid:
    """One transaction identifier."""

    uuid: str
    gno: int
    tag: str = ""

    @classmethod
    def parse(cls, text: str) -> Gtid:
        """``uuid:n`` or ``uuid:tag:n``."""
        gtid_set = GtidSet.parse(text)
        if gtid_set.count != 1:
            raise GtidParseError(f"not a single GTID: {text!r}")
        (uuid, tag), intervals = gtid_set.items()[0]
        return cls(uuid, intervals[0][0], tag)

    def __str__(self) -> str:
        return f"{self.uuid}:{self.tag}:{self.gno}" if self.tag else f"{self.uuid}:{self.gno}"


def _normalise(intervals: Iterable[Interval]) -> tuple[Interval, ...]:
    """Sorted, disjoint, non-adjacent intervals; empty (reversed) ones dropped."""
    merged: list[list[int]] = []
    for start, end in sorted(i for i in intervals if i[0] <= i[1]):
        if merged and start <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return tuple((a, b) for a, b in merged)


def _subtract(left: tuple[Interval, ...], right: tuple[Interval, ...]) -> tuple[Interval, ...]:
    out: list[Interval] = []
    j = 0
    for start, end in left:
        cur = start
        while j < len(right) and right[j][1] < cur:
            j += 1
        k = j
        while k < len(right) and right[k][0] <= end:
            r_start, r_end = right[k]
            if r_start > cur:
                out.append((cur, r_start - 1))
            cur = max(cur, r_end + 1)
            if cur > end:
                break
            k += 1
        if cur <= end:
            out.append((cur, end))
    return tuple(out)


def _intersect(left: tuple[Interval, ...], right: tuple[Interval, ...]) -> tuple[Interval, ...]:
    out: list[Interval] = []
    i = j = 0
    while i < len(left) and j < len(right):
        start = max(left[i][0], right[j][0])
        end = min(left[i][1], right[j][1])
        if start <= end:
            out.append((start, end))
        if left[i][1] < right[j][1]:
            i += 1
        else:
            j += 1
    return tuple(out)


def _canonical_uuid(text: str) -> str | None:
    match = _UUID_RE.fullmatch(text)
    if match is None:
        return None
    raw = text.strip("{}")
    if text.startswith("{") != text.endswith("}") or ("-" in raw and raw.count("-") != 4):
        return None
    return "-".join(match.groups()).lower()


class GtidSet:
    """An immutable set of GTIDs; see the module docstring."""

    __slots__ = ("_hash", "_items")

    def __init__(self, items: Mapping[Key, Iterable[Interval]] | None = None) -> None:
        normal: dict[Key, tuple[Interval, ...]] = {}
        for (uuid, tag), intervals in (items or {}).items():
            canonical = _canonical_uuid(uuid)
            if canonical is None:
                raise GtidParseError(f"not a UUID: {uuid!r}")
            if tag and not _TAG_RE.fullmatch(tag):
                raise GtidParseError(f"not a GTID tag: {tag!r}")
            ivs = tuple(intervals)
            for start, end in ivs:
                if start < 1 or end > MAX_GNO:
                    raise GtidParseError(f"transaction number out of range in {start}-{end}")
            key = (canonical, tag.lower())
            merged = _normalise(normal.get(key, ()) + ivs)
            if merged:
                normal[key] = merged
        self._items: tuple[tuple[Key, tuple[Interval, ...]], ...] = tuple(sorted(normal.items()))
        self._hash: int | None = None

    # --- construction ------------------------------------------------------------------

    @classmethod
    def parse(cls, text: str | None) -> GtidSet:
        """Parse MySQL's GTID set syntax (``None`` and ``""`` are the empty set)."""
        if text is None:
            return cls()
        items: dict[Key, list[Interval]] = {}
        for raw_group in text.split(","):
            group = raw_group.strip()
            if not group:
                continue
            parts = [p.strip() for p in group.split(":")]
            uuid = _canonical_uuid(parts[0])
            if uuid is None:
                raise GtidParseError(f"malformed UUID {parts[0]!r} in GTID set {text!r}")
            tag = ""
            items.setdefault((uuid, tag), [])
            for part in parts[1:]:
                if not part:
                    raise GtidParseError(f"expected a tag or a number after ':' in GTID set {text!r}")
                if part[0].isdigit():
                    items[(uuid, tag)].append(_parse_interval(part, text))
                elif _TAG_RE.fullmatch(part):
                    tag = part.lower()
                    items.setdefault((uuid, tag), [])
                else:
                    raise GtidParseError(f"malformed tag or interval {part!r} in GTID set {text!r}")
        return cls(items)

    @classmethod
    def of(cls, *gtids: Gtid) -> GtidSet:
        items: dict[Key, list[Interval]] = {}
        for g in gtids:
            items.setdefault((g.uuid, g.tag), []).append((g.gno, g.gno))
        return cls(items)

    # --- reading -----------------------------------------------------------------------

    def items(self) -> tuple[tuple[Key, tuple[Interval, ...]], ...]:
        """``((uuid, tag), intervals)`` pairs in canonical order."""
        return self._items

    def intervals(self, uuid: str, tag: str = "") -> tuple[Interval, ...]:
        key = (_canonical_uuid(uuid) or uuid, tag.lower())
        for k, ivs in self._items:
            if k == key:
                return ivs
        return ()

    @property
    def uuids(self) -> frozenset[str]:
        return frozenset(uuid for (uuid, _), _ivs in self._items)

    @property
    def is_empty(self) -> bool:
        return not self._items

    @property
    def count(self) -> int:
        """How many transactions the set holds."""
        return sum(end - start + 1 for _key, ivs in self._items for start, end in ivs)

    def __bool__(self) -> bool:
        return bool(self._items)

    def __iter__(self) -> Iterator[Gtid]:
        """Every GTID, in canonical order (mind the size of real sets)."""
        for (uuid, tag), ivs in self._items:
            for start, end in ivs:
                for gno in range(start, end + 1):
                    yield Gtid(uuid, gno, tag)

    def __contains__(self, gtid: object) -> bool:
        if isinstance(gtid, str):
            gtid = Gtid.parse(gtid)
        if not isinstance(gtid, Gtid):
            return False
        return any(start <= gtid.gno <= end for start, end in self.intervals(gtid.uuid, gtid.tag))

    # --- arithmetic --------------------------------------------------------------------

    def _as_dict(self) -> dict[Key, tuple[Interval, ...]]:
        return dict(self._items)

    def union(self, *others: GtidSet) -> GtidSet:
        merged: dict[Key, list[Interval]] = {k: list(v) for k, v in self._items}
        for other in others:
            for key, ivs in other._items:
                merged.setdefault(key, []).extend(ivs)
        return GtidSet(merged)

    def subtract(self, other: GtidSet) -> GtidSet:
        theirs = other._as_dict()
        return GtidSet({key: _subtract(ivs, theirs.get(key, ())) for key, ivs in self._items})

    def intersection(self, other: GtidSet) -> GtidSet:
        theirs = other._as_dict()
        return GtidSet({key: _intersect(ivs, theirs[key]) for key, ivs in self._items if key in theirs})

    def is_subset(self, other: GtidSet) -> bool:
        """Every transaction of this set is in ``other`` (MySQL's ``GTID_SUBSET``)."""
        return self.subtract(other).is_empty

    def is_superset(self, other: GtidSet) -> bool:
        return other.is_subset(self)

    def __or__(self, other: GtidSet) -> GtidSet:
        return self.union(other)

    def __sub__(self, other: GtidSet) -> GtidSet:
        return self.subtract(other)

    def __and__(self, other: GtidSet) -> GtidSet:
        return self.intersection(other)

    def __le__(self, other: GtidSet) -> bool:
        return self.is_subset(other)

    def __ge__(self, other: GtidSet) -> bool:
        return other.is_subset(self)

    def __lt__(self, other: GtidSet) -> bool:
        return self != other and self.is_subset(other)

    def __gt__(self, other: GtidSet) -> bool:
        return self != other and other.is_subset(self)

    # --- values ------------------------------------------------------------------------

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, GtidSet):
            return NotImplemented
        return self._items == other._items

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(self._items)
        return self._hash

    def to_string(self, separator: str = ",\n") -> str:
        """Canonical text; ``separator`` between UUIDs (MySQL prints ``",\\n"``)."""
        groups: list[str] = []
        current_uuid: str | None = None
        parts: list[str] = []
        for (uuid, tag), ivs in self._items:
            if uuid != current_uuid:
                if current_uuid is not None:
                    groups.append(":".join(parts))
                current_uuid, parts = uuid, [uuid]
            if tag:
                parts.append(tag)
            parts.extend(str(a) if a == b else f"{a}-{b}" for a, b in ivs)
        if current_uuid is not None:
            groups.append(":".join(parts))
        return separator.join(groups)

    def __str__(self) -> str:
        return self.to_string()

    def __repr__(self) -> str:
        return f"GtidSet({self.to_string(',')!r})"


def _parse_interval(part: str, text: str) -> Interval:
    bounds = [b.strip() for b in part.split("-")]
    if len(bounds) > 2 or not all(_NUMBER_RE.fullmatch(b) for b in bounds):
        raise GtidParseError(f"malformed interval {part!r} in GTID set {text!r}")
    start = int(bounds[0])
    end = int(bounds[-1])
    if not 1 <= start <= MAX_GNO:
        raise GtidParseError(f"interval start out of range in {part!r} of GTID set {text!r}")
    if end > MAX_GNO:
        raise GtidParseError(f"interval end out of range in {part!r} of GTID set {text!r}")
    return (start, end)


EMPTY = GtidSet()


def parse(text: str | None) -> GtidSet:
    """Shorthand for :meth:`GtidSet.parse`."""
    return GtidSet.parse(text)


def errant(instance_set: GtidSet, group_set: GtidSet) -> GtidSet:
    """Transactions the instance executed that the group never did (``instance - group``).

    A non-empty result means the instance cannot simply rejoin: it must be re-provisioned
    (cloned) or the extra transactions reconciled.
    """
    return instance_set - group_set
