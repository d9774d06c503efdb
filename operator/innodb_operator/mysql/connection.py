"""Connections to one MySQL server, for asyncio code.

Contract:

* ``await connect(endpoint, credentials, connect_timeout=5, read_timeout=30, tls=None)``
  returns a :class:`Session` or raises :class:`~.errors.Unreachable` (refused, timed out:
  never later than ``connect_timeout``), :class:`~.errors.AccessDenied` or
  :class:`~.errors.MysqlError`.
* A session runs one statement at a time (calls are serialised), each in a worker thread of
  ``pool`` (a :class:`concurrent.futures.Executor` the caller owns and sizes; the loop's
  default executor when None), so the event loop never blocks. Every call has two bounds:
  the driver's socket timeouts (``connect_timeout`` while connecting, ``read_timeout`` for
  each read and write) and an ``asyncio.timeout`` a little longer than those, which also
  bounds what the socket timeouts cannot (a connect stuck in name resolution). A call past
  its deadline raises :class:`~.errors.Unreachable`. Sessions are in autocommit mode.
* ``query`` returns rows as ``dict`` (column name -> value); ``execute`` returns the
  affected row count. Parameters use the driver's ``%s`` / ``%(name)s`` placeholders and
  are escaped by the driver; SQL text is never built from values by string formatting.
* Passwords are :class:`Secret` values: never shown by ``repr``/``str``, never logged, and
  scrubbed from every error message. Pass a password as a ``Secret`` parameter.
* After an :class:`~.errors.Unreachable` error, or when a call is cancelled or times out, the
  session is closed and further calls raise ``Unreachable``; open a new one. A connection
  whose ``connect`` was cancelled or timed out is closed as soon as its thread finishes.
* Driver exceptions are translated into :mod:`.errors`; nothing from ``mysql.connector``
  escapes this package. This is the only module that imports the driver.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hmac
import logging
import math
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from mysql.connector import errors as driver_errors
from mysql.connector.connection import MySQLConnection

from innodb_operator.mysql.errors import AccessDenied, MysqlError, QueryError, Unreachable

logger = logging.getLogger(__name__)

T = TypeVar("T")
DEADLINE_MARGIN = 1.0
"""Seconds the ``asyncio`` deadline of a call allows beyond the driver's own timeout."""
Row = dict[str, Any]
Params = Sequence[Any] | Mapping[str, Any] | None
_DriverParams = Any  # what the driver's execute() takes: a tuple, a dict, or None

# Client (CR_*) and server (ER_*) error numbers that mean "no usable connection".
_UNREACHABLE_ERRNOS = frozenset({
    2002,  # CR_CONNECTION_ERROR (socket)
    2003,  # CR_CONN_HOST_ERROR: refused / unreachable
    2005,  # CR_UNKNOWN_HOST
    2006,  # CR_SERVER_GONE_ERROR
    2013,  # CR_SERVER_LOST
    2055,  # CR_SERVER_LOST_EXTENDED
    1053,  # ER_SERVER_SHUTDOWN
    1152,  # ER_ABORTING_CONNECTION
    4031,  # ER_CLIENT_INTERACTION_TIMEOUT: the server closed an idle session
})
# Authentication refused.
_ACCESS_DENIED_ERRNOS = frozenset({
    1044,  # ER_DBACCESS_DENIED_ERROR
    1045,  # ER_ACCESS_DENIED_ERROR
    1251,  # ER_NOT_SUPPORTED_AUTH_MODE
    1698,  # ER_ACCESS_DENIED_NO_PASSWORD_ERROR
    1862,  # ER_MUST_CHANGE_PASSWORD_LOGIN
    2061,  # CR_AUTH_PLUGIN_ERR (e.g. caching_sha2 full auth needs TLS)
    3118,  # ER_ACCOUNT_HAS_BEEN_LOCKED
    3159,  # ER_SECURE_TRANSPORT_REQUIRED
})


class Secret:
    """A string that never shows itself: ``repr``/``str`` print ``***``; ``reveal()`` gives it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError("Secret wraps a str")
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash(Secret)

    def __reduce__(self) -> Any:
        raise TypeError("a Secret is not picklable")


def secret(value: str | Secret) -> Secret:
    """``value`` as a :class:`Secret` (unchanged if it already is one)."""
    return value if isinstance(value, Secret) else Secret(value)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where a server listens for the classic protocol."""

    host: str
    port: int = 3306

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


class Credentials:
    """A user and password; the password never appears in ``repr``/``str``."""

    __slots__ = ("_password", "user")

    def __init__(self, user: str, password: str | Secret) -> None:
        self.user = user
        self._password = secret(password)

    @property
    def password(self) -> Secret:
        return self._password

    def __repr__(self) -> str:
        return f"Credentials(user={self.user!r}, password=***)"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Credentials):
            return NotImplemented
        return self.user == other.user and self._password == other._password

    def __hash__(self) -> int:
        return hash(self.user)


