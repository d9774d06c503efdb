"""mysql/connection without a server: secrets stay hidden, driver errors map onto our tree."""

from __future__ import annotations

import asyncio
import pickle
import socket
import threading
from collections.abc import Iterator

import pytest
from mysql.connector import errors as driver_errors

from innodb_operator.mysql import (
    AccessDenied,
    Credentials,
    Endpoint,
    QueryError,
    Secret,
    Unreachable,
    connect,
    connection,
)
from innodb_operator.mysql.connection import _translate, _unwrap

PASSWORD = "s3cret-Pa55"
WHERE = Endpoint("127.0.0.9", 3306)


def test_secret_and_credentials_never_show_the_password() -> None:
    s = Secret(PASSWORD)
    creds = Credentials("admin", PASSWORD)
    for text in (repr(s), str(s), f"{s}", repr(creds), str(creds), f"{creds!r} {creds}"):
        assert PASSWORD not in text
    assert s.reveal() == PASSWORD and creds.password.reveal() == PASSWORD
    assert creds == Credentials("admin", Secret(PASSWORD)) and creds != Credentials("admin", "other")
    with pytest.raises(TypeError):
        pickle.dumps(s)


def test_endpoint_prints_host_and_port() -> None:
    assert str(Endpoint("127.0.0.9", 3307)) == "127.0.0.9:3307"
    assert str(Endpoint("::1")) == "[::1]:3306"


def test_secret_parameters_are_unwrapped_for_the_driver_and_remembered() -> None:
    params, secrets = _unwrap(("u", "%", Secret(PASSWORD)))
    assert params == ("u", "%", PASSWORD) and secrets == [PASSWORD]
    params, secrets = _unwrap({"pw": Secret(PASSWORD), "n": 1})
    assert params == {"pw": PASSWORD, "n": 1} and secrets == [PASSWORD]
    assert _unwrap(None) == (None, [])


@pytest.mark.parametrize(("exc", "kind", "errno"), [
    (driver_errors.InterfaceError(errno=2003, msg="Can't connect to MySQL server on '127.0.0.9:3306' (111)"),
     Unreachable, 2003),
    (driver_errors.OperationalError(errno=2013, msg="Lost connection to MySQL server during query"), Unreachable, 2013),
    (driver_errors.ReadTimeoutError(), Unreachable, 0),
    (driver_errors.ConnectionTimeoutError(errno=2003), Unreachable, 2003),
    (TimeoutError("timed out"), Unreachable, 0),
    (ConnectionRefusedError(111, "Connection refused"), Unreachable, 111),
    (driver_errors.ProgrammingError(errno=1045, msg="Access denied for user 'x'@'127.0.0.1' (using password: YES)"),
     AccessDenied, 1045),
    (driver_errors.DatabaseError(errno=3118, msg="Access denied for user 'x'@'%'. Account is locked."), AccessDenied,
     3118),
    (driver_errors.DatabaseError(errno=1290, msg="The MySQL server is running with the --super-read-only option"),
     QueryError, 1290),
    (driver_errors.DatabaseError(errno=3092, msg="The server is not configured properly"), QueryError, 3092),
])
def test_driver_errors_map_onto_our_tree(exc: BaseException, kind: type, errno: int) -> None:
    error = _translate(exc, WHERE, [], connecting=True)
    assert type(error) is kind
    assert error.errno == errno
    assert str(WHERE) in str(error)


def test_privilege_errors_on_statements_are_query_errors() -> None:
    exc = driver_errors.ProgrammingError(errno=1044, msg="Access denied for user 'r'@'%' to database 'nope'")
    assert isinstance(_translate(exc, WHERE, [], connecting=True), AccessDenied)
    error = _translate(exc, WHERE, [])
    assert isinstance(error, QueryError) and error.errno == 1044


def test_error_messages_are_scrubbed_of_secrets() -> None:
    exc = driver_errors.ProgrammingError(
        errno=1064, msg=f"You have an error in your SQL syntax; check near 'IDENTIFIED BY '{PASSWORD}'' at line 1")
    error = _translate(exc, WHERE, [PASSWORD])
    assert isinstance(error, QueryError) and error.errno == 1064
    assert PASSWORD not in str(error) and "***" in str(error)


async def test_nobody_listening_is_unreachable_quickly() -> None:
    with socket.socket() as s:  # a port that was free a moment ago: refused at once
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(Unreachable) as info:
        await connect(Endpoint("127.0.0.1", port), Credentials("x", PASSWORD), connect_timeout=2)
    assert PASSWORD not in str(info.value)


async def test_timeouts_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        await connect(WHERE, Credentials("x", "y"), connect_timeout=0)


class _HeldConnection:
    """A driver connection whose constructor and statements block until ``release`` is set."""

    release = threading.Event()
    entered = threading.Event()
    """Set once a thread is inside the constructor (a connect is under way)."""
    closed = threading.Event()
    """Set once a connection was shut down or closed."""
    made: list[_HeldConnection] = []

    def __init__(self, **kwargs: object) -> None:
        self.shut = False
        self.is_secure = False
        _HeldConnection.entered.set()
        _HeldConnection.release.wait(10)
        _HeldConnection.made.append(self)

    def cursor(self) -> _HeldConnection:
        return self

    def execute(self, *args: object) -> None:
        _HeldConnection.release.wait(10)

    def shutdown(self) -> None:
        self.shut = True
        _HeldConnection.closed.set()

    def close(self) -> None:
        self.shutdown()


@pytest.fixture
def held(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[_HeldConnection]]:
    monkeypatch.setattr(connection, "MySQLConnection", _HeldConnection)
    for event in (_HeldConnection.release, _HeldConnection.entered, _HeldConnection.closed):
        event.clear()
    _HeldConnection.made.clear()
    yield _HeldConnection
    _HeldConnection.release.set()


async def test_a_connection_opened_by_a_cancelled_connect_is_closed(held: type[_HeldConnection]) -> None:
    task = asyncio.create_task(connect(WHERE, Credentials("x", PASSWORD)))
    assert await asyncio.to_thread(held.entered.wait, 5), "the connect reached its thread"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    held.release.set()  # the thread finishes connecting after nobody waits for it any more
    assert await asyncio.to_thread(held.closed.wait, 5), "the abandoned connection was closed"
    assert held.made and held.made[0].shut


async def test_a_statement_past_its_deadline_is_unreachable_and_cuts_the_socket(
    held: type[_HeldConnection], monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(connection, "DEADLINE_MARGIN", 0.0)
    held.release.set()
    conn = _HeldConnection()
    held.release.clear()  # statements now hang, as on a server that stopped answering
    session = connection.Session(conn, WHERE, "x", read_timeout=0.05)  # type: ignore[arg-type]
    try:
        with pytest.raises(Unreachable, match="no answer"):
            await session.query("SELECT 1")
        assert conn.shut and session.closed
    finally:
        held.release.set()  # the abandoned thread returns (a real one: its socket was shut down)
