"""The operator's own MySQL error tree; the driver's exceptions never leak past ``mysql/``.

::

    MysqlError                 anything that went wrong talking to a server; .errno (0 if none)
    ├── Unreachable            no usable connection: refused, timed out (connect or read),
    │                          lost mid-query, server shutting down. Retry later.
    ├── AccessDenied           the server refused these credentials (wrong password, unknown
    │                          or locked account, expired password, auth plugin refused)
    └── QueryError             the server ran the statement and returned an error: .errno and
                               .sqlstate say which (e.g. 1290 read-only, 3092 GR not started)

Messages never contain a password: values passed as :class:`~.connection.Secret` are
scrubbed from every message before an error is built.
"""

from __future__ import annotations


class MysqlError(Exception):
    """A failure talking to a MySQL server."""

    def __init__(self, message: str, *, errno: int = 0, sqlstate: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errno = errno
        self.sqlstate = sqlstate


class Unreachable(MysqlError):
    """No usable connection: refused, timed out, lost, or the server is shutting down."""


class AccessDenied(MysqlError):
    """The server refused the credentials."""


class QueryError(MysqlError):
    """The server returned an error for a statement; ``errno`` identifies it."""