def _scrub(text: str, secrets: Sequence[str]) -> str:
    for value in secrets:
        if value:
            text = text.replace(value, "***")
    return text


def _translate(exc: BaseException, where: Endpoint, secrets: Sequence[str], *, connecting: bool = False) -> MysqlError:
    """A driver (or socket) exception as one of ours, with every secret scrubbed.

    Authentication errors are :class:`AccessDenied` only while connecting; a privilege error
    on a statement (1044 on CREATE DATABASE, 1227...) is a :class:`QueryError`.
    """
    if isinstance(exc, (driver_errors.ConnectionTimeoutError, driver_errors.ReadTimeoutError,
                        driver_errors.WriteTimeoutError, TimeoutError)):
        errno = getattr(exc, "errno", 0) or 0
        return Unreachable(f"{where}: timed out ({type(exc).__name__})", errno=max(errno, 0))
    if isinstance(exc, driver_errors.Error):
        errno = exc.errno if exc.errno and exc.errno > 0 else 0  # the driver uses -1 for "none"
        text = _scrub(exc.msg or str(exc), secrets)
        sqlstate = exc.sqlstate
        if connecting and errno in _ACCESS_DENIED_ERRNOS:
            return AccessDenied(f"{where}: {text}", errno=errno, sqlstate=sqlstate)
        if errno in _UNREACHABLE_ERRNOS or (errno == 0 and isinstance(exc, (driver_errors.InterfaceError,
                                                                             driver_errors.OperationalError))):
            return Unreachable(f"{where}: {text}", errno=errno, sqlstate=sqlstate)
        if 2000 <= errno < 3000:  # other client-side (CR_*) errors: the connection is not usable
            return Unreachable(f"{where}: {text}", errno=errno, sqlstate=sqlstate)
        return QueryError(f"{where}: ({errno}) {text}", errno=errno, sqlstate=sqlstate)
    if isinstance(exc, OSError):
        return Unreachable(f"{where}: {_scrub(str(exc), secrets)}", errno=exc.errno or 0)
    return MysqlError(f"{where}: {type(exc).__name__}: {_scrub(str(exc), secrets)}")


def _unwrap(params: Params) -> tuple[_DriverParams, list[str]]:
    """Driver-ready parameters and the secret values among them."""
    if params is None:
        return None, []
    found: list[str] = []

    def plain(value: Any) -> Any:
        if isinstance(value, Secret):
            found.append(value.reveal())
            return value.reveal()
        return value

    if isinstance(params, Mapping):
        return {k: plain(v) for k, v in params.items()}, found
    return tuple(plain(v) for v in params), found


def _whole_seconds(seconds: float) -> int:
    if seconds <= 0:
        raise ValueError("timeouts must be positive")
    return max(1, math.ceil(seconds))


