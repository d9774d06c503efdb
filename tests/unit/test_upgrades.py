"""Which version changes the operator rolls: MySQL's upgrade paths, refused with what to do instead."""

from __future__ import annotations

import pytest

from innodb_api.upgrades import next_lts, version_step_problem


@pytest.mark.parametrize(("running", "target"), [
    ([(9, 7, 4)], (9, 7, 5)),            # within an LTS series
    ([(9, 7, 4)], (9, 7, 4)),            # no change
    ([(8, 4, 3)], (9, 2, 0)),            # LTS to an Innovation release before the next LTS
    ([(8, 4, 3)], (9, 7, 0)),            # LTS to the next LTS
    ([(9, 3, 0)], (9, 5, 0)),            # Innovation to a later one before the next LTS
    ([(9, 5, 0)], (9, 7, 4)),            # Innovation to the next LTS
    ([(9, 7, 4)], (26, 4, 0)),           # the last LTS to the calendar versions
    ([(9, 7, 4), (9, 7, 5)], (9, 7, 5)),  # a roll under way, continued
    ([], (9, 7, 4)),                     # nothing observed yet
])
def test_supported_steps_roll(running: list[tuple[int, int, int]], target: tuple[int, int, int]) -> None:
    assert version_step_problem(target, running) is None


def test_a_downgrade_below_any_member_is_refused_naming_the_running_version() -> None:
    problem = version_step_problem((9, 7, 3), [(9, 7, 4)])
    assert problem is not None and "downgrade" in problem and "9.7.4" in problem
    # Half-way through an upgrade, going back is a downgrade for the members already upgraded.
    problem = version_step_problem((9, 7, 4), [(9, 7, 4), (9, 7, 5)])
    assert problem is not None and "9.7.5" in problem


@pytest.mark.parametrize(("running", "target", "via"), [
    ([(8, 4, 3)], (26, 4, 0), "9.7"),      # past the next LTS
    ([(9, 5, 0)], (26, 4, 0), "9.7"),      # Innovation past the next LTS
    ([(8, 4, 3), (9, 7, 4)], (26, 4, 0), "9.7"),  # the oldest member decides
])
def test_a_step_past_the_next_lts_is_refused_naming_the_series_to_go_through(
        running: list[tuple[int, int, int]], target: tuple[int, int, int], via: str) -> None:
    problem = version_step_problem(target, running)
    assert problem is not None and f"{via} LTS series first" in problem


def test_next_lts() -> None:
    assert next_lts((8, 0, 40)) == (8, 4)
    assert next_lts((8, 4, 3)) == (9, 7)
    assert next_lts((9, 1, 0)) == (9, 7)
    assert next_lts((9, 7, 4)) is None
