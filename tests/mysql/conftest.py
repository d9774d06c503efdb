"""Fixtures for the ``mysql`` tier: real mysqld 9.7 processes on loopback (see innodb_dev.mysqld).

If the MySQL root filesystem is missing the tier FAILS with the command that installs it;
it never skips. ``fleet`` is shared by the tests of a session (three instances that tests
only read from or add their own schemas/accounts to); a test that crashes, clones or
forms a group takes its own fleet from ``new_fleet``. Every process is ended at the end,
also on failure; error logs land in the test's tmp dir. ``connector`` is the product's MySQL seam
(:class:`~innodb_operator.mysql.instance.MysqlConnector`), its thread pool released at the end.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from innodb_dev import mysqlroot
from innodb_dev.mysqld import ROOT_USER, MysqlFleet, MysqlInstance
from innodb_operator.mysql import Credentials, Endpoint, Session, connect
from innodb_operator.mysql.instance import MysqlConnector


@pytest.fixture(scope="session")
def mysql_root() -> Path:
    root = mysqlroot.cached_root()
    if root is None:
        pytest.fail(f"the MySQL root filesystem is not installed; run: {mysqlroot.INSTALL_HINT}", pytrace=False)
    return root


@pytest.fixture(scope="session")
def fleet(mysql_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MysqlFleet]:
    """Three instances for the whole session; tests must leave them running and group-less."""
    with MysqlFleet.start(3, logdir=tmp_path_factory.mktemp("mysql-fleet")) as f:
        yield f


@pytest.fixture
def new_fleet(mysql_root: Path, tmp_path: Path) -> Iterator[Callable[[int], MysqlFleet]]:
    """``new_fleet(n)``: a fleet of ``n`` instances owned by this test."""
    with contextlib.ExitStack() as stack:
        def make(count: int) -> MysqlFleet:
            return stack.enter_context(MysqlFleet.start(count, logdir=tmp_path / f"fleet-{count}"))

        yield make


@pytest.fixture
def connector() -> Iterator[MysqlConnector]:
    """The real seam the group manager uses, with its own thread pool (closed at the end)."""
    real = MysqlConnector(threads=16)
    try:
        yield real
    finally:
        real.close()


def _endpoint(instance: MysqlInstance) -> Endpoint:
    return Endpoint(instance.host, instance.port)


def _root(instance: MysqlInstance) -> Credentials:
    return Credentials(ROOT_USER, instance.password)


@pytest_asyncio.fixture
async def root_session(fleet: MysqlFleet) -> AsyncIterator[Session]:
    """A session as root on the shared fleet's first instance."""
    session = await connect(_endpoint(fleet[0]), _root(fleet[0]))
    try:
        yield session
    finally:
        await session.close()