class Session:
    """An open connection; see the module docstring for the contract."""

    def __init__(self, conn: MySQLConnection, endpoint: Endpoint, user: str, *, read_timeout: float = 30.0,
                 pool: concurrent.futures.Executor | None = None) -> None:
        self._conn: MySQLConnection | None = conn
        self._lock = asyncio.Lock()
        self._thread_lock = threading.Lock()
        self._pool = pool
        self._deadline = read_timeout + DEADLINE_MARGIN
        self.endpoint = endpoint
        self.user = user

    def __repr__(self) -> str:
        state = "closed" if self._conn is None else "open"
        return f"<Session {self.user}@{self.endpoint} {state}>"

    @property
    def closed(self) -> bool:
        return self._conn is None

    @property
    def tls(self) -> bool:
        """Whether the connection is encrypted."""
        return self._conn is not None and bool(self._conn.is_secure)

    async def query(self, sql: str, params: Params = None) -> list[Row]:
        """Run a statement that returns rows; every row as a ``dict``."""

        def run(conn: MySQLConnection, driver_params: _DriverParams) -> list[Row]:
            cur = conn.cursor()
            try:
                cur.execute(sql, driver_params)
                if not cur.with_rows:
                    return []
                names = list(cur.column_names)
                return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
            finally:
                cur.close()

        return await self._call(run, params)

    async def query_one(self, sql: str, params: Params = None) -> Row | None:
        """The first row, or None."""
        rows = await self.query(sql, params)
        return rows[0] if rows else None

    async def execute(self, sql: str, params: Params = None) -> int:
        """Run a statement for its effect; return the affected row count."""

        def run(conn: MySQLConnection, driver_params: _DriverParams) -> int:
            cur = conn.cursor()
            try:
                cur.execute(sql, driver_params)
                if cur.with_rows:
                    cur.fetchall()
                return max(cur.rowcount, 0)
            finally:
                cur.close()

        return await self._call(run, params)

    async def close(self) -> None:
        """Say goodbye to the server and release the socket; idempotent."""
        async with self._lock:
            conn, self._conn = self._conn, None
            if conn is not None:
                try:
                    async with asyncio.timeout(self._deadline):
                        await asyncio.get_running_loop().run_in_executor(self._pool, self._close_quietly, conn)
                except TimeoutError:
                    conn.shutdown()

    async def __aenter__(self) -> Session:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- internals ---------------------------------------------------------------------

    def _close_quietly(self, conn: MySQLConnection) -> None:
        with self._thread_lock:
            try:
                conn.close()
            except Exception:  # already broken: just drop the socket
                conn.shutdown()

    async def _call(self, fn: Callable[[MySQLConnection, _DriverParams], T], params: Params) -> T:
        driver_params, secrets = _unwrap(params)
        async with self._lock:
            conn = self._conn
            if conn is None:
                raise Unreachable(f"{self.endpoint}: session is closed")

            def guarded() -> T:
                with self._thread_lock:
                    return fn(conn, driver_params)

            try:
                async with asyncio.timeout(self._deadline):
                    return await asyncio.get_running_loop().run_in_executor(self._pool, guarded)
            except asyncio.CancelledError:
                # The thread may still be using the socket; cut it so the thread returns soon.
                self._conn = None
                conn.shutdown()
                raise
            except TimeoutError:
                self._conn = None
                conn.shutdown()
                raise Unreachable(f"{self.endpoint}: no answer within {self._deadline:.0f}s") from None
            except Exception as exc:
                error = _translate(exc, self.endpoint, secrets)
                if isinstance(error, Unreachable):
                    self._conn = None
                    conn.shutdown()
                raise error from None


async def connect(endpoint: Endpoint, credentials: Credentials, *, connect_timeout: float = 5.0,
                  read_timeout: float = 30.0, tls: bool | None = None,
                  database: str | None = None, pool: concurrent.futures.Executor | None = None) -> Session:
    """Open a session. ``tls``: True requires TLS, False disables it, None uses it if offered.

    Never takes longer than ``connect_timeout`` plus :data:`DEADLINE_MARGIN`, even when the
    driver's own timeout does not apply (name resolution).
    """
    kwargs: dict[str, Any] = {
        "host": endpoint.host,
        "port": endpoint.port,
        "user": credentials.user,
        "password": credentials.password.reveal(),
        "connection_timeout": _whole_seconds(connect_timeout),
        "read_timeout": _whole_seconds(read_timeout),
        "write_timeout": _whole_seconds(read_timeout),
        "autocommit": True,
        "use_pure": True,
        "ssl_disabled": tls is False,
        "get_warnings": False,
        "conn_attrs": {"program_name": "innodb-operator"},
    }
    if database is not None:
        kwargs["database"] = database
    secrets = [credentials.password.reveal()]

    def open_connection() -> MySQLConnection:
        conn = MySQLConnection(**kwargs)
        if tls is True and not conn.is_secure:
            conn.close()
            raise MysqlError(f"{endpoint}: TLS required but the server did not offer it")
        return conn

    future = asyncio.get_running_loop().run_in_executor(pool, open_connection)
    try:
        async with asyncio.timeout(_whole_seconds(connect_timeout) + DEADLINE_MARGIN):
            conn = await asyncio.shield(future)
    except (asyncio.CancelledError, TimeoutError) as exc:
        future.add_done_callback(_close_abandoned)
        if isinstance(exc, TimeoutError):
            raise Unreachable(f"{endpoint}: no connection within {connect_timeout:.0f}s") from None
        raise
    except MysqlError:
        raise
    except Exception as exc:
        raise _translate(exc, endpoint, secrets, connecting=True) from None
    logger.debug("mysql session opened: %s@%s", credentials.user, endpoint)
    return Session(conn, endpoint, credentials.user, read_timeout=read_timeout, pool=pool)


def _close_abandoned(future: asyncio.Future[MySQLConnection]) -> None:
    """Close a connection whose ``connect`` gave up waiting for it (cancelled or timed out)."""
    if future.cancelled() or future.exception() is not None:
        return
    conn = future.result()
    try:
        conn.shutdown()
    except Exception:  # already broken: nothing left to release
        logger.debug("closing an abandoned connection failed", exc_info=True)


__all__ = ["Credentials", "Endpoint", "Params", "Row", "Secret", "Session", "connect", "secret"]
