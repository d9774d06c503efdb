"""Which MySQL version changes the operator rolls, after MySQL's own upgrade paths (pure).

Contract: :func:`version_step_problem(target, running)` takes the declared version and the
versions the members run (as Group Replication reports them) and returns why the change is
refused, or None when the operator may roll it:

  * no running version known (a new cluster, or nothing observed yet): nothing to compare;
  * a downgrade below any running member is refused: the upgraded data dictionary cannot be
    read by an older server, and the operator does not automate MySQL's in-place downgrade
    within an LTS series either (restore a backup into a new cluster instead);
  * an upgrade may go at most to the next LTS series after the oldest running member (MySQL
    8.4 LTS -> 9.x Innovation -> 9.7 LTS -> calendar versions); a step past it needs two
    changes, each rolled to the end.

Series after the last LTS this module knows (9.7) are taken as reachable from 9.7 or later.
"""

from __future__ import annotations

from collections.abc import Iterable

Version = tuple[int, int, int]

LTS_SERIES: tuple[tuple[int, int], ...] = ((8, 0), (8, 4), (9, 7))
"""MySQL's long-term-support series, oldest first."""


def _text(version: Version) -> str:
    return ".".join(str(part) for part in version)


def _series(version: Version) -> tuple[int, int]:
    return version[0], version[1]


def next_lts(version: Version) -> tuple[int, int] | None:
    """The first LTS series after ``version``'s series; None past the last one known."""
    return next((lts for lts in LTS_SERIES if lts > _series(version)), None)


def version_step_problem(target: Version, running: Iterable[Version]) -> str | None:
    """Why the members may not move from ``running`` to ``target`` (see the module contract)."""
    versions = sorted(set(running))
    if not versions:
        return None
    oldest, newest = versions[0], versions[-1]
    if target < newest:
        return (f"{_text(target)} is a downgrade: a member already runs {_text(newest)}, whose data an older "
                f"server cannot read; set spec.version back to {_text(newest)} or later (to go back, restore a "
                f"backup into a new cluster)")
    limit = next_lts(oldest)
    if limit is not None and _series(target) > limit:
        step = f"{limit[0]}.{limit[1]}"
        return (f"MySQL does not upgrade {_text(oldest)} to {_text(target)} in one step: upgrade to the {step} "
                f"LTS series first (e.g. spec.version: {step}.0 or its latest release), let the roll finish, "
                f"then set {_text(target)}")
    return None
