"""The only code that talks to MySQL servers (the only importer of ``mysql.connector``).

* :mod:`.connection` -- ``connect(endpoint, credentials, ...) -> Session`` with timeouts,
  run off the event loop; :class:`Secret` passwords that never show.
* :mod:`.errors` -- ``MysqlError`` > ``Unreachable`` | ``AccessDenied`` | ``QueryError``.
* :mod:`.gtid` -- GTID set arithmetic (pure), printing exactly as MySQL does.
* :mod:`.queries` -- read-only facts: the instance, the group, the recovery channel, clone.
* :mod:`.accounts` -- the operator's accounts and idempotent SQL to converge them.

Nothing above this package sees a driver type or a driver exception.
"""

from innodb_operator.mysql.connection import Credentials, Endpoint, Secret, Session, connect
from innodb_operator.mysql.errors import AccessDenied, MysqlError, QueryError, Unreachable
from innodb_operator.mysql.gtid import Gtid, GtidParseError, GtidSet, errant

__all__ = [
    "AccessDenied",
    "Credentials",
    "Endpoint",
    "Gtid",
    "GtidParseError",
    "GtidSet",
    "MysqlError",
    "QueryError",
    "Secret",
    "Session",
    "Unreachable",
    "connect",
    "errant",
]
