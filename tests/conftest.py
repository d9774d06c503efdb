"""Test tiers by folder: tests/<tier>/... gets the ``<tier>`` marker (unit, kube, mysql, e2e).

Two guards for long runs (CI stops a run at its time limit and keeps only what was printed):
a failure is printed in full the moment it happens, not only in the summary at the end; and a
test of the mysql or e2e tier that runs past ``TEST_BUDGET_SECONDS`` (setup, call and teardown
together) is interrupted with an error naming the budget, so one stuck test cannot eat the run.
"""

from __future__ import annotations

import signal
from collections.abc import Generator
from types import FrameType

import pytest

TIERS = ("unit", "kube", "mysql", "e2e")
TEST_BUDGET_SECONDS = {"mysql": 600, "e2e": 1200}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        parts = item.path.parts
        for tier in TIERS:
            if tier in parts and parts[parts.index(tier) - 1] == "tests":
                item.add_marker(getattr(pytest.mark, tier))


class TestOverBudget(Exception):
    """A test ran longer than its tier allows."""


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, None, None]:
    budget = next((s for tier, s in TEST_BUDGET_SECONDS.items() if item.get_closest_marker(tier)), None)
    if budget is None:
        yield
        return

    def over(signum: int, frame: FrameType | None) -> None:
        raise TestOverBudget(f"{item.nodeid} ran past its {budget} s budget; interrupted where the traceback shows")

    previous = signal.signal(signal.SIGALRM, over)
    signal.alarm(budget)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


_config: list[pytest.Config] = []


def pytest_configure(config: pytest.Config) -> None:
    _config.append(config)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    reporter = _config[0].pluginmanager.get_plugin("terminalreporter") if _config else None
    if not report.failed or reporter is None:
        return
    reporter.write_line(f"\n===== FAILED {report.nodeid} ({report.when}, {report.duration:.1f}s) =====\n"
                        f"{report.longreprtext}\n===== end of {report.nodeid} =====")
